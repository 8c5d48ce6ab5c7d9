import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import type { Hono } from 'hono'
import { createApp } from './app.ts'
import { createIdentityResolver, type ResolverConfig } from './resolver.ts'

// Errors
export {
  DidNotFoundError,
  DidWebFetchError,
  HandleNotFoundError,
  InvalidDidDocumentError,
  InvalidIdentifierError,
  InvalidParamError,
  UpstreamError,
  type DidWebFetchFailure,
} from './errors.ts'
// Core
export {
  CACHE_DEFAULTS,
  IdentityResolver,
  createIdentityResolver,
  type CacheOptions,
  type IdentityResolverDeps,
  type ResolvedIdentity,
  type ResolverConfig,
} from './resolver.ts'
export {
  createDidDocumentSource,
  createHandleSource,
  resolveHandleViaPds,
  type DidDocumentSource,
  type HandleSource,
} from './sources.ts'
// Parsing and fetching untrusted identity data
export {
  parseDid,
  parseHandle,
  parseIdentifier,
  handleFromAlsoKnownAs,
  type Identifier,
  type ResolvableDid,
} from './identifiers.ts'
export {
  atprotoDataFromDocument,
  didDocumentSchema,
  parseDidDocument,
  type AtprotoIdentityData,
  type DidDocument,
} from './did-document.ts'
export {
  DID_WEB_DEFAULTS,
  didWebUrl,
  fetchDidWebDocument,
  isAddressAllowed,
  type DidWebFetchOptions,
  type HostLookup,
} from './did-web-fetch.ts'
export { TtlCache, type TtlCacheOptions } from './ttl-cache.ts'
// HTTP
export { createApp, toXrpcError, type AppDeps } from './app.ts'

export function createResolverApp(config: ResolverConfig): Hono {
  return createApp({ resolver: createIdentityResolver(config) })
}

export interface StartResolverOptions extends ResolverConfig {
  /** 0 (the default) picks a free port. */
  port?: number
  /** Interface to listen on; defaults to 127.0.0.1. */
  hostname?: string
}

export interface RunningResolver {
  url: string
  port: number
  close(): Promise<void>
}

export async function startResolver(options: StartResolverOptions): Promise<RunningResolver> {
  const { port = 0, hostname = '127.0.0.1', ...config } = options
  const app = createResolverApp(config)
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port, hostname }, () => resolve(s))
    s.once('error', reject)
  })
  const bound = (server.address() as AddressInfo).port
  const host = hostname.includes(':') ? `[${hostname}]` : hostname
  return {
    url: `http://${host}:${bound}`,
    port: bound,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()))
        if ('closeAllConnections' in server) server.closeAllConnections()
      }),
  }
}
