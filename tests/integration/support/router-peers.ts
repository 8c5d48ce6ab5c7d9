// Peers of the real router for the router integration tests: each test file used to carry its own
// copy of these, and the copies drifted. Test-specific helpers stay in their test files.
import * as A from '@automerge/automerge'
import { cbor, Repo } from '@automerge/automerge-repo'
import type { DocHandle, DocumentId, PeerId } from '@automerge/automerge-repo'
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket'
import type { Devnet, DevnetAccount } from '@hearth/devnet'
import type { DeviceKey, Did } from '@hearth/identity'
import { ACK_TYPE, LXM_CREATE_TICKET } from '@hearth/router'
import {
  base64urlDecode,
  ChangeValidator,
  createSignedDocument,
  encodeSignedEvent,
  importVerified,
  parseBucketKey,
  parseSignedEvent,
  SignedWriter,
  signEvent,
  spaceDocumentId,
  ValidatingNetworkAdapter,
  verifySpaceEventBytes,
  type EventId,
  type SpaceEvent,
  type SpaceId,
  type SpaceMode,
} from '@hearth/sync'
import { expect } from 'vitest'
import WebSocket from 'ws'

/** Where tickets are bought: the router's base URL and its service-auth audience. */
export interface TicketDoor {
  url: string
  audience: string
}

/**
 * Signs in to the real PDS, gets a service-auth token for the router and buys a ticket with it:
 * the same path a real client takes, so sign-in is exercised wherever a test connects.
 */
export async function buyTicket(
  devnet: Devnet,
  account: DevnetAccount,
  door: TicketDoor,
): Promise<{ ticket: string; url: string }> {
  const agent = await devnet.login(account)
  const { data } = await agent.com.atproto.server.getServiceAuth({
    aud: door.audience,
    lxm: LXM_CREATE_TICKET,
  })
  const res = await fetch(`${door.url}/xrpc/${LXM_CREATE_TICKET}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${data.token}` },
  })
  expect(res.status).toBe(200)
  return (await res.json()) as { ticket: string; url: string }
}

/** The WebSocket URL a ticket opens. */
export function ticketUrl({ ticket, url }: { ticket: string; url: string }): string {
  return `${url}?ticket=${encodeURIComponent(ticket)}`
}

export type Frame = Record<string, unknown> & { type: string }

/** Collects decoded frames and resolves waiters on the first one that matches. */
export class FrameLog {
  readonly frames: Frame[] = []
  readonly #waiters: { match: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = []

  push(frame: Frame): void {
    this.frames.push(frame)
    for (const waiter of [...this.#waiters])
      if (waiter.match(frame)) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1)
        waiter.resolve(frame)
      }
  }

  next(match: (f: Frame) => boolean): Promise<Frame> {
    const seen = this.frames.find(match)
    if (seen) return Promise.resolve(seen)
    return new Promise((resolve) => this.#waiters.push({ match, resolve }))
  }
}

/** A Repo behind the stock WebSocketClientAdapter, with every frame it receives logged. */
export interface OpenedClient<V extends ChangeValidator | undefined> {
  repo: Repo
  validator: V
  adapter: WebSocketClientAdapter
  frames: FrameLog
}

/**
 * Opens a Repo on the stock WebSocketClientAdapter at `url`. `validated`: an honest Hearth client
 * (the validator in front of its Repo); otherwise the plain stock client. `track` gets the Repo
 * before the socket is up, so a test's cleanup shuts it down even if connecting hangs.
 */
export async function openClient<B extends boolean>(
  url: string,
  peerId: PeerId,
  validated: B,
  track?: (repo: Repo) => void,
): Promise<OpenedClient<B extends true ? ChangeValidator : undefined>> {
  const adapter = new WebSocketClientAdapter(url, 600_000)
  const validator = validated
    ? new ChangeValidator({ verifyEvent: verifySpaceEventBytes })
    : undefined
  const repo = new Repo({
    peerId,
    network: [validator ? new ValidatingNetworkAdapter(adapter, validator) : adapter],
    sharePolicy: async () => true,
  })
  validator?.attach(repo)
  track?.(repo)
  await adapter.whenReady()
  const frames = new FrameLog()
  adapter.socket!.addEventListener('message', (event) => {
    frames.push(cbor.decode(new Uint8Array(event.data as ArrayBuffer)))
  })
  return {
    repo,
    validator: validator as B extends true ? ChangeValidator : undefined,
    adapter,
    frames,
  }
}

/** A raw socket speaking the protocol by hand (what an attacker runs). */
export interface RawPeer {
  ws: WebSocket
  frames: FrameLog
  /** The close code, once the router (or the test) closes the socket. */
  closed: Promise<number>
  isOpen(): boolean
  send(frame: object): void
}

/** `track` gets the socket as soon as it exists, for a test's cleanup to terminate it. */
export async function rawPeer(url: string, track?: (ws: WebSocket) => void): Promise<RawPeer> {
  const ws = new WebSocket(url)
  track?.(ws)
  const frames = new FrameLog()
  let open = true
  const closed = new Promise<number>((resolve) =>
    ws.once('close', (code) => {
      open = false
      resolve(code)
    }),
  )
  ws.on('message', (data) => frames.push(cbor.decode(data as Buffer)))
  await new Promise((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
  })
  return {
    ws,
    frames,
    closed,
    isOpen: () => open,
    send: (frame) => ws.send(cbor.encode(frame)),
  }
}

/** Sends the protocol's join; the router answers `peer` (accepted) or `error` (refused). */
export async function joinRaw(peer: RawPeer, peerId: string): Promise<Frame> {
  peer.send({ type: 'join', senderId: peerId, peerMetadata: {}, supportedProtocolVersions: ['1'] })
  return peer.frames.next((f) => f.type === 'peer' || f.type === 'error')
}

/** The router's acknowledgement of a change, as seen in a client's frames. */
export function ackFor(
  client: { frames: FrameLog },
  documentId: DocumentId,
  hash: string,
): Promise<Frame> {
  return client.frames.next(
    (f) =>
      f.type === ACK_TYPE &&
      f.documentId === documentId &&
      Array.isArray(f.changes) &&
      f.changes.includes(hash),
  )
}

/** The valid signed events in a space document (unsigned or broken entries are skipped). */
export function eventsIn(doc: unknown): SpaceEvent[] {
  const out: SpaceEvent[] = []
  const root = doc as Record<string, unknown>
  for (const key of Object.keys(root)) {
    if (!parseBucketKey(key)) continue
    for (const entry of root[key] as unknown[]) {
      const parsed = parseSignedEvent(base64urlDecode(String(entry))!)
      if (parsed.ok) out.push(parsed.event)
    }
  }
  return out
}

export function eventIds(doc: unknown): Set<string> {
  return new Set(eventsIn(doc).map((event) => event.id))
}

/** Resolves once the handle's document satisfies `predicate` (checked now and on each change). */
export function until<T>(
  handle: DocHandle<T>,
  predicate: (doc: A.Doc<T>) => boolean,
): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (handle.isReady() && predicate(handle.doc())) {
        handle.off('change', check)
        resolve()
      }
    }
    handle.on('change', check)
    check()
  })
}

/** What writes to spaces: a validated client with its device key. */
export interface SpaceAuthor {
  did: Did
  key: DeviceKey
  repo: Repo
  validator: ChangeValidator | undefined
  frames: FrameLog
}

export interface Space {
  id: SpaceId
  documentId: DocumentId
  genesis: SpaceEvent
  writer: SignedWriter
  handle: DocHandle<unknown>
}

/**
 * The honest path: a signed genesis document imported through the owner's validator, pushed to
 * the router, and acknowledged by it.
 */
export async function createSpace(
  owner: SpaceAuthor,
  mode: SpaceMode,
  name: string,
): Promise<Space> {
  const genesis = await signEvent(owner.key, {
    space: null,
    kind: 'genesis',
    author: owner.did,
    parents: [],
    body: { mode, name, nonce: crypto.randomUUID() },
  })
  const documentId = spaceDocumentId(genesis.id)
  const bytes = await createSignedDocument(owner.key, [encodeSignedEvent(genesis)])
  const handle = await importVerified(owner.repo, owner.validator!, documentId, bytes)
  const writer = new SignedWriter(handle, owner.key, {
    onWrite: (accepted) => owner.validator!.noteLocalWrite(documentId, accepted),
  })
  await ackFor(owner, documentId, A.getHeads(handle.doc())[0]!)
  return { id: genesis.id as SpaceId, documentId, genesis, writer, handle }
}

/** Signs an event by `author` and appends it through `writer` (not awaiting the router). */
export async function writeEvent(
  author: SpaceAuthor,
  writer: SignedWriter,
  space: Pick<Space, 'id'>,
  kind: 'channel.create' | 'join' | 'invite' | 'proposal',
  body: Record<string, unknown>,
  parents: EventId[],
): Promise<{ event: SpaceEvent; hash: string }> {
  const event = await signEvent(author.key, {
    space: space.id,
    kind,
    author: author.did,
    parents,
    body: body as never,
  })
  const hash = await writer.append([encodeSignedEvent(event)])
  return { event, hash }
}
