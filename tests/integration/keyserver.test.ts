// The keyserver against a real local AT Protocol network (PLC + PDS from @atproto/dev-env):
// real accounts, real binding records in their repositories, real service-auth tokens.
// Covers attacks.md S1 (crafted tokens), S2 (replay), S5 (no private material, nothing stored
// for unknown DIDs, keys whose binding is gone are not served) and S6 (rate limits).
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AtpAgent } from '@atproto/api'
import type { Keypair } from '@atproto/crypto'
import { TestNetworkNoAppView } from '@atproto/dev-env'
import { Agent as UndiciAgent, fetch as undiciFetch } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateDeviceKey } from '@hearth/identity'
import type { DeviceKey, Did } from '@hearth/identity'
import { LXM_REGISTER_DEVICE, LXM_REVOKE_DEVICE, startKeyserver } from '@hearth/keyserver'
import type { RunningKeyserver } from '@hearth/keyserver'
import { freshJti, serviceJwtCases, signJwt } from './fixtures/service-jwt-cases.ts'
import type { ServiceJwtCaseContext } from './fixtures/service-jwt-cases.ts'

interface Account {
  did: Did
  handle: string
  agent: AtpAgent
}

let network: TestNetworkNoAppView
let dir: string
let alice: Account
let bob: Account
let carol: Account
/** Generous limits, and no binding cache, so every listDevices re-checks the PDS. */
let ks: RunningKeyserver

const unlimited = {
  ip: { capacity: 10_000, refillPerSecond: 1_000 },
  did: { capacity: 10_000, refillPerSecond: 1_000 },
}

async function createAccount(name: string): Promise<Account> {
  const agent = new AtpAgent({ service: network.pds.url })
  const res = await agent.createAccount({
    handle: `${name}.test`,
    email: `${name}@example.com`,
    password: `${name}-pass`,
  })
  return { did: res.data.did as Did, handle: `${name}.test`, agent }
}

async function publishBinding(
  account: Account,
  key: DeviceKey,
  name = 'test device',
): Promise<void> {
  await account.agent.com.atproto.repo.putRecord({
    repo: account.did,
    collection: 'app.hearth.device',
    rkey: key.deviceId,
    record: {
      $type: 'app.hearth.device',
      key: key.keyId,
      name,
      createdAt: new Date().toISOString(),
    },
  })
}

async function serviceToken(
  account: Account,
  server: RunningKeyserver,
  lxm: string,
): Promise<string> {
  const res = await account.agent.com.atproto.server.getServiceAuth({ aud: server.audience, lxm })
  return res.data.token
}

async function xrpcPost(
  server: RunningKeyserver,
  method: string,
  token: string | null,
  body: unknown,
  init: { dispatcher?: UndiciAgent } = {},
) {
  const res = await undiciFetch(`${server.url}/xrpc/${method}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token !== null ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
    ...init,
  })
  return {
    status: res.status,
    headers: res.headers,
    body: (await res.json()) as Record<string, unknown>,
  }
}

const register = (
  server: RunningKeyserver,
  token: string,
  key: DeviceKey,
  extra: Record<string, unknown> = {},
) =>
  xrpcPost(server, 'app.hearth.keyserver.registerDevice', token, {
    key: key.keyId,
    deviceId: key.deviceId,
    ...extra,
  })

async function listDevices(
  server: RunningKeyserver,
  did: string,
  init: { dispatcher?: UndiciAgent } = {},
) {
  const res = await undiciFetch(
    `${server.url}/xrpc/app.hearth.keyserver.listDevices?did=${encodeURIComponent(did)}`,
    init,
  )
  return {
    status: res.status,
    headers: res.headers,
    body: (await res.json()) as Record<string, unknown>,
  }
}

async function newKeyserver(
  options: Partial<Parameters<typeof startKeyserver>[0]> = {},
): Promise<RunningKeyserver> {
  return startKeyserver({
    port: 0,
    plcUrl: network.plc.url,
    dbPath: join(dir, `keyserver-${Math.random().toString(36).slice(2)}.sqlite`),
    devMode: true,
    ...options,
  })
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hearth-keyserver-it-'))
  network = await TestNetworkNoAppView.create({})
  alice = await createAccount('alice')
  bob = await createAccount('bob')
  carol = await createAccount('carol')
  ks = await newKeyserver({ rateLimits: unlimited, bindingTtlMs: 0 })
})

afterAll(async () => {
  await ks?.close()
  await network?.close()
  await rm(dir, { recursive: true, force: true })
})

describe('keyserver on a real devnet', () => {
  it('is did:web:<host%3Aport> and serves its DID document', async () => {
    const port = new URL(ks.url).port
    expect(ks.did).toBe(`did:web:localhost%3A${port}`)
    expect(ks.audience).toBe(`${ks.did}#hearth_keyserver`)
    const doc = (await (await undiciFetch(`${ks.url}/.well-known/did.json`)).json()) as Record<
      string,
      unknown
    >
    expect(doc).toMatchObject({
      id: ks.did,
      service: [{ id: '#hearth_keyserver', serviceEndpoint: ks.url }],
    })
  })

  it('registers a key bound in alice’s repository with a token from her PDS, and lists it', async () => {
    const { key } = await generateDeviceKey()
    await publishBinding(alice, key, 'alice laptop')
    const res = await register(ks, await serviceToken(alice, ks, LXM_REGISTER_DEVICE), key)
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({
      did: alice.did,
      deviceId: key.deviceId,
      key: key.keyId,
      name: 'alice laptop',
    })

    const list = await listDevices(ks, alice.did)
    expect(list.status).toBe(200)
    expect(list.body.did).toBe(alice.did)
    expect(list.body.devices).toContainEqual({
      deviceId: key.deviceId,
      key: key.keyId,
      name: 'alice laptop',
      createdAt: expect.any(String),
    })
  })

  it('revokes alice’s device with a revokeDevice token; a register token does not revoke', async () => {
    const { key } = await generateDeviceKey()
    await publishBinding(alice, key)
    expect(
      (await register(ks, await serviceToken(alice, ks, LXM_REGISTER_DEVICE), key)).status,
    ).toBe(200)

    const wrongLxm = await xrpcPost(
      ks,
      'app.hearth.keyserver.revokeDevice',
      await serviceToken(alice, ks, LXM_REGISTER_DEVICE),
      { deviceId: key.deviceId },
    )
    expect(wrongLxm.status).toBe(401)
    expect(wrongLxm.body.reason).toBe('BadLexiconMethod')

    const byBob = await xrpcPost(
      ks,
      'app.hearth.keyserver.revokeDevice',
      await serviceToken(bob, ks, LXM_REVOKE_DEVICE),
      { deviceId: key.deviceId },
    )
    expect(byBob.status).toBe(404)

    const revoked = await xrpcPost(
      ks,
      'app.hearth.keyserver.revokeDevice',
      await serviceToken(alice, ks, LXM_REVOKE_DEVICE),
      { deviceId: key.deviceId },
    )
    expect(revoked.status).toBe(200)
    const list = await listDevices(ks, alice.did)
    expect(list.body.devices).toContainEqual(
      expect.objectContaining({
        deviceId: key.deviceId,
        revokedAt: expect.any(String),
        revokedReason: 'revoked',
      }),
    )
  })
})

describe('S1: crafted service-auth tokens', () => {
  let key: DeviceKey
  let ctx: ServiceJwtCaseContext

  beforeAll(async () => {
    key = (await generateDeviceKey()).key
    await publishBinding(alice, key)
    // A separate session, so its tokens are real ones the PDS handed out.
    const session = new AtpAgent({ service: network.pds.url })
    await session.login({ identifier: alice.handle, password: 'alice-pass' })
    const issKeypair: Keypair = await network.pds.ctx.actorStore.keypair(alice.did)
    const otherKeypair: Keypair = await network.pds.ctx.actorStore.keypair(bob.did)
    const now = Math.floor(Date.now() / 1000)
    ctx = {
      iss: alice.did,
      otherDid: bob.did,
      audience: ks.audience,
      serviceDid: ks.did,
      lxm: LXM_REGISTER_DEVICE,
      now,
      issKeypair,
      otherKeypair,
      validHeader: () => ({ alg: issKeypair.jwtAlg, typ: 'JWT' }),
      validClaims: () => ({
        iss: alice.did,
        aud: ks.audience,
        iat: now,
        exp: now + 60,
        lxm: LXM_REGISTER_DEVICE,
        jti: freshJti(),
      }),
      sign: signJwt,
      pds: {
        accessJwt: session.session!.accessJwt,
        refreshJwt: session.session!.refreshJwt,
        serviceAuth: async ({ aud, lxm }) =>
          (await session.com.atproto.server.getServiceAuth({ aud, ...(lxm ? { lxm } : {}) })).data
            .token,
      },
    }
  })

  it('has at least 20 committed cases, each with a reason', () => {
    expect(serviceJwtCases.length).toBeGreaterThanOrEqual(20)
    expect(new Set(serviceJwtCases.map((c) => c.name)).size).toBe(serviceJwtCases.length)
  })

  it.each(serviceJwtCases.map((c) => [c.name, c] as const))(
    'refuses %s with 401 and its reason, changing nothing',
    async (_name, c) => {
      const rowsBefore = ks.store.countRows()
      const token = await c.token(ctx)
      const res = await register(ks, token, key)
      expect({ status: res.status, reason: res.body.reason }).toEqual({
        status: 401,
        reason: c.reason,
      })
      expect(res.body.error).toBe('AuthRequired')
      expect(typeof res.body.message).toBe('string')
      expect(ks.store.countRows()).toBe(rowsBefore)
      expect(ks.store.getDevice(alice.did, key.deviceId)).toBeNull()
    },
  )

  it('accepts the one fully valid crafted token (same key, same claims shape)', async () => {
    const token = await ctx.sign(
      ctx.validHeader(),
      {
        ...ctx.validClaims(),
        iat: Math.floor(Date.now() / 1000),
        exp: Math.floor(Date.now() / 1000) + 60,
      },
      ctx.issKeypair,
    )
    const res = await register(ks, token, key)
    expect(res.status).toBe(200)
    expect(ks.store.getDevice(alice.did, key.deviceId)).toMatchObject({
      key: key.keyId,
      revokedAt: null,
    })
  })
})

describe('S2: replay', () => {
  it('accepts a PDS token once and refuses the same jti the second time', async () => {
    const { key } = await generateDeviceKey()
    await publishBinding(bob, key)
    const token = await serviceToken(bob, ks, LXM_REGISTER_DEVICE)
    expect((await register(ks, token, key)).status).toBe(200)
    const replay = await register(ks, token, key)
    expect(replay.status).toBe(401)
    expect(replay.body.reason).toBe('Replayed')
  })

  it('refuses a replay on another endpoint too (one cache for the whole service)', async () => {
    const { key } = await generateDeviceKey()
    await publishBinding(bob, key)
    const token = await serviceToken(bob, ks, LXM_REVOKE_DEVICE)
    const first = await xrpcPost(ks, 'app.hearth.keyserver.revokeDevice', token, {
      deviceId: key.deviceId,
    })
    expect(first.status).toBe(404) // accepted, but bob never registered this key
    const again = await xrpcPost(ks, 'app.hearth.keyserver.revokeDevice', token, {
      deviceId: key.deviceId,
    })
    expect(again.body.reason).toBe('Replayed')
  })
})

describe('S5: keys only for DIDs that asked, public material only, only while bound', () => {
  it('accepts no private key material, whatever shape it comes in', async () => {
    const { key, keyPair } = await generateDeviceKey({ extractable: true })
    await publishBinding(carol, key)
    const jwk = await crypto.subtle.exportKey('jwk', keyPair.privateKey)
    const pkcs8 = Buffer.from(await crypto.subtle.exportKey('pkcs8', keyPair.privateKey)).toString(
      'base64url',
    )
    const bodies: Array<[string, unknown]> = [
      ['JWK d beside the key', { key: key.keyId, deviceId: key.deviceId, d: jwk.d }],
      ['the whole private JWK as key', { key: jwk, deviceId: key.deviceId }],
      ['a privateKey field', { key: key.keyId, deviceId: key.deviceId, privateKey: pkcs8 }],
      ['PKCS#8 as key', { key: pkcs8, deviceId: key.deviceId }],
      [
        'a private multikey did:key (p256-priv 0x1306)',
        { key: `did:key:z${'4'.repeat(2)}${key.keyId.slice(11)}`, deviceId: key.deviceId },
      ],
    ]
    const rowsBefore = ks.store.countRows()
    for (const [label, body] of bodies) {
      const res = await xrpcPost(
        ks,
        'app.hearth.keyserver.registerDevice',
        await serviceToken(carol, ks, LXM_REGISTER_DEVICE),
        body,
      )
      expect({ label, status: res.status, error: res.body.error }).toEqual({
        label,
        status: 400,
        error: 'InvalidRequest',
      })
    }
    expect(ks.store.countRows()).toBe(rowsBefore)
    expect((await listDevices(ks, carol.did)).status).toBe(404)
  })

  it('answers 404 for unknown DIDs and stores nothing (rows counted)', async () => {
    const rowsBefore = ks.store.countRows()
    for (const did of [carol.did, 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', 'did:web:nobody.test']) {
      const res = await listDevices(ks, did)
      expect(res.status).toBe(404)
      expect(res.body.error).toBe('DidNotFound')
    }
    expect(ks.store.countRows()).toBe(rowsBefore)
  })

  it('registers nothing for a DID that did not ask: alice cannot register a key bound in bob’s repository', async () => {
    const { key } = await generateDeviceKey()
    await publishBinding(bob, key)
    const rowsBefore = ks.store.countRows()
    const res = await register(ks, await serviceToken(alice, ks, LXM_REGISTER_DEVICE), key)
    expect(res.status).toBe(400)
    expect(res.body.error).toBe('BindingNotFound')
    expect(ks.store.countRows()).toBe(rowsBefore)
    expect(ks.store.getDevice(bob.did, key.deviceId)).toBeNull()
  })

  it('refuses a key whose binding record was never published', async () => {
    const { key } = await generateDeviceKey()
    const res = await register(ks, await serviceToken(alice, ks, LXM_REGISTER_DEVICE), key)
    expect(res.status).toBe(400)
    expect(res.body.error).toBe('BindingNotFound')
  })

  it('stops serving a key as valid once its binding record is deleted from the PDS', async () => {
    const { key } = await generateDeviceKey()
    await publishBinding(carol, key, 'carol phone')
    expect(
      (await register(ks, await serviceToken(carol, ks, LXM_REGISTER_DEVICE), key)).status,
    ).toBe(200)
    const before = await listDevices(ks, carol.did)
    expect(before.body.devices).toEqual([
      expect.not.objectContaining({ revokedAt: expect.anything() }),
    ])

    await carol.agent.com.atproto.repo.deleteRecord({
      repo: carol.did,
      collection: 'app.hearth.device',
      rkey: key.deviceId,
    })
    const after = await listDevices(ks, carol.did)
    expect(after.status).toBe(200)
    expect(after.body.devices).toEqual([
      expect.objectContaining({
        deviceId: key.deviceId,
        revokedAt: expect.any(String),
        revokedReason: 'binding-missing',
      }),
    ])
  })

  it('treats a record rewritten to name another key as a missing binding', async () => {
    const { key } = await generateDeviceKey()
    const { key: other } = await generateDeviceKey()
    await publishBinding(carol, key)
    expect(
      (await register(ks, await serviceToken(carol, ks, LXM_REGISTER_DEVICE), key)).status,
    ).toBe(200)
    await carol.agent.com.atproto.repo.putRecord({
      repo: carol.did,
      collection: 'app.hearth.device',
      rkey: key.deviceId,
      record: {
        $type: 'app.hearth.device',
        key: other.keyId,
        name: 'swapped',
        createdAt: new Date().toISOString(),
      },
    })
    const list = await listDevices(ks, carol.did)
    expect(list.body.devices).toContainEqual(
      expect.objectContaining({ deviceId: key.deviceId, revokedReason: 'binding-missing' }),
    )
  })
})

describe('S6: rate limits', () => {
  let limited: RunningKeyserver
  let fromOtherIp: UndiciAgent

  beforeAll(async () => {
    limited = await newKeyserver({
      rateLimits: {
        ip: { capacity: 8, refillPerSecond: 0.01 },
        did: { capacity: 2, refillPerSecond: 0.01 },
      },
    })
    // Linux routes all of 127.0.0.0/8 to lo: a second client address without any setup.
    fromOtherIp = new UndiciAgent({ localAddress: '127.0.0.2' })
  })

  afterAll(async () => {
    await fromOtherIp?.close()
    await limited?.close()
  })

  it('limits each DID: alice’s burst gets 429 with Retry-After, bob on the same IP is still served', async () => {
    const { key } = await generateDeviceKey()
    await publishBinding(alice, key)
    const statuses: number[] = []
    let retryAfter: string | null = null
    for (let i = 0; i < 3; i++) {
      const res = await register(
        limited,
        await serviceToken(alice, limited, LXM_REGISTER_DEVICE),
        key,
      )
      statuses.push(res.status)
      if (res.status === 429) retryAfter = res.headers.get('retry-after')
    }
    expect(statuses).toEqual([200, 200, 429])
    expect(Number(retryAfter)).toBeGreaterThan(0)

    const { key: bobKey } = await generateDeviceKey()
    await publishBinding(bob, bobKey)
    expect(
      (await register(limited, await serviceToken(bob, limited, LXM_REGISTER_DEVICE), bobKey))
        .status,
    ).toBe(200)
  })

  it('limits each IP: a burst of lookups gets 429 with Retry-After, another IP is still served', async () => {
    // 4 of this IP's 8 tokens went to the registrations above.
    const statuses: number[] = []
    let limitedRes: Awaited<ReturnType<typeof listDevices>> | undefined
    for (let i = 0; i < 6; i++) {
      const res = await listDevices(limited, 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa')
      statuses.push(res.status)
      if (res.status === 429) limitedRes ??= res
    }
    expect(statuses).toEqual([404, 404, 404, 404, 429, 429])
    expect(Number(limitedRes!.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(limitedRes!.body.error).toBe('RateLimitExceeded')

    expect(
      (await listDevices(limited, 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', { dispatcher: fromOtherIp }))
        .status,
    ).toBe(404)
  })
})

describe('main.ts', () => {
  it('starts from the environment, serves its DID document and stops on SIGTERM', async () => {
    const dbPath = join(dir, 'main.sqlite')
    const child = spawn(
      process.execPath,
      [new URL('../../services/keyserver/src/main.ts', import.meta.url).pathname],
      {
        env: {
          ...process.env,
          HEARTH_DEV_MODE: '1',
          HEARTH_PLC_URL: network.plc.url,
          HEARTH_KEYSERVER_PORT: '0',
          HEARTH_KEYSERVER_DB: dbPath,
          HEARTH_KEYSERVER_HOST: '127.0.0.1',
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    )
    try {
      let output = ''
      let match: RegExpExecArray | null = null
      while (!match) {
        const [chunk] = (await once(child.stdout!, 'data')) as [Buffer]
        output += chunk.toString()
        match = /keyserver (did:web:\S+) at (http:\S+)/.exec(output)
      }
      const [, did, url] = match
      expect(did).toMatch(/^did:web:127\.0\.0\.1%3A\d+$/)
      const doc = (await (await undiciFetch(`${url}/.well-known/did.json`)).json()) as {
        id: string
      }
      expect(doc.id).toBe(did)
      expect(
        (await undiciFetch(`${url}/xrpc/app.hearth.keyserver.listDevices?did=${alice.did}`)).status,
      ).toBe(404)
      expect(existsSync(dbPath)).toBe(true)
    } finally {
      const exited = once(child, 'exit')
      child.kill('SIGTERM')
      const [code] = await exited
      expect(code).toBe(0)
    }
  })
})
