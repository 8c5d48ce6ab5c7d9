// The signed-in user's spaces: the client's list of followed spaces, its connection state,
// and the open spaces as SpaceViews. Components read it; it talks to the backend
// (HearthClient in the app, a local stand-in in tests and the component harness).

import type { Did } from '@hearth/identity'
import type { SpaceId } from '@hearth/sync'
import { ReadMarkers } from './read-markers.svelte.ts'
import type { SpacesBackend } from './space-source.ts'
import { SpaceView } from './space-view.svelte.ts'

export type CreatableMode = 'PUBLIC' | 'INVITES_ONLY' | 'ADMIN_INVITES_ONLY'

export interface SpaceListEntry {
  spaceId: SpaceId
  name: string | null
}

export class Chat {
  readonly backend: SpacesBackend
  readonly did: Did
  readonly reads: ReadMarkers
  spaces = $state<SpaceListEntry[]>([])
  connection = $state<'offline' | 'connecting' | 'online'>('offline')
  /** The space shown now, once opened (local data at once, sync in the background). */
  active = $state<SpaceView | null>(null)
  /** Why the last open/create/join failed, for the user. */
  problem = $state<string | null>(null)
  /** Resolves a handle to a DID (invites by handle); absent: DIDs only. */
  readonly resolveHandle: ((handle: string) => Promise<Did>) | null
  // A cache of promises, not state: nothing renders from it.
  // eslint-disable-next-line svelte/prefer-svelte-reactivity
  readonly #views = new Map<SpaceId, Promise<SpaceView>>()
  readonly #stops: (() => void)[] = []
  #want: SpaceId | null = null

  constructor(
    backend: SpacesBackend,
    options: { resolveHandle?: (handle: string) => Promise<Did>; storage?: Storage | null } = {},
  ) {
    this.backend = backend
    this.did = backend.did
    this.reads = new ReadMarkers(backend.did, options.storage, backend.user ?? null)
    this.resolveHandle = options.resolveHandle ?? null
    this.spaces = [...backend.spaces()]
    this.connection = backend.connection.state
    this.#stops.push(backend.subscribeSpaces((spaces) => (this.spaces = [...spaces])))
    this.#stops.push(backend.connection.subscribe((state) => (this.connection = state)))
  }

  #view(spaceId: SpaceId, open: () => Promise<SpaceView['source']>): Promise<SpaceView> {
    let view = this.#views.get(spaceId)
    if (!view) {
      view = open().then((source) => new SpaceView(source))
      this.#views.set(spaceId, view)
      view.catch(() => this.#views.delete(spaceId))
    }
    return view
  }

  /** Shows a space (the route's); a later call wins over an earlier one still opening. */
  async select(spaceId: SpaceId | null): Promise<void> {
    this.#want = spaceId
    if (spaceId === null) {
      this.active = null
      return
    }
    if (this.active?.spaceId === spaceId) return
    try {
      const view = await this.#view(spaceId, () => this.backend.openSpace(spaceId))
      if (this.#want === spaceId) {
        this.active = view
        this.problem = null
      }
    } catch (err) {
      if (this.#want === spaceId) this.problem = messageOf(err)
    }
  }

  async createSpace(name: string, mode: CreatableMode): Promise<SpaceId> {
    const source = await this.backend.createSpace({ name, mode })
    const view = new SpaceView(source)
    this.#views.set(source.spaceId, Promise.resolve(view))
    return source.spaceId
  }

  async joinSpace(spaceId: SpaceId): Promise<void> {
    const source = await this.backend.joinSpace(spaceId)
    if (!this.#views.has(spaceId)) this.#views.set(spaceId, Promise.resolve(new SpaceView(source)))
  }

  close(): void {
    for (const stop of this.#stops) stop()
    this.#stops.length = 0
  }
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
