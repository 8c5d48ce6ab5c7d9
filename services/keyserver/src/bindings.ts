import { z } from 'zod'
import type { Did } from '@hearth/identity'
import { UpstreamError } from './errors.ts'

export const DEVICE_COLLECTION = 'app.hearth.device'

/** What the owner published in `app.hearth.device/<deviceId>`: the source of truth for a key. */
export interface Binding {
  deviceId: string
  key: string
  name: string
  createdAt: string
}

/** Reads binding records from the owner's own PDS repository. */
export interface BindingSource {
  /** The record `app.hearth.device/<deviceId>`, or null when the repository does not hold a valid one. */
  getBinding(did: Did, deviceId: string): Promise<Binding | null>
  /** Every valid binding record in the repository, by device id. */
  listBindings(did: Did): Promise<Map<string, Binding>>
}

export const MAX_DEVICE_NAME_LENGTH = 100

const bindingValueSchema = z.object({
  $type: z.literal(DEVICE_COLLECTION),
  key: z.string().max(128),
  name: z.string().max(MAX_DEVICE_NAME_LENGTH),
  createdAt: z.iso.datetime({ offset: true }),
})

/** A record value from someone's repository is untrusted: anything malformed counts as absent. */
export function parseBindingValue(deviceId: string, value: unknown): Binding | null {
  const parsed = bindingValueSchema.safeParse(value)
  if (!parsed.success) return null
  return {
    deviceId,
    key: parsed.data.key,
    name: parsed.data.name,
    createdAt: parsed.data.createdAt,
  }
}

const getRecordSchema = z.object({ uri: z.string(), value: z.unknown() })
const listRecordsSchema = z.object({
  cursor: z.string().max(512).optional(),
  records: z.array(z.object({ uri: z.string().max(1024), value: z.unknown() })).max(100),
})

export interface PdsBindingSourceOptions {
  /**
   * DID -> PDS base URL (the DID document's `#atproto_pds` service); null when the DID has no
   * document or no PDS any more, which leaves it no bindings. Throws only when it cannot tell.
   */
  resolvePds: (did: Did) => Promise<string | null>
  /** SSRF-safe outside development mode: the PDS URL comes from a document someone else wrote. */
  fetch?: typeof globalThis.fetch
  timeoutMs?: number
  maxResponseBytes?: number
  /** listBindings stops after this many pages of 100 records. */
  maxPages?: number
}

export function createPdsBindingSource(options: PdsBindingSourceOptions): BindingSource {
  const doFetch = options.fetch ?? globalThis.fetch
  const timeoutMs = options.timeoutMs ?? 5_000
  const maxBytes = options.maxResponseBytes ?? 256 * 1024
  const maxPages = options.maxPages ?? 5

  async function xrpcGet(
    pds: string,
    did: Did,
    method: string,
    params: Record<string, string>,
  ): Promise<{ status: number; body: unknown }> {
    const url = new URL(`/xrpc/${method}`, pds)
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v)
    let res: Response
    try {
      res = await doFetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'error' })
    } catch (err) {
      throw new UpstreamError(`could not reach ${did}'s PDS`, { cause: err })
    }
    const text = await readCapped(res, maxBytes)
    let body: unknown = null
    try {
      body = JSON.parse(text)
    } catch {
      // Non-JSON bodies are judged by status alone below.
    }
    return { status: res.status, body }
  }

  return {
    async getBinding(did, deviceId) {
      const pds = await options.resolvePds(did)
      if (pds === null) return null
      const { status, body } = await xrpcGet(pds, did, 'com.atproto.repo.getRecord', {
        repo: did,
        collection: DEVICE_COLLECTION,
        rkey: deviceId,
      })
      if (status === 200) {
        const parsed = getRecordSchema.safeParse(body)
        return parsed.success ? parseBindingValue(deviceId, parsed.data.value) : null
      }
      if (isRecordNotFound(status, body)) return null
      throw new UpstreamError(`${did}'s PDS answered getRecord with HTTP ${status}`)
    },

    async listBindings(did) {
      const bindings = new Map<string, Binding>()
      const pds = await options.resolvePds(did)
      if (pds === null) return bindings
      let cursor: string | undefined
      for (let page = 0; page < maxPages; page++) {
        const params: Record<string, string> = {
          repo: did,
          collection: DEVICE_COLLECTION,
          limit: '100',
        }
        if (cursor) params.cursor = cursor
        const { status, body } = await xrpcGet(pds, did, 'com.atproto.repo.listRecords', params)
        if (status !== 200)
          throw new UpstreamError(`${did}'s PDS answered listRecords with HTTP ${status}`)
        const parsed = listRecordsSchema.safeParse(body)
        if (!parsed.success)
          throw new UpstreamError(`${did}'s PDS answered listRecords with a malformed body`)
        const prefix = `at://${did}/${DEVICE_COLLECTION}/`
        for (const record of parsed.data.records) {
          if (!record.uri.startsWith(prefix)) continue
          const deviceId = record.uri.slice(prefix.length)
          const binding = parseBindingValue(deviceId, record.value)
          if (binding) bindings.set(deviceId, binding)
        }
        cursor = parsed.data.cursor
        if (!cursor || parsed.data.records.length === 0) break
      }
      return bindings
    },
  }
}

function isRecordNotFound(status: number, body: unknown): boolean {
  if (status === 404) return true
  return (
    status === 400 &&
    typeof body === 'object' &&
    body !== null &&
    (body as { error?: unknown }).error === 'RecordNotFound'
  )
}

async function readCapped(res: Response, maxBytes: number): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? '0')
  if (declared > maxBytes) {
    await res.body?.cancel()
    throw new UpstreamError(`PDS response larger than ${maxBytes} bytes`)
  }
  if (!res.body) return ''
  const chunks: Uint8Array[] = []
  let total = 0
  for await (const chunk of res.body) {
    total += chunk.byteLength
    if (total > maxBytes) throw new UpstreamError(`PDS response larger than ${maxBytes} bytes`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

interface CacheEntry {
  fetchedAt: number
  bindings: Promise<Map<string, Binding>>
}

/**
 * listBindings behind a short TTL, so a popular DID costs its PDS one listRecords per TTL
 * however many clients look it up; concurrent misses share one fetch. Bounded, LRU.
 */
export class BindingCache {
  private readonly entries = new Map<string, CacheEntry>()
  private readonly source: BindingSource
  private readonly ttlMs: number
  private readonly maxEntries: number
  private readonly now: () => number

  constructor(
    source: BindingSource,
    options: { ttlMs?: number; maxEntries?: number; now?: () => number } = {},
  ) {
    this.source = source
    this.ttlMs = options.ttlMs ?? 60_000
    this.maxEntries = options.maxEntries ?? 10_000
    this.now = options.now ?? Date.now
  }

  async listBindings(did: Did): Promise<Map<string, Binding>> {
    const now = this.now()
    const hit = this.entries.get(did)
    if (hit && now - hit.fetchedAt < this.ttlMs) return hit.bindings
    this.entries.delete(did)
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value
      if (oldest === undefined) break
      this.entries.delete(oldest)
    }
    const bindings = this.source.listBindings(did)
    const entry = { fetchedAt: now, bindings }
    this.entries.set(did, entry)
    // A failed fetch is not cached: the next lookup asks the PDS again.
    bindings.catch(() => {
      if (this.entries.get(did) === entry) this.entries.delete(did)
    })
    return bindings
  }

  /** After a register or revoke, the next lookup must see the PDS as it is now. */
  invalidate(did: Did): void {
    this.entries.delete(did)
  }
}
