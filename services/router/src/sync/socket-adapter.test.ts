import { EventEmitter } from 'node:events'
import { cbor } from '@automerge/automerge-repo'
import type { Message, PeerId } from '@automerge/automerge-repo'
import { asDid } from '@hearth/identity'
import { describe, expect, it } from 'vitest'
import type { WebSocket } from 'ws'
import { AuthenticatedSocketAdapter, CLOSE_POLICY, type GateOutcome } from './socket-adapter.ts'

const alice = asDid('did:plc:aliceaaaaaaaaaaaaaaaaaaa')
const mallory = asDid('did:plc:malloryaaaaaaaaaaaaaaaaa')
const ROUTER = 'router#1' as PeerId
const documentId = '4JWnqMPGmM6bUat3qWbPc3vq3Fmy'

/** Just enough of a `ws` socket: frames in, frames and closes out. */
class FakeSocket extends EventEmitter {
  readonly sent: Record<string, unknown>[] = []
  closed: { code: number; reason: string } | undefined
  binaryType = 'nodebuffer'
  send(data: Uint8Array): void {
    this.sent.push(cbor.decode(data))
  }
  close(code: number, reason: string): void {
    if (this.closed) return
    this.closed = { code, reason }
    this.emit('close')
  }
  frame(value: unknown): void {
    this.emit('message', Buffer.from(cbor.encode(value)), true)
  }
}

function setup(gate: GateOutcome = { action: 'forward' }) {
  const adapter = new AuthenticatedSocketAdapter({ gate: async () => gate })
  adapter.connect(ROUTER, {})
  const events: string[] = []
  const messages: Message[] = []
  adapter.on('peer-candidate', ({ peerId }) => events.push(`+${peerId}`))
  adapter.on('peer-disconnected', ({ peerId }) => events.push(`-${peerId}`))
  adapter.on('message', (m) => messages.push(m))
  const open = (did = alice): FakeSocket => {
    const socket = new FakeSocket()
    adapter.accept(socket as unknown as WebSocket, did, '127.0.0.1')
    return socket
  }
  return { adapter, events, messages, open }
}

const join = (socket: FakeSocket, senderId: string): void =>
  socket.frame({ type: 'join', senderId, peerMetadata: {}, supportedProtocolVersions: ['1'] })

const sync = (senderId: string, targetId: string = ROUTER) => ({
  type: 'sync',
  senderId,
  targetId,
  documentId,
  data: new Uint8Array([1, 2, 3]),
})

describe('AuthenticatedSocketAdapter', () => {
  it('binds a <did>#<suffix> peer id and answers with the router’s peer frame', () => {
    const { adapter, events, open } = setup()
    const socket = open()
    join(socket, `${alice}#tab`)
    expect(events).toEqual([`+${alice}#tab`])
    expect(socket.sent[0]).toMatchObject({
      type: 'peer',
      senderId: ROUTER,
      targetId: `${alice}#tab`,
    })
    expect(adapter.didOf(`${alice}#tab` as PeerId)).toBe(alice)
  })

  it('scopes an announced storage id to the DID (no access to another user’s sync state)', () => {
    const adapter = new AuthenticatedSocketAdapter({ gate: async () => ({ action: 'forward' }) })
    adapter.connect(ROUTER, {})
    const metadata: unknown[] = []
    adapter.on('peer-candidate', ({ peerMetadata }) => metadata.push(peerMetadata))
    const socket = new FakeSocket()
    adapter.accept(socket as unknown as WebSocket, mallory, 'ip')
    socket.frame({
      type: 'join',
      senderId: `${mallory}#tab`,
      peerMetadata: { storageId: 'alices-storage-id', isEphemeral: false },
    })
    expect(metadata).toEqual([{ storageId: `${mallory}|alices-storage-id`, isEphemeral: false }])
  })

  it('S4: another DID claiming a live peer id is refused; the holder keeps its session', () => {
    const { adapter, events, open } = setup()
    const victim = open()
    join(victim, `${alice}#tab`)
    const attacker = open(mallory)
    join(attacker, `${alice}#tab`)
    expect(attacker.sent[0]).toMatchObject({ type: 'error' })
    expect(attacker.closed?.code).toBe(CLOSE_POLICY)
    expect(victim.closed).toBeUndefined()
    expect(events).toEqual([`+${alice}#tab`])
    expect(adapter.didOf(`${alice}#tab` as PeerId)).toBe(alice)
  })

  it('a newer socket of the same DID replaces the older one (a reconnecting tab)', () => {
    const { events, open } = setup()
    const first = open()
    join(first, `${alice}#tab`)
    const second = open()
    join(second, `${alice}#tab`)
    expect(first.closed?.code).toBe(CLOSE_POLICY)
    expect(second.closed).toBeUndefined()
    expect(events).toEqual([`+${alice}#tab`, `-${alice}#tab`, `+${alice}#tab`])
  })

  it('refuses a banned peer id, a second join, and an unsupported protocol', () => {
    const adapter = new AuthenticatedSocketAdapter({
      gate: async () => ({ action: 'forward' }),
      isBanned: (id) => id === `${alice}#bad`,
    })
    adapter.connect(ROUTER, {})
    const banned = new FakeSocket()
    adapter.accept(banned as unknown as WebSocket, alice, 'ip')
    join(banned, `${alice}#bad`)
    expect(banned.closed?.code).toBe(CLOSE_POLICY)

    const twice = new FakeSocket()
    adapter.accept(twice as unknown as WebSocket, alice, 'ip')
    join(twice, `${alice}#a`)
    join(twice, `${alice}#b`)
    expect(twice.closed?.code).toBe(CLOSE_POLICY)

    const old = new FakeSocket()
    adapter.accept(old as unknown as WebSocket, alice, 'ip')
    old.frame({ type: 'join', senderId: `${alice}#c`, supportedProtocolVersions: ['0'] })
    expect(old.closed?.code).toBe(CLOSE_POLICY)
  })

  it('closes a socket that sends documents before joining, as someone else, or to someone else', () => {
    const { messages, open } = setup()
    const early = open()
    early.frame(sync(`${alice}#tab`))
    expect(early.closed?.code).toBe(CLOSE_POLICY)

    const spoof = open()
    join(spoof, `${alice}#x`)
    spoof.frame(sync(`${alice}#y`))
    expect(spoof.closed?.code).toBe(CLOSE_POLICY)

    const relay = open()
    join(relay, `${alice}#z`)
    relay.frame(sync(`${alice}#z`, `${mallory}#tab`))
    expect(relay.closed?.code).toBe(CLOSE_POLICY)
    expect(messages).toEqual([])
  })

  it('passes document frames through the gate, in order', async () => {
    const { messages, open } = setup()
    const socket = open()
    join(socket, `${alice}#tab`)
    socket.frame(sync(`${alice}#tab`))
    socket.frame({ type: 'ephemeral', senderId: `${alice}#tab`, data: new Uint8Array([1]) })
    socket.frame({ ...sync(`${alice}#tab`), type: 'request' })
    await expect.poll(() => messages.length).toBe(2)
    expect(messages.map((m) => m.type)).toEqual(['sync', 'request'])
    expect(socket.closed).toBeUndefined()
  })

  it('a gate refusal closes only that socket; “handled” forwards nothing', async () => {
    const closing = setup({ action: 'close', reason: 'garbage' })
    const socket = closing.open()
    join(socket, `${alice}#tab`)
    socket.frame(sync(`${alice}#tab`))
    await expect.poll(() => socket.closed?.code).toBe(CLOSE_POLICY)

    const handled = setup({ action: 'handled' })
    const quiet = handled.open()
    join(quiet, `${alice}#tab`)
    quiet.frame(sync(`${alice}#tab`))
    await new Promise((resolve) => setImmediate(resolve))
    expect(handled.messages).toEqual([])
    expect(quiet.closed).toBeUndefined()
  })
})
