import { P256Keypair, Secp256k1Keypair } from '@atproto/crypto'
import { createServiceJwt } from '@atproto/xrpc-server'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  JtiReplayCache,
  ServiceJwtError,
  verifyServiceJwt,
  type ServiceJwtFailure,
} from './service-jwt.ts'

const AUD = 'did:web:keys.hearth.test#hearth_keyserver'
const LXM = 'app.hearth.keyserver.registerDevice'
const ALICE = 'did:plc:alicealicealicealice00'
const MALLORY = 'did:plc:mallorymallorymallory00'

let alice: Secp256k1Keypair
let mallory: Secp256k1Keypair
let aliceP256: P256Keypair
const keys = new Map<string, string>()

beforeAll(async () => {
  alice = await Secp256k1Keypair.create()
  mallory = await Secp256k1Keypair.create()
  aliceP256 = await P256Keypair.create()
  keys.set(ALICE, alice.did())
  keys.set(MALLORY, mallory.did())
})

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const now = () => Math.floor(Date.now() / 1000)

interface Claims {
  iss?: unknown
  aud?: unknown
  exp?: unknown
  iat?: unknown
  lxm?: unknown
  jti?: unknown
  [k: string]: unknown
}

function claims(overrides: Claims = {}): Claims {
  const t = now()
  const base: Claims = {
    iss: ALICE,
    aud: AUD,
    iat: t,
    exp: t + 60,
    lxm: LXM,
    jti: crypto.randomUUID(),
  }
  const out: Claims = { ...base, ...overrides }
  for (const [k, v] of Object.entries(out)) if (v === undefined) delete out[k]
  return out
}

async function token(
  payload: Claims = claims(),
  header: Record<string, unknown> = { typ: 'JWT', alg: 'ES256K' },
  signer: { sign(b: Uint8Array): Promise<Uint8Array> } = alice,
): Promise<string> {
  const signingInput = `${b64(header)}.${b64(payload)}`
  const sig = await signer.sign(Buffer.from(signingInput, 'utf8'))
  return `${signingInput}.${Buffer.from(sig).toString('base64url')}`
}

function verify(jwt: string, cache = new JtiReplayCache()) {
  return verifyServiceJwt(jwt, {
    audience: AUD,
    lxm: LXM,
    replayCache: cache,
    getSigningKey: async (iss) => {
      const key = keys.get(iss)
      if (!key) throw new Error('unknown DID')
      return key
    },
  })
}

async function reasonOf(jwt: string): Promise<ServiceJwtFailure> {
  try {
    await verify(jwt)
  } catch (err) {
    if (err instanceof ServiceJwtError) return err.reason
    throw err
  }
  throw new Error('token was accepted')
}

describe('verifyServiceJwt', () => {
  it('accepts a token as the PDS mints it', async () => {
    const jwt = await createServiceJwt({ iss: ALICE, aud: AUD, lxm: LXM, keypair: alice })
    const verified = await verify(jwt)
    expect(verified.iss).toBe(ALICE)
    expect(verified.lxm).toBe(LXM)
  })

  it('S2: refuses a replayed token (same jti)', async () => {
    const cache = new JtiReplayCache()
    const jwt = await token()
    await verify(jwt, cache)
    await expect(verify(jwt, cache)).rejects.toMatchObject({ reason: 'Replayed' })
  })

  it('keeps the same jti from two issuers apart', async () => {
    const cache = new JtiReplayCache()
    await verify(await token(claims({ jti: 'shared' })), cache)
    await verify(await token(claims({ iss: MALLORY, jti: 'shared' }), undefined, mallory), cache)
  })

  it('refuses new tokens when the replay cache is full of live entries, instead of forgetting', async () => {
    const cache = new JtiReplayCache({ maxEntries: 2 })
    await verify(await token(), cache)
    await verify(await token(), cache)
    await expect(verify(await token(), cache)).rejects.toMatchObject({ reason: 'ReplayCacheFull' })
  })

  // S1: each token is valid in every respect but one.
  const cases: Array<[string, () => Promise<string>, ServiceJwtFailure]> = [
    [
      'wrong audience',
      () => token(claims({ aud: 'did:web:evil.test#hearth_keyserver' })),
      'BadAudience',
    ],
    [
      "another service's audience",
      () => token(claims({ aud: 'did:web:keys.hearth.test#hearth_router' })),
      'BadAudience',
    ],
    [
      'bare DID audience without fragment',
      () => token(claims({ aud: 'did:web:keys.hearth.test' })),
      'BadAudience',
    ],
    [
      'audience differing only in case',
      () => token(claims({ aud: AUD.toUpperCase() })),
      'BadAudience',
    ],
    ['missing lxm', () => token(claims({ lxm: undefined })), 'BadLexiconMethod'],
    [
      'wrong lxm',
      () => token(claims({ lxm: 'app.hearth.keyserver.revokeDevice' })),
      'BadLexiconMethod',
    ],
    ['wildcard lxm', () => token(claims({ lxm: '*' })), 'BadLexiconMethod'],
    ['expired', () => token(claims({ iat: now() - 120, exp: now() - 60 })), 'Expired'],
    ['exp far in the future', () => token(claims({ exp: now() + 3600 })), 'LifetimeTooLong'],
    ['exp before iat', () => token(claims({ iat: now() + 10, exp: now() + 5 })), 'LifetimeTooLong'],
    [
      'iat in the future beyond skew',
      () => token(claims({ iat: now() + 120, exp: now() + 180 })),
      'IssuedInFuture',
    ],
    ['missing iat', () => token(claims({ iat: undefined })), 'MissingIssuedAt'],
    ['missing jti', () => token(claims({ jti: undefined })), 'MissingJti'],
    ['iss with a #fragment', () => token(claims({ iss: `${ALICE}#atproto` })), 'BadIssuer'],
    ['iss that is a handle', () => token(claims({ iss: 'alice.test' })), 'BadIssuer'],
    [
      'alg none, no signature',
      async () => `${b64({ typ: 'JWT', alg: 'none' })}.${b64(claims())}.`,
      'MalformedToken',
    ],
    [
      'alg none with a signature part',
      async () => `${b64({ alg: 'none' })}.${b64(claims())}.AAAA`,
      'BadAlgorithm',
    ],
    ['HS256', () => token(claims(), { typ: 'JWT', alg: 'HS256' }), 'BadAlgorithm'],
    ['RS256', () => token(claims(), { typ: 'JWT', alg: 'RS256' }), 'BadAlgorithm'],
    ['signed by another DID key', () => token(claims(), undefined, mallory), 'BadSignature'],
    [
      'ES256 header over an ES256K signature',
      () => token(claims(), { typ: 'JWT', alg: 'ES256' }),
      'BadSignature',
    ],
    [
      'signed with a P-256 key the DID does not have',
      () => token(claims(), { typ: 'JWT', alg: 'ES256' }, aliceP256),
      'BadSignature',
    ],
    ['access token type', () => token(claims(), { typ: 'at+jwt', alg: 'ES256K' }), 'BadTokenType'],
    [
      'refresh token type',
      () => token(claims(), { typ: 'refresh+jwt', alg: 'ES256K' }),
      'BadTokenType',
    ],
    ['DPoP proof type', () => token(claims(), { typ: 'dpop+jwt', alg: 'ES256K' }), 'BadTokenType'],
    [
      'unknown issuer',
      () => token(claims({ iss: 'did:plc:nobodynobodynobody0000' })),
      'UnresolvableIssuer',
    ],
    [
      'altered payload after signing',
      async () => {
        const [h, , s] = (await token()).split('.')
        return `${h}.${b64(claims({ lxm: LXM }))}.${s}`
      },
      'BadSignature',
    ],
    [
      'two parts only',
      async () => (await token()).split('.').slice(0, 2).join('.'),
      'MalformedToken',
    ],
    ['garbage', async () => 'not-a-jwt', 'MalformedToken'],
    [
      'payload not JSON',
      async () => `${b64({ alg: 'ES256K' })}.bm90IGpzb24.AAAA`,
      'MalformedToken',
    ],
    ['exp as a string', () => token(claims({ exp: String(now() + 60) })), 'MalformedToken'],
    [
      'oversized token',
      async () => `${b64({ alg: 'ES256K' })}.${b64(claims({ pad: 'x'.repeat(5000) }))}.AAAA`,
      'TokenTooLarge',
    ],
  ]

  it('has at least 20 attack cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(20)
  })

  it.each(cases)('S1: refuses %s', async (_name, make, reason) => {
    expect(await reasonOf(await make())).toBe(reason)
  })

  it('insists that its own audience names a service', async () => {
    await expect(
      verifyServiceJwt(await token(), {
        audience: 'did:web:keys.hearth.test',
        lxm: LXM,
        replayCache: new JtiReplayCache(),
        getSigningKey: async () => alice.did(),
      }),
    ).rejects.toThrow(TypeError)
  })
})

describe('bearerToken', async () => {
  const { bearerToken } = await import('./service-jwt.ts')
  it('extracts the token', () => {
    expect(bearerToken('Bearer a.b.c')).toBe('a.b.c')
  })
  it.each([undefined, '', 'Basic abc', 'Bearer', 'Bearer a b', 'bearer a.b.c'])(
    'refuses %j',
    (header) => {
      expect(() => bearerToken(header)).toThrow(expect.objectContaining({ reason: 'MissingToken' }))
    },
  )
})
