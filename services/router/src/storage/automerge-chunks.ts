import { createHash } from 'node:crypto'
import type { StorageKey } from '@automerge/automerge-repo/slim'

const MAGIC = [0x85, 0x6f, 0x4a, 0x83] as const
const DOCUMENT = 0
const CHANGE = 1
const DEFLATED_CHANGE = 2
const BUNDLE = 3

/**
 * Whether bytes are a sequence of well-formed Automerge storage chunks: magic, 4-byte checksum,
 * type, uleb128 length, body, repeated to the exact end. For document and change chunks the
 * checksum (first 4 bytes of SHA-256 over type, length and body) is checked too; for deflated
 * changes and bundles only the framing, since their checksum is not over the stored bytes and a
 * false alarm would throw away good data. Automerge itself tolerates a bad chunk in
 * `loadIncremental` by silently dropping it and everything after it in the same blob.
 */
export function isWellFormedAutomergeData(data: Uint8Array): boolean {
  let i = 0
  while (i < data.length) {
    if (data.length - i < 10) return false
    for (let m = 0; m < 4; m++) if (data[i + m] !== MAGIC[m]) return false
    const type = data[i + 8]!
    if (type !== DOCUMENT && type !== CHANGE && type !== DEFLATED_CHANGE && type !== BUNDLE)
      return false
    const length = readUleb(data, i + 9)
    if (!length) return false
    const end = length.next + length.value
    if (end > data.length) return false
    if (type === DOCUMENT || type === CHANGE) {
      const digest = createHash('sha256')
        .update(data.subarray(i + 8, end))
        .digest()
      for (let c = 0; c < 4; c++) if (digest[c] !== data[i + 4 + c]) return false
    }
    i = end
  }
  return true
}

/**
 * A `validateChunk` hook for SqliteStorageAdapter: document data (automerge-repo's
 * `[docId, 'snapshot' | 'incremental', hash]` keys) must be well-formed Automerge; other keys
 * (sync state, the storage id) are not Automerge chunks and pass.
 */
export function automergeChunkValidator(key: StorageKey, data: Uint8Array): boolean {
  if (key.length !== 3 || (key[1] !== 'snapshot' && key[1] !== 'incremental')) return true
  return isWellFormedAutomergeData(data)
}

function readUleb(data: Uint8Array, start: number): { value: number; next: number } | undefined {
  let value = 0
  for (let i = start, shift = 0; i < data.length && shift < 35; i++, shift += 7) {
    const b = data[i]!
    value += (b & 0x7f) * 2 ** shift
    if ((b & 0x80) === 0) return { value, next: i + 1 }
  }
  return undefined
}
