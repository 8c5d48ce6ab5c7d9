#!/usr/bin/env node
// `hearth-router`: the sync relay from the environment. Everything it needs is configuration:
//   HEARTH_ROUTER_PORT (2586)       HEARTH_ROUTER_HOST (127.0.0.1, the interface to listen on)
//   HEARTH_ROUTER_PUBLIC_HOST       how clients reach it, e.g. router.example.com (its did:web)
//   HEARTH_ROUTER_DATA (./.data/router)  the storage directory
//   HEARTH_PLC_URL                  the PLC directory (https://plc.directory in production)
//   HEARTH_DEV_MODE=1               plain http and loopback identity resolution (devnet only)
import { resolve } from 'node:path'
import { createSyncEndpoint } from './sync/sync-endpoint.ts'
import { startRouter } from './server.ts'

const env = process.env
const devMode = env.HEARTH_DEV_MODE === '1' || env.HEARTH_DEV_MODE === 'true'
const port = Number(env.HEARTH_ROUTER_PORT ?? 2586)
if (!Number.isInteger(port) || port < 0 || port > 65535)
  throw new Error('HEARTH_ROUTER_PORT must be a port')
const plcUrl = env.HEARTH_PLC_URL ?? (devMode ? 'http://localhost:2582' : 'https://plc.directory')
const publicHost = env.HEARTH_ROUTER_PUBLIC_HOST
if (!devMode && !publicHost)
  throw new Error('HEARTH_ROUTER_PUBLIC_HOST is required outside development mode')

const endpoint = await createSyncEndpoint({
  dataDir: resolve(env.HEARTH_ROUTER_DATA ?? '.data/router'),
})
const router = await startRouter({
  port,
  host: env.HEARTH_ROUTER_HOST ?? '127.0.0.1',
  ...(publicHost && { publicHost }),
  https: !devMode,
  plcUrl,
  devMode,
  endpoint,
})
console.log(
  JSON.stringify({ msg: 'hearth-router listening', url: router.url, did: router.identity.did }),
)

let stopping = false
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(1)
    stopping = true
    router.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err)
        process.exit(1)
      },
    )
  })
}
