import { canonicalDecode, canonicalEncode, fromHex } from '@hearth/identity'
import type { SpaceId } from '../events/schema.ts'
import { InvalidCheckpointError } from '../reducer/checkpoint.ts'
import {
  openPagedCheckpoint,
  pagedCheckpoint,
  type PagedSpace,
} from '../reducer/checkpoint-paged.ts'
import type { SpaceReducer } from '../reducer/space-reducer.ts'
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
      // One hex string for the whole batch, cut into hashes: 100k hashes in tens of ms, where
      // a hex conversion per hash took most of a second.
      const hex = hexOf(entry.data)
      for (let i = 0; i < hex.length; i += HASH_BYTES * 2) out.add(hex.slice(i, i + HASH_BYTES * 2))
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
    if (value?.v !== 1 || !(value.state instanceof Uint8Array))
      throw new CorruptStoreError(key, 'unexpected shape')
    return { heads: parseHeads(key, value.heads), state: value.state }
  }

  /**
   * Saves the reducer's paged checkpoint (see `pagedCheckpoint`), after the hashes of the
   * changes it covers: a crash in between leaves hashes without a newer checkpoint (a little
   * re-reduce), never a checkpoint whose changes would be verified again. Parts go to the slot
   * ('a' or 'b') the current head does not use, then the head is replaced (atomically), then
   * the old slot is cleared: a crash at any point leaves one complete checkpoint, and the next
   * save clears whatever a crash left in the free slot.
   */
  async saveCheckpoint(
    reducer: SpaceReducer,
    covers: { heads: Record<string, string[]>; verified?: Record<string, readonly string[]> },
    options: { pageSize?: number; chunkBytes?: number } = {},
  ): Promise<void> {
    for (const [documentId, hashes] of Object.entries(covers.verified ?? {}))
      await this.recordVerified(documentId, hashes)
    const spaceId = reducer.spaceId
    let current: string | undefined
    try {
      current = (await this.#loadHead(spaceId))?.slot
    } catch (error) {
      if (!(error instanceof CorruptStoreError)) throw error
    }
    const slot = current === 'a' ? 'b' : 'a'
    const paged = pagedCheckpoint(reducer, options)
    await this.#adapter.removeRange(['checkpoint', spaceId, slot])
    for (const [name, bytes] of paged.parts)
      await this.#adapter.save(['checkpoint', spaceId, slot, name], bytes)
    await this.#adapter.save(
      ['checkpoint', spaceId, 'head'],
      canonicalEncode({ v: 2, slot, heads: covers.heads, checkpoint: paged.head }),
    )
    if (current) await this.#adapter.removeRange(['checkpoint', spaceId, current])
  }

  async #loadHead(
    spaceId: string,
  ): Promise<
    { slot: 'a' | 'b'; heads: Record<string, string[]>; checkpoint: Uint8Array } | undefined
  > {
    const key = ['checkpoint', spaceId, 'head']
    const bytes = await this.#adapter.load(key)
    if (!bytes) return undefined
    let decoded: unknown
    try {
      decoded = canonicalDecode(bytes)
    } catch (cause) {
      throw new CorruptStoreError(key, `undecodable (${String(cause).slice(0, 100)})`)
    }
    const value = decoded as { v?: unknown; slot?: unknown; heads?: unknown; checkpoint?: unknown }
    if (
      value?.v !== 2 ||
      (value.slot !== 'a' && value.slot !== 'b') ||
      !(value.checkpoint instanceof Uint8Array)
    )
      throw new CorruptStoreError(key, 'unexpected shape')
    return { slot: value.slot, heads: parseHeads(key, value.heads), checkpoint: value.checkpoint }
  }

  /**
   * Opens a space's paged checkpoint: reads the head (the space's summary and the index of its
   * pages) and nothing else. Message pages and the live reducer are read on demand
   * (`space.latestMessages`, `space.reducer()`); nothing is verified or replayed. Undefined when
   * nothing was saved; CorruptStoreError (cause: InvalidCheckpointError) when the head is
   * damaged or another space's, and InvalidCheckpointError from a later read of a damaged
   * part: either way the caller replays from its documents.
   */
  async openCheckpoint(
    spaceId: SpaceId,
  ): Promise<{ space: PagedSpace; heads: Record<string, string[]> } | undefined> {
    const head = await this.#loadHead(spaceId)
    if (!head) return undefined
    const slot = head.slot
    try {
      const space = openPagedCheckpoint(head.checkpoint, {
        spaceId,
        loadPart: (name) => this.#adapter.load(['checkpoint', spaceId, slot, name]),
      })
      return { space, heads: head.heads }
    } catch (cause) {
      if (!(cause instanceof InvalidCheckpointError)) throw cause
      throw new CorruptStoreError(['checkpoint', spaceId, 'head'], cause.detail, { cause })
    }
  }

  /**
   * `openCheckpoint` plus the known-valid change hashes of the space's documents (what the
   * validator needs before syncing, not what the first screen needs).
   */
  async reopen(
    spaceId: SpaceId,
    documentIds: readonly string[],
  ): Promise<
    | { space: PagedSpace; heads: Record<string, string[]>; verified: Map<string, Set<string>> }
    | undefined
  > {
    const opened = await this.openCheckpoint(spaceId)
    if (!opened) return undefined
    const verified = new Map<string, Set<string>>()
    for (const id of documentIds) verified.set(id, await this.loadVerified(id))
    return { ...opened, verified }
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
    await this.#adapter.removeRange(['checkpoint', spaceId])
    await this.#adapter.removeRange(['part', spaceId])
    for (const id of documentIds) await this.#adapter.removeRange(['verified', id])
  }
}

const HEX_DIGITS = new TextEncoder().encode('0123456789abcdef')
const ascii = new TextDecoder('latin1')

function hexOf(bytes: Uint8Array): string {
  const out = new Uint8Array(bytes.length * 2)
  for (let i = 0; i < bytes.length; i++) {
    out[2 * i] = HEX_DIGITS[bytes[i]! >> 4]!
    out[2 * i + 1] = HEX_DIGITS[bytes[i]! & 15]!
  }
  return ascii.decode(out)
}

function parseHeads(key: readonly string[], value: unknown): Record<string, string[]> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new CorruptStoreError(key, 'bad heads')
  const heads: Record<string, string[]> = {}
  for (const [doc, list] of Object.entries(value as Record<string, unknown>)) {
    if (
      !Array.isArray(list) ||
      !list.every((h) => typeof h === 'string' && /^[0-9a-f]{64}$/.test(h))
    )
      throw new CorruptStoreError(key, 'bad heads')
    heads[doc] = list as string[]
  }
  return heads
}
