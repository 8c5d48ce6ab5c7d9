// A SpacesBackend over LocalSpaces: the signed-in device as the component harness and
// unit tests play it. Creating a space makes a LocalSpace with this actor as creator.

import type { SpaceId, SpaceMode } from '@hearth/sync'
import type { TestActor } from '@hearth/sync/testing'
import type { SpacesBackend } from '../spaces/space-source.ts'
import { LocalSpace } from './local-space.ts'

type Entry = { spaceId: SpaceId; name: string | null }
type State = 'offline' | 'connecting' | 'online'

export class LocalBackend implements SpacesBackend {
  readonly me: TestActor
  readonly spacesById = new Map<SpaceId, LocalSpace>()
  #entries: Entry[] = []
  readonly #listeners = new Set<(spaces: readonly Entry[]) => void>()
  readonly #stateListeners = new Set<(state: State) => void>()
  #state: State = 'online'

  constructor(me: TestActor) {
    this.me = me
  }

  get did() {
    return this.me.did
  }

  get connection(): SpacesBackend['connection'] {
    const state = this.#state
    return {
      state,
      subscribe: (listener: (state: State) => void) => {
        this.#stateListeners.add(listener)
        return () => this.#stateListeners.delete(listener)
      },
    }
  }

  setConnection(state: State): void {
    this.#state = state
    for (const listener of this.#stateListeners) listener(state)
  }

  /** Adds a space this device follows (built by a scenario). */
  add(space: LocalSpace, name: string | null): void {
    space.me = this.me
    this.spacesById.set(space.spaceId, space)
    this.#entries = [...this.#entries, { spaceId: space.spaceId, name }]
    for (const listener of this.#listeners) listener(this.#entries)
  }

  spaces(): readonly Entry[] {
    return this.#entries
  }

  subscribeSpaces(listener: (spaces: readonly Entry[]) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  async createSpace(options: { name: string; mode: SpaceMode }): Promise<LocalSpace> {
    const space = new LocalSpace(this.me, options.mode, options.name)
    this.add(space, options.name)
    return space
  }

  async openSpace(spaceId: SpaceId): Promise<LocalSpace> {
    const space = this.spacesById.get(spaceId)
    if (!space) throw new Error('This space is not on this device.')
    return space
  }

  async joinSpace(spaceId: SpaceId): Promise<LocalSpace> {
    const space = await this.openSpace(spaceId)
    await space.join()
    return space
  }

  async close(): Promise<void> {}
}
