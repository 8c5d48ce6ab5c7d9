import { describe, expect, it, vi } from 'vitest'
import { createApp } from './app.ts'
import { DidNotFoundError, DidWebFetchError } from './errors.ts'
import type { ResolvableDid } from './identifiers.ts'
import { IdentityResolver } from './resolver.ts'
import type { DidDocumentSource, HandleSource } from './sources.ts'

const ALICE = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'
const MALLORY = 'did:plc:mmmmmmmmmmmmmmmmmmmmmmmm'
const WEB = 'did:web:liar.example.com'

function doc(id: string, handle?: string) {
  return {
    id,
    ...(handle && { alsoKnownAs: [`at://${handle}`] }),
    service: [
      {
        id: '#atproto_pds',
        type: 'AtprotoPersonalDataServer',
        serviceEndpoint: 'https://pds.test',
      },
    ],
  }
}

interface World {
  handles: Record<string, string>
  docs: Record<string, unknown | Error>
}

function setup(world: World, opts: { now?: () => number; ttlMs?: number } = {}) {
  const calls = { handles: 0, docs: 0 }
  const handles: HandleSource = {
    async resolve(handle) {
      calls.handles++
      return world.handles[handle]
    },
  }
  const documents: DidDocumentSource = {
    async fetch(did: ResolvableDid) {
      calls.docs++
      const value = world.docs[did]
      if (value instanceof Error) throw value
      if (value === undefined) throw new DidNotFoundError(did)
      return value
    },
  }
  const resolver = new IdentityResolver({
    handles,
    documents,
    cache: { ttlMs: opts.ttlMs ?? 60_000, maxEntries: 100 },
    ...(opts.now && { now: opts.now }),
  })
  const app = createApp({ resolver })
  const get = async (path: string) => {
    const res = await app.request(path)
    return { status: res.status, body: (await res.json()) as Record<string, unknown>, res }
  }
  return { app, get, calls }
}

const honest: World = {
  handles: { 'alice.test': ALICE, 'mallory.test': MALLORY, 'victim.test': ALICE },
  docs: {
    [ALICE]: doc(ALICE, 'alice.test'),
    // Mallory's document claims alice's handle: the reverse direction must catch it.
    [MALLORY]: doc(MALLORY, 'alice.test'),
    [WEB]: doc(WEB, 'alice.test'),
  },
}

describe('com.atproto.identity.resolveHandle', () => {
  it('returns the DID of a handle confirmed both ways', async () => {
    const { get } = setup(honest)
    expect(await get('/xrpc/com.atproto.identity.resolveHandle?handle=Alice.Test')).toMatchObject({
      status: 200,
      body: { did: ALICE },
    })
  })

  it('answers an unknown handle the way atproto clients read as "not found"', async () => {
    const { get } = setup(honest)
    const { status, body } = await get(
      '/xrpc/com.atproto.identity.resolveHandle?handle=nobody.test',
    )
    expect(status).toBe(400)
    expect(body).toEqual({
      error: 'InvalidRequest',
      message: 'Unable to resolve handle',
      reason: 'unresolved',
    })
  })

  it('S12: refuses a handle whose DID document does not claim it back', async () => {
    const { get } = setup(honest)
    // mallory.test -> MALLORY, but MALLORY's document claims alice.test
    const { status, body } = await get(
      '/xrpc/com.atproto.identity.resolveHandle?handle=mallory.test',
    )
    expect(status).toBe(400)
    expect(body).toMatchObject({ message: 'Unable to resolve handle', reason: 'not-verified' })
  })

  it('rejects a missing, oversized or malformed handle with 400', async () => {
    const { get } = setup(honest)
    for (const query of ['', '?handle=', `?handle=${'a'.repeat(3000)}.test`, '?handle=no_such']) {
      const { status, body } = await get(`/xrpc/com.atproto.identity.resolveHandle${query}`)
      expect(status).toBe(400)
      expect(body.error).toBe('InvalidRequest')
    }
  })

  it('allows browsers to call it (CORS)', async () => {
    const { app } = setup(honest)
    const res = await app.request('/xrpc/com.atproto.identity.resolveHandle?handle=alice.test', {
      headers: { origin: 'http://127.0.0.1:5173' },
    })
    expect(res.headers.get('access-control-allow-origin')).toBe('*')
  })
})

describe('app.hearth.resolver.resolveIdentity', () => {
  const path = (id: string) =>
    `/xrpc/app.hearth.resolver.resolveIdentity?identifier=${encodeURIComponent(id)}`

  it('resolves a handle and a DID to the same verified identity', async () => {
    const { get } = setup(honest)
    const byHandle = await get(path('alice.test'))
    const byDid = await get(path(ALICE))
    for (const { status, body } of [byHandle, byDid]) {
      expect(status).toBe(200)
      expect(body).toMatchObject({
        did: ALICE,
        handle: 'alice.test',
        handleVerified: true,
        claimedHandle: 'alice.test',
        pds: 'https://pds.test',
      })
    }
  })

  it('S12: a DID claiming a handle that resolves elsewhere is shown as the DID, flagged', async () => {
    const { get } = setup(honest)
    for (const did of [MALLORY, WEB]) {
      const { status, body } = await get(path(did))
      expect(status).toBe(200)
      expect(body).toMatchObject({
        did,
        handle: null,
        handleVerified: false,
        claimedHandle: 'alice.test',
      })
    }
  })

  it('S12: a handle pointing at a DID whose document claims another handle is not verified', async () => {
    const { get } = setup(honest)
    const { body } = await get(path('victim.test'))
    expect(body).toMatchObject({
      did: ALICE,
      handle: null,
      handleVerified: false,
      claimedHandle: 'alice.test',
    })
  })

  it('maps document failures to 404 and 502 with their reason', async () => {
    const { get } = setup({
      handles: {},
      docs: {
        [WEB]: new DidWebFetchError(WEB, 'too-large', 'document exceeds 65536 bytes'),
        [MALLORY]: doc(ALICE, 'alice.test'),
      },
    })
    expect(await get(path(ALICE))).toMatchObject({ status: 404, body: { error: 'DidNotFound' } })
    expect(await get(path(WEB))).toMatchObject({
      status: 502,
      body: { error: 'DidWebRefused', reason: 'too-large' },
    })
    expect(await get(path(MALLORY))).toMatchObject({
      status: 502,
      body: { error: 'InvalidDidDocument', reason: 'id-mismatch' },
    })
  })

  it('hides unexpected errors behind a bare 500', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => undefined)
    const { get } = setup({ handles: {}, docs: { [ALICE]: new Error('secret stack detail') } })
    const { status, body } = await get(path(ALICE))
    expect(logged).toHaveBeenCalledOnce()
    logged.mockRestore()
    expect(status).toBe(500)
    expect(JSON.stringify(body)).not.toContain('secret')
  })

  it('caches both directions until the TTL passes, and shares concurrent lookups', async () => {
    let now = 0
    const { get, calls } = setup(honest, { now: () => now, ttlMs: 1_000 })
    await Promise.all([get(path('alice.test')), get(path('alice.test'))])
    await get(path(ALICE))
    expect(calls).toEqual({ handles: 1, docs: 1 })
    now += 1_000
    await get(path('alice.test'))
    expect(calls).toEqual({ handles: 2, docs: 2 })
  })

  it('does not cache failures', async () => {
    const world: World = { handles: {}, docs: {} }
    const { get } = setup(world)
    expect((await get(path('late.test'))).status).toBe(400)
    world.handles['late.test'] = ALICE
    world.docs[ALICE] = doc(ALICE, 'late.test')
    expect((await get(path('late.test'))).body).toMatchObject({ handleVerified: true })
  })
})

describe('service routes', () => {
  it('answers /healthz and 404s unknown methods in XRPC form', async () => {
    const { get } = setup(honest)
    expect(await get('/healthz')).toMatchObject({ status: 200, body: { ok: true } })
    expect(await get('/xrpc/app.hearth.nothing')).toMatchObject({
      status: 404,
      body: { error: 'MethodNotImplemented' },
    })
  })
})
