#!/usr/bin/env node
import { startKeyserver } from './index.ts'

const env = process.env
const devMode = env.HEARTH_DEV_MODE === '1' || env.HEARTH_DEV_MODE === 'true'
const plcUrl = env.HEARTH_PLC_URL ?? (devMode ? undefined : 'https://plc.directory')
if (!plcUrl) {
  console.error('HEARTH_PLC_URL is required in dev mode (the devnet PLC URL)')
  process.exit(1)
}

const keyserver = await startKeyserver({
  port: Number(env.HEARTH_KEYSERVER_PORT ?? 2584),
  plcUrl,
  dbPath: env.HEARTH_KEYSERVER_DB ?? 'keyserver.sqlite',
  devMode,
  ...(env.HEARTH_KEYSERVER_HOST ? { publicHost: env.HEARTH_KEYSERVER_HOST } : {}),
})
console.log(`keyserver ${keyserver.did} listening on ${keyserver.url}`)

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void keyserver.close().then(() => process.exit(0))
  })
}
