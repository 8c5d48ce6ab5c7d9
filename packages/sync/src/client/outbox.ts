import type { DocumentId } from '@automerge/automerge-repo'
import type { EventId, SpaceId } from '../events/schema.ts'
import { MAX_OUTBOX, type ClientStore, type OutboxEntry } from './client-store.ts'

/**
 * The steps of "sent" the user sees (design §4): `saving` until the write is in the device's
 * store, `saved` once it is, `stored` once the router acknowledged it durably. Events this
 * device did not write, or wrote and saw acknowledged, are `stored`.
 */
export type Delivery = 'saving' | 'saved' | 'stored'

interface Pending extends OutboxEntry {
  saved: boolean
}

/**
 * The events of one space written on this device and not yet acknowledged by the router,
 * persisted so that a reload still shows them as not yet stored and pushes them again.
 * Persisting is serialised and coalesced: one write in flight, the latest state after it.
 */
export class Outbox {
  readonly #space: SpaceId
  readonly #store: ClientStore
  readonly #byEvent = new Map<EventId, Pending>()
  readonly #byHash = new Map<string, EventId[]>()
  #persisting: Promise<void> = Promise.resolve()
  #dirty = false
  readonly #onChange: (events: EventId[]) => void

  constructor(space: SpaceId, store: ClientStore, onChange: (events: EventId[]) => void) {
    this.#space = space
    this.#store = store
    this.#onChange = onChange
  }

  /** Restores what a previous run left unacknowledged (all of it is on the device: saved). */
  async load(): Promise<void> {
    for (const entry of await this.#store.outbox(this.#space)) this.#add(entry, true)
  }

  #add(entry: OutboxEntry, saved: boolean): void {
    if (this.#byEvent.size >= MAX_OUTBOX) {
      // The oldest entry only loses its "not yet stored" mark: sync still delivers it.
      const [oldest] = this.#byEvent.keys()
      if (oldest) this.#remove(oldest)
    }
    this.#byEvent.set(entry.event, { ...entry, saved })
    const events = this.#byHash.get(entry.hash) ?? []
    events.push(entry.event)
    this.#byHash.set(entry.hash, events)
  }

  #remove(event: EventId): void {
    const entry = this.#byEvent.get(event)
    if (!entry) return
    this.#byEvent.delete(event)
    const rest = (this.#byHash.get(entry.hash) ?? []).filter((e) => e !== event)
    if (rest.length > 0) this.#byHash.set(entry.hash, rest)
    else this.#byHash.delete(entry.hash)
  }

  /** Events just written into `document` by the change `hash` (in memory, not yet on disk). */
  written(events: readonly EventId[], document: DocumentId, hash: string): void {
    for (const event of events) this.#add({ event, document, hash }, false)
    this.#onChange([...events])
  }

  /** The device's store has the change holding these events. */
  saved(events: readonly EventId[]): void {
    for (const event of events) {
      const entry = this.#byEvent.get(event)
      if (entry) entry.saved = true
    }
    this.#persist()
    this.#onChange([...events])
  }

  /** The router acknowledged these change hashes of `document` as durable. */
  acknowledged(document: DocumentId, hashes: readonly string[]): void {
    const done: EventId[] = []
    for (const hash of hashes)
      for (const event of this.#byHash.get(hash) ?? [])
        if (this.#byEvent.get(event)?.document === document) done.push(event)
    if (done.length === 0) return
    for (const event of done) this.#remove(event)
    this.#persist()
    this.#onChange(done)
  }

  delivery(event: EventId): Delivery {
    const entry = this.#byEvent.get(event)
    if (!entry) return 'stored'
    return entry.saved ? 'saved' : 'saving'
  }

  /** Unacknowledged change hashes per document, oldest first (to push again on reconnect). */
  unacknowledged(): Map<DocumentId, string[]> {
    const out = new Map<DocumentId, string[]>()
    for (const entry of this.#byEvent.values()) {
      const hashes = out.get(entry.document) ?? []
      if (!hashes.includes(entry.hash)) hashes.push(entry.hash)
      out.set(entry.document, hashes)
    }
    return out
  }

  get size(): number {
    return this.#byEvent.size
  }

  #persist(): void {
    if (this.#dirty) return
    this.#dirty = true
    this.#persisting = this.#persisting.then(async () => {
      this.#dirty = false
      const entries = [...this.#byEvent.values()]
        .filter((e) => e.saved)
        .map(({ event, document, hash }) => ({ event, document, hash }))
      await this.#store.saveOutbox(this.#space, entries).catch(() => undefined)
    })
  }

  /** Resolves once what is known now has been persisted. */
  flush(): Promise<void> {
    return this.#persisting
  }
}
