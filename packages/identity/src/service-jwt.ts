/**
 * Service-auth JWT checks for Hearth's services (Node only: it pulls in @atproto/xrpc-server).
 * `verifyJwt` verifies the signature against the issuer's atproto signing key; around it we
 * add what it leaves out: a size cap, an algorithm and type allow-list, a bare-DID issuer,
 * an exact audience with our service fragment, a required method (lxm), a bounded lifetime
 * with 30 s of clock skew, and single use (jti replay cache kept until the token expires).
 */
import { verifyJwt } from '@atproto/xrpc-server'
import { z } from 'zod'
import { isDid, type Did } from './ids.ts'

export const MAX_TOKEN_LENGTH = 4096
export const MAX_LIFETIME_SECONDS = 300
export const CLOCK_SKEW_SECONDS = 30

export type ServiceJwtFailure =
  | 'MalformedToken'
  | 'TokenTooLarge'
  | 'BadAlgorithm'
  | 'BadTokenType'
  | 'BadIssuer'
  | 'BadAudience'
  | 'BadLexiconMethod'
  | 'MissingIssuedAt'
  | 'IssuedInFuture'
  | 'Expired'
  | 'LifetimeTooLong'
  | 'MissingJti'
  | 'Replayed'
  | 'UnresolvableIssuer'
  | 'BadSignature'
  | 'ReplayCacheFull'
  | 'MissingToken'

export class ServiceJwtError extends Error {
  readonly reason: ServiceJwtFailure
  constructor(reason: ServiceJwtFailure, message: string, options?: { cause?: unknown }) {
    super(`${reason}: ${message}`, options)
    this.name = 'ServiceJwtError'
    this.reason = reason
  }
}

export interface VerifiedServiceJwt {
  iss: Did
  aud: string
  lxm: string
  jti: string
  iat: number
  exp: number
}

/**
 * Remembers each (issuer, jti) until its token expires, so a token is accepted once.
 * Bounded: when full of live entries it refuses new tokens rather than forgetting
 * old ones (forgetting would reopen replay).
 */
export class JtiReplayCache {
  readonly #seen = new Map<string, number>()
  readonly #maxEntries: number
  constructor(options: { maxEntries?: number } = {}) {
    this.#maxEntries = options.maxEntries ?? 100_000
  }
  get size(): number {
    return this.#seen.size
  }
  /** Records the token; false when it was already seen. Throws when full. */
  claim(iss: string, jti: string, exp: number, nowSeconds: number): boolean {
    const key = `${iss} ${jti}`
    const known = this.#seen.get(key)
    if (known !== undefined && known + CLOCK_SKEW_SECONDS >= nowSeconds) return false
    if (this.#seen.size >= this.#maxEntries) this.#purge(nowSeconds)
    if (this.#seen.size >= this.#maxEntries)
      throw new ServiceJwtError('ReplayCacheFull', 'too many live tokens, try again shortly')
    this.#seen.set(key, exp)
    return true
  }
  #purge(nowSeconds: number): void {
    for (const [key, exp] of this.#seen) {
      if (exp + CLOCK_SKEW_SECONDS < nowSeconds) this.#seen.delete(key)
    }
  }
}

const headerSchema = z.looseObject({
  alg: z.string().max(16),
  typ: z.string().max(32).optional(),
})

const payloadSchema = z.looseObject({
  iss: z.string().max(600),
  aud: z.string().max(600),
  exp: z.number().int(),
  iat: z.number().int().optional(),
  lxm: z.string().max(256).optional(),
  jti: z.string().min(1).max(256).optional(),
})

const ALLOWED_ALGS = new Set(['ES256K', 'ES256'])

function decodePart(part: string): unknown {
  if (!/^[A-Za-z0-9_-]+$/.test(part)) throw new Error('not base64url')
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))
}

export interface VerifyServiceJwtOptions {
  /** Our service DID with its fragment, e.g. `did:web:keys.example.com#hearth_keyserver`. */
  audience: string
  /** The lexicon method this endpoint requires. */
  lxm: string
  /** The issuer's atproto signing key as a did:key (e.g. IdResolver's `did.resolveAtprotoKey`). */
  getSigningKey: (iss: string, forceRefresh: boolean) => Promise<string>
  replayCache: JtiReplayCache
  /** Milliseconds since the epoch; tests only. The signature check itself uses the real clock. */
  now?: () => number
}

export async function verifyServiceJwt(
  token: string,
  options: VerifyServiceJwtOptions,
): Promise<VerifiedServiceJwt> {
  if (!options.audience.includes('#'))
    throw new TypeError('the audience must be a service DID with its #fragment')
  if (typeof token !== 'string' || token.length === 0)
    throw new ServiceJwtError('MalformedToken', 'no token')
  if (token.length > MAX_TOKEN_LENGTH)
    throw new ServiceJwtError('TokenTooLarge', `token longer than ${MAX_TOKEN_LENGTH} characters`)
  const parts = token.split('.')
  if (parts.length !== 3 || parts.some((p) => p.length === 0))
    throw new ServiceJwtError('MalformedToken', 'not a signed JWT (header.payload.signature)')

  // The header first: an access, refresh or DPoP token, or a foreign algorithm, is named
  // as such even though its claims would not parse as a service token's either.
  let header: z.infer<typeof headerSchema>
  try {
    header = headerSchema.parse(decodePart(parts[0]!))
  } catch (cause) {
    throw new ServiceJwtError('MalformedToken', 'the header is not a JWT header', { cause })
  }
  if (header.typ !== undefined && header.typ !== 'JWT')
    throw new ServiceJwtError('BadTokenType', `token type ${header.typ} is not a service token`)
  if (!ALLOWED_ALGS.has(header.alg))
    throw new ServiceJwtError('BadAlgorithm', `algorithm ${header.alg} is not allowed`)

  let payload: z.infer<typeof payloadSchema>
  try {
    payload = payloadSchema.parse(decodePart(parts[1]!))
  } catch (cause) {
    throw new ServiceJwtError('MalformedToken', 'the payload is not service-auth claims', { cause })
  }
  if (!isDid(payload.iss))
    throw new ServiceJwtError('BadIssuer', 'the issuer must be a bare DID (no fragment)')
  if (payload.aud !== options.audience)
    throw new ServiceJwtError('BadAudience', `the audience must be exactly ${options.audience}`)
  if (payload.lxm === undefined)
    throw new ServiceJwtError('BadLexiconMethod', `missing lxm, must be ${options.lxm}`)
  if (payload.lxm !== options.lxm)
    throw new ServiceJwtError('BadLexiconMethod', `lxm must be ${options.lxm}`)
  if (payload.iat === undefined) throw new ServiceJwtError('MissingIssuedAt', 'iat is required')
  const nowSeconds = Math.floor((options.now?.() ?? Date.now()) / 1000)
  if (payload.iat > nowSeconds + CLOCK_SKEW_SECONDS)
    throw new ServiceJwtError('IssuedInFuture', 'iat is in the future')
  if (payload.exp <= nowSeconds) throw new ServiceJwtError('Expired', 'the token has expired')
  if (payload.exp - payload.iat > MAX_LIFETIME_SECONDS || payload.exp <= payload.iat)
    throw new ServiceJwtError(
      'LifetimeTooLong',
      `exp - iat must be between 1 and ${MAX_LIFETIME_SECONDS} seconds`,
    )
  if (payload.jti === undefined) throw new ServiceJwtError('MissingJti', 'jti is required')

  try {
    await verifyJwt(token, options.audience, options.lxm, async (iss, forceRefresh) => {
      try {
        return await options.getSigningKey(iss, forceRefresh)
      } catch (cause) {
        throw new ServiceJwtError(
          'UnresolvableIssuer',
          `cannot resolve the signing key of ${iss}`,
          { cause },
        )
      }
    })
  } catch (err) {
    if (err instanceof ServiceJwtError) throw err
    const name = (err as { customErrorName?: string }).customErrorName
    if (name === 'JwtExpired')
      throw new ServiceJwtError('Expired', 'the token has expired', { cause: err })
    throw new ServiceJwtError('BadSignature', 'the signature does not match the issuer', {
      cause: err,
    })
  }

  if (!options.replayCache.claim(payload.iss, payload.jti, payload.exp, nowSeconds))
    throw new ServiceJwtError('Replayed', 'this token was already used')

  return {
    iss: payload.iss,
    aud: payload.aud,
    lxm: payload.lxm,
    jti: payload.jti,
    iat: payload.iat,
    exp: payload.exp,
  }
}

/** `Authorization: Bearer <jwt>`; anything else is refused before any verification work.
 * The length is judged by verifyServiceJwt (TokenTooLarge); Node caps headers at 16 KiB. */
export function bearerToken(header: string | undefined | null): string {
  if (header === undefined || header === null)
    throw new ServiceJwtError('MissingToken', 'no Authorization header')
  const match = /^Bearer ([A-Za-z0-9._~+/=-]+)$/.exec(header)
  if (!match)
    throw new ServiceJwtError('MissingToken', 'Authorization must be "Bearer <service-auth JWT>"')
  return match[1]!
}
