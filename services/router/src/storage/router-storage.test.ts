import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createRouterMetrics } from '../metrics.ts'
import { bytes } from './contract.ts'
import type { CorruptChunkEvent } from './errors.ts'
import { ROUTER_STORAGE_FILE, openRouterStorage } from './router-storage.ts'

describe('openRouterStorage', () => {
  let root: string
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'hearth-router-data-'))
  })
  afterEach(() => rmSync(root, { recursive: true, force: true }))

  it('creates a private data directory and counts corrupt chunks in the router metrics', async () => {
    const dataDir = join(root, 'data', 'router')
    const metrics = createRouterMetrics()
    const logged: CorruptChunkEvent[] = []
    let storage = openRouterStorage({ dataDir, registry: metrics.registry })
    expect(statSync(dataDir).mode & 0o777).toBe(0o700)
    await storage.save(['doc', 'incremental', 'h'], bytes(1, 64))
    await storage.save(['doc', 'sync-state', 'peer'], bytes(2, 64))
    storage.close()

    const raw = new Database(join(dataDir, ROUTER_STORAGE_FILE))
    raw.prepare("UPDATE chunks SET data = X'00'").run()
    raw.close()

    const again = createRouterMetrics()
    storage = openRouterStorage({
      dataDir,
      registry: again.registry,
      onCorruptChunk: (e) => logged.push(e),
    })
    expect(await storage.loadRange(['doc'])).toStrictEqual([])
    storage.close()
    expect(logged.map((e) => e.reason)).toEqual(['checksum', 'checksum'])
    expect(await again.registry.metrics()).toContain(
      'hearth_router_storage_corrupt_chunks_total{reason="checksum"} 2',
    )
  })

  it('refuses document chunks that are not Automerge, even with a matching checksum', async () => {
    const storage = openRouterStorage({ dataDir: root })
    await storage.save(['doc', 'incremental', 'h'], bytes(1, 64))
    await storage.save(['doc', 'sync-state', 'peer'], bytes(2, 64))
    expect((await storage.loadRange(['doc'])).map((c) => c.key[1])).toEqual(['sync-state'])
    storage.close()
  })
})
