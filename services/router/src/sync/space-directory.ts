import type { DocumentId } from '@automerge/automerge-repo'
import type { Did } from '@hearth/identity'
import {
  DocumentRegistry,
  parseEventEnvelope,
  spaceDocumentId,
  SpaceReducer,
  type DocumentRole,
  type MemberView,
  type SpaceEvent,
  type SpaceId,
  type SpaceMode,
  type SpaceState,
  userDocumentId,
} from '@hearth/sync'

/** User document ids remembered per DID (recomputed when forgotten). */
const MAX_CACHED_USER_DOCUMENTS = 10_000

interface SpaceEntry {
  reducer: SpaceReducer
  /** What access needs from the reducer's state, read once per ingest (not per message). */
  mode: SpaceMode | null
  members: SpaceState['members']
  /** Set while the space's genesis is on its way in: only this DID may push it. */
  creator: Did | undefined
  /** Message documents registered per channel (indexes 0..n-1). */
  channelDocs: Map<string, number>
}

/** What the router knows about a space for access decisions. */
export interface SpaceAccessView {
  spaceId: SpaceId
  role: DocumentRole
  mode: string | null
}

/** Upper bound on spaces whose creation is in flight (a genesis announced, not yet accepted). */
export const MAX_PENDING_CREATIONS = 10_000

/**
 * The router's map from documents to spaces and from spaces to their reduced state: the same
 * `SpaceReducer` the clients run, fed incrementally with the validated events of each space
 * document, so access follows exactly the membership every replica computes.
 *
 * Rules (a document unknown to the router is refused like any other):
 * - PUBLIC space: every signed-in DID syncs all its documents, except banned members.
 * - other modes: members (joined, not left or banned) sync all its documents; an invited DID
 *   syncs the space document only (it must read the space to write its `join`).
 * - a space whose genesis has not arrived yet: only the DID that is creating it (see
 *   `beginCreation`) syncs its space document.
 */
export class SpaceDirectory {
  readonly registry = new DocumentRegistry()
  readonly #spaces = new Map<string, SpaceEntry>()
  #pending = 0
  /** Told when a space's membership or mode may have changed (re-evaluate sharing). */
  onAuthorityChange: ((spaceId: SpaceId) => void) | undefined
  /** Told once when a space's genesis has been accepted (persist the space index). */
  onSpaceCreated: ((spaceId: SpaceId) => void) | undefined

  has(spaceId: string): boolean {
    return this.#spaces.has(spaceId)
  }

  // DID -> its user document id (a hash per frame otherwise); bounded, oldest dropped first.
  readonly #userDocuments = new Map<Did, DocumentId>()

  #userDocument(did: Did): DocumentId {
    let id = this.#userDocuments.get(did)
    if (!id) {
      id = userDocumentId(did)
      if (this.#userDocuments.size >= MAX_CACHED_USER_DOCUMENTS)
        this.#userDocuments.delete(this.#userDocuments.keys().next().value!)
      this.#userDocuments.set(did, id)
    }
    return id
  }

  resolve(documentId: DocumentId): DocumentRole | undefined {
    return this.registry.resolve(documentId)
  }

  /** A space the router stores: registered, its events to be added with `ingest`. */
  addSpace(spaceId: SpaceId): SpaceEntry {
    let entry = this.#spaces.get(spaceId)
    if (!entry) {
      entry = {
        reducer: new SpaceReducer(spaceId),
        mode: null,
        members: new Map(),
        creator: undefined,
        channelDocs: new Map(),
      }
      this.#spaces.set(spaceId, entry)
      this.registry.addSpace(spaceId)
    }
    return entry
  }

  /**
   * A client pushes the genesis of a space the router does not know. Registers the space with
   * `did` as the only DID allowed to sync it until the genesis is accepted by the validator.
   * False when the space is already known (its genesis author gets no special path then).
   */
  beginCreation(genesis: SpaceEvent, did: Did): boolean {
    if (genesis.kind !== 'genesis' || genesis.author !== did) return false
    if (this.#spaces.has(genesis.id)) {
      const entry = this.#spaces.get(genesis.id)!
      return entry.mode === null && entry.creator === did
    }
    if (this.#pending >= MAX_PENDING_CREATIONS) return false
    const entry = this.addSpace(genesis.id as SpaceId)
    entry.creator = did
    this.#pending++
    return true
  }

  /**
   * The genesis that opened a creation was refused (by the validator): forget the space, so it
   * holds no slot and its author may try again. A space whose genesis was accepted stays.
   */
  abandonCreation(spaceId: string): void {
    const entry = this.#spaces.get(spaceId)
    if (!entry || entry.mode !== null || entry.creator === undefined) return
    this.#spaces.delete(spaceId)
    this.#pending--
  }

  /** A space's member (any status), from its reducer; undefined for unknown spaces or DIDs. */
  member(spaceId: string, did: Did): MemberView | undefined {
    return this.#spaces.get(spaceId)?.members.get(did)
  }

  /** A space's members (any status); empty for an unknown space. */
  members(spaceId: string): ReadonlyMap<Did, MemberView> {
    return this.#spaces.get(spaceId)?.members ?? new Map()
  }

  /** May `did` sync `documentId`? Unknown documents: no. */
  allows(did: Did, documentId: DocumentId): boolean {
    // A user document: its owner's devices only (it is created by the owner's first write).
    if (documentId === this.#userDocument(did)) return true
    const role = this.registry.resolve(documentId)
    if (!role) return false
    const entry = this.#spaces.get(role.spaceId)
    if (!entry) return false
    if (entry.mode === null) return role.kind === 'space' && entry.creator === did
    const member = entry.members.get(did)
    if (entry.mode === 'PUBLIC') return member?.status !== 'banned'
    if (member?.status === 'member') return true
    return member?.status === 'invited' && role.kind === 'space'
  }

  /**
   * Adds the validated events of a document of a known space. Authority and the channel index
   * live in the space document; a message document only extends its channel's registry.
   */
  ingest(documentId: DocumentId, events: Iterable<Uint8Array>): void {
    const role = this.registry.resolve(documentId)
    if (!role) return
    const entry = this.#spaces.get(role.spaceId)
    if (!entry) return
    if (role.kind === 'messages') {
      // The next document of a channel is opened when this one fills: register it ahead.
      this.#registerChannel(role.spaceId, entry, role.channelId, role.index + 2)
      return
    }
    const parsed: SpaceEvent[] = []
    for (const bytes of events) {
      // Signatures were verified by the validator at ingress (or before storage). Envelopes
      // only: an event of a kind this version does not know keeps its place in the graph
      // (the reducer lists it as invalid), so the events after it are not left waiting.
      const result = parseEventEnvelope(bytes)
      if (result.ok) parsed.push(result.event)
    }
    if (parsed.length === 0) return
    const before = { mode: entry.mode, members: entry.members }
    entry.reducer.addAll(parsed)
    const state = entry.reducer.state
    entry.mode = state.mode
    entry.members = state.members
    if (before.mode === null && state.mode !== null) {
      if (entry.creator !== undefined) this.#pending--
      entry.creator = undefined
      this.onSpaceCreated?.(role.spaceId as SpaceId)
    }
    for (const [id, container] of state.containers)
      if (container.type === 'channel') this.#registerChannel(role.spaceId, entry, id, 2)
    // The reducer rebuilds its member views only when authority changed: identity tells.
    if (before.mode !== state.mode || before.members !== state.members)
      this.onAuthorityChange?.(role.spaceId as SpaceId)
  }

  #registerChannel(spaceId: string, entry: SpaceEntry, channelId: string, count: number): void {
    if ((entry.channelDocs.get(channelId) ?? 0) >= count) return
    entry.channelDocs.set(channelId, count)
    this.registry.addChannel(spaceId, channelId, count)
  }

  view(documentId: DocumentId): SpaceAccessView | undefined {
    const role = this.registry.resolve(documentId)
    if (!role) return undefined
    const entry = this.#spaces.get(role.spaceId)
    if (!entry) return undefined
    return { spaceId: role.spaceId as SpaceId, role, mode: entry.mode }
  }

  /** The space document id of every space known. */
  *spaceDocuments(): IterableIterator<[SpaceId, DocumentId]> {
    for (const spaceId of this.#spaces.keys()) yield [spaceId as SpaceId, spaceDocumentId(spaceId)]
  }
}
