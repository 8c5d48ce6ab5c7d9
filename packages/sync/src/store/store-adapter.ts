/**
 * The one storage seam of the verified store: a byte store under hierarchical string keys,
 * the shape of automerge-repo's StorageAdapter so the same backends fit (files in Node,
 * IndexedDB in the browser). Implementations must pass `runStoreAdapterContract`.
 */
export type StoreKey = readonly string[]

export interface StoreEntry {
  key: StoreKey
  data: Uint8Array
}

export interface StoreAdapter {
  load(key: StoreKey): Promise<Uint8Array | undefined>
  /** Replaces the value atomically: a reader sees the old bytes or the new ones, never a mix. */
  save(key: StoreKey, data: Uint8Array): Promise<void>
  remove(key: StoreKey): Promise<void>
  /** Every entry whose key starts with `prefix`, in key order. */
  loadRange(prefix: StoreKey): Promise<StoreEntry[]>
  removeRange(prefix: StoreKey): Promise<void>
}

export class InvalidStoreKeyError extends Error {
  constructor(key: StoreKey) {
    super(`invalid store key: ${JSON.stringify(key).slice(0, 200)}`)
    this.name = 'InvalidStoreKeyError'
  }
}

const SEGMENT = /^[A-Za-z0-9._:-]{1,200}$/

/** Keys are ids we make ourselves; anything else is a bug, refused before it reaches a backend. */
export function assertStoreKey(key: StoreKey, allowEmpty = false): void {
  if (!Array.isArray(key) || (!allowEmpty && key.length === 0) || key.length > 8)
    throw new InvalidStoreKeyError(key)
  for (const segment of key) {
    if (
      typeof segment !== 'string' ||
      !SEGMENT.test(segment) ||
      segment === '.' ||
      segment === '..'
    )
      throw new InvalidStoreKeyError(key)
  }
}

function compareKeys(a: StoreKey, b: StoreKey): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i]! < b[i]!) return -1
    if (a[i]! > b[i]!) return 1
  }
  return a.length - b.length
}

export function sortEntries(entries: StoreEntry[]): StoreEntry[] {
  return entries.sort((x, y) => compareKeys(x.key, y.key))
}

/** In memory: tests, and ephemeral peers. Copies on the way in and out, like a real store. */
export class MemoryStoreAdapter implements StoreAdapter {
  readonly #data = new Map<string, { key: StoreKey; data: Uint8Array }>()

  async load(key: StoreKey): Promise<Uint8Array | undefined> {
    assertStoreKey(key)
    const entry = this.#data.get(key.join('\u0000'))
    return entry && new Uint8Array(entry.data)
  }

  async save(key: StoreKey, data: Uint8Array): Promise<void> {
    assertStoreKey(key)
    this.#data.set(key.join('\u0000'), { key: [...key], data: new Uint8Array(data) })
  }

  async remove(key: StoreKey): Promise<void> {
    assertStoreKey(key)
    this.#data.delete(key.join('\u0000'))
  }

  async loadRange(prefix: StoreKey): Promise<StoreEntry[]> {
    assertStoreKey(prefix, true)
    const out: StoreEntry[] = []
    for (const entry of this.#data.values()) {
      if (prefix.every((segment, i) => entry.key[i] === segment))
        out.push({ key: [...entry.key], data: new Uint8Array(entry.data) })
    }
    return sortEntries(out)
  }

  async removeRange(prefix: StoreKey): Promise<void> {
    for (const entry of await this.loadRange(prefix)) this.#data.delete(entry.key.join('\u0000'))
  }
}
