// The client treats its router as untrusted: a hostile "router" on a real WebSocket speaks the
// protocol and then pushes forged or malformed data. Nothing it sends may alter the device's
// documents; a protocol violation costs the connection (retried with backoff), not the app.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as A from '@automerge/automerge'
import { cbor } from '@automerge/automerge-repo'
import { asDid, generateDeviceKey, type DeviceKey } from '@hearth/identity'
import {
  actorIdFromPublicKey,
  bucketKey,
  HearthClient,
  MemoryStoreAdapter,
  PUSH_TYPE,
  signEphemeral,
  spaceDocumentId,
  StoreStorageAdapter,
  type SpaceSession,
} from '@hearth/sync'
import { craftByMutation } from '@hearth/sync/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocketServer, type WebSocket } from 'ws'

const ROUTER = 'hearth-router#hostile'
const alice = asDid('did:plc:aliceaaaaaaaaaaaaaaaaaaa')

interface Hostile {
  server: WebSocketServer
  url: string
  /** Each connection the client opened, once it joined. */
  joined: WebSocket[]
  nextJoin(): Promise<{ socket: WebSocket; peerId: string }>
  closed: Promise<void>[]
}

async function hostileRouter(): Promise<Hostile> {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' })
  await new Promise((resolve) => server.once('listening', resolve))
  const port = (server.address() as { port: number }).port
  const waiting: ((joined: { socket: WebSocket; peerId: string }) => void)[] = []
  const queue: { socket: WebSocket; peerId: string }[] = []
  const hostile: Hostile = {
    server,
    url: `ws://127.0.0.1:${port}/sync`,
    joined: [],
    closed: [],
    nextJoin: () =>
      queue.length > 0
        ? Promise.resolve(queue.shift()!)
        : new Promise((resolve) => waiting.push(resolve)),
  }
  server.on('connection', (socket) => {
    hostile.closed.push(new Promise((resolve) => socket.once('close', () => resolve())))
    socket.once('message', (data) => {
      const join = cbor.decode(new Uint8Array(data as Buffer)) as { senderId: string }
      socket.send(
        cbor.encode({
          type: 'peer',
          senderId: ROUTER,
          targetId: join.senderId,
          peerMetadata: {},
          selectedProtocolVersion: '1',
        }),
      )
      hostile.joined.push(socket)
      const joined = { socket, peerId: join.senderId }
      const waiter = waiting.shift()
      if (waiter) waiter(joined)
      else queue.push(joined)
    })
  })
  return hostile
}

let dir: string
let hostile: Hostile
let key: DeviceKey
let mallory: DeviceKey
let client: HearthClient
let space: SpaceSession
/** The connection the client holds now. */
let current: { socket: WebSocket; peerId: string }

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hearth-hostile-'))
  hostile = await hostileRouter()
  key = (await generateDeviceKey()).key
  mallory = (await generateDeviceKey()).key
  client = await HearthClient.open({
    did: alice,
    key,
    store: new MemoryStoreAdapter(),
    repoStorage: new StoreStorageAdapter(new MemoryStoreAdapter()),
    router: { url: async () => hostile.url, minRetryMs: 20, maxRetryMs: 50 },
  })
  space = await client.createSpace({ name: 'Mine', mode: 'INVITES_ONLY' })
})

afterAll(async () => {
  await client?.close()
  hostile?.server.close()
  if (dir) await rm(dir, { recursive: true, force: true })
})

function aliceBucket(): string {
  return bucketKey(actorIdFromPublicKey(key.publicKey), 0)
}

describe('a hostile router', () => {
  it('cannot erase the device’s events with a pushed delete: refused, not applied, connection reset', async () => {
    const { socket, peerId } = (current = await hostile.nextJoin())
    const channel = await space.createChannel('general')
    expect(space.state.containers.get(channel)?.name).toBe('general')
    const before = space.state.containers.size
    // What the router would hold: the device's own space document, as synced to it.
    const doc = A.load<Record<string, unknown>>(
      client.exportDocument(spaceDocumentId(space.spaceId))!,
    )
    const erase = await craftByMutation(doc, mallory, (d) => {
      ;(d[aliceBucket()] as unknown[]).splice(0, 1)
    })
    const closed = hostile.closed[hostile.closed.length - 1]!
    socket.send(
      cbor.encode({
        type: PUSH_TYPE,
        senderId: ROUTER,
        targetId: peerId,
        documentId: spaceDocumentId(space.spaceId),
        changes: [erase],
      }),
    )
    await closed
    expect(client.rejections.some((r) => r.documentId === spaceDocumentId(space.spaceId))).toBe(
      true,
    )
    expect(space.state.containers.size).toBe(before)
    expect(space.state.containers.get(channel)?.name).toBe('general')
    // The client comes back (a fresh connection), it does not give up.
    current = await hostile.nextJoin()
  })

  it('closes on a malformed frame and on a text frame, and reconnects each time', async () => {
    for (const bad of [new Uint8Array([0xff, 0x00, 0x13]), 'hello']) {
      const closed = hostile.closed[hostile.closed.length - 1]!
      current.socket.send(bad)
      await closed
      current = await hostile.nextJoin()
    }
    expect(space.state.mode).toBe('INVITES_ONLY')
  })

  it('cannot make up presence or pokes: frames by non-members, unbound keys or replays count for nothing', async () => {
    const { socket } = current
    const stranger = asDid('did:plc:strangerstrangerstranger')
    const seen: string[] = []
    space.ephemeral.on((frame) => seen.push(frame.kind))
    // Signed by a key that is not bound to the author in this space (alice is its only member).
    const forged = await signEphemeral(mallory, {
      space: space.spaceId,
      kind: 'presence',
      body: { state: 'online' },
      author: alice,
    })
    const byStranger = await signEphemeral(mallory, {
      space: space.spaceId,
      kind: 'poke',
      body: {},
      author: stranger,
      to: alice,
    })
    const genuine = await signEphemeral(key, {
      space: space.spaceId,
      kind: 'presence',
      body: { state: 'away' },
      author: alice,
    })
    for (const frame of [forged, byStranger, genuine, genuine])
      socket.send(cbor.encode({ ...frame }))
    await until(() => (space.ephemeral.dropped.get('replay') ?? 0) > 0)
    expect(space.ephemeral.dropped.get('key-not-bound')).toBe(1)
    expect(space.ephemeral.dropped.get('not-member')).toBe(1)
    expect(seen).toEqual(['presence'])
    expect(space.ephemeral.presence().get(alice)?.state).toBe('away')
  })

  it('ignores a push for a document the device does not have', async () => {
    const { socket, peerId } = current
    const stranger = await craftByMutation(A.init<Record<string, unknown>>(), mallory, (d) => {
      d[bucketKey(actorIdFromPublicKey(mallory.publicKey), 0)] = []
    })
    socket.send(
      cbor.encode({
        type: PUSH_TYPE,
        senderId: ROUTER,
        targetId: peerId,
        documentId: spaceDocumentId('b'.repeat(52)),
        changes: [stranger],
      }),
    )
    // Still connected and still writing: a ping of our own frame type goes through.
    await space.createChannel('after')
    expect([...space.state.containers.values()].map((c) => c.name)).toContain('after')
    expect(socket.readyState).toBe(socket.OPEN)
  })
})

async function until(test: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !test(); i++) await new Promise((resolve) => setTimeout(resolve, 10))
  expect(test()).toBe(true)
}
