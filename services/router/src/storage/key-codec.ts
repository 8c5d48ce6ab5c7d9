import type { StorageKey } from '@automerge/automerge-repo/slim'
import { InvalidStorageKeyError } from './errors.ts'

/**
 * Storage keys as bytes whose byte-wise order makes a key prefix an exact range.
 *
 * Each part is its UTF-8 bytes with 0x00 escaped as 0x01 0x01 and 0x01 as 0x01 0x02,
 * followed by a 0x00 terminator. No part contains a bare 0x00, so the first 0x00 ends a
 * part: `['a', 'b']`, `['a\u0000b']` and `['ab']` all differ, and the keys under a prefix
 * are exactly those in `[enc(prefix), enc(prefix) with its last 0x00 raised to 0x01)`.
 * No LIKE, no wildcard, no character that needs quoting.
 *
 * Lone UTF-16 surrogates are refused: UTF-8 cannot carry them, so two different JS
 * strings would map to the same bytes.
 */

/** At most this many parts per key (automerge-repo uses 1 to 3). */
export const MAX_KEY_PARTS = 16
/** At most this many encoded bytes per key (automerge-repo's are under 200). */
export const MAX_KEY_BYTES = 1024

// In a /u regex a surrogate pair is one code point, so this matches only unpaired halves.
const LONE_SURROGATE = /\p{Cs}/u
const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

export function encodeKey(key: StorageKey): Uint8Array {
  if (key.length === 0) throw new InvalidStorageKeyError(key, 'empty')
  return encodeParts(key)
}

/** The half-open byte range holding every key that starts with `prefix` (all keys for `[]`). */
export function prefixRange(prefix: StorageKey): { lower: Uint8Array; upper: Uint8Array } {
  if (prefix.length === 0) return { lower: new Uint8Array(0), upper: Uint8Array.of(0xff) }
  const lower = encodeParts(prefix)
  const upper = lower.slice()
  upper[upper.length - 1] = 0x01
  return { lower, upper }
}

/** Whether the encoded `key` lies under the encoded prefix (for adapters without range scans). */
export function hasEncodedPrefix(key: Uint8Array, prefix: Uint8Array): boolean {
  if (prefix.length > key.length) return false
  for (let i = 0; i < prefix.length; i++) if (key[i] !== prefix[i]) return false
  return true
}

/** Inverse of `encodeKey`; throws on bytes it could not have produced. */
export function decodeKey(bytes: Uint8Array): StorageKey {
  const parts: string[] = []
  let part: number[] = []
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!
    if (b === 0x00) {
      parts.push(decoder.decode(Uint8Array.from(part)))
      part = []
    } else if (b === 0x01) {
      const next = bytes[++i]
      if (next === 0x01) part.push(0x00)
      else if (next === 0x02) part.push(0x01)
      else throw new InvalidStorageKeyError(parts, 'not-well-formed')
    } else part.push(b)
  }
  if (part.length > 0 || parts.length === 0)
    throw new InvalidStorageKeyError(parts, 'not-well-formed')
  return parts
}

function encodeParts(key: StorageKey): Uint8Array {
  if (key.length > MAX_KEY_PARTS) throw new InvalidStorageKeyError(key, 'too-many-parts')
  const out: number[] = []
  for (const part of key) {
    if (typeof part !== 'string' || LONE_SURROGATE.test(part))
      throw new InvalidStorageKeyError(key, 'not-well-formed')
    for (const b of encoder.encode(part)) {
      if (b === 0x00) out.push(0x01, 0x01)
      else if (b === 0x01) out.push(0x01, 0x02)
      else out.push(b)
    }
    out.push(0x00)
    if (out.length > MAX_KEY_BYTES) throw new InvalidStorageKeyError(key, 'too-long')
  }
  return Uint8Array.from(out)
}
