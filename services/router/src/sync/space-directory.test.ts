import {
  encodeSignedEvent,
  messageDocumentId,
  spaceDocumentId,
  type SpaceEvent,
  type SpaceMode,
} from '@hearth/sync'
import { createActors, SpaceBuilder } from '@hearth/sync/testing'
import { describe, expect, it } from 'vitest'
import { SpaceDirectory } from './space-directory.ts'

const [alice, bob, carol] = createActors(['alice', 'bob', 'carol'], 1) as [
  ReturnType<typeof createActors>[number],
  ReturnType<typeof createActors>[number],
  ReturnType<typeof createActors>[number],
]

function space(mode: SpaceMode) {
  const b = new SpaceBuilder()
  const genesis = b.genesis(alice, mode)
  const directory = new SpaceDirectory()
  directory.addSpace(b.spaceId!)
  const spaceDoc = spaceDocumentId(b.spaceId!)
  const push = (...events: SpaceEvent[]): void =>
    directory.ingest(
      spaceDoc,
      events.map((e) => encodeSignedEvent(e)),
    )
  push(genesis)
  return { b, directory, spaceDoc, push, genesis }
}

describe('router access rules (SpaceDirectory)', () => {
  it('refuses documents it does not know, to everyone', () => {
    const directory = new SpaceDirectory()
    expect(directory.allows(alice.did, spaceDocumentId('x'.repeat(52)))).toBe(false)
  })

  it('PUBLIC: anyone signed in syncs every document of the space, except a banned member', () => {
    const { b, directory, spaceDoc, push } = space('PUBLIC')
    const channel = b.make(alice, 'channel.create', { name: 'general' })
    push(channel)
    const messages = messageDocumentId(b.spaceId!, channel.id, 0)
    for (const who of [alice, bob, carol]) {
      expect(directory.allows(who.did, spaceDoc)).toBe(true)
      expect(directory.allows(who.did, messages)).toBe(true)
    }
    push(b.make(bob, 'join', {}))
    push(b.make(alice, 'proposal', { action: 'ban', target: bob.did }))
    expect(directory.allows(bob.did, spaceDoc)).toBe(false)
    expect(directory.allows(bob.did, messages)).toBe(false)
    expect(directory.allows(carol.did, spaceDoc)).toBe(true)
  })

  it('INVITES_ONLY: members sync everything; an invitee only the space document; strangers nothing', () => {
    const { b, directory, spaceDoc, push } = space('INVITES_ONLY')
    const channel = b.make(alice, 'channel.create', { name: 'general' })
    push(channel)
    const messages = messageDocumentId(b.spaceId!, channel.id, 0)
    expect(directory.allows(alice.did, spaceDoc)).toBe(true)
    expect(directory.allows(alice.did, messages)).toBe(true)
    expect(directory.allows(bob.did, spaceDoc)).toBe(false)

    push(b.make(alice, 'invite', { invitee: bob.did }))
    expect(directory.allows(bob.did, spaceDoc)).toBe(true)
    expect(directory.allows(bob.did, messages)).toBe(false)

    push(b.make(bob, 'join', {}))
    expect(directory.allows(bob.did, messages)).toBe(true)
    expect(directory.allows(carol.did, spaceDoc)).toBe(false)
    expect(directory.allows(carol.did, messages)).toBe(false)

    push(b.make(bob, 'leave', {}))
    expect(directory.allows(bob.did, spaceDoc)).toBe(false)
    expect(directory.allows(bob.did, messages)).toBe(false)
  })

  it('a ban takes effect at once and is announced for re-evaluation', () => {
    const { b, directory, spaceDoc, push } = space('INVITES_ONLY')
    push(b.make(alice, 'invite', { invitee: bob.did }), b.make(bob, 'join', {}))
    expect(directory.allows(bob.did, spaceDoc)).toBe(true)
    const changed: string[] = []
    directory.onAuthorityChange = (id) => changed.push(id)
    push(b.make(alice, 'proposal', { action: 'ban', target: bob.did }))
    expect(directory.allows(bob.did, spaceDoc)).toBe(false)
    expect(changed).toEqual([b.spaceId])
  })

  it('a new space: only its genesis author, only before the genesis lands, only the space document', () => {
    const b = new SpaceBuilder()
    const genesis = b.genesis(alice, 'INVITES_ONLY')
    const directory = new SpaceDirectory()
    const spaceDoc = spaceDocumentId(genesis.id)
    const created: string[] = []
    directory.onSpaceCreated = (id) => created.push(id)

    expect(directory.beginCreation(genesis, bob.did)).toBe(false)
    expect(directory.allows(bob.did, spaceDoc)).toBe(false)
    expect(directory.beginCreation(genesis, alice.did)).toBe(true)
    expect(directory.allows(alice.did, spaceDoc)).toBe(true)
    expect(directory.allows(bob.did, spaceDoc)).toBe(false)

    directory.ingest(spaceDoc, [encodeSignedEvent(genesis)])
    expect(created).toEqual([genesis.id])
    expect(directory.allows(alice.did, spaceDoc)).toBe(true)
    // Once the space exists, presenting its genesis again opens nothing.
    expect(directory.beginCreation(genesis, alice.did)).toBe(false)
    expect(directory.beginCreation(genesis, bob.did)).toBe(false)
  })

  it('a refused genesis gives its slot back; an accepted space is never abandoned', () => {
    const b = new SpaceBuilder()
    const genesis = b.genesis(alice, 'INVITES_ONLY')
    const directory = new SpaceDirectory()
    const spaceDoc = spaceDocumentId(genesis.id)
    expect(directory.beginCreation(genesis, alice.did)).toBe(true)
    directory.abandonCreation(genesis.id)
    expect(directory.has(genesis.id)).toBe(false)
    expect(directory.allows(alice.did, spaceDoc)).toBe(false)
    expect(directory.beginCreation(genesis, alice.did)).toBe(true)
    directory.ingest(spaceDoc, [encodeSignedEvent(genesis)])
    directory.abandonCreation(genesis.id)
    expect(directory.allows(alice.did, spaceDoc)).toBe(true)
  })

  it('only a genesis opens the creation path', () => {
    const b = new SpaceBuilder()
    b.genesis(alice, 'PUBLIC')
    const channel = b.make(alice, 'channel.create', { name: 'general' })
    expect(new SpaceDirectory().beginCreation(channel, alice.did)).toBe(false)
  })

  it('registers the next message document of a channel once one is written', () => {
    const { b, directory, push } = space('INVITES_ONLY')
    const channel = b.make(alice, 'channel.create', { name: 'general' })
    push(channel)
    const second = messageDocumentId(b.spaceId!, channel.id, 1)
    const third = messageDocumentId(b.spaceId!, channel.id, 2)
    expect(directory.allows(alice.did, second)).toBe(true)
    expect(directory.allows(alice.did, third)).toBe(false)
    directory.ingest(second, [])
    expect(directory.allows(alice.did, third)).toBe(true)
    expect(directory.allows(carol.did, third)).toBe(false)
  })
})
