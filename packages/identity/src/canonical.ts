import * as dagCbor from '@ipld/dag-cbor'
import type { DeviceKey } from './device-key.ts'
import { verifySignature } from './signature.ts'

/**
 * DAG-CBOR, the AT Protocol's own canonical form: map keys sorted, no floats that are
 * integers in disguise, no undefined. The same value always gives the same bytes.
 */
export function canonicalEncode(value: unknown): Uint8Array {
  return dagCbor.encode(value)
}

/** Decodes DAG-CBOR strictly (dag-cbor rejects non-canonical encodings). */
export function canonicalDecode(bytes: Uint8Array): unknown {
  return dagCbor.decode(bytes)
}

export function signCanonical(key: DeviceKey, domain: string, value: unknown): Promise<Uint8Array> {
  return key.sign(domain, canonicalEncode(value))
}

export function verifyCanonical(
  keyId: string,
  domain: string,
  value: unknown,
  signature: Uint8Array,
): Promise<boolean> {
  return verifySignature(keyId, domain, canonicalEncode(value), signature)
}
