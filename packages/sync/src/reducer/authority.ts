import type { Did } from '@hearth/identity'
import type { EventId, Role, SpaceEvent, SpaceId, SpaceMode } from '../events/schema.ts'
import {
  compareOrd,
  type EventGraph,
  type InvalidEntry,
  type InvalidReason,
  type MemberStatus,
  type MemberView,
  type Ord,
  type ProposalAction,
  type ProposalView,
} from './types.ts'

/**
 * Strong remove (R16): events matching `did` (a ban) or `key` (a revocation) that come before
 * `cutoff` in the canonical order and are not in `past` (the causal past of the ban proposal or
 * the revocation) are filtered, as if they had never been sent.
 */
export interface Filter {
  readonly source: EventId
  readonly reason: 'filtered-by-ban' | 'filtered-by-revocation'
  readonly did: Did | null
  readonly key: string | null
  readonly cutoff: Ord
  readonly past: ReadonlySet<EventId>
}

interface MemberRecord {
  did: Did
  status: MemberStatus
  role: Role
  keys: string[]
  revokedKeys: string[]
  firstKey: string | null
  invitedBy: Did | null
  pinnedKeys: readonly string[] | null
}

interface KeyRecord {
  did: Did
  boundAt: Ord
  revokedAt: Ord | null
}

interface ProposalRecord {
  id: EventId
  at: Ord
  action: ProposalAction
  target: Did
  role: Role | null
  proposer: Did
  electorate: Set<Did>
  votes: Set<Did>
  status: 'open' | 'passed' | 'void'
  decidedBy: EventId | null
  reinvite: boolean
}

interface HistoryEntry {
  at: Ord
  status: MemberStatus
  role: Role
}

export type ApplyResult =
  { ok: true } | { ok: false; reason: InvalidReason } | { ok: 'restart'; filter: Filter }

/**
 * The authority layer: membership, roles, keys, votes. Applied in canonical order to authority
 * events only; content never changes authority, so content can be judged afterwards (or
 * incrementally) against the timeline this records.
 */
export class Authority {
  readonly spaceId: SpaceId
  mode: SpaceMode | null = null
  creator: Did | null = null
  readonly members = new Map<Did, MemberRecord>()
  readonly keys = new Map<string, KeyRecord>()
  readonly proposals = new Map<EventId, ProposalRecord>()
  /** Filters in effect: pinned ones from earlier passes plus those installed during this pass. */
  readonly filters: Filter[]
  /** Bumped whenever a filter is installed or moved: what the incremental path watches. */
  filterChanges = 0
  /** Where refusals are listed (shared with content; re-pointed when a trial replay is adopted). */
  invalid: Map<EventId, InvalidEntry>
  applied = 0
  private readonly history = new Map<Did, HistoryEntry[]>()
  private readonly appliedByDid = new Map<Did, Ord[]>()
  private readonly appliedByKey = new Map<string, Ord[]>()
  private readonly graph: EventGraph

  constructor(
    spaceId: SpaceId,
    graph: EventGraph,
    pinned: readonly Filter[],
    invalid: Map<EventId, InvalidEntry>,
  ) {
    this.spaceId = spaceId
    this.invalid = invalid
    this.graph = graph
    this.filters = [...pinned]
  }

  // ---- queries for content (judged at their own position in the canonical order) ----

  statusAt(did: Did, at: Ord): HistoryEntry | null {
    const entries = this.history.get(did)
    if (!entries) return null
    let lo = 0
    let hi = entries.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (compareOrd(entries[mid]!.at, at) < 0) lo = mid + 1
      else hi = mid
    }
    return lo === 0 ? null : entries[lo - 1]!
  }

  filteredBy(e: SpaceEvent, at: Ord): Filter | null {
    for (const f of this.filters) {
      if ((f.did !== null && f.did === e.author) || (f.key !== null && f.key === e.key)) {
        if (compareOrd(at, f.cutoff) < 0 && !f.past.has(e.id)) return f
      }
    }
    return null
  }

  keyProblemAt(e: SpaceEvent, at: Ord): InvalidReason | null {
    const record = this.keys.get(e.key)
    if (!record || record.did !== e.author || compareOrd(record.boundAt, at) >= 0)
      return 'key-not-bound'
    if (record.revokedAt && compareOrd(at, record.revokedAt) > 0) return 'key-revoked'
    return null
  }

  /** Common gate for any non-genesis event other than a join: filters, key, membership. */
  gateAt(e: SpaceEvent, at: Ord): InvalidReason | null {
    const filter = this.filteredBy(e, at)
    if (filter) return filter.reason
    const status = this.statusAt(e.author, at)
    if (!status || status.status !== 'member')
      return status?.status === 'banned' ? 'banned' : 'not-member'
    return this.keyProblemAt(e, at)
  }

  roleAt(did: Did, at: Ord): Role | null {
    const status = this.statusAt(did, at)
    return status && status.status === 'member' ? status.role : null
  }

  // ---- applying authority events in canonical order ----

  apply(e: SpaceEvent, at: Ord): ApplyResult {
    const result = this.applyInner(e, at)
    if (result.ok === true) {
      this.applied++
      push(this.appliedByDid, e.author, at)
      push(this.appliedByKey, e.key, at)
    } else if (result.ok === false) {
      this.invalid.set(e.id, { reason: result.reason, kind: e.kind, author: e.author })
    }
    return result
  }

  private applyInner(e: SpaceEvent, at: Ord): ApplyResult {
    if (e.kind === 'genesis') {
      if (e.id !== this.spaceId) return bad('second-genesis')
      this.mode = e.body.mode
      this.creator = e.author
      const m = this.member(e.author)
      m.status = 'member'
      m.role = 'admin'
      this.bind(m, e.key, at)
      this.record(m, at)
      return { ok: true }
    }
    const filter = this.filteredBy(e, at)
    if (filter) return bad(filter.reason)
    if (e.kind === 'join') return this.join(e as SpaceEvent<'join'>, at)

    const author = this.members.get(e.author)
    if (e.kind === 'leave') {
      // Leaving is always valid for a member (R8). An invitee who declines simply never joins:
      // an unbound key cannot speak for them, not even to decline.
      if (!author || author.status !== 'member')
        return bad(author?.status === 'banned' ? 'banned' : 'not-member')
      const keyProblem = this.keyProblemAt(e, at)
      if (keyProblem) return bad(keyProblem)
      author.status = 'left'
      author.role = 'member'
      this.record(author, at)
      return { ok: true }
    }
    if (!author || author.status !== 'member')
      return bad(author?.status === 'banned' ? 'banned' : 'not-member')
    const keyProblem = this.keyProblemAt(e, at)
    if (keyProblem) return bad(keyProblem)

    switch (e.kind) {
      case 'invite':
        return this.invite(e as SpaceEvent<'invite'>, author, at)
      case 'proposal': {
        const b = (e as SpaceEvent<'proposal'>).body
        return this.propose(e.id, at, author, b.action, b.target, b.role ?? null, false)
      }
      case 'vote':
        return this.vote(e as SpaceEvent<'vote'>, author, at)
      case 'device.add': {
        const key = (e as SpaceEvent<'device.add'>).body.key
        const existing = this.keys.get(key)
        if (existing)
          return bad(
            existing.did !== author.did
              ? 'key-bound-elsewhere'
              : existing.revokedAt
                ? 'key-revoked'
                : 'already-bound',
          )
        this.bind(author, key, at)
        return { ok: true }
      }
      case 'device.revoke': {
        const key = (e as SpaceEvent<'device.revoke'>).body.key
        const record = this.keys.get(key)
        if (!record || record.did !== author.did) return bad('key-not-bound')
        if (record.revokedAt) return bad('key-revoked')
        record.revokedAt = at
        author.keys = author.keys.filter((k) => k !== key)
        author.revokedKeys.push(key)
        return this.installFilter({
          source: e.id,
          reason: 'filtered-by-revocation',
          did: null,
          key,
          cutoff: at,
          past: this.graph.ancestorsMatching(e.id, (x) => x.key === key),
        })
      }
      default:
        throw new TypeError(`not an authority event: ${e.kind}`)
    }
  }

  private join(e: SpaceEvent<'join'>, at: Ord): ApplyResult {
    const m = this.members.get(e.author)
    if (m?.status === 'banned') return bad('banned')
    if (m?.status === 'member') return bad('already-member')
    if (this.mode !== 'PUBLIC' && m?.status !== 'invited') return bad('not-invited')
    const record = this.keys.get(e.key)
    if (record && record.did !== e.author) return bad('key-bound-elsewhere')
    if (record?.revokedAt) return bad('key-revoked')
    const member = m ?? this.member(e.author)
    if (member.keys.length > 0 || member.revokedKeys.length > 0) {
      // A returning member signs with a device already bound to them.
      if (!record) return bad('key-not-bound')
    } else if (
      member.status === 'invited' &&
      member.pinnedKeys &&
      !member.pinnedKeys.includes(e.key)
    ) {
      // The inviter named the invitee's devices: someone else's key cannot answer the invite (R5).
      return bad('key-not-bound')
    }
    if (this.mode === 'ONE_TO_ONE' && member.status !== 'invited' && this.occupied() >= 2)
      return bad('one-to-one-full')
    member.status = 'member'
    member.role = 'member'
    if (!record) this.bind(member, e.key, at)
    this.record(member, at)
    return { ok: true }
  }

  private invite(e: SpaceEvent<'invite'>, author: MemberRecord, at: Ord): ApplyResult {
    const { invitee, keys } = e.body
    if (invitee === author.did) return bad('self-invite')
    if (
      (this.mode === 'ADMIN_INVITES_ONLY' || this.mode === 'ONE_TO_ONE') &&
      author.role !== 'admin'
    )
      return bad('not-admin')
    const target = this.members.get(invitee)
    if (target?.status === 'banned') {
      // R15: an admin's re-invite of a banned member is an unban proposal, never a bypass.
      if (author.role !== 'admin') return bad('target-banned')
      return this.propose(e.id, at, author, 'unban', invitee, null, true)
    }
    if (target?.status === 'member') return bad('already-member')
    if (target?.status === 'invited') return bad('already-invited')
    if (this.mode === 'ONE_TO_ONE' && this.occupied() >= 2) return bad('one-to-one-full')
    const m = target ?? this.member(invitee)
    m.status = 'invited'
    m.invitedBy = author.did
    m.pinnedKeys = keys ?? null
    this.record(m, at)
    return { ok: true }
  }

  private propose(
    id: EventId,
    at: Ord,
    author: MemberRecord,
    action: ProposalAction,
    target: Did,
    role: Role | null,
    reinvite: boolean,
  ): ApplyResult {
    if (author.role !== 'admin') return bad('not-admin')
    if (target === author.did) return bad('self-target')
    const problem = this.precondition(action, target, role)
    if (problem) return bad(problem)
    const electorate = new Set<Did>()
    for (const m of this.members.values())
      if (m.status === 'member' && m.role === 'admin' && m.did !== target) electorate.add(m.did)
    const proposal: ProposalRecord = {
      id,
      at,
      action,
      target,
      role,
      proposer: author.did,
      electorate,
      votes: new Set([author.did]),
      status: 'open',
      decidedBy: null,
      reinvite,
    }
    this.proposals.set(id, proposal)
    return this.tally(proposal, id, at)
  }

  private vote(e: SpaceEvent<'vote'>, author: MemberRecord, at: Ord): ApplyResult {
    const proposalOrd = this.graph.ord(e.body.proposal)
    if (proposalOrd && compareOrd(proposalOrd, at) >= 0) return bad('vote-before-proposal')
    const proposal = this.proposals.get(e.body.proposal)
    if (!proposal) return bad('unknown-proposal')
    if (author.did === proposal.target) return bad('target-cannot-vote')
    if (author.role !== 'admin') return bad('not-admin')
    if (!proposal.electorate.has(author.did)) return bad('not-in-electorate')
    if (proposal.status !== 'open') return bad('proposal-closed')
    if (proposal.votes.has(author.did)) return bad('duplicate-vote')
    proposal.votes.add(author.did)
    return this.tally(proposal, e.id, at)
  }

  private precondition(
    action: ProposalAction,
    target: Did,
    role: Role | null,
  ): InvalidReason | null {
    const t = this.members.get(target)
    if (action === 'ban') return t?.status === 'banned' ? 'target-banned' : null
    if (action === 'unban') return t?.status === 'banned' ? null : 'target-not-banned'
    if (!t || t.status !== 'member') return 'target-not-member'
    return t.role === role ? 'role-unchanged' : null
  }

  /** Strict majority of the electorate; decided by the event that reaches it. */
  private tally(p: ProposalRecord, decidingEvent: EventId, at: Ord): ApplyResult {
    if (p.votes.size * 2 <= p.electorate.size) return { ok: true }
    p.decidedBy = decidingEvent
    if (this.precondition(p.action, p.target, p.role)) {
      p.status = 'void'
      return { ok: true }
    }
    p.status = 'passed'
    const t = this.member(p.target)
    if (p.action === 'role') {
      t.role = p.role!
      this.record(t, at)
      return { ok: true }
    }
    if (p.action === 'unban') {
      t.status = p.reinvite ? 'invited' : 'left'
      t.role = 'member'
      if (p.reinvite) t.invitedBy = p.proposer
      this.record(t, at)
      return { ok: true }
    }
    t.status = 'banned'
    t.role = 'member'
    this.record(t, at)
    return this.installFilter({
      source: p.id,
      reason: 'filtered-by-ban',
      did: p.target,
      key: null,
      cutoff: at,
      past: this.graph.ancestorsMatching(p.id, (x) => x.author === p.target),
    })
  }

  /**
   * A new strong-remove filter. If it would retract an authority event this pass already
   * applied, the pass must restart with the filter pinned (its effects may cascade: a filtered
   * invite takes its joins with it, a filtered vote may undo a decision).
   */
  private installFilter(filter: Filter): ApplyResult {
    // Pinned by an earlier pass: its cutoff only ever moves later (if this pass decides the
    // ban later than the pass that pinned it), so restarts stop after finitely many.
    const pinned = this.filters.find((f) => f.source === filter.source)
    if (pinned && compareOrd(pinned.cutoff, filter.cutoff) >= 0) return { ok: true }
    const applied = filter.did
      ? this.appliedByDid.get(filter.did)
      : this.appliedByKey.get(filter.key!)
    for (const at of applied ?? []) {
      if (compareOrd(at, filter.cutoff) < 0 && !filter.past.has(at.id))
        return { ok: 'restart', filter }
    }
    if (pinned) this.filters.splice(this.filters.indexOf(pinned), 1, filter)
    else this.filters.push(filter)
    this.filterChanges++
    return { ok: true }
  }

  private occupied(): number {
    let n = 0
    for (const m of this.members.values()) if (m.status === 'member' || m.status === 'invited') n++
    return n
  }

  private member(did: Did): MemberRecord {
    let m = this.members.get(did)
    if (!m) {
      m = {
        did,
        status: 'left',
        role: 'member',
        keys: [],
        revokedKeys: [],
        firstKey: null,
        invitedBy: null,
        pinnedKeys: null,
      }
      this.members.set(did, m)
    }
    return m
  }

  private bind(m: MemberRecord, key: string, at: Ord): void {
    this.keys.set(key, { did: m.did, boundAt: at, revokedAt: null })
    m.keys.push(key)
    m.firstKey ??= key
  }

  private record(m: MemberRecord, at: Ord): void {
    const entries = this.history.get(m.did)
    const entry = { at, status: m.status, role: m.role }
    if (entries) entries.push(entry)
    else this.history.set(m.did, [entry])
  }

  memberViews(): Map<Did, MemberView> {
    const out = new Map<Did, MemberView>()
    for (const m of this.members.values()) {
      out.set(m.did, {
        did: m.did,
        status: m.status,
        role: m.role,
        keys: [...m.keys],
        revokedKeys: [...m.revokedKeys],
        firstKey: m.firstKey,
        invitedBy: m.invitedBy,
      })
    }
    return out
  }

  proposalViews(): Map<EventId, ProposalView> {
    const out = new Map<EventId, ProposalView>()
    for (const p of this.proposals.values()) {
      out.set(p.id, {
        id: p.id,
        action: p.action,
        target: p.target,
        role: p.role,
        proposer: p.proposer,
        electorate: new Set(p.electorate),
        votes: new Set(p.votes),
        status: p.status,
        decidedBy: p.decidedBy,
        reinvite: p.reinvite,
      })
    }
    return out
  }

  /**
   * Where two authority replays start to differ, for each DID whose standing differs: what
   * content by that DID from that position on was judged against. Null if the filters differ
   * (strong remove reaches anyone's events: only a full recompute is safe).
   */
  divergenceFrom(other: Authority): Map<Did, Ord> | null {
    if (this.filters.length !== other.filters.length) return null
    for (let i = 0; i < this.filters.length; i++) {
      const a = this.filters[i]!
      const b = other.filters[i]!
      if (
        a.source !== b.source ||
        compareOrd(a.cutoff, b.cutoff) !== 0 ||
        a.past.size !== b.past.size
      )
        return null
    }
    const out = new Map<Did, Ord>()
    const mark = (did: Did, at: Ord) => {
      const seen = out.get(did)
      if (!seen || compareOrd(at, seen) < 0) out.set(did, at)
    }
    for (const did of new Set([...this.history.keys(), ...other.history.keys()])) {
      const a = this.history.get(did) ?? []
      const b = other.history.get(did) ?? []
      for (let i = 0; i < Math.max(a.length, b.length); i++) {
        const x = a[i]
        const y = b[i]
        if (x && y && compareOrd(x.at, y.at) === 0 && x.status === y.status && x.role === y.role)
          continue
        mark(did, !x ? y!.at : !y ? x.at : compareOrd(x.at, y.at) < 0 ? x.at : y.at)
        break
      }
      if (this.firstKeyOf(did) !== other.firstKeyOf(did)) mark(did, { depth: 0, id: '' as EventId })
    }
    for (const key of new Set([...this.keys.keys(), ...other.keys.keys()])) {
      const a = this.keys.get(key)
      const b = other.keys.get(key)
      if (
        a &&
        b &&
        a.did === b.did &&
        compareOrd(a.boundAt, b.boundAt) === 0 &&
        sameOrd(a.revokedAt, b.revokedAt)
      )
        continue
      for (const r of [a, b]) {
        if (!r) continue
        mark(r.did, r.boundAt)
        if (r.revokedAt) mark(r.did, r.revokedAt)
      }
    }
    return out
  }

  firstKeyOf(did: Did): string | null {
    return this.members.get(did)?.firstKey ?? null
  }
}

function sameOrd(a: Ord | null, b: Ord | null): boolean {
  return a === null || b === null ? a === b : compareOrd(a, b) === 0
}

function bad(reason: InvalidReason): ApplyResult {
  return { ok: false, reason }
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key)
  if (list) list.push(value)
  else map.set(key, [value])
}
