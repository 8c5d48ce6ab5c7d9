// The last message read per channel or thread, on this device (the user document will
// carry them across devices later). Kept in localStorage as a list of entries, loaded
// into a Map: ids are validated, never used as plain-object keys.

import { SvelteMap } from 'svelte/reactivity'
import { isEventId } from './ids.ts'
import type { EventId } from '@hearth/sync'

const PREFIX = 'hearth:read:'
const MAX_ENTRIES = 5000

export class ReadMarkers {
  readonly #key: string
  readonly #marks = new SvelteMap<string, EventId>()
  readonly #storage: Storage | null

  constructor(owner: string, storage: Storage | null = globalThis.localStorage ?? null) {
    this.#key = PREFIX + owner
    this.#storage = storage
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
    return this.#marks.get(`${spaceId}/${containerId}`) ?? null
  }

  markRead(spaceId: EventId, containerId: EventId, messageId: EventId): void {
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
