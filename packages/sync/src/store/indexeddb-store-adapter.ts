import { assertStoreKey } from './store-adapter.ts'
import type { StoreAdapter, StoreEntry, StoreKey } from './store-adapter.ts'

// Plain IndexedDB, not the `idb` wrapper: the adapter needs five operations, each one
// transaction whose completion (not its request's success) is the moment to resolve, and
// the wrapper would add a dependency to hide about twenty lines of that.

const STORE_NAME = 'entries'
const VERSION = 1

/** An entry that IndexedDB holds but this adapter never writes (another writer, damage). */
export class InvalidStoreValueError extends Error {
  readonly key: StoreKey
  constructor(key: StoreKey, detail: string) {
    super(`IndexedDB entry ${JSON.stringify(key).slice(0, 200)} is not valid: ${detail}`)
    this.name = 'InvalidStoreValueError'
    this.key = key
  }
}

/** IndexedDB refused or aborted a transaction (quota, a closed database, a browser error). */
export class IndexedDbStoreError extends Error {
  constructor(operation: string, cause: unknown) {
    const detail = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)
    super(`IndexedDB ${operation} failed: ${detail}`, { cause })
    this.name = 'IndexedDbStoreError'
  }
}

export interface IndexedDbStoreOptions {
  /** Defaults to the global `indexedDB` (a browser, a worker). */
  factory?: IDBFactory
}

/**
 * The browser's backend of the storage seam: one IndexedDB database per name, one object
 * store whose keys are the hierarchical key arrays themselves. IndexedDB orders array keys
 * element by element with strings by UTF-16 code unit, exactly `sortEntries`' order, so a
 * prefix is the key range `[prefix, [...prefix, []]]` (an array sorts after every string)
 * and ranges come back in key order without sorting.
 *
 * Durable semantics: a write resolves only on its transaction's `complete` event, opened
 * with `durability: 'strict'` (the browser flushes to disk before `complete`; Chromium's
 * default, relaxed, may report completion before the data reaches the disk). A browser
 * that does not know the option ignores it.
 */
export class IndexedDbStoreAdapter implements StoreAdapter {
  readonly name: string
  readonly #factory: IDBFactory
  #db: Promise<IDBDatabase> | undefined
  #closed = false

  constructor(name: string, options: IndexedDbStoreOptions = {}) {
    const factory = options.factory ?? globalThis.indexedDB
    if (!factory) throw new IndexedDbStoreError('open', new Error('no IndexedDB here'))
    this.name = name
    this.#factory = factory
  }

  /** Opens the database now (creating it on first use), so errors surface at start. */
  static async open(name: string, options?: IndexedDbStoreOptions): Promise<IndexedDbStoreAdapter> {
    const adapter = new IndexedDbStoreAdapter(name, options)
    await adapter.#connection()
    return adapter
  }

  /** Deletes a whole database (tests, "forget this device"). Close adapters on it first. */
  static deleteDatabase(name: string, options: IndexedDbStoreOptions = {}): Promise<void> {
    const factory = options.factory ?? globalThis.indexedDB
    return new Promise((resolve, reject) => {
      const request = factory.deleteDatabase(name)
      request.onsuccess = () => resolve()
      request.onerror = () => reject(new IndexedDbStoreError('deleteDatabase', request.error))
    })
  }

  /** Closes the connection once pending transactions finish; later calls reject. */
  close(): void {
    this.#closed = true
    const db = this.#db
    this.#db = undefined
    void db?.then(
      (connection) => connection.close(),
      () => undefined,
    )
  }

  #connection(): Promise<IDBDatabase> {
    if (this.#closed) return Promise.reject(new IndexedDbStoreError('use', 'adapter closed'))
    this.#db ??= new Promise<IDBDatabase>((resolve, reject) => {
      const request = this.#factory.open(this.name, VERSION)
      request.onupgradeneeded = () => {
        if (!request.result.objectStoreNames.contains(STORE_NAME))
          request.result.createObjectStore(STORE_NAME)
      }
      request.onsuccess = () => {
        const db = request.result
        // Another tab deleting or upgrading the database must not wait on us forever, and a
        // connection the browser closed (storage cleared, a crash of its backend) is reopened
        // by the next call instead of failing every call from then on.
        const forget = () => {
          db.close()
          if (this.#db === connection) this.#db = undefined
        }
        db.onversionchange = forget
        db.onclose = forget
        resolve(db)
      }
      request.onerror = () => {
        if (this.#db === connection) this.#db = undefined
        reject(new IndexedDbStoreError('open', request.error))
      }
      request.onblocked = () => {
        // Only an older version can block us and none exists; waiting is the right thing.
      }
    })
    const connection = this.#db
    return connection
  }

  /**
   * Runs `body` in one transaction and resolves with the value it produced once the
   * transaction completed (for writes: durably committed), or rejects if it aborted.
   */
  async #transaction<T>(
    operation: string,
    mode: IDBTransactionMode,
    body: (store: IDBObjectStore, done: (value: T) => void) => void,
  ): Promise<T> {
    const db = await this.#connection()
    let transaction: IDBTransaction
    try {
      transaction =
        mode === 'readwrite'
          ? db.transaction(STORE_NAME, mode, { durability: 'strict' })
          : db.transaction(STORE_NAME, mode)
    } catch (error) {
      // The connection closed under us (InvalidStateError): the next call opens a new one.
      this.#db = undefined
      throw new IndexedDbStoreError(operation, error)
    }
    return new Promise<T>((resolve, reject) => {
      let value: T
      transaction.oncomplete = () => resolve(value)
      transaction.onabort = () =>
        reject(new IndexedDbStoreError(operation, transaction.error ?? 'transaction aborted'))
      try {
        body(transaction.objectStore(STORE_NAME), (v) => (value = v))
      } catch (error) {
        transaction.abort()
        reject(error instanceof Error ? error : new IndexedDbStoreError(operation, error))
      }
    })
  }

  async load(key: StoreKey): Promise<Uint8Array | undefined> {
    assertStoreKey(key)
    const value = await this.#transaction<unknown>('load', 'readonly', (store, done) => {
      const request = store.get([...key])
      request.onsuccess = () => done(request.result)
    })
    if (value === undefined) return undefined
    // Structured clone hands out a fresh copy on every read: nothing aliases the stored bytes.
    return bytesOf(key, value)
  }

  async save(key: StoreKey, data: Uint8Array): Promise<void> {
    assertStoreKey(key)
    // `slice` copies exactly the view's bytes: cloning a view would store its whole buffer.
    const copy = data.slice()
    await this.#transaction<void>('save', 'readwrite', (store) => {
      store.put(copy, [...key])
    })
  }

  async remove(key: StoreKey): Promise<void> {
    assertStoreKey(key)
    await this.#transaction<void>('remove', 'readwrite', (store) => {
      store.delete([...key])
    })
  }

  async loadRange(prefix: StoreKey): Promise<StoreEntry[]> {
    assertStoreKey(prefix, true)
    // Keys and values read in one transaction: the same snapshot, the same order.
    const [keys, values] = await this.#transaction<[IDBValidKey[], unknown[]]>(
      'loadRange',
      'readonly',
      (store, done) => {
        const range = rangeOf(prefix)
        const keysRequest = store.getAllKeys(range)
        const valuesRequest = store.getAll(range)
        valuesRequest.onsuccess = () => done([keysRequest.result, valuesRequest.result])
      },
    )
    return keys.map((key, i) => {
      if (!Array.isArray(key) || !key.every((part) => typeof part === 'string'))
        throw new InvalidStoreValueError(prefix, `a key that is not a list of strings`)
      return { key: key as string[], data: bytesOf(key as string[], values[i]) }
    })
  }

  async removeRange(prefix: StoreKey): Promise<void> {
    assertStoreKey(prefix, true)
    await this.#transaction<void>('removeRange', 'readwrite', (store) => {
      if (prefix.length === 0) store.clear()
      else store.delete(rangeOf(prefix)!)
    })
  }
}

function rangeOf(prefix: StoreKey): IDBKeyRange | undefined {
  if (prefix.length === 0) return undefined
  return IDBKeyRange.bound([...prefix], [...prefix, []])
}

function bytesOf(key: StoreKey, value: unknown): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new InvalidStoreValueError(key, 'not bytes')
  return value
}
