import { utf8, type Did } from '@hearth/identity'
import { bodyProblem } from '../events/codec.ts'
import { AUTHORITY_KINDS, type EventId, type SpaceEvent, type SpaceId } from '../events/schema.ts'
import { Authority, type Filter } from './authority.ts'
import {
  assignFields,
  CHECKPOINT_VERSION,
  checksum,
  EventTable,
  fieldsOf,
  fromPlain,
  intColumn,
  InvalidCheckpointError,
  parseCheckpoint,
  parseJsonBytes,
  stringColumn,
  toPlain,
  type SpaceCheckpoint,
} from './checkpoint.ts'
import {
  decodeMessageRecords,
  decodeOrder,
  encodeMessageRecords,
  encodeOrder,
} from './checkpoint-records.ts'
import { Content } from './content.ts'
import {
  compareOrd,
  type EventGraph,
  type InvalidEntry,
  type Ord,
  type PendingReason,
  type SpaceState,
} from './types.ts'

export interface SpaceReducerOptions {
  /**
   * Most events kept waiting for missing parents. Beyond it the oldest waiting events are
   * dropped from the reducer (still stored by the caller, who may offer them again).
   */
  maxPending?: number
  /** Test-only: a deliberately broken reducer, used by the harness's self-test. */
  faults?: ReducerFaults
}

export interface ReducerFaults {
  /** Order concurrent events by their advisory wall clock instead of causal depth then id. */
  orderByTimestamp?: boolean
  /** Forget strong remove: a ban only stops the banned member's later events. */
  noStrongRemove?: boolean
}

const DEFAULT_MAX_PENDING = 100_000

/** The shape the reducer relies on, checked when a restored event is first read. */
function checkEvent(value: unknown): SpaceEvent {
  const event = value as Partial<SpaceEvent> | null
  if (
    typeof event?.id !== 'string' ||
    typeof event.kind !== 'string' ||
    typeof event.author !== 'string' ||
    !Array.isArray(event.parents) ||
    !event.parents.every((p) => typeof p === 'string')
  )
    throw new InvalidCheckpointError('malformed event in state')
  return event as SpaceEvent
}

/** What a checkpoint leaves out: the events (stored apart), options, links and counters. */
const REDUCER_SKIP = new Set([
  'spaceId',
  'events',
  'ords',
  'maxPending',
  'faults',
  'authority',
  'content',
  'dirty',
  'authorityViews',
  'recomputes',
  'authorityReplays',
  'evicted',
])
const AUTHORITY_SKIP = new Set(['spaceId', 'graph', 'invalid'])
/** The live views are rebuilt from the records on restore: half the bytes, a fraction of the time. */
const CONTENT_SKIP = new Set([
  'messages',
  'authority',
  'ready',
  'lookup',
  'invalid',
  'pending',
  'messageViews',
  'containerViews',
  'viewsStale',
])

/**
 * The space state as a pure function of the event set, maintained incrementally.
 *
 * Content events (messages, edits, reactions, ...) are judged at their own canonical position
 * against the authority timeline and applied in O(1)-ish, in any order. Authority events
 * (joins, votes, bans, ...) append cheaply when they land at the end of the canonical order and
 * remove nothing; otherwise (a late or concurrent authority event, a ban that retracts events)
 * the state is recomputed from the cached event set on the next read: identical to a full
 * replay by construction, and rare.
 */
export class SpaceReducer implements EventGraph {
  readonly spaceId: SpaceId
  private readonly events = new EventTable<SpaceEvent>(checkEvent)
  private readonly ords = new Map<EventId, Ord>()
  /** Waiting event -> number of its parents not yet ready. */
  private readonly waitingCount = new Map<EventId, number>()
  /** Missing parent -> events waiting for it. */
  private readonly waitingOn = new Map<EventId, EventId[]>()
  private readonly rejected = new Map<EventId, InvalidEntry>()
  /**
   * Ordered events this version cannot apply: an unknown kind, or a body that fails its
   * schema (ingress checks the envelope and signature only). They keep their place in the
   * graph (later events may name them as parents) and are never applied.
   */
  private readonly unreadable = new Map<EventId, InvalidEntry>()
  private invalid = new Map<EventId, InvalidEntry>()
  private pending = new Map<EventId, PendingReason>()
  private authorityViews: Pick<SpaceState, 'members' | 'proposals'> | null = null
  private readonly maxPending: number
  private readonly faults: ReducerFaults
  private readonly headSet = new Set<EventId>()
  private readonly authorityIds: EventId[] = []
  /** The last authority event in the order, and each author's last content event. */
  private authorityTail: Ord | null = null
  private readonly lastContent = new Map<Did, Ord>()
  private authority!: Authority
  private content!: Content
  private dirty = true
  /** Recomputations so far (exposed for tests and benchmarks). */
  recomputes = 0
  /** Late authority events absorbed by replaying authority alone. */
  authorityReplays = 0
  evicted = 0

  constructor(spaceId: SpaceId, options: SpaceReducerOptions = {}) {
    this.spaceId = spaceId
    this.maxPending = options.maxPending ?? DEFAULT_MAX_PENDING
    this.faults = options.faults ?? {}
  }

  has(id: EventId): boolean {
    return this.events.has(id)
  }

  get size(): number {
    return this.events.size
  }

  event(id: EventId): SpaceEvent | undefined {
    return this.events.get(id)
  }

  ord(id: EventId): Ord | undefined {
    return this.ords.get(id)
  }

  /** All events the reducer holds (ready or waiting), e.g. to persist or to replay elsewhere. */
  allEvents(): IterableIterator<SpaceEvent> {
    return this.events.values()
  }

  /** Current heads: ready events no other ready event names as a parent. */
  heads(): EventId[] {
    return [...this.headSet].sort()
  }

  ancestorsMatching(id: EventId, match: (e: SpaceEvent) => boolean): Set<EventId> {
    const out = new Set<EventId>()
    const seen = new Set<EventId>([id])
    const stack = [id]
    while (stack.length > 0) {
      const e = this.events.get(stack.pop()!)
      if (!e) continue
      if (match(e)) out.add(e.id)
      for (const p of e.parents) {
        if (!seen.has(p)) {
          seen.add(p)
          stack.push(p)
        }
      }
    }
    return out
  }

  /** Adds verified events (signatures are the caller's job). Duplicates are ignored. */
  add(...events: SpaceEvent[]): void {
    this.addAll(events)
  }

  addAll(events: Iterable<SpaceEvent>): void {
    const ready: SpaceEvent[] = []
    for (const e of events) {
      if (this.events.has(e.id)) continue
      this.events.set(e.id, e)
      if (e.space !== this.spaceId && e.kind !== 'genesis') {
        const entry: InvalidEntry = { reason: 'wrong-space', kind: e.kind, author: e.author }
        this.rejected.set(e.id, entry)
        this.invalid.set(e.id, entry)
        continue
      }
      const missing = e.parents.filter((p) => !this.ords.has(p))
      if (missing.length === 0) {
        this.makeReady(e, ready)
        continue
      }
      this.waitingCount.set(e.id, missing.length)
      this.pending.set(e.id, 'missing-parents')
      for (const p of missing) {
        const list = this.waitingOn.get(p)
        if (list) list.push(e.id)
        else this.waitingOn.set(p, [e.id])
      }
    }
    this.evictPending()
    if (ready.length === 0) return
    ready.sort((a, b) => compareOrd(this.ords.get(a.id)!, this.ords.get(b.id)!))
    for (const e of ready) this.process(e)
  }

  /** Marks `e` ready, then every waiting event whose last missing parent it was. */
  private makeReady(first: SpaceEvent, ready: SpaceEvent[]): void {
    const stack = [first]
    while (stack.length > 0) {
      const e = stack.pop()!
      let depth = 0
      for (const p of e.parents) depth = Math.max(depth, this.ords.get(p)!.depth + 1)
      // The broken-reducer fault: wall clock decides order (what the design forbids).
      const ord: Ord = this.faults.orderByTimestamp
        ? { depth: e.ts, id: e.id }
        : { depth, id: e.id }
      this.ords.set(e.id, ord)
      this.pending.delete(e.id)
      for (const p of e.parents) this.headSet.delete(p)
      // Another space's genesis is refused here: citing it would only spread it.
      if (e.kind !== 'genesis' || e.id === this.spaceId) this.headSet.add(e.id)
      ready.push(e)
      const waiters = this.waitingOn.get(e.id)
      if (!waiters) continue
      this.waitingOn.delete(e.id)
      for (const w of waiters) {
        const left = this.waitingCount.get(w)! - 1
        if (left === 0) {
          this.waitingCount.delete(w)
          stack.push(this.events.get(w)!)
        } else this.waitingCount.set(w, left)
      }
    }
  }

  private evictPending(): void {
    if (this.waitingCount.size <= this.maxPending) return
    // Map iteration order is arrival order: the oldest waiting events go first.
    for (const id of this.waitingCount.keys()) {
      if (this.waitingCount.size <= this.maxPending) break
      const e = this.events.get(id)!
      this.waitingCount.delete(id)
      this.pending.delete(id)
      this.events.delete(id)
      this.evicted++
      for (const parent of e.parents) {
        const list = this.waitingOn.get(parent)
        if (!list) continue
        const i = list.indexOf(id)
        if (i >= 0) list.splice(i, 1)
        if (list.length === 0) this.waitingOn.delete(parent)
      }
    }
  }

  private process(e: SpaceEvent): void {
    const at = this.ords.get(e.id)!
    const problem = bodyProblem(e)
    if (problem) {
      const entry: InvalidEntry = { reason: problem, kind: e.kind, author: e.author }
      this.unreadable.set(e.id, entry)
      this.invalid.set(e.id, entry)
      // Content that named it as a target is judged again, as a replay would judge it.
      if (!this.dirty) this.content.wake(e.id)
      return
    }
    if (!AUTHORITY_KINDS.has(e.kind)) {
      const last = this.lastContent.get(e.author)
      if (!last || compareOrd(at, last) > 0) this.lastContent.set(e.author, at)
      if (!this.dirty) this.content.add(e, at)
      return
    }
    this.authorityIds.push(e.id)
    const afterAllAuthority = !this.authorityTail || compareOrd(at, this.authorityTail) > 0
    if (afterAllAuthority) this.authorityTail = at
    if (this.dirty) return
    // Fast path: an authority event after every other authority event, retracting nothing,
    // whose effect on the timeline starts at its own position. Content before it is judged
    // against an unchanged past; content after it is unaffected unless written by someone whose
    // standing it changes, so it applies as a replay would.
    if (afterAllAuthority) {
      const filters = this.authority.filterChanges
      const result = this.authority.apply(e, at)
      this.authorityViews = null
      if (result.ok !== 'restart' && this.authority.filterChanges === filters) {
        const untouched = this.affected(e).every((did) => {
          const last = this.lastContent.get(did)
          return !last || compareOrd(last, at) < 0
        })
        if (untouched) {
          this.content.wake(e.id)
          return
        }
      }
      this.dirty = true
      return
    }
    // A late authority event: replay authority alone (authority events are few). If no filter
    // changed and nobody whose standing changed wrote content after the change, the content
    // already applied was judged exactly as a replay would judge it: keep it.
    if (this.replayAuthorityOnly()) {
      this.content.wake(e.id)
      return
    }
    this.dirty = true
  }

  private replayAuthorityOnly(): boolean {
    const authorityEvents = this.authorityIds.map((id) => this.ords.get(id)!).sort(compareOrd)
    const invalid = new Map<EventId, InvalidEntry>()
    const next = this.replayAuthority(authorityEvents, invalid)
    const diverged = next.divergenceFrom(this.authority)
    if (!diverged) return false
    for (const [did, at] of diverged) {
      const last = this.lastContent.get(did)
      if (last && compareOrd(last, at) > 0) return false
    }
    for (const at of authorityEvents) this.invalid.delete(at.id)
    for (const [id, entry] of invalid) this.invalid.set(id, entry)
    next.invalid = this.invalid
    this.authority = next
    this.content.authority = next
    this.authorityViews = null
    this.authorityReplays++
    return true
  }

  /** Authority in canonical order, restarting with a pinned filter whenever one retracts. */
  private replayAuthority(order: readonly Ord[], invalid: Map<EventId, InvalidEntry>): Authority {
    let pinned: Filter[] = []
    for (;;) {
      for (const at of order) invalid.delete(at.id)
      const authority = new Authority(this.spaceId, this, pinned, invalid)
      let restart: Filter | null = null
      for (const at of order) {
        const result = authority.apply(this.events.get(at.id)!, at)
        if (result.ok === 'restart') {
          restart = result.filter
          break
        }
      }
      if (!restart) return authority
      pinned = [...pinned.filter((f) => f.source !== restart.source), restart]
    }
  }

  /** Whose standing an authority event may change (an over-approximation). */
  private affected(e: SpaceEvent): Did[] {
    const out = [e.author]
    if (e.kind === 'invite') out.push((e as SpaceEvent<'invite'>).body.invitee)
    else if (e.kind === 'proposal') out.push((e as SpaceEvent<'proposal'>).body.target)
    else if (e.kind === 'vote') {
      const target = this.authority.proposals.get((e as SpaceEvent<'vote'>).body.proposal)?.target
      if (target) out.push(target)
    }
    return out
  }

  private recompute(): void {
    this.recomputes++
    const order = [...this.ords.values()].sort(compareOrd)
    const authorityEvents: Array<[SpaceEvent, Ord]> = []
    const contentEvents: Array<[SpaceEvent, Ord]> = []
    for (const at of order) {
      if (this.unreadable.has(at.id)) continue
      const e = this.events.get(at.id)!
      if (AUTHORITY_KINDS.has(e.kind)) authorityEvents.push([e, at])
      else contentEvents.push([e, at])
    }
    this.invalid = new Map([...this.rejected, ...this.unreadable])
    this.pending = new Map()
    for (const id of this.waitingCount.keys()) this.pending.set(id, 'missing-parents')
    this.authorityViews = null
    this.authority = this.replayAuthority(
      authorityEvents.map(([, at]) => at),
      this.invalid,
    )
    if (this.faults.noStrongRemove) this.authority.filters.length = 0
    this.content = new Content(
      this.authority,
      this,
      (id) => this.events.get(id),
      this.invalid,
      this.pending,
    )
    for (const [e, at] of contentEvents) this.content.add(e, at)
    this.dirty = false
  }

  /** Sizes of the state without building its views (to cross-check a restore cheaply). */
  counts(): { applied: number; messages: number; members: number; containers: number } {
    if (this.dirty) this.recompute()
    return {
      applied: this.authority.applied + this.content.applied,
      messages: this.content.messages.size,
      members: this.authority.members.size,
      containers: this.content.containers.size,
    }
  }

  get state(): SpaceState {
    if (this.dirty) this.recompute()
    return this.buildState()
  }

  /**
   * Everything needed to carry on incrementally, as a plain value (`encodeCheckpoint` makes
   * bytes of it): the events, the graph bookkeeping, and authority's and content's records.
   */
  checkpoint(): SpaceCheckpoint {
    if (this.dirty) this.recompute()
    const ids: string[] = []
    const lengths: number[] = []
    const jsons: Uint8Array[] = []
    let total = 0
    for (const [id, json] of this.events.json()) {
      ids.push(id)
      lengths.push(json.length)
      jsons.push(json)
      total += json.length
    }
    const events = new Uint8Array(total)
    for (let i = 0, at = 0; i < jsons.length; at += jsons[i]!.length, i++) events.set(jsons[i]!, at)
    const indexOf = new Map(ids.map((id, i) => [id, i]))
    // The big sections are columns of plain strings and numbers: stringified as they are.
    const state = utf8(
      `{"events":${JSON.stringify({ ids, lengths })}` +
        `,"order":${JSON.stringify(encodeOrder(ids, this.ords))}` +
        `,"messages":${JSON.stringify(encodeMessageRecords(this.content.messages, indexOf))}` +
        `,"reducer":${JSON.stringify(toPlain(fieldsOf(this, REDUCER_SKIP)))}` +
        `,"authority":${JSON.stringify(toPlain(fieldsOf(this.authority, AUTHORITY_SKIP)))}` +
        `,"content":${JSON.stringify(toPlain(fieldsOf(this.content, CONTENT_SKIP)))}}`,
    )
    return {
      v: CHECKPOINT_VERSION,
      spaceId: this.spaceId,
      eventCount: this.events.size,
      state,
      events,
      checksum: checksum(state) + checksum(events),
    }
  }

  /**
   * A reducer restored from a checkpoint (bytes or value, untrusted), without replaying or
   * re-verifying: the envelope is schema-checked, the body hash-checked, every record put back
   * with its type checked, and the parts cross-checked. Throws InvalidCheckpointError on a
   * damaged or foreign checkpoint; the caller then replays from its events.
   */
  static restore(
    input: unknown,
    options: SpaceReducerOptions & { spaceId?: SpaceId } = {},
  ): SpaceReducer {
    const checkpoint = parseCheckpoint(input)
    if (options.spaceId !== undefined && checkpoint.spaceId !== options.spaceId)
      throw new InvalidCheckpointError(`for space ${checkpoint.spaceId.slice(0, 80)}, not this one`)
    const r = new SpaceReducer(checkpoint.spaceId as SpaceId, options)
    const parts = parseJsonBytes(checkpoint.state, 'state') as {
      events?: { ids?: unknown; lengths?: unknown }
      order?: unknown
      messages?: unknown
      reducer?: unknown
      authority?: unknown
      content?: unknown
    }
    if (typeof parts !== 'object' || parts === null || typeof parts.events !== 'object')
      throw new InvalidCheckpointError('state: not a record with events')
    const ids = stringColumn(parts.events?.ids, 'event ids')
    if (ids.length !== checkpoint.eventCount)
      throw new InvalidCheckpointError('event count mismatch')
    const lengths = intColumn(parts.events?.lengths, 'event lengths', ids.length)
    // Each event stays bytes in the events section until first read.
    r.events.restore(ids, lengths, checkpoint.events)
    decodeOrder(parts.order, ids, r.ords)
    assignFields(r, fromPlain(parts.reducer), REDUCER_SKIP, 'reducer')
    const authority = new Authority(r.spaceId, r, [], r.invalid)
    assignFields(authority, fromPlain(parts.authority), AUTHORITY_SKIP, 'authority')
    const content = new Content(authority, r, (id) => r.events.get(id), r.invalid, r.pending)
    assignFields(content, fromPlain(parts.content), CONTENT_SKIP, 'content')
    decodeMessageRecords(parts.messages, ids, r.ords, content.messages)
    content.markViewsStale()
    r.authority = authority
    r.content = content
    // Cross-checks that catch a checkpoint whose parts do not belong together.
    for (const id of r.ords.keys())
      if (!r.events.has(id)) throw new InvalidCheckpointError('an ordered event is missing')
    for (const id of r.waitingCount.keys())
      if (!r.events.has(id)) throw new InvalidCheckpointError('a waiting event is missing')
    if (r.ords.size + r.waitingCount.size + r.rejected.size !== r.events.size)
      throw new InvalidCheckpointError('event count does not match the bookkeeping')
    r.dirty = false
    return r
  }

  private buildState(): SpaceState {
    const a = this.authority
    const c = this.content
    c.ensureViews()
    this.authorityViews ??= { members: a.memberViews(), proposals: a.proposalViews() }
    const memberProfiles = new Map<Did, { displayName: string | null; avatar: string | null }>()
    for (const [did, p] of c.memberProfiles)
      memberProfiles.set(did, {
        displayName: p.displayName?.value ?? null,
        avatar: p.avatar?.value ?? null,
      })
    return {
      spaceId: this.spaceId,
      mode: a.mode,
      creator: a.creator,
      profile: {
        name: c.profile.name?.value ?? null,
        description: c.profile.description?.value ?? null,
        avatar: c.profile.avatar?.value ?? null,
      },
      members: this.authorityViews.members,
      memberProfiles,
      proposals: this.authorityViews.proposals,
      containers: c.containerViews,
      messages: c.messageViews,
      automod: c.automod?.value ?? null,
      invalid: this.invalid,
      pending: this.pending,
      applied: a.applied + c.applied,
    }
  }
}

/** The state of a space from a set of verified events, in any order: a full replay. */
export function reduce(
  spaceId: SpaceId,
  events: Iterable<SpaceEvent>,
  options?: SpaceReducerOptions,
): SpaceState {
  const reducer = new SpaceReducer(spaceId, options)
  reducer.addAll(events)
  return reducer.state
}
