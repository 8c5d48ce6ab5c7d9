// Realistic spaces for the component harness, built with SpaceBuilder and the real reducer.

import type { EventId, MessageView } from '@hearth/sync'
import { createActors } from '@hearth/sync/testing'
import type { TestActor } from '@hearth/sync/testing'
import { XSS_CORPUS } from '../lib/render/xss-corpus.ts'
import { LocalBackend } from '../lib/testing/local-backend.ts'
import { LocalSpace } from '../lib/testing/local-space.ts'

export interface Scenario {
  backend: LocalBackend
  /** The people of the scenario, for tests that write as them. */
  actors?: Record<string, TestActor>
  /** Named ids for the tests (spaces, channels, messages). */
  ids: Record<string, string>
}

const NAMES = [
  'alice',
  'bob',
  'carol',
  'dave',
  'erin',
  'frank',
  'grace',
  'heidi',
  'ivan',
  'judy',
  'mallory',
  'niaj',
  'olivia',
  'peggy',
  'rupert',
  'sybil',
] as const

function actors(): TestActor[] {
  return createActors(NAMES, 2)
}

/** A payload cut to fit a name field (`max` UTF-16 units, whole code points). */
function name(text: string, max = 100): string {
  let cut = ''
  for (const ch of text) {
    if (cut.length + ch.length > max) break
    cut += ch
  }
  return cut.trim() ? cut : 'x'
}

function addMembers(space: LocalSpace, admin: TestActor, members: TestActor[]): void {
  for (const m of members) {
    space.as(admin, 'invite', { invitee: m.did })
    space.as(m, 'join', {})
  }
}

/** A lived-in space: roles, channels, a thread, replies, edits, a deletion, reactions, a new device. */
export function basicScenario(): Scenario {
  const [alice, bob, carol, dave, erin] = actors() as [
    TestActor,
    TestActor,
    TestActor,
    TestActor,
    TestActor,
  ]
  const backend = new LocalBackend(alice)
  const s = new LocalSpace(alice, 'INVITES_ONLY', 'Hearth')
  addMembers(s, alice, [bob, carol])
  s.as(alice, 'invite', { invitee: dave.did })
  s.as(alice, 'proposal', { action: 'role', target: bob.did, role: 'moderator' })
  s.as(bob, 'member.profile', { displayName: 'Bob' })
  s.as(carol, 'member.profile', { displayName: 'Carol' })
  const general = s.as(alice, 'channel.create', { name: 'general' })
  const random = s.as(alice, 'channel.create', { name: 'random' })
  const hello = s.as(alice, 'message', { text: 'Hello **world** :wave:', channel: general })
  const reply = s.as(bob, 'message', {
    text: 'Hi! See [the docs](https://example.com/docs)',
    channel: general,
    replyTo: hello,
  })
  const typo = s.as(carol, 'message', { text: 'helo', channel: general })
  s.as(carol, 'edit', { target: typo, text: 'hello (fixed)' })
  const gone = s.as(bob, 'message', { text: 'oops, wrong channel', channel: general })
  s.as(bob, 'redaction', { target: gone })
  s.as(bob, 'reaction.add', { target: hello, emoji: '👍' })
  s.as(carol, 'reaction.add', { target: hello, emoji: '👍' })
  s.as(carol, 'reaction.add', { target: hello, emoji: '🎉' })
  s.as(bob, 'device.add', { key: bob.devices[1]! })
  const phone = s.builder.make(
    bob,
    'message',
    { text: 'from my phone', channel: general },
    { device: 1 },
  )
  s.reducer.add(phone)
  const mine = s.as(alice, 'message', { text: 'my last message', channel: general })
  s.setDelivery(mine, 'saved')
  const thread = s.as(carol, 'thread.create', { channel: general, title: 'plans', root: hello })
  s.as(carol, 'message', { text: 'in the thread', thread })
  s.as(bob, 'message', { text: 'random chatter', channel: random })
  // Not a member: stored, ignored by the reducer, listed for admins.
  s.as(erin, 'message', { text: 'let me in', channel: general })
  backend.add(s, 'Hearth')

  const club = new LocalSpace(bob, 'PUBLIC', 'Book club')
  const books = club.as(bob, 'channel.create', { name: 'books' })
  club.as(bob, 'message', { text: 'Welcome, readers', channel: books })
  backend.add(club, 'Book club')
  return {
    backend,
    actors: { alice, bob, carol },
    ids: {
      space: s.spaceId,
      general,
      random,
      thread,
      hello,
      reply,
      typo,
      mine,
      phone: phone.id,
      club: club.spaceId,
      books,
    },
  }
}

/** The S14-S16 corpus everywhere a user can put text: messages, names, channels, spaces. */
export function corpusScenario(): Scenario {
  const all = actors()
  const [alice, ...others] = all as [TestActor, ...TestActor[]]
  const backend = new LocalBackend(alice)
  const s = new LocalSpace(alice, 'INVITES_ONLY', name(XSS_CORPUS[0]!.text))
  addMembers(s, alice, others)
  const namePayloads = XSS_CORPUS.filter((p) => p.category === 'bidi' || p.category === 'html')
  others.forEach((actor, i) => {
    s.as(actor, 'member.profile', {
      displayName: name(namePayloads[i % namePayloads.length]!.text),
    })
  })
  const general = s.as(alice, 'channel.create', { name: 'general' })
  const ids: Record<string, string> = { space: s.spaceId, general }
  s.bulk((as) => {
    XSS_CORPUS.forEach((p, i) => {
      const author = all[i % all.length]!
      const id = as(author, 'message', { text: p.text, channel: general })
      ids[`message:${p.id}`] = id
      if (i % 7 === 0)
        as(all[(i + 1) % all.length]!, 'reaction.add', { target: id, emoji: name(p.text, 64) })
      if (i % 11 === 0) as(author, 'message', { text: 'a reply', channel: general, replyTo: id })
    })
    for (const p of XSS_CORPUS) as(alice, 'channel.create', { name: name(p.text) })
  })
  const thread = s.as(alice, 'thread.create', {
    channel: general,
    title: name(XSS_CORPUS[7]!.text),
  })
  s.as(alice, 'message', { text: XSS_CORPUS[8]!.text, thread })
  ids.thread = thread
  backend.add(s, name(XSS_CORPUS[1]!.text))
  for (const p of XSS_CORPUS.slice(2, 12))
    backend.add(new LocalSpace(alice, 'PUBLIC', name(p.text)), name(p.text))
  return { backend, ids }
}

/** A channel of `count` messages (synthetic views: what is under test is the windowing). */
export function bigScenario(count = 100_000): Scenario {
  const [alice, bob] = actors() as [TestActor, TestActor]
  const backend = new LocalBackend(alice)
  const s = new BigChannelSpace(alice, count)
  addMembers(s, alice, [bob])
  s.fill(bob)
  backend.add(s, 'Firehose')
  return {
    backend,
    actors: { alice, bob },
    ids: {
      space: s.spaceId,
      firehose: s.firehose!,
      first: s.messageId(0),
      last: s.messageId(count - 1),
    },
  }
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'

class BigChannelSpace extends LocalSpace {
  readonly count: number
  firehose: EventId | null = null
  #messages: MessageView[] = []

  constructor(creator: TestActor, count: number) {
    super(creator, 'INVITES_ONLY', 'Firehose')
    this.count = count
  }

  messageId(i: number): EventId {
    let n = i
    let tail = ''
    for (let k = 0; k < 8; k++) {
      tail = ALPHABET[n % 32]! + tail
      n = Math.floor(n / 32)
    }
    return ('m'.repeat(44) + tail) as EventId
  }

  fill(other: TestActor): void {
    this.firehose = this.as(this.me, 'channel.create', { name: 'firehose' })
    const people = [this.me, other]
    const base = 1_700_000_000_000
    this.#messages = Array.from({ length: this.count }, (_, i) => {
      const author = people[i % 2]!
      return {
        id: this.messageId(i),
        author: author.did,
        key: author.devices[0]!,
        keyChanged: false,
        channel: this.firehose,
        thread: null,
        replyTo: null,
        text: i % 10 === 0 ? `message ${i}\n\nwith a **second** paragraph` : `message ${i}`,
        edited: false,
        redacted: false,
        movedTo: null,
        movedBy: null,
        reactions: new Map(),
        ts: base + i * 1000,
      }
    })
  }

  override timeline(containerId: EventId): readonly MessageView[] {
    return containerId === this.firehose ? this.#messages : super.timeline(containerId)
  }
}
