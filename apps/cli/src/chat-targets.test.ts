import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { MAX_NAME_CHARS, MAX_TEXT_CHARS, type SpaceId, type SpaceSession } from '@hearth/sync'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  ChatError,
  findChannel,
  findSpace,
  parseName,
  parseText,
  UsageError,
} from './chat-targets.ts'
import { resolveInvitee } from './commands/chat.ts'
import { cliConfig, routerAudienceFor } from './config.ts'

const id = (c: string) => c.repeat(52) as SpaceId

describe('naming a space', () => {
  const spaces = [
    { spaceId: id('a'), name: 'Book club' },
    { spaceId: id('b'), name: 'Book club fans' },
    { spaceId: id('c'), name: 'Garden' },
  ]
  it('by id, by unique prefix, an exact name over longer ones', () => {
    expect(findSpace(spaces, id('z'))).toBe(id('z'))
    expect(findSpace(spaces, 'gar')).toBe(id('c'))
    expect(findSpace(spaces, 'book CLUB')).toBe(id('a'))
  })
  it('an ambiguous or unknown name is an error naming the candidates', () => {
    expect(() => findSpace(spaces, 'Book')).toThrow(/names 2 spaces .*use the id/)
    expect(() => findSpace(spaces, 'Kitchen')).toThrow(ChatError)
  })
})

describe('naming a channel', () => {
  const containers = new Map(
    [
      { id: 'c2', name: 'random', ts: 2 },
      { id: 'c1', name: 'general', ts: 1 },
      { id: 'c3', name: 'gardening', ts: 3, archived: true },
    ].map((c) => [c.id, { ...c, type: 'channel', archived: c.archived ?? false }]),
  )
  const session = {
    state: { containers },
    event: (eventId: string) => ({ ts: containers.get(eventId)?.ts }),
  } as unknown as SpaceSession
  it('defaults to the oldest channel; by name with or without #, prefix or id', () => {
    expect(findChannel(session, undefined).name).toBe('general')
    expect(findChannel(session, '#random').id).toBe('c2')
    expect(findChannel(session, 'gen').id).toBe('c1')
    expect(findChannel(session, 'c2').name).toBe('random')
  })
  it('archived channels are not chosen', () => {
    expect(() => findChannel(session, 'gardening')).toThrow(/no channel/)
  })
})

describe('input caps', () => {
  it('names: trimmed, non-empty, at most MAX_NAME_CHARS, no control characters', () => {
    expect(parseName('  club ', 'space')).toBe('club')
    expect(() => parseName('   ', 'space')).toThrow(UsageError)
    expect(() => parseName('x'.repeat(MAX_NAME_CHARS + 1), 'space')).toThrow(/longer than/)
    expect(() => parseName('evil\u001b[31m', 'channel')).toThrow(/control/)
  })
  it('texts: not blank, at most MAX_TEXT_CHARS', () => {
    expect(parseText('x'.repeat(MAX_TEXT_CHARS))).toHaveLength(MAX_TEXT_CHARS)
    expect(() => parseText('x'.repeat(MAX_TEXT_CHARS + 1))).toThrow(UsageError)
    expect(() => parseText(' \n ')).toThrow(/empty/)
  })
})

describe('config', () => {
  it('derives the router audience from its host, as the services derive their did:web', () => {
    expect(routerAudienceFor('http://localhost:2586')).toBe(
      'did:web:localhost%3A2586#hearth_router',
    )
    expect(cliConfig({ HEARTH_ROUTER_URL: 'https://router.example' }).routerAudience).toBe(
      'did:web:router.example#hearth_router',
    )
  })
})

describe('inviting by handle', () => {
  let server: Server
  let resolverUrl: string
  beforeAll(async () => {
    // A resolver that says the handle points at a DID whose document does not claim it back.
    server = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json')
      res.end(
        JSON.stringify({
          did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa',
          handle: null,
          handleVerified: false,
          pds: null,
        }),
      )
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    resolverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

  it('refuses a handle the DID document does not claim back', async () => {
    const ctx = { home: '/nonexistent', config: { ...cliConfig({}), resolverUrl }, note: () => {} }
    await expect(resolveInvitee(ctx, 'mallory.test')).rejects.toThrow(
      /does not claim the handle back/,
    )
  })
})
