// R25 and R28 through real Repos behind validators.
import * as A from '@automerge/automerge'
import type {
  DocHandle,
  DocumentId,
  PeerId,
  StorageAdapterInterface,
} from '@automerge/automerge-repo'
import { MemoryStoreAdapter } from '../store/store-adapter.ts'
import { describe, expect, it } from 'vitest'
import { importVerified } from './change-validator.ts'
import { spaceDocumentId } from './layout.ts'
import { MemoryLinkAdapter } from './memory-network.ts'
import { createSignedDocument, SignedWriter } from './signed-writer.ts'
import { createValidatedPeer, makeTestEvent, syncMessageWith, textsIn, until } from './testing.ts'
import type { ValidatedPeer } from './testing.ts'

type Doc = Record<string, unknown>

async function member(peer: ValidatedPeer, documentId: DocumentId, genesis: Uint8Array) {
  const handle = await importVerified<Doc>(peer.repo, peer.validator, documentId, genesis)
  const writer = new SignedWriter(handle as DocHandle<unknown>, peer.key, {
    onWrite: (accepted) => peer.validator.noteLocalWrite(documentId, accepted),
  })
  const say = async (...texts: string[]) =>
    writer.append(await Promise.all(texts.map((text) => makeTestEvent(peer.key, text))))
  return { handle, say }
}

describe('sync scenarios', () => {
  it('R25: three members in two partitions converge after healing, every message present once', async () => {
    const [alice, bob, carol] = await Promise.all(
      ['alice', 'bob', 'carol'].map((n) => createValidatedPeer(n)),
    )
    const documentId = spaceDocumentId('r25')
    const genesis = await createSignedDocument(alice!.key, [
      await makeTestEvent(alice!.key, 'genesis'),
    ])
    const a = await member(alice!, documentId, genesis)
    const b = await member(bob!, documentId, genesis)
    const c = await member(carol!, documentId, genesis)
    // Partition {alice, bob} | {carol}; everyone writes while apart.
    const [ab, ba] = MemoryLinkAdapter.pair()
    alice!.link(ab)
    bob!.link(ba)
    await a.say('a1', 'a2')
    await b.say('b1')
    await c.say('c1', 'c2')
    await until(b.handle, (d) => textsIn(d).length === 4)
    await c.say('c3')
    // Heal: carol meets bob only; alice gets carol's words through bob.
    const [bc, cb] = MemoryLinkAdapter.pair()
    bob!.link(bc)
    carol!.link(cb)
    const expected = ['a1', 'a2', 'b1', 'c1', 'c2', 'c3', 'genesis']
    for (const h of [a.handle, b.handle, c.handle])
      await until(h, (d) => textsIn(d).length === expected.length)
    const docs = [a.handle.doc(), b.handle.doc(), c.handle.doc()]
    for (const d of docs) {
      expect(textsIn(d)).toEqual(expected)
      expect(textsIn(A.load(A.save(d)))).toEqual(expected)
    }
    expect(A.getHeads(docs[0]!)).toEqual(A.getHeads(docs[1]!))
    expect(A.getHeads(docs[1]!)).toEqual(A.getHeads(docs[2]!))
    for (const p of [alice!, bob!, carol!]) expect(p.rejections).toEqual([])
  })

  it('R28: an interrupted first sync keeps what the device had, and completes later', async () => {
    const alice = await createValidatedPeer('alice')
    const bob = await createValidatedPeer('bob')
    const documentId = spaceDocumentId('r28')
    const genesis = await createSignedDocument(alice.key, [
      await makeTestEvent(alice.key, 'genesis'),
    ])
    const a = await member(alice, documentId, genesis)
    for (let i = 0; i < 20; i++) await a.say(`a${i}`)
    const b = await member(bob, documentId, genesis)
    await b.say('offline note')
    // The first sync is cut after alice's first message with document data reaches bob.
    const link: { cut?: () => void } = {}
    const [ab, ba] = MemoryLinkAdapter.pair((deliver, message) => {
      queueMicrotask(() => {
        deliver()
        const data = (message as { data?: Uint8Array }).data
        if (message.senderId === 'alice' && data && A.decodeSyncMessage(data).changes.length > 0)
          link.cut?.()
      })
    })
    link.cut = () => ab.cut()
    alice.link(ab)
    bob.link(ba)
    await new Promise<void>((resolve) =>
      bob.repo.networkSubsystem.once('peer-disconnected', () => resolve()),
    )
    expect(textsIn(b.handle.doc())).toContain('offline note')
    expect(textsIn(b.handle.doc())).toContain('genesis')
    const [ab2, ba2] = MemoryLinkAdapter.pair()
    alice.link(ab2)
    bob.link(ba2)
    const doc = await until(b.handle, (d) => textsIn(d).length === 22)
    expect(textsIn(doc)).toContain('offline note')
    await until(a.handle, (d) => textsIn(d).includes('offline note'))
    expect(bob.rejections).toEqual([])
  })
})

describe('a peer restarted over its storage', () => {
  it('validates a change for a document its Repo has not loaded yet against what storage holds', async () => {
    const storage = new MemoryStoreAdapter() as unknown as StorageAdapterInterface
    const alice = await createValidatedPeer('alice')
    const first = await createValidatedPeer('router', { storage })
    const documentId = spaceDocumentId('restart')
    const genesis = await createSignedDocument(alice.key, [
      await makeTestEvent(alice.key, 'genesis'),
    ])
    const a = await member(alice, documentId, genesis)
    await a.say('before restart')
    const [l1, r1] = MemoryLinkAdapter.pair()
    alice.link(l1)
    first.link(r1)
    const stored = await first.repo.find<Doc>(documentId)
    await until(stored, (d) => textsIn(d).length === 2)
    await first.repo.flush()
    l1.cut()
    first.repo.networkSubsystem.disconnect()

    // Same storage, new process, nothing loaded yet; the first message carries a change that
    // builds on what storage holds (as it does when the sender kept its sync state).
    const before = A.getHeads(a.handle.doc())
    await a.say('while the router was down')
    const [fresh] = A.getChanges(A.view(a.handle.doc(), before), a.handle.doc())
    const again = await createValidatedPeer('router', { storage, key: first.key })
    const [l2, r2] = MemoryLinkAdapter.pair()
    again.link(r2)
    l2.connect('alice' as PeerId)
    await new Promise<void>((resolve) => again.repo.networkSubsystem.once('peer', () => resolve()))
    l2.inject({ type: 'sync', documentId, data: syncMessageWith([fresh!]) })
    const outcome = await Promise.race([
      again.acceptedFor(documentId).then(() => 'accepted'),
      again.nextRejection().then((r) => r.reason),
    ])
    expect(outcome).toBe('accepted')
    const handle = await again.repo.find<Doc>(documentId)
    const doc = await until(handle, (d) => textsIn(d).length === 3)
    expect(textsIn(doc)).toEqual(['before restart', 'genesis', 'while the router was down'])
    expect(again.rejections).toEqual([])
  })
})
