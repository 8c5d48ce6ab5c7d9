import { Repo } from '@automerge/automerge-repo'
import type { Chunk, StorageAdapterInterface, StorageKey } from '@automerge/automerge-repo'
import { runStorageAdapterTests } from '@automerge/automerge-repo/helpers/tests/storage-adapter-tests.js'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { FileStoreAdapter } from './file-store-adapter.ts'
import { prefixedStore, StoreStorageAdapter } from './storage-bridge.ts'
import { InvalidStoreKeyError, MemoryStoreAdapter } from './store-adapter.ts'
import type { StoreAdapter } from './store-adapter.ts'
import { VerifiedStore } from './verified-store.ts'

const bytes = (...values: number[]) => new Uint8Array(values)

async function tempDir(): Promise<{ root: string; teardown: () => Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), 'hearth-bridge-'))
  return { root, teardown: () => rm(root, { recursive: true, force: true }) }
}

/**
 * automerge-repo's acceptance suite pins one `loadRange` to save order; the seam returns key
 * order (as automerge-repo's own IndexedDB adapter does) and automerge-repo's storage
 * subsystem does not depend on either. This reorders ranges by first save, for that suite
 * only; the set of chunks returned is compared exactly, unchanged.
 */
function inSaveOrder(adapter: StorageAdapterInterface): StorageAdapterInterface {
  const order = new Map<string, number>()
  const id = (key: StorageKey) => JSON.stringify(key)
  return {
    load: (key) => adapter.load(key),
    save: async (key, data) => {
      if (!order.has(id(key))) order.set(id(key), order.size)
      await adapter.save(key, data)
    },
    remove: (key) => adapter.remove(key),
    loadRange: async (prefix): Promise<Chunk[]> =>
      (await adapter.loadRange(prefix)).sort(
        (a, b) => (order.get(id(a.key)) ?? -1) - (order.get(id(b.key)) ?? -1),
      ),
    removeRange: (prefix) => adapter.removeRange(prefix),
  }
}

describe('StoreStorageAdapter: automerge-repo’s storage acceptance suite', () => {
  runStorageAdapterTests(async () => {
    return { adapter: inSaveOrder(new StoreStorageAdapter(new MemoryStoreAdapter())) }
  }, 'memory')

  runStorageAdapterTests(async () => {
    const { root, teardown } = await tempDir()
    const store = prefixedStore(new FileStoreAdapter(root), 'repo')
    return { adapter: inSaveOrder(new StoreStorageAdapter(store)), teardown }
  }, 'files, prefixed')
})

describe('StoreStorageAdapter', () => {
  it('stores keys outside the seam’s alphabet reversibly, each matching only itself', async () => {
    const store = new MemoryStoreAdapter()
    const adapter = new StoreStorageAdapter(store)
    // A remote peer chooses its storage id, and automerge-repo puts it in sync-state keys.
    const odd = [
      'did:plc:abc|storage',
      '../../escape',
      'a/b',
      '',
      '.',
      '..',
      ':looks-encoded',
      'ünïcode',
      '😀',
      'x'.repeat(149),
    ]
    for (const [i, part] of odd.entries()) await adapter.save(['doc', 'sync-state', part], bytes(i))
    await adapter.save(['doc', 'sync-state', 'plain'], bytes(99))
    for (const [i, part] of odd.entries())
      expect(await adapter.load(['doc', 'sync-state', part])).toEqual(bytes(i))
    const range = await adapter.loadRange(['doc', 'sync-state'])
    expect(range.map((c) => c.key[2]).sort()).toEqual([...odd, 'plain'].sort())
    // Every key reached the seam as valid parts: nothing was refused, nothing escaped `doc`.
    expect((await store.loadRange(['doc'])).length).toBe(odd.length + 1)
    expect((await store.loadRange([])).length).toBe(odd.length + 1)
    await adapter.remove(['doc', 'sync-state', '..'])
    expect(await adapter.load(['doc', 'sync-state', '..'])).toBeUndefined()
    expect(await adapter.load(['doc', 'sync-state', '.'])).toEqual(bytes(4))
  })

  it('refuses keys it cannot represent instead of folding them onto others', async () => {
    const adapter = new StoreStorageAdapter(new MemoryStoreAdapter())
    for (const key of [[], ['doc', '\ud800'], ['doc', 'x'.repeat(150) + '/']]) {
      await expect(adapter.save(key, bytes(1))).rejects.toBeInstanceOf(InvalidStoreKeyError)
    }
  })

  it('keeps prefixed namespaces apart on one backend', async () => {
    const store = new MemoryStoreAdapter()
    const repo = new StoreStorageAdapter(prefixedStore(store, 'repo'))
    const hearth = prefixedStore(store, ['hearth'])
    await repo.save(['doc', 'snapshot', 'h'], bytes(1))
    await hearth.save(['doc', 'snapshot', 'h'], bytes(2))
    await store.save(['repo'], bytes(3)) // a value at the prefix itself is not in the view
    expect(await repo.load(['doc', 'snapshot', 'h'])).toEqual(bytes(1))
    expect(await repo.loadRange([])).toEqual([{ key: ['doc', 'snapshot', 'h'], data: bytes(1) }])
    await repo.removeRange([])
    expect(await repo.loadRange([])).toEqual([])
    expect(await hearth.load(['doc', 'snapshot', 'h'])).toEqual(bytes(2))
    expect(await store.load(['repo'])).toEqual(bytes(3))
    await expect(hearth.load([])).rejects.toBeInstanceOf(InvalidStoreKeyError)
    expect(() => prefixedStore(store, '..')).toThrow(InvalidStoreKeyError)
  })

  it('lets a Repo and the verified store share one directory and reopen from it', async () => {
    const { root, teardown } = await tempDir()
    try {
      const open = () => {
        const files: StoreAdapter = new FileStoreAdapter(root)
        return {
          repo: new Repo({ storage: new StoreStorageAdapter(prefixedStore(files, 'repo')) }),
          verified: new VerifiedStore(prefixedStore(files, 'hearth')),
        }
      }
      const first = open()
      const handle = first.repo.create<{ lines: string[] }>({ lines: [] })
      for (let i = 0; i < 20; i++) handle.change((d) => d.lines.push(`line ${i}`))
      await first.repo.flush()
      const heads = handle.heads()
      await first.verified.recordVerified(handle.documentId, ['ab'.repeat(32)])
      await first.repo.shutdown()
      expect((await readdir(root)).sort()).toEqual(['hearth', 'repo'])

      const second = open()
      const again = await second.repo.find<{ lines: string[] }>(handle.url)
      expect(again.doc().lines).toEqual(Array.from({ length: 20 }, (_, i) => `line ${i}`))
      expect(again.heads()).toEqual(heads)
      expect(await second.verified.loadVerified(handle.documentId)).toEqual(
        new Set(['ab'.repeat(32)]),
      )
      await second.repo.shutdown()
    } finally {
      await teardown()
    }
  })
})
