import { Secp256k1Keypair } from '@atproto/crypto'
import { createServiceJwt } from '@atproto/xrpc-server'
import { serviceIdentity } from '@hearth/identity'
import { beforeAll, describe, expect, it } from 'vitest'
import { createRouterApp, LXM_CREATE_TICKET } from './app.ts'
import { TokenBuckets } from './limits.ts'
import { createRouterMetrics } from './metrics.ts'
import { TicketStore } from './tickets.ts'

const ALICE = 'did:plc:alicealicealicealice00'
const identity = serviceIdentity('router.hearth.test', 'hearth_router', { https: true })
let alice: Secp256k1Keypair

beforeAll(async () => {
  alice = await Secp256k1Keypair.create()
})

function makeApp(options: { burst?: number } = {}) {
  const tickets = new TicketStore()
  const metrics = createRouterMetrics()
  const app = createRouterApp({
    identity,
    getSigningKey: async (iss) => {
      if (iss !== ALICE) throw new Error('unknown')
      return alice.did()
    },
    tickets,
    ticketBuckets: new TokenBuckets({ capacity: options.burst ?? 10, refillPerSecond: 0.1 }),
    metrics,
    clientIp: (c) => c.req.header('x-test-ip') ?? '203.0.113.1',
  })
  return { app, tickets, metrics }
}

async function ticketRequest(token: string | null, ip?: string) {
  const headers: Record<string, string> = {}
  if (token) headers.authorization = `Bearer ${token}`
  if (ip) headers['x-test-ip'] = ip
  return { method: 'POST', headers }
}

const mint = (aud = identity.audience, lxm = LXM_CREATE_TICKET) =>
  createServiceJwt({ iss: ALICE, aud, lxm, keypair: alice })

describe('router HTTP', () => {
  it('exchanges a service-auth JWT for a single-use ticket bound to the DID', async () => {
    const { app, tickets } = makeApp()
    const res = await app.request(`/xrpc/${LXM_CREATE_TICKET}`, await ticketRequest(await mint()))
    expect(res.status).toBe(200)
    const body = (await res.json()) as { did: string; ticket: string; url: string }
    expect(body.did).toBe(ALICE)
    expect(body.url).toBe('wss://router.hearth.test/sync')
    expect(tickets.consume(body.ticket)).toBe(ALICE)
  })

  it.each([
    ['no token', null, 'MissingToken'],
    ['a keyserver token', 'keyserver', 'BadAudience'],
    ['a token for another method', 'lxm', 'BadLexiconMethod'],
  ])('refuses %s with 401 and its reason', async (_name, kind, reason) => {
    const { app, tickets } = makeApp()
    const token =
      kind === null
        ? null
        : kind === 'keyserver'
          ? await mint(identity.audience.replace('hearth_router', 'hearth_keyserver'))
          : await mint(identity.audience, 'app.hearth.keyserver.registerDevice')
    const res = await app.request(`/xrpc/${LXM_CREATE_TICKET}`, await ticketRequest(token))
    expect(res.status).toBe(401)
    expect(((await res.json()) as { error: string }).error).toBe(reason)
    expect(tickets.size).toBe(0)
  })

  it('S2: refuses a replayed token', async () => {
    const { app } = makeApp()
    const token = await mint()
    expect(
      (await app.request(`/xrpc/${LXM_CREATE_TICKET}`, await ticketRequest(token))).status,
    ).toBe(200)
    const again = await app.request(`/xrpc/${LXM_CREATE_TICKET}`, await ticketRequest(token))
    expect(again.status).toBe(401)
    expect(((await again.json()) as { error: string }).error).toBe('Replayed')
  })

  it('S6: a burst of ticket requests gets 429 with Retry-After, per IP', async () => {
    const { app } = makeApp({ burst: 3 })
    const statuses: number[] = []
    for (let i = 0; i < 5; i++)
      statuses.push(
        (
          await app.request(
            `/xrpc/${LXM_CREATE_TICKET}`,
            await ticketRequest(await mint(), '198.51.100.7'),
          )
        ).status,
      )
    expect(statuses).toEqual([200, 200, 200, 429, 429])
    const limited = await app.request(
      `/xrpc/${LXM_CREATE_TICKET}`,
      await ticketRequest(await mint(), '198.51.100.7'),
    )
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0)
  })

  it('S6: the DID is limited too, whatever IP it comes from', async () => {
    const { app } = makeApp({ burst: 3 })
    const statuses: number[] = []
    for (let i = 0; i < 3; i++)
      statuses.push(
        (
          await app.request(
            `/xrpc/${LXM_CREATE_TICKET}`,
            await ticketRequest(await mint(), `192.0.2.${i}`),
          )
        ).status,
      )
    // Each IP spent one token, the DID spent three: the DID's bucket is now empty.
    expect(statuses).toEqual([200, 200, 200])
    const res = await app.request(
      `/xrpc/${LXM_CREATE_TICKET}`,
      await ticketRequest(await mint(), '192.0.2.99'),
    )
    expect(res.status).toBe(429)
  })

  it('serves its did:web document, health and Prometheus metrics', async () => {
    const { app } = makeApp()
    const doc = (await (await app.request('/.well-known/did.json')).json()) as {
      id: string
      service: Array<{ id: string }>
    }
    expect(doc.id).toBe('did:web:router.hearth.test')
    expect(doc.service[0]!.id).toBe('#hearth_router')
    expect((await app.request('/healthz')).status).toBe(200)
    await app.request(`/xrpc/${LXM_CREATE_TICKET}`, await ticketRequest(null))
    const metrics = await (await app.request('/metrics')).text()
    expect(metrics).toMatch(/hearth_router_rejections_total\{reason="MissingToken"\} 1/)
  })

  it('answers the web app’s CORS preflight for a ticket, without counting it', async () => {
    const { app } = makeApp({ burst: 1 })
    const preflight = await app.request(`/xrpc/${LXM_CREATE_TICKET}`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://127.0.0.1:5173',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization',
      },
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*')
    expect(preflight.headers.get('access-control-allow-headers')).toContain('authorization')
    const res = await app.request(`/xrpc/${LXM_CREATE_TICKET}`, {
      ...(await ticketRequest(await mint())),
      headers: { authorization: `Bearer ${await mint()}`, origin: 'http://127.0.0.1:5173' },
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('access-control-allow-origin')).toBe('*')
  })
})
