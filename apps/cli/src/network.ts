import { isDid, type Did } from '@hearth/identity'
import { z } from 'zod'

export class NetworkError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'NetworkError'
  }
}

const MAX_RESPONSE_BYTES = 256 * 1024

async function getJson<T>(
  url: URL,
  schema: z.ZodType<T>,
  what: string,
  init?: RequestInit,
  timeoutMs = 10_000,
): Promise<T> {
  let res: Response
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) })
  } catch (cause) {
    throw new NetworkError(`cannot reach the ${what} at ${url.origin}`, { cause })
  }
  const text = await res.text()
  if (text.length > MAX_RESPONSE_BYTES)
    throw new NetworkError(`the ${what} sent an oversized response`)
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    throw new NetworkError(`the ${what} answered ${res.status} with something that is not JSON`)
  }
  if (!res.ok) {
    const message = (body as { message?: unknown })?.message
    throw new NetworkError(
      `the ${what} refused (${res.status}): ${typeof message === 'string' ? message : 'no reason given'}`,
    )
  }
  const parsed = schema.safeParse(body)
  if (!parsed.success) throw new NetworkError(`the ${what} sent an unexpected answer`)
  return parsed.data
}

const did = z
  .string()
  .refine(isDid, 'not a DID')
  .transform((s) => s as Did)

const identity = z.object({
  did,
  handle: z.string().nullable(),
  handleVerified: z.boolean(),
  pds: z.string().url().nullable(),
})
export type ResolvedIdentity = z.infer<typeof identity>

export function resolveIdentity(
  resolverUrl: string,
  identifier: string,
): Promise<ResolvedIdentity> {
  const url = new URL('/xrpc/app.hearth.resolver.resolveIdentity', resolverUrl)
  url.searchParams.set('identifier', identifier)
  return getJson(url, identity, 'resolver')
}

/** The keyserver's own did:web, read from its DID document. */
export async function keyserverDid(keyserverUrl: string): Promise<Did> {
  const doc = await getJson(
    new URL('/.well-known/did.json', keyserverUrl),
    z.object({ id: did }),
    'keyserver',
  )
  return doc.id
}

export async function registerDevice(
  keyserverUrl: string,
  token: string,
  body: { key: string; deviceId: string },
): Promise<void> {
  await getJson(
    new URL('/xrpc/app.hearth.keyserver.registerDevice', keyserverUrl),
    z.unknown(),
    'keyserver',
    {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    },
  )
}

const deviceList = z.object({
  devices: z
    .array(z.object({ key: z.string().max(256), revokedAt: z.string().optional() }))
    .max(1000),
})

/** The keys of `did`'s devices the keyserver serves as bound and not revoked. */
export async function activeDeviceKeys(
  keyserverUrl: string,
  did: Did,
  timeoutMs: number,
): Promise<Set<string>> {
  const url = new URL('/xrpc/app.hearth.keyserver.listDevices', keyserverUrl)
  url.searchParams.set('did', did)
  const { devices } = await getJson(url, deviceList, 'keyserver', undefined, timeoutMs)
  return new Set(devices.filter((d) => !d.revokedAt).map((d) => d.key))
}
