import { describe, expect, it } from 'vitest'
import { eventSetForSeed } from '../harness/convergence.ts'
import { Prng } from '../harness/prng.ts'
import { createActors, HARNESS_ACTOR_NAMES, SpaceBuilder } from '../harness/space-builder.ts'
import { snapshotState } from './snapshot.ts'
import { reduce, SpaceReducer } from './space-reducer.ts'
import type { SpaceEvent } from '../events/schema.ts'

const actors = createActors(HARNESS_ACTOR_NAMES)

describe('incremental reducer', () => {
  it('applying events one by one, in any order, with reads in between, equals a full replay (property)', () => {
    const prng = new Prng(2024)
    for (let seed = 1; seed <= 120; seed++) {
      const { spaceId, events } = eventSetForSeed(seed, actors)
      const replay = JSON.stringify(snapshotState(reduce(spaceId, events)))
      for (let order = 0; order < 3; order++) {
        const r = new SpaceReducer(spaceId)
        const shuffled = prng.shuffle(events)
        // Half the time in batches, half one by one; read the state at random moments.
        for (let i = 0; i < shuffled.length;) {
          const n = prng.chance(0.5) ? 1 : 1 + prng.int(8)
          r.addAll(shuffled.slice(i, i + n))
          i += n
          if (prng.chance(0.4)) void r.state
        }
        expect(JSON.stringify(snapshotState(r.state)), `seed ${seed} order ${order}`).toBe(replay)
      }
    }
  }, 120_000)

  it('appending messages to a large space does not replay it', () => {
    const [alice, bob] = actors
    const b = new SpaceBuilder()
    b.genesis(alice!, 'PUBLIC')
    b.make(bob!, 'join', {})
    for (let i = 0; i < 2000; i++) b.make(i % 2 ? alice! : bob!, 'message', { text: `m${i}` })
    const r = new SpaceReducer(b.spaceId!)
    r.addAll(b.events)
    void r.state
    const before = r.recomputes
    const more = new SpaceBuilder()
    more.spaceId = b.spaceId
    let parents = b.currentHeads()
    for (let i = 0; i < 200; i++) {
      const m = more.make(alice!, 'message', { text: `late ${i}` }, { parents })
      parents = [m.id]
      r.add(m)
      expect(r.state.messages.get(m.id)?.text).toBe(`late ${i}`)
    }
    expect(r.recomputes).toBe(before)
  })

  it('a join that sorts before other members’ concurrent messages applies without a replay', () => {
    const [alice, bob, carol] = actors
    const b = new SpaceBuilder()
    b.genesis(alice!, 'PUBLIC')
    b.make(bob!, 'join', {})
    for (let i = 0; i < 50; i++) b.make(bob!, 'message', { text: `m${i}` })
    const seen = b.currentHeads()
    // Bob keeps talking while carol's join (citing an older head) is on its way.
    for (let i = 0; i < 5; i++) b.make(bob!, 'message', { text: `more ${i}` })
    const join = b.make(carol!, 'join', {}, { parents: seen })
    const hello = b.make(carol!, 'message', { text: 'hi all' }, { parents: [join.id] })
    const r = new SpaceReducer(b.spaceId!)
    r.addAll(b.events.filter((e) => e !== join && e !== hello))
    void r.state
    const before = r.recomputes
    r.add(join)
    r.add(hello)
    expect(r.state.messages.get(hello.id)?.text).toBe('hi all')
    expect(r.recomputes).toBe(before)
    expect(JSON.stringify(snapshotState(r.state))).toBe(
      JSON.stringify(snapshotState(reduce(b.spaceId!, b.events))),
    )
  })

  it('a late invite that changes nobody’s past standing replays authority alone, not the messages', () => {
    const [alice, bob, carol, dave] = actors
    const b = new SpaceBuilder()
    b.genesis(alice!, 'INVITES_ONLY')
    b.make(alice!, 'invite', { invitee: bob!.did })
    b.make(bob!, 'join', {})
    const old = b.currentHeads()
    b.make(alice!, 'invite', { invitee: carol!.did })
    b.make(carol!, 'join', {})
    for (let i = 0; i < 30; i++) b.make(i % 2 ? bob! : carol!, 'message', { text: `m${i}` })
    // Bob, back online, sends the invite he wrote long ago: it sorts before all of that.
    const late = b.make(bob!, 'invite', { invitee: dave!.did }, { parents: old })
    const r = new SpaceReducer(b.spaceId!)
    r.addAll(b.events.filter((e) => e !== late))
    void r.state
    const before = r.recomputes
    r.add(late)
    expect(r.state.members.get(dave!.did)?.status).toBe('invited')
    expect(r.recomputes).toBe(before)
    expect(r.authorityReplays).toBe(1)
    expect(JSON.stringify(snapshotState(r.state))).toBe(
      JSON.stringify(snapshotState(reduce(b.spaceId!, b.events))),
    )
  })

  it('content naming an authority event keeps its reason when that event’s validity changes', () => {
    const [alice, bob, carol] = actors
    const b = new SpaceBuilder()
    b.genesis(alice!, 'INVITES_ONLY')
    b.make(alice!, 'invite', { invitee: bob!.did })
    b.make(bob!, 'join', {})
    const old = b.currentHeads()
    const join = b.make(carol!, 'join', {}, { parents: old }) // not invited yet, as far as anyone knows
    const edit = b.make(bob!, 'edit', { target: join.id, text: 'x' })
    const invite = b.make(alice!, 'invite', { invitee: carol!.did }, { parents: [b.spaceId!] })
    const r = new SpaceReducer(b.spaceId!)
    r.addAll(b.events.filter((e) => e !== invite))
    expect(r.state.invalid.get(join.id)?.reason).toBe('not-invited')
    r.add(invite) // sorts first: carol's join becomes valid
    expect(r.state.invalid.has(join.id)).toBe(false)
    expect(r.state.invalid.get(edit.id)?.reason).toBe('wrong-target-kind')
    expect(JSON.stringify(snapshotState(r.state))).toBe(
      JSON.stringify(snapshotState(reduce(b.spaceId!, b.events))),
    )
  })

  it('a late authority event, or a ban that retracts events, is recomputed to the replay state', () => {
    const [alice, bob] = actors
    const b = new SpaceBuilder()
    b.genesis(alice!, 'INVITES_ONLY')
    b.make(alice!, 'invite', { invitee: bob!.did })
    b.make(bob!, 'join', {})
    const split = b.currentHeads()
    const hidden = b.make(bob!, 'message', { text: 'concurrent' }, { parents: split })
    const x = b.make(alice!, 'message', { text: 'x' }, { parents: split })
    const y = b.make(alice!, 'message', { text: 'y' }, { parents: [x.id] })
    const ban = b.make(alice!, 'proposal', { action: 'ban', target: bob!.did }, { parents: [y.id] })
    const r = new SpaceReducer(b.spaceId!)
    r.addAll(b.events.filter((e) => e !== ban))
    expect(r.state.messages.has(hidden.id)).toBe(true)
    r.add(ban)
    expect(r.state.messages.has(hidden.id)).toBe(false)
    expect(r.state.invalid.get(hidden.id)?.reason).toBe('filtered-by-ban')
  })

  it('an event naming a target that arrives later gets the reason a replay gives', () => {
    const [alice, bob, carol] = actors
    const b = new SpaceBuilder()
    b.genesis(alice!, 'PUBLIC')
    const join = b.make(bob!, 'join', {})
    const stranger = b.make(carol!, 'message', { text: 'not a member' })
    const notAMessage = b.make(
      alice!,
      'edit',
      { target: join.id, text: 'x' },
      { parents: [b.spaceId!] },
    )
    const ofInvalid = b.make(
      alice!,
      'reaction.add',
      { target: stranger.id, emoji: '👍' },
      { parents: [b.spaceId!] },
    )
    void notAMessage
    void ofInvalid
    for (const first of [
      [join, stranger],
      [stranger, join],
    ] as SpaceEvent[][]) {
      const r = new SpaceReducer(b.spaceId!)
      r.addAll(b.events.filter((e) => !first.includes(e)))
      void r.state
      for (const e of first) r.add(e)
      expect(JSON.stringify(snapshotState(r.state))).toBe(
        JSON.stringify(snapshotState(reduce(b.spaceId!, b.events))),
      )
    }
  })

  it('keeps the pending set bounded', () => {
    const [alice] = actors
    const b = new SpaceBuilder()
    b.genesis(alice!, 'PUBLIC')
    const orphans = Array.from({ length: 50 }, (_, i) =>
      b.make(
        alice!,
        'message',
        { text: `o${i}` },
        { parents: [('a'.repeat(51) + 'abcdefghijklmnopqrstuvwxyz234567'[i % 32]) as never] },
      ),
    )
    const r = new SpaceReducer(b.spaceId!, { maxPending: 10 })
    r.addAll([b.events[0]!, ...orphans])
    expect(r.state.pending.size).toBe(10)
    expect(r.evicted).toBe(40)
  })
})
