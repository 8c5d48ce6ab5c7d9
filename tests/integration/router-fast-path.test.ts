// The router's fast path against its anti-entropy: pushes reach every subscribed member while
// the router holds back its per-peer Automerge sync with them, and Automerge sync still fills
// every gap (a reader offline during pushes, a push its process lost, stock clients that ignore
// pushes). A real sync endpoint on SQLite behind a loopback WebSocket server; sign-in is not
// under test here (router-sync.test.ts covers it), so sockets are handed to the endpoint with
// the DID named in their URL, as the delivery bench does.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as A from '@automerge/automerge'
import { cbor, Repo } from '@automerge/automerge-repo'
import type { DocHandle, DocumentId, PeerId } from '@automerge/automerge-repo'
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket'
import { asDid, generateDeviceKey, type DeviceKey, type Did } from '@hearth/identity'
import { createSyncEndpoint, PUSH_TYPE, type HearthSyncEndpoint } from '@hearth/router'
import {
  createSignedDocument,
  createValidatedRepo,
  encodeSignedEvent,
  importVerified,
  SignedWriter,
  signEvent,
  spaceDocumentId,
  type ChangeValidator,
  type SpaceEvent,
  type SpaceMode,
} from '@hearth/sync'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocketServer } from 'ws'
import { eventsIn, until, type Frame } from './support/router-peers.ts'

let dir: string
let endpoint: HearthSyncEndpoint
let wss: WebSocketServer
let url: string
/** DIDs whose connections the server closes at once (a client that is offline). */
const offline = new Set<string>()
const open: { shutdown(): Promise<void> }[] = []
const CONFIRM_TIMEOUT_MS = 400

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hearth-router-fast-path-'))
  endpoint = await createSyncEndpoint({
    dataDir: dir,
    fastPath: { confirmTimeoutMs: CONFIRM_TIMEOUT_MS },
  })
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await new Promise((resolve) => wss.once('listening', resolve))
  url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}/`
  wss.on('connection', (ws, req) => {
    const did = new URL(req.url ?? '/', 'http://x').searchParams.get('did') ?? ''
    if (offline.has(did)) return ws.close(1001, 'offline')
    endpoint.accept(ws, { did: asDid(did), ip: '127.0.0.1' })
  })
})

afterAll(async () => {
  for (const client of open) await client.shutdown().catch(() => undefined)
  wss?.close()
  await endpoint?.close()
  if (dir) await rm(dir, { recursive: true, force: true })
})

function didFor(name: string): Did {
  return asDid(`did:plc:${name.padEnd(24, 'x').slice(0, 24)}`)
}

interface Client {
  did: Did
  peerId: PeerId
  repo: Repo
  validator: ChangeValidator | undefined
  adapter: WebSocketClientAdapter
  /** Every frame the router sent, decoded. */
  frames: Frame[]
  /** Hashes of changes that arrived in push frames (and were applied, for a Hearth client). */
  pushed: Set<string>
  /** While set, push frames are dropped on arrival (the process lost them). */
  dropPushes: boolean
  shutdown(): Promise<void>
}

/**
 * `hearth`: a Hearth client (validator in front of its Repo; pushes validated like a sync
 * message, then applied). Otherwise the stock client, which ignores push frames.
 */
async function client(name: string, hearth: boolean, retryMs = 600_000): Promise<Client> {
  const did = didFor(name)
  const peerId = `${did}#${crypto.randomUUID().slice(0, 8)}` as PeerId
  const adapter = new WebSocketClientAdapter(`${url}?did=${encodeURIComponent(did)}`, retryMs)
  let repo: Repo
  let validator: ChangeValidator | undefined
  if (hearth) {
    const validated = createValidatedRepo({
      repo: { peerId, network: [adapter], sharePolicy: async () => true },
    })
    repo = validated.repo
    validator = validated.validator
  } else repo = new Repo({ peerId, network: [adapter], sharePolicy: async () => true })
  let down: Promise<void> | undefined
  const c: Client = {
    did,
    peerId,
    repo,
    validator,
    adapter,
    frames: [],
    pushed: new Set(),
    dropPushes: false,
    shutdown: () => (down ??= repo.shutdown()),
  }
  // Every frame, on every socket the adapter opens (it reconnects with a new one).
  const receive = adapter.receiveMessage.bind(adapter)
  adapter.receiveMessage = (data: Uint8Array) => {
    const frame = cbor.decode(new Uint8Array(data)) as Frame
    if (frame.type === PUSH_TYPE && c.dropPushes) return
    c.frames.push(frame)
    if (frame.type === PUSH_TYPE && validator) void applyPush(c, frame)
    receive(data)
  }
  await adapter.whenReady()
  open.push(c)
  return c
}

async function applyPush(c: Client, frame: Frame): Promise<void> {
  const documentId = frame.documentId as DocumentId
  const changes = (frame.changes as Uint8Array[]).map((b) => new Uint8Array(b) as A.Change)
  const handle = await c.repo.find(documentId)
  try {
    await c.validator!.validateSyncMessage(
      documentId,
      A.encodeSyncMessage({ heads: [], need: [], have: [], changes }),
    )
  } catch {
    return // a missing dependency: Automerge sync brings it
  }
  handle.update((doc) => A.applyChanges(doc, changes)[0])
  for (const change of changes) c.pushed.add(A.decodeChange(change).hash)
}

/** Polls a condition on the endpoint's state (no event to await for it). */
async function eventually(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 15_000
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

interface Space {
  id: SpaceEvent['id']
  genesis: SpaceEvent
  documentId: DocumentId
  owner: Client
  key: DeviceKey
  writer: SignedWriter
  handle: DocHandle<unknown>
}

async function createSpace(owner: Client, mode: SpaceMode): Promise<Space> {
  const { key } = await generateDeviceKey()
  const genesis = await signEvent(key, {
    space: null,
    kind: 'genesis',
    author: owner.did,
    parents: [],
    body: { mode, name: 'Fast', nonce: crypto.randomUUID() },
  })
  const documentId = spaceDocumentId(genesis.id)
  const handle = await importVerified(
    owner.repo,
    owner.validator!,
    documentId,
    await createSignedDocument(key, [encodeSignedEvent(genesis)]),
  )
  await eventually(
    () =>
      endpoint.spaces.allows(owner.did, documentId) &&
      endpoint.repo.handles[documentId]?.isReady() === true,
    'the router to open the space',
  )
  const writer = new SignedWriter(handle, key, {
    onWrite: (accepted) => owner.validator!.noteLocalWrite(documentId, accepted),
  })
  return { id: genesis.id, genesis, documentId, owner, key, writer, handle }
}

/** The owner writes a message and pushes its change to the router (the writer's fast path). */
async function say(space: Space, text: string): Promise<{ event: SpaceEvent; hash: string }> {
  const event = await signEvent(space.key, {
    space: space.id,
    kind: 'message',
    author: space.owner.did,
    parents: [space.genesis.id],
    body: { text },
  })
  const { hash, change } = await space.writer.appendChange([encodeSignedEvent(event)])
  space.owner.adapter.socket!.send(
    cbor.encode({
      type: PUSH_TYPE,
      senderId: space.owner.peerId,
      targetId: endpoint.peerId,
      documentId: space.documentId,
      changes: [change],
    }),
  )
  return { event, hash }
}

/** Hashes of the changes in the router's Automerge `sync` frames to a client. */
function syncedChanges(c: Client, documentId: DocumentId): Set<string> {
  const out = new Set<string>()
  for (const frame of c.frames) {
    if (frame.type !== 'sync' || frame.documentId !== documentId) continue
    const message = A.decodeSyncMessage(new Uint8Array(frame.data as Uint8Array))
    for (const blob of message.changes) {
      try {
        out.add(A.decodeChange(blob).hash)
      } catch {
        // a whole-document chunk (a first sync): its changes are not counted one by one
        for (const change of A.getAllChanges(A.load(blob))) out.add(A.decodeChange(change).hash)
      }
    }
  }
  return out
}

async function subscribe(c: Client, space: Space): Promise<DocHandle<unknown>> {
  const handle = await c.repo.find(space.documentId)
  await eventually(
    () => endpoint.fastPath.inStep(c.peerId, space.documentId),
    `${c.peerId} in step`,
  )
  return handle
}

describe('the router fast path', () => {
  let owner: Client
  let town: Space

  beforeAll(async () => {
    owner = await client('owner', true)
    town = await createSpace(owner, 'PUBLIC')
  })

  it('pushes reach every subscribed member and replace the router’s Automerge sync with them', async () => {
    const readers = await Promise.all(['r1', 'r2', 'r3'].map((name) => client(name, true)))
    const handles = await Promise.all(readers.map((r) => subscribe(r, town)))
    const heldBefore = endpoint.fastPath.stats.heldBack + endpoint.fastPath.stats.echoesDropped
    const said: { event: SpaceEvent; hash: string }[] = []
    for (let i = 0; i < 5; i++) said.push(await say(town, `hello ${i}`))
    for (const [i, reader] of readers.entries()) {
      await until(handles[i]!, (doc) =>
        said.every(({ event }) => eventsIn(doc).some((e) => e.id === event.id)),
      )
      // Every change arrived by push, none by the router's Automerge sync.
      for (const { hash } of said) expect(reader.pushed.has(hash)).toBe(true)
      const synced = syncedChanges(reader, town.documentId)
      for (const { hash } of said) expect(synced.has(hash)).toBe(false)
      // Its echo confirmed the push (its heads cover a change it only got by push).
      await eventually(() => endpoint.fastPath.appliesPushes(reader.peerId) === true, 'proof')
    }
    // The exchange that was held back: echoes dropped, sync messages not sent.
    expect(
      endpoint.fastPath.stats.heldBack + endpoint.fastPath.stats.echoesDropped,
    ).toBeGreaterThan(heldBefore)
    for (const reader of readers) await reader.shutdown()
  })

  it('a reader offline while changes were pushed gets them by Automerge sync on reconnecting', async () => {
    const reader = await client('offline-reader', true, 200)
    const handle = await subscribe(reader, town)
    offline.add(reader.did)
    endpoint.adapter.closePeer(reader.peerId, 'test: network lost')
    await eventually(() => endpoint.adapter.didOf(reader.peerId) === undefined, 'disconnect')
    const said = [await say(town, 'while you were out 1'), await say(town, 'while you were out 2')]
    await eventually(
      () =>
        said.every(
          ({ hash }) =>
            A.getBackend(endpoint.repo.handles[town.documentId]!.doc()).getChangeMetaByHash(
              hash,
            ) !== null,
        ),
      'the router to apply them',
    )
    offline.delete(reader.did)
    await until(handle, (doc) =>
      said.every(({ event }) => eventsIn(doc).some((e) => e.id === event.id)),
    )
    for (const { hash } of said) expect(reader.pushed.has(hash)).toBe(false)
    // Back in step afterwards: the next change is pushed again.
    await eventually(() => endpoint.fastPath.inStep(reader.peerId, town.documentId), 'in step')
    const next = await say(town, 'welcome back')
    await until(handle, (doc) => eventsIn(doc).some((e) => e.id === next.event.id))
    await eventually(() => reader.pushed.has(next.hash), 'the push after reconnecting')
    await reader.shutdown()
  })

  it('a push the reader’s process lost is filled in by Automerge sync', async () => {
    const reader = await client('lossy-reader', true)
    const handle = await subscribe(reader, town)
    const first = await say(town, 'first, pushed')
    await eventually(() => reader.pushed.has(first.hash), 'the first push')
    await eventually(() => endpoint.fastPath.appliesPushes(reader.peerId) === true, 'proof')

    const timeouts = endpoint.fastPath.stats.timeouts
    reader.dropPushes = true
    const lost = await say(town, 'lost on the way')
    await eventually(
      () => endpoint.fastPath.stats.timeouts > timeouts,
      'the router to notice the unconfirmed push',
    )
    reader.dropPushes = false
    await until(handle, (doc) => eventsIn(doc).some((e) => e.id === lost.event.id))
    expect(reader.pushed.has(lost.hash)).toBe(false)
    expect(syncedChanges(reader, town.documentId).has(lost.hash)).toBe(true)

    // Still a push reader: once in step again, later changes come by push.
    await eventually(() => endpoint.fastPath.inStep(reader.peerId, town.documentId), 'in step')
    const later = await say(town, 'after the gap')
    await eventually(() => reader.pushed.has(later.hash), 'the push after the gap')
    await until(handle, (doc) => eventsIn(doc).some((e) => e.id === later.event.id))
    expect(endpoint.fastPath.appliesPushes(reader.peerId)).toBe(true)
    await reader.shutdown()
  })

  it('a lost push followed by more pushes (missing dependencies at the reader) still converges', async () => {
    const reader = await client('gap-reader', true)
    const handle = await subscribe(reader, town)
    const proof = await say(town, 'proof')
    await eventually(() => reader.pushed.has(proof.hash), 'the first push')
    reader.dropPushes = true
    const lost = await say(town, 'gap')
    reader.dropPushes = false
    // Depends on the lost one: the reader's validator refuses it (missing dependency).
    const after = [await say(town, 'after 1'), await say(town, 'after 2')]
    await until(handle, (doc) =>
      [lost, ...after].every(({ event }) => eventsIn(doc).some((e) => e.id === event.id)),
    )
    await reader.shutdown()
  })

  it('stock clients, which ignore pushes, converge by Automerge sync and stop getting pushes', async () => {
    const stock = await client('stock-reader', false)
    const handle = await stock.repo.find(town.documentId)
    await eventually(() => endpoint.fastPath.inStep(stock.peerId, town.documentId), 'in step')
    const said = [await say(town, 'to stock 1'), await say(town, 'to stock 2')]
    await until(handle, (doc) =>
      said.every(({ event }) => eventsIn(doc).some((e) => e.id === event.id)),
    )
    await eventually(() => endpoint.fastPath.appliesPushes(stock.peerId) === false, 'classified')
    const pushesBefore = stock.frames.filter((f) => f.type === PUSH_TYPE).length
    const more = await say(town, 'to stock 3')
    await until(handle, (doc) => eventsIn(doc).some((e) => e.id === more.event.id))
    expect(stock.frames.filter((f) => f.type === PUSH_TYPE).length).toBe(pushesBefore)
    await stock.shutdown()
  })

  it('non-members get nothing: no push, no change, for a private space', async () => {
    const privateOwner = await client('private-owner', true)
    const den = await createSpace(privateOwner, 'INVITES_ONLY')
    const outsider = await client('outsider', true)
    const member = await client('public-reader', true)
    await subscribe(member, town)
    // The outsider asks for the private document: refused like a missing one.
    const outsiderHandle = outsider.repo.find(den.documentId).catch(() => undefined)
    const secret = await say(den, 'members only')
    const publicNews = await say(town, 'for everyone')
    await eventually(() => member.pushed.has(publicNews.hash), 'the public push')
    await outsiderHandle
    const seen = JSON.stringify(
      outsider.frames.map((f) => ({ ...f, data: undefined, changes: undefined })),
    )
    expect(outsider.frames.some((f) => f.type === PUSH_TYPE)).toBe(false)
    expect(outsider.pushed.has(secret.hash)).toBe(false)
    expect(syncedChanges(outsider, den.documentId).size).toBe(0)
    expect(seen).not.toContain(secret.event.id)
    // The member of the public space got no push of the private one either.
    expect(member.pushed.has(secret.hash)).toBe(false)
    expect(member.frames.some((f) => f.documentId === den.documentId)).toBe(false)
    for (const c of [privateOwner, outsider, member]) await c.shutdown()
  })
})
