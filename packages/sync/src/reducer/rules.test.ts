// One test per space rule of ../../../../docs (acceptance/rules.md R1-R24, R31). Each injects the
// offending event directly (built by SpaceBuilder, not by an honest client) and asserts the
// outcome every honest replica reaches: not applied, listed with its reason.
import { beforeAll, describe, expect, it } from 'vitest'
import { asDid, generateDeviceKey } from '@hearth/identity'
import {
  computeEventId,
  encodeSignedEvent,
  openSignedEvent,
  signEvent,
  unsignedFields,
  EventParseError,
} from '../index.ts'
import type { EventId, SpaceEvent, SpaceMode, SpaceState } from '../index.ts'
import { createActors, SpaceBuilder, type TestActor } from '../harness/space-builder.ts'
import { Prng } from '../harness/prng.ts'
import { reduce, SpaceReducer } from './space-reducer.ts'
import { compareOrd } from './types.ts'
import { snapshotState } from './snapshot.ts'

let alice: TestActor, bob: TestActor, carol: TestActor, dave: TestActor, erin: TestActor

beforeAll(() => {
  ;[alice, bob, carol, dave, erin] = createActors(['alice', 'bob', 'carol', 'dave', 'erin']) as [
    TestActor,
    TestActor,
    TestActor,
    TestActor,
    TestActor,
  ]
})

function space(mode: SpaceMode = 'INVITES_ONLY'): SpaceBuilder {
  const b = new SpaceBuilder()
  b.genesis(alice, mode)
  return b
}

function addMember(b: SpaceBuilder, who: TestActor, inviter: TestActor = alice): void {
  b.make(inviter, 'invite', { invitee: who.did })
  b.make(who, 'join', {})
}

/** Promotes `who` to `role` with alice's proposal and, if needed, votes of `voters`. */
function promote(
  b: SpaceBuilder,
  who: TestActor,
  role: 'admin' | 'moderator',
  voters: TestActor[] = [],
): void {
  const p = b.make(alice, 'proposal', { action: 'role', target: who.did, role })
  for (const v of voters) b.make(v, 'vote', { proposal: p.id })
}

function state(b: SpaceBuilder): SpaceState {
  return reduce(b.spaceId!, b.events)
}

function reason(s: SpaceState, e: SpaceEvent): string | undefined {
  return s.invalid.get(e.id)?.reason
}

function statusOf(s: SpaceState, who: TestActor): string | undefined {
  return s.members.get(who.did)?.status
}

/** Replays `events` in `count` random arrival orders through the incremental reducer. */
function sameInEveryOrder(spaceId: EventId, events: SpaceEvent[], count = 25, seed = 1) {
  const reference = JSON.stringify(snapshotState(reduce(spaceId, events)))
  const prng = new Prng(seed)
  for (let i = 0; i < count; i++) {
    const r = new SpaceReducer(spaceId)
    for (const e of prng.shuffle(events)) {
      r.add(e)
      if (prng.chance(0.3)) void r.state
    }
    expect(JSON.stringify(snapshotState(r.state))).toBe(reference)
  }
}

describe('space rules', () => {
  it('R1 genesis: the space id is its hash; a bad mode or a second genesis is rejected', async () => {
    const b = space('PUBLIC')
    const g = b.events[0]!
    expect(b.spaceId).toBe(computeEventId(unsignedFields(g)))
    const second = b.genesis(bob, 'ADMIN_INVITES_ONLY')
    const s = state(b)
    expect(s.mode).toBe('PUBLIC')
    expect(s.creator).toBe(alice.did)
    expect(reason(s, second)).toBe('second-genesis')
    const { key } = await generateDeviceKey()
    await expect(
      signEvent(key, {
        space: null,
        kind: 'genesis',
        author: alice.did,
        parents: [],
        body: { mode: 'ANARCHY' as SpaceMode, name: 'x', nonce: 'abcdefgh' },
      }),
    ).rejects.toBeInstanceOf(EventParseError)
  })

  it('R2 the mode never changes: a mode field anywhere but genesis is not an event', async () => {
    const { key } = await generateDeviceKey()
    const g = await signEvent(key, {
      space: null,
      kind: 'genesis',
      author: alice.did,
      parents: [],
      body: { mode: 'ADMIN_INVITES_ONLY', name: 'x', nonce: 'abcdefgh' },
    })
    const smuggled = {
      e: {
        ...unsignedFields(g),
        space: g.id,
        kind: 'space.profile',
        parents: [g.id],
        body: { mode: 'PUBLIC' },
      },
      s: g.sig,
    }
    const opened = await openSignedEvent(smuggled)
    expect(!opened.ok && opened.error.reason).toBe('schema')
    // A second genesis with another mode is refused and the mode stays (R1).
    const b = space('ADMIN_INVITES_ONLY')
    b.genesis(alice, 'PUBLIC')
    expect(state(b).mode).toBe('ADMIN_INVITES_ONLY')
  })

  it('R3 ONE_TO_ONE holds two members at most; inviting a third is rejected', () => {
    const b = space('ONE_TO_ONE')
    expect(state(b).members.size).toBe(1) // a note to self
    addMember(b, bob)
    const third = b.make(alice, 'invite', { invitee: carol.did })
    const s = state(b)
    expect(reason(s, third)).toBe('one-to-one-full')
    expect(s.members.has(carol.did)).toBe(false)
  })

  it('R4 who may invite: admins only, any member, or nobody needed (PUBLIC)', () => {
    const adminOnly = space('ADMIN_INVITES_ONLY')
    addMember(adminOnly, bob)
    const byMember = adminOnly.make(bob, 'invite', { invitee: carol.did })
    expect(reason(state(adminOnly), byMember)).toBe('not-admin')
    expect(statusOf(state(adminOnly), carol)).toBeUndefined()

    const invitesOnly = space('INVITES_ONLY')
    addMember(invitesOnly, bob)
    addMember(invitesOnly, carol, bob)
    expect(statusOf(state(invitesOnly), carol)).toBe('member')

    const open = space('PUBLIC')
    open.make(carol, 'join', {})
    expect(statusOf(state(open), carol)).toBe('member')
  })

  it('R5 invited -> member only by the invitee’s own join; no invite or someone else’s key is rejected', () => {
    const b = space('INVITES_ONLY')
    const uninvited = b.make(carol, 'join', {})
    expect(reason(state(b), uninvited)).toBe('not-invited')
    b.make(alice, 'invite', { invitee: bob.did, keys: [bob.devices[0]!] })
    expect(statusOf(state(b), bob)).toBe('invited')
    // Carol answers bob's invite with her own key.
    const forged = b.make(carol, 'join', {}, { author: bob.did })
    let s = state(b)
    expect(reason(s, forged)).toBe('key-not-bound')
    expect(statusOf(s, bob)).toBe('invited')
    b.make(bob, 'join', {})
    s = state(b)
    expect(statusOf(s, bob)).toBe('member')
    expect(s.members.get(bob.did)!.keys).toEqual([bob.devices[0]])
    // A key already bound to one member cannot join as another.
    b.make(alice, 'invite', { invitee: dave.did })
    const stolen = b.make(bob, 'join', {}, { author: dave.did })
    expect(reason(state(b), stolen)).toBe('key-bound-elsewhere')
  })

  it('R6 an invite and a join made while the other side is offline complete on reconnect', () => {
    const b = space('INVITES_ONLY')
    const invite = b.make(alice, 'invite', { invitee: bob.did })
    const join = b.make(bob, 'join', {})
    const r = new SpaceReducer(b.spaceId!)
    r.add(b.events[0]!, join) // bob's join reaches a replica before the invite it answers
    expect(r.state.pending.get(join.id)).toBe('missing-parents')
    expect(r.state.members.has(bob.did)).toBe(false)
    r.add(invite)
    expect(r.state.pending.size).toBe(0)
    expect(r.state.members.get(bob.did)?.status).toBe('member')
  })

  it('R7 inviting a malformed DID or a handle is refused with a clear error and changes nothing', async () => {
    const { key } = await generateDeviceKey()
    const g = await signEvent(key, {
      space: null,
      kind: 'genesis',
      author: alice.did,
      parents: [],
      body: { mode: 'PUBLIC', name: 'x', nonce: 'abcdefgh' },
    })
    for (const invitee of ['bob.test', 'did:plc:', 'did:web:x#frag', 'DID:PLC:abc']) {
      await expect(
        signEvent(key, {
          space: g.id,
          kind: 'invite',
          author: alice.did,
          parents: [g.id],
          body: { invitee: asDidUnchecked(invitee) },
        }),
      ).rejects.toThrow(/expected a DID/)
    }
    expect(() => asDid('bob.test')).toThrow(/invalid DID/)
  })

  it('R8 leaving is always valid; a member who left can no longer post', () => {
    const b = space()
    addMember(b, bob)
    b.make(bob, 'leave', {})
    const after = b.make(bob, 'message', { text: 'still here?' })
    const s = state(b)
    expect(statusOf(s, bob)).toBe('left')
    expect(reason(s, after)).toBe('not-member')
  })

  it('R9 events by a non-member, or by a key not bound to the author, are rejected', () => {
    const b = space()
    addMember(b, bob)
    const stranger = b.make(carol, 'message', { text: 'hi' })
    const unboundDevice = b.make(
      bob,
      'message',
      { text: 'from a device nobody bound' },
      { device: 1 },
    )
    const impersonation = b.make(carol, 'message', { text: 'I am alice' }, { author: alice.did })
    const s = state(b)
    expect(reason(s, stranger)).toBe('not-member')
    expect(reason(s, unboundDevice)).toBe('key-not-bound')
    expect(reason(s, impersonation)).toBe('key-not-bound')
    expect(s.messages.size).toBe(0)
  })

  it('R10 a second device bound by the member writes; after revocation its events are rejected', () => {
    const b = space()
    addMember(b, bob)
    const forgedBinding = b.make(
      carol,
      'device.add',
      { key: carol.devices[1]! },
      { author: bob.did },
    )
    b.make(bob, 'device.add', { key: bob.devices[1]!, name: 'bob2' })
    const fromBob2 = b.make(bob, 'message', { text: 'from my phone' }, { device: 1 })
    const beforeRevoke = b.currentHeads()
    b.make(alice, 'message', { text: 'padding' })
    b.make(alice, 'message', { text: 'more padding' })
    b.make(bob, 'device.revoke', { key: bob.devices[1]! })
    const after = b.make(bob, 'message', { text: 'stolen phone' }, { device: 1 })
    const concurrent = b.make(
      bob,
      'message',
      { text: 'sent while the revocation was on its way' },
      { device: 1, parents: beforeRevoke },
    )
    const s = state(b)
    expect(reason(s, forgedBinding)).toBe('key-not-bound')
    expect(s.messages.get(fromBob2.id)?.text).toBe('from my phone')
    expect(reason(s, after)).toBe('key-revoked')
    expect(reason(s, concurrent)).toBe('filtered-by-revocation')
    expect(s.members.get(bob.did)!.revokedKeys).toEqual([bob.devices[1]])
    sameInEveryOrder(b.spaceId!, b.events)
  })

  it('R11 a ban needs a strict majority of the admins in the proposal’s past, not counting the target', () => {
    const b = space()
    addMember(b, bob)
    addMember(b, carol)
    promote(b, carol, 'admin') // alice is the lone admin: her proposal suffices (R31)
    const ban = b.make(alice, 'proposal', { action: 'ban', target: bob.did })
    let s = state(b)
    expect(s.proposals.get(ban.id)!.electorate).toEqual(new Set([alice.did, carol.did]))
    expect(statusOf(s, bob)).toBe('member') // 1 of 2 is not a strict majority
    b.make(carol, 'vote', { proposal: ban.id })
    s = state(b)
    expect(statusOf(s, bob)).toBe('banned')
    expect(s.proposals.get(ban.id)!.status).toBe('passed')
    // With one other admin, that admin's vote suffices: banning carol needs only alice.
    b.make(alice, 'proposal', { action: 'ban', target: carol.did })
    expect(statusOf(state(b), carol)).toBe('banned')
  })

  it('R12 after the ban, the banned member’s new events are rejected', () => {
    const b = space()
    addMember(b, bob)
    b.make(alice, 'proposal', { action: 'ban', target: bob.did })
    const after = b.make(bob, 'message', { text: 'let me back' })
    const rejoin = b.make(bob, 'join', {})
    const s = state(b)
    expect(reason(s, after)).toBe('banned')
    expect(reason(s, rejoin)).toBe('banned')
  })

  it('R13 a non-admin proposing or voting a ban or unban is rejected; the target is unchanged', () => {
    const b = space()
    addMember(b, bob)
    addMember(b, carol)
    addMember(b, dave)
    promote(b, dave, 'admin')
    const byMember = b.make(bob, 'proposal', { action: 'ban', target: carol.did })
    const open = b.make(alice, 'proposal', { action: 'ban', target: carol.did })
    const memberVote = b.make(bob, 'vote', { proposal: open.id })
    const s = state(b)
    expect(reason(s, byMember)).toBe('not-admin')
    expect(reason(s, memberVote)).toBe('not-admin')
    expect(statusOf(s, carol)).toBe('member')
    expect(s.proposals.get(open.id)!.votes).toEqual(new Set([alice.did]))
  })

  it('R14 no fake votes: duplicates do not count, the target cannot vote, nobody bans themselves', () => {
    const b = space()
    for (const m of [bob, carol, dave]) addMember(b, m)
    promote(b, carol, 'admin')
    promote(b, dave, 'admin', [carol])
    const ban = b.make(alice, 'proposal', { action: 'ban', target: bob.did })
    const again = b.make(alice, 'vote', { proposal: ban.id })
    const forged = b.make(alice, 'vote', { proposal: ban.id }, { author: carol.did })
    let s = state(b)
    expect(reason(s, again)).toBe('duplicate-vote')
    expect(reason(s, forged)).toBe('key-not-bound')
    expect(statusOf(s, bob)).toBe('member')
    const banCarol = b.make(alice, 'proposal', { action: 'ban', target: carol.did })
    const targetVotes = b.make(carol, 'vote', { proposal: banCarol.id })
    const self = b.make(alice, 'proposal', { action: 'ban', target: alice.did })
    s = state(b)
    expect(reason(s, targetVotes)).toBe('target-cannot-vote')
    expect(reason(s, self)).toBe('self-target')
    expect(statusOf(s, carol)).toBe('member') // alice alone is 1 of {alice, dave}
    expect(statusOf(s, alice)).toBe('member')
  })

  it('R15 unban needs the same vote; an admin re-inviting a banned member starts an unban vote', () => {
    const b = space()
    for (const m of [bob, carol, dave]) addMember(b, m)
    promote(b, carol, 'admin')
    promote(b, dave, 'admin', [carol])
    const ban = b.make(alice, 'proposal', { action: 'ban', target: bob.did })
    b.make(carol, 'vote', { proposal: ban.id })
    expect(statusOf(state(b), bob)).toBe('banned')
    const reinvite = b.make(alice, 'invite', { invitee: bob.did })
    let s = state(b)
    expect(statusOf(s, bob)).toBe('banned') // one vote of three: the re-invite did not bypass the ban
    expect(s.proposals.get(reinvite.id)).toMatchObject({
      action: 'unban',
      reinvite: true,
      status: 'open',
    })
    const byMember = b.make(bob, 'join', {})
    expect(reason(state(b), byMember)).toBe('banned')
    b.make(dave, 'vote', { proposal: reinvite.id })
    s = state(b)
    expect(statusOf(s, bob)).toBe('invited')
    b.make(bob, 'join', {})
    expect(statusOf(state(b), bob)).toBe('member')
  })

  it('R16 strong remove: the banned member’s events concurrent with the ban are filtered, with the joins that hung on them', () => {
    const b = space('INVITES_ONLY')
    addMember(b, bob)
    const seen = b.make(bob, 'message', { text: 'before the ban' })
    const split = b.currentHeads()
    // Alice's side: some traffic, then the ban (deeper in the order than bob's side).
    for (let i = 0; i < 4; i++)
      b.make(alice, 'message', { text: `alice ${i}` }, { parents: i === 0 ? split : undefined })
    const aliceSide = b.currentHeads()
    // Bob's side, concurrently: a message, an invite of dave, dave's join and message.
    const hidden = b.make(bob, 'message', { text: 'while the ban was decided' }, { parents: split })
    const invite = b.make(bob, 'invite', { invitee: dave.did }, { parents: [hidden.id] })
    const join = b.make(dave, 'join', {}, { parents: [invite.id] })
    const daves = b.make(dave, 'message', { text: 'hello from dave' }, { parents: [join.id] })
    b.make(alice, 'proposal', { action: 'ban', target: bob.did }, { parents: aliceSide })
    const s = state(b)
    expect(statusOf(s, bob)).toBe('banned')
    expect(s.messages.get(seen.id)?.text).toBe('before the ban')
    expect(s.messages.has(hidden.id)).toBe(false)
    expect(reason(s, hidden)).toBe('filtered-by-ban')
    expect(reason(s, invite)).toBe('filtered-by-ban')
    expect(reason(s, join)).toBe('not-invited')
    expect(reason(s, daves)).toBe('not-member')
    expect(s.members.has(dave.did)).toBe(false)
    sameInEveryOrder(b.spaceId!, b.events, 40, 16)
  })

  it('R17 two admins banning each other concurrently: every replica keeps the same one, in any order', () => {
    for (let seed = 0; seed < 8; seed++) {
      const b = space()
      addMember(b, carol)
      promote(b, carol, 'admin')
      addMember(b, bob)
      const split = b.currentHeads()
      const prng = new Prng(seed)
      // Each side does some work in its partition, then bans the other.
      let a = split
      let c = split
      for (let i = prng.int(3); i > 0; i--)
        a = [b.make(alice, 'message', { text: `a${i}` }, { parents: a }).id]
      for (let i = prng.int(3); i > 0; i--)
        c = [b.make(carol, 'message', { text: `c${i}` }, { parents: c }).id]
      const byAlice = b.make(
        alice,
        'proposal',
        { action: 'ban', target: carol.did },
        { parents: a },
      )
      const byCarol = b.make(
        carol,
        'proposal',
        { action: 'ban', target: alice.did },
        { parents: c },
      )
      const s = state(b)
      const banned = [alice, carol].filter((x) => statusOf(s, x) === 'banned')
      expect(banned.length).toBe(1)
      // The rule (docs/space-rules.md): the ban first in the canonical order stands; the
      // loser's own ban is concurrent with it and falls to strong remove.
      const loser = compareEvents(b, byAlice, byCarol) < 0 ? carol : alice
      expect(banned[0]).toBe(loser)
      // The loser's ban comes later in the order, from someone banned by then.
      expect(reason(s, loser === carol ? byCarol : byAlice)).toBe('banned')
      // What the loser did in the partition, unseen by the winner, is filtered (strong remove).
      for (const id of loser === carol ? c : a)
        if (id !== split[0]) expect(s.messages.has(id)).toBe(false)
      sameInEveryOrder(b.spaceId!, b.events, 10, seed)
    }
  })

  it('R18 votes count once per admin DID, not per device; a vote before its proposal does not count', () => {
    const b = space()
    for (const m of [bob, carol, dave, erin]) addMember(b, m)
    promote(b, carol, 'admin')
    promote(b, dave, 'admin', [carol])
    promote(b, erin, 'admin', [carol]) // electorate for erin: alice, carol, dave -> 2 of 3
    b.make(carol, 'device.add', { key: carol.devices[1]! })
    const beforeBan = b.currentHeads()
    b.make(alice, 'message', { text: 'about bob…' })
    const ban = b.make(alice, 'proposal', { action: 'ban', target: bob.did })
    // Dave's vote names the proposal but cites only what came before it: it sorts first.
    const early = b.make(dave, 'vote', { proposal: ban.id }, { parents: beforeBan })
    b.make(carol, 'vote', { proposal: ban.id })
    const secondDevice = b.make(carol, 'vote', { proposal: ban.id }, { device: 1 })
    const s = state(b)
    expect(reason(s, secondDevice)).toBe('duplicate-vote')
    expect(reason(s, early)).toBe('vote-before-proposal')
    expect(s.proposals.get(ban.id)!.votes).toEqual(new Set([alice.did, carol.did]))
    expect(statusOf(s, bob)).toBe('member') // 2 of 4 admins is not a strict majority
  })

  it('R19 a verified message shows its signer; an altered body is rejected; a new device is flagged', async () => {
    const { key } = await generateDeviceKey()
    const g = await signEvent(key, {
      space: null,
      kind: 'genesis',
      author: alice.did,
      parents: [],
      body: { mode: 'PUBLIC', name: 'x', nonce: 'abcdefgh' },
    })
    const m = await signEvent(key, {
      space: g.id,
      kind: 'message',
      author: alice.did,
      parents: [g.id],
      body: { text: 'original' },
    })
    const tampered = { e: { ...unsignedFields(m), body: { text: 'tampered' } }, s: m.sig }
    const opened = await openSignedEvent(tampered)
    expect(!opened.ok && opened.error.reason).toBe('bad-signature')
    const good = await openSignedEvent(encodeSignedEvent(m))
    expect(good.ok).toBe(true)
    expect(reduce(g.id, [g, m]).messages.get(m.id)).toMatchObject({
      text: 'original',
      keyChanged: false,
      key: key.keyId,
    })

    const b = space()
    addMember(b, bob)
    b.make(bob, 'device.add', { key: bob.devices[1]! })
    const first = b.make(bob, 'message', { text: 'phone 1' })
    const second = b.make(bob, 'message', { text: 'phone 2' }, { device: 1 })
    const s = state(b)
    expect(s.messages.get(first.id)!.keyChanged).toBe(false)
    expect(s.messages.get(second.id)!.keyChanged).toBe(true)
  })

  it('R20 a reply to an unknown event waits for it; reactions add and remove; an edit keeps reactions', () => {
    const b = space()
    addMember(b, bob)
    const before = b.currentHeads()
    const parent = b.make(alice, 'message', { text: 'question' })
    // An honest reply cites what it answers: it waits for its missing parent.
    const reply = b.make(
      bob,
      'message',
      { text: 'answer', replyTo: parent.id },
      { parents: [parent.id] },
    )
    // A reply that names its target without citing it waits for the target itself.
    const aside = b.make(bob, 'message', { text: 'aside' }, { parents: before })
    const loose = b.make(
      bob,
      'message',
      { text: 'me too', replyTo: parent.id },
      { parents: [aside.id] },
    )
    const r = new SpaceReducer(b.spaceId!)
    r.addAll(b.events.filter((e) => e !== parent))
    expect(r.state.pending.get(reply.id)).toBe('missing-parents')
    expect(r.state.pending.get(loose.id)).toBe('missing-reply-target')
    expect(r.state.messages.has(reply.id)).toBe(false)
    r.add(parent)
    expect(r.state.messages.get(reply.id)?.replyTo).toBe(parent.id)
    expect(r.state.messages.get(loose.id)?.replyTo).toBe(parent.id)
    expect(r.state.pending.size).toBe(0)

    b.make(bob, 'reaction.add', { target: parent.id, emoji: '👍' })
    b.make(alice, 'reaction.add', { target: parent.id, emoji: '👍' })
    b.make(bob, 'reaction.add', { target: parent.id, emoji: '🎉' })
    b.make(bob, 'reaction.remove', { target: parent.id, emoji: '🎉' })
    b.make(alice, 'edit', { target: parent.id, text: 'better question' })
    const s = state(b)
    const msg = s.messages.get(parent.id)!
    expect(msg.text).toBe('better question')
    expect(msg.edited).toBe(true)
    expect([...msg.reactions.keys()]).toEqual(['👍'])
    expect(msg.reactions.get('👍')).toEqual(new Set([alice.did, bob.did]))
    sameInEveryOrder(b.spaceId!, b.events)
  })

  it('R21 only the author edits; an edit of an unknown id or of another’s message is rejected', () => {
    const b = space()
    addMember(b, bob)
    const m = b.make(alice, 'message', { text: 'mine' })
    const byOther = b.make(bob, 'edit', { target: m.id, text: 'yours now' })
    const unknown = b.make(alice, 'edit', { target: 'a'.repeat(52) as EventId, text: 'ghost' })
    const s = state(b)
    expect(reason(s, byOther)).toBe('not-author')
    expect(reason(s, unknown)).toBe('unknown-target')
    expect(s.messages.get(m.id)!.text).toBe('mine')
  })

  it('R22 redaction by the author or a moderator hides the body and drops reactions; by anyone else it is rejected', () => {
    const b = space()
    for (const m of [bob, carol]) addMember(b, m)
    promote(b, carol, 'moderator')
    const m1 = b.make(bob, 'message', { text: 'oops' })
    const m2 = b.make(alice, 'message', { text: 'rude' })
    const m3 = b.make(alice, 'message', { text: 'fine' })
    b.make(alice, 'reaction.add', { target: m1.id, emoji: '😬' })
    b.make(bob, 'redaction', { target: m1.id })
    b.make(carol, 'redaction', { target: m2.id })
    const byMember = b.make(bob, 'redaction', { target: m3.id })
    const s = state(b)
    expect(s.messages.get(m1.id)).toMatchObject({ redacted: true, text: null })
    expect(s.messages.get(m1.id)!.reactions.size).toBe(0)
    expect(s.messages.get(m2.id)).toMatchObject({ redacted: true, text: null })
    expect(reason(s, byMember)).toBe('not-permitted')
    expect(s.messages.get(m3.id)!.text).toBe('fine')
    sameInEveryOrder(b.spaceId!, b.events)
  })

  it('R23 only admins change the space profile; concurrent admin changes converge', () => {
    const b = space()
    for (const m of [bob, carol]) addMember(b, m)
    promote(b, carol, 'admin')
    const byMember = b.make(bob, 'space.profile', { name: 'Bob’s place' })
    const split = b.currentHeads()
    const x = b.make(
      alice,
      'space.profile',
      { name: 'Hearth', description: 'by alice' },
      { parents: split },
    )
    const y = b.make(carol, 'space.profile', { name: 'Fireside' }, { parents: split })
    const s = state(b)
    expect(reason(s, byMember)).toBe('not-admin')
    const later = compareEvents(b, x, y) > 0 ? x : y
    expect(s.profile.name).toBe(later.body.name)
    expect(s.profile.description).toBe('by alice')
    sameInEveryOrder(b.spaceId!, b.events)
  })

  it('R24 gardening: the author or a moderator moves messages; a plain member moving another’s is rejected', () => {
    const b = space()
    for (const m of [bob, carol]) addMember(b, m)
    promote(b, carol, 'moderator')
    const general = b.make(alice, 'channel.create', { name: 'general' })
    const m1 = b.make(bob, 'message', { text: 'off topic', channel: general.id })
    const m2 = b.make(alice, 'message', { text: 'also off topic', channel: general.id })
    const thread = b.make(bob, 'thread.create', {
      channel: general.id,
      title: 'tangent',
      root: m1.id,
    })
    b.make(bob, 'move', { messages: [m1.id], to: thread.id })
    const notHis = b.make(bob, 'move', { messages: [m2.id], to: thread.id })
    b.make(carol, 'move', { messages: [m2.id], to: thread.id })
    const s = state(b)
    expect(s.messages.get(m1.id)).toMatchObject({
      movedTo: thread.id,
      movedBy: bob.did,
      channel: general.id,
    })
    expect(s.messages.get(m2.id)).toMatchObject({ movedTo: thread.id, movedBy: carol.did })
    expect(reason(s, notHis)).toBe('not-permitted')
    sameInEveryOrder(b.spaceId!, b.events)
  })

  it('R25 (event level) replicas that diverged offline merge with every message once; three members in two partitions converge', () => {
    const b = space()
    addMember(b, bob)
    addMember(b, carol)
    const split = b.currentHeads()
    // Partition 1: alice and bob. Partition 2: carol alone. Each side keeps talking.
    let left = split
    let right = split
    const sent: SpaceEvent[] = []
    for (let i = 0; i < 10; i++) {
      const l = b.make(i % 2 ? alice : bob, 'message', { text: `left ${i}` }, { parents: left })
      const r = b.make(carol, 'message', { text: `right ${i}` }, { parents: right })
      left = [l.id]
      right = [r.id]
      sent.push(l, r)
    }
    const before = b.events.filter((e) => !sent.includes(e))
    const replicas = [alice, bob, carol].map(() => new SpaceReducer(b.spaceId!))
    for (const r of replicas) r.addAll(before)
    replicas[0]!.addAll(sent.filter((e) => e.author !== carol.did))
    replicas[1]!.addAll(sent.filter((e) => e.author !== carol.did))
    replicas[2]!.addAll(sent.filter((e) => e.author === carol.did))
    expect(replicas[0]!.state.messages.size).toBe(10)
    // Heal: everyone gets everything, some of it twice.
    const prng = new Prng(25)
    for (const r of replicas) r.addAll(prng.shuffle([...b.events, ...sent]))
    const snapshots = replicas.map((r) => JSON.stringify(snapshotState(r.state)))
    expect(new Set(snapshots).size).toBe(1)
    const texts = [...replicas[0]!.state.messages.values()].map((m) => m.text)
    expect(texts.length).toBe(20)
    expect(new Set(texts).size).toBe(20)
    expect(replicas[0]!.heads().length).toBe(2) // the two branches, until someone cites both
  })

  it('R31 promoting or demoting an admin needs the same strict majority; a lone admin suffices alone', () => {
    const b = space()
    for (const m of [bob, carol, dave]) addMember(b, m)
    promote(b, carol, 'admin') // lone admin: her own proposal is a majority of one
    expect(state(b).members.get(carol.did)!.role).toBe('admin')
    promote(b, dave, 'admin', [carol])
    const puppet = b.make(alice, 'proposal', { action: 'role', target: bob.did, role: 'admin' })
    expect(state(b).members.get(bob.did)!.role).toBe('member') // 1 of 3: no puppet admins
    b.make(carol, 'vote', { proposal: puppet.id })
    expect(state(b).members.get(bob.did)!.role).toBe('admin')
    const demote = b.make(carol, 'proposal', { action: 'role', target: alice.did, role: 'member' })
    let s = state(b)
    expect(s.proposals.get(demote.id)!.electorate).toEqual(new Set([bob.did, carol.did, dave.did]))
    expect(s.members.get(alice.did)!.role).toBe('admin')
    const aliceVotes = b.make(alice, 'vote', { proposal: demote.id })
    b.make(dave, 'vote', { proposal: demote.id })
    s = state(b)
    expect(reason(s, aliceVotes)).toBe('target-cannot-vote')
    expect(s.members.get(alice.did)!.role).toBe('member')
    const byMember = b.make(alice, 'proposal', {
      action: 'role',
      target: carol.did,
      role: 'member',
    })
    expect(reason(state(b), byMember)).toBe('not-admin')
  })
})

/** Canonical order of two events of the builder's space (causal depth, then id). */
function compareEvents(b: SpaceBuilder, x: SpaceEvent, y: SpaceEvent): number {
  const r = new SpaceReducer(b.spaceId!)
  r.addAll(b.events)
  return compareOrd(r.ord(x.id)!, r.ord(y.id)!)
}
// Builds a Did without checking it, to smuggle a malformed one past the type system (R7).
function asDidUnchecked(value: string): ReturnType<typeof asDid> {
  return value as ReturnType<typeof asDid>
}
