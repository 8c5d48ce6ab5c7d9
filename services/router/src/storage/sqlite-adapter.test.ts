import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { bytes, runStorageContract } from './contract.ts'
import { StorageLockedError, type CorruptChunkEvent } from './errors.ts'
import { encodeKey } from './key-codec.ts'
import { SqliteStorageAdapter, type SqliteStorageOptions } from './sqlite-adapter.ts'

function tempDb(): { path: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-sqlite-'))
  return {
    path: join(dir, 'router.sqlite'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  }
}

runStorageContract('sqlite', async () => {
  const { path, cleanup } = tempDb()
  const maxChunkBytes = 256 * 1024
  const harness = {
    adapter: new SqliteStorageAdapter({ path, maxChunkBytes }),
    maxChunkBytes,
    async reopen() {
      harness.adapter.close()
      harness.adapter = new SqliteStorageAdapter({ path, maxChunkBytes })
      return harness.adapter
    },
    teardown() {
      harness.adapter.close()
      cleanup()
    },
  }
  return harness
})

describe('SqliteStorageAdapter', () => {
  let db: { path: string; cleanup(): void }
  let adapter: SqliteStorageAdapter
  let reports: CorruptChunkEvent[]
  const open = (extra: Partial<SqliteStorageOptions> = {}) =>
    new SqliteStorageAdapter({
      path: db.path,
      onCorruptChunk: (event) => reports.push(event),
      ...extra,
    })

  beforeEach(() => {
    db = tempDb()
    reports = []
    adapter = open()
  })
  afterEach(() => {
    adapter.close()
    db.cleanup()
  })

  /**
   * Writes to the file behind the adapter's back, as a failing disk or a stray tool would
   * (the adapter holds an exclusive lock, so it is closed around the write and reopened).
   */
  function tamper(sql: string, ...params: unknown[]): void {
    adapter.close()
    const raw = new Database(db.path)
    raw.prepare(sql).run(...params)
    raw.close()
    adapter = open()
  }

  it('runs in WAL mode with synchronous = FULL', () => {
    expect(adapter.durability()).toEqual({ journalMode: 'wal', synchronous: 2 })
    expect(adapter.integrityCheck()).toEqual(['ok'])
  })

  it('holds the file exclusively: a second router on it is refused, the first goes on', async () => {
    await adapter.save(['doc', 'snapshot', 's'], bytes(1, 8))
    expect(() => new SqliteStorageAdapter({ path: db.path, lockTimeoutMs: 50 })).toThrow(
      StorageLockedError,
    )
    const raw = new Database(db.path, { timeout: 50 })
    expect(() => raw.prepare('SELECT COUNT(*) FROM chunks').get()).toThrow(/locked|busy/i)
    raw.close()
    expect(await adapter.load(['doc', 'snapshot', 's'])).toStrictEqual(bytes(1, 8))
    adapter.close()
    // Released on close (and by the kernel when a process dies: see the crash test).
    adapter = open()
    expect(await adapter.load(['doc', 'snapshot', 's'])).toStrictEqual(bytes(1, 8))
  })

  it('skips, quarantines and reports a chunk whose bytes changed on disk', async () => {
    await adapter.save(['doc', 'incremental', 'good'], bytes(1, 100))
    await adapter.save(['doc', 'incremental', 'bad'], bytes(2, 100))
    tamper(
      `UPDATE chunks SET data = CAST(? AS BLOB) WHERE key = ?`,
      Buffer.from(bytes(3, 100)),
      Buffer.from(encodeKey(['doc', 'incremental', 'bad'])),
    )
    expect(await adapter.loadRange(['doc'])).toStrictEqual([
      { key: ['doc', 'incremental', 'good'], data: bytes(1, 100) },
    ])
    expect(reports).toEqual([
      { key: ['doc', 'incremental', 'bad'], reason: 'checksum', bytes: 100, quarantined: true },
    ])
    expect(adapter.quarantinedCount()).toBe(1)
    // Reported once: the row is gone from the live table, so the next start is clean.
    expect(await adapter.load(['doc', 'incremental', 'bad'])).toBeUndefined()
    expect(await adapter.loadRange(['doc'])).toHaveLength(1)
    expect(reports).toHaveLength(1)
    // The same key can be written again (re-fetched from a peer).
    await adapter.save(['doc', 'incremental', 'bad'], bytes(2, 100))
    expect(await adapter.load(['doc', 'incremental', 'bad'])).toStrictEqual(bytes(2, 100))
  })

  it('detects a truncated chunk on load()', async () => {
    await adapter.save(['doc', 'snapshot', 's'], bytes(1, 1000))
    tamper(`UPDATE chunks SET data = substr(data, 1, 500)`)
    expect(await adapter.load(['doc', 'snapshot', 's'])).toBeUndefined()
    expect(reports.map((r) => r.reason)).toEqual(['checksum'])
  })

  it('detects a chunk moved under another key (the checksum covers the key)', async () => {
    await adapter.save(['docA', 'snapshot', 's'], bytes(1, 64))
    tamper(`UPDATE chunks SET key = ?`, Buffer.from(encodeKey(['docB', 'snapshot', 's'])))
    expect(await adapter.loadRange(['docB'])).toStrictEqual([])
    expect(reports).toMatchObject([{ key: ['docB', 'snapshot', 's'], reason: 'checksum' }])
  })

  it('quarantines rows holding values of the wrong SQLite type', async () => {
    await adapter.save(['doc', 'snapshot', 'a'], bytes(1, 64))
    await adapter.save(['doc', 'snapshot', 'b'], bytes(2, 64))
    tamper(`UPDATE chunks SET data = 42 WHERE id = 1`)
    tamper(`UPDATE chunks SET sha256 = 'text' WHERE id = 2`)
    expect(await adapter.loadRange(['doc'])).toStrictEqual([])
    expect(reports.map((r) => [r.key, r.reason])).toEqual([
      [['doc', 'snapshot', 'a'], 'checksum'],
      [['doc', 'snapshot', 'b'], 'checksum'],
    ])
  })

  it('quarantines a row whose key cannot be decoded', async () => {
    await adapter.save(['doc', 'snapshot', 's'], bytes(1, 64))
    tamper(`UPDATE chunks SET key = X'64016F00'`)
    expect(await adapter.loadRange([])).toStrictEqual([])
    expect(reports).toMatchObject([{ key: undefined, reason: 'undecodable-key' }])
  })

  it('skips and reports a row on damaged pages; reads do not throw', async () => {
    await adapter.save(['doc', 'incremental', 'a'], bytes(1, 100))
    await adapter.save(['doc', 'incremental', 'b'], new Uint8Array(100_000).fill(0xab))
    await adapter.save(['doc', 'incremental', 'c'], bytes(2, 100))
    adapter.close()
    // Break the overflow chain of b's blob: an overflow page is a 4-byte next-page number
    // followed by content, here a full page of 0xab.
    const file = readFileSync(db.path)
    const pageSize = 4096
    let page = -1
    for (let p = pageSize; p < file.length && page < 0; p += pageSize)
      if (file.subarray(p + 4, p + pageSize).every((b) => b === 0xab)) page = p
    expect(page).toBeGreaterThan(0)
    file.writeUInt32BE(0xfffffff0, page)
    writeFileSync(db.path, file)

    adapter = open()
    expect(await adapter.loadRange(['doc'])).toStrictEqual([
      { key: ['doc', 'incremental', 'a'], data: bytes(1, 100) },
      { key: ['doc', 'incremental', 'c'], data: bytes(2, 100) },
    ])
    expect(await adapter.load(['doc', 'incremental', 'b'])).toBeUndefined()
    expect(reports.map((r) => [r.key, r.reason])).toEqual([
      [['doc', 'incremental', 'b'], 'unreadable'],
      [['doc', 'incremental', 'b'], 'unreadable'],
    ])
    expect(adapter.integrityCheck()).not.toEqual(['ok'])
  })

  it('applies validateChunk to chunks whose checksum matches', async () => {
    adapter.close()
    adapter = open({ validateChunk: (key, data) => key[1] !== 'snapshot' || data[0] === 0x85 })
    await adapter.save(['doc', 'snapshot', 'bad'], Uint8Array.of(1, 2, 3))
    await adapter.save(['doc', 'snapshot', 'good'], Uint8Array.of(0x85, 2, 3))
    await adapter.save(['doc', 'incremental', 'x'], Uint8Array.of(1))
    expect((await adapter.loadRange(['doc'])).map((c) => c.key[2])).toEqual(['good', 'x'])
    expect(reports).toMatchObject([{ key: ['doc', 'snapshot', 'bad'], reason: 'invalid' }])
  })

  it('a throwing corruption hook or validator does not make reads throw', async () => {
    adapter.close()
    adapter = new SqliteStorageAdapter({
      path: db.path,
      onCorruptChunk: () => {
        throw new Error('metrics down')
      },
      validateChunk: () => {
        throw new Error('validator bug')
      },
    })
    await adapter.save(['doc', 'snapshot', 's'], bytes(1, 8))
    await expect(adapter.loadRange(['doc'])).resolves.toStrictEqual([])
  })

  it('bounds the quarantine table', async () => {
    adapter.close()
    adapter = open({ validateChunk: () => false, maxQuarantined: 10 })
    for (let i = 0; i < 30; i++) await adapter.save(['doc', 'incremental', String(i)], bytes(i, 8))
    expect(await adapter.loadRange(['doc'])).toStrictEqual([])
    expect(reports).toHaveLength(30)
    expect(adapter.quarantinedCount()).toBe(10)
  })

  it('rejects calls after close with StorageClosedError', async () => {
    adapter.close()
    await expect(adapter.load(['x'])).rejects.toMatchObject({ name: 'StorageClosedError' })
    await expect(adapter.save(['doc', 'snapshot', 'h'], bytes(1, 8))).rejects.toMatchObject({
      name: 'StorageClosedError',
    })
    // automerge-repo's late, throttled sync-state saves after shutdown are dropped, not thrown.
    await expect(adapter.save(['doc', 'sync-state', 'peer'], bytes(1, 8))).resolves.toBeUndefined()
    adapter = open()
  })
})
