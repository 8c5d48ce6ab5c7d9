import type { DocHandle, DocumentId } from '@automerge/automerge-repo'
import { parseEventEnvelope } from '../events/codec.ts'
import type { SpaceEvent, SpaceId } from '../events/schema.ts'
import { SpaceReducer } from '../reducer/space-reducer.ts'
import type { SpaceReducerOptions } from '../reducer/space-reducer.ts'
import type { SpaceState } from '../reducer/types.ts'
import { base64urlDecode } from './base64url.ts'
import { parseBucketKey } from './layout.ts'

/**
 * Feeds the events of a space's documents into the reducer as they arrive, incrementally.
 * Buckets are single-writer and every change inserts its events at the head (chained), so
 * the entries a bucket gained since the last look are exactly its first `length - seen`.
 * Signatures were verified by the validator at ingress (and local writes are our own), so
 * entries are only parsed here (the envelope: kinds and bodies are the reducer's to judge,
 * as at ingress); the reducer keeps events with missing parents waiting, bounded by `maxPending`.
 */
export class SpaceEventFeed {
  readonly reducer: SpaceReducer
  readonly #seen = new Map<string, number>()
  #unreadable = 0

  constructor(spaceId: SpaceId, options: SpaceReducerOptions = {}) {
    this.reducer = new SpaceReducer(spaceId, options)
  }

  get state(): SpaceState {
    return this.reducer.state
  }

  /** Entries that did not parse as events (never expected after validation; counted, skipped). */
  get unreadable(): number {
    return this.#unreadable
  }

  /** Reads what `doc` gained since the last call for this document; returns the new events. */
  ingest(documentId: DocumentId, doc: unknown): SpaceEvent[] {
    const root = doc as Record<string, unknown>
    const fresh: SpaceEvent[] = []
    for (const key of Object.keys(root)) {
      if (!parseBucketKey(key)) continue
      const list = root[key]
      if (!Array.isArray(list)) continue
      const seenKey = `${documentId}|${key}`
      const seen = this.#seen.get(seenKey) ?? 0
      if (list.length <= seen) continue
      // Newest changes sit at the head; within a change, events keep their order.
      for (const entry of list.slice(0, list.length - seen).reverse()) {
        const bytes = base64urlDecode(String(entry))
        const parsed = bytes && parseEventEnvelope(bytes)
        if (parsed && parsed.ok) fresh.push(parsed.event)
        else this.#unreadable++
      }
      this.#seen.set(seenKey, list.length)
    }
    if (fresh.length > 0) this.reducer.add(...fresh)
    return fresh
  }

  /** Follows a document handle: ingests now and on every change. Returns an unsubscribe function. */
  follow(handle: DocHandle<unknown>, onEvents?: (events: SpaceEvent[]) => void): () => void {
    const read = (doc: unknown) => {
      const events = this.ingest(handle.documentId, doc)
      if (events.length > 0) onEvents?.(events)
    }
    // The payload's document, not `handle.doc()`: a handle that was unavailable emits the
    // change that brings its document before it turns ready.
    const onChange = ({ doc }: { doc: unknown }) => read(doc)
    handle.on('change', onChange)
    if (handle.isReady()) read(handle.doc())
    return () => handle.off('change', onChange)
  }

  /** How far each bucket has been read (to persist beside a reducer snapshot). */
  progress(): Record<string, number> {
    return Object.fromEntries(this.#seen)
  }
}
