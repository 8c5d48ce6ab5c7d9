import { Hono } from 'hono'
import type { Context, MiddlewareHandler } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { cors } from 'hono/cors'
import { HTTPException } from 'hono/http-exception'
import { getConnInfo } from '@hono/node-server/conninfo'
import { z } from 'zod'
import { deviceIdFromKeyId, isDid, isP256KeyId, serviceDidDocument } from '@hearth/identity'
import type { Did, ServiceIdentity } from '@hearth/identity'
import { TokenBuckets, type BucketConfig } from '@hearth/limits'
import { LXM_REGISTER_DEVICE, LXM_REVOKE_DEVICE, tokenFromHeader } from './auth.ts'
import type { ServiceAuthVerifier } from './auth.ts'
import { BindingCache } from './bindings.ts'
import type { BindingSource } from './bindings.ts'
import {
  AuthRequiredError,
  BindingNotFoundError,
  InvalidRequestError,
  NotFoundError,
  PayloadTooLargeError,
  RateLimitedError,
  UpstreamError,
} from './errors.ts'
import type { DeviceStore, StoredDevice } from './storage.ts'

export const MAX_BODY_BYTES = 2048
export const DEFAULT_MAX_DEVICES_PER_DID = 32

export interface RateLimitConfig {
  /** Every XRPC request, before any verification work. */
  ip: BucketConfig
  /** Authenticated requests, keyed on the verified caller DID (never on a claimed one). */
  did: BucketConfig
  /** Bound on each limiter's map. */
  maxKeys?: number
}

export const DEFAULT_RATE_LIMITS: RateLimitConfig = {
  ip: { capacity: 120, refillPerSecond: 10 },
  did: { capacity: 10, refillPerSecond: 0.2 },
}

export interface KeyserverDeps {
  identity: ServiceIdentity
  store: DeviceStore
  auth: ServiceAuthVerifier
  bindings: BindingSource
  /** TTL of a DID's confirmed binding set for listDevices. */
  bindingTtlMs?: number
  rateLimits?: RateLimitConfig
  /** Defaults to the socket's remote address; replace only behind a proxy you trust. */
  clientIp?: (c: Context) => string
  maxDevicesPerDid?: number
  now?: () => number
}

// Exactly the public fields; `.strict()` turns anything else (a JWK `d`, a `privateKey`, ...) into a 400.
const registerBodySchema = z
  .object({
    key: z
      .string()
      .max(128)
      .regex(
        /^did:key:zDn[1-9A-HJ-NP-Za-km-z]+$/,
        'must be the did:key of a P-256 public key (did:key:zDn...)',
      ),
    deviceId: z
      .string()
      .max(64)
      .regex(/^[a-z2-7]+$/, 'must be the base32 device id'),
  })
  .strict()

const revokeBodySchema = z
  .object({
    deviceId: z
      .string()
      .max(64)
      .regex(/^[a-z2-7]+$/, 'must be the base32 device id'),
  })
  .strict()

interface DeviceView {
  deviceId: string
  key: string
  name: string
  createdAt: string
  revokedAt?: string
  revokedReason?: string
}

function deviceView(d: StoredDevice): DeviceView {
  return {
    deviceId: d.deviceId,
    key: d.key,
    name: d.name,
    createdAt: d.createdAt,
    ...(d.revokedAt ? { revokedAt: d.revokedAt, revokedReason: d.revokedReason ?? 'revoked' } : {}),
  }
}

function defaultClientIp(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? 'unknown'
  } catch {
    // app.request in tests has no socket.
    return 'unknown'
  }
}

/** The last entry of a proxy-set header: the address our own proxy saw, which a client cannot forge. */
export function clientIpFromHeader(header: string): (c: Context) => string {
  return function clientIpFromProxyHeader(c) {
    const value = c.req.header(header)
    const last = value?.split(',').pop()?.trim()
    return last ? last.slice(0, 64) : defaultClientIp(c)
  }
}

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body)
  if (parsed.success) return parsed.data
  const problems = parsed.error.issues
    .slice(0, 5)
    .map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message))
  throw new InvalidRequestError(`invalid body: ${problems.join('; ')}`)
}

async function readJson(c: Context): Promise<unknown> {
  if (!(c.req.header('content-type') ?? '').toLowerCase().startsWith('application/json')) {
    throw new InvalidRequestError('the body must be application/json')
  }
  try {
    return (await c.req.json()) as unknown
  } catch (err) {
    if (err instanceof PayloadTooLargeError || err instanceof HTTPException) throw err
    throw new InvalidRequestError('the body is not valid JSON')
  }
}

export function createKeyserverApp(deps: KeyserverDeps): Hono {
  const now = deps.now ?? Date.now
  const nowIso = (): string => new Date(now()).toISOString()
  const limits = deps.rateLimits ?? DEFAULT_RATE_LIMITS
  // Bounded key sets that refuse a newcomer rather than forget a debtor (see @hearth/limits).
  const ipLimiter = new TokenBuckets({ ...limits.ip, maxKeys: limits.maxKeys ?? 10_000, now })
  const didLimiter = new TokenBuckets({ ...limits.did, maxKeys: limits.maxKeys ?? 10_000, now })
  const clientIp = deps.clientIp ?? defaultClientIp
  const maxDevices = deps.maxDevicesPerDid ?? DEFAULT_MAX_DEVICES_PER_DID
  const bindingCache = new BindingCache(deps.bindings, {
    ...(deps.bindingTtlMs !== undefined ? { ttlMs: deps.bindingTtlMs } : {}),
    now,
  })

  const limitByIp: MiddlewareHandler = async function limitByIp(c, next) {
    const taken = ipLimiter.take(clientIp(c))
    if (!taken.ok) throw new RateLimitedError('ip', taken.retryAfterSeconds)
    await next()
  }

  const limitBody: MiddlewareHandler = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: () => {
      throw new PayloadTooLargeError(MAX_BODY_BYTES)
    },
  })

  /** Verifies the service-auth token for `lxm`, then spends from the caller DID's bucket. */
  async function authenticate(c: Context, lxm: string): Promise<Did> {
    const { did } = await deps.auth.verify(tokenFromHeader(c.req.header('authorization')), lxm)
    const taken = didLimiter.take(did)
    if (!taken.ok) throw new RateLimitedError('did', taken.retryAfterSeconds)
    return did
  }

  const app = new Hono()

  app.get('/.well-known/did.json', (c) =>
    c.json(serviceDidDocument(deps.identity, 'HearthKeyserver')),
  )

  // The web app calls us from its own origin. Bearer tokens, never cookies, so any
  // origin may call; preflights are answered before the rate limiter counts them.
  app.use(
    '/xrpc/*',
    cors({
      origin: '*',
      allowMethods: ['GET', 'POST', 'OPTIONS'],
      allowHeaders: ['authorization', 'content-type'],
      exposeHeaders: ['retry-after', 'www-authenticate'],
      maxAge: 600,
    }),
  )
  app.use('/xrpc/*', limitByIp)

  app.post('/xrpc/app.hearth.keyserver.registerDevice', limitBody, async (c) => {
    const did = await authenticate(c, LXM_REGISTER_DEVICE)
    const { key, deviceId } = parseBody(registerBodySchema, await readJson(c))
    if (!isP256KeyId(key))
      throw new InvalidRequestError('key: not a valid P-256 public key did:key')
    if (deviceIdFromKeyId(key) !== deviceId) {
      throw new InvalidRequestError(
        'deviceId: does not match the key (expected deviceIdFromKeyId(key))',
      )
    }
    const existing = deps.store.getDevice(did, deviceId)
    if ((!existing || existing.revokedAt) && deps.store.countActiveDevices(did) >= maxDevices) {
      throw new InvalidRequestError(
        `at most ${maxDevices} active devices per DID`,
        'TooManyDevices',
      )
    }
    // The owner's repository, not this request, is what says the key is theirs.
    const binding = await deps.bindings.getBinding(did, deviceId)
    if (!binding) throw new BindingNotFoundError(did, deviceId, 'record absent or malformed')
    if (binding.key !== key)
      throw new BindingNotFoundError(did, deviceId, 'the record names a different key')
    deps.store.putDevice({
      did,
      deviceId,
      key,
      name: binding.name,
      createdAt: binding.createdAt,
      registeredAt: nowIso(),
    })
    deps.store.pruneRevoked(did, maxDevices)
    bindingCache.invalidate(did)
    return c.json({ did, deviceId, key, name: binding.name, createdAt: binding.createdAt })
  })

  app.post('/xrpc/app.hearth.keyserver.revokeDevice', limitBody, async (c) => {
    const did = await authenticate(c, LXM_REVOKE_DEVICE)
    const { deviceId } = parseBody(revokeBodySchema, await readJson(c))
    const device = deps.store.getDevice(did, deviceId)
    if (!device) throw new NotFoundError('no such device for this DID', 'DeviceNotFound')
    if (!device.revokedAt) deps.store.revokeDevice(did, deviceId, nowIso(), 'revoked')
    bindingCache.invalidate(did)
    const after = deps.store.getDevice(did, deviceId)!
    return c.json({ did, deviceId, revokedAt: after.revokedAt })
  })

  app.get('/xrpc/app.hearth.keyserver.listDevices', async (c) => {
    const did = c.req.query('did')
    if (!isDid(did)) throw new InvalidRequestError('did: a bare DID is required')
    const devices = deps.store.listDevices(did)
    // Unknown DIDs cost a lookup and nothing else: no PDS call, no row, no cache entry.
    if (devices.length === 0)
      throw new NotFoundError('no devices registered for this DID', 'DidNotFound')
    if (devices.some((d) => !d.revokedAt)) {
      let bindings
      try {
        bindings = await bindingCache.listBindings(did)
      } catch (err) {
        if (err instanceof UpstreamError) throw err
        throw new UpstreamError(`could not confirm ${did}'s device bindings`, { cause: err })
      }
      const at = nowIso()
      for (const d of devices) {
        if (d.revokedAt) continue
        if (bindings.get(d.deviceId)?.key !== d.key) {
          deps.store.revokeDevice(did, d.deviceId, at, 'binding-missing')
          d.revokedAt = at
          d.revokedReason = 'binding-missing'
        }
      }
    }
    return c.json({ did, devices: devices.map(deviceView) })
  })

  app.notFound((c) => c.json({ error: 'MethodNotImplemented', message: 'no such endpoint' }, 404))

  app.onError((err, c) => {
    if (err instanceof AuthRequiredError) {
      c.header('WWW-Authenticate', 'Bearer')
      return c.json({ error: 'AuthRequired', reason: err.reason, message: err.message }, 401)
    }
    if (err instanceof RateLimitedError) {
      c.header('Retry-After', String(err.retryAfterSeconds))
      return c.json({ error: 'RateLimitExceeded', message: err.message }, 429)
    }
    if (
      err instanceof InvalidRequestError ||
      err instanceof BindingNotFoundError ||
      err instanceof NotFoundError
    ) {
      return c.json({ error: err.code, message: err.message }, err.status)
    }
    if (err instanceof PayloadTooLargeError) {
      return c.json({ error: 'PayloadTooLarge', message: err.message }, 413)
    }
    if (err instanceof UpstreamError) {
      return c.json({ error: 'UpstreamFailure', message: err.message }, 502)
    }
    if (err instanceof HTTPException) return err.getResponse()
    console.error('keyserver: unexpected error', err)
    return c.json({ error: 'InternalServerError', message: 'internal error' }, 500)
  })

  return app
}
