// The OAuth scopes Hearth asks for: its own record collection and the two keyserver
// calls, nothing else (never transition:generic).

export const DEVICE_COLLECTION = 'app.hearth.device'
export const KEYSERVER_SERVICE_ID = 'hearth_keyserver'
export const LXM_REGISTER_DEVICE = 'app.hearth.keyserver.registerDevice'
export const LXM_REVOKE_DEVICE = 'app.hearth.keyserver.revokeDevice'
export const ROUTER_SERVICE_ID = 'hearth_router'
export const LXM_CREATE_TICKET = 'app.hearth.router.createTicket'

/** The service-auth audience of the keyserver: its did:web plus the service fragment. */
export function keyserverAudience(keyserverDid: string): string {
  return `${keyserverDid}#${KEYSERVER_SERVICE_ID}`
}

/**
 * The `aud` of an `rpc:` scope travels as a URL query parameter inside the scope, and
 * the PDS decodes it once. So every `%` already in the DID (did:web:localhost%3A2583)
 * must become `%25`, and the fragment's `#` becomes `%23`; otherwise the decoded DID
 * gains a path (`localhost:2583`) and the PDS silently drops the whole scope.
 * (@atproto/oauth-scopes' own formatter un-escapes `%25`, so it cannot be used here.)
 */
export function encodeScopeAud(aud: string): string {
  return aud.replaceAll('%', '%25').replaceAll('#', '%23')
}

export function rpcScope(lxm: string, aud: string): string {
  return `rpc:${lxm}?aud=${encodeScopeAud(aud)}`
}

/** The service-auth audience of the router: its did:web plus the service fragment. */
export function routerAudience(routerDid: string): string {
  return `${routerDid}#${ROUTER_SERVICE_ID}`
}

/** What the app asks for: the device binding, the keyserver's two calls, and (with a router) its ticket. */
export function hearthScope(keyserverDid: string, routerDid: string | null = null): string {
  const aud = keyserverAudience(keyserverDid)
  return [
    'atproto',
    `repo:${DEVICE_COLLECTION}`,
    rpcScope(LXM_REGISTER_DEVICE, aud),
    rpcScope(LXM_REVOKE_DEVICE, aud),
    ...(routerDid ? [rpcScope(LXM_CREATE_TICKET, routerAudience(routerDid))] : []),
  ].join(' ')
}
