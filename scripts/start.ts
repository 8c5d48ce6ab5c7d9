// `bash scripts/start.sh` lands here: the whole system on its embedded defaults — the local
// AT Protocol network with demo accounts, our services, and the built web app.
import { closeOnSignal, devnetBanner, envPort, startDevnetFromEnv } from '@hearth/devnet/run'
import { startWebServer } from '../apps/web/serve.ts'

const devnet = await startDevnetFromEnv()
const keyserver = devnet.keyserver
if (!keyserver) throw new Error('the devnet started without its keyserver')
const web = await startWebServer({
  port: envPort('HEARTH_WEB_PORT', 2580),
  config: {
    mode: 'development',
    handleResolver: devnet.resolver.url,
    plcUrl: devnet.plc.url,
    pdsUrl: devnet.pds.url,
    keyserverUrl: keyserver.url,
    keyserverDid: keyserver.did,
    ...(devnet.router && { routerUrl: devnet.router.url, routerDid: devnet.router.identity.did }),
  },
})

console.log(
  devnetBanner(devnet, [['Web app', `${web.url}   <- open this (127.0.0.1, not localhost)`]]),
)
closeOnSignal(async () => {
  await web.close()
  await devnet.close()
})
