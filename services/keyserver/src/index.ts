import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { getPds, IdResolver } from '@atproto/identity'
import { safeFetchWrap } from '@atproto-labs/fetch-node'
import { JtiReplayCache } from '@hearth/identity/service-jwt'
import { serviceIdentity, type Did } from '@hearth/identity'
import { clientIpFromHeader, createKeyserverApp } from './app.ts'
import type { RateLimitConfig } from './app.ts'
import { createServiceAuthVerifier, SERVICE_FRAGMENT } from './auth.ts'
import { createPdsBindingSource } from './bindings.ts'
import { openSqliteDeviceStore } from './storage.ts'
import type { DeviceStore } from './storage.ts'

// Services
export {
  createKeyserverApp,
  DEFAULT_MAX_DEVICES_PER_DID,
  DEFAULT_RATE_LIMITS,
  MAX_BODY_BYTES,
} from './app.ts'
export type { KeyserverDeps, RateLimitConfig } from './app.ts'
export {
  createServiceAuthVerifier,
  LXM_REGISTER_DEVICE,
  tokenFromHeader,
  LXM_REVOKE_DEVICE,
} from './auth.ts'
export type { ServiceAuthOptions, ServiceAuthVerifier } from './auth.ts'
export { SERVICE_FRAGMENT } from './auth.ts'

// Bindings in the owner's PDS
export {
  BindingCache,
  createPdsBindingSource,
  DEVICE_COLLECTION,
  parseBindingValue,
} from './bindings.ts'
export type { Binding, BindingSource, PdsBindingSourceOptions } from './bindings.ts'

// Storage
export { migrate, openSqliteDeviceStore } from './storage.ts'
export type { DeviceStore, NewDevice, RevokedReason, StoredDevice } from './storage.ts'

// Limits and errors
export {
  AuthRequiredError,
  BindingNotFoundError,
  InvalidRequestError,
  NotFoundError,
  PayloadTooLargeError,
  RateLimitedError,
  UpstreamError,
} from './errors.ts'

export interface StartKeyserverOptions {
  /** 0 picks a free port. */
  port: number
  plcUrl: string
  /** SQLite file; `:memory:` keeps nothing. */
  dbPath: string
  /**
   * Allows http, loopback and private addresses for the PLC and PDSes (the local devnet).
   * Off in production: DID documents and PDS URLs are written by strangers (S13).
   */
  devMode: boolean
  /**
   * `host[:port]` clients reach us at; it names our did:web. In dev mode a host without a port
   * gets the listening port (default `localhost:<port>`); otherwise it is used as given
   * (`keys.example.com` behind TLS on 443) and is required.
   */
  publicHost?: string
  /**
   * Behind a reverse proxy you run: the header it sets with the client address (e.g.
   * `x-forwarded-for`; its last entry is used). Unset: the socket's address.
   */
  clientIpHeader?: string
  /** Interface to listen on. Default 127.0.0.1 in dev mode, 0.0.0.0 otherwise. */
  listenHost?: string
  rateLimits?: RateLimitConfig
  bindingTtlMs?: number
}

export interface RunningKeyserver {
  /** Base URL, e.g. http://localhost:2584 */
  url: string
  /** did:web:<host%3Aport> */
  did: string
  /** did#hearth_keyserver: the `aud` service-auth tokens must carry. */
  audience: string
  /** For tests (S5 counts rows). */
  store: DeviceStore
  close(): Promise<void>
}

export async function startKeyserver(options: StartKeyserverOptions): Promise<RunningKeyserver> {
  const listenHost = options.listenHost ?? (options.devMode ? '127.0.0.1' : '0.0.0.0')
  const fetch = options.devMode
    ? globalThis.fetch
    : (safeFetchWrap({
        allowIpHost: false,
        allowImplicitRedirect: false,
      }) as typeof globalThis.fetch)
  const idResolver = new IdResolver({
    plcUrl: options.plcUrl,
    timeout: 5_000,
    ...(options.devMode ? { fetch: globalThis.fetch } : {}),
  })
  if (!options.devMode && !options.publicHost)
    throw new TypeError('publicHost is required outside dev mode')
  const store = openSqliteDeviceStore(options.dbPath)

  // The DID names the port, so the app is built once the socket is bound.
  let handler: ((req: Request, env: unknown) => Response | Promise<Response>) | null = null
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve(
      {
        fetch: (req, env) =>
          handler ? handler(req, env) : new Response('starting', { status: 503 }),
        port: options.port,
        hostname: listenHost,
      },
      () => resolve(s),
    )
    s.once('error', reject)
  })
  const { port } = server.address() as AddressInfo
  const host = options.publicHost ?? 'localhost'
  const hostPort = !options.devMode || host.includes(':') ? host : `${host}:${port}`
  const identity = serviceIdentity(hostPort, SERVICE_FRAGMENT, { https: !options.devMode })

  const app = createKeyserverApp({
    identity,
    store,
    auth: createServiceAuthVerifier({
      audience: identity.audience,
      getSigningKey: (iss, forceRefresh) => idResolver.did.resolveAtprotoKey(iss, forceRefresh),
      replayCache: new JtiReplayCache(),
    }),
    bindings: createPdsBindingSource({
      fetch,
      resolvePds: async (did: Did) => {
        const doc = await idResolver.did.resolve(did)
        return doc ? (getPds(doc) ?? null) : null
      },
    }),
    ...(options.rateLimits ? { rateLimits: options.rateLimits } : {}),
    ...(options.clientIpHeader ? { clientIp: clientIpFromHeader(options.clientIpHeader) } : {}),
    ...(options.bindingTtlMs !== undefined ? { bindingTtlMs: options.bindingTtlMs } : {}),
  })
  handler = (req, env) => app.fetch(req, env)

  return {
    url: identity.url,
    did: identity.did,
    audience: identity.audience,
    store,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => {
          store.close()
          if (err) reject(err)
          else resolve()
        })
      }),
  }
}
