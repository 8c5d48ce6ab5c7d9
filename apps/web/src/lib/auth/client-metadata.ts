// The OAuth client metadata a production deployment hosts at
// https://<app origin>/client-metadata.json (that URL is the client id). Development
// needs none: the loopback client id carries its redirect URI and scope.
import { hearthScope } from './scopes.ts'

export interface ClientMetadataOptions {
  /** The https origin the app is served from, e.g. https://hearth.example */
  origin: string
  /** The production keyserver's did:web (no fragment). */
  keyserverDid: string
  /** The production router's did:web (no fragment), when the deployment has one. */
  routerDid?: string
  clientName?: string
}

export function clientMetadata(options: ClientMetadataOptions) {
  const origin = new URL(options.origin)
  if (origin.protocol !== 'https:' || origin.pathname !== '/' || origin.search || origin.hash) {
    throw new TypeError(`the app origin must be a bare https origin: ${options.origin}`)
  }
  const base = origin.origin
  return {
    client_id: `${base}/client-metadata.json`,
    client_name: options.clientName ?? 'Hearth',
    client_uri: base,
    logo_uri: `${base}/icons/icon-192.png`,
    application_type: 'web',
    // A browser app is a public client: no secret, tokens bound to a DPoP key that
    // never leaves the browser.
    token_endpoint_auth_method: 'none',
    dpop_bound_access_tokens: true,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: [`${base}/`],
    scope: hearthScope(options.keyserverDid, options.routerDid ?? null),
  }
}
