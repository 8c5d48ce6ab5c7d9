import { p256 } from '@noble/curves/p256'
import { formatDidKey, parseDidKey } from '@atproto/crypto'
import { asBufferSource, concatBytes, utf8 } from './bytes.ts'

/** The order of the P-256 group: signatures with s > n/2 are the high-S twin of a valid one. */
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n
const P256_HALF_N = P256_N >> 1n
export const SIGNATURE_LENGTH = 64

const ECDSA_SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const

// A domain names what a signature is for ('hearth/event/v1', 'hearth/change/v1', ...),
// so a signature made for one purpose can never be replayed as another.
const DOMAIN_PATTERN = /^[a-z0-9][a-z0-9/._-]{0,63}$/

export class InvalidDomainError extends Error {
  constructor(domain: string) {
    super(`invalid signing domain: ${JSON.stringify(domain.slice(0, 80))}`)
    this.name = 'InvalidDomainError'
  }
}

/** The exact bytes that are signed: "hearth-sig:" + domain, a zero byte, then the message. */
export function domainSeparated(domain: string, message: Uint8Array): Uint8Array {
  if (!DOMAIN_PATTERN.test(domain)) throw new InvalidDomainError(domain)
  return concatBytes(utf8(`hearth-sig:${domain}`), new Uint8Array([0]), message)
}

function readScalar(bytes: Uint8Array): bigint {
  let value = 0n
  for (const b of bytes) value = (value << 8n) | BigInt(b)
  return value
}

function writeScalar(value: bigint, into: Uint8Array, offset: number): void {
  for (let i = 31; i >= 0; i--) {
    into[offset + i] = Number(value & 0xffn)
    value >>= 8n
  }
}

/** True when `sig` is a 64-byte r||s with both in [1, n-1] and s ≤ n/2. */
export function isLowS(sig: Uint8Array): boolean {
  if (sig.length !== SIGNATURE_LENGTH) return false
  const r = readScalar(sig.subarray(0, 32))
  const s = readScalar(sig.subarray(32))
  return r > 0n && r < P256_N && s > 0n && s <= P256_HALF_N
}

/**
 * WebCrypto returns the high-S form about half the time. We only ever emit and accept
 * low-S, so one message has one valid signature per key (no malleable twins).
 */
export function normaliseLowS(sig: Uint8Array): Uint8Array {
  if (sig.length !== SIGNATURE_LENGTH) throw new TypeError('expected a 64-byte r||s signature')
  const s = readScalar(sig.subarray(32))
  if (s <= P256_HALF_N) return sig
  const out = new Uint8Array(sig)
  writeScalar(P256_N - s, out, 32)
  return out
}

export class InvalidKeyIdError extends Error {
  constructor(keyId: string, reason: string) {
    super(`invalid device key id (${reason}): ${JSON.stringify(keyId.slice(0, 80))}`)
    this.name = 'InvalidKeyIdError'
  }
}

/** Parses a did:key of a P-256 key in canonical form; returns the 33-byte compressed point. */
export function parseP256KeyId(keyId: string): Uint8Array {
  if (typeof keyId !== 'string' || keyId.length > 128)
    throw new InvalidKeyIdError(String(keyId), 'too long')
  let parsed
  try {
    parsed = parseDidKey(keyId)
  } catch {
    throw new InvalidKeyIdError(keyId, 'not a did:key')
  }
  if (parsed.jwtAlg !== 'ES256') throw new InvalidKeyIdError(keyId, 'not a P-256 key')
  let compressed: Uint8Array
  try {
    const point = p256.ProjectivePoint.fromHex(parsed.keyBytes)
    point.assertValidity()
    compressed = point.toRawBytes(true)
  } catch {
    throw new InvalidKeyIdError(keyId, 'not a point on P-256')
  }
  // One key, one id: refuse any other spelling of the same key (uncompressed multikey, ...).
  if (formatDidKey('ES256', compressed) !== keyId)
    throw new InvalidKeyIdError(keyId, 'not canonical')
  return compressed
}

export function isP256KeyId(keyId: unknown): keyId is string {
  try {
    parseP256KeyId(keyId as string)
    return true
  } catch {
    return false
  }
}

// Importing a key costs more than a verification; verifiers see the same few keys
// again and again. Bounded so a flood of distinct keys cannot grow memory.
const MAX_CACHED_KEYS = 4096
const importedKeys = new Map<string, Promise<CryptoKey>>()

function importVerifyKey(keyId: string): Promise<CryptoKey> {
  const cached = importedKeys.get(keyId)
  if (cached) return cached
  const compressed = parseP256KeyId(keyId)
  const uncompressed = p256.ProjectivePoint.fromHex(compressed).toRawBytes(false)
  const imported = crypto.subtle.importKey(
    'raw',
    asBufferSource(uncompressed),
    { name: 'ECDSA', namedCurve: 'P-256' },
    true,
    ['verify'],
  )
  if (importedKeys.size >= MAX_CACHED_KEYS) {
    const oldest = importedKeys.keys().next().value
    if (oldest !== undefined) importedKeys.delete(oldest)
  }
  importedKeys.set(keyId, imported)
  return imported
}

/**
 * Verifies a low-S P-256 signature over `domainSeparated(domain, message)`.
 * Returns false for any malformed input (bad key id, wrong length, high-S); never throws
 * on peer-controlled data except for a programming error in `domain`.
 */
export async function verifySignature(
  keyId: string,
  domain: string,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  const signed = domainSeparated(domain, message)
  if (!isLowS(signature)) return false
  let key: CryptoKey
  try {
    key = await importVerifyKey(keyId)
  } catch {
    return false
  }
  return crypto.subtle.verify(ECDSA_SIGN, key, asBufferSource(signature), asBufferSource(signed))
}

/** Signs with a WebCrypto private key; the signature is normalised to low-S. */
export async function signWithPrivateKey(
  privateKey: CryptoKey,
  domain: string,
  message: Uint8Array,
): Promise<Uint8Array> {
  const signed = domainSeparated(domain, message)
  const raw = await crypto.subtle.sign(ECDSA_SIGN, privateKey, asBufferSource(signed))
  return normaliseLowS(new Uint8Array(raw))
}
