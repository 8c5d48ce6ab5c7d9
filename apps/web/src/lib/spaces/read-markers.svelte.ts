// The last message read per channel or thread. With the client's user document they are
// the same on all of the user's devices (and seen by no one else); without it (tests, no
// client) they stay in this browser's localStorage as a list of entries, loaded into a
// Map: ids are validated, never used as plain-object keys.

import { createSubscriber, SvelteMap } from 'svelte/reactivity'
import { isEventId } from './ids.ts'
import type { EventId } from '@hearth/sync'
import type { ReadPositions } from './space-source.ts'

const PREFIX = 'hearth:read:'
const MAX_ENTRIES = 5000

export class ReadMarkers {
  readonly #key: string
  readonly #marks = new SvelteMap<string, EventId>()
  readonly #storage: Storage | null
  readonly #synced: ReadPositions | null
  readonly #subscribe: () => void

  constructor(
    owner: string,
    storage: Storage | null = globalThis.localStorage ?? null,
    synced: ReadPositions | null = null,
  ) {
    this.#key = PREFIX + owner
    this.#storage = storage
    this.#synced = synced
    this.#subscribe = createSubscriber((update) => synced?.subscribe(update))
    try {
      const raw: unknown = JSON.parse(storage?.getItem(this.#key) ?? '[]')
      if (Array.isArray(raw))
        for (const entry of raw.slice(-MAX_ENTRIES))
          if (
            Array.isArray(entry) &&
            typeof entry[0] === 'string' &&
            entry[0].length < 120 &&
            isEventId(entry[1])
          )
            this.#marks.set(entry[0], entry[1])
    } catch {
      // A damaged entry only costs unread counts.
    }
  }

  lastRead(spaceId: EventId, containerId: EventId): EventId | null {
    if (this.#synced) {
      this.#subscribe()
      return this.#synced.readPosition(spaceId, containerId) ?? null
    }
    return this.#marks.get(`${spaceId}/${containerId}`) ?? null
  }

  markRead(spaceId: EventId, containerId: EventId, messageId: EventId): void {
    if (this.#synced) {
      // A signed record in the user document; a failure (storage) only costs the marker.
      this.#synced.markRead(spaceId, containerId, messageId).catch(() => undefined)
      return
    }
    const key = `${spaceId}/${containerId}`
    if (this.#marks.get(key) === messageId) return
    this.#marks.delete(key)
    this.#marks.set(key, messageId)
    try {
      this.#storage?.setItem(this.#key, JSON.stringify([...this.#marks].slice(-MAX_ENTRIES)))
    } catch {
      // Storage full or denied: the marker still holds for this session.
    }
  }
}
