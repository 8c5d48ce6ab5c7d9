import { canonicalDecode, canonicalEncode } from '@hearth/identity'
import { describe, expect, it } from 'vitest'
import { eventSetForSeed } from '../harness/convergence.ts'
import { Prng } from '../harness/prng.ts'
import { createActors, HARNESS_ACTOR_NAMES, SpaceBuilder } from '../harness/space-builder.ts'
import { computeEventId } from '../events/codec.ts'
import type { EventId, SpaceEvent, SpaceId, UnsignedEvent } from '../events/schema.ts'
import {
  checksum,
  encodeCheckpoint,
  InvalidCheckpointError,
  type SpaceCheckpoint,
} from './checkpoint.ts'
import { stateDigest } from './snapshot.ts'
import { reduce, SpaceReducer } from './space-reducer.ts'

const actors = createActors(HARNESS_ACTOR_NAMES)

function smallSpace() {
  const [alice, bob] = actors
  const b = new SpaceBuilder()
  b.genesis(alice!, 'PUBLIC')
  b.make(bob!, 'join', {})
  for (let i = 0; i < 20; i++) b.make(i % 2 ? alice! : bob!, 'message', { text: `m${i}` })
  const r = new SpaceReducer(b.spaceId!)
  r.addAll(b.events)
  return { b, r }
}

describe('reducer checkpoint', () => {
  it('restore(checkpoint(first part)) + second part equals a full replay, late authority included (property)', () => {
    const prng = new Prng(77)
    let recomputes = 0
    let authorityReplays = 0
    for (let seed = 1; seed <= 80; seed++) {
      const { spaceId, events } = eventSetForSeed(seed, actors)
      const replay = stateDigest(reduce(spaceId, events))
      for (let round = 0; round < 2; round++) {
        const shuffled = prng.shuffle(events)
        const split = prng.int(shuffled.length + 1)
        const first = new SpaceReducer(spaceId)
        first.addAll(shuffled.slice(0, split))
        // Sometimes the checkpoint is taken while a recompute is still owed.
        if (prng.chance(0.5)) void first.state
        const bytes = encodeCheckpoint(first.checkpoint())
        const restored = SpaceReducer.restore(bytes, { spaceId })
        expect(restored.recomputes, `seed ${seed}: restore replays nothing`).toBe(0)
        expect(stateDigest(restored.state)).toBe(stateDigest(first.state))
        for (let i = split; i < shuffled.length;) {
          const n = 1 + prng.int(6)
          restored.addAll(shuffled.slice(i, i + n))
          i += n
          if (prng.chance(0.3)) void restored.state
        }
        expect(stateDigest(restored.state), `seed ${seed} round ${round} split ${split}`).toBe(
          replay,
        )
        recomputes += restored.recomputes
        authorityReplays += restored.authorityReplays
      }
    }
    // The second parts did bring late authority events that the restored reducer had to absorb:
    // by a full recompute from the checkpointed events, and by replaying authority alone.
    expect(recomputes).toBeGreaterThan(0)
    expect(authorityReplays).toBeGreaterThan(0)
  }, 120_000)

  it('a restored reducer keeps appending without a replay', () => {
    const { b, r } = smallSpace()
    const restored = SpaceReducer.restore(encodeCheckpoint(r.checkpoint()))
    const m = b.make(actors[0]!, 'message', { text: 'after reopen' })
    restored.add(m)
    expect(restored.state.messages.get(m.id)?.text).toBe('after reopen')
    expect(restored.recomputes).toBe(0)
    expect(stateDigest(restored.state)).toBe(stateDigest(reduce(b.spaceId!, b.events)))
  })

  it('refuses a foreign checkpoint', () => {
    const { r } = smallSpace()
    const bytes = encodeCheckpoint(r.checkpoint())
    const other = 'b'.repeat(52) as SpaceId
    expect(() => SpaceReducer.restore(bytes, { spaceId: other })).toThrow(InvalidCheckpointError)
    const future = { ...(canonicalDecode(bytes) as SpaceCheckpoint), v: 3 }
    expect(() => SpaceReducer.restore(canonicalEncode(future))).toThrow(/schema/)
  })

  it('refuses a corrupted checkpoint: truncated, bit-flipped, tampered, mislabelled', () => {
    const { r } = smallSpace()
    const checkpoint = r.checkpoint()
    const bytes = encodeCheckpoint(checkpoint)
    expect(() => SpaceReducer.restore(bytes.subarray(0, bytes.length - 7))).toThrow(
      InvalidCheckpointError,
    )
    const flipped = new Uint8Array(checkpoint.state)
    flipped[flipped.length >> 1]! ^= 0x01
    expect(() => SpaceReducer.restore({ ...checkpoint, state: flipped })).toThrow(/checksum/)
    // A body rewritten with a matching hash still has to hold together.
    const body = JSON.parse(new TextDecoder().decode(checkpoint.state)) as {
      events: unknown
      order: number[]
      messages: { rows: unknown[][] }
    }
    const rehash = (state: Uint8Array) => ({
      ...checkpoint,
      state,
      checksum: checksum(state) + checksum(checkpoint.events),
    })
    const tampered = new TextEncoder().encode(JSON.stringify({ events: body.events }))
    expect(() => SpaceReducer.restore(rehash(tampered))).toThrow(InvalidCheckpointError)
    // A message record moved away from its event's place in the order.
    const moved = structuredClone(body)
    moved.order[5]! += 1
    expect(() =>
      SpaceReducer.restore(rehash(new TextEncoder().encode(JSON.stringify(moved)))),
    ).toThrow(/not in the order/)
    // A message row with a reference outside its table.
    const badRef = structuredClone(body)
    badRef.messages.rows[0]![1] = 99
    expect(() =>
      SpaceReducer.restore(rehash(new TextEncoder().encode(JSON.stringify(badRef)))),
    ).toThrow(/bad reference/)
    // Events cut at other lengths.
    const events = new Uint8Array([...checkpoint.events, 0x20])
    expect(() =>
      SpaceReducer.restore({
        ...checkpoint,
        events,
        checksum: checksum(checkpoint.state) + checksum(events),
      }),
    ).toThrow(/lengths/)
    expect(() => SpaceReducer.restore({ ...checkpoint, eventCount: 3 })).toThrow(/count/)
    expect(() => SpaceReducer.restore(new Uint8Array([0xa1, 0x61]))).toThrow(InvalidCheckpointError)
  })

  it('checks a restored event when it is first read: one stored under another id is refused', () => {
    const { r } = smallSpace()
    const checkpoint = r.checkpoint()
    const body = JSON.parse(new TextDecoder().decode(checkpoint.state)) as {
      events: { ids: string[]; lengths: number[] }
    }
    // Two events' ids swapped in the index (their JSON stays where it was).
    const ids = body.events.ids
    const id = ids[3]!
    ;[ids[3], ids[4]] = [ids[4]!, ids[3]!]
    const state = new TextEncoder().encode(JSON.stringify(body))
    const restored = SpaceReducer.restore({
      ...checkpoint,
      state,
      checksum: checksum(state) + checksum(checkpoint.events),
    })
    expect(() => restored.event(id as EventId)).toThrow(/another id/)
  })

  it('unknown kinds and malformed bodies are invalid the same way in every order, through a checkpoint and a late authority recompute', () => {
    const [alice, bob, carol] = actors
    const b = new SpaceBuilder()
    b.genesis(alice!, 'PUBLIC')
    b.make(bob!, 'join', {})
    const channel = b.make(alice!, 'channel.create', { name: 'general' }).id
    b.make(bob!, 'message', { text: 'before', channel })
    // Events a newer client (or a broken one) signs: the builder's schema check is bypassed.
    const raw = (actor: typeof alice, kind: string, body: unknown): SpaceEvent => {
      const unsigned = {
        v: 1,
        space: b.spaceId,
        kind,
        author: actor!.did,
        key: actor!.devices[0]!,
        parents: b.currentHeads(),
        ts: 1_700_000_500_000,
        body,
      } as unknown as UnsignedEvent
      const id = computeEventId(unsigned)
      return { ...unsigned, id, sig: new Uint8Array(64) } as SpaceEvent
    }
    const poll = raw(bob, 'poll.create', { question: 'lunch?' })
    const colourful = raw(bob, 'message', { text: 'hi', channel, colour: 'red' })
    const badBan = raw(alice, 'proposal', { action: 'ban' })
    // Body keys that collide with the checkpoint's own tags and with `__proto__`.
    const tricky = raw(
      bob,
      'sticker',
      JSON.parse('{"$M": 1, "$$x": {"$B": "zz"}, "__proto__": {"a": 1}, "n": [1.5, null]}'),
    )
    const extra = [poll, colourful, badBan, tricky]
    const parents = [...b.currentHeads(), ...extra.map((e) => e.id)].sort() as EventId[]
    const vote = b.make(bob!, 'reaction.add', { target: poll.id, emoji: '🥗' }, { parents })
    b.make(bob!, 'message', { text: 'after', channel }, { parents: [vote.id] })
    // A late authority event (concurrent with almost everything) and its author's message.
    const late = b.make(carol!, 'join', {}, { parents: [b.spaceId!] })
    b.make(
      carol!,
      'message',
      { text: 'late', channel },
      { parents: [late.id, channel].sort() as EventId[] },
    )
    const events = [...b.events, ...extra]
    const full = reduce(b.spaceId!, events)
    expect(full.invalid.get(poll.id)?.reason).toBe('unknown-kind')
    expect(full.invalid.get(poll.id)?.kind).toBe('poll.create')
    expect(full.invalid.get(colourful.id)?.reason).toBe('malformed-body')
    expect(full.invalid.get(badBan.id)?.reason).toBe('malformed-body')
    expect(full.invalid.get(vote.id)?.reason).toBe('invalid-target')
    expect(full.members.get(bob!.did)?.status).toBe('member')
    expect([...full.messages.values()].map((m) => m.text).sort()).toEqual([
      'after',
      'before',
      'late',
    ])
    const digest = stateDigest(full)
    const prng = new Prng(5)
    for (let round = 0; round < 40; round++) {
      const shuffled = prng.shuffle(events)
      const split = prng.int(shuffled.length + 1)
      const first = new SpaceReducer(b.spaceId!)
      for (const e of shuffled.slice(0, split)) {
        first.add(e)
        if (prng.chance(0.3)) void first.state
      }
      const restored = SpaceReducer.restore(encodeCheckpoint(first.checkpoint()))
      for (const e of shuffled.slice(split)) {
        restored.add(e)
        if (prng.chance(0.3)) void restored.state
      }
      expect(stateDigest(restored.state), `round ${round}`).toBe(digest)
      const back = SpaceReducer.restore(encodeCheckpoint(restored.checkpoint()))
      expect(back.event(tricky.id)?.body).toStrictEqual(tricky.body)
      expect(Object.keys(back.event(tricky.id)!.body)).toEqual(['$M', '$$x', '__proto__', 'n'])
    }
    expect(full.invalid.get(tricky.id)?.reason).toBe('unknown-kind')
  })
})
