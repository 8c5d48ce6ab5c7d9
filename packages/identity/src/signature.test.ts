import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { canonicalDecode, canonicalEncode, signCanonical, verifyCanonical } from './canonical.ts'
import { deviceKeyFromKeyPair, generateDeviceKey } from './device-key.ts'
import { fromHex, toHex } from './bytes.ts'
import { fingerprint } from './fingerprint.ts'
import { asDid } from './ids.ts'
import {
  domainSeparated,
  InvalidDomainError,
  isLowS,
  isP256KeyId,
  normaliseLowS,
  verifySignature,
} from './signature.ts'

const vectorFile = z.object({
  signerPrivateJwk: z.looseObject({ d: z.string() }),
  signerKeyId: z.string(),
  signerDeviceId: z.string(),
  fingerprint: z.object({ did: z.string(), keyId: z.string(), expected: z.string() }),
  domainSeparation: z.object({
    domain: z.string(),
    messageHex: z.string(),
    signedBytesHex: z.string(),
  }),
  cases: z.array(
    z.object({
      name: z.string(),
      keyId: z.string(),
      domain: z.string(),
      messageHex: z.string(),
      signatureHex: z.string(),
      valid: z.boolean(),
    }),
  ),
})
const vectors = vectorFile.parse(
  JSON.parse(readFileSync(new URL('../test-vectors/signatures.json', import.meta.url), 'utf8')),
)

async function importVectorSigner() {
  const jwk = vectors.signerPrivateJwk as JsonWebKey
  const privateKey = await crypto.subtle.importKey(
    'jwk',
    jwk,
    { name: 'ECDSA', namedCurve: 'P-256' },
    false,
    ['sign'],
  )
  const { d: _d, ...publicJwk } = jwk
  const publicKey = await crypto.subtle.importKey(
    'jwk',
    { ...publicJwk, key_ops: ['verify'] },
    { name: 'ECDSA', namedCurve: 'P-256' },
    true,
    ['verify'],
  )
  return deviceKeyFromKeyPair({ privateKey, publicKey })
}

describe('signature test vectors', () => {
  it('has both valid and invalid cases', () => {
    expect(vectors.cases.filter((c) => c.valid).length).toBeGreaterThan(0)
    expect(vectors.cases.filter((c) => !c.valid).length).toBeGreaterThanOrEqual(8)
  })
  it.each(vectors.cases)('$name → valid: $valid', async (c) => {
    const ok = await verifySignature(
      c.keyId,
      c.domain,
      fromHex(c.messageHex),
      fromHex(c.signatureHex),
    )
    expect(ok).toBe(c.valid)
  })
  it('domain separation produces the committed bytes', () => {
    const d = vectors.domainSeparation
    expect(toHex(domainSeparated(d.domain, fromHex(d.messageHex)))).toBe(d.signedBytesHex)
  })
  it('the vector key derives the committed key id, device id and fingerprint', async () => {
    const key = await importVectorSigner()
    expect(key.keyId).toBe(vectors.signerKeyId)
    expect(key.deviceId).toBe(vectors.signerDeviceId)
    expect(fingerprint(asDid(vectors.fingerprint.did), vectors.fingerprint.keyId)).toBe(
      vectors.fingerprint.expected,
    )
  })
})

describe('device keys', () => {
  it('are non-extractable by default', async () => {
    const { keyPair } = await generateDeviceKey()
    expect(keyPair.privateKey.extractable).toBe(false)
    await expect(crypto.subtle.exportKey('jwk', keyPair.privateKey)).rejects.toThrow()
  })
  it('always emit low-S signatures that verify', async () => {
    const { key } = await generateDeviceKey()
    for (let i = 0; i < 64; i++) {
      const message = crypto.getRandomValues(new Uint8Array(32))
      const sig = await key.sign('hearth/test/v1', message)
      expect(isLowS(sig)).toBe(true)
      expect(await verifySignature(key.keyId, 'hearth/test/v1', message, sig)).toBe(true)
    }
  })
  it('produce canonical did:key ids', async () => {
    const { key } = await generateDeviceKey()
    expect(key.keyId).toMatch(/^did:key:zDn[1-9A-HJ-NP-Za-km-z]+$/)
    expect(isP256KeyId(key.keyId)).toBe(true)
    expect(key.deviceId).toMatch(/^[a-z2-7]{26}$/)
  })
})

describe('low-S', () => {
  it('normalising is idempotent and keeps verification', async () => {
    const { key } = await generateDeviceKey()
    const sig = await key.sign('hearth/test/v1', new Uint8Array([1]))
    expect(normaliseLowS(sig)).toEqual(sig)
  })
  it('refuses signatures of the wrong length instead of guessing', () => {
    expect(() => normaliseLowS(new Uint8Array(63))).toThrow(TypeError)
    expect(isLowS(new Uint8Array(64))).toBe(false)
  })
})

describe('domains', () => {
  it.each(['', 'Hearth/Upper', 'has space', 'nul\u0000byte', 'x'.repeat(65)])(
    'refuses %j',
    (domain) => {
      expect(() => domainSeparated(domain, new Uint8Array())).toThrow(InvalidDomainError)
    },
  )
})

describe('canonical encoding', () => {
  it('is independent of key order and round-trips', async () => {
    const a = canonicalEncode({ b: 1, a: 'x', c: [1, 2] })
    const b = canonicalEncode({ c: [1, 2], a: 'x', b: 1 })
    expect(toHex(a)).toBe(toHex(b))
    expect(canonicalDecode(a)).toEqual({ a: 'x', b: 1, c: [1, 2] })
    const { key } = await generateDeviceKey()
    const sig = await signCanonical(key, 'hearth/test/v1', { b: 1, a: 'x' })
    expect(await verifyCanonical(key.keyId, 'hearth/test/v1', { a: 'x', b: 1 }, sig)).toBe(true)
    expect(await verifyCanonical(key.keyId, 'hearth/test/v1', { a: 'y', b: 1 }, sig)).toBe(false)
  })
})

describe('fingerprints', () => {
  it('show at least 100 bits and bind the DID as well as the key', async () => {
    const { key } = await generateDeviceKey()
    const a = fingerprint(asDid('did:plc:aaaa'), key.keyId)
    expect(a).toMatch(/^(\d{5} ){7}\d{5}$/)
    expect(8 * Math.log2(100_000)).toBeGreaterThanOrEqual(100)
    expect(fingerprint(asDid('did:plc:aaab'), key.keyId)).not.toBe(a)
    const { key: other } = await generateDeviceKey()
    expect(fingerprint(asDid('did:plc:aaaa'), other.keyId)).not.toBe(a)
  })
})
