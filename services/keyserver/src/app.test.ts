import { Secp256k1Keypair } from '@atproto/crypto'
import { createServiceJwt } from '@atproto/xrpc-server'
import { beforeEach, describe, expect, it } from 'vitest'
import { generateDeviceKey } from '@hearth/identity'
import type { DeviceKey, Did } from '@hearth/identity'
import { JtiReplayCache } from '@hearth/identity/service-jwt'
import { clientIpFromHeader, createKeyserverApp, MAX_BODY_BYTES } from './app.ts'
import type { KeyserverDeps } from './app.ts'
import { createServiceAuthVerifier, LXM_REGISTER_DEVICE, LXM_REVOKE_DEVICE } from './auth.ts'
import type { ServiceAuthVerifier } from './auth.ts'
import type { Binding, BindingSource } from './bindings.ts'
import { AuthRequiredError, UpstreamError } from './errors.ts'
import { serviceIdentity } from '@hearth/identity'
import { openSqliteDeviceStore } from './storage.ts'
import type { DeviceStore } from './storage.ts'

const alice = 'did:plc:alice000000000000000000' as Did
const bob = 'did:plc:bob00000000000000000000' as Did
const identity = serviceIdentity('localhost:2584', 'hearth_keyserver', { https: false })

/** Tokens in these tests are just `test.<base64url did>`; the real verifier has its own tests below. */
const testToken = (did: string) => `test.${Buffer.from(did).toString('base64url')}`
const fakeAuth: ServiceAuthVerifier = {
  async verify(token, lxm) {
    const match = /^test\.([A-Za-z0-9_-]+)$/.exec(token)
    if (!match) throw new AuthRequiredError('BadSignature', 'not a test token')
    if (lxm !== LXM_REGISTER_DEVICE && lxm !== LXM_REVOKE_DEVICE) throw new Error('unexpected lxm')
    return { did: Buffer.from(match[1]!, 'base64url').toString() as Did, jti: 'x' }
  },
}

/** An in-memory PDS view: the bindings each DID has published. */
class FakeBindings implements BindingSource {
  readonly records = new Map<string, Binding>()
  calls = 0
  failing = false
  publish(did: Did, key: DeviceKey, name = 'laptop') {
    this.records.set(`${did} ${key.deviceId}`, {
      deviceId: key.deviceId,
      key: key.keyId,
      name,
      createdAt: '2026-01-01T00:00:00.000Z',
    })
  }
  unpublish(did: Did, key: DeviceKey) {
    this.records.delete(`${did} ${key.deviceId}`)
  }
  async getBinding(did: Did, deviceId: string) {
    this.calls++
    if (this.failing) throw new UpstreamError('PDS down')
    return this.records.get(`${did} ${deviceId}`) ?? null
  }
  async listBindings(did: Did) {
    this.calls++
    if (this.failing) throw new UpstreamError('PDS down')
    const out = new Map<string, Binding>()
    for (const [k, v] of this.records) if (k.startsWith(`${did} `)) out.set(v.deviceId, v)
    return out
  }
}

let store: DeviceStore
let bindings: FakeBindings
let now: number
let laptop: DeviceKey
let phone: DeviceKey

function makeApp(overrides: Partial<KeyserverDeps> = {}) {
  return createKeyserverApp({
    identity,
    store,
    auth: fakeAuth,
    bindings,
    now: () => now,
    rateLimits: {
      ip: { capacity: 1000, refillPerSecond: 1000 },
      did: { capacity: 1000, refillPerSecond: 1000 },
    },
    ...overrides,
  })
}

function post(
  path: string,
  body: unknown,
  did: Did | null = alice,
  headers: Record<string, string> = {},
) {
  return {
    path: `/xrpc/${path}`,
    init: {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(did ? { authorization: `Bearer ${testToken(did)}` } : {}),
        ...headers,
      },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    },
  }
}

async function call(app: ReturnType<typeof makeApp>, req: { path: string; init: RequestInit }) {
  const res = await app.request(req.path, req.init)
  return { res, body: (await res.json()) as Record<string, unknown> }
}

const register = (key: DeviceKey, did: Did | null = alice) =>
  post('app.hearth.keyserver.registerDevice', { key: key.keyId, deviceId: key.deviceId }, did)

beforeEach(async () => {
  store = openSqliteDeviceStore(':memory:')
  bindings = new FakeBindings()
  now = Date.parse('2026-06-01T00:00:00.000Z')
  laptop = (await generateDeviceKey()).key
  phone = (await generateDeviceKey()).key
})

describe('service identity', () => {
  it('serves a did:web document with the #hearth_keyserver service', async () => {
    const res = await makeApp().request('/.well-known/did.json')
    expect(await res.json()).toEqual({
      '@context': ['https://www.w3.org/ns/did/v1'],
      id: 'did:web:localhost%3A2584',
      service: [
        {
          id: '#hearth_keyserver',
          type: 'HearthKeyserver',
          serviceEndpoint: 'http://localhost:2584',
        },
      ],
    })
    expect(identity.audience).toBe('did:web:localhost%3A2584#hearth_keyserver')
  })
})

describe('registerDevice', () => {
  it('registers a key whose binding record the caller published, and lists it', async () => {
    const app = makeApp()
    bindings.publish(alice, laptop, 'alice laptop')
    const { res, body } = await call(app, register(laptop))
    expect(res.status).toBe(200)
    expect(body).toMatchObject({
      did: alice,
      deviceId: laptop.deviceId,
      key: laptop.keyId,
      name: 'alice laptop',
    })

    const list = await call(app, {
      path: `/xrpc/app.hearth.keyserver.listDevices?did=${alice}`,
      init: {},
    })
    expect(list.res.status).toBe(200)
    expect(list.body).toEqual({
      did: alice,
      devices: [
        {
          deviceId: laptop.deviceId,
          key: laptop.keyId,
          name: 'alice laptop',
          createdAt: '2026-01-01T00:00:00.000Z',
        },
      ],
    })
  })

  it('refuses without a binding record in the caller’s repository, storing nothing', async () => {
    const { res, body } = await call(makeApp(), register(laptop))
    expect(res.status).toBe(400)
    expect(body.error).toBe('BindingNotFound')
    expect(store.countRows()).toBe(0)
  })

  it('refuses a key bound in someone else’s repository (registering for a DID that did not ask)', async () => {
    bindings.publish(bob, laptop)
    const { res } = await call(makeApp(), register(laptop, alice))
    expect(res.status).toBe(400)
    expect(store.countRows()).toBe(0)
  })

  it('refuses when the record at that device id names a different key', async () => {
    bindings.records.set(`${alice} ${laptop.deviceId}`, {
      deviceId: laptop.deviceId,
      key: phone.keyId,
      name: 'x',
      createdAt: '2026-01-01T00:00:00.000Z',
    })
    const { res, body } = await call(makeApp(), register(laptop))
    expect(res.status).toBe(400)
    expect(String(body.message)).toMatch(/different key/)
  })

  it('requires a bearer token and reports the verifier’s reason', async () => {
    const app = makeApp()
    const missing = await call(app, register(laptop, null))
    expect(missing.res.status).toBe(401)
    expect(missing.body).toMatchObject({ error: 'AuthRequired', reason: 'MissingToken' })
    expect(missing.res.headers.get('www-authenticate')).toBe('Bearer')

    const basic = await call(
      app,
      post('app.hearth.keyserver.registerDevice', {}, null, {
        authorization: 'Basic YWxpY2U6cHc=',
      }),
    )
    expect(basic.body).toMatchObject({ reason: 'MissingToken' })

    const forged = await call(
      app,
      post('app.hearth.keyserver.registerDevice', {}, null, { authorization: 'Bearer forged' }),
    )
    expect(forged.res.status).toBe(401)
    expect(forged.body).toMatchObject({ reason: 'BadSignature' })
    expect(bindings.calls).toBe(0)
  })

  describe('accepts only public key material (S5)', () => {
    const cases: Array<[string, () => unknown]> = [
      [
        'a JWK private member d',
        () => ({ key: laptop.keyId, deviceId: laptop.deviceId, d: 'c2VjcmV0' }),
      ],
      [
        'a privateKey field',
        () => ({ key: laptop.keyId, deviceId: laptop.deviceId, privateKey: 'z42tsecret' }),
      ],
      [
        'a whole JWK instead of a did:key',
        () => ({
          key: { kty: 'EC', crv: 'P-256', x: 'a', y: 'b', d: 'c' },
          deviceId: laptop.deviceId,
        }),
      ],
      // multicodec p256-priv (0x1306) encodes to z42t...
      [
        'a private multikey',
        () => ({
          key: 'did:key:z42tv1pb3Dzog28Q1udyieg1YJP3x1Un5vraE1bttXeCDSpW',
          deviceId: laptop.deviceId,
        }),
      ],
      [
        'a bare multikey',
        () => ({ key: laptop.keyId.slice('did:key:'.length), deviceId: laptop.deviceId }),
      ],
      [
        'a secp256k1 did:key',
        () => ({
          key: 'did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme',
          deviceId: laptop.deviceId,
        }),
      ],
      [
        'a zDn key that is not a point on P-256',
        () => ({
          key: 'did:key:zDnaeyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy',
          deviceId: laptop.deviceId,
        }),
      ],
      [
        'a device id that does not match the key',
        () => ({ key: laptop.keyId, deviceId: phone.deviceId }),
      ],
      ['a missing device id', () => ({ key: laptop.keyId })],
      ['an array', () => [laptop.keyId, laptop.deviceId]],
    ]
    it.each(cases)('refuses %s with 400 and stores nothing', async (_name, body) => {
      bindings.publish(alice, laptop)
      const { res, body: out } = await call(
        makeApp(),
        post('app.hearth.keyserver.registerDevice', body()),
      )
      expect(res.status).toBe(400)
      expect(out.error).toBe('InvalidRequest')
      expect(store.countRows()).toBe(0)
      expect(bindings.calls).toBe(0)
    })
  })

  it('refuses non-JSON bodies and a wrong content type', async () => {
    const app = makeApp()
    const garbage = await call(app, post('app.hearth.keyserver.registerDevice', '{"key":'))
    expect(garbage.res.status).toBe(400)
    const req = register(laptop)
    const form = await call(app, {
      path: req.path,
      init: {
        ...req.init,
        headers: { ...(req.init.headers as object), 'content-type': 'text/plain' },
      },
    })
    expect(form.res.status).toBe(400)
  })

  it('caps the body size with 413', async () => {
    const big = { key: laptop.keyId, deviceId: laptop.deviceId, pad: 'x'.repeat(MAX_BODY_BYTES) }
    const { res, body } = await call(makeApp(), post('app.hearth.keyserver.registerDevice', big))
    expect(res.status).toBe(413)
    expect(body.error).toBe('PayloadTooLarge')
  })

  it('caps the number of active devices per DID', async () => {
    const app = makeApp({ maxDevicesPerDid: 1 })
    bindings.publish(alice, laptop)
    bindings.publish(alice, phone)
    expect((await call(app, register(laptop))).res.status).toBe(200)
    const { res, body } = await call(app, register(phone))
    expect(res.status).toBe(400)
    expect(body.error).toBe('TooManyDevices')
    // Re-registering an existing device is not a new one.
    expect((await call(app, register(laptop))).res.status).toBe(200)
  })

  it('answers 502 when the caller’s PDS cannot be reached', async () => {
    bindings.failing = true
    const { res } = await call(makeApp(), register(laptop))
    expect(res.status).toBe(502)
    expect(store.countRows()).toBe(0)
  })
})

describe('revokeDevice', () => {
  it('revokes the caller’s own device; another DID cannot touch it', async () => {
    const app = makeApp()
    bindings.publish(alice, laptop)
    await call(app, register(laptop))

    const byBob = await call(
      app,
      post('app.hearth.keyserver.revokeDevice', { deviceId: laptop.deviceId }, bob),
    )
    expect(byBob.res.status).toBe(404)
    expect(store.getDevice(alice, laptop.deviceId)?.revokedAt).toBeNull()

    now += 1000
    const byAlice = await call(
      app,
      post('app.hearth.keyserver.revokeDevice', { deviceId: laptop.deviceId }),
    )
    expect(byAlice.res.status).toBe(200)
    expect(byAlice.body).toEqual({
      did: alice,
      deviceId: laptop.deviceId,
      revokedAt: new Date(now).toISOString(),
    })

    const list = await call(app, {
      path: `/xrpc/app.hearth.keyserver.listDevices?did=${alice}`,
      init: {},
    })
    expect(list.body.devices).toEqual([
      expect.objectContaining({
        deviceId: laptop.deviceId,
        revokedAt: new Date(now).toISOString(),
        revokedReason: 'revoked',
      }),
    ])
  })

  it('refuses extra fields', async () => {
    const { res } = await call(
      makeApp(),
      post('app.hearth.keyserver.revokeDevice', { deviceId: laptop.deviceId, did: bob }),
    )
    expect(res.status).toBe(400)
  })
})

describe('listDevices', () => {
  const list = (app: ReturnType<typeof makeApp>, did: string) =>
    call(app, {
      path: `/xrpc/app.hearth.keyserver.listDevices?did=${encodeURIComponent(did)}`,
      init: {},
    })

  it('answers 404 for an unknown DID, asks no PDS and stores nothing (S5)', async () => {
    const app = makeApp()
    const before = store.countRows()
    const { res, body } = await list(app, 'did:plc:unknown000000000000000')
    expect(res.status).toBe(404)
    expect(body.error).toBe('DidNotFound')
    expect(store.countRows()).toBe(before)
    expect(bindings.calls).toBe(0)
  })

  it('refuses a malformed did', async () => {
    for (const did of ['', 'alice.test', 'did:web:x#frag', `did:plc:${'a'.repeat(600)}`]) {
      expect((await list(makeApp(), did)).res.status).toBe(400)
    }
  })

  it('stops serving a key as valid once its binding record is gone, after the TTL', async () => {
    const app = makeApp({ bindingTtlMs: 60_000 })
    bindings.publish(alice, laptop)
    bindings.publish(alice, phone)
    await call(app, register(laptop))
    await call(app, register(phone))

    expect((await list(app, alice)).body.devices).toHaveLength(2)
    const callsAfterFirstList = bindings.calls
    bindings.unpublish(alice, phone)

    // Within the TTL the confirmed set is reused: no PDS round trip.
    now += 30_000
    const cached = await list(app, alice)
    expect(bindings.calls).toBe(callsAfterFirstList)
    expect((cached.body.devices as object[]).every((d) => !('revokedAt' in d))).toBe(true)

    now += 31_000
    const fresh = await list(app, alice)
    const byId = new Map(
      (fresh.body.devices as Array<{ deviceId: string }>).map((d) => [d.deviceId, d]),
    )
    expect(byId.get(laptop.deviceId)).not.toHaveProperty('revokedAt')
    expect(byId.get(phone.deviceId)).toMatchObject({
      revokedReason: 'binding-missing',
      revokedAt: new Date(now).toISOString(),
    })
    expect(store.getDevice(alice, phone.deviceId)?.revokedReason).toBe('binding-missing')

    // Re-publishing and re-registering restores it.
    bindings.publish(alice, phone)
    expect((await call(app, register(phone))).res.status).toBe(200)
    expect((await list(app, alice)).body.devices).toHaveLength(2)
    expect(store.countActiveDevices(alice)).toBe(2)
  })

  it('answers 502 rather than vouching for keys it cannot confirm', async () => {
    const app = makeApp({ bindingTtlMs: 0 })
    bindings.publish(alice, laptop)
    await call(app, register(laptop))
    bindings.failing = true
    const { res } = await list(app, alice)
    expect(res.status).toBe(502)
    expect(store.getDevice(alice, laptop.deviceId)?.revokedAt).toBeNull()
  })
})

describe('rate limits (S6)', () => {
  it('limits each IP, with Retry-After', async () => {
    let ip = '10.0.0.1'
    const app = makeApp({
      clientIp: () => ip,
      rateLimits: {
        ip: { capacity: 3, refillPerSecond: 0.1 },
        did: { capacity: 100, refillPerSecond: 100 },
      },
    })
    const statuses = []
    for (let i = 0; i < 4; i++)
      statuses.push(
        (await call(app, { path: `/xrpc/app.hearth.keyserver.listDevices?did=${alice}`, init: {} }))
          .res.status,
      )
    expect(statuses).toEqual([404, 404, 404, 429])
    const limited = await app.request(`/xrpc/app.hearth.keyserver.listDevices?did=${alice}`)
    expect(limited.status).toBe(429)
    expect(limited.headers.get('retry-after')).toBe('10')
    expect(await limited.json()).toMatchObject({ error: 'RateLimitExceeded' })

    ip = '10.0.0.2'
    expect((await app.request(`/xrpc/app.hearth.keyserver.listDevices?did=${alice}`)).status).toBe(
      404,
    )
  })

  it('answers CORS preflights without spending the IP budget, and exposes Retry-After', async () => {
    const app = makeApp({
      rateLimits: {
        ip: { capacity: 1, refillPerSecond: 0.1 },
        did: { capacity: 100, refillPerSecond: 100 },
      },
    })
    const preflight = () =>
      app.request('/xrpc/app.hearth.keyserver.registerDevice', {
        method: 'OPTIONS',
        headers: {
          origin: 'http://127.0.0.1:5173',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization,content-type',
        },
      })
    for (let i = 0; i < 3; i++) expect((await preflight()).status).toBe(204)
    const first = await app.request(`/xrpc/app.hearth.keyserver.listDevices?did=${alice}`, {
      headers: { origin: 'http://127.0.0.1:5173' },
    })
    expect(first.status).toBe(404)
    const limited = await app.request(`/xrpc/app.hearth.keyserver.listDevices?did=${alice}`, {
      headers: { origin: 'http://127.0.0.1:5173' },
    })
    expect(limited.status).toBe(429)
    expect(limited.headers.get('access-control-allow-origin')).toBe('*')
    expect(limited.headers.get('access-control-expose-headers')).toMatch(/retry-after/i)
  })

  it('behind a proxy, keys on the address the proxy appended, not one the client wrote', async () => {
    const app = makeApp({
      clientIp: clientIpFromHeader('x-forwarded-for'),
      rateLimits: {
        ip: { capacity: 1, refillPerSecond: 0.1 },
        did: { capacity: 100, refillPerSecond: 100 },
      },
    })
    const lookup = (xff: string) =>
      app.request(`/xrpc/app.hearth.keyserver.listDevices?did=${alice}`, {
        headers: { 'x-forwarded-for': xff },
      })
    expect((await lookup('1.1.1.1, 10.0.0.9')).status).toBe(404)
    // A forged first entry does not buy a fresh bucket.
    expect((await lookup('2.2.2.2, 10.0.0.9')).status).toBe(429)
    expect((await lookup('10.0.0.10')).status).toBe(404)
  })

  it('limits each verified DID, independently of the IP', async () => {
    const app = makeApp({
      rateLimits: {
        ip: { capacity: 100, refillPerSecond: 100 },
        did: { capacity: 2, refillPerSecond: 0.5 },
      },
    })
    bindings.publish(alice, laptop)
    bindings.publish(bob, phone)
    const aliceStatuses = []
    for (let i = 0; i < 3; i++)
      aliceStatuses.push((await call(app, register(laptop, alice))).res.status)
    expect(aliceStatuses).toEqual([200, 200, 429])
    const limited = await call(app, register(laptop, alice))
    expect(limited.res.headers.get('retry-after')).toBe('2')
    expect((await call(app, register(phone, bob))).res.status).toBe(200)
  })

  it('does not charge a DID for tokens that fail verification', async () => {
    const app = makeApp({
      rateLimits: {
        ip: { capacity: 100, refillPerSecond: 100 },
        did: { capacity: 1, refillPerSecond: 0.01 },
      },
    })
    bindings.publish(alice, laptop)
    for (let i = 0; i < 5; i++) {
      const r = await call(
        app,
        post('app.hearth.keyserver.registerDevice', {}, null, {
          authorization: `Bearer forged.${testToken(alice)}`,
        }),
      )
      expect(r.res.status).toBe(401)
    }
    expect((await call(app, register(laptop))).res.status).toBe(200)
  })
})

describe('with the real service-auth verifier', () => {
  async function setup() {
    const keypair = await Secp256k1Keypair.create()
    const app = makeApp({
      auth: createServiceAuthVerifier({
        audience: identity.audience,
        getSigningKey: async (iss) => {
          if (iss !== alice) throw new Error('unknown DID')
          return keypair.did()
        },
        replayCache: new JtiReplayCache(),
      }),
    })
    bindings.publish(alice, laptop)
    const token = (aud: string, lxm = LXM_REGISTER_DEVICE) =>
      createServiceJwt({ iss: alice, aud, lxm, keypair })
    const withToken = (t: string) =>
      app.request('/xrpc/app.hearth.keyserver.registerDevice', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${t}` },
        body: JSON.stringify({ key: laptop.keyId, deviceId: laptop.deviceId }),
      })
    return { token, withToken }
  }

  it('accepts a good token once, then refuses the replay', async () => {
    const { token, withToken } = await setup()
    const t = await token(identity.audience)
    expect((await withToken(t)).status).toBe(200)
    const replay = await withToken(t)
    expect(replay.status).toBe(401)
    expect(await replay.json()).toMatchObject({ reason: 'Replayed' })
  })

  it('refuses the bare service DID as audience and the other endpoint’s lxm', async () => {
    const { token, withToken } = await setup()
    const bare = await withToken(await token(identity.did))
    expect(await bare.json()).toMatchObject({ reason: 'BadAudience' })
    const lxm = await withToken(await token(identity.audience, LXM_REVOKE_DEVICE))
    expect(await lxm.json()).toMatchObject({ reason: 'BadLexiconMethod' })
    expect(store.countRows()).toBe(0)
  })
})

describe('errors', () => {
  it('maps unknown errors to a 500 without details', async () => {
    const app = makeApp({
      auth: {
        verify: async () => {
          throw new Error('secret internal detail')
        },
      },
    })
    const original = console.error
    console.error = () => {}
    try {
      const { res, body } = await call(app, register(laptop))
      expect(res.status).toBe(500)
      expect(JSON.stringify(body)).not.toContain('secret')
    } finally {
      console.error = original
    }
  })

  it('answers unknown endpoints with 404', async () => {
    expect((await makeApp().request('/xrpc/app.hearth.keyserver.exportPrivateKeys')).status).toBe(
      404,
    )
  })
})
