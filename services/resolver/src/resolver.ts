import type { Handle } from '@hearth/identity'
import { atprotoDataFromDocument, parseDidDocument, type DidDocument } from './did-document.ts'
import { DID_WEB_DEFAULTS, type HostLookup } from './did-web-fetch.ts'
import { HandleNotFoundError, InvalidIdentifierError } from './errors.ts'
import { parseDid, parseIdentifier, type ResolvableDid } from './identifiers.ts'
import {
  createDidDocumentSource,
  createHandleSource,
  type DidDocumentSource,
  type HandleSource,
} from './sources.ts'
import { TtlCache } from './ttl-cache.ts'

export interface ResolvedIdentity {
  did: ResolvableDid
  /** The handle, only when both directions agree; otherwise null and the DID is what to show. */
  handle: Handle | null
  handleVerified: boolean
  /** What the DID document claims (first `at://` entry), verified or not. */
  claimedHandle: Handle | null
  pds: string | null
  signingKey: string | null
  didDoc: DidDocument
}

export interface CacheOptions {
  ttlMs: number
  maxEntries: number
}

export const CACHE_DEFAULTS: CacheOptions = { ttlMs: 5 * 60_000, maxEntries: 10_000 }

export interface IdentityResolverDeps {
  handles: HandleSource
  documents: DidDocumentSource
  cache?: Partial<CacheOptions>
  now?: () => number
}

/**
 * Handle <-> DID with the bidirectional check. Both directions are cached raw (handle -> claimed
 * DID, DID -> document) and the check is recomputed from the cached halves, so a cache hit can
 * never turn an unverified handle into a verified one. Failures are not cached.
 */
export class IdentityResolver {
  readonly #handles: HandleSource
  readonly #documents: DidDocumentSource
  readonly #handleCache: TtlCache<Handle, ResolvableDid>
  readonly #docCache: TtlCache<string, DidDocument>
  readonly #inflight = new Map<string, Promise<unknown>>()

  constructor(deps: IdentityResolverDeps) {
    this.#handles = deps.handles
    this.#documents = deps.documents
    const cache = { ...CACHE_DEFAULTS, ...deps.cache, now: deps.now }
    this.#handleCache = new TtlCache(cache)
    this.#docCache = new TtlCache(cache)
  }

  /** Concurrent lookups of the same key share one upstream request. */
  #once<T>(key: string, run: () => Promise<T>): Promise<T> {
    const pending = this.#inflight.get(key)
    if (pending) return pending as Promise<T>
    const promise = run().finally(() => this.#inflight.delete(key))
    this.#inflight.set(key, promise)
    return promise
  }

  /** handle -> DID as the handle's own mechanism says (not yet confirmed by the document). */
  async resolveHandleUnverified(handle: Handle): Promise<ResolvableDid> {
    const cached = this.#handleCache.get(handle)
    if (cached) return cached
    return this.#once(`handle:${handle}`, async () => {
      const found = await this.#handles.resolve(handle)
      if (!found) throw new HandleNotFoundError(handle, 'unresolved')
      let did: ResolvableDid
      try {
        did = parseDid(found)
      } catch (err) {
        if (err instanceof InvalidIdentifierError) {
          throw new HandleNotFoundError(handle, 'unresolved', { cause: err })
        }
        throw err
      }
      this.#handleCache.set(handle, did)
      return did
    })
  }

  async resolveDidDocument(did: ResolvableDid): Promise<DidDocument> {
    const cached = this.#docCache.get(did)
    if (cached) return cached
    return this.#once(`did:${did}`, async () => {
      const doc = parseDidDocument(did, await this.#documents.fetch(did))
      this.#docCache.set(did, doc)
      return doc
    })
  }

  /** Does `handle` resolve to `did`? Any failure on the way counts as no. */
  async #handlePointsTo(handle: Handle, did: ResolvableDid): Promise<boolean> {
    try {
      return (await this.resolveHandleUnverified(handle)) === did
    } catch {
      return false
    }
  }

  /** `identifier` is a handle or a DID; throws InvalidIdentifierError, HandleNotFoundError, ... */
  async resolveIdentity(identifier: string): Promise<ResolvedIdentity> {
    const parsed = parseIdentifier(identifier)
    if (parsed.kind === 'did') {
      const didDoc = await this.resolveDidDocument(parsed.did)
      const data = atprotoDataFromDocument(didDoc)
      const verified =
        data.claimedHandle !== null && (await this.#handlePointsTo(data.claimedHandle, parsed.did))
      return {
        did: parsed.did,
        handle: verified ? data.claimedHandle : null,
        handleVerified: verified,
        ...data,
        didDoc,
      }
    }
    const did = await this.resolveHandleUnverified(parsed.handle)
    const didDoc = await this.resolveDidDocument(did)
    const data = atprotoDataFromDocument(didDoc)
    const verified = data.claimedHandle === parsed.handle
    return {
      did,
      handle: verified ? parsed.handle : null,
      handleVerified: verified,
      ...data,
      didDoc,
    }
  }

  /** handle -> DID, only if the DID document claims the handle back. */
  async resolveVerifiedHandle(handle: Handle): Promise<ResolvableDid> {
    const identity = await this.resolveIdentity(handle)
    if (!identity.handleVerified) throw new HandleNotFoundError(handle, 'not-verified')
    return identity.did
  }
}

export interface ResolverConfig {
  /** Allows loopback did:web hosts and `.test` handles through `pdsUrl`. Never in production. */
  devMode: boolean
  plcUrl: string
  /** Dev mode only: the PDS that knows the `.test` handles. */
  pdsUrl?: string
  /** Timeout for handle resolution and the PLC. */
  timeoutMs?: number
  didWeb?: { maxBytes?: number; timeoutMs?: number; lookup?: HostLookup }
  cache?: Partial<CacheOptions>
}

export function createIdentityResolver(config: ResolverConfig): IdentityResolver {
  const timeoutMs = config.timeoutMs ?? 3_000
  return new IdentityResolver({
    handles: createHandleSource({
      devMode: config.devMode,
      ...(config.pdsUrl !== undefined && { pdsUrl: config.pdsUrl }),
      timeoutMs,
    }),
    documents: createDidDocumentSource({
      devMode: config.devMode,
      plcUrl: config.plcUrl,
      timeoutMs,
      didWeb: { ...DID_WEB_DEFAULTS, ...config.didWeb },
    }),
    ...(config.cache && { cache: config.cache }),
  })
}
