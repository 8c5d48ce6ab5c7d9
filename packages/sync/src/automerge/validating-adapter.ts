import { NetworkAdapter } from '@automerge/automerge-repo'
import type {
  DocumentId,
  Message,
  NetworkAdapterInterface,
  PeerId,
  PeerMetadata,
} from '@automerge/automerge-repo'
import { ChangeRejectedError } from './change-rules.ts'
import type { Equivocation, RejectionKind } from './change-rules.ts'
import type { ChangeValidator } from './change-validator.ts'

export interface PeerRejection {
  peerId: PeerId
  documentId: DocumentId | undefined
  kind: RejectionKind
  reason: string
  hash: string | undefined
  /** Set when the refused change proves its device forked its own history. */
  equivocation?: Equivocation
}

export interface ValidatingAdapterOptions {
  /** Told about every refused message (metrics, logs, the router's per-DID accounting). */
  onReject?: (rejection: PeerRejection) => void
  /** Closes the transport to a peer (a WebSocket, say); the wrapper already hides it from the Repo. */
  closePeer?: (peerId: PeerId, rejection: PeerRejection) => void
  /**
   * Drops and re-opens the transport to a peer, so that both Repos start a fresh sync state
   * (a WebSocket: close it; the client reconnects). Used after a missing dependency: the
   * sender believes it already sent that change and, with its old sync state, never would
   * again. Without it the peer is only hidden from our Repo and offered again later.
   */
  resetPeer?: (peerId: PeerId) => void
  /** First delay before a peer dropped for missing dependencies is offered to the Repo again. */
  retryDelayMs?: number
}

const MAX_RETRY_DELAY_MS = 30_000

interface PeerState {
  metadata: PeerMetadata
  /** Messages are validated one after another, in arrival order. */
  queue: Promise<void>
  /** Bumped whenever the peer is hidden from the Repo: queued messages of an older epoch are dropped. */
  epoch: number
  hidden: boolean
  retries: number
  timer: ReturnType<typeof setTimeout> | undefined
}

/**
 * Wraps the real network adapter of a Repo and lets through only what the validator
 * accepts. Every byte of document data a Repo receives arrives as a `sync` or `request`
 * message, so this sees all of it without a fork of automerge-repo.
 * - `sync`/`request`: validated in order per peer; on a rule violation the message is
 *   dropped, the peer is banned for the life of this adapter, hidden from the Repo,
 *   closed and reported; on a missing dependency it is dropped and the peer is hidden and
 *   offered again later with a fresh sync state (no ban: an honest peer can be ahead of us).
 * - `ephemeral`: dropped. automerge-repo relays them unauthenticated to every peer of a
 *   document; presence and signalling travel in signed messages of our own instead.
 * - everything else carries no document data and passes, in order.
 */
/**
 * Peer ids refused for a rule violation, at most: a peer can mint new ids (a router sees one per
 * ticket), so the set is bounded, oldest forgotten first. A forgotten peer id is only refused
 * again at its next invalid change.
 */
export const MAX_BANNED_PEERS = 100_000

export class ValidatingNetworkAdapter extends NetworkAdapter {
  readonly #inner: NetworkAdapterInterface
  readonly #validator: ChangeValidator
  readonly #options: ValidatingAdapterOptions
  readonly #peers = new Map<PeerId, PeerState>()
  readonly #banned = new Set<PeerId>()

  constructor(
    inner: NetworkAdapterInterface,
    validator: ChangeValidator,
    options: ValidatingAdapterOptions = {},
  ) {
    super()
    this.#inner = inner
    this.#validator = validator
    this.#options = options
    inner.on('peer-candidate', ({ peerId, peerMetadata }) => {
      if (this.#banned.has(peerId)) return
      const existing = this.#peers.get(peerId)
      if (existing?.timer) clearTimeout(existing.timer)
      this.#peers.set(peerId, {
        metadata: peerMetadata,
        queue: Promise.resolve(),
        epoch: (existing?.epoch ?? 0) + 1,
        hidden: false,
        retries: 0,
        timer: undefined,
      })
      this.emit('peer-candidate', { peerId, peerMetadata })
    })
    inner.on('peer-disconnected', ({ peerId }) => {
      const peer = this.#peers.get(peerId)
      if (!peer) return
      if (peer.timer) clearTimeout(peer.timer)
      this.#peers.delete(peerId)
      const wasHidden = peer.hidden
      // Messages still queued from this connection must not reach the Repo after it was
      // told the peer left: they would feed a later session's sync state.
      peer.hidden = true
      peer.epoch++
      if (!wasHidden) this.emit('peer-disconnected', { peerId })
    })
    inner.on('close', () => this.emit('close'))
    inner.on('message', (message) => this.#receive(message))
  }

  isReady(): boolean {
    return this.#inner.isReady()
  }

  whenReady(): Promise<void> {
    return this.#inner.whenReady()
  }

  connect(peerId: PeerId, peerMetadata?: PeerMetadata): void {
    this.peerId = peerId
    this.peerMetadata = peerMetadata
    this.#inner.connect(peerId, peerMetadata)
  }

  send(message: Message): void {
    const peer = this.#peers.get(message.targetId)
    if (!peer || peer.hidden) return
    this.#inner.send(message)
  }

  disconnect(): void {
    for (const peer of this.#peers.values()) if (peer.timer) clearTimeout(peer.timer)
    this.#inner.disconnect()
  }

  /** Peers refused for breaking a rule. */
  get bannedPeers(): ReadonlySet<PeerId> {
    return this.#banned
  }

  #receive(message: Message): void {
    const peer = this.#peers.get(message.senderId)
    if (!peer || peer.hidden) return
    if (message.type === 'ephemeral') return
    const epoch = peer.epoch
    peer.queue = peer.queue.then(async () => {
      if (peer.epoch !== epoch || peer.hidden) return
      if (message.type === 'sync' || message.type === 'request') {
        const documentId = message.documentId
        try {
          if (!(message.data instanceof Uint8Array) || documentId === undefined)
            throw new ChangeRejectedError('invalid', 'sync message without data or document')
          await this.#validator.validateSyncMessage(documentId, message.data)
        } catch (error) {
          this.#reject(peer, message.senderId, documentId, error)
          return
        }
        // A message validated but then dropped leaves its changes known-valid: if the same
        // bytes come again they pass as known, which is right (same hash, same bytes).
        if (peer.epoch !== epoch || peer.hidden) return
      }
      this.emit('message', message)
    })
  }

  #reject(
    peer: PeerState,
    peerId: PeerId,
    documentId: DocumentId | undefined,
    error: unknown,
  ): void {
    const rejection: PeerRejection =
      error instanceof ChangeRejectedError
        ? {
            peerId,
            documentId,
            kind: error.kind,
            reason: error.reason,
            hash: error.hash,
            ...(error.equivocation ? { equivocation: error.equivocation } : {}),
          }
        : {
            peerId,
            documentId,
            kind: 'invalid',
            reason: `validator error: ${String(error).slice(0, 200)}`,
            hash: undefined,
          }
    peer.hidden = true
    peer.epoch++
    this.emit('peer-disconnected', { peerId })
    this.#options.onReject?.(rejection)
    if (rejection.kind === 'missing-deps' && this.#options.resetPeer) {
      this.#options.resetPeer(peerId)
      return
    }
    if (rejection.kind === 'missing-deps') {
      const delay = Math.min(
        (this.#options.retryDelayMs ?? 200) * 2 ** peer.retries,
        MAX_RETRY_DELAY_MS,
      )
      peer.retries++
      peer.timer = setTimeout(() => {
        peer.timer = undefined
        if (this.#peers.get(peerId) !== peer) return
        peer.hidden = false
        peer.epoch++
        this.emit('peer-candidate', { peerId, peerMetadata: peer.metadata })
      }, delay)
      return
    }
    this.#banned.add(peerId)
    if (this.#banned.size > MAX_BANNED_PEERS)
      this.#banned.delete(this.#banned.values().next().value!)
    this.#peers.delete(peerId)
    this.#options.closePeer?.(peerId, rejection)
  }
}
