import type { StorageKey } from '@automerge/automerge-repo/slim'

/** A key the storage seam refuses: empty, too long, or not representable exactly. */
export class InvalidStorageKeyError extends Error {
  readonly key: readonly string[]
  readonly reason: 'empty' | 'too-many-parts' | 'too-long' | 'not-well-formed'
  constructor(key: readonly string[], reason: InvalidStorageKeyError['reason']) {
    super(`invalid storage key (${reason})`)
    this.name = 'InvalidStorageKeyError'
    this.key = key
    this.reason = reason
  }
}

/** A chunk above the adapter's per-chunk cap; nothing was written. */
export class ChunkTooLargeError extends Error {
  readonly key: StorageKey
  readonly bytes: number
  readonly maxBytes: number
  constructor(key: StorageKey, bytes: number, maxBytes: number) {
    super(`chunk of ${bytes} bytes exceeds the ${maxBytes}-byte cap`)
    this.name = 'ChunkTooLargeError'
    this.key = key
    this.bytes = bytes
    this.maxBytes = maxBytes
  }
}

/** The adapter was closed; in-flight callers get this instead of a SQLite error. */
export class StorageClosedError extends Error {
  constructor() {
    super('storage adapter is closed')
    this.name = 'StorageClosedError'
  }
}

/** Another process (another router) holds the database file. */
export class StorageLockedError extends Error {
  readonly path: string
  constructor(path: string) {
    super(`storage file is in use by another process: ${path}`)
    this.name = 'StorageLockedError'
    this.path = path
  }
}

/** Why a stored chunk was refused on read. */
export type CorruptChunkReason =
  /** Its bytes (or key) no longer match the SHA-256 stored beside them. */
  | 'checksum'
  /** The checksum matches but the optional `validateChunk` hook refused the bytes. */
  | 'invalid'
  /** Its stored key cannot be decoded (so it cannot be returned under any key). */
  | 'undecodable-key'
  /** SQLite cannot read the row at all (damaged pages); `key` is undefined if even the index is. */
  | 'unreadable'

export interface CorruptChunkEvent {
  /** The key as decoded, or undefined when the key itself is what is broken. */
  key: StorageKey | undefined
  reason: CorruptChunkReason
  bytes: number
  /** True when the row left the live table (quarantined, or dropped when unreadable). */
  quarantined: boolean
}
