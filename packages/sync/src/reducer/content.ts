import type { Did } from '@hearth/identity'
import { AUTHORITY_KINDS, type EventId, type SpaceEvent } from '../events/schema.ts'
import type { Authority } from './authority.ts'
import {
  compareOrd,
  type AutomodSettings,
  type ContainerType,
  type ContainerView,
  type InvalidEntry,
  type InvalidReason,
  type Lww,
  type MessageView,
  type Ord,
  type PendingReason,
} from './types.ts'

export interface MessageRecord {
  id: EventId
  at: Ord
  author: Did
  key: string
  keyChanged: boolean
  channel: EventId | null
  thread: EventId | null
  replyTo: EventId | null
  original: string
  edit: Lww<string> | null
  redacted: boolean
  moved: Lww<{ to: EventId; by: Did }> | null
  /** `${emoji}\n${did}` -> last add/remove in canonical order. */
  reactionOps: Map<string, Lww<boolean>>
  ts: number
}

interface ContainerRecord {
  id: EventId
  at: Ord
  type: ContainerType
  creator: Did
  name: Lww<string>
  archived: Lww<boolean>
  channel: EventId | null
  root: EventId | null
  text: string | null
}

type Outcome =
  | { status: 'applied' }
  | { status: 'invalid'; reason: InvalidReason; waitOn?: EventId }
  | { status: 'pending'; reason: PendingReason; waitOn: EventId }

export interface ReadyLookup {
  /** The canonical position of a ready event, or undefined if unknown or still waiting for parents. */
  ord(id: EventId): Ord | undefined
}

/**
 * Content: everything that never changes who may do what. Each event is judged at its own
 * position in the canonical order (against the authority timeline) and its effects are
 * order-free (last-writer-wins by canonical position, monotone flags), so content can be applied
 * in any arrival order with the same result: appending a message costs a lookup, not a replay.
 */
export class Content {
  readonly messages = new Map<EventId, MessageRecord>()
  readonly containers = new Map<EventId, ContainerRecord>()
  /** Live views, kept up to date as events apply: reading the state costs nothing. */
  readonly messageViews = new Map<EventId, MessageView>()
  readonly containerViews = new Map<EventId, ContainerView>()
  readonly invalid: Map<EventId, InvalidEntry>
  readonly pending: Map<EventId, PendingReason>
  profile = {
    name: null as Lww<string> | null,
    description: null as Lww<string> | null,
    avatar: null as Lww<string> | null,
  }
  readonly memberProfiles = new Map<
    Did,
    { displayName: Lww<string> | null; avatar: Lww<string> | null }
  >()
  automod: Lww<AutomodSettings> | null = null
  applied = 0
  /** target id -> events waiting for it to become a valid target. */
  private readonly waiting = new Map<EventId, Set<EventId>>()
  /** Swapped when authority is replayed alone (see SpaceReducer). */
  authority: Authority
  private readonly ready: ReadyLookup
  private readonly lookup: (id: EventId) => SpaceEvent | undefined

  constructor(
    authority: Authority,
    ready: ReadyLookup,
    lookup: (id: EventId) => SpaceEvent | undefined,
    invalid: Map<EventId, InvalidEntry>,
    pending: Map<EventId, PendingReason>,
  ) {
    this.authority = authority
    this.ready = ready
    this.lookup = lookup
    this.invalid = invalid
    this.pending = pending
  }

  /** Applies (or lists as invalid or pending) one ready content event, then anything waiting on it. */
  add(e: SpaceEvent, at: Ord): void {
    const queue: Array<[SpaceEvent, Ord]> = [[e, at]]
    // An index, not shift(): a target that many events waited for wakes them all at once.
    for (let next = 0; next < queue.length; next++) {
      const [event, ord] = queue[next]!
      this.invalid.delete(event.id)
      this.pending.delete(event.id)
      const outcome = this.evaluate(event, ord)
      if (outcome.status === 'applied') {
        this.applied++
        this.refreshViews(event)
      } else {
        if (outcome.status === 'invalid')
          this.invalid.set(event.id, {
            reason: outcome.reason,
            kind: event.kind,
            author: event.author,
          })
        else this.pending.set(event.id, outcome.reason)
        if (outcome.waitOn) {
          const set = this.waiting.get(outcome.waitOn)
          if (set) set.add(event.id)
          else this.waiting.set(outcome.waitOn, new Set([event.id]))
        }
      }
      // Whatever became of it, events that named it are judged again: a replay would see it.
      this.wakeInto(event.id, queue)
    }
  }

  /** An authority event arrived: content that named it as a target is judged again. */
  wake(id: EventId): void {
    const queue: Array<[SpaceEvent, Ord]> = []
    this.wakeInto(id, queue)
    for (const [e, at] of queue) this.add(e, at)
  }

  private wakeInto(id: EventId, queue: Array<[SpaceEvent, Ord]>): void {
    const waiters = this.waiting.get(id)
    if (!waiters) return
    this.waiting.delete(id)
    for (const w of [...waiters].sort()) {
      const e = this.lookup(w)
      const at = this.ready.ord(w)
      if (e && at) queue.push([e, at])
    }
  }

  /**
   * After a checkpoint restore (which leaves the views out) the views are built on first read:
   * a reopened reducer that only takes new events never pays for 100k of them.
   */
  private viewsStale = false

  markViewsStale(): void {
    this.viewsStale = true
  }

  /** Builds the views if a restore left them out; call before reading them. */
  ensureViews(): void {
    if (!this.viewsStale) return
    this.viewsStale = false
    this.rebuildViews()
  }

  /** The live views from the records. */
  rebuildViews(): void {
    this.messageViews.clear()
    this.containerViews.clear()
    for (const id of this.messages.keys()) this.refreshMessage(id)
    for (const id of this.containers.keys()) this.refreshContainer(id)
  }

  private refreshViews(e: SpaceEvent): void {
    if (this.viewsStale) return
    const b = e.body as {
      target?: EventId
      messages?: EventId[]
      channel?: EventId
      thread?: EventId
      page?: EventId
    }
    if (e.kind === 'message') this.refreshMessage(e.id)
    else if (
      e.kind === 'edit' ||
      e.kind === 'redaction' ||
      e.kind === 'reaction.add' ||
      e.kind === 'reaction.remove'
    )
      this.refreshMessage(b.target!)
    else if (e.kind === 'move') for (const id of b.messages!) this.refreshMessage(id)
    else if (e.kind.endsWith('.create') && this.containers.has(e.id)) this.refreshContainer(e.id)
    else if (e.kind.endsWith('.rename') || e.kind.endsWith('.archive'))
      this.refreshContainer((b.channel ?? b.thread ?? b.page)!)
  }

  private refreshMessage(id: EventId): void {
    const m = this.messages.get(id)!
    const reactions = new Map<string, Set<Did>>()
    if (!m.redacted) {
      for (const [k, op] of m.reactionOps) {
        if (!op.value) continue
        const [emoji, did] = k.split('\n') as [string, Did]
        const set = reactions.get(emoji)
        if (set) set.add(did)
        else reactions.set(emoji, new Set([did]))
      }
    }
    this.messageViews.set(id, {
      id: m.id,
      author: m.author,
      key: m.key,
      keyChanged: m.keyChanged,
      channel: m.channel,
      thread: m.thread,
      replyTo: m.replyTo,
      text: m.redacted ? null : (m.edit?.value ?? m.original),
      edited: m.edit !== null,
      redacted: m.redacted,
      movedTo: m.moved?.value.to ?? null,
      movedBy: m.moved?.value.by ?? null,
      reactions,
      ts: m.ts,
    })
  }

  private refreshContainer(id: EventId): void {
    const k = this.containers.get(id)!
    this.containerViews.set(id, {
      id: k.id,
      type: k.type,
      creator: k.creator,
      name: k.name.value,
      archived: k.archived.value,
      channel: k.channel,
      root: k.root,
      text: k.text,
    })
  }

  private evaluate(e: SpaceEvent, at: Ord): Outcome {
    const gate = this.authority.gateAt(e, at)
    if (gate) return invalid(gate)
    const role = this.authority.roleAt(e.author, at)
    const isModerator = role === 'admin' || role === 'moderator'
    switch (e.kind) {
      case 'space.profile': {
        if (role !== 'admin') return invalid('not-admin')
        const b = (e as SpaceEvent<'space.profile'>).body
        if (b.name !== undefined) this.profile.name = lww(this.profile.name, b.name, at)
        if (b.description !== undefined)
          this.profile.description = lww(this.profile.description, b.description, at)
        if (b.avatar !== undefined) this.profile.avatar = lww(this.profile.avatar, b.avatar, at)
        return applied
      }
      case 'automod': {
        if (role !== 'admin') return invalid('not-admin')
        const b = (e as SpaceEvent<'automod'>).body
        this.automod = lww(
          this.automod,
          {
            keywords: b.keywords,
            maxMessagesPerMinute: b.maxMessagesPerMinute ?? null,
            maxRepeats: b.maxRepeats ?? null,
          },
          at,
        )
        return applied
      }
      case 'member.profile': {
        const b = (e as SpaceEvent<'member.profile'>).body
        const p = this.memberProfiles.get(e.author) ?? { displayName: null, avatar: null }
        if (b.displayName !== undefined) p.displayName = lww(p.displayName, b.displayName, at)
        if (b.avatar !== undefined) p.avatar = lww(p.avatar, b.avatar, at)
        this.memberProfiles.set(e.author, p)
        return applied
      }
      case 'channel.create': {
        if (!isModerator) return invalid('not-moderator')
        const b = (e as SpaceEvent<'channel.create'>).body
        this.containers.set(e.id, container(e, at, 'channel', b.name, null, null, null))
        return applied
      }
      case 'thread.create': {
        const b = (e as SpaceEvent<'thread.create'>).body
        const channel = this.target(b.channel, at, 'channel')
        if (channel.status !== 'applied') return channel
        if (b.root) {
          const root = this.target(b.root, at, 'message')
          if (root.status !== 'applied') return root
        }
        this.containers.set(
          e.id,
          container(e, at, 'thread', b.title, b.channel, b.root ?? null, null),
        )
        return applied
      }
      case 'page.create': {
        const b = (e as SpaceEvent<'page.create'>).body
        if (b.channel) {
          const channel = this.target(b.channel, at, 'channel')
          if (channel.status !== 'applied') return channel
        }
        this.containers.set(
          e.id,
          container(e, at, 'page', b.title, b.channel ?? null, null, b.text),
        )
        return applied
      }
      case 'channel.rename':
      case 'thread.rename':
      case 'page.rename':
      case 'channel.archive':
      case 'thread.archive':
      case 'page.archive': {
        const [type, action] = e.kind.split('.') as [ContainerType, 'rename' | 'archive']
        const b = e.body as {
          channel?: EventId
          thread?: EventId
          page?: EventId
          name?: string
          title?: string
          archived?: boolean
        }
        const id = (b.channel ?? b.thread ?? b.page)!
        const found = this.target(id, at, type)
        if (found.status !== 'applied') return found
        const c = this.containers.get(id)!
        // Channels are the space's structure: moderators only. Threads and pages: their creator too.
        if (!isModerator && (type === 'channel' || c.creator !== e.author))
          return invalid('not-permitted')
        if (action === 'rename') c.name = lww(c.name, (b.name ?? b.title)!, at)!
        else c.archived = lww(c.archived, b.archived!, at)!
        return applied
      }
      case 'message': {
        const b = (e as SpaceEvent<'message'>).body
        if (b.channel) {
          const r = this.target(b.channel, at, 'channel')
          if (r.status !== 'applied') return r
        }
        if (b.thread) {
          const r = this.target(b.thread, at, 'thread')
          if (r.status !== 'applied') return r
        }
        if (b.replyTo) {
          const r = this.target(b.replyTo, at, 'message')
          // R20: a reply to something not seen yet waits for it rather than being refused.
          if (r.status === 'invalid' && r.reason === 'unknown-target')
            return { status: 'pending', reason: 'missing-reply-target', waitOn: b.replyTo }
          if (r.status !== 'applied') return r
        }
        const firstKey = this.authority.firstKeyOf(e.author)
        this.messages.set(e.id, {
          id: e.id,
          at,
          author: e.author,
          key: e.key,
          keyChanged: firstKey !== null && firstKey !== e.key,
          channel: b.channel ?? null,
          thread: b.thread ?? null,
          replyTo: b.replyTo ?? null,
          original: b.text,
          edit: null,
          redacted: false,
          moved: null,
          reactionOps: new Map(),
          ts: e.ts,
        })
        return applied
      }
      case 'edit': {
        const b = (e as SpaceEvent<'edit'>).body
        const r = this.target(b.target, at, 'message')
        if (r.status !== 'applied') return r
        const m = this.messages.get(b.target)!
        if (m.author !== e.author) return invalid('not-author')
        m.edit = lww(m.edit, b.text, at)
        return applied
      }
      case 'redaction': {
        const b = (e as SpaceEvent<'redaction'>).body
        const r = this.target(b.target, at, 'message')
        if (r.status !== 'applied') return r
        const m = this.messages.get(b.target)!
        if (m.author !== e.author && !isModerator) return invalid('not-permitted')
        m.redacted = true
        m.reactionOps.clear()
        return applied
      }
      case 'reaction.add':
      case 'reaction.remove': {
        const b = (e as SpaceEvent<'reaction.add'>).body
        const r = this.target(b.target, at, 'message')
        if (r.status !== 'applied') return r
        const m = this.messages.get(b.target)!
        // Reactions to a redacted message are dropped, whichever arrived first.
        if (!m.redacted) {
          const k = `${b.emoji}\n${e.author}`
          const next = lww(m.reactionOps.get(k) ?? null, e.kind === 'reaction.add', at)
          m.reactionOps.set(k, next)
        }
        return applied
      }
      case 'move': {
        const b = (e as SpaceEvent<'move'>).body
        const dest = this.target(b.to, at, 'container')
        if (dest.status !== 'applied') return dest
        for (const id of b.messages) {
          const r = this.target(id, at, 'message')
          if (r.status !== 'applied') return r
          if (this.messages.get(id)!.author !== e.author && !isModerator)
            return invalid('not-permitted')
        }
        for (const id of b.messages) {
          const m = this.messages.get(id)!
          m.moved = lww(m.moved, { to: b.to, by: e.author }, at)
        }
        return applied
      }
      default:
        throw new TypeError(`not a content event: ${e.kind}`)
    }
  }

  /**
   * A referenced event must be ready, earlier in the canonical order, applied, and of the
   * right kind. Each failure is stable once both events are known, so every replica agrees.
   */
  private target(id: EventId, at: Ord, kind: ContainerType | 'container' | 'message'): Outcome {
    const ord = this.ready.ord(id)
    if (!ord) return invalid('unknown-target', id)
    if (compareOrd(ord, at) >= 0) return invalid('target-after-event')
    if (kind === 'message')
      return this.messages.has(id) ? applied : invalid(this.wrongKindOrInvalid(id), id)
    const c = this.containers.get(id)
    if (!c) return invalid(this.wrongKindOrInvalid(id), id)
    if (kind !== 'container' && c.type !== kind) return invalid('wrong-target-kind')
    return applied
  }

  private wrongKindOrInvalid(id: EventId): InvalidReason {
    // An authority event is never a content target, valid or not: its validity must not leak
    // into content judgments (authority can be replayed alone, leaving content as it was).
    const target = this.lookup(id)
    if (!target || AUTHORITY_KINDS.has(target.kind)) return 'wrong-target-kind'
    return this.invalid.has(id) || this.pending.has(id) ? 'invalid-target' : 'wrong-target-kind'
  }
}

const applied: Outcome = { status: 'applied' }

function invalid(reason: InvalidReason, waitOn?: EventId): Outcome {
  return waitOn ? { status: 'invalid', reason, waitOn } : { status: 'invalid', reason }
}

function lww<T>(current: Lww<T> | null, value: T, at: Ord): Lww<T> {
  return current && compareOrd(current.at, at) > 0 ? current : { value, at }
}

function container(
  e: SpaceEvent,
  at: Ord,
  type: ContainerType,
  name: string,
  channel: EventId | null,
  root: EventId | null,
  text: string | null,
): ContainerRecord {
  return {
    id: e.id,
    at,
    type,
    creator: e.author,
    name: { value: name, at },
    archived: { value: false, at },
    channel,
    root,
    text,
  }
}
