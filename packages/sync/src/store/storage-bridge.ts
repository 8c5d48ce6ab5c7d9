import type { Chunk, StorageAdapterInterface, StorageKey } from '@automerge/automerge-repo'
import { base64urlDecode, base64urlEncode } from '../automerge/base64url.ts'
import { assertStoreKey, InvalidStoreKeyError } from './store-adapter.ts'
import type { StoreAdapter, StoreEntry, StoreKey } from './store-adapter.ts'

/**
 * A view of `store` under `prefix`: keys given to it are stored as `[...prefix, ...key]`
 * and ranges come back without the prefix. One backend (one IndexedDB database, one
 * directory) then serves automerge-repo's storage and the verified store side by side,
 * e.g. `prefixedStore(idb, 'repo')` and `prefixedStore(idb, 'hearth')`, neither able to read
 * or remove the other's entries.
 */
export function prefixedStore(store: StoreAdapter, prefix: string | StoreKey): StoreAdapter {
  const base = typeof prefix === 'string' ? [prefix] : [...prefix]
  assertStoreKey(base)
  const full = (key: StoreKey, allowEmpty: boolean): StoreKey => {
    // The inner key is checked on its own: an empty key would otherwise name the prefix
    // itself, a value outside this view's namespace.
    assertStoreKey(key, allowEmpty)
    return [...base, ...key]
  }
  const strip = (entries: StoreEntry[]): StoreEntry[] =>
    entries.map((entry) => ({ key: entry.key.slice(base.length), data: entry.data }))
  return {
    load: async (key) => store.load(full(key, false)),
    save: async (key, data) => store.save(full(key, false), data),
    remove: async (key) => store.remove(full(key, false)),
    // A value stored under the prefix itself belongs to the parent, never to this view.
    loadRange: async (key) =>
      strip(await store.loadRange(full(key, true))).filter((entry) => entry.key.length > 0),
    removeRange: async (key) => {
      if (key.length > 0) return store.removeRange(full(key, false))
      // The seam's range of the bare prefix includes the prefix's own key: remove the view's
      // entries one by one instead (clearing a whole namespace is rare).
      for (const entry of await store.loadRange(base))
        if (entry.key.length > base.length) await store.remove(entry.key)
    },
  }
}

const PLAIN_PART = /^[A-Za-z0-9._-]{1,200}$/
const ENCODED_MARK = ':'
const MAX_ENCODED_BYTES = 149 // ceil(149 * 4 / 3) + 1 = 200 characters, the seam's cap

const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * One automerge-repo key part as one part the seam accepts. automerge-repo's own parts
 * (document ids, `snapshot`, hex hashes, UUID storage ids) pass unchanged; anything else —
 * notably a storage id a remote peer announced, which automerge-repo uses in sync-state
 * keys — is written `:` + base64url of its UTF-8. A plain part never starts with `:`, so
 * the mapping is injective and reversible.
 */
function encodePart(key: StorageKey, part: string): string {
  if (PLAIN_PART.test(part) && part !== '.' && part !== '..') return part
  const bytes = utf8.encode(part)
  // A lone surrogate has no UTF-8 form (it would become U+FFFD and collide with it).
  if (bytes.length > MAX_ENCODED_BYTES || fromUtf8.decode(bytes) !== part)
    throw new InvalidStoreKeyError(key)
  return ENCODED_MARK + base64urlEncode(bytes)
}

function decodePart(part: string): string {
  if (!part.startsWith(ENCODED_MARK)) return part
  return fromUtf8.decode(base64urlDecode(part.slice(ENCODED_MARK.length)))
}

function encodeKey(key: StorageKey, allowEmpty: boolean): StoreKey {
  if (!Array.isArray(key) || (!allowEmpty && key.length === 0)) throw new InvalidStoreKeyError(key)
  return key.map((part) => {
    if (typeof part !== 'string') throw new InvalidStoreKeyError(key)
    return encodePart(key, part)
  })
}

/**
 * automerge-repo's `StorageAdapterInterface` over any `StoreAdapter` (IndexedDB in the
 * browser, files in Node, memory), so a Repo stores its documents through the same seam,
 * with the same durability, as the verified store. Give it its own namespace with
 * `prefixedStore(store, 'repo')` when the store is shared.
 *
 * `loadRange` returns chunks in key order (the seam's order), not in save order;
 * automerge-repo does not depend on it (it loads snapshots and incrementals by separate
 * ranges and Automerge orders changes by their dependencies).
 */
export class StoreStorageAdapter implements StorageAdapterInterface {
  readonly #store: StoreAdapter

  constructor(store: StoreAdapter) {
    this.#store = store
  }

  async load(key: StorageKey): Promise<Uint8Array | undefined> {
    return this.#store.load(encodeKey(key, false))
  }

  async save(key: StorageKey, data: Uint8Array): Promise<void> {
    return this.#store.save(encodeKey(key, false), data)
  }

  async remove(key: StorageKey): Promise<void> {
    return this.#store.remove(encodeKey(key, false))
  }

  async loadRange(keyPrefix: StorageKey): Promise<Chunk[]> {
    const entries = await this.#store.loadRange(encodeKey(keyPrefix, true))
    return entries.map((entry) => ({ key: entry.key.map(decodePart), data: entry.data }))
  }

  async removeRange(keyPrefix: StorageKey): Promise<void> {
    return this.#store.removeRange(encodeKey(keyPrefix, true))
  }
}
