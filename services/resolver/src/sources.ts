import { DidPlcResolver, HandleResolver } from '@atproto/identity'
import type { Handle } from '@hearth/identity'
import { z } from 'zod'
import { DidNotFoundError, UpstreamError } from './errors.ts'
import { fetchDidWebDocument, type HostLookup } from './did-web-fetch.ts'
import type { ResolvableDid } from './identifiers.ts'

/** handle -> DID, unverified (the caller does the bidirectional check). */
export interface HandleSource {
  resolve(handle: Handle): Promise<string | undefined>
}

/** DID -> raw document as `unknown`; throws DidNotFoundError when the method says it does not exist. */
export interface DidDocumentSource {
  fetch(did: ResolvableDid): Promise<unknown>
}

const resolveHandleResponse = z.object({ did: z.string().max(2048) })

/**
 * Asks a PDS that hosts the handle (dev mode: `.test` handles have no DNS). The PDS is configuration,
 * not user input, so it is trusted as an upstream, but its answer is still parsed.
 */
export async function resolveHandleViaPds(
  pdsUrl: string,
  handle: string,
  timeoutMs: number,
): Promise<string | undefined> {
  const url = new URL('/xrpc/com.atproto.identity.resolveHandle', pdsUrl)
  url.searchParams.set('handle', handle)
  let res: Response
  try {
    res = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(timeoutMs) })
  } catch (err) {
    throw new UpstreamError('pds', `PDS at ${pdsUrl} is unreachable`, { cause: err })
  }
  if (res.status === 400) {
    await res.body?.cancel()
    return undefined
  }
  if (!res.ok) {
    await res.body?.cancel()
    throw new UpstreamError('pds', `PDS at ${pdsUrl} answered HTTP ${res.status}`)
  }
  const parsed = resolveHandleResponse.safeParse(await res.json().catch(() => null))
  if (!parsed.success) throw new UpstreamError('pds', `PDS at ${pdsUrl} answered nonsense`)
  return parsed.data.did
}

export interface HandleSourceOptions {
  devMode: boolean
  /** Dev mode: the PDS that resolves `.test` handles. */
  pdsUrl?: string
  timeoutMs: number
}

export function createHandleSource(options: HandleSourceOptions): HandleSource {
  // @atproto/identity's default fetch is SSRF-safe (https only, public addresses): right for
  // user-controlled domains, in dev mode too.
  const domains = new HandleResolver({ timeout: options.timeoutMs })
  return {
    async resolve(handle) {
      if (handle.endsWith('.test')) {
        if (!options.devMode || !options.pdsUrl) return undefined
        return resolveHandleViaPds(options.pdsUrl, handle, options.timeoutMs)
      }
      return domains.resolve(handle)
    },
  }
}

export interface DidDocumentSourceOptions {
  devMode: boolean
  plcUrl: string
  timeoutMs: number
  didWeb: { maxBytes: number; timeoutMs: number; lookup?: HostLookup }
}

export function createDidDocumentSource(options: DidDocumentSourceOptions): DidDocumentSource {
  // The PLC URL is configuration; a local PLC is plain http, which the SSRF-safe default refuses.
  const plc = new DidPlcResolver(
    options.plcUrl,
    options.timeoutMs,
    undefined,
    options.devMode ? globalThis.fetch : undefined,
  )
  return {
    async fetch(did) {
      if (did.startsWith('did:web:')) {
        return fetchDidWebDocument(did, { devMode: options.devMode, ...options.didWeb })
      }
      let doc: unknown
      try {
        doc = await plc.resolveNoCheck(did)
      } catch (err) {
        throw new UpstreamError('plc', `PLC directory failed for ${did}`, { cause: err })
      }
      if (doc === null) throw new DidNotFoundError(did)
      return doc
    },
  }
}
