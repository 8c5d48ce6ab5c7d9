import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createActors, HARNESS_ACTOR_NAMES, SpaceBuilder } from '../harness/space-builder.ts'
import type { SpaceId } from '../events/schema.ts'
import { stateDigest } from '../reducer/snapshot.ts'
import { InvalidCheckpointError } from '../reducer/checkpoint.ts'
import { SpaceReducer } from '../reducer/space-reducer.ts'
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

  it('reopens a space from the paged checkpoint: the first screen without the reducer, the reducer on demand; refuses a damaged or foreign one', async () => {
    const [alice, bob] = createActors(HARNESS_ACTOR_NAMES)
    const b = new SpaceBuilder()
    b.genesis(alice!, 'PUBLIC')
    b.make(bob!, 'join', {})
    const channel = b.make(alice!, 'channel.create', { name: 'general' }).id
    for (let i = 0; i < 30; i++)
      b.make(i % 2 ? alice! : bob!, 'message', { text: `m${i}`, channel })
    const reducer = new SpaceReducer(b.spaceId!)
    reducer.addAll(b.events)
    const root = await mkdtemp(join(tmpdir(), 'hearth-verified-'))
    try {
      const store = new VerifiedStore(new FileStoreAdapter(root))
      await store.saveCheckpoint(
        reducer,
        { heads: { docA: [hash(9)] }, verified: { docA: [hash(8), hash(9)] } },
        { pageSize: 8, chunkBytes: 4096 },
      )
      const reopened = await new VerifiedStore(new FileStoreAdapter(root)).reopen(b.spaceId!, [
        'docA',
      ])
      expect(reopened!.heads).toEqual({ docA: [hash(9)] })
      expect(reopened!.verified.get('docA')).toEqual(new Set([hash(8), hash(9)]))
      const space = reopened!.space
      expect(space.summary.containers.get(channel)?.name).toBe('general')
      expect(space.summary.messageCount).toBe(30)
      expect((await space.latestMessages(channel, 3)).map((m) => m.text)).toEqual([
        'm27',
        'm28',
        'm29',
      ])
      const live = await space.reducer()
      expect(stateDigest(live.state)).toBe(stateDigest(reducer.state))
      expect(live.recomputes).toBe(0)
      expect(await store.reopen('z'.repeat(52) as SpaceId, [])).toBe(undefined)

      // A second save uses the other slot and clears the first; a stray part left by a crash
      // in the free slot is cleared by the next save.
      const m = b.make(alice!, 'message', { text: 'later', channel })
      live.add(m)
      const adapter = new FileStoreAdapter(root)
      await adapter.save(['checkpoint', b.spaceId!, 'b', 'stray'], new Uint8Array(3))
      await store.saveCheckpoint(live, { heads: { docA: [hash(10)] } }, { pageSize: 8 })
      expect((await adapter.loadRange(['checkpoint', b.spaceId!, 'a'])).length).toBe(0)
      const slotB = (await adapter.loadRange(['checkpoint', b.spaceId!, 'b'])).map((e) => e.key[3])
      expect(slotB).not.toContain('stray')
      const again = (await store.reopen(b.spaceId!, []))!
      expect((await again.space.latestMessages(channel, 1))[0]?.text).toBe('later')

      // Another space's head under this space's key.
      const head = (await adapter.load(['checkpoint', b.spaceId!, 'head']))!
      const foreign = 'b'.repeat(52) as SpaceId
      await adapter.save(['checkpoint', foreign, 'head'], head)
      await expect(store.reopen(foreign, [])).rejects.toThrow(/not this one/)
      // A damaged page: the head opens, the page read is refused.
      const pageKey = ['checkpoint', b.spaceId!, 'b', `m.${channel}.3`]
      const page = (await adapter.load(pageKey))!
      page[page.length >> 1]! ^= 0x40
      await adapter.save(pageKey, page)
      const damaged = (await store.reopen(b.spaceId!, []))!
      await expect(damaged.space.latestMessages(channel, 1)).rejects.toBeInstanceOf(
        InvalidCheckpointError,
      )
      // A damaged head.
      head[head.length - 20]! ^= 0x40
      await adapter.save(['checkpoint', b.spaceId!, 'head'], head)
      await expect(store.reopen(b.spaceId!, [])).rejects.toBeInstanceOf(CorruptStoreError)
      await store.forgetSpace(b.spaceId!, [])
      expect(await store.reopen(b.spaceId!, [])).toBe(undefined)
    } finally {
      await rm(root, { recursive: true, force: true })
    }
  })
})
