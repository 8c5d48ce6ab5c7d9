// One open space, made reactive for components: the source's change events are bridged
// with createSubscriber, so reading `state` (or a timeline) inside a component or a
// $derived re-runs it when the space changes, and nothing listens once nobody reads.

import { createSubscriber } from 'svelte/reactivity'
import type { Delivery, EventId, MessageView, SpaceState } from '@hearth/sync'
import type { SpaceSource } from './space-source.ts'

export class SpaceView {
  readonly source: SpaceSource
  readonly #subscribe: () => void

  constructor(source: SpaceSource) {
    this.source = source
    this.#subscribe = createSubscriber((update) => source.subscribe(() => update()))
  }

  get spaceId() {
    return this.source.spaceId
  }

  get state(): SpaceState {
    this.#subscribe()
    return this.source.state
  }

  timeline(containerId: EventId): readonly MessageView[] {
    this.#subscribe()
    return this.source.timeline(containerId)
  }

  delivery(eventId: EventId): Delivery {
    this.#subscribe()
    return this.source.delivery(eventId)
  }
}
