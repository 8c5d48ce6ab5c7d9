// Real space events end to end: signed with device keys, stored in signed changes, checked
// by the validator with the event layer's parser, and reduced on the other replica (R25).
import * as A from '@automerge/automerge'
import type { DocHandle } from '@automerge/automerge-repo'
import { describe, expect, it } from 'vitest'
import { asDid } from '@hearth/identity'
import { encodeSignedEvent } from '../events/codec.ts'
import { signEvent } from '../events/sign.ts'
import type { EventId, SpaceId } from '../events/schema.ts'
import { importVerified } from './change-validator.ts'
import { spaceDocumentId } from './layout.ts'
import { MemoryLinkAdapter } from './memory-network.ts'
import { createSignedDocument, SignedWriter } from './signed-writer.ts'
import { SpaceEventFeed } from './space-feed.ts'
import { verifySpaceEventBytes } from './space-events.ts'
import { createValidatedPeer, syncMessageWith, until } from './testing.ts'
import { buildSignedChange, entriesOf } from './signed-writer.ts'

describe('space events through Automerge into the reducer', () => {
  it('syncs a public space, reduces it identically on both replicas, and refuses a forged event', async () => {
    const alice = await createValidatedPeer('alice', { verifyEvent: verifySpaceEventBytes })
    const bob = await createValidatedPeer('bob', { verifyEvent: verifySpaceEventBytes })
    const [ab, ba] = MemoryLinkAdapter.pair()
    alice.link(ab)
    bob.link(ba)
    const aliceDid = asDid('did:plc:aliceaaaaaaaaaaaaaaaaaaa')
    const bobDid = asDid('did:plc:bobbbbbbbbbbbbbbbbbbbbbb')
    const genesis = await signEvent(alice.key, {
      space: null,
      kind: 'genesis',
      author: aliceDid,
      parents: [],
      body: { mode: 'PUBLIC', name: 'Hearth', nonce: 'nonce-12345' },
    })
    const spaceId = genesis.id as SpaceId
    const documentId = spaceDocumentId(spaceId)
    const handle = await importVerified(
      alice.repo,
      alice.validator,
      documentId,
      await createSignedDocument(alice.key, [encodeSignedEvent(genesis)]),
    )
    const aliceWriter = new SignedWriter(handle, alice.key, {
      onWrite: (a) => alice.validator.noteLocalWrite(documentId, a),
    })
    const channel = await signEvent(alice.key, {
      space: spaceId,
      kind: 'channel.create',
      author: aliceDid,
      parents: [genesis.id],
      body: { name: 'general' },
    })
    const hello = await signEvent(alice.key, {
      space: spaceId,
      kind: 'message',
      author: aliceDid,
      parents: [channel.id],
      body: { text: 'hello', channel: channel.id },
    })
    await aliceWriter.append([encodeSignedEvent(channel), encodeSignedEvent(hello)])

    const bobHandle = await bob.repo.find<unknown>(documentId)
    const bobFeed = new SpaceEventFeed(spaceId)
    bobFeed.follow(bobHandle as DocHandle<unknown>)
    await until(bobHandle, () => bobFeed.state.messages.size === 1)
    const bobWriter = new SignedWriter(bobHandle as DocHandle<unknown>, bob.key, {
      onWrite: (a) => bob.validator.noteLocalWrite(documentId, a),
    })
    const join = await signEvent(bob.key, {
      space: spaceId,
      kind: 'join',
      author: bobDid,
      parents: [hello.id],
      body: {},
    })
    const reply = await signEvent(bob.key, {
      space: spaceId,
      kind: 'message',
      author: bobDid,
      parents: [join.id],
      body: { text: 'hi alice', channel: channel.id, replyTo: hello.id as EventId },
    })
    await bobWriter.append([encodeSignedEvent(join), encodeSignedEvent(reply)])

    const aliceFeed = new SpaceEventFeed(spaceId)
    aliceFeed.follow(handle as DocHandle<unknown>)
    await until(handle, () => aliceFeed.state.messages.size === 2)
    expect(aliceFeed.state.members.get(bobDid)?.status).toBe('member')
    expect(bobFeed.state.members.get(bobDid)?.status).toBe('member')
    expect(aliceFeed.state.members.get(bobDid)?.keys).toEqual([bob.key.keyId])
    expect([...aliceFeed.state.messages.keys()].sort()).toEqual(
      [...bobFeed.state.messages.keys()].sort(),
    )
    expect(aliceFeed.state.invalid.size).toBe(0)
    expect(aliceFeed.unreadable).toBe(0)

    // A member's change carrying an event with an altered body (signature mismatch, R19/R26).
    const forged = encodeSignedEvent({
      ...reply,
      body: { ...reply.body, text: 'altered' },
    } as typeof reply)
    const own = { seq: 0, hash: undefined, bucket: undefined }
    const bobDoc = bobHandle.doc() as A.Doc<unknown>
    const bobActorLatest = A.getBackend(bobDoc)
      .getChangesMeta([])
      .filter((m) => m.actor === bobWriter.actor)
      .sort((x, y) => y.seq - x.seq)[0]!
    own.seq = bobActorLatest.seq
    ;(own as { hash?: string }).hash = bobActorLatest.hash
    const root = bobDoc as Record<string, unknown[]>
    const bucket = {
      index: 0,
      objId: A.getObjectId(root[`${bobWriter.actor}:0`]!)!,
      length: root[`${bobWriter.actor}:0`]!.length,
    }
    const built = await buildSignedChange(
      bobDoc,
      bob.key,
      { ...own, bucket } as never,
      entriesOf([forged]),
    )
    ba.inject({ type: 'sync', documentId, data: syncMessageWith([built.change]) })
    const rejection = await alice.nextRejection()
    expect(rejection.reason).toMatch(/event 0/)
    expect(aliceFeed.state.messages.size).toBe(2)
  })
})
