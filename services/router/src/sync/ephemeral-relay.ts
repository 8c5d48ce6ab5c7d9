import type { PeerId } from '@automerge/automerge-repo'
import type { Did } from '@hearth/identity'
import { BoundedCache, TokenBuckets } from '@hearth/limits'
import { EPHEMERAL_SKEW_MS, verifyEphemeral, type EphemeralFrame } from '@hearth/sync'
import type { MemberView } from '@hearth/sync'
import type { SessionInfo } from './socket-adapter.ts'

/** Why the router dropped an ephemeral frame (a metric label: a small fixed set). */
export type EphemeralDropReason =
  | 'author-not-sender'
  | 'rate-limited'
  | 'stale'
  | 'not-member'
  | 'key-not-bound'
  | 'target-not-member'
  | 'bad-signature'
  | 'replayed'
  | 'replay-cache-full'

export interface EphemeralLimits {
  /** Per author DID: burst and refill per second (all kinds, all spaces). */
  perDidBurst: number
  perDidPerSecond: number
  /** Per space: burst and refill per second (all members together). */
  perSpaceBurst: number
  perSpacePerSecond: number
  /** How far `ts` may be from the router's clock, either way. */
  skewMs: number
  /** Nonces remembered (for twice the skew window, after which `ts` refuses a replay anyway). */
  maxNonces: number
  /** Rate-limit keys tracked at once (DIDs, spaces). */
  maxKeys: number
}

export const DEFAULT_EPHEMERAL_LIMITS: EphemeralLimits = {
  perDidBurst: 30,
  perDidPerSecond: 10,
  perSpaceBurst: 300,
  perSpacePerSecond: 100,
  skewMs: EPHEMERAL_SKEW_MS,
  maxNonces: 200_000,
  maxKeys: 100_000,
}

export interface EphemeralRelayOptions {
  /** The space's members from its reducer (any status). */
  members: (spaceId: string) => ReadonlyMap<Did, MemberView>
  /** Live sessions of a DID. */
  sessionsOf: (did: Did) => Iterable<SessionInfo>
  /**
   * DIDs with a live session: a space with more members than there are DIDs online is
   * delivered by walking these instead of its member list.
   */
  online?: { count: () => number; dids: () => Iterable<Did> }
  send: (peerId: PeerId, frame: EphemeralFrame) => void
  limits?: Partial<EphemeralLimits>
  now?: () => number
  onDrop?: (reason: EphemeralDropReason, session: SessionInfo, frame: EphemeralFrame) => void
  /** Delivered: how many sessions got it, and how long the checks took. */
  onRelay?: (frame: EphemeralFrame, deliveries: number, seconds: number) => void
}

/**
 * Relays our signed ephemeral messages. A frame goes on only if its author is the socket's
 * DID and a joined member of the space, its key is one of the author's keys bound in that
 * space (the reducer's `keys`, revoked ones excluded), its signature verifies, its `ts` is
 * within the skew window and its nonce is new; then to the live sessions of the space's
 * joined members except the sending socket (the author's other devices do get it), or for a
 * poke or a signal only to the sessions of `to`, who must be a joined member. Presence is for
 * members only, in a PUBLIC space too: a reader who never joined neither announces itself nor
 * learns who is online (design §5, S9). Everything else is dropped and counted; the socket
 * stays (a malformed frame never gets here: the edge closes its socket).
 */
export class EphemeralRelay {
  readonly #options: EphemeralRelayOptions
  readonly #limits: EphemeralLimits
  readonly #now: () => number
  readonly #byDid: TokenBuckets
  readonly #bySpace: TokenBuckets
  readonly #nonces: BoundedCache

  constructor(options: EphemeralRelayOptions) {
    this.#options = options
    this.#limits = { ...DEFAULT_EPHEMERAL_LIMITS, ...options.limits }
    this.#now = options.now ?? Date.now
    const now = this.#now
    this.#byDid = new TokenBuckets({
      capacity: this.#limits.perDidBurst,
      refillPerSecond: this.#limits.perDidPerSecond,
      maxKeys: this.#limits.maxKeys,
      now,
    })
    this.#bySpace = new TokenBuckets({
      capacity: this.#limits.perSpaceBurst,
      refillPerSecond: this.#limits.perSpacePerSecond,
      maxKeys: this.#limits.maxKeys,
      now,
    })
    this.#nonces = new BoundedCache({
      ttlMs: 2 * this.#limits.skewMs,
      maxKeys: this.#limits.maxNonces,
      now,
    })
  }

  /** Checks and relays one frame; resolves once it is delivered or dropped. */
  async receive(session: SessionInfo, frame: EphemeralFrame): Promise<void> {
    const started = performance.now()
    const drop = (reason: EphemeralDropReason): void =>
      this.#options.onDrop?.(reason, session, frame)
    // Cheap checks first; the signature (the expensive one) only for frames that could pass.
    if (frame.author !== session.did) return drop('author-not-sender')
    if (!this.#byDid.take(session.did).ok) return drop('rate-limited')
    if (Math.abs(this.#now() - frame.ts) > this.#limits.skewMs) return drop('stale')
    const member = this.#options.members(frame.space).get(frame.author)
    if (member?.status !== 'member') return drop('not-member')
    if (!member.keys.includes(frame.key)) return drop('key-not-bound')
    if (frame.to !== undefined && this.#memberStatus(frame.space, frame.to) !== 'member')
      return drop('target-not-member')
    if (!this.#bySpace.take(frame.space).ok) return drop('rate-limited')
    if (!(await verifyEphemeral(frame))) return drop('bad-signature')
    // After the signature: nobody can burn someone else's nonce.
    const seen = this.#nonces.add(`${frame.author} ${frame.nonce}`)
    if (seen === 'present') return drop('replayed')
    if (seen === 'full') return drop('replay-cache-full')
    // Membership may have changed while the signature was checked (a ban): ask again.
    const members = this.#options.members(frame.space)
    if (members.get(frame.author)?.status !== 'member') return drop('not-member')
    let deliveries = 0
    const deliver = (did: Did): void => {
      for (const target of this.#options.sessionsOf(did)) {
        if (target.peerId === session.peerId) continue
        this.#options.send(target.peerId, frame)
        deliveries++
      }
    }
    if (frame.to !== undefined) {
      if (members.get(frame.to)?.status !== 'member') return drop('target-not-member')
      deliver(frame.to)
    } else if (this.#options.online && this.#options.online.count() < members.size) {
      for (const did of this.#options.online.dids())
        if (members.get(did)?.status === 'member') deliver(did)
    } else {
      for (const [did, view] of members) if (view.status === 'member') deliver(did)
    }
    this.#options.onRelay?.(frame, deliveries, (performance.now() - started) / 1000)
  }

  #memberStatus(spaceId: string, did: Did): MemberView['status'] | undefined {
    return this.#options.members(spaceId).get(did)?.status
  }
}
