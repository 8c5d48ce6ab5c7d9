import type { Chunk, StorageAdapterInterface, StorageKey } from '@automerge/automerge-repo/slim'
import { ChunkTooLargeError } from './errors.ts'
import { decodeKey, encodeKey, hasEncodedPrefix, prefixRange } from './key-codec.ts'
import { DEFAULT_MAX_CHUNK_BYTES } from './sqlite-adapter.ts'

/** What a MemoryStorageAdapter keeps; hand the same one to a new adapter to "reopen". */
export type MemoryStorageBacking = Map<string, { encoded: Uint8Array; data: Uint8Array }>

/**
 * The storage seam in memory, with the same key rules and chunk cap as the SQLite adapter:
 * for tests, and to show the contract suite is not written around SQLite.
 */
export class MemoryStorageAdapter implements StorageAdapterInterface {
  readonly backing: MemoryStorageBacking
  readonly maxChunkBytes: number

  constructor(options: { backing?: MemoryStorageBacking; maxChunkBytes?: number } = {}) {
    this.backing = options.backing ?? new Map()
    this.maxChunkBytes = options.maxChunkBytes ?? DEFAULT_MAX_CHUNK_BYTES
  }

  async load(key: StorageKey): Promise<Uint8Array | undefined> {
    const entry = this.backing.get(mapKey(encodeKey(key)))
    return entry && entry.data.slice()
  }

  async save(key: StorageKey, data: Uint8Array): Promise<void> {
    if (data.byteLength > this.maxChunkBytes)
      throw new ChunkTooLargeError(key, data.byteLength, this.maxChunkBytes)
    const encoded = encodeKey(key)
    this.backing.set(mapKey(encoded), { encoded, data: data.slice() })
  }

  async remove(key: StorageKey): Promise<void> {
    this.backing.delete(mapKey(encodeKey(key)))
  }

  async loadRange(keyPrefix: StorageKey): Promise<Chunk[]> {
    const { lower } = prefixRange(keyPrefix)
    const chunks: Chunk[] = []
    for (const { encoded, data } of this.backing.values())
      if (hasEncodedPrefix(encoded, lower))
        chunks.push({ key: decodeKey(encoded), data: data.slice() })
    return chunks
  }

  async removeRange(keyPrefix: StorageKey): Promise<void> {
    const { lower } = prefixRange(keyPrefix)
    for (const [k, { encoded }] of this.backing)
      if (hasEncodedPrefix(encoded, lower)) this.backing.delete(k)
  }
}

function mapKey(encoded: Uint8Array): string {
  return Buffer.from(encoded).toString('base64')
}
