import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { asDid, fromHex, generateDeviceKey, toHex } from '@hearth/identity'
import {
  encodeSignedEvent,
  encodeUnsignedEvent,
  EventParseError,
  parseSignedEvent,
  unsignedFields,
} from './codec.ts'
import { normaliseParents, openSignedEvent, signEvent, verifySpaceEvent } from './sign.ts'
import { MAX_PARENTS, type EventId, type SpaceId } from './schema.ts'
import { reduce } from '../reducer/space-reducer.ts'

const vectorFile = z.object({
  spaceId: z.string(),
  valid: z.array(
    z.object({
      name: z.string(),
      id: z.string(),
      unsignedHex: z.string(),
      signatureHex: z.string(),
      wireHex: z.string(),
    }),
  ),
  invalid: z.array(z.object({ name: z.string(), wireHex: z.string(), reason: z.string() })),
})
const vectors = vectorFile.parse(
  JSON.parse(readFileSync(new URL('../../test-vectors/events.json', import.meta.url), 'utf8')),
)

const alice = asDid('did:plc:ewvi7nxzyoun6zhxrhs64oiz')

describe('event test vectors', () => {
  for (const v of vectors.valid) {
    it(`valid: ${v.name}`, async () => {
      const opened = await openSignedEvent(fromHex(v.wireHex))
      expect(opened.ok).toBe(true)
      if (!opened.ok) return
      expect(opened.event.id).toBe(v.id)
      expect(toHex(encodeUnsignedEvent(opened.event))).toBe(v.unsignedHex)
      expect(toHex(opened.event.sig)).toBe(v.signatureHex)
      expect(toHex(encodeSignedEvent(opened.event))).toBe(v.wireHex)
    })
  }
  for (const v of vectors.invalid) {
    it(`invalid: ${v.name} -> ${v.reason}`, async () => {
      const opened = await openSignedEvent(fromHex(v.wireHex))
      expect(opened.ok).toBe(false)
      if (!opened.ok) expect(opened.error.reason).toBe(v.reason)
    })
  }
  it('the valid vectors reduce to the state they describe', async () => {
    const events = []
    for (const v of vectors.valid) {
      const opened = await openSignedEvent(fromHex(v.wireHex))
      if (opened.ok) events.push(opened.event)
    }
    const state = reduce(vectors.spaceId as SpaceId, events)
    expect(state.invalid.size).toBe(0)
    const bob = [...state.members.values()].find((m) => m.role === 'moderator')
    expect(bob?.keys.length).toBe(2)
    const [message] = [...state.messages.values()]
    expect(message).toMatchObject({ text: 'hello, hearth', edited: true, keyChanged: false })
    expect([...message!.reactions.keys()]).toEqual(['🔥'])
  })

  it('the genesis vector names the space', async () => {
    const opened = await openSignedEvent(fromHex(vectors.valid[0]!.wireHex))
    expect(opened.ok && opened.event.id).toBe(vectors.spaceId)
  })
})

describe('signed events', () => {
  it('sign, encode, parse and verify round-trip; the id commits to every field', async () => {
    const { key } = await generateDeviceKey()
    const g = await signEvent(key, {
      space: null,
      kind: 'genesis',
      author: alice,
      parents: [],
      body: { mode: 'PUBLIC', name: 'x', nonce: 'abcdefgh' },
    })
    expect(await verifySpaceEvent(g)).toBe(true)
    const opened = await openSignedEvent(encodeSignedEvent(g))
    expect(opened.ok && opened.event.id).toBe(g.id)
    const m = await signEvent(key, {
      space: g.id,
      kind: 'message',
      author: alice,
      parents: [g.id],
      body: { text: 'hi' },
      ts: 5,
    })
    const altered = { ...m, ts: 6 }
    // Same signature, other bytes: the recomputed id differs, so the signature no longer matches.
    const reopened = await openSignedEvent({ e: unsignedFields(altered), s: m.sig })
    expect(!reopened.ok && reopened.error.reason).toBe('bad-signature')
  })

  it('accepts an already-decoded value and checks the id the container names', async () => {
    const { key } = await generateDeviceKey()
    const g = await signEvent(key, {
      space: null,
      kind: 'genesis',
      author: alice,
      parents: [],
      body: { mode: 'PUBLIC', name: 'x', nonce: 'abcdefgh' },
    })
    const value = { e: unsignedFields(g), s: g.sig }
    expect(parseSignedEvent(value, g.id).ok).toBe(true)
    const wrong = parseSignedEvent(value, 'a'.repeat(52))
    expect(!wrong.ok && wrong.error.reason).toBe('id-mismatch')
  })

  it('refuses to sign a draft peers would refuse', async () => {
    const { key } = await generateDeviceKey()
    await expect(
      signEvent(key, {
        space: null,
        kind: 'genesis',
        author: alice,
        parents: [],
        body: { mode: 'OPEN' as 'PUBLIC', name: 'x', nonce: 'abcdefgh' },
      }),
    ).rejects.toBeInstanceOf(EventParseError)
  })

  it('parents are sorted, deduplicated and capped', () => {
    const ids = Array.from(
      { length: 40 },
      (_, i) =>
        String.fromCharCode(97 + (i % 26)).repeat(51) + 'abcdefghijklmnopqrstuvwxyz234567'[i % 32],
    ) as EventId[]
    const out = normaliseParents([...ids, ...ids])
    expect(out.length).toBe(MAX_PARENTS)
    expect([...out].sort()).toEqual(out)
    expect(new Set(out).size).toBe(out.length)
  })

  it('refuses shapes past their caps: parents, move batches, keywords, emoji, pinned keys', () => {
    const opened = parseSignedEvent(fromHex(vectors.valid[3]!.wireHex))
    if (!opened.ok) throw opened.error
    const m = unsignedFields(opened.event)
    const id = (i: number) =>
      ('a'.repeat(50) +
        'abcdefghijklmnopqrstuvwxyz234567'[i % 32] +
        'abcdefghijklmnopqrstuvwxyz234567'[Math.floor(i / 32)]) as EventId
    const ids = (n: number) => Array.from({ length: n }, (_, i) => id(i)).sort()
    const cases: Array<[string, object]> = [
      ['33 parents', { ...m, parents: ids(33) }],
      ['duplicate parents', { ...m, parents: [id(1), id(1)] }],
      ['a move of 101 messages', { ...m, kind: 'move', body: { messages: ids(101), to: id(200) } }],
      [
        'a move naming a message twice',
        { ...m, kind: 'move', body: { messages: [id(1), id(1)], to: id(2) } },
      ],
      [
        '201 automod keywords',
        {
          ...m,
          kind: 'automod',
          body: { keywords: Array.from({ length: 201 }, (_, i) => `k${i}`) },
        },
      ],
      [
        'a 65-character emoji',
        { ...m, kind: 'reaction.add', body: { target: id(1), emoji: 'x'.repeat(65) } },
      ],
      [
        '9 pinned keys',
        { ...m, kind: 'invite', body: { invitee: m.author, keys: Array(9).fill(m.key) } },
      ],
      ['a float timestamp', { ...m, ts: 1.5 }],
      [
        'a role proposal without a role',
        { ...m, kind: 'proposal', body: { action: 'role', target: m.author } },
      ],
      [
        'a message to a channel and a thread',
        { ...m, body: { text: 'x', channel: id(1), thread: id(2) } },
      ],
      ['version 2', { ...m, v: 2 }],
    ]
    for (const [name, e] of cases) {
      const parsed = parseSignedEvent({ e, s: opened.event.sig })
      expect(parsed.ok, name).toBe(false)
      if (!parsed.ok) expect(parsed.error.reason, name).toBe('schema')
    }
  })
})
