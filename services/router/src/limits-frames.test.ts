import * as A from '@automerge/automerge'
import type { DocumentId, PeerId } from '@automerge/automerge-repo'
import type { Did } from '@hearth/identity'
import type { DocumentRole } from '@hearth/sync'
import { describe, expect, it } from 'vitest'
import { refusalLabel, SessionGuard } from './limits-frames.ts'
import type { SessionInfo } from './sync/socket-adapter.ts'
import type { DocFrame } from './sync/wire.ts'

const did = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' as Did
const session: SessionInfo = { did, ip: '127.0.0.1', peerId: `${did}#tab` as PeerId }
const spaceDoc = 'spacedoc' as DocumentId
const messageDoc = 'messagedoc' as DocumentId
const roles: Record<string, DocumentRole> = {
  [spaceDoc]: { kind: 'space', spaceId: 's1' } as DocumentRole,
  [messageDoc]: { kind: 'messages', spaceId: 's1', channelId: 'c1', index: 0 } as DocumentRole,
}

function guard(now: () => number, limits = {}): SessionGuard {
  return new SessionGuard({
    roleOf: (id) => roles[id],
    members: () => new Map(),
    sessionsOf: () => [],
    send: () => undefined,
    frameLimits: limits,
    now,
  })
}

function frame(documentId: DocumentId, withChanges = false, bytes = 0): DocFrame {
  const doc = withChanges
    ? A.from({ pad: Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString('base64') })
    : A.init()
  const [, data] = A.generateSyncMessage(doc, A.initSyncState())
  if (!withChanges)
    return {
      type: 'sync',
      senderId: session.peerId,
      targetId: 'r' as PeerId,
      documentId,
      data: data!,
    }
  // A sync message carrying the document's changes, as a peer pushing its writes sends.
  const message = A.encodeSyncMessage({
    heads: A.getHeads(doc),
    need: [],
    have: [],
    changes: A.getAllChanges(doc),
  })
  return {
    type: 'sync',
    senderId: session.peerId,
    targetId: 'r' as PeerId,
    documentId,
    data: message,
  }
}

describe('SessionGuard rate limits', () => {
  it('owes, then delays, then refuses a DID over its budget; other DIDs are untouched', () => {
    let now = 0
    const g = guard(() => now, { perDidBurst: 2, perDidPerSecond: 10, maxWaitMs: 300 })
    const f = frame('unknown' as DocumentId)
    expect(g.admit(session, f)).toEqual({ waitMs: 0 })
    expect(g.admit(session, f)).toEqual({ waitMs: 0 })
    expect(g.admit(session, f)).toEqual({ waitMs: 100 })
    expect(g.admit(session, f)).toEqual({ waitMs: 200 })
    expect(g.admit(session, f)).toEqual({ waitMs: 300 })
    expect(g.admit(session, f)).toEqual({ refuse: 'rate limit exceeded (did)' })
    const other = { ...session, did: 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb' as Did }
    expect(g.admit(other, f)).toEqual({ waitMs: 0 })
    now += 1000
    expect(g.admit(session, f)).toEqual({ waitMs: 0 })
  })

  it('charges big frames more, and a space for every DID writing into it', () => {
    const g = guard(() => 0, {
      perDidBurst: 100,
      perSpaceBurst: 3,
      perSpacePerSecond: 1,
      bytesPerUnit: 1000,
      maxWaitMs: 0,
    })
    const other = { ...session, did: 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb' as Did }
    expect(g.admit(session, frame(spaceDoc, true, 1500))).toEqual({ waitMs: 0 }) // 2+ units
    expect(g.admit(other, frame(spaceDoc))).toEqual({ refuse: 'rate limit exceeded (space)' })
    expect(g.admit(other, frame('unknown' as DocumentId))).toEqual({ waitMs: 0 })
  })
})

describe('SessionGuard document quotas', () => {
  const event = (n: number) => new Uint8Array(n)

  it('a message document over its event quota takes no more changes; reading it goes on', () => {
    const g = guard(() => 0, { maxMessageDocumentEvents: 3 })
    g.accepted(messageDoc, [[event(10), event(10)]])
    expect(g.isFull(messageDoc)).toBe(false)
    g.accepted(messageDoc, [[event(10)]])
    expect(g.isFull(messageDoc)).toBe(true)
    expect(g.admit(session, frame(messageDoc, true))).toEqual({ refuse: 'document quota exceeded' })
    expect(g.admit(session, frame(messageDoc))).toEqual({ waitMs: 0 })
    // The event count is a message-document rule: the space document has no such cap.
    g.accepted(spaceDoc, [[event(1), event(1), event(1), event(1)]])
    expect(g.isFull(spaceDoc)).toBe(false)
  })

  it('any document over its byte quota is full, counting what it held when first seen', () => {
    const stored = [event(600)]
    const g = new SessionGuard({
      roleOf: (id) => roles[id],
      storedEvents: (id) => (id === spaceDoc ? stored : undefined),
      members: () => new Map(),
      sessionsOf: () => [],
      send: () => undefined,
      frameLimits: { maxDocumentEventBytes: 1000 },
    })
    g.accepted(spaceDoc, [[event(300)]])
    expect(g.isFull(spaceDoc)).toBe(false)
    g.accepted(spaceDoc, [[event(100)]])
    expect(g.isFull(spaceDoc)).toBe(true)
  })
})

describe('SessionGuard space creations', () => {
  it('a DID opens a burst of spaces, then so many a day; retrying a known one is free', () => {
    let now = 0
    const g = guard(() => now, { spaceCreationBurst: 2, spaceCreationsPerDay: 24 })
    expect([1, 2, 3].map(() => g.mayCreateSpace(did, false))).toEqual([true, true, false])
    expect(g.mayCreateSpace(did, true)).toBe(true)
    expect(g.mayCreateSpace('did:plc:bbbbbbbbbbbbbbbbbbbbbbbb' as Did, false)).toBe(true)
    now += 3600_000 // one an hour
    expect(g.mayCreateSpace(did, false)).toBe(true)
    expect(g.mayCreateSpace(did, false)).toBe(false)
  })
})

describe('refusal labels', () => {
  it('map free-text reasons to a few metric labels', () => {
    expect(refusalLabel('malformed frame: text frame')).toBe('malformed-frame')
    expect(refusalLabel('rejected: bad signature')).toBe('rejected-change')
    expect(refusalLabel('rate limit exceeded (space)')).toBe('rate-limited-space')
    expect(refusalLabel('rate limit exceeded (did)')).toBe('rate-limited-did')
    expect(refusalLabel('document quota exceeded')).toBe('document-quota')
    expect(refusalLabel('peer id must be did:plc:x#<device>')).toBe('bad-join')
    expect(refusalLabel('something new')).toBe('policy')
  })
})
