import { formatDidKey } from '@atproto/crypto'
import { p256 } from '@noble/curves/p256'
import { base32 } from 'multiformats/bases/base32'
import { sha256 } from '@noble/hashes/sha256'
import { parseP256KeyId, signWithPrivateKey } from './signature.ts'

/**
 * A device's signing key. The private half is a WebCrypto key that stays on the device
 * (non-extractable by default); what leaves the device is `keyId`, a did:key.
 */
export interface DeviceKey {
  /** did:key of the compressed P-256 public key (multikey `zDn…`). */
  readonly keyId: string
  /** 33-byte compressed public key. */
  readonly publicKey: Uint8Array
  /** Short stable id of this device: the record key of its binding record. */
  readonly deviceId: string
  /** Signs `message` for `domain`; returns a 64-byte low-S r||s signature. */
  sign(domain: string, message: Uint8Array): Promise<Uint8Array>
}

const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const

export async function generateDeviceKey(
  options: { extractable?: boolean } = {},
): Promise<{ key: DeviceKey; keyPair: CryptoKeyPair }> {
  const keyPair = await crypto.subtle.generateKey(ECDSA_P256, options.extractable ?? false, [
    'sign',
    'verify',
  ])
  return { key: await deviceKeyFromKeyPair(keyPair), keyPair }
}

/** Wraps a stored CryptoKeyPair (e.g. loaded back from IndexedDB). */
export async function deviceKeyFromKeyPair(keyPair: CryptoKeyPair): Promise<DeviceKey> {
  const raw = new Uint8Array(await crypto.subtle.exportKey('raw', keyPair.publicKey))
  const publicKey = p256.ProjectivePoint.fromHex(raw).toRawBytes(true)
  const keyId = formatDidKey('ES256', publicKey)
  const deviceId = deviceIdFromPublicKey(publicKey)
  const privateKey = keyPair.privateKey
  return {
    keyId,
    publicKey,
    deviceId,
    sign: (domain, message) => signWithPrivateKey(privateKey, domain, message),
  }
}

/** base32 of the first 16 bytes of SHA-256(public key): 26 characters, a valid record key. */
export function deviceIdFromPublicKey(publicKey: Uint8Array): string {
  return base32.baseEncode(sha256(publicKey).subarray(0, 16))
}

export function deviceIdFromKeyId(keyId: string): string {
  return deviceIdFromPublicKey(parseP256KeyId(keyId))
}
