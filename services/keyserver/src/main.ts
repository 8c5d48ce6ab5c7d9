#!/usr/bin/env node
import { startKeyserver } from './index.ts'

const env = process.env
const devMode = env.HEARTH_DEV_MODE === '1' || env.HEARTH_DEV_MODE === 'true'

function fail(message: string): never {
  console.error(`keyserver: ${message}`)
  process.exit(1)
}

const plcUrl =
  env.HEARTH_PLC_URL ??
  (devMode
    ? fail('HEARTH_PLC_URL is required in dev mode (the devnet PLC)')
    : 'https://plc.directory')
if (!devMode && !env.HEARTH_KEYSERVER_HOST)
  fail('HEARTH_KEYSERVER_HOST is required outside dev mode (it names our did:web)')
const port = Number(env.HEARTH_KEYSERVER_PORT ?? 2585)
if (!Number.isInteger(port) || port < 0 || port > 65535)
  fail(`bad HEARTH_KEYSERVER_PORT: ${env.HEARTH_KEYSERVER_PORT}`)

const keyserver = await startKeyserver({
  port,
  plcUrl,
  dbPath: env.HEARTH_KEYSERVER_DB ?? 'keyserver.sqlite',
  devMode,
  ...(env.HEARTH_KEYSERVER_HOST ? { publicHost: env.HEARTH_KEYSERVER_HOST } : {}),
  ...(env.HEARTH_KEYSERVER_CLIENT_IP_HEADER
    ? { clientIpHeader: env.HEARTH_KEYSERVER_CLIENT_IP_HEADER }
    : {}),
})
console.log(`keyserver ${keyserver.did} at ${keyserver.url}`)

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void keyserver.close().then(() => process.exit(0))
  })
}
