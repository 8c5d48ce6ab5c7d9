#!/usr/bin/env node
// `hearth-router`: the sync relay from the environment. Everything it needs is configuration:
//   HEARTH_ROUTER_PORT (2586)       HEARTH_ROUTER_HOST (127.0.0.1, the interface to listen on)
//   HEARTH_ROUTER_PUBLIC_HOST       how clients reach it, e.g. router.example.com (its did:web)
//   HEARTH_ROUTER_DATA (./.data/router)  the storage directory
//   HEARTH_PLC_URL                  the PLC directory (https://plc.directory in production)
//   HEARTH_DEV_MODE=1               plain http and loopback identity resolution (devnet only)
//   HEARTH_LOG_LEVEL (info)         debug | info | warn | error; logs are JSON lines on stdout
//   HEARTH_ROUTER_SHUTDOWN_MS (10000)  how long SIGTERM/SIGINT may take to drain and flush
import { resolve } from 'node:path'
import { createLogger, isLogLevel } from './log.ts'
import { StorageClosedError } from './storage/errors.ts'
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

const level = env.HEARTH_LOG_LEVEL ?? 'info'
if (!isLogLevel(level)) throw new Error('HEARTH_LOG_LEVEL must be debug, info, warn or error')
const log = createLogger({ level })
const shutdownMs = Number(env.HEARTH_ROUTER_SHUTDOWN_MS ?? 10_000)
if (!(shutdownMs > 0)) throw new Error('HEARTH_ROUTER_SHUTDOWN_MS must be a positive number')

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
  log,
})
// `msg` stays for scripts that wait for this line (soak-crash-harness.ts).
log.info('router.listening', {
  msg: 'hearth-router listening',
  url: router.url,
  did: router.identity.did,
})

let stopping = false
// A save automerge-repo schedules after the final flush (a change that arrived as the router
// stopped, never acknowledged) meets a closed storage: dropping it loses nothing promised.
// Anything else unhandled is a bug: logged, and the process ends.
process.on('unhandledRejection', (reason: unknown) => {
  if (stopping && reason instanceof StorageClosedError) {
    log.warn('router.late-save-dropped', {})
    return
  }
  log.error('router.unhandled-rejection', {}, reason)
  process.exit(1)
})
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(1)
    stopping = true
    log.info('router.stopping', { signal })
    const started = performance.now()
    // Sockets close first (no new writes), then the Repo flushes and SQLite checkpoints: every
    // acknowledged change was already on disk, and nothing half-applied is left behind.
    const deadline = setTimeout(() => {
      log.error('router.shutdown-timeout', { ms: shutdownMs })
      process.exit(1)
    }, shutdownMs)
    router.close().then(
      () => {
        clearTimeout(deadline)
        log.info('router.stopped', { ms: Math.round(performance.now() - started) })
        process.exit(0)
      },
      (err: unknown) => {
        log.error('router.shutdown-failed', {}, err)
        process.exit(1)
      },
    )
  })
}
