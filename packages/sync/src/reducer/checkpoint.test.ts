import { canonicalDecode, canonicalEncode } from '@hearth/identity'
import { describe, expect, it } from 'vitest'
import { eventSetForSeed } from '../harness/convergence.ts'
import { Prng } from '../harness/prng.ts'
import { createActors, HARNESS_ACTOR_NAMES, SpaceBuilder } from '../harness/space-builder.ts'
import type { EventId, SpaceId } from '../events/schema.ts'
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
    const future = { ...(canonicalDecode(bytes) as SpaceCheckpoint), v: 2 }
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
    const body = JSON.parse(new TextDecoder().decode(checkpoint.state)) as { events: unknown[] }
    const tampered = new TextEncoder().encode(JSON.stringify({ events: body.events }))
    expect(() =>
      SpaceReducer.restore({ ...checkpoint, state: tampered, checksum: checksum(tampered) }),
    ).toThrow(InvalidCheckpointError)
    expect(() => SpaceReducer.restore({ ...checkpoint, eventCount: 3 })).toThrow(/count/)
    expect(() => SpaceReducer.restore(new Uint8Array([0xa1, 0x61]))).toThrow(InvalidCheckpointError)
  })

  it('checks a restored event when it is first read: one stored under another id is refused', () => {
    const { r } = smallSpace()
    const checkpoint = r.checkpoint()
    const body = JSON.parse(new TextDecoder().decode(checkpoint.state)) as {
      events: Array<[string, string]>
    }
    const [id] = body.events[3]!
    body.events[3] = [id, body.events[4]![1]]
    const state = new TextEncoder().encode(JSON.stringify(body))
    const restored = SpaceReducer.restore({ ...checkpoint, state, checksum: checksum(state) })
    expect(() => restored.event(id as EventId)).toThrow(/another id/)
  })
})
