import { sha512 } from '@noble/hashes/sha512'
import { concatBytes, utf8 } from './bytes.ts'
import type { Did } from './ids.ts'
import { parseP256KeyId } from './signature.ts'

// Signal's safety-number construction: iterate SHA-512 over (hash ‖ key) so that finding
// a second key with the same displayed number costs 2^bits × ITERATIONS hashes.
const ITERATIONS = 5200
const GROUPS = 8
const GROUP_DIGITS = 5

/**
 * The number two people compare out of band to check that a key belongs to a DID:
 * 8 groups of 5 digits (40 digits, ≈ 132 bits), bound to both the DID and the key.
 */
export function fingerprint(did: Did, keyId: string): string {
  const publicKey = parseP256KeyId(keyId)
  let hash: Uint8Array = concatBytes(
    utf8('hearth/fingerprint/v1'),
    new Uint8Array([0]),
    utf8(did),
    new Uint8Array([0]),
    publicKey,
  )
  for (let i = 0; i < ITERATIONS; i++) hash = sha512(concatBytes(hash, publicKey))
  const groups: string[] = []
  for (let g = 0; g < GROUPS; g++) {
    const chunk = hash.subarray(g * 5, g * 5 + 5)
    let value = 0
    for (const byte of chunk) value = value * 256 + byte
    groups.push(String(value % 10 ** GROUP_DIGITS).padStart(GROUP_DIGITS, '0'))
  }
  return groups.join(' ')
}
