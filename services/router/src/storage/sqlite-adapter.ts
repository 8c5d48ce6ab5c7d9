import { createHash } from 'node:crypto'
import Database from 'better-sqlite3'
import type { Chunk, StorageAdapterInterface, StorageKey } from '@automerge/automerge-repo/slim'
import {
  ChunkTooLargeError,
  StorageClosedError,
  StorageLockedError,
  type CorruptChunkEvent,
  type CorruptChunkReason,
} from './errors.ts'
import { decodeKey, encodeKey, prefixRange } from './key-codec.ts'

/**
 * Default cap on one stored chunk: 32 MiB. An automerge-repo chunk is one incremental save
 * or one whole-document snapshot; at ~61 bytes a message a 100k-message document is ~6 MB,
 * so the cap leaves room while keeping one read's allocation bounded. The router's document
 * quotas must stay below it: a refused save is an error, not a truncation.
 */
export const DEFAULT_MAX_CHUNK_BYTES = 32 * 1024 * 1024
/** Quarantined rows kept for forensics; older ones are dropped so a failing disk cannot fill it. */
export const MAX_QUARANTINED_CHUNKS = 1000

export interface SqliteStorageOptions {
  /** Database file; created if missing. */
  path: string
  maxChunkBytes?: number
  /** Told about every chunk refused on read; called synchronously, must not throw. */
  onCorruptChunk?: (event: CorruptChunkEvent) => void
  /** Extra check on a chunk whose checksum matches (e.g. Automerge framing); false = corrupt. */
  validateChunk?: (key: StorageKey, data: Uint8Array) => boolean
  /**
   * Writes after `close()` to keys this accepts are dropped instead of rejected. automerge-repo's
   * `shutdown()` does not flush its throttled sync-state saves, and a rejection there is an
   * unhandled one (the Repo calls save with `void`), which would end the process. Sync state is
   * a cache: losing it costs one longer sync. Default: keys whose second part is 'sync-state'.
   */
  droppableAfterClose?: (key: StorageKey) => boolean
  /** How long to wait for another process's lock on the file before StorageLockedError (default 5000). */
  lockTimeoutMs?: number
  /** Quarantined rows kept (default MAX_QUARANTINED_CHUNKS). */
  maxQuarantined?: number
  /** Clock for quarantine timestamps. */
  now?: () => number
}

interface Row {
  id: number
  key: Buffer
  data: Buffer
  sha256: Buffer
}

/**
 * automerge-repo's storage seam on SQLite (better-sqlite3).
 *
 * Durability: WAL with `synchronous = FULL`, every call one autocommit transaction, so once
 * `save()`, `remove()` or `removeRange()` resolves the WAL has been fsynced and the change
 * survives SIGKILL and power loss. The calls are synchronous underneath (better-sqlite3):
 * an fsync blocks the event loop for its duration, which is the price of "resolved means durable".
 *
 * Integrity: each row carries SHA-256(len(key) ‖ key ‖ data), checked on every read. A row
 * that fails (or that `validateChunk` refuses) is moved to the `quarantine` table, reported
 * through `onCorruptChunk` and not returned: automerge-repo then lacks those changes and
 * fetches them again from peers through sync. Reads never throw for a bad chunk.
 *
 * One process per file: the adapter holds SQLite's lock exclusively (StorageLockedError for a
 * second opener), since automerge-repo's in-memory idea of what is stored must stay true.
 */
export class SqliteStorageAdapter implements StorageAdapterInterface {
  readonly maxChunkBytes: number
  readonly path: string
  readonly #db: Database.Database
  readonly #onCorrupt: (event: CorruptChunkEvent) => void
  readonly #validate: ((key: StorageKey, data: Uint8Array) => boolean) | undefined
  readonly #now: () => number
  readonly #maxQuarantined: number
  readonly #droppableAfterClose: (key: StorageKey) => boolean
  readonly #stmt: Statements
  #closed = false

  constructor(options: SqliteStorageOptions) {
    this.path = options.path
    this.maxChunkBytes = options.maxChunkBytes ?? DEFAULT_MAX_CHUNK_BYTES
    this.#onCorrupt = options.onCorruptChunk ?? (() => {})
    this.#validate = options.validateChunk
    this.#now = options.now ?? Date.now
    this.#maxQuarantined = options.maxQuarantined ?? MAX_QUARANTINED_CHUNKS
    this.#droppableAfterClose = options.droppableAfterClose ?? ((key) => key[1] === 'sync-state')
    this.#db = new Database(options.path, { timeout: options.lockTimeoutMs ?? 5000 })
    try {
      // One router per file: automerge-repo keeps what it saved in memory, so a second writer
      // would silently diverge from it. EXCLUSIVE also keeps the WAL index in process memory
      // (no -shm file). Several routers share Postgres instead (design §5).
      this.#db.pragma('locking_mode = EXCLUSIVE')
      try {
        this.#db.exec('BEGIN EXCLUSIVE; COMMIT')
      } catch (err) {
        if (err instanceof Database.SqliteError && err.code.startsWith('SQLITE_BUSY'))
          throw new StorageLockedError(options.path)
        throw err
      }
      const mode: unknown = this.#db.pragma('journal_mode = WAL', { simple: true })
      if (mode !== 'wal') throw new Error(`SQLite refused WAL mode (got ${String(mode)})`)
      // FULL: the WAL is fsynced at every commit; NORMAL would only fsync at checkpoints
      // and could lose the last acknowledged writes on power loss.
      this.#db.pragma('synchronous = FULL')
      this.#db.pragma('cell_size_check = ON')
      this.#db.pragma('trusted_schema = OFF')
      this.#db.exec(`
        CREATE TABLE IF NOT EXISTS chunks (
          id INTEGER PRIMARY KEY,
          key BLOB NOT NULL UNIQUE,
          data BLOB NOT NULL,
          sha256 BLOB NOT NULL
        );
        CREATE TABLE IF NOT EXISTS quarantine (
          id INTEGER PRIMARY KEY,
          key BLOB NOT NULL,
          data BLOB,
          sha256 BLOB,
          reason TEXT NOT NULL,
          detected_at INTEGER NOT NULL
        );
      `)
      this.#stmt = prepareStatements(this.#db)
    } catch (err) {
      this.#db.close()
      throw err
    }
  }

  async load(key: StorageKey): Promise<Uint8Array | undefined> {
    this.#open()
    const encoded = encodeKey(key)
    let row: Row | undefined
    try {
      row = this.#stmt.load.get(encoded)
    } catch (err) {
      if (!isCorruption(err)) throw err
      this.#unreadable(key, encoded)
      return undefined
    }
    if (!row) return undefined
    return this.#verified(row)?.data
  }

  async save(key: StorageKey, data: Uint8Array): Promise<void> {
    if (this.#closed && this.#droppableAfterClose(key)) return
    this.#open()
    if (data.byteLength > this.maxChunkBytes)
      throw new ChunkTooLargeError(key, data.byteLength, this.maxChunkBytes)
    const encoded = encodeKey(key)
    this.#stmt.save.run(encoded, data, checksum(encoded, data))
  }

  async remove(key: StorageKey): Promise<void> {
    this.#open()
    this.#stmt.remove.run(encodeKey(key))
  }

  async loadRange(keyPrefix: StorageKey): Promise<Chunk[]> {
    this.#open()
    const { lower, upper } = prefixRange(keyPrefix)
    let rows: Row[]
    try {
      rows = this.#stmt.range.all(lower, upper)
    } catch (err) {
      if (!isCorruption(err)) throw err
      rows = this.#salvageRange(lower, upper)
    }
    const chunks: Chunk[] = []
    for (const row of rows) {
      const chunk = this.#verified(row)
      if (chunk) chunks.push(chunk)
    }
    return chunks
  }

  /**
   * The range scan hit damaged pages: list the keys through the key index alone, then read
   * row by row, skipping (and reporting) the rows SQLite cannot read.
   */
  #salvageRange(lower: Uint8Array, upper: Uint8Array): Row[] {
    let ids: { id: number; key: Buffer }[]
    try {
      ids = this.#stmt.rangeKeys.all(lower, upper)
    } catch (err) {
      if (!isCorruption(err)) throw err
      this.#report({ key: undefined, reason: 'unreadable', bytes: 0, quarantined: false })
      return []
    }
    const rows: Row[] = []
    for (const { id, key } of ids) {
      try {
        const row = this.#stmt.byId.get(id)
        if (row) rows.push(row)
      } catch (err) {
        if (!isCorruption(err)) throw err
        this.#unreadable(safeDecode(key), key)
      }
    }
    return rows
  }

  /** A row SQLite itself cannot read (damaged pages): skipped and reported, dropped if possible. */
  #unreadable(key: StorageKey | undefined, encoded: Uint8Array): void {
    let dropped = false
    try {
      dropped = this.#stmt.remove.run(encoded).changes > 0
    } catch {
      // Freeing a broken overflow chain fails too; the row stays and is skipped on every read.
    }
    this.#report({ key, reason: 'unreadable', bytes: 0, quarantined: dropped })
  }

  async removeRange(keyPrefix: StorageKey): Promise<void> {
    this.#open()
    const { lower, upper } = prefixRange(keyPrefix)
    this.#stmt.removeRange.run(lower, upper)
  }

  /** Rows in quarantine (for operators and tests). */
  quarantinedCount(): number {
    this.#open()
    const row = this.#db.prepare('SELECT COUNT(*) AS n FROM quarantine').get() as { n: number }
    return row.n
  }

  /** The connection's journal mode and synchronous level (2 = FULL), for health checks and tests. */
  durability(): { journalMode: string; synchronous: number } {
    this.#open()
    return {
      journalMode: String(this.#db.pragma('journal_mode', { simple: true })),
      synchronous: Number(this.#db.pragma('synchronous', { simple: true })),
    }
  }

  /** `PRAGMA integrity_check`: `['ok']` for a sound file. */
  integrityCheck(): string[] {
    this.#open()
    const rows = this.#db.pragma('integrity_check') as { integrity_check: string }[]
    return rows.map((row) => row.integrity_check)
  }

  /** Checkpoints the WAL into the main file and closes; later calls reject with StorageClosedError. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    try {
      this.#db.pragma('wal_checkpoint(TRUNCATE)')
    } finally {
      this.#db.close()
    }
  }

  #open(): void {
    if (this.#closed) throw new StorageClosedError()
  }

  #verified(row: Row): Chunk | undefined {
    // A damaged or hand-edited row can hold any SQLite type; BLOB affinity converts nothing.
    const { key: k, data: d, sha256: h } = row as { key: unknown; data: unknown; sha256: unknown }
    if (!(k instanceof Uint8Array) || !(d instanceof Uint8Array) || !(h instanceof Uint8Array)) {
      this.#quarantine(row, k instanceof Uint8Array ? safeDecode(k) : undefined, 'checksum')
      return undefined
    }
    let key: StorageKey
    try {
      key = decodeKey(row.key)
    } catch {
      this.#quarantine(row, undefined, 'undecodable-key')
      return undefined
    }
    if (!checksum(row.key, row.data).equals(row.sha256)) {
      this.#quarantine(row, key, 'checksum')
      return undefined
    }
    // A copy, not better-sqlite3's Buffer: callers get a plain Uint8Array they may keep.
    const data = new Uint8Array(row.data)
    if (this.#validate && !safely(() => this.#validate!(key, data))) {
      this.#quarantine(row, key, 'invalid')
      return undefined
    }
    return { key, data }
  }

  #quarantine(row: Row, key: StorageKey | undefined, reason: CorruptChunkReason): void {
    let quarantined = true
    try {
      this.#db.transaction(() => {
        this.#stmt.quarantine.run(row.key, row.data, row.sha256, reason, this.#now())
        this.#stmt.dropRow.run(row.id)
        this.#stmt.trimQuarantine.run(this.#maxQuarantined)
      })()
    } catch {
      // A page too damaged to copy: drop the row alone so the next start does not trip on it again.
      quarantined = false
      try {
        this.#stmt.dropRow.run(row.id)
      } catch {
        // Still readable next time, still skipped next time: never a crash loop.
      }
    }
    const bytes = (row.data as unknown) instanceof Uint8Array ? row.data.byteLength : 0
    this.#report({ key, reason, bytes, quarantined })
  }

  #report(event: CorruptChunkEvent): void {
    try {
      this.#onCorrupt(event)
    } catch {
      // A throwing metrics hook must not turn a skipped chunk into a failed load.
    }
  }
}

function prepareStatements(db: Database.Database) {
  return {
    load: db.prepare<[Uint8Array], Row>('SELECT id, key, data, sha256 FROM chunks WHERE key = ?'),
    range: db.prepare<[Uint8Array, Uint8Array], Row>(
      // rowid order = first-insertion order, which is what automerge-repo's own
      // acceptance suite expects from loadRange.
      'SELECT id, key, data, sha256 FROM chunks WHERE key >= ? AND key < ? ORDER BY id',
    ),
    save: db.prepare<[Uint8Array, Uint8Array, Uint8Array]>(
      'INSERT INTO chunks (key, data, sha256) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET data = excluded.data, sha256 = excluded.sha256',
    ),
    rangeKeys: db.prepare<[Uint8Array, Uint8Array], { id: number; key: Buffer }>(
      'SELECT id, key FROM chunks INDEXED BY sqlite_autoindex_chunks_1 WHERE key >= ? AND key < ? ORDER BY id',
    ),
    byId: db.prepare<[number], Row>('SELECT id, key, data, sha256 FROM chunks WHERE id = ?'),
    remove: db.prepare<[Uint8Array]>('DELETE FROM chunks WHERE key = ?'),
    removeRange: db.prepare<[Uint8Array, Uint8Array]>(
      'DELETE FROM chunks WHERE key >= ? AND key < ?',
    ),
    quarantine: db.prepare<[Uint8Array, Uint8Array, Uint8Array, string, number]>(
      'INSERT INTO quarantine (key, data, sha256, reason, detected_at) VALUES (?, ?, ?, ?, ?)',
    ),
    dropRow: db.prepare<[number]>('DELETE FROM chunks WHERE id = ?'),
    trimQuarantine: db.prepare<[number]>(
      'DELETE FROM quarantine WHERE id <= (SELECT MAX(id) FROM quarantine) - ?',
    ),
  }
}
type Statements = ReturnType<typeof prepareStatements>

function checksum(encodedKey: Uint8Array, data: Uint8Array): Buffer {
  const length = Buffer.alloc(4)
  length.writeUInt32BE(encodedKey.byteLength)
  return createHash('sha256').update(length).update(encodedKey).update(data).digest()
}

function isCorruption(err: unknown): boolean {
  if (!(err instanceof Database.SqliteError)) return false
  return err.code.startsWith('SQLITE_CORRUPT') || err.code === 'SQLITE_NOTADB'
}

function safeDecode(key: Uint8Array): StorageKey | undefined {
  try {
    return decodeKey(key)
  } catch {
    return undefined
  }
}

function safely(check: () => boolean): boolean {
  try {
    return check() === true
  } catch {
    return false
  }
}
