// Pure views of a space's state for the UI: the channel tree, members by role, what badge
// a message wears, who may do what. Everything here reads the reducer's state and never
// keeps untrusted strings as plain-object keys (S16): Maps and arrays only.

import type { Did } from '@hearth/identity'
import type {
  ContainerView,
  EventId,
  MemberView,
  MessageView,
  ProposalView,
  Role,
  SpaceState,
} from '@hearth/sync'
import { cleanName, shortDid } from '../render/names.ts'

export interface ChannelNode {
  channel: ContainerView
  threads: ContainerView[]
}

function byName(a: ContainerView, b: ContainerView): number {
  const an = cleanName(a.name).toLowerCase()
  const bn = cleanName(b.name).toLowerCase()
  return an < bn ? -1 : an > bn ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0
}

/** Channels (open ones, then archived), each with its threads, sorted by name. */
export function channelTree(state: SpaceState): { open: ChannelNode[]; archived: ChannelNode[] } {
  const threads = new Map<EventId, ContainerView[]>()
  const channels: ContainerView[] = []
  for (const c of state.containers.values()) {
    if (c.type === 'channel') channels.push(c)
    else if (c.type === 'thread' && c.channel) {
      const list = threads.get(c.channel) ?? []
      list.push(c)
      threads.set(c.channel, list)
    }
  }
  channels.sort(byName)
  const node = (channel: ContainerView): ChannelNode => ({
    channel,
    threads: (threads.get(channel.id) ?? []).filter((t) => !t.archived).sort(byName),
  })
  return {
    open: channels.filter((c) => !c.archived).map(node),
    archived: channels.filter((c) => c.archived).map(node),
  }
}

/** The containers keyboard navigation walks through: open channels and their threads, in order. */
export function navigableContainers(state: SpaceState): EventId[] {
  return channelTree(state).open.flatMap((n) => [n.channel.id, ...n.threads.map((t) => t.id)])
}

export interface MemberGroup {
  role: Role | 'invited'
  label: string
  members: MemberView[]
}

const ROLE_LABEL: Record<Role | 'invited', string> = {
  admin: 'Admins',
  moderator: 'Moderators',
  member: 'Members',
  invited: 'Invited',
}

/** Members grouped by role (admins first), then the invited; left and banned are not listed. */
export function memberGroups(state: SpaceState): MemberGroup[] {
  const groups = new Map<Role | 'invited', MemberView[]>([
    ['admin', []],
    ['moderator', []],
    ['member', []],
    ['invited', []],
  ])
  for (const m of state.members.values()) {
    if (m.status === 'member') groups.get(m.role)!.push(m)
    else if (m.status === 'invited') groups.get('invited')!.push(m)
  }
  const out: MemberGroup[] = []
  for (const [role, members] of groups) {
    if (members.length === 0) continue
    members.sort((a, b) => {
      const an = displayName(state, a.did).toLowerCase()
      const bn = displayName(state, b.did).toLowerCase()
      return an < bn ? -1 : an > bn ? 1 : a.did < b.did ? -1 : 1
    })
    out.push({ role, label: ROLE_LABEL[role], members })
  }
  return out
}

/** A member's chosen name (cleaned), or their short DID when they set none. */
export function displayName(state: SpaceState, did: Did): string {
  const chosen = cleanName(state.memberProfiles.get(did)?.displayName)
  return chosen || shortDid(did)
}

export interface AuthorLabel {
  /** The chosen name (cleaned), or null. */
  name: string | null
  /** Always from the verified DID, shown beside the name: a name alone proves nothing (S15). */
  did: Did
  short: string
}

export function authorLabel(state: SpaceState, did: Did): AuthorLabel {
  const name = cleanName(state.memberProfiles.get(did)?.displayName) || null
  return { name, did, short: shortDid(did) }
}

export type Badge = 'verified' | 'key-changed' | 'invalid' | 'unverified'

/**
 * What a message's signature tells the reader. Every message in the state passed the
 * signature check at ingress; what is left is whose key it was:
 * - `verified`: the author's first device key, still bound to them in this space;
 * - `key-changed`: another key of the author's (a new device) — a loud hint to compare fingerprints;
 * - `invalid`: signed by a key the author has since revoked;
 * - `unverified`: the key is not (or no longer) bound to the author here.
 */
export function messageBadge(state: SpaceState, message: MessageView): Badge {
  const member = state.members.get(message.author)
  if (!member) return 'unverified'
  if (member.revokedKeys.includes(message.key)) return 'invalid'
  if (!member.keys.includes(message.key)) return 'unverified'
  return message.keyChanged ? 'key-changed' : 'verified'
}

export const BADGE_LABEL: Record<Badge, string> = {
  verified: 'Verified',
  'key-changed': 'Key changed',
  invalid: 'Invalid',
  unverified: 'Unverified',
}

export function roleOf(state: SpaceState, did: Did): Role | null {
  const m = state.members.get(did)
  return m?.status === 'member' ? m.role : null
}

export function isModerator(state: SpaceState, did: Did): boolean {
  const role = roleOf(state, did)
  return role === 'admin' || role === 'moderator'
}

export function isAdmin(state: SpaceState, did: Did): boolean {
  return roleOf(state, did) === 'admin'
}

/** Who may invite in this space's mode. */
export function mayInvite(state: SpaceState, did: Did): boolean {
  const role = roleOf(state, did)
  if (role === null) return false
  if (state.mode === 'ADMIN_INVITES_ONLY') return role === 'admin'
  return state.mode === 'INVITES_ONLY' || state.mode === 'PUBLIC'
}

export function mayRedact(state: SpaceState, did: Did, message: MessageView): boolean {
  return message.author === did || isModerator(state, did)
}

/** The newest message of `did` that can still be edited (Up arrow in an empty composer). */
export function lastOwnMessage(timeline: readonly MessageView[], did: Did): MessageView | null {
  for (let i = timeline.length - 1; i >= 0; i--) {
    const m = timeline[i]!
    if (m.author === did && !m.redacted && m.text !== null) return m
  }
  return null
}

export interface ReactionChip {
  emoji: string
  count: number
  mine: boolean
}

export function reactionChips(message: MessageView, me: Did | null): ReactionChip[] {
  const chips: ReactionChip[] = []
  for (const [emoji, dids] of message.reactions)
    if (dids.size > 0) chips.push({ emoji, count: dids.size, mine: me !== null && dids.has(me) })
  return chips
}

/** Messages after the last one read, not counting one's own. */
export function unreadCount(
  timeline: readonly MessageView[],
  lastRead: EventId | null,
  me: Did | null,
): number {
  let start = 0
  if (lastRead !== null) {
    const i = timeline.findIndex((m) => m.id === lastRead)
    if (i >= 0) start = i + 1
  }
  let n = 0
  for (let i = start; i < timeline.length; i++) if (timeline[i]!.author !== me) n++
  return n
}

export interface ProposalStatus {
  proposal: ProposalView
  votes: number
  electorate: number
  /** Votes a strict majority needs. */
  needed: number
  mayVote: boolean
}

export function openProposals(state: SpaceState, me: Did | null): ProposalStatus[] {
  const out: ProposalStatus[] = []
  for (const p of state.proposals.values()) {
    if (p.status !== 'open') continue
    const electorate = p.electorate.size
    out.push({
      proposal: p,
      votes: p.votes.size,
      electorate,
      needed: Math.floor(electorate / 2) + 1,
      mayVote: me !== null && p.electorate.has(me) && !p.votes.has(me) && p.target !== me,
    })
  }
  return out
}

export function spaceName(state: SpaceState, fallback: string | null): string {
  return cleanName(state.profile.name ?? fallback) || 'Unnamed space'
}

export function containerName(container: ContainerView | undefined): string {
  return cleanName(container?.name) || 'unnamed'
}
