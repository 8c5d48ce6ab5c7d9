#!/usr/bin/env node
import { startResolver } from './index.ts'

function envFlag(name: string): boolean {
  return ['1', 'true', 'yes'].includes((process.env[name] ?? '').toLowerCase())
}

function envInt(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value < 0)
    throw new Error(`${name} must be a non-negative integer`)
  return value
}

const devMode = envFlag('HEARTH_DEV_MODE')
const pdsUrl = process.env.HEARTH_PDS_URL ?? (devMode ? 'http://localhost:2583' : undefined)

const resolver = await startResolver({
  devMode,
  port: envInt('HEARTH_RESOLVER_PORT', 2584),
  hostname: process.env.HEARTH_RESOLVER_HOST ?? '127.0.0.1',
  plcUrl:
    process.env.HEARTH_PLC_URL ?? (devMode ? 'http://localhost:2582' : 'https://plc.directory'),
  ...(pdsUrl !== undefined && { pdsUrl }),
  cache: {
    ttlMs: envInt('HEARTH_RESOLVER_CACHE_TTL_MS', 5 * 60_000),
    maxEntries: envInt('HEARTH_RESOLVER_CACHE_SIZE', 10_000),
  },
})
console.log(`resolver listening on ${resolver.url}${devMode ? ' (dev mode)' : ''}`)

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    resolver.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err)
        process.exit(1)
      },
    )
  })
}
