import { isValidDocumentId } from '@automerge/automerge-repo'
import type { DocumentId } from '@automerge/automerge-repo'
import { z } from 'zod'
import { isEventId, type EventId, type SpaceId } from '../events/schema.ts'
import type { StoreAdapter } from '../store/store-adapter.ts'

/**
 * What the client keeps beside the Automerge documents, in the device's own store: the outbox
 * (events written here that the router has not yet acknowledged). The spaces followed live in
 * the user document (all of the user's devices see them). Read back through schemas: a store is the device's own, but a damaged entry
 * must cost that entry, not the app.
 */

/** Spaces one account follows, at most (each is a few documents and a reducer in memory). */
export const MAX_SPACES = 500
/** Unacknowledged events kept per space, at most; older ones still reach the router by sync. */
export const MAX_OUTBOX = 10_000

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const outboxEntry = z.object({
  event: z.custom<EventId>(isEventId),
  document: z.custom<DocumentId>((v) => typeof v === 'string' && isValidDocumentId(v)),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
})
const outboxList = z.array(outboxEntry).max(MAX_OUTBOX)

/** A space this account follows, with its name as last seen. */
export interface SpaceEntry {
  spaceId: SpaceId
  name: string | null
}
export type OutboxEntry = z.infer<typeof outboxEntry>

const outboxKey = (space: SpaceId) => ['client', 'outbox', space]

export class ClientStore {
  readonly #store: StoreAdapter
  /** Entries that failed their schema on the way back (reported, dropped). */
  damaged = 0

  constructor(store: StoreAdapter) {
    this.#store = store
  }

  async #read<T>(key: readonly string[], schema: z.ZodType<T>): Promise<T | undefined> {
    const bytes = await this.#store.load(key)
    if (!bytes) return undefined
    try {
      const parsed = schema.safeParse(JSON.parse(decoder.decode(bytes)))
      if (parsed.success) return parsed.data
    } catch {
      // fall through: counted as damaged
    }
    this.damaged++
    return undefined
  }

  #write(key: readonly string[], value: unknown): Promise<void> {
    return this.#store.save(key, encoder.encode(JSON.stringify(value)))
  }

  async outbox(space: SpaceId): Promise<OutboxEntry[]> {
    return (await this.#read(outboxKey(space), outboxList)) ?? []
  }

  saveOutbox(space: SpaceId, entries: readonly OutboxEntry[]): Promise<void> {
    if (entries.length === 0) return this.#store.remove(outboxKey(space))
    return this.#write(outboxKey(space), entries.slice(-MAX_OUTBOX))
  }
}
