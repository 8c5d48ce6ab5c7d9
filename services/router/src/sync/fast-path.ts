import * as A from '@automerge/automerge'
import { cbor } from '@automerge/automerge-repo'
import type { DocumentId, Message, PeerId } from '@automerge/automerge-repo'
import { changesInBlob, PUSH_TYPE } from '@hearth/sync'

/**
 * The router's fast path and its bargain with Automerge sync (docs/architecture.md, "The fast
 * path"). A validated change is pushed to every subscriber at once; for a peer that is *in
 * step* (its heads equalled the router's, and every change the router accepted since was
 * pushed to it) the per-peer Automerge sync exchange is held back, because it would only
 * repeat the push:
 *
 * - the Repo's own sync messages to it are not generated (the peer is taken out of the
 *   document's synchronizer at each push) or, when a reply is generated anyway, held back if
 *   they carry nothing but pushed changes;
 * - its own sync messages that carry nothing new (its heads known to the router, every change
 *   in them known: the echo of a push) are answered by nobody: dropped before the validator
 *   and the Repo, after they served as the acknowledgement of the push.
 *
 * Anti-entropy stays Automerge sync: a push the peer does not confirm (its heads never come to
 * cover it) within `confirmTimeoutMs` takes the peer out of step and starts a fresh sync round
 * with it (`beginSync`: a sync state reduced to the shared heads, then the ordinary exchange),
 * as does any batch the router accepts but cannot push to it. A peer that never confirms a
 * push at all (the stock client, which ignores the frame) is classified as such after its first
 * timeout and gets plain Automerge sync, without pushes, for the rest of its session. The
 * bookkeeping is per session: a reconnect starts from the ordinary sync exchange.
 */

// The pushed-changes frame and its cap are protocol, defined once in @hearth/sync: more new
// changes in one message (a first sync's whole document) are left to Automerge sync.

/**
 * Pushed changes remembered per document with a subscriber (hash → deps), to recognise echoes
 * and confirmations: ~100 bytes each. Older ones are simply not recognised (their echo reaches
 * the Repo, as without the fast path).
 */
const RECENT_PER_DOCUMENT = 512
/** Unconfirmed pushes per peer and document, at most (more: the peer is resynced). */
const MAX_OUTSTANDING = 256

export interface FastPathOptions {
  /** How long a push may stay unconfirmed by the peer's own heads before a sync round. */
  confirmTimeoutMs?: number
  /** An in-step peer gets a sync round this often while pushes flow (refreshes both states). */
  refreshMs?: number
  now?: () => number
}

/** What the fast path needs from the router's Repo and sockets. */
export interface FastPathHost {
  /** The router document's heads, when it is loaded. */
  heads(documentId: DocumentId): string[] | undefined
  /** Whether the router's document holds this change. */
  hasChange(documentId: DocumentId, hash: string): boolean
  /** Stop the Repo's own sync of this document with this peer (the push replaces it). */
  holdOut(peerId: PeerId, documentId: DocumentId): void
  /** Start an ordinary Automerge sync round with this peer (anti-entropy). */
  resync(peerId: PeerId, documentId: DocumentId): void
  sendEncoded(peerId: PeerId, bytes: Uint8Array): void
}

export interface PushedChange {
  hash: string
  deps: readonly string[]
  bytes: Uint8Array
}

interface PeerDocument {
  inStep: boolean
  /** Pushes not yet covered by the peer's heads, oldest first. */
  outstanding: { hashes: string[]; at: number }[]
  /** Pushes since the last sync round with this peer. */
  pushedSinceRound: boolean
  lastRound: number
  /** Let the next message reach the Repo (the reply of a sync round we started). */
  passNext: boolean
}

interface PeerState {
  /** undefined: not known yet; true: applies pushes; false: ignores them (stock client). */
  appliesPushes: boolean | undefined
  documents: Map<DocumentId, PeerDocument>
}

interface DocumentTrack {
  /** Changes pushed recently, hash → deps (insertion order: oldest first). */
  recent: Map<string, readonly string[]>
  /** Accepted and pushed, maybe not applied by the Repo yet: nobody enters step meanwhile. */
  unapplied: Set<string>
}

export interface FastPathStats {
  pushes: number
  framesSent: number
  echoesDropped: number
  heldBack: number
  resyncs: number
  timeouts: number
}

/**
 * Encodes one push frame for many recipients: the CBOR map is encoded once with `targetId`
 * last, and each recipient's bytes are that encoding with its own peer id as the last value.
 */
export function encodePushFrames(
  senderId: PeerId,
  documentId: DocumentId,
  changes: readonly Uint8Array[],
): (targetId: PeerId) => Uint8Array {
  const template = cbor.encode({
    type: PUSH_TYPE,
    senderId,
    documentId,
    changes,
    targetId: '',
  })
  // The template ends with the empty text string (0x60) that stands for the target id.
  const head = template.subarray(0, template.byteLength - 1)
  return (targetId) => {
    const tail = cbor.encode(targetId)
    const out = new Uint8Array(head.byteLength + tail.byteLength)
    out.set(head)
    out.set(tail, head.byteLength)
    return out
  }
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false
  const set = new Set(a)
  return b.every((x) => set.has(x))
}

export class FastPath {
  readonly #host: FastPathHost
  readonly #routerPeerId: PeerId
  readonly #confirmTimeoutMs: number
  readonly #refreshMs: number
  readonly #now: () => number
  readonly #peers = new Map<PeerId, PeerState>()
  readonly #documents = new Map<DocumentId, DocumentTrack>()
  readonly #timer: ReturnType<typeof setInterval>
  readonly stats: FastPathStats = {
    pushes: 0,
    framesSent: 0,
    echoesDropped: 0,
    heldBack: 0,
    resyncs: 0,
    timeouts: 0,
  }

  constructor(host: FastPathHost, routerPeerId: PeerId, options: FastPathOptions = {}) {
    this.#host = host
    this.#routerPeerId = routerPeerId
    this.#confirmTimeoutMs = options.confirmTimeoutMs ?? 2000
    this.#refreshMs = options.refreshMs ?? 10_000
    this.#now = options.now ?? Date.now
    const tick = Math.max(10, Math.min(250, Math.floor(this.#confirmTimeoutMs / 4)))
    this.#timer = setInterval(() => this.tick(), tick)
    this.#timer.unref()
  }

  close(): void {
    clearInterval(this.#timer)
  }

  #peer(peerId: PeerId): PeerState {
    let peer = this.#peers.get(peerId)
    if (!peer) this.#peers.set(peerId, (peer = { appliesPushes: undefined, documents: new Map() }))
    return peer
  }

  #peerDocument(peer: PeerState, documentId: DocumentId): PeerDocument {
    let track = peer.documents.get(documentId)
    if (!track)
      peer.documents.set(
        documentId,
        (track = {
          inStep: false,
          outstanding: [],
          pushedSinceRound: false,
          lastRound: this.#now(),
          passNext: false,
        }),
      )
    return track
  }

  #document(documentId: DocumentId): DocumentTrack {
    let track = this.#documents.get(documentId)
    if (!track)
      this.#documents.set(documentId, (track = { recent: new Map(), unapplied: new Set() }))
    return track
  }

  /** Whether this peer (still) gets pushes: not once it showed it ignores them. */
  wantsPushes(peerId: PeerId): boolean {
    return this.#peers.get(peerId)?.appliesPushes !== false
  }

  /** Whether the peer is in step for this document (tests, metrics). */
  inStep(peerId: PeerId, documentId: DocumentId): boolean {
    return this.#peers.get(peerId)?.documents.get(documentId)?.inStep ?? false
  }

  /** undefined until known; false for a peer that ignores pushes. */
  appliesPushes(peerId: PeerId): boolean | undefined {
    return this.#peers.get(peerId)?.appliesPushes
  }

  /**
   * Pushes validated changes (new to the router, in the order applied) to `recipients` and
   * records them. Every subscriber that is not a recipient (and not the source, which has
   * them) leaves step.
   */
  push(
    source: PeerId,
    documentId: DocumentId,
    changes: readonly PushedChange[],
    recipients: readonly PeerId[],
  ): void {
    const document = this.#document(documentId)
    for (const change of changes) {
      document.recent.set(change.hash, change.deps)
      document.unapplied.add(change.hash)
    }
    while (document.recent.size > RECENT_PER_DOCUMENT)
      document.recent.delete(document.recent.keys().next().value!)
    if (document.unapplied.size > RECENT_PER_DOCUMENT) this.#settle(documentId, document)
    this.stats.pushes++
    const hashes = changes.map((c) => c.hash)
    const frameFor = encodePushFrames(
      this.#routerPeerId,
      documentId,
      changes.map((c) => c.bytes),
    )
    const now = this.#now()
    const reached = new Set<PeerId>([source])
    for (const peerId of recipients) {
      const peer = this.#peer(peerId)
      if (peer.appliesPushes === false) continue
      this.#host.sendEncoded(peerId, frameFor(peerId))
      this.stats.framesSent++
      reached.add(peerId)
      const track = this.#peerDocument(peer, documentId)
      if (!track.inStep) continue
      if (track.outstanding.length >= MAX_OUTSTANDING) {
        this.#resync(peerId, documentId, track)
        continue
      }
      track.outstanding.push({ hashes, at: now })
      track.pushedSinceRound = true
      // The push replaces the Repo's sync message for these changes to this peer.
      this.#host.holdOut(peerId, documentId)
    }
    this.#leaveStepExcept(documentId, reached)
  }

  /** The router accepted changes it does not push (too many at once): everyone resyncs. */
  notPushed(source: PeerId, documentId: DocumentId, hashes: readonly string[]): void {
    const document = this.#document(documentId)
    for (const hash of hashes) document.unapplied.add(hash)
    this.#leaveStepExcept(documentId, new Set([source]))
  }

  #leaveStepExcept(documentId: DocumentId, keep: ReadonlySet<PeerId>): void {
    for (const [peerId, peer] of this.#peers) {
      if (keep.has(peerId)) continue
      const track = peer.documents.get(documentId)
      if (track?.inStep) this.#resync(peerId, documentId, track)
    }
  }

  #resync(peerId: PeerId, documentId: DocumentId, track: PeerDocument): void {
    track.inStep = false
    track.outstanding = []
    track.pushedSinceRound = false
    track.lastRound = this.#now()
    this.stats.resyncs++
    this.#host.resync(peerId, documentId)
  }

  /** Drops hashes the Repo has applied from `unapplied`. */
  #settle(documentId: DocumentId, document: DocumentTrack): void {
    for (const hash of document.unapplied)
      if (this.#host.hasChange(documentId, hash)) document.unapplied.delete(hash)
  }

  /**
   * An incoming `sync` message from a peer, after the gate allowed it and before the
   * validator: 'drop' for an echo that only confirms pushes, 'pass' for everything else.
   */
  inspect(peerId: PeerId, documentId: DocumentId, data: Uint8Array): 'drop' | 'pass' {
    let message: A.DecodedSyncMessage
    try {
      message = A.decodeSyncMessage(data)
    } catch {
      return 'pass' // the validator refuses it
    }
    const peer = this.#peer(peerId)
    const track = this.#peerDocument(peer, documentId)
    const document = this.#document(documentId)
    if (track.outstanding.length > 0) this.#confirm(peer, track, document, message.heads)
    if (peer.appliesPushes === false) return 'pass'
    if (message.need.length > 0) return 'pass'
    const known = this.#knownChanges(documentId, document, message.changes)
    if (!known) return 'pass'
    if (!track.inStep) {
      const heads = this.#host.heads(documentId)
      if (!heads || !sameSet(heads, message.heads)) return 'pass'
      this.#settle(documentId, document)
      if (document.unapplied.size > 0) return 'pass'
      track.inStep = true
      track.outstanding = []
      return 'pass'
    }
    if (track.passNext) {
      track.passNext = false
      return 'pass'
    }
    for (const head of message.heads)
      if (!document.recent.has(head) && !this.#host.hasChange(documentId, head)) return 'pass'
    this.stats.echoesDropped++
    return 'drop'
  }

  /** Every change in the message is one the router has (pushed recently, or in its document). */
  #knownChanges(
    documentId: DocumentId,
    document: DocumentTrack,
    blobs: readonly Uint8Array[],
  ): boolean {
    try {
      // Change chunks, or a whole-document chunk (Automerge sends one when it judges the
      // receiver far behind): both are lists of changes.
      for (const blob of blobs)
        for (const { decoded } of changesInBlob(blob)) {
          const hash = decoded.hash
          if (!document.recent.has(hash) && !this.#host.hasChange(documentId, hash)) return false
        }
    } catch {
      return false
    }
    return true
  }

  /** Removes the pushes the peer's heads cover (walking deps among recently pushed changes). */
  #confirm(
    peer: PeerState,
    track: PeerDocument,
    document: DocumentTrack,
    heads: readonly string[],
  ): void {
    const wanted = new Set(track.outstanding.flatMap((o) => o.hashes))
    const seen = new Set<string>()
    const stack = [...heads]
    while (stack.length > 0 && wanted.size > 0) {
      const hash = stack.pop()!
      if (seen.has(hash)) continue
      seen.add(hash)
      wanted.delete(hash)
      const deps = document.recent.get(hash)
      if (deps) stack.push(...deps)
    }
    const before = track.outstanding.length
    track.outstanding = track.outstanding.filter((o) => o.hashes.some((h) => wanted.has(h)))
    // Its heads cover a change that reached it only by push (the Repo's sync to a peer in
    // step is held back): this peer applies pushes.
    if (track.outstanding.length < before && peer.appliesPushes === undefined)
      peer.appliesPushes = true
  }

  /**
   * An outgoing Repo message: true to hold it back. Held back, for a peer in step: every
   * `sync` message while it has not shown that it applies pushes (it must get them by push to
   * show it), and then those carrying only pushed changes. Its sync state on the router then
   * believes the message sent, which is true of the changes: they were pushed. A lost push is
   * the confirmation timeout's business (a fresh sync round).
   */
  holdsBack(message: Message): boolean {
    if (message.type !== 'sync' || !message.documentId) return false
    const peer = this.#peers.get(message.targetId)
    const track = peer?.documents.get(message.documentId)
    if (!peer || !track?.inStep || peer.appliesPushes === false) return false
    let decoded: A.DecodedSyncMessage
    try {
      decoded = A.decodeSyncMessage(message.data as Uint8Array)
    } catch {
      return false
    }
    if (decoded.need.length > 0) return false
    let hold: boolean
    if (peer.appliesPushes === undefined) hold = true
    else if (decoded.changes.length === 0) hold = false
    else hold = this.#onlyPushed(this.#document(message.documentId), decoded.changes)
    if (hold) this.stats.heldBack++
    return hold
  }

  #onlyPushed(document: DocumentTrack, blobs: readonly Uint8Array[]): boolean {
    try {
      for (const blob of blobs)
        for (const { decoded } of changesInBlob(blob))
          if (!document.recent.has(decoded.hash)) return false
    } catch {
      return false
    }
    return true
  }

  /** Timeouts and periodic rounds. */
  tick(): void {
    const now = this.#now()
    for (const [peerId, peer] of this.#peers)
      for (const [documentId, track] of peer.documents) {
        if (!track.inStep) continue
        const oldest = track.outstanding[0]
        if (oldest && now - oldest.at > this.#confirmTimeoutMs) {
          this.stats.timeouts++
          // Never confirmed anything: it ignores pushes (a stock client). Plain sync from now.
          if (peer.appliesPushes === undefined) peer.appliesPushes = false
          this.#resync(peerId, documentId, track)
          continue
        }
        if (
          peer.appliesPushes === true &&
          track.pushedSinceRound &&
          now - track.lastRound > this.#refreshMs
        ) {
          // Refresh both sync states (the router's knowledge of the peer, and the peer's of
          // the router), which the held-back exchange leaves stale; the reply must pass.
          track.pushedSinceRound = false
          track.lastRound = now
          track.passNext = true
          this.#host.resync(peerId, documentId)
        }
      }
  }

  /** A session ended: everything about it goes (a reconnect starts from ordinary sync). */
  endSession(peerId: PeerId): void {
    this.#peers.delete(peerId)
  }

  /** Nobody syncs the document any more: what was remembered of its pushes goes. */
  forgetDocument(documentId: DocumentId): void {
    this.#documents.delete(documentId)
  }

  /** A session stopped syncing a document (access ended). */
  endDocument(peerId: PeerId, documentId: DocumentId): void {
    this.#peers.get(peerId)?.documents.delete(documentId)
  }
}
