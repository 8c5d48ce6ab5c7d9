// Writes test-vectors/signatures.json: shared cases every implementation of Hearth's
// signatures must agree on. Regenerate only when the signature format changes:
//   node packages/identity/scripts/generate-vectors.ts
import { writeFileSync } from 'node:fs'
import { formatDidKey } from '@atproto/crypto'
import { p256 } from '@noble/curves/p256'
import {
  deviceKeyFromKeyPair,
  domainSeparated,
  fingerprint,
  asDid,
  toHex,
  utf8,
} from '../src/index.ts'

const N = p256.CURVE.n

async function makeKey() {
  const keyPair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ])
  const key = await deviceKeyFromKeyPair(keyPair)
  return { key, privateJwk: await crypto.subtle.exportKey('jwk', keyPair.privateKey) }
}

function highS(sig: Uint8Array): Uint8Array {
  const out = new Uint8Array(sig)
  const s = BigInt('0x' + toHex(sig.subarray(32)))
  const flipped = (N - s).toString(16).padStart(64, '0')
  out.set(Buffer.from(flipped, 'hex'), 32)
  return out
}

const signer = await makeKey()
const other = await makeKey()
const domain = 'hearth/test-vector/v1'
const message = utf8('hello, hearth')
const signature = await signer.key.sign(domain, message)
const uncompressed = p256.ProjectivePoint.fromHex(signer.key.publicKey).toRawBytes(false)
const did = asDid('did:plc:ewvi7nxzyoun6zhxrhs64oiz')

const base = { keyId: signer.key.keyId, domain, messageHex: toHex(message) }
const vectors = {
  description:
    'Hearth device-key signatures: ECDSA P-256 over SHA-256 of "hearth-sig:" + domain + 0x00 + message, 64-byte r||s, low-S only. Keys are throwaway test keys.',
  signerPrivateJwk: signer.privateJwk,
  signerKeyId: signer.key.keyId,
  signerDeviceId: signer.key.deviceId,
  fingerprint: { did, keyId: signer.key.keyId, expected: fingerprint(did, signer.key.keyId) },
  domainSeparation: {
    domain,
    messageHex: toHex(message),
    signedBytesHex: toHex(domainSeparated(domain, message)),
  },
  cases: [
    { name: 'valid', ...base, signatureHex: toHex(signature), valid: true },
    {
      name: 'high-S twin of a valid signature',
      ...base,
      signatureHex: toHex(highS(signature)),
      valid: false,
    },
    {
      name: 'wrong domain',
      ...base,
      domain: 'hearth/other/v1',
      signatureHex: toHex(signature),
      valid: false,
    },
    {
      name: 'truncated signature',
      ...base,
      signatureHex: toHex(signature.subarray(0, 63)),
      valid: false,
    },
    {
      name: 'wrong key',
      ...base,
      keyId: other.key.keyId,
      signatureHex: toHex(signature),
      valid: false,
    },
    {
      name: 'altered message',
      ...base,
      messageHex: toHex(utf8('hello, hearth!')),
      signatureHex: toHex(signature),
      valid: false,
    },
    {
      name: 'r = 0',
      ...base,
      signatureHex: '00'.repeat(32) + toHex(signature.subarray(32)),
      valid: false,
    },
    {
      name: 'DER instead of raw r||s',
      ...base,
      signatureHex:
        '3044' + '0220' + toHex(signature.subarray(0, 32)) + '0220' + toHex(signature.subarray(32)),
      valid: false,
    },
    {
      name: 'non-canonical key id (uncompressed multikey)',
      ...base,
      keyId: formatUncompressed(uncompressed),
      signatureHex: toHex(signature),
      valid: false,
    },
    {
      name: 'secp256k1 key id',
      ...base,
      keyId: 'did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme',
      signatureHex: toHex(signature),
      valid: false,
    },
  ],
}

// did:key with the uncompressed point (0x1200 multicodec + 65 bytes) is a valid spelling
// elsewhere but not ours: one key must have exactly one id.
function formatUncompressed(point: Uint8Array): string {
  const compressedId = formatDidKey('ES256', point)
  const prefix = new Uint8Array([0x80, 0x24])
  const bytes = new Uint8Array(prefix.length + point.length)
  bytes.set(prefix)
  bytes.set(point, prefix.length)
  return compressedId.slice(0, 'did:key:z'.length) + base58(bytes)
}

function base58(bytes: Uint8Array): string {
  const alphabet = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
  let n = BigInt('0x' + toHex(bytes))
  let out = ''
  while (n > 0n) {
    out = alphabet[Number(n % 58n)] + out
    n /= 58n
  }
  for (const b of bytes) {
    if (b !== 0) break
    out = '1' + out
  }
  return out
}

writeFileSync(
  new URL('../test-vectors/signatures.json', import.meta.url),
  JSON.stringify(vectors, null, 2) + '\n',
)
console.log('wrote test-vectors/signatures.json')
