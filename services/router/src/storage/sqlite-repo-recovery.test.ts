import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as A from '@automerge/automerge'
import { Repo, type AutomergeUrl, type DocHandle, type StorageKey } from '@automerge/automerge-repo'
import { MemoryLinkAdapter } from '@hearth/sync'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { bytes } from './contract.ts'
import { automergeChunkValidator } from './automerge-chunks.ts'
import type { CorruptChunkEvent } from './errors.ts'
import { decodeKey } from './key-codec.ts'
import { MemoryStorageAdapter } from './memory-adapter.ts'
import { SqliteStorageAdapter } from './sqlite-adapter.ts'

interface Log {
  title: string
  entries: string[]
}

/** Waits for a handle's document to satisfy `ok`, re-checking on every change event. */
function until(handle: DocHandle<Log>, ok: (doc: A.Doc<Log>) => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (!ok(handle.doc())) return
      handle.off('change', check)
      resolve()
    }
    handle.on('change', check)
    check()
  })
}

/** Flips one byte of the stored chunk whose key matches, as a failing disk would. */
function corrupt(path: string, match: (key: StorageKey) => boolean): StorageKey {
  const raw = new Database(path)
  try {
    const rows = raw.prepare('SELECT id, key, data FROM chunks').all() as {
      id: number
      key: Buffer
      data: Buffer
    }[]
    const row = rows.find((r) => match(decodeKey(r.key)))
    if (!row) throw new Error('no such chunk')
    const data = Buffer.from(row.data)
    data[data.length >> 1]! ^= 0x5a
    raw.prepare('UPDATE chunks SET data = ? WHERE id = ?').run(data, row.id)
    return decodeKey(row.key)
  } finally {
    raw.close()
  }
}

/** Saves a damaged copy of a chunk through the adapter itself, so its own checksum matches. */
async function rewriteMalformed(
  path: string,
  match: (key: StorageKey) => boolean,
): Promise<StorageKey> {
  const storage = new SqliteStorageAdapter({ path })
  try {
    const chunk = (await storage.loadRange([])).find((c) => match(c.key))
    if (!chunk?.data) throw new Error('no such chunk')
    const data = chunk.data.slice()
    data[data.length >> 1]! ^= 0x5a
    await storage.save(chunk.key, data)
    return chunk.key
  } finally {
    storage.close()
  }
}

describe('a Repo on SqliteStorageAdapter recovers a corrupted chunk from a peer (S22)', () => {
  let dir: string
  let path: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hearth-repo-'))
    path = join(dir, 'router.sqlite')
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  /** alice (the router's Repo, on SQLite) writes a document in several saves; bob keeps a full copy. */
  async function writeDocument(): Promise<{ url: AutomergeUrl; full: Uint8Array; bob: Repo }> {
    const storage = new SqliteStorageAdapter({ path })
    const alice = new Repo({ storage, network: [] })
    // Over 1 KiB compressed, so automerge-repo keeps a snapshot and writes later saves as incrementals.
    const title = Buffer.from(bytes(1, 2048)).toString('hex')
    const handle = alice.create<Log>({ title, entries: [] })
    await alice.flush()
    for (let i = 0; i < 5; i++) {
      handle.change((d) => {
        d.entries.push(`message ${i}`)
      })
      await alice.flush()
    }
    const full = A.save(handle.doc())
    const bob = new Repo({ storage: new MemoryStorageAdapter(), network: [] })
    bob.import<Log>(full, { docId: handle.documentId })
    await alice.shutdown()
    storage.close()
    return { url: handle.url, full, bob }
  }

  const cases = [
    { kind: 'incremental', how: 'bit-rot' },
    { kind: 'snapshot', how: 'bit-rot' },
    // Stored through the adapter, so its SHA-256 matches: only the Automerge check can tell.
    { kind: 'incremental', how: 'malformed-automerge' },
  ] as const
  for (const { kind, how } of cases) {
    it(`a ${how} ${kind} chunk is skipped and reported, then re-fetched by sync`, async () => {
      const { url, full, bob } = await writeDocument()
      const stored = new Database(path, { readonly: true })
      const kinds = (stored.prepare('SELECT key FROM chunks').all() as { key: Buffer }[]).map(
        (r) => decodeKey(r.key)[1],
      )
      stored.close()
      expect(kinds.filter((k) => k === 'snapshot')).toHaveLength(1)
      expect(kinds.filter((k) => k === 'incremental').length).toBeGreaterThanOrEqual(2)

      const broken =
        how === 'bit-rot'
          ? corrupt(path, (key) => key[1] === kind)
          : await rewriteMalformed(path, (key) => key[1] === kind)

      const reports: CorruptChunkEvent[] = []
      const storage = new SqliteStorageAdapter({
        path,
        onCorruptChunk: (e) => reports.push(e),
        validateChunk: automergeChunkValidator,
      })
      const [aliceEnd, bobEnd] = MemoryLinkAdapter.pair()
      const alice = new Repo({ storage, network: [] })
      try {
        // Reopening does not throw: the bad chunk is dropped, the rest loads.
        const handle = await alice.find<Log>(url)
        expect(reports).toEqual([
          {
            key: broken,
            reason: how === 'bit-rot' ? 'checksum' : 'invalid',
            bytes: expect.any(Number),
            quarantined: true,
          },
        ])
        expect(storage.quarantinedCount()).toBe(1)
        const expectedHeads = A.getHeads(A.load<Log>(full))
        expect(A.getHeads(handle.doc())).not.toEqual(expectedHeads)

        // Connect bob, who has the whole document: sync fills the gap.
        alice.networkSubsystem.addNetworkAdapter(aliceEnd)
        bob.networkSubsystem.addNetworkAdapter(bobEnd)
        await until(handle, (doc) => doc.entries?.length === 5)
        expect(A.getHeads(handle.doc())).toEqual(expectedHeads)
        const doc = handle.doc()
        const reloaded = A.load<Log>(A.save(doc))
        expect(A.getHeads(reloaded)).toEqual(expectedHeads)
        expect(reloaded).toEqual(A.load<Log>(full))
        expect(reloaded.entries).toEqual([0, 1, 2, 3, 4].map((i) => `message ${i}`))

        // What sync brought back is stored again: a fresh Repo on the file alone has it all.
        await alice.flush()
      } finally {
        await alice.shutdown()
        await bob.shutdown()
        storage.close()
      }
      const again = new SqliteStorageAdapter({ path, onCorruptChunk: (e) => reports.push(e) })
      const solo = new Repo({ storage: again, network: [] })
      try {
        const handle = await solo.find<Log>(url)
        expect(handle.doc().entries).toHaveLength(5)
        expect(reports).toHaveLength(1)
      } finally {
        await solo.shutdown()
        again.close()
      }
    })
  }
})
