// @hearth/identity: who is who, and proofs of it. No I/O of its own.
// Service-auth JWT checks (Node only) live at '@hearth/identity/service-jwt'.

// DIDs and handles
export {
  asDid,
  asHandle,
  assertDid,
  assertHandle,
  InvalidDidError,
  InvalidHandleError,
  isDid,
  isHandle,
  MAX_DID_LENGTH,
  MAX_HANDLE_LENGTH,
} from './ids.ts'
export type { Did, Handle } from './ids.ts'

// Device keys
export {
  deviceIdFromKeyId,
  deviceIdFromPublicKey,
  deviceKeyFromKeyPair,
  generateDeviceKey,
} from './device-key.ts'
export type { DeviceKey } from './device-key.ts'

// Signatures
export {
  domainSeparated,
  InvalidDomainError,
  InvalidKeyIdError,
  isLowS,
  isP256KeyId,
  normaliseLowS,
  parseP256KeyId,
  SIGNATURE_LENGTH,
  signWithPrivateKey,
  verifySignature,
} from './signature.ts'
export { canonicalDecode, canonicalEncode, signCanonical, verifyCanonical } from './canonical.ts'

// Fingerprints
export { fingerprint } from './fingerprint.ts'

// Bytes
export { concatBytes, equalBytes, fromHex, sha256, toHex, utf8 } from './bytes.ts'

// Service identities (did:web + fragment)
export { serviceDidDocument, serviceIdentity } from './service-identity.ts'
export type { ServiceIdentity } from './service-identity.ts'
