import * as A from '@automerge/automerge'
import { cbor } from '@automerge/automerge-repo'
import type { DocumentId, Message, PeerId } from '@automerge/automerge-repo'
import { PUSH_TYPE } from '@hearth/sync'
import { describe, expect, it } from 'vitest'
import { encodePushFrames, FastPath, type FastPathHost } from './fast-path.ts'

const DOC = '2Ry3QFfbgyCYUWGjZdwDGtEuzdQj' as DocumentId
const ROUTER = 'router#1' as PeerId
const WRITER = 'did:plc:writer#w' as PeerId
const READER = 'did:plc:reader#r' as PeerId

/** A chain of real Automerge changes (their hashes and deps are what the fast path reads). */
function chain(n: number): { bytes: A.Change; hash: string; deps: string[] }[] {
  let doc = A.init<Record<string, number>>()
  const out = []
  for (let i = 0; i < n; i++) {
    doc = A.change(doc, (d) => {
      d[`k${i}`] = i
    })
    const bytes = A.getLastLocalChange(doc)!
    const { hash, deps } = A.decodeChange(bytes)
    out.push({ bytes, hash, deps })
  }
  return out
}

function syncMessage(heads: string[], changes: A.Change[] = [], need: string[] = []) {
  return A.encodeSyncMessage({ heads, need, have: [], changes })
}

class FakeHost implements FastPathHost {
  routerHeads: string[] = []
  readonly known = new Set<string>()
  readonly sent: { peer: PeerId; bytes: Uint8Array }[] = []
  readonly heldOut: PeerId[] = []
  readonly resynced: PeerId[] = []
  heads = () => this.routerHeads
  hasChange = (_: DocumentId, hash: string) => this.known.has(hash)
  holdOut = (peer: PeerId) => void this.heldOut.push(peer)
  resync = (peer: PeerId) => void this.resynced.push(peer)
  sendEncoded = (peer: PeerId, bytes: Uint8Array) => void this.sent.push({ peer, bytes })
}

function setup() {
  let time = 0
  const host = new FakeHost()
  const fast = new FastPath(host, ROUTER, { confirmTimeoutMs: 100, now: () => time })
  const changes = chain(3)
  // The router and the reader both hold the first change: the reader enters step.
  host.routerHeads = [changes[0]!.hash]
  host.known.add(changes[0]!.hash)
  return {
    host,
    fast,
    changes,
    advance: (ms: number) => (time += ms),
  }
}

describe('encodePushFrames', () => {
  it('encodes the frame once and only the target differs, for target ids of any length', () => {
    const changes = chain(2).map((c) => c.bytes)
    const frameFor = encodePushFrames(ROUTER, DOC, changes)
    for (const length of [1, 23, 24, 255, 256, 600]) {
      const target = 'x'.repeat(length) as PeerId
      expect(cbor.decode(frameFor(target))).toEqual({
        type: PUSH_TYPE,
        senderId: ROUTER,
        documentId: DOC,
        changes,
        targetId: target,
      })
    }
  })
})

describe('FastPath', () => {
  it('a peer in step gets the push, is taken out of the Repo sync, and its echo confirms and is dropped', () => {
    const { host, fast, changes } = setup()
    const [c0, c1] = changes
    expect(fast.inspect(READER, DOC, syncMessage([c0!.hash]))).toBe('pass')
    expect(fast.inStep(READER, DOC)).toBe(true)

    fast.push(WRITER, DOC, [c1!], [READER])
    expect(host.sent.map((s) => s.peer)).toEqual([READER])
    expect(host.heldOut).toEqual([READER])
    expect(fast.appliesPushes(READER)).toBeUndefined()
    host.known.add(c1!.hash)
    host.routerHeads = [c1!.hash]

    // The echo: its heads cover the pushed change, which it sends back thinking we lack it.
    expect(fast.inspect(READER, DOC, syncMessage([c1!.hash], [c1!.bytes]))).toBe('drop')
    expect(fast.appliesPushes(READER)).toBe(true)
  })

  it('holds back every sync message to an unproven peer in step, and only repeats of pushes once proven', () => {
    const { host, fast, changes } = setup()
    const [c0, c1, c2] = changes
    fast.inspect(READER, DOC, syncMessage([c0!.hash]))
    fast.push(WRITER, DOC, [c1!], [READER])
    const sync = (data: Uint8Array): Message =>
      ({ type: 'sync', senderId: ROUTER, targetId: READER, documentId: DOC, data }) as Message
    // Unproven: everything is held back (it must get the change by push to show it applies pushes).
    expect(fast.holdsBack(sync(syncMessage([c1!.hash])))).toBe(true)
    // A message asking it for something always goes.
    expect(fast.holdsBack(sync(syncMessage([c1!.hash], [], [c0!.hash])))).toBe(false)
    host.known.add(c1!.hash)
    fast.inspect(READER, DOC, syncMessage([c1!.hash]))
    expect(fast.appliesPushes(READER)).toBe(true)
    // Proven: the pushed change is held back, heads alone and unpushed changes go.
    expect(fast.holdsBack(sync(syncMessage([c1!.hash], [c1!.bytes])))).toBe(true)
    expect(fast.holdsBack(sync(syncMessage([c1!.hash])))).toBe(false)
    expect(fast.holdsBack(sync(syncMessage([c2!.hash], [c2!.bytes])))).toBe(false)
    // Other peers and other message types are not the fast path's business.
    expect(fast.holdsBack({ ...sync(syncMessage([])), targetId: WRITER } as Message)).toBe(false)
  })

  it('an unconfirmed push times out into a sync round; a peer that never confirms is a stock client', () => {
    const { host, fast, changes, advance } = setup()
    const [c0, c1, c2] = changes
    fast.inspect(READER, DOC, syncMessage([c0!.hash]))
    fast.push(WRITER, DOC, [c1!], [READER])
    advance(150)
    fast.tick()
    expect(host.resynced).toEqual([READER])
    expect(fast.inStep(READER, DOC)).toBe(false)
    expect(fast.appliesPushes(READER)).toBe(false)
    // No more pushes to it, and its messages all reach the Repo.
    host.sent.length = 0
    fast.push(WRITER, DOC, [c2!], [READER])
    expect(host.sent).toEqual([])
    host.known.add(c1!.hash).add(c2!.hash)
    host.routerHeads = [c2!.hash]
    expect(fast.inspect(READER, DOC, syncMessage([c2!.hash]))).toBe('pass')
    expect(fast.inStep(READER, DOC)).toBe(false)
  })

  it('a proven peer that misses a push gets a sync round and keeps getting pushes', () => {
    const { host, fast, changes, advance } = setup()
    const [c0, c1, c2] = changes
    fast.inspect(READER, DOC, syncMessage([c0!.hash]))
    fast.push(WRITER, DOC, [c1!], [READER])
    host.known.add(c1!.hash)
    host.routerHeads = [c1!.hash]
    fast.inspect(READER, DOC, syncMessage([c1!.hash]))
    fast.push(WRITER, DOC, [c2!], [READER])
    advance(150)
    // Its heads never move past c1: c2 was lost.
    expect(fast.inspect(READER, DOC, syncMessage([c1!.hash]))).toBe('drop')
    fast.tick()
    expect(host.resynced).toEqual([READER])
    expect(fast.appliesPushes(READER)).toBe(true)
    expect(fast.wantsPushes(READER)).toBe(true)
  })

  it('messages with anything new, or asking for something, always reach the validator and the Repo', () => {
    const { host, fast, changes } = setup()
    const [c0, c1] = changes
    fast.inspect(READER, DOC, syncMessage([c0!.hash]))
    // A change the router does not have.
    expect(fast.inspect(READER, DOC, syncMessage([c1!.hash], [c1!.bytes]))).toBe('pass')
    // Heads the router does not know.
    expect(fast.inspect(READER, DOC, syncMessage([c1!.hash]))).toBe('pass')
    // A need.
    expect(fast.inspect(READER, DOC, syncMessage([c0!.hash], [], [c0!.hash]))).toBe('pass')
    // Garbage is the validator's to refuse.
    expect(fast.inspect(READER, DOC, new Uint8Array([1, 2, 3]))).toBe('pass')
    expect(host.known.has(c1!.hash)).toBe(false)
  })

  it('a batch the router does not push takes every other peer out of step (ordinary sync)', () => {
    const { host, fast, changes } = setup()
    const [c0, c1] = changes
    fast.inspect(READER, DOC, syncMessage([c0!.hash]))
    fast.inspect(WRITER, DOC, syncMessage([c0!.hash]))
    fast.notPushed(WRITER, DOC, [c1!.hash])
    expect(fast.inStep(READER, DOC)).toBe(false)
    expect(fast.inStep(WRITER, DOC)).toBe(true)
    expect(host.resynced).toEqual([READER])
    // Nobody enters step while the router has accepted changes its document lacks.
    host.routerHeads = [c0!.hash]
    expect(fast.inspect(READER, DOC, syncMessage([c0!.hash]))).toBe('pass')
    expect(fast.inStep(READER, DOC)).toBe(false)
    host.known.add(c1!.hash)
    host.routerHeads = [c1!.hash]
    fast.inspect(READER, DOC, syncMessage([c1!.hash]))
    expect(fast.inStep(READER, DOC)).toBe(true)
  })
})
