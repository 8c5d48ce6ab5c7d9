// Ingress checks the envelope and the signature only: a newer peer's event kinds and body
// fields pass every peer's validator, are stored and synced, and every replica's reducer lists
// them as invalid the same way (instead of older peers refusing what newer ones accept).
import type { DocHandle } from '@automerge/automerge-repo'
import * as dagCbor from '@ipld/dag-cbor'
import { describe, expect, it } from 'vitest'
import { asDid, generateDeviceKey } from '@hearth/identity'
import type { DeviceKey, Did } from '@hearth/identity'
import {
  computeEventId,
  encodeSignedEvent,
  EVENT_SIG_DOMAIN,
  eventIdToBytes,
  parseEventEnvelope,
  parseSignedEvent,
} from '../events/codec.ts'
import { signEvent } from '../events/sign.ts'
import type { EventId, SpaceId, UnsignedEvent } from '../events/schema.ts'
import { stateDigest } from '../reducer/snapshot.ts'
import { reduce } from '../reducer/space-reducer.ts'
import { importVerified } from './change-validator.ts'
import { entriesIn, createValidatedPeer, until } from './testing.ts'
import { spaceDocumentId } from './layout.ts'
import { MemoryLinkAdapter } from './memory-network.ts'
import { createSignedDocument, SignedWriter } from './signed-writer.ts'
import { SpaceEventFeed } from './space-feed.ts'
import { verifySpaceEventBytes } from './space-events.ts'

/** Signs any envelope, as a newer (or broken) client would: no body schema on the way out. */
async function signRaw(
  key: DeviceKey,
  fields: { space: SpaceId; kind: string; author: Did; parents: EventId[]; body: unknown },
): Promise<{ id: EventId; bytes: Uint8Array }> {
  const unsigned = { v: 1, key: key.keyId, ts: 1_767_225_600_000, ...fields }
  const id = computeEventId(unsigned as unknown as UnsignedEvent)
  const s = await key.sign(EVENT_SIG_DOMAIN, eventIdToBytes(id))
  return { id, bytes: dagCbor.encode({ e: unsigned, s }) }
}

const aliceDid = asDid('did:plc:aliceaaaaaaaaaaaaaaaaaaa')
const bobDid = asDid('did:plc:bobbbbbbbbbbbbbbbbbbbbbb')

describe('ingress checks envelope and signature; the reducer judges kinds and bodies', () => {
  it('the validator accepts an unknown kind and a malformed body signed by their key, and refuses a bad signature or envelope', async () => {
    const { key } = await generateDeviceKey()
    const { key: other } = await generateDeviceKey()
    const space = 'a'.repeat(52) as SpaceId
    const parents = ['b'.repeat(52) as EventId]
    const poll = await signRaw(key, {
      space,
      kind: 'poll.create',
      author: bobDid,
      parents,
      body: { question: 'lunch?', options: ['soup', 'salad'] },
    })
    const colourful = await signRaw(key, {
      space,
      kind: 'message',
      author: bobDid,
      parents,
      body: { text: 'hi', colour: 'red' },
    })
    for (const event of [poll, colourful]) {
      expect(await verifySpaceEventBytes(event.bytes)).toEqual({ ok: true, keyId: key.keyId })
      const parsed = parseEventEnvelope(event.bytes)
      expect(parsed.ok && parsed.event.id).toBe(event.id)
      // What ingress used to apply: the current body schemas, which refuse both.
      expect(parseSignedEvent(event.bytes).ok).toBe(false)
    }
    // The signature still binds every byte, body included.
    const wire = dagCbor.decode(poll.bytes) as { e: Record<string, unknown>; s: Uint8Array }
    const altered = dagCbor.encode({ ...wire, e: { ...wire.e, body: { question: 'dinner?' } } })
    expect((await verifySpaceEventBytes(altered)).ok).toBe(false)
    const wrongKey = dagCbor.encode({ ...wire, e: { ...wire.e, key: other.keyId } })
    expect((await verifySpaceEventBytes(wrongKey)).ok).toBe(false)
    // Bodies are plain data any replica can hold: no 2^64 integers, no deep nesting, a map.
    let deep: unknown = 'x'
    for (let i = 0; i < 20; i++) deep = { d: deep }
    for (const body of [{ n: 2n ** 64n - 1n }, deep, 'text', [1, 2]]) {
      const odd = await signRaw(key, { space, kind: 'poll.create', author: bobDid, parents, body })
      expect((await verifySpaceEventBytes(odd.bytes)).ok).toBe(false)
    }
    // The envelope stays strict: kind names, extra envelope fields, the genesis shape.
    const envelopes: Array<Record<string, unknown>> = [
      { ...wire.e, kind: 'Poll Create' },
      { ...wire.e, kind: 'x'.repeat(65) },
      { ...wire.e, extra: 1 },
      { ...wire.e, space: null },
    ]
    for (const e of envelopes) {
      const opened = await verifySpaceEventBytes(dagCbor.encode({ e, s: wire.s }))
      expect(opened.ok, JSON.stringify(e.kind)).toBe(false)
    }
  })

  it('an unknown kind and a malformed body from a member are stored, synced, and invalid identically on both replicas', async () => {
    const alice = await createValidatedPeer('alice', { verifyEvent: verifySpaceEventBytes })
    const bob = await createValidatedPeer('bob', { verifyEvent: verifySpaceEventBytes })
    const [ab, ba] = MemoryLinkAdapter.pair()
    alice.link(ab)
    bob.link(ba)
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
    const channel = await signEvent(alice.key, {
      space: spaceId,
      kind: 'channel.create',
      author: aliceDid,
      parents: [genesis.id],
      body: { name: 'general' },
    })
    await new SignedWriter(handle, alice.key, {
      onWrite: (a) => alice.validator.noteLocalWrite(documentId, a),
    }).append([encodeSignedEvent(channel)])

    const bobHandle = (await bob.repo.find<unknown>(documentId)) as DocHandle<unknown>
    await until(bobHandle, (doc) => entriesIn(doc).length === 2)
    const join = await signEvent(bob.key, {
      space: spaceId,
      kind: 'join',
      author: bobDid,
      parents: [channel.id],
      body: {},
    })
    // A newer client's kind, and a known kind with a field this version does not know.
    const poll = await signRaw(bob.key, {
      space: spaceId,
      kind: 'poll.create',
      author: bobDid,
      parents: [join.id],
      body: { question: 'lunch?', channel: channel.id },
    })
    const colourful = await signRaw(bob.key, {
      space: spaceId,
      kind: 'message',
      author: bobDid,
      parents: [join.id],
      body: { text: 'hi', channel: channel.id, colour: 'red' },
    })
    // Later events build on them: as parents (the graph goes on) and as a target.
    const vote = await signEvent(bob.key, {
      space: spaceId,
      kind: 'reaction.add',
      author: bobDid,
      parents: [colourful.id, poll.id].sort() as EventId[],
      body: { target: poll.id, emoji: '🥗' },
    })
    const after = await signEvent(bob.key, {
      space: spaceId,
      kind: 'message',
      author: bobDid,
      parents: [vote.id],
      body: { text: 'after', channel: channel.id },
    })
    const bobWriter = new SignedWriter(bobHandle, bob.key, {
      onWrite: (a) => bob.validator.noteLocalWrite(documentId, a),
    })
    await bobWriter.append([encodeSignedEvent(join), poll.bytes])
    await bobWriter.append([colourful.bytes, encodeSignedEvent(vote), encodeSignedEvent(after)])

    // Alice's validator accepted all of it (nothing refused) and her document stores it.
    const aliceDoc = await until(handle, (doc) => entriesIn(doc).length === 7)
    expect(alice.rejections).toEqual([])
    expect(bob.rejections).toEqual([])

    const feeds = [new SpaceEventFeed(spaceId), new SpaceEventFeed(spaceId)]
    feeds[0]!.ingest(documentId, aliceDoc)
    feeds[1]!.ingest(documentId, bobHandle.doc())
    for (const feed of feeds) {
      const state = feed.state
      expect(feed.unreadable).toBe(0)
      expect(state.invalid.get(poll.id)).toEqual({
        reason: 'unknown-kind',
        kind: 'poll.create',
        author: bobDid,
      })
      expect(state.invalid.get(colourful.id)).toEqual({
        reason: 'malformed-body',
        kind: 'message',
        author: bobDid,
      })
      expect(state.invalid.get(vote.id)?.reason).toBe('invalid-target')
      expect(state.messages.get(after.id)?.text).toBe('after')
      expect(state.messages.has(colourful.id)).toBe(false)
      expect(state.members.get(bobDid)?.status).toBe('member')
      expect(state.invalid.size).toBe(3)
      expect(state.pending.size).toBe(0)
    }
    // Identical on both replicas, and equal to a full replay in another order.
    const digest = stateDigest(feeds[0]!.state)
    expect(stateDigest(feeds[1]!.state)).toBe(digest)
    const events = [...feeds[0]!.reducer.allEvents()].reverse()
    expect(stateDigest(reduce(spaceId, events))).toBe(digest)
  })
})
