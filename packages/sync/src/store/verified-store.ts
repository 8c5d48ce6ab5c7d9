import { canonicalDecode, canonicalEncode, fromHex, toHex } from '@hearth/identity'
import type { SpaceId } from '../events/schema.ts'
import { encodeCheckpoint, InvalidCheckpointError } from '../reducer/checkpoint.ts'
import { SpaceReducer, type SpaceReducerOptions } from '../reducer/space-reducer.ts'
import type { StoreAdapter } from './store-adapter.ts'

/** The reducer's materialised state for a space, and the document heads it covers. */
export interface SpaceSnapshot {
  /** Heads of each of the space's documents that the state includes, by document id. */
  heads: Record<string, string[]>
  /** The reducer's state, encoded by the reducer (opaque here). */
  state: Uint8Array
}

export class CorruptStoreError extends Error {
  readonly key: readonly string[]
  constructor(key: readonly string[], detail: string, options?: { cause?: unknown }) {
    super(`verified store entry ${key.join('/')} is corrupt: ${detail}`, options)
    this.name = 'CorruptStoreError'
    this.key = key
  }
}

const HASH_BYTES = 32
const COMPACT_AFTER_BATCHES = 64

let batchCounter = 0

/**
 * What this device has already verified, so reopening a space re-verifies nothing and
 * replays nothing: the hashes of changes that passed the validator (per document) and the
 * reducer's snapshot (per space). Everything goes through one StoreAdapter.
 * Only ever written with data that passed validation here; read back as untrusted bytes
 * (an old or damaged entry is reported, never half-used).
 */
export class VerifiedStore {
  readonly #adapter: StoreAdapter

  constructor(adapter: StoreAdapter) {
    this.#adapter = adapter
  }

  /** Appends hashes of validated changes (one small batch per call; compacted now and then). */
  async recordVerified(documentId: string, hashes: readonly string[]): Promise<void> {
    if (hashes.length === 0) return
    const bytes = new Uint8Array(hashes.length * HASH_BYTES)
    hashes.forEach((hash, i) => bytes.set(fromHex(hash), i * HASH_BYTES))
    const batch = `${Date.now().toString(36).padStart(10, '0')}-${(batchCounter++).toString(36)}-${Math.random().toString(36).slice(2, 8)}`
    await this.#adapter.save(['verified', documentId, batch], bytes)
  }

  async loadVerified(documentId: string): Promise<Set<string>> {
    const entries = await this.#adapter.loadRange(['verified', documentId])
    const out = new Set<string>()
    for (const entry of entries) {
      if (entry.data.length % HASH_BYTES !== 0)
        throw new CorruptStoreError(entry.key, 'not a list of hashes')
      for (let i = 0; i < entry.data.length; i += HASH_BYTES)
        out.add(toHex(entry.data.subarray(i, i + HASH_BYTES)))
    }
    if (entries.length > COMPACT_AFTER_BATCHES)
      await this.#compact(
        documentId,
        out,
        entries.map((e) => e.key),
      )
    return out
  }

  async #compact(
    documentId: string,
    hashes: Set<string>,
    old: (readonly string[])[],
  ): Promise<void> {
    // Write the merged batch first: a crash in between leaves duplicates, never a loss.
    await this.recordVerified(documentId, [...hashes])
    for (const key of old) await this.#adapter.remove(key)
  }

  async saveSnapshot(spaceId: string, snapshot: SpaceSnapshot): Promise<void> {
    await this.#adapter.save(
      ['snapshot', spaceId],
      canonicalEncode({ v: 1, heads: snapshot.heads, state: snapshot.state }),
    )
  }

  async loadSnapshot(spaceId: string): Promise<SpaceSnapshot | undefined> {
    const key = ['snapshot', spaceId]
    const bytes = await this.#adapter.load(key)
    if (!bytes) return undefined
    let decoded: unknown
    try {
      decoded = canonicalDecode(bytes)
    } catch (cause) {
      throw new CorruptStoreError(key, `undecodable (${String(cause).slice(0, 100)})`)
    }
    const value = decoded as { v?: unknown; heads?: unknown; state?: unknown }
    if (
      value?.v !== 1 ||
      !(value.state instanceof Uint8Array) ||
      typeof value.heads !== 'object' ||
      value.heads === null
    )
      throw new CorruptStoreError(key, 'unexpected shape')
    const heads: Record<string, string[]> = {}
    for (const [doc, list] of Object.entries(value.heads as Record<string, unknown>)) {
      if (
        !Array.isArray(list) ||
        !list.every((h) => typeof h === 'string' && /^[0-9a-f]{64}$/.test(h))
      )
        throw new CorruptStoreError(key, 'bad heads')
      heads[doc] = list as string[]
    }
    return { heads, state: value.state }
  }

  /**
   * Saves the reducer's checkpoint as the space's snapshot, after the hashes of the changes it
   * covers: a crash in between leaves hashes without a newer checkpoint (a little re-reduce),
   * never a checkpoint whose changes would be verified again.
   */
  async saveCheckpoint(
    reducer: SpaceReducer,
    covers: { heads: Record<string, string[]>; verified?: Record<string, readonly string[]> },
  ): Promise<void> {
    for (const [documentId, hashes] of Object.entries(covers.verified ?? {}))
      await this.recordVerified(documentId, hashes)
    await this.saveSnapshot(reducer.spaceId, {
      heads: covers.heads,
      state: encodeCheckpoint(reducer.checkpoint()),
    })
  }

  /**
   * Reopens a space: the reducer restored from its checkpoint (nothing verified, nothing
   * replayed), the document heads it covers, and the known-valid change hashes. Undefined when
   * nothing was saved; CorruptStoreError (cause: InvalidCheckpointError) when the checkpoint is
   * damaged or another space's, after which the caller replays from its documents.
   */
  async reopen(
    spaceId: SpaceId,
    documentIds: readonly string[],
    options: SpaceReducerOptions = {},
  ): Promise<
    | { reducer: SpaceReducer; heads: Record<string, string[]>; verified: Map<string, Set<string>> }
    | undefined
  > {
    const snapshot = await this.loadSnapshot(spaceId)
    if (!snapshot) return undefined
    let reducer: SpaceReducer
    try {
      reducer = SpaceReducer.restore(snapshot.state, { ...options, spaceId })
    } catch (cause) {
      if (!(cause instanceof InvalidCheckpointError)) throw cause
      throw new CorruptStoreError(['snapshot', spaceId], cause.detail, { cause })
    }
    const verified = new Map<string, Set<string>>()
    for (const id of documentIds) verified.set(id, await this.loadVerified(id))
    return { reducer, heads: snapshot.heads, verified }
  }

  /**
   * A named part of a space's materialised state (a page of a channel's messages, say), so
   * reopening reads what the first screen needs and pages the rest in on demand.
   */
  async savePart(spaceId: string, part: string, bytes: Uint8Array): Promise<void> {
    await this.#adapter.save(['part', spaceId, part], bytes)
  }

  async loadPart(spaceId: string, part: string): Promise<Uint8Array | undefined> {
    return this.#adapter.load(['part', spaceId, part])
  }

  async forgetSpace(spaceId: string, documentIds: readonly string[]): Promise<void> {
    await this.#adapter.remove(['snapshot', spaceId])
    await this.#adapter.removeRange(['part', spaceId])
    for (const id of documentIds) await this.#adapter.removeRange(['verified', id])
  }
}
