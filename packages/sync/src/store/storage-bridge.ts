import type { Chunk, StorageAdapterInterface, StorageKey } from '@automerge/automerge-repo'
import type { StoreAdapter } from './store-adapter.ts'

/**
 * automerge-repo's storage interface over our one storage seam, so a device has one backend
 * (IndexedDB in the browser, files in Node) for the Repo's documents and for our own records;
 * give each its own prefix with `prefixedStore`. Keys are passed through unchanged: the
 * Repo's keys (document ids, 'incremental'/'snapshot', hashes, storage ids) are all within
 * the seam's key alphabet, and `assertStoreKey` refuses anything else loudly.
 */
export class StoreStorageAdapter implements StorageAdapterInterface {
  readonly #store: StoreAdapter

  constructor(store: StoreAdapter) {
    this.#store = store
  }

  load(key: StorageKey): Promise<Uint8Array | undefined> {
    return this.#store.load(key)
  }

  save(key: StorageKey, data: Uint8Array): Promise<void> {
    return this.#store.save(key, data)
  }

  remove(key: StorageKey): Promise<void> {
    return this.#store.remove(key)
  }

  async loadRange(keyPrefix: StorageKey): Promise<Chunk[]> {
    return (await this.#store.loadRange(keyPrefix)).map(({ key, data }) => ({
      key: [...key],
      data,
    }))
  }

  removeRange(keyPrefix: StorageKey): Promise<void> {
    return this.#store.removeRange(keyPrefix)
  }
}

/** A view of `store` under `prefix` (keys are stored as prefix + key and read back without it). */
export function prefixedStore(store: StoreAdapter, prefix: string): StoreAdapter {
  const outer = (key: readonly string[]) => [prefix, ...key]
  return {
    load: (key) => store.load(outer(key)),
    save: (key, data) => store.save(outer(key), data),
    remove: (key) => store.remove(outer(key)),
    loadRange: async (key) =>
      (await store.loadRange(outer(key))).map(({ key: k, data }) => ({ key: k.slice(1), data })),
    removeRange: (key) => store.removeRange(outer(key)),
  }
}
