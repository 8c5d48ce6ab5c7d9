import type { Did } from '@hearth/identity'
import type { EventId, EventKind, Role, SpaceEvent, SpaceId, SpaceMode } from '../events/schema.ts'

/** Position in the canonical order: causal depth (longest path from genesis), then id. */
export interface Ord {
  readonly depth: number
  readonly id: EventId
}

export function compareOrd(a: Ord, b: Ord): number {
  if (a.depth !== b.depth) return a.depth - b.depth
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0
}

export type MemberStatus = 'invited' | 'member' | 'left' | 'banned'

export type InvalidReason =
  | 'wrong-space'
  /** A kind this version does not know (a newer peer's): stored and synced, never applied. */
  | 'unknown-kind'
  /** A known kind whose body fails its schema. */
  | 'malformed-body'
  | 'second-genesis'
  | 'filtered-by-ban'
  | 'filtered-by-revocation'
  | 'key-not-bound'
  | 'key-revoked'
  | 'key-bound-elsewhere'
  | 'not-member'
  | 'banned'
  | 'not-admin'
  | 'not-moderator'
  | 'not-invited'
  | 'already-member'
  | 'already-invited'
  | 'self-invite'
  | 'one-to-one-full'
  | 'self-target'
  | 'target-banned'
  | 'target-not-banned'
  | 'target-not-member'
  | 'role-unchanged'
  | 'unknown-proposal'
  | 'vote-before-proposal'
  | 'not-in-electorate'
  | 'target-cannot-vote'
  | 'duplicate-vote'
  | 'proposal-closed'
  | 'already-bound'
  | 'not-author'
  | 'not-permitted'
  | 'unknown-target'
  | 'invalid-target'
  | 'target-after-event'
  | 'wrong-target-kind'

export interface InvalidEntry {
  readonly reason: InvalidReason
  /** The event's kind; for 'unknown-kind', the kind name as sent. */
  readonly kind: EventKind | (string & {})
  readonly author: Did
}

export type PendingReason = 'missing-parents' | 'missing-reply-target'

export interface MemberView {
  readonly did: Did
  readonly status: MemberStatus
  readonly role: Role
  /** Device keys bound to this DID and not revoked. */
  readonly keys: readonly string[]
  readonly revokedKeys: readonly string[]
  /** The key of the member's first binding (genesis or join): other keys show "new device". */
  readonly firstKey: string | null
  readonly invitedBy: Did | null
}

export type ProposalAction = 'ban' | 'unban' | 'role'

export interface ProposalView {
  readonly id: EventId
  readonly action: ProposalAction
  readonly target: Did
  readonly role: Role | null
  readonly proposer: Did
  /** Admins at the proposal's position, without the target. */
  readonly electorate: ReadonlySet<Did>
  /** Yes votes, one per DID; the proposer's is implied. */
  readonly votes: ReadonlySet<Did>
  readonly status: 'open' | 'passed' | 'void'
  readonly decidedBy: EventId | null
  /** An admin's re-invite of a banned member: an unban vote that ends in an invite (R15). */
  readonly reinvite: boolean
}

export interface Lww<T> {
  value: T
  at: Ord
}

export type ContainerType = 'channel' | 'thread' | 'page'

export interface ContainerView {
  readonly id: EventId
  readonly type: ContainerType
  readonly creator: Did
  readonly name: string
  readonly archived: boolean
  /** For threads and pages: the channel they hang off. */
  readonly channel: EventId | null
  readonly root: EventId | null
  readonly text: string | null
}

export interface MessageView {
  readonly id: EventId
  readonly author: Did
  readonly key: string
  readonly keyChanged: boolean
  readonly channel: EventId | null
  readonly thread: EventId | null
  readonly replyTo: EventId | null
  /** Current text (last edit in canonical order); null once redacted. */
  readonly text: string | null
  readonly edited: boolean
  readonly redacted: boolean
  /** Where gardening moved it (a channel, thread or page), null if never moved. */
  readonly movedTo: EventId | null
  readonly movedBy: Did | null
  /** emoji -> DIDs that reacted (empty after redaction). */
  readonly reactions: ReadonlyMap<string, ReadonlySet<Did>>
  readonly ts: number
}

export interface SpaceProfile {
  readonly name: string | null
  readonly description: string | null
  readonly avatar: string | null
}

export interface AutomodSettings {
  readonly keywords: readonly string[]
  readonly maxMessagesPerMinute: number | null
  readonly maxRepeats: number | null
}

export interface SpaceState {
  readonly spaceId: SpaceId
  readonly mode: SpaceMode | null
  readonly creator: Did | null
  readonly profile: SpaceProfile
  readonly members: ReadonlyMap<Did, MemberView>
  readonly memberProfiles: ReadonlyMap<Did, { displayName: string | null; avatar: string | null }>
  readonly proposals: ReadonlyMap<EventId, ProposalView>
  readonly containers: ReadonlyMap<EventId, ContainerView>
  readonly messages: ReadonlyMap<EventId, MessageView>
  readonly automod: AutomodSettings | null
  /** Every event that broke a rule, with why: the same on every replica with the same events. */
  readonly invalid: ReadonlyMap<EventId, InvalidEntry>
  readonly pending: ReadonlyMap<EventId, PendingReason>
  /** Events applied (valid and in effect). */
  readonly applied: number
}

/** What the reducer needs to know about the event set: order, ancestry. */
export interface EventGraph {
  event(id: EventId): SpaceEvent | undefined
  ord(id: EventId): Ord | undefined
  /** Ids in the causal past of `id` (inclusive) whose event satisfies `match`. */
  ancestorsMatching(id: EventId, match: (e: SpaceEvent) => boolean): Set<EventId>
}
