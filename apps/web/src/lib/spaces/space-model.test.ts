import { describe, expect, it } from 'vitest'
import { createActors } from '@hearth/sync/testing'
import type { EventId } from '@hearth/sync'
import { LocalSpace } from '../testing/local-space.ts'
import {
  channelTree,
  displayName,
  lastOwnMessage,
  memberGroups,
  messageBadge,
  navigableContainers,
  openProposals,
  reactionChips,
  unreadCount,
} from './space-model.ts'

const [alice, bob, carol, dave] = createActors(['alice', 'bob', 'carol', 'dave'])
if (!alice || !bob || !carol || !dave) throw new Error('actors')

function busySpace() {
  const s = new LocalSpace(alice!, 'INVITES_ONLY', 'Hearth')
  for (const who of [bob!, carol!]) {
    s.as(alice!, 'invite', { invitee: who.did })
    s.as(who, 'join', {})
  }
  s.as(alice!, 'invite', { invitee: dave!.did })
  const general = s.as(alice!, 'channel.create', { name: 'general' })
  const random = s.as(alice!, 'channel.create', { name: 'Random' })
  const old = s.as(alice!, 'channel.create', { name: 'archive-me' })
  s.as(alice!, 'channel.archive', { channel: old, archived: true })
  const thread = s.as(bob!, 'thread.create', { channel: general, title: 'plans' })
  return { s, general, random, old, thread }
}

describe('space model', () => {
  it('builds the channel tree: open channels by name with their threads, archived apart', () => {
    const { s, general, random, old, thread } = busySpace()
    const tree = channelTree(s.state)
    expect(tree.open.map((n) => n.channel.id)).toEqual([general, random])
    expect(tree.open[0]!.threads.map((t) => t.id)).toEqual([thread])
    expect(tree.archived.map((n) => n.channel.id)).toEqual([old])
    expect(navigableContainers(s.state)).toEqual([general, thread, random])
  })

  it('groups members by role, admins first, the invited last', () => {
    const { s } = busySpace()
    s.as(bob!, 'member.profile', { displayName: 'Bob \u202Eevil' })
    const groups = memberGroups(s.state)
    expect(groups.map((g) => [g.role, g.members.map((m) => m.did)])).toEqual([
      ['admin', [alice!.did]],
      [
        'member',
        [bob!.did, carol!.did].sort((a, b) =>
          displayName(s.state, a) < displayName(s.state, b) ? -1 : 1,
        ),
      ],
      ['invited', [dave!.did]],
    ])
    expect(displayName(s.state, bob!.did)).toBe('Bob evil')
    expect(displayName(s.state, carol!.did)).toMatch(/^did:plc:carolx…/)
  })

  it('badges: verified, key changed (a second device), invalid (a revoked key)', () => {
    const { s, general } = busySpace()
    const first = s.as(bob!, 'message', { text: 'hi', channel: general })
    const second = s.builder.make(bob!, 'device.add', { key: bob!.devices[1]! }, { device: 0 })
    s.reducer.add(second)
    const fromNew = s.builder.make(
      bob!,
      'message',
      { text: 'new phone', channel: general },
      { device: 1 },
    )
    s.reducer.add(fromNew)
    const m1 = s.state.messages.get(first)!
    const m2 = s.state.messages.get(fromNew.id)!
    expect(messageBadge(s.state, m1)).toBe('verified')
    expect(messageBadge(s.state, m2)).toBe('key-changed')
    s.reducer.add(s.builder.make(bob!, 'device.revoke', { key: bob!.devices[1]! }))
    const after = s.state.messages.get(fromNew.id)
    if (after) expect(messageBadge(s.state, after)).toBe('invalid')
  })

  it('finds the last own message to edit, counts unread and reactions', () => {
    const { s, general } = busySpace()
    const ids: EventId[] = []
    ids.push(s.as(alice!, 'message', { text: 'one', channel: general }))
    ids.push(s.as(bob!, 'message', { text: 'two', channel: general }))
    ids.push(s.as(alice!, 'message', { text: 'three', channel: general }))
    ids.push(s.as(bob!, 'message', { text: 'four', channel: general }))
    s.as(alice!, 'redaction', { target: ids[2]! })
    const timeline = s.timeline(general)
    expect(lastOwnMessage(timeline, alice!.did)?.id).toBe(ids[0])
    expect(unreadCount(timeline, null, alice!.did)).toBe(2)
    expect(unreadCount(timeline, ids[1]!, alice!.did)).toBe(1)
    expect(unreadCount(timeline, ids[3]!, alice!.did)).toBe(0)
    s.as(bob!, 'reaction.add', { target: ids[0]!, emoji: '👍' })
    s.as(carol!, 'reaction.add', { target: ids[0]!, emoji: '👍' })
    s.as(alice!, 'reaction.add', { target: ids[0]!, emoji: '__proto__' })
    const chips = reactionChips(s.state.messages.get(ids[0]!)!, alice!.did)
    expect(chips).toEqual([
      { emoji: '👍', count: 2, mine: false },
      { emoji: '__proto__', count: 1, mine: true },
    ])
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('shows open proposals with the votes a strict majority needs', () => {
    const { s } = busySpace()
    s.as(alice!, 'proposal', { action: 'role', target: bob!.did, role: 'admin' })
    // alice alone is the electorate: her proposal passes at once.
    expect(openProposals(s.state, alice!.did)).toEqual([])
    s.as(alice!, 'proposal', { action: 'ban', target: carol!.did })
    const open = openProposals(s.state, bob!.did)
    expect(open).toHaveLength(1)
    expect(open[0]).toMatchObject({ votes: 1, electorate: 2, needed: 2, mayVote: true })
  })
})
