import type { Did } from '@hearth/identity'
import {
  bearerToken,
  JtiReplayCache,
  ServiceJwtError,
  verifyServiceJwt,
} from '@hearth/identity/service-jwt'
import { AuthRequiredError } from './errors.ts'

export const SERVICE_FRAGMENT = 'hearth_keyserver'
export const LXM_REGISTER_DEVICE = 'app.hearth.keyserver.registerDevice'
export const LXM_REVOKE_DEVICE = 'app.hearth.keyserver.revokeDevice'

/** Proves who is calling: a service-auth JWT from the caller's PDS, for one endpoint (lxm). */
export interface ServiceAuthVerifier {
  verify(token: string, lxm: string): Promise<{ did: Did; jti: string }>
}

export interface ServiceAuthOptions {
  /** Exactly `did:web:<host%3Aport>#hearth_keyserver`. */
  audience: string
  /** The issuer's current atproto signing key as a did:key (IdResolver's `did.resolveAtprotoKey`). */
  getSigningKey: (iss: string, forceRefresh: boolean) => Promise<string>
  /** Shared by every endpoint of this process, so a token is accepted once, anywhere. */
  replayCache?: JtiReplayCache
  now?: () => number
}

export function createServiceAuthVerifier(options: ServiceAuthOptions): ServiceAuthVerifier {
  const replayCache = options.replayCache ?? new JtiReplayCache()
  return {
    async verify(token, lxm) {
      try {
        const verified = await verifyServiceJwt(token, {
          audience: options.audience,
          lxm,
          getSigningKey: options.getSigningKey,
          replayCache,
          ...(options.now ? { now: options.now } : {}),
        })
        return { did: verified.iss, jti: verified.jti }
      } catch (err) {
        if (err instanceof ServiceJwtError)
          throw new AuthRequiredError(err.reason, err.message, { cause: err })
        throw err
      }
    },
  }
}

/** `Authorization: Bearer <jwt>` (parsed by identity's one rule); refused before any verification work. */
export function tokenFromHeader(header: string | undefined): string {
  try {
    return bearerToken(header)
  } catch (err) {
    if (err instanceof ServiceJwtError)
      throw new AuthRequiredError(err.reason, err.message, { cause: err })
    throw err
  }
}
