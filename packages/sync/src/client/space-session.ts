import * as A from '@automerge/automerge'
import type { DocHandle, DocumentId, Repo } from '@automerge/automerge-repo'
import type { DeviceKey, Did } from '@hearth/identity'
import type { ChangeValidator } from '../automerge/change-validator.ts'
import { importVerified } from '../automerge/change-validator.ts'
import {
  MESSAGE_DOCUMENT_CAPACITY,
  messageDocumentId,
  spaceDocumentId,
} from '../automerge/layout.ts'
import { createSignedDocument, SignedWriter } from '../automerge/signed-writer.ts'
import { SpaceEventFeed } from '../automerge/space-feed.ts'
import { encodeSignedEvent } from '../events/codec.ts'
import type { EventBody, EventId, EventKind, Role, SpaceEvent, SpaceId } from '../events/schema.ts'
import { signEvent } from '../events/sign.ts'
import { compareOrd } from '../reducer/types.ts'
import type { MessageView, SpaceState } from '../reducer/types.ts'
import {
  signEphemeral,
  type EphemeralBody,
  type EphemeralFrame,
  type EphemeralKind,
} from '../protocol/ephemeral.ts'
import { EphemeralState, type PresenceState } from './ephemeral-state.ts'
import type { Delivery, Outbox } from './outbox.ts'

/** What a session needs from the client that owns it. */
export interface SessionContext {
  readonly repo: Repo
  readonly validator: ChangeValidator
  readonly did: Did
  readonly key: DeviceKey
  readonly outbox: Outbox
  /** Hands a change this device wrote to the router at once (the fast path); false if offline. */
  push(documentId: DocumentId, changes: Uint8Array[]): boolean
  /** Sends a signed ephemeral frame through the router; false if offline. */
  sendEphemeral(frame: EphemeralFrame): boolean
  /** Events per message document before the next one opens (tests lower it). */
  readonly messageDocumentCapacity?: number
}

/**
 * A lookup returns as soon as the device's storage has answered: a document it does not hold
 * is followed while the router is asked ('requesting'), so nothing waits on the network.
 */
const FIND_STATES = ['ready', 'unavailable', 'requesting'] as const
/** The scope of the space document's events (channel scopes are named by channel id). */
const SPACE_SCOPE = 'space'

function firstChange(documentBytes: Uint8Array): { bytes: Uint8Array; hash: string } {
  const [bytes] = A.getAllChanges(A.load(documentBytes))
  if (!bytes) throw new Error('a signed document without its change')
  return { bytes, hash: A.decodeChange(bytes).hash }
}

/**
 * One space as this device sees it: its documents (the space document and each channel's
 * message documents, opened as the channels appear), the reducer fed from them, and writes.
 * Every write is an event signed by this device, appended to the right document as a signed
 * change, saved on the device, pushed to the router and tracked until it is acknowledged.
 */
export class SpaceSession {
  readonly spaceId: SpaceId
  /** Who is here: presence and typing from members (verified), pokes and signals for me. */
  readonly ephemeral: EphemeralState
  readonly #ctx: SessionContext
  readonly #feed: SpaceEventFeed
  readonly #writers = new Map<DocumentId, SignedWriter>()
  /** Each channel's message documents, by index (an unavailable one may fill in later). */
  readonly #channels = new Map<EventId, DocHandle<unknown>[]>()
  readonly #opening = new Map<string, Promise<void>>()
  /** Followed documents: the handle and how to stop following it. */
  readonly #followed = new Map<
    DocumentId,
    { handle: DocHandle<unknown>; stop: () => void; scope: string }
  >()
  readonly #listeners = new Set<(state: SpaceState) => void>()
  #writeQueue: Promise<unknown> = Promise.resolve()
  #notifyQueued = false
  #version = 0
  #timelines: { version: number; byContainer: Map<EventId, MessageView[]> } | undefined
  #closed = false
  readonly #capacity: number
  /** Documents of this space looked up in the Repo (to ask again after a refusal). */
  readonly #asked = new Set<DocumentId>()
  /** Events read per document (see `#count`). */
  readonly #counts = new Map<DocumentId, number>()
  /** Writes on their way to the device's disk. */
  readonly #saving = new Set<Promise<void>>()
  /** Heads per scope: the space document's events, and each channel's (see `#parentsFor`). */
  readonly #scopes = new Map<string, { heads: Set<EventId>; referenced: Set<EventId> }>()

  constructor(spaceId: SpaceId, ctx: SessionContext) {
    this.spaceId = spaceId
    this.#ctx = ctx
    this.#capacity = ctx.messageDocumentCapacity ?? MESSAGE_DOCUMENT_CAPACITY
    this.#feed = new SpaceEventFeed(spaceId)
    this.ephemeral = new EphemeralState(ctx.did)
  }

  /** Opens the space document (from the device's store, or the router) and follows it. */
  async open(): Promise<void> {
    this.#asked.add(spaceDocumentId(this.spaceId))
    const handle = await this.#ctx.repo.find<unknown>(spaceDocumentId(this.spaceId), {
      allowableStates: [...FIND_STATES],
    })
    this.#follow(handle, SPACE_SCOPE)
    this.#openChannels()
  }

  /** The space document was made on this device (a new space): follow it at once. */
  adopt(handle: DocHandle<unknown>): void {
    this.#follow(handle, SPACE_SCOPE)
  }

  get state(): SpaceState {
    return this.#feed.state
  }

  /** True once the space's genesis is here (the space document reached this device). */
  get known(): boolean {
    return this.#feed.state.mode !== null
  }

  subscribe(listener: (state: SpaceState) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** The messages shown in a channel, thread or page, in canonical order (oldest first). */
  timeline(containerId: EventId): readonly MessageView[] {
    return this.timelines().get(containerId) ?? []
  }

  /**
   * Every container's timeline, built in one pass over the messages and kept until the next
   * change: a UI asking for each channel's (unread counts) costs one pass, not one per channel.
   */
  timelines(): ReadonlyMap<EventId, readonly MessageView[]> {
    if (this.#timelines?.version === this.#version) return this.#timelines.byContainer
    const reducer = this.#feed.reducer
    const byContainer = new Map<EventId, MessageView[]>()
    for (const message of this.state.messages.values()) {
      const home = message.movedTo ?? message.thread ?? message.channel
      if (home === null) continue
      let list = byContainer.get(home)
      if (!list) byContainer.set(home, (list = []))
      list.push(message)
    }
    for (const list of byContainer.values())
      list.sort((a, b) => compareOrd(reducer.ord(a.id)!, reducer.ord(b.id)!))
    this.#timelines = { version: this.#version, byContainer }
    return byContainer
  }

  delivery(eventId: EventId): Delivery {
    return this.#ctx.outbox.delivery(eventId)
  }

  /** The events of this space held on the device (verified at ingress). */
  event(id: EventId): SpaceEvent | undefined {
    return this.#feed.reducer.event(id)
  }

  // Passing messages: presence, typing, pokes, call signals ------------------------------

  /** A frame the router relayed for this space: counted only if it checks out (see EphemeralState). */
  async receiveEphemeral(frame: EphemeralFrame): Promise<void> {
    if (await this.ephemeral.receive(frame, this.state)) this.notify()
  }

  async #sendEphemeral<K extends EphemeralKind>(
    kind: K,
    body: EphemeralBody<K>,
    to?: Did,
  ): Promise<boolean> {
    const frame = await signEphemeral(this.#ctx.key, {
      space: this.spaceId,
      kind,
      body,
      author: this.#ctx.did,
      ...(to ? { to } : {}),
    })
    return this.#ctx.sendEphemeral(frame)
  }

  setPresence(state: PresenceState): Promise<boolean> {
    return this.#sendEphemeral('presence', { state })
  }

  /** Tells the channel this member is typing (repeat every few seconds while it lasts). */
  setTyping(channel: EventId, active: boolean): Promise<boolean> {
    return this.#sendEphemeral('typing', { channel, active })
  }

  /** A poke reaches only `member`'s devices. */
  poke(member: Did): Promise<boolean> {
    return this.#sendEphemeral('poke', {}, member)
  }

  /** WebRTC call signalling (an SDP offer/answer or ICE candidate) for one member. */
  signal(member: Did, call: string, payload: string): Promise<boolean> {
    return this.#sendEphemeral('signal', { call, payload }, member)
  }

  // Writing --------------------------------------------------------------------------------

  send(containerId: EventId, text: string, opts: { replyTo?: EventId } = {}): Promise<EventId> {
    const container = this.state.containers.get(containerId)
    const target = container?.type === 'thread' ? { thread: containerId } : { channel: containerId }
    return this.write('message', { text, ...target, ...opts })
  }

  edit(target: EventId, text: string): Promise<EventId> {
    return this.write('edit', { target, text })
  }

  redact(target: EventId, reason?: string): Promise<EventId> {
    return this.write('redaction', reason ? { target, reason } : { target })
  }

  react(target: EventId, emoji: string): Promise<EventId> {
    return this.write('reaction.add', { target, emoji })
  }

  unreact(target: EventId, emoji: string): Promise<EventId> {
    return this.write('reaction.remove', { target, emoji })
  }

  createChannel(name: string, topic?: string): Promise<EventId> {
    return this.write('channel.create', topic ? { name, topic } : { name })
  }

  renameChannel(channel: EventId, name: string): Promise<EventId> {
    return this.write('channel.rename', { channel, name })
  }

  archiveChannel(channel: EventId, archived: boolean): Promise<EventId> {
    return this.write('channel.archive', { channel, archived })
  }

  createThread(channel: EventId, title: string, root?: EventId): Promise<EventId> {
    return this.write('thread.create', root ? { channel, title, root } : { channel, title })
  }

  renameThread(thread: EventId, title: string): Promise<EventId> {
    return this.write('thread.rename', { thread, title })
  }

  archiveThread(thread: EventId, archived: boolean): Promise<EventId> {
    return this.write('thread.archive', { thread, archived })
  }

  createPage(title: string, text: string, channel?: EventId): Promise<EventId> {
    return this.write('page.create', channel ? { title, text, channel } : { title, text })
  }

  renamePage(page: EventId, title: string): Promise<EventId> {
    return this.write('page.rename', { page, title })
  }

  archivePage(page: EventId, archived: boolean): Promise<EventId> {
    return this.write('page.archive', { page, archived })
  }

  /** Message gardening: moves messages (at most MAX_MOVE_MESSAGES) into a channel, thread or page. */
  move(messages: EventId[], to: EventId): Promise<EventId> {
    return this.write('move', { messages, to })
  }

  /** This member's name and avatar in this space. */
  setMemberProfile(profile: EventBody<'member.profile'>): Promise<EventId> {
    return this.write('member.profile', profile)
  }

  invite(invitee: Did, keys?: string[]): Promise<EventId> {
    return this.write('invite', keys && keys.length > 0 ? { invitee, keys } : { invitee })
  }

  /**
   * Joins (this DID was invited, or the space is public). Once the router has stored the join,
   * the documents it refused to an invitee are this member's to read: they are asked for again.
   */
  async join(): Promise<EventId> {
    const id = await this.write('join', {})
    const unsubscribe = this.subscribe(() => {
      if (this.delivery(id) !== 'stored') return
      unsubscribe()
      this.refresh()
    })
    return id
  }

  leave(): Promise<EventId> {
    return this.write('leave', {})
  }

  propose(action: 'ban' | 'unban' | 'role', target: Did, role?: Role): Promise<EventId> {
    return this.write('proposal', role ? { action, target, role } : { action, target })
  }

  vote(proposal: EventId): Promise<EventId> {
    return this.write('vote', { proposal })
  }

  setProfile(profile: EventBody<'space.profile'>): Promise<EventId> {
    return this.write('space.profile', profile)
  }

  /**
   * Signs an event of any kind with this device's key and appends it where it belongs.
   * Resolves with its id once it is in the document (shown at once); `delivery(id)` then
   * moves from `saving` to `saved` (on this device's disk) to `stored` (by the router).
   * Writes are serialised so each event names the one before it among its parents.
   */
  write<K extends EventKind>(kind: K, body: EventBody<K>): Promise<EventId> {
    const run = this.#writeQueue.then(() => this.#write(kind, body))
    this.#writeQueue = run.catch(() => undefined)
    return run
  }

  async #write<K extends EventKind>(kind: K, body: EventBody<K>): Promise<EventId> {
    if (this.#closed) throw new Error('the space is closed')
    const channel = this.#channelOf(kind, body as Record<string, unknown>)
    const event = await signEvent(this.#ctx.key, {
      space: this.spaceId,
      kind,
      author: this.#ctx.did,
      parents: this.#parentsFor(channel),
      body,
    } as never)
    const bytes = encodeSignedEvent(event)
    let documentId: DocumentId
    let hash: string
    let change: Uint8Array
    if (channel === null) {
      documentId = spaceDocumentId(this.spaceId)
      ;({ hash, change } = await this.#append(documentId, bytes))
    } else {
      await this.#openChannel(channel)
      const docs = this.#channels.get(channel) ?? []
      const last = docs[docs.length - 1]
      if (last?.isReady() && this.#count(last) < this.#capacity) {
        documentId = last.documentId
        ;({ hash, change } = await this.#append(documentId, bytes))
      } else {
        // The channel's first message document, or the next one once the last is full.
        const index = last?.isReady() ? docs.length : Math.max(0, docs.length - 1)
        ;({ documentId, hash, change } = await this.#createMessageDocument(channel, index, bytes))
      }
    }
    // The reducer must hold this event before the next write names its parents, or two
    // quick writes of one device would come out as concurrent siblings.
    const handle = this.#ctx.repo.handles[documentId] as DocHandle<unknown> | undefined
    if (handle?.isReady())
      this.#ingested(
        documentId,
        channel ?? SPACE_SCOPE,
        this.#feed.ingest(documentId, handle.doc()),
      )
    this.#ctx.outbox.written([event.id], documentId, hash)
    this.#ctx.push(documentId, [change])
    const saving = this.#ctx.repo
      .flush([documentId])
      .then(() => this.#ctx.outbox.saved([event.id]))
      .catch(() => undefined)
      .finally(() => this.#saving.delete(saving))
    this.#saving.add(saving)
    return event.id
  }

  async #append(
    documentId: DocumentId,
    bytes: Uint8Array,
  ): Promise<{ hash: string; change: Uint8Array }> {
    let writer = this.#writers.get(documentId)
    if (!writer) {
      const handle = await this.#ctx.repo.find<unknown>(documentId, {
        allowableStates: [...FIND_STATES],
      })
      writer = new SignedWriter(handle, this.#ctx.key, {
        onWrite: (accepted) => this.#ctx.validator.noteLocalWrite(documentId, accepted),
      })
      this.#writers.set(documentId, writer)
    }
    return writer.appendChange([bytes])
  }

  async #createMessageDocument(
    channel: EventId,
    index: number,
    bytes: Uint8Array,
  ): Promise<{ documentId: DocumentId; hash: string; change: Uint8Array }> {
    const documentId = messageDocumentId(this.spaceId, channel, index)
    const saved = await createSignedDocument(this.#ctx.key, [bytes])
    const { bytes: change, hash } = firstChange(saved)
    const handle = await importVerified(this.#ctx.repo, this.#ctx.validator, documentId, saved)
    const docs = this.#channels.get(channel) ?? []
    if (!docs.includes(handle)) {
      docs[index] = handle
      this.#channels.set(channel, docs)
      this.#follow(handle, channel)
    }
    return { documentId, hash, change }
  }

  /** Where an event goes: its channel's message documents, or the space document. */
  #channelOf(kind: EventKind, body: Record<string, unknown>): EventId | null {
    const state = this.state
    const channelOfThread = (thread: unknown) =>
      state.containers.get(thread as EventId)?.channel ?? null
    switch (kind) {
      case 'message':
        if (body.channel) return body.channel as EventId
        if (body.thread) return channelOfThread(body.thread)
        return null
      case 'edit':
      case 'redaction':
      case 'reaction.add':
      case 'reaction.remove': {
        const target = state.messages.get(body.target as EventId)
        if (!target) return null
        return target.channel ?? (target.thread ? channelOfThread(target.thread) : null)
      }
      default:
        // Authority, containers, profiles, moves: the space document (the channel index).
        return null
    }
  }

  // Reading --------------------------------------------------------------------------------

  #follow(handle: DocHandle<unknown>, scope: string): void {
    const known = this.#followed.get(handle.documentId)
    if (known?.handle === handle) return
    known?.stop()
    const stop = this.#feed.follow(handle, (events) => {
      this.#ingested(handle.documentId, scope, events)
      this.#changed()
    })
    this.#followed.set(handle.documentId, { handle, stop, scope })
  }

  /**
   * Asks the router again for documents it answered "unavailable": they may exist now, or this
   * DID may read them now (it just joined). automerge-repo never asks a peer twice for a
   * document that peer said it lacks, and cannot drop an unavailable handle from its cache, so
   * the document's synchronizer forgets the peer and begins again (the same internals the
   * router uses to end a banned member's sync), which sends a fresh `request`.
   */
  refresh(): void {
    const repo = this.#ctx.repo
    // Every document of the space looked up so far, followed or still being looked up (its
    // first answer may still be on its way).
    for (const documentId of this.#asked) {
      const handle = repo.handles[documentId]
      if (!handle || handle.isReady() || this.#closed) continue
      const synchronizer = repo.synchronizer.docSynchronizers[documentId]
      if (!synchronizer) continue
      for (const peer of repo.peers) {
        synchronizer.endSync(peer)
        void synchronizer.beginSync([peer]).catch(() => undefined)
      }
    }
  }

  /** Keeps the heads of a scope's events (an event arriving before its child is no head). */
  /** Events a document gained: counted (to close it at capacity) and tracked in its scope. */
  #ingested(documentId: DocumentId, scope: string, events: readonly SpaceEvent[]): void {
    this.#counts.set(documentId, (this.#counts.get(documentId) ?? 0) + events.length)
    this.#track(scope, events)
  }

  /**
   * Events in a document so far. Counted from what the feed read, not from `handle.doc()`: a
   * handle that was waiting for its document delivers it before it reports ready.
   */
  #count(handle: DocHandle<unknown>): number {
    return this.#counts.get(handle.documentId) ?? 0
  }

  #track(scope: string, events: readonly SpaceEvent[]): void {
    let s = this.#scopes.get(scope)
    if (!s) this.#scopes.set(scope, (s = { heads: new Set(), referenced: new Set() }))
    for (const event of events) {
      for (const parent of event.parents) {
        s.referenced.add(parent)
        s.heads.delete(parent)
      }
      if (!s.referenced.has(event.id)) s.heads.add(event.id)
    }
  }

  /**
   * The parents of a new event: what this device has seen that a reader of the same documents
   * also has. An event of the space document names only space-document events, because the
   * router and an invitee hold only that document (a parent they cannot have would leave the
   * event waiting for ever); an event of a channel names the space document's heads and the
   * channel's own, so a reader of that one channel has every parent.
   */
  #parentsFor(channel: EventId | null): EventId[] {
    const heads = [...(this.#scopes.get(SPACE_SCOPE)?.heads ?? [])]
    if (channel !== null) heads.push(...(this.#scopes.get(channel)?.heads ?? []))
    return heads
  }

  #changed(): void {
    this.#version++
    this.#openChannels()
    this.notify()
  }

  /** Tells listeners, once per tick however many documents changed. */
  notify(): void {
    if (this.#notifyQueued) return
    this.#notifyQueued = true
    queueMicrotask(() => {
      this.#notifyQueued = false
      this.#version++
      const state = this.state
      for (const listener of this.#listeners) listener(state)
    })
  }

  #openChannels(): void {
    for (const container of this.state.containers.values()) {
      if (container.type !== 'channel') continue
      const docs = this.#channels.get(container.id)
      const last = docs?.[docs.length - 1]
      // New channels, and channels whose last document filled up (its successor may exist).
      if (!docs || (last && this.#count(last) >= this.#capacity))
        void this.#openChannel(container.id).catch(() => undefined)
    }
  }

  /** Opens a channel's message documents: index 0, then the next while the last is full. */
  #openChannel(channel: EventId): Promise<void> {
    const key = channel
    const running = this.#opening.get(key)
    if (running) return running
    const run = (async () => {
      const docs = this.#channels.get(channel) ?? []
      this.#channels.set(channel, docs)
      for (let index = docs.length; ; index++) {
        const previous = docs[index - 1]
        if (previous && this.#count(previous) < this.#capacity) break
        const documentId = messageDocumentId(this.spaceId, channel, index)
        this.#asked.add(documentId)
        const handle = await this.#ctx.repo
          .find<unknown>(documentId, {
            allowableStates: [...FIND_STATES],
          })
          .catch(() => undefined)
        if (!handle || this.#closed) break
        docs[index] = handle
        this.#follow(handle, channel)
        if (!handle.isReady()) break
      }
    })()
    this.#opening.set(key, run)
    void run.finally(() => {
      if (this.#opening.get(key) === run) this.#opening.delete(key)
    })
    return run
  }

  /** Document ids of this space the device has open (to push or re-request). */
  documentIds(): DocumentId[] {
    const ids = [spaceDocumentId(this.spaceId)]
    for (const docs of this.#channels.values())
      for (const handle of docs) if (handle) ids.push(handle.documentId)
    return ids
  }

  /** Resolves once every write so far is on the device's disk (shown as `saved`). */
  async settled(): Promise<void> {
    await this.#writeQueue
    await Promise.all([...this.#saving])
  }

  close(): void {
    this.#closed = true
    for (const { stop } of this.#followed.values()) stop()
    this.#followed.clear()
    this.#listeners.clear()
  }
}
