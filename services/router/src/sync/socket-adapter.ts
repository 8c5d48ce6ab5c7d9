import { NetworkAdapter } from '@automerge/automerge-repo'
import type { Message, PeerId, PeerMetadata, StorageId } from '@automerge/automerge-repo'
import type { Did } from '@hearth/identity'
import type { EphemeralFrame } from '@hearth/sync'
import type { WebSocket } from 'ws'
import { peerIdBelongsTo } from './peer-id.ts'
import {
  CLIENT_PUSH_TYPE,
  encodeFrame,
  MalformedFrameError,
  parseClientFrame,
  type DocFrame,
  type PushInFrame,
  type UnavailableFrame,
} from './wire.ts'

/** automerge-repo's WebSocket protocol version (the stock client offers only this one). */
const PROTOCOL_V1 = '1'
/** WebSocket close code for a broken rule (RFC 6455 "policy violation"). */
export const CLOSE_POLICY = 1008
/** WebSocket close code for a peer over its rate limit (RFC 6455 "try again later"). */
export const CLOSE_TRY_LATER = 1013
/** Frames received and not yet handled, per socket: above this the socket is paused. */
export const MAX_PENDING_FRAMES = 32
const RESUME_BELOW = 8

/** Whether a frame may go on now, later (its sender's tokens are owed), or not at all. */
export type Admission = { waitMs: number } | { refuse: string }

/** What the gate decided about a document frame. */
export type GateOutcome =
  { action: 'forward' } | { action: 'handled' } | { action: 'close'; reason: string }

export interface SessionInfo {
  did: Did
  ip: string
  peerId: PeerId
}

export interface SocketAdapterOptions {
  /**
   * Runs before a document frame reaches the Repo (and the validator behind it), in order per
   * socket: access control and everything that must answer without the Repo.
   */
  gate: (
    session: SessionInfo,
    frame: DocFrame | UnavailableFrame | PushInFrame,
  ) => Promise<GateOutcome>
  /** Peer ids refused for the life of the process (the validator banned them). */
  isBanned?: (peerId: PeerId) => boolean
  /** Told about every refused join or frame (metrics, logs). */
  onRefuse?: (refusal: { did: Did; ip: string; reason: string }) => void
  onSessionEnd?: (session: SessionInfo) => void
  /**
   * Rate limits for document frames: spends the sender's tokens on receipt; a frame that must
   * wait is handled that much later, with the socket paused meanwhile (TCP pushes back).
   */
  admit?: (session: SessionInfo, frame: DocFrame | UnavailableFrame | PushInFrame) => Admission
  /** A document frame was handled: seconds from receipt (rate-limit wait included). */
  onHandled?: (frame: DocFrame | UnavailableFrame | PushInFrame, seconds: number) => void
  /** An internal failure that cost one connection (logs). */
  onError?: (event: string, did: Did, error: unknown) => void
  /** A parsed `hearth-ephemeral` frame from a joined session (the relay checks the rest). */
  onEphemeral?: (session: SessionInfo, frame: EphemeralFrame) => void
}

interface Connection {
  socket: WebSocket
  did: Did
  ip: string
  session: SessionInfo | undefined
  queue: Promise<void>
  open: boolean
  /** Frames queued behind the gate (bounded: the socket is paused at MAX_PENDING_FRAMES). */
  pending: number
  paused: boolean
}

/**
 * The server side of automerge-repo's WebSocket protocol (CBOR `join` → `peer`, then Repo
 * messages) for sockets the router has already authenticated. Unlike the stock
 * `WebSocketServerAdapter`, a peer id must name the socket's DID (see peer-id.ts), a join for
 * a peer id held by a live socket of another DID is refused without touching that socket,
 * every frame is parsed at the edge (anything malformed closes that socket only), the sender
 * of every frame is the socket's bound peer, and document frames pass the gate first.
 */
export class AuthenticatedSocketAdapter extends NetworkAdapter {
  readonly #options: SocketAdapterOptions
  readonly #byPeer = new Map<PeerId, Connection>()
  /** Live sessions per DID (ephemeral delivery). Bounded by the connection caps per DID. */
  readonly #byDid = new Map<Did, Set<SessionInfo>>()
  readonly #connections = new Set<Connection>()
  #ready = false
  readonly #readyWaiters: (() => void)[] = []

  constructor(options: SocketAdapterOptions) {
    super()
    this.#options = options
  }

  isReady(): boolean {
    return this.#ready
  }

  whenReady(): Promise<void> {
    if (this.#ready) return Promise.resolve()
    return new Promise((resolve) => this.#readyWaiters.push(resolve))
  }

  connect(peerId: PeerId, peerMetadata?: PeerMetadata): void {
    this.peerId = peerId
    this.peerMetadata = peerMetadata
    this.#ready = true
    for (const resolve of this.#readyWaiters.splice(0)) resolve()
  }

  disconnect(): void {
    for (const connection of this.#connections)
      connection.socket.close(1001, 'router shutting down')
  }

  /** The DID bound to a live peer id. */
  didOf(peerId: PeerId): Did | undefined {
    return this.#byPeer.get(peerId)?.did
  }

  /** Live sessions of one DID. */
  sessionsOf(did: Did): ReadonlySet<SessionInfo> {
    return this.#byDid.get(did) ?? new Set()
  }

  /** How many DIDs have at least one live session. */
  get onlineDids(): number {
    return this.#byDid.size
  }

  /** The DIDs with at least one live session. */
  liveDids(): IterableIterator<Did> {
    return this.#byDid.keys()
  }

  /** Live sessions (joined sockets). */
  sessions(): SessionInfo[] {
    return [...this.#byPeer.values()].flatMap((c) => (c.session ? [c.session] : []))
  }

  send(message: Message): void {
    this.sendFrame(message.targetId, message)
  }

  /** Sends a frame of any type (Repo messages, `doc-unavailable`, our acknowledgements). */
  sendFrame(targetId: PeerId, frame: object): void {
    const connection = this.#byPeer.get(targetId)
    if (!connection?.open) return
    if ('data' in frame && frame.data instanceof Uint8Array && frame.data.byteLength === 0) return
    connection.socket.send(encodeFrame(frame))
  }

  /** Sends a frame already encoded (the fast path encodes a push once for all its recipients). */
  sendEncoded(targetId: PeerId, bytes: Uint8Array): void {
    const connection = this.#byPeer.get(targetId)
    if (!connection?.open) return
    connection.socket.send(bytes)
  }

  /** Closes the socket bound to `peerId` (a validator ban, a policy decision). */
  closePeer(peerId: PeerId, reason: string): void {
    const connection = this.#byPeer.get(peerId)
    if (connection) this.#close(connection, reason)
  }

  /** Takes an authenticated socket: the DID comes from the ticket, never from the peer. */
  accept(socket: WebSocket, did: Did, ip: string): void {
    const connection: Connection = {
      socket,
      did,
      ip,
      session: undefined,
      queue: Promise.resolve(),
      open: true,
      pending: 0,
      paused: false,
    }
    this.#connections.add(connection)
    socket.binaryType = 'nodebuffer'
    socket.on('message', (data, isBinary) => this.#receive(connection, data, isBinary))
    socket.on('close', () => this.#closed(connection))
  }

  #refuse(connection: Connection, reason: string, code = CLOSE_POLICY): void {
    this.#options.onRefuse?.({ did: connection.did, ip: connection.ip, reason })
    this.#close(connection, reason, code)
  }

  #close(connection: Connection, reason: string, code = CLOSE_POLICY): void {
    if (!connection.open) return
    connection.open = false
    // A paused socket would never read the peer's close frame (ws then waits 30 s to destroy
    // it): resume, and whatever it still delivers is ignored (the connection is not open).
    if (connection.paused) {
      connection.paused = false
      connection.socket.resume()
    }
    // Closing code and a short reason only; the socket is ours to end, the process goes on.
    connection.socket.close(code, reason.slice(0, 120))
    this.#unbind(connection)
  }

  #closed(connection: Connection): void {
    connection.open = false
    this.#connections.delete(connection)
    this.#unbind(connection)
  }

  #unbind(connection: Connection): void {
    const session = connection.session
    if (!session || this.#byPeer.get(session.peerId) !== connection) return
    this.#byPeer.delete(session.peerId)
    const ofDid = this.#byDid.get(session.did)
    ofDid?.delete(session)
    if (ofDid?.size === 0) this.#byDid.delete(session.did)
    this.emit('peer-disconnected', { peerId: session.peerId })
    this.#options.onSessionEnd?.(session)
  }

  #receive(connection: Connection, data: unknown, isBinary: boolean): void {
    if (!connection.open) return
    let parsed
    try {
      parsed = parseClientFrame(data, isBinary)
    } catch (error) {
      this.#refuse(
        connection,
        error instanceof MalformedFrameError ? error.message : 'malformed frame',
      )
      return
    }
    if (parsed.kind === 'ignored') return
    if (parsed.kind === 'join') {
      this.#join(connection, parsed.frame)
      return
    }
    const session = connection.session
    if (!session) return this.#refuse(connection, 'document frame before join')
    if (parsed.kind === 'ephemeral') {
      this.#options.onEphemeral?.(session, parsed.frame)
      return
    }
    const frame = parsed.frame
    if (frame.senderId !== session.peerId)
      return this.#refuse(connection, 'sender is not the bound peer')
    if (frame.targetId !== this.peerId) return this.#refuse(connection, 'target is not this router')
    const admission = this.#options.admit?.(session, frame) ?? { waitMs: 0 }
    if ('refuse' in admission) return this.#refuse(connection, admission.refuse, CLOSE_TRY_LATER)
    const receivedAt = performance.now()
    const readyAt = admission.waitMs > 0 ? Date.now() + admission.waitMs : 0
    connection.pending++
    if (!connection.paused && (readyAt > 0 || connection.pending >= MAX_PENDING_FRAMES)) {
      connection.paused = true
      connection.socket.pause()
    }
    connection.queue = connection.queue.then(async () => {
      try {
        if (readyAt > Date.now())
          await new Promise((resolve) => setTimeout(resolve, readyAt - Date.now()))
        await this.#handle(connection, session, frame)
        this.#options.onHandled?.(frame, (performance.now() - receivedAt) / 1000)
      } finally {
        connection.pending--
        if (connection.paused && connection.pending < RESUME_BELOW) {
          connection.paused = false
          connection.socket.resume()
        }
      }
    })
  }

  async #handle(
    connection: Connection,
    session: SessionInfo,
    frame: DocFrame | UnavailableFrame | PushInFrame,
  ): Promise<void> {
    if (!connection.open) return
    let outcome: GateOutcome
    try {
      outcome = await this.#options.gate(session, frame)
    } catch (error) {
      // A gate bug costs this connection, never the process.
      this.#options.onError?.('gate.failed', session.did, error)
      outcome = { action: 'close', reason: 'internal error' }
    }
    if (!connection.open || this.#byPeer.get(session.peerId) !== connection) return
    if (outcome.action === 'close') return this.#refuse(connection, outcome.reason)
    // Our own push frames are the endpoint's to handle; only Repo messages reach the Repo.
    if (outcome.action === 'forward' && frame.type !== CLIENT_PUSH_TYPE) this.emit('message', frame)
  }

  #join(
    connection: Connection,
    frame: {
      senderId: string
      peerMetadata?: { storageId?: string; isEphemeral?: boolean }
      supportedProtocolVersions?: string[]
    },
  ): void {
    if (connection.session) return this.#refuse(connection, 'second join on one connection')
    const peerId = frame.senderId as PeerId
    if (!peerIdBelongsTo(peerId, connection.did))
      return this.#refuseJoin(connection, peerId, `peer id must be ${connection.did}#<device>`)
    const holder = this.#byPeer.get(peerId)
    // Unreachable while the binding rule holds (a peer id names its DID); kept so that a
    // change to the rule can never let one DID's join end another's session.
    if (holder && holder.did !== connection.did)
      return this.#refuseJoin(connection, peerId, 'peer id is in use')
    if (this.#options.isBanned?.(peerId))
      return this.#refuseJoin(connection, peerId, 'peer id refused')
    const versions = frame.supportedProtocolVersions
    if (versions !== undefined && !versions.includes(PROTOCOL_V1))
      return this.#refuseJoin(connection, peerId, 'unsupported protocol version')
    // The same DID reconnecting (a tab that lost its network): the new socket wins, as in
    // the stock server; the old one can only be that DID's own.
    if (holder) {
      this.#close(holder, 'replaced by a newer connection of this peer')
    }
    const session: SessionInfo = { did: connection.did, ip: connection.ip, peerId }
    connection.session = session
    this.#byPeer.set(peerId, connection)
    let ofDid = this.#byDid.get(session.did)
    if (!ofDid) this.#byDid.set(session.did, (ofDid = new Set()))
    ofDid.add(session)
    const metadata: PeerMetadata = { isEphemeral: frame.peerMetadata?.isEphemeral ?? false }
    // Sync states are stored per storage id: a claimed storage id is scoped to its DID, so
    // nobody can read or overwrite the sync state kept for another user's store.
    if (frame.peerMetadata?.storageId !== undefined)
      metadata.storageId = `${connection.did}|${frame.peerMetadata.storageId}` as StorageId
    this.emit('peer-candidate', { peerId, peerMetadata: metadata })
    this.sendFrame(peerId, {
      type: 'peer',
      senderId: this.peerId,
      peerMetadata: this.peerMetadata ?? {},
      selectedProtocolVersion: PROTOCOL_V1,
      targetId: peerId,
    })
  }

  #refuseJoin(connection: Connection, peerId: string, message: string): void {
    if (connection.open)
      connection.socket.send(
        encodeFrame({ type: 'error', senderId: this.peerId, message, targetId: peerId }),
      )
    this.#refuse(connection, message)
  }
}
