// A SpaceSource without a network or a store: SpaceBuilder events (simulated signatures,
// fixed did:keys) fed to the real SpaceReducer. For unit tests and the component harness
// (src/harness), never imported by the app's routes.

import type { Did } from '@hearth/identity'
import { compareOrd, SpaceReducer } from '@hearth/sync'
import type {
  Delivery,
  EventBody,
  EventId,
  EventKind,
  MessageView,
  Role,
  SpaceId,
  SpaceMode,
  SpaceState,
} from '@hearth/sync'
import { SpaceBuilder } from '@hearth/sync/testing'
import type { TestActor } from '@hearth/sync/testing'
import type { SpaceSource } from '../spaces/space-source.ts'

let spaces = 0

export class LocalSpace implements SpaceSource {
  readonly builder = new SpaceBuilder()
  readonly reducer: SpaceReducer
  readonly spaceId: SpaceId
  /** Who writes through the SpaceSource methods. */
  me: TestActor
  readonly #listeners = new Set<(state: SpaceState) => void>()
  readonly #delivery = new Map<EventId, Delivery>()
  #timelines = new Map<EventId, MessageView[]>()

  constructor(creator: TestActor, mode: SpaceMode = 'INVITES_ONLY', name = 'Test space') {
    // A nonce of our own: SpaceBuilder's default would give two spaces of one creator and
    // mode the same genesis, hence the same id.
    const nonce = `local-${++spaces}-${Math.random().toString(36).slice(2, 10)}`
    const genesis = this.builder.make(creator, 'genesis', { mode, name, nonce }, { parents: [] })
    this.builder.spaceId = genesis.id
    this.spaceId = genesis.id
    this.reducer = new SpaceReducer(genesis.id)
    this.reducer.add(genesis)
    this.me = creator
  }

  get state(): SpaceState {
    return this.reducer.state
  }

  subscribe(listener: (state: SpaceState) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Writes an event as `actor` (any actor: tests play every member). */
  as<K extends EventKind>(actor: TestActor, kind: K, body: EventBody<K>): EventId {
    const event = this.builder.make(actor, kind, body)
    this.reducer.add(event)
    this.#timelines = new Map()
    for (const listener of this.#listeners) listener(this.state)
    return event.id
  }

  /** Adds many events at once (one notification). */
  bulk(write: (as: <K extends EventKind>(a: TestActor, k: K, b: EventBody<K>) => EventId) => void) {
    const events: Parameters<SpaceReducer['add']> = []
    write((actor, kind, body) => {
      const e = this.builder.make(actor, kind, body)
      events.push(e)
      return e.id
    })
    this.reducer.addAll(events)
    this.#timelines = new Map()
    for (const listener of this.#listeners) listener(this.state)
  }

  setDelivery(id: EventId, delivery: Delivery): void {
    this.#delivery.set(id, delivery)
    for (const listener of this.#listeners) listener(this.state)
  }

  timeline(containerId: EventId): readonly MessageView[] {
    const cached = this.#timelines.get(containerId)
    if (cached) return cached
    const out: MessageView[] = []
    for (const m of this.state.messages.values())
      if ((m.movedTo ?? m.thread ?? m.channel) === containerId) out.push(m)
    out.sort((a, b) => compareOrd(this.reducer.ord(a.id)!, this.reducer.ord(b.id)!))
    this.#timelines.set(containerId, out)
    return out
  }

  delivery(eventId: EventId): Delivery {
    return this.#delivery.get(eventId) ?? 'stored'
  }

  #write<K extends EventKind>(kind: K, body: EventBody<K>): Promise<EventId> {
    return Promise.resolve(this.as(this.me, kind, body))
  }

  send(containerId: EventId, text: string, opts: { replyTo?: EventId } = {}): Promise<EventId> {
    const thread = this.state.containers.get(containerId)?.type === 'thread'
    return this.#write('message', {
      text,
      ...(thread ? { thread: containerId } : { channel: containerId }),
      ...opts,
    })
  }
  edit(target: EventId, text: string) {
    return this.#write('edit', { target, text })
  }
  redact(target: EventId, reason?: string) {
    return this.#write('redaction', reason ? { target, reason } : { target })
  }
  react(target: EventId, emoji: string) {
    return this.#write('reaction.add', { target, emoji })
  }
  unreact(target: EventId, emoji: string) {
    return this.#write('reaction.remove', { target, emoji })
  }
  createChannel(name: string, topic?: string) {
    return this.#write('channel.create', topic ? { name, topic } : { name })
  }
  renameChannel(channel: EventId, name: string) {
    return this.#write('channel.rename', { channel, name })
  }
  archiveChannel(channel: EventId, archived: boolean) {
    return this.#write('channel.archive', { channel, archived })
  }
  createThread(channel: EventId, title: string, root?: EventId) {
    return this.#write('thread.create', root ? { channel, title, root } : { channel, title })
  }
  invite(invitee: Did, keys?: string[]) {
    return this.#write('invite', keys?.length ? { invitee, keys } : { invitee })
  }
  join() {
    return this.#write('join', {})
  }
  leave() {
    return this.#write('leave', {})
  }
  propose(action: 'ban' | 'unban' | 'role', target: Did, role?: Role) {
    return this.#write('proposal', role ? { action, target, role } : { action, target })
  }
  vote(proposal: EventId) {
    return this.#write('vote', { proposal })
  }
  setProfile(profile: EventBody<'space.profile'>) {
    return this.#write('space.profile', profile)
  }
}
