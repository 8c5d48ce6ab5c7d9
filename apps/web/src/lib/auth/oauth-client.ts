import { BrowserOAuthClient } from '@atproto/oauth-client-browser'
import type { AppConfig } from '../config/app-config.ts'
import { hearthScope } from './scopes.ts'

/**
 * The development client id: a loopback client (no hosted metadata) whose redirect URI
 * is this page's origin. Loopback redirect URIs must use an IP, so the app has to be
 * opened at http://127.0.0.1:PORT, not localhost.
 */
export function loopbackClientId(origin: string, scope: string): string {
  const redirectUri = `${origin}/`
  return `http://localhost?redirect_uri=${encodeURIComponent(redirectUri)}&scope=${encodeURIComponent(scope)}`
}

export interface OAuthClientHooks {
  /** The session was revoked, expired beyond refresh, or ended in another tab. */
  onSessionDeleted?: (sub: string) => void
}

export async function createOAuthClient(
  config: AppConfig,
  origin: string,
  hooks: OAuthClientHooks = {},
): Promise<BrowserOAuthClient> {
  const scope = hearthScope(config.keyserverDid, config.routerDid)
  const dev = config.mode === 'development'
  // Production: the hosted client-metadata.json (see apps/web/client-metadata.template.json).
  const clientId = dev ? loopbackClientId(origin, scope) : (config.clientId as string)
  return BrowserOAuthClient.load({
    clientId,
    handleResolver: config.handleResolver,
    plcDirectoryUrl: config.plcUrl,
    // Plain http OAuth servers exist only on the development network.
    allowHttp: dev,
    ...(hooks.onSessionDeleted && {
      onSessionDeleted: (sub: string) => hooks.onSessionDeleted?.(sub),
    }),
  })
}
