import * as A from '@automerge/automerge'
import type { DocumentId, PeerId } from '@automerge/automerge-repo'
import type { Did } from '@hearth/identity'
import { TokenBuckets } from '@hearth/limits'
import {
  MESSAGE_DOCUMENT_CAPACITY,
  type DocumentRole,
  type EphemeralFrame,
  type MemberView,
  type PeerRejection,
} from '@hearth/sync'
import { silentLogger, type Logger } from './log.ts'
import type { RouterMetrics } from './metrics.ts'
import {
  EphemeralRelay,
  type EphemeralDropReason,
  type EphemeralLimits,
} from './sync/ephemeral-relay.ts'
import type { Admission, SessionInfo, SocketAdapterOptions } from './sync/socket-adapter.ts'
import type { DocFrame, PushInFrame, UnavailableFrame } from './sync/wire.ts'

/** Rate limits on document frames (sync, request, doc-unavailable, client pushes). */
export interface FrameLimits {
  /** Per DID, all its sockets together: burst and refill per second, in frame units. */
  perDidBurst: number
  perDidPerSecond: number
  /** Per space (all documents of the space, every DID together). */
  perSpaceBurst: number
  perSpacePerSecond: number
  /** A frame costs 1 unit plus 1 per this many bytes of payload. */
  bytesPerUnit: number
  /** A frame owed more than this long is refused (the socket closes with 1013). */
  maxWaitMs: number
  /** Rate-limit keys (DIDs, spaces) tracked at once. */
  maxKeys: number
  /**
   * Document quotas. Event wire bytes per document: stored as base64url (x4/3) plus Automerge's
   * own overhead, 16 MiB keeps a whole-document snapshot under the storage's 32 MiB chunk cap.
   */
  maxDocumentEventBytes: number
  /**
   * Events per message document: honest writers move to the next document at
   * MESSAGE_DOCUMENT_CAPACITY; the slack covers writers racing at the boundary.
   */
  maxMessageDocumentEvents: number
  /** New spaces a DID may open on this router: a burst, then so many a day. */
  spaceCreationBurst: number
  spaceCreationsPerDay: number
}

export const DEFAULT_FRAME_LIMITS: FrameLimits = {
  perDidBurst: 1000,
  perDidPerSecond: 200,
  // Every online member's client answers each pushed change with its heads (the fast path's
  // confirmation): 50 members at 10 messages/s already make ~500-1,000 frames/s. The per-DID
  // bucket stops one abuser; this one bounds a whole space, so it leaves room for a busy one.
  perSpaceBurst: 20_000,
  perSpacePerSecond: 5000,
  bytesPerUnit: 16 * 1024,
  maxWaitMs: 10_000,
  maxKeys: 100_000,
  maxDocumentEventBytes: 16 * 1024 * 1024,
  maxMessageDocumentEvents: MESSAGE_DOCUMENT_CAPACITY + 1000,
  spaceCreationBurst: 20,
  spaceCreationsPerDay: 100,
}

type AnyDocFrame = DocFrame | UnavailableFrame | PushInFrame

/** A refusal's free-text reason as a small fixed set of metric labels. */
export function refusalLabel(reason: string): string {
  if (reason.startsWith('malformed frame')) return 'malformed-frame'
  if (reason.startsWith('rejected:')) return 'rejected-change'
  if (reason.startsWith('document quota')) return 'document-quota'
  if (reason.startsWith('rate limit'))
    return reason.includes('space') ? 'rate-limited-space' : 'rate-limited-did'
  if (reason.startsWith('peer id') || reason.includes('join')) return 'bad-join'
  if (reason === 'resync') return 'resync'
  if (reason.startsWith('replaced')) return 'replaced'
  if (reason === 'internal error') return 'internal-error'
  return 'policy'
}

export interface SessionGuardOptions {
  /** Document → its role in a space (per-space buckets, document quotas). */
  roleOf: (documentId: DocumentId) => DocumentRole | undefined
  /**
   * The events a document already holds (its first sight in this process: loaded from disk).
   * Undefined when it is not loaded; it is then counted from its next accepted changes.
   */
  storedEvents?: (documentId: DocumentId) => Uint8Array[] | undefined
  members: (spaceId: string) => ReadonlyMap<Did, MemberView>
  sessionsOf: (did: Did) => Iterable<SessionInfo>
  online?: { count: () => number; dids: () => Iterable<Did> }
  send: (peerId: PeerId, frame: object) => void
  frameLimits?: Partial<FrameLimits>
  ephemeralLimits?: Partial<EphemeralLimits>
  now?: () => number
}

/**
 * What stands between a peer and the router's resources, beside access control: rate limits
 * per DID and per space on document frames, the ephemeral relay, and the counting and logging
 * of every refusal. The sync endpoint plugs `adapterHooks` into its socket adapter; the
 * router `attach`es its metrics and logger when it starts.
 */
export class SessionGuard {
  readonly ephemeral: EphemeralRelay
  readonly limits: FrameLimits
  #metrics: RouterMetrics | undefined
  #log: Logger = silentLogger
  readonly #options: SessionGuardOptions
  readonly #byDid: TokenBuckets
  readonly #bySpace: TokenBuckets
  readonly #creations: TokenBuckets
  /** Events and their bytes per document (bounded by the documents the router holds). */
  readonly #usage = new Map<DocumentId, { events: number; bytes: number }>()

  constructor(options: SessionGuardOptions) {
    this.#options = options
    this.limits = { ...DEFAULT_FRAME_LIMITS, ...options.frameLimits }
    const now = options.now ?? Date.now
    this.#byDid = new TokenBuckets({
      capacity: this.limits.perDidBurst,
      refillPerSecond: this.limits.perDidPerSecond,
      maxKeys: this.limits.maxKeys,
      now,
    })
    this.#bySpace = new TokenBuckets({
      capacity: this.limits.perSpaceBurst,
      refillPerSecond: this.limits.perSpacePerSecond,
      maxKeys: this.limits.maxKeys,
      now,
    })
    this.#creations = new TokenBuckets({
      capacity: this.limits.spaceCreationBurst,
      refillPerSecond: this.limits.spaceCreationsPerDay / 86_400,
      maxKeys: this.limits.maxKeys,
      now,
    })
    this.ephemeral = new EphemeralRelay({
      members: options.members,
      sessionsOf: options.sessionsOf,
      ...(options.online ? { online: options.online } : {}),
      send: options.send,
      ...(options.ephemeralLimits ? { limits: options.ephemeralLimits } : {}),
      now,
      onDrop: (reason, session) => this.#ephemeralDropped(reason, session),
      onRelay: (_frame, deliveries, seconds) => {
        this.#metrics?.ephemeralRelayed.inc(deliveries)
        this.#metrics?.ephemeralSeconds.observe(seconds)
      },
    })
  }

  get log(): Logger {
    return this.#log
  }

  attach(context: { metrics?: RouterMetrics; log?: Logger }): void {
    if (context.metrics) this.#metrics = context.metrics
    if (context.log) this.#log = context.log
  }

  /** Spends the sender's tokens (its DID, then the document's space) for one frame. */
  admit(session: SessionInfo, frame: AnyDocFrame): Admission {
    this.#metrics?.messages.inc({ type: frame.type })
    const bytes =
      'data' in frame
        ? frame.data.byteLength
        : 'changes' in frame
          ? frame.changes.reduce((n, c) => n + c.byteLength, 0)
          : 0
    const cost = 1 + Math.floor(bytes / this.limits.bytesPerUnit)
    const byDid = this.#byDid.reserve(session.did, cost, this.limits.maxWaitMs)
    if (!byDid.ok) return this.#limited(session, 'did')
    let waitMs = byDid.waitMs
    const role = this.#options.roleOf(frame.documentId)
    if (role !== undefined) {
      const bySpace = this.#bySpace.reserve(role.spaceId, cost, this.limits.maxWaitMs)
      if (!bySpace.ok) return this.#limited(session, 'space')
      waitMs = Math.max(waitMs, bySpace.waitMs)
      if (this.isFull(frame.documentId) && carriesChanges(frame)) {
        this.#log.warn('document.quota', { did: session.did, documentId: frame.documentId })
        return { refuse: 'document quota exceeded' }
      }
    }
    if (waitMs > 0) this.#metrics?.rejections.inc({ reason: 'rate-delayed' })
    return { waitMs }
  }

  /**
   * Changes the validator accepted into a document (its events' wire bytes, per change): what
   * the document quotas count. A document over quota takes no more changes from anyone (the
   * frame that carries them closes its socket); reading it goes on.
   */
  accepted(documentId: DocumentId, events: readonly (readonly Uint8Array[])[]): void {
    let usage = this.#usage.get(documentId)
    if (!usage) {
      usage = { events: 0, bytes: 0 }
      for (const bytes of this.#options.storedEvents?.(documentId) ?? []) {
        usage.events++
        usage.bytes += bytes.byteLength
      }
      this.#usage.set(documentId, usage)
    }
    for (const change of events)
      for (const bytes of change) {
        usage.events++
        usage.bytes += bytes.byteLength
      }
  }

  /**
   * May `did` open a new space here? Spends one of its creations (a space already known, such
   * as a creation being retried, costs nothing). Refused creations look like any refusal.
   */
  mayCreateSpace(did: Did, known: boolean): boolean {
    if (known) return true
    if (this.#creations.take(did).ok) return true
    this.#metrics?.rejections.inc({ reason: 'space-quota' })
    this.#log.warn('space.quota', { did })
    return false
  }

  /** Is the document at its quota (events for a message document, bytes for any)? */
  isFull(documentId: DocumentId): boolean {
    const usage = this.#usage.get(documentId)
    if (!usage) return false
    if (usage.bytes >= this.limits.maxDocumentEventBytes) return true
    return (
      this.#options.roleOf(documentId)?.kind === 'messages' &&
      usage.events >= this.limits.maxMessageDocumentEvents
    )
  }

  /** The hooks for `AuthenticatedSocketAdapter` (chaining the caller's own `onRefuse`). */
  adapterHooks(
    onRefuse?: SocketAdapterOptions['onRefuse'],
  ): Pick<SocketAdapterOptions, 'admit' | 'onEphemeral' | 'onRefuse' | 'onHandled' | 'onError'> {
    return {
      onError: (event, did, error) => this.#log.error(event, { did }, error),
      admit: (session, frame) => this.admit(session, frame),
      onEphemeral: (session, frame: EphemeralFrame) => {
        this.ephemeral.receive(session, frame).catch((error: unknown) => {
          this.#log.error('ephemeral.failed', { did: session.did }, error)
        })
      },
      onRefuse: (refusal) => {
        const reason = refusalLabel(refusal.reason)
        this.#metrics?.rejections.inc({ reason })
        this.#log.info('socket.refused', { did: refusal.did, reason })
        onRefuse?.(refusal)
      },
      onHandled: (frame, seconds) =>
        this.#metrics?.frameSeconds.observe({ type: frame.type }, seconds),
    }
  }

  /** A validator rejection (an invalid change): counted and logged, never its contents. */
  rejected(rejection: PeerRejection & { did: Did | undefined }): void {
    this.#metrics?.rejections.inc({ reason: `change-${rejection.kind}` })
    this.#log.warn('change.rejected', {
      did: rejection.did,
      kind: rejection.kind,
      reason: rejection.reason.slice(0, 200),
    })
  }

  #limited(session: SessionInfo, scope: 'did' | 'space'): Admission {
    // Counted once, by onRefuse, as the socket closes (rate-limited-did / -space).
    this.#log.warn('frame.rate-limited', { did: session.did, reason: scope })
    return { refuse: `rate limit exceeded (${scope})` }
  }

  #ephemeralDropped(reason: EphemeralDropReason, session: SessionInfo): void {
    this.#metrics?.ephemeralDropped.inc({ reason })
    this.#log.info('ephemeral.dropped', { did: session.did, reason })
  }
}

/** Does a document frame carry changes (decoded only for a document at its quota)? */
function carriesChanges(frame: AnyDocFrame): boolean {
  if (frame.type === 'doc-unavailable') return false
  if (!('data' in frame)) return frame.changes.length > 0
  try {
    return A.decodeSyncMessage(frame.data).changes.length > 0
  } catch {
    return true
  }
}
