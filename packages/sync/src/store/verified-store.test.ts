import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { FileStoreAdapter } from './file-store-adapter.ts'
import { MemoryStoreAdapter } from './store-adapter.ts'
import { CorruptStoreError, VerifiedStore } from './verified-store.ts'

const hash = (n: number) => n.toString(16).padStart(64, '0')

describe('VerifiedStore', () => {
  it('remembers verified change hashes per document, across batches and compaction', async () => {
    const store = new VerifiedStore(new MemoryStoreAdapter())
    for (let i = 0; i < 70; i++) await store.recordVerified('docA', [hash(i), hash(1000 + i)])
    await store.recordVerified('docB', [hash(5)])
    const first = await store.loadVerified('docA')
    expect(first.size).toBe(140)
    expect(first.has(hash(1069))).toBe(true)
    expect(await store.loadVerified('docA')).toEqual(first)
    expect(await store.loadVerified('docB')).toEqual(new Set([hash(5)]))
  })

  it('keeps a snapshot through a restart on files, and refuses a damaged one', async () => {
    const root = await mkdtemp(join(tmpdir(), 'hearth-verified-'))
    try {
      const store = new VerifiedStore(new FileStoreAdapter(root))
      const snapshot = { heads: { docA: [hash(1), hash(2)] }, state: new Uint8Array([1, 2, 3]) }
      await store.saveSnapshot('spaceid', snapshot)
      await store.recordVerified('docA', [hash(1)])
      const reopened = new VerifiedStore(new FileStoreAdapter(root))
      expect(await reopened.loadSnapshot('spaceid')).toEqual(snapshot)
      expect(await reopened.loadVerified('docA')).toEqual(new Set([hash(1)]))
      await mkdir(join(root, 'snapshot'), { recursive: true })
      await writeFile(join(root, 'snapshot', 'spaceid.bin'), new Uint8Array([0xa1, 0x61]))
      await expect(reopened.loadSnapshot('spaceid')).rejects.toBeInstanceOf(CorruptStoreError)
      await reopened.forgetSpace('spaceid', ['docA'])
      expect(await reopened.loadSnapshot('spaceid')).toBeUndefined()
      expect((await reopened.loadVerified('docA')).size).toBe(0)
    } finally {
      await rm(root, { recursive: true, force: true })
    }
  })
})
