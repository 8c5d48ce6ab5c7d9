import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { Counter, type Registry } from 'prom-client'
import { automergeChunkValidator } from './automerge-chunks.ts'
import type { CorruptChunkEvent } from './errors.ts'
import { SqliteStorageAdapter } from './sqlite-adapter.ts'

/** The router's database file inside its data directory. */
export const ROUTER_STORAGE_FILE = 'router.sqlite'

export interface RouterStorageOptions {
  /** Created (mode 0700) if missing; holds ROUTER_STORAGE_FILE and its WAL. */
  dataDir: string
  /** Where `hearth_router_storage_corrupt_chunks_total{reason}` is registered (the router's own). */
  registry?: Registry
  maxChunkBytes?: number
  /** Also told about each corrupt chunk, e.g. to log it. */
  onCorruptChunk?: (event: CorruptChunkEvent) => void
}

/**
 * The embedded default storage as the router runs it: SQLite in the data directory, Automerge
 * chunks checked on read, corrupt chunks counted in Prometheus.
 */
export function openRouterStorage(options: RouterStorageOptions): SqliteStorageAdapter {
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 })
  const corrupt =
    options.registry &&
    new Counter({
      name: 'hearth_router_storage_corrupt_chunks_total',
      help: 'Stored chunks refused on read (skipped, quarantined, to be re-fetched from peers), by reason',
      labelNames: ['reason'] as const,
      registers: [options.registry],
    })
  return new SqliteStorageAdapter({
    path: join(options.dataDir, ROUTER_STORAGE_FILE),
    maxChunkBytes: options.maxChunkBytes,
    validateChunk: automergeChunkValidator,
    onCorruptChunk: (event) => {
      corrupt?.inc({ reason: event.reason })
      options.onCorruptChunk?.(event)
    },
  })
}
