// The resolver against a real devnet (PLC + PDS) and tiny local did:web servers that lie (S12, S13).
import { once } from 'node:events'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startDevnet, type Devnet } from '@hearth/devnet'
import {
  createDidDocumentSource,
  DID_WEB_DEFAULTS,
  IdentityResolver,
  startResolver,
  type RunningResolver,
} from '@hearth/resolver'
import { asHandle } from '@hearth/identity'

interface DidServer {
  port: number
  did: string
  requests: number
  /** Resolves when a client connection to this server has closed. */
  connectionClosed: Promise<void>
  close(): Promise<void>
}

type Handler = (did: string, req: http.IncomingMessage, res: http.ServerResponse) => void

const servers: DidServer[] = []

async function startDidServer(handler: Handler, host = 'localhost'): Promise<DidServer> {
  let markClosed: () => void = () => undefined
  const state: DidServer = {
    port: 0,
    did: '',
    requests: 0,
    connectionClosed: new Promise<void>((resolve) => (markClosed = resolve)),
    close: async () => {
      server.closeAllConnections()
      server.close()
      await once(server, 'close')
    },
  }
  const server = http.createServer((req, res) => {
    state.requests++
    req.socket.once('close', markClosed)
    handler(state.did, req, res)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  state.port = (server.address() as AddressInfo).port
  state.did = `did:web:${host}%3A${state.port}`
  servers.push(state)
  return state
}

function didDoc(did: string, handle?: string) {
  return {
    '@context': ['https://www.w3.org/ns/did/v1'],
    id: did,
    ...(handle && { alsoKnownAs: [`at://${handle}`] }),
    verificationMethod: [],
    service: [
      {
        id: '#atproto_pds',
        type: 'AtprotoPersonalDataServer',
        serviceEndpoint: 'http://localhost:1',
      },
    ],
  }
}

const serveJson =
  (body: (did: string) => unknown): Handler =>
  (did, _req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify(body(did)))
  }

async function resolveIdentity(base: string, identifier: string) {
  const url = new URL('/xrpc/app.hearth.resolver.resolveIdentity', base)
  url.searchParams.set('identifier', identifier)
  const res = await fetch(url)
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

async function resolveHandle(base: string, handle: string) {
  const url = new URL('/xrpc/com.atproto.identity.resolveHandle', base)
  url.searchParams.set('handle', handle)
  const res = await fetch(url)
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

let devnet: Devnet
const extraResolvers: RunningResolver[] = []

beforeAll(async () => {
  devnet = await startDevnet({ keyserver: false })
})

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()))
  await Promise.all(extraResolvers.map((r) => r.close()))
  await devnet?.close()
})

describe('on the local network', () => {
  it('resolves alice.test both ways', async () => {
    const alice = devnet.accounts.alice
    expect(await resolveHandle(devnet.resolver.url, 'alice.test')).toEqual({
      status: 200,
      body: { did: alice.did },
    })
    const signingKey = (await devnet.signingKeypair(alice.did)).did()
    for (const identifier of ['alice.test', alice.did]) {
      const { status, body } = await resolveIdentity(devnet.resolver.url, identifier)
      expect(status).toBe(200)
      expect(body).toMatchObject({
        did: alice.did,
        handle: 'alice.test',
        handleVerified: true,
        claimedHandle: 'alice.test',
        pds: devnet.pds.url,
        signingKey,
      })
    }
  })

  it('answers an unknown .test handle as "Unable to resolve handle"', async () => {
    expect(await resolveHandle(devnet.resolver.url, 'nobody.test')).toMatchObject({
      status: 400,
      body: { error: 'InvalidRequest', message: 'Unable to resolve handle' },
    })
  })
})

describe('S12: a handle the DID document does not claim back', () => {
  it('a handle whose DID now claims another handle is shown as the DID, flagged', async () => {
    const eve = await devnet.createAccount('eve')
    // Rewrite eve's PLC document to claim a different handle; the PDS still maps eve.test to her DID.
    const { plcClient, plcRotationKey } = devnet.network.pds.ctx
    await plcClient.updateHandle(eve.did, plcRotationKey, 'mallory.test')

    expect(await resolveIdentity(devnet.resolver.url, 'eve.test')).toMatchObject({
      status: 200,
      body: { did: eve.did, handle: null, handleVerified: false, claimedHandle: 'mallory.test' },
    })
    expect(await resolveHandle(devnet.resolver.url, 'eve.test')).toMatchObject({
      status: 400,
      body: { message: 'Unable to resolve handle', reason: 'not-verified' },
    })
    // From the DID side: mallory.test does not resolve to eve.
    expect(await resolveIdentity(devnet.resolver.url, eve.did)).toMatchObject({
      status: 200,
      body: { did: eve.did, handle: null, handleVerified: false, claimedHandle: 'mallory.test' },
    })
  })

  it('a did:web document claiming alice.test is not alice', async () => {
    const liar = await startDidServer(serveJson((did) => didDoc(did, 'alice.test')))
    const { status, body } = await resolveIdentity(devnet.resolver.url, liar.did)
    expect(status).toBe(200)
    expect(body).toMatchObject({
      did: liar.did,
      handle: null,
      handleVerified: false,
      claimedHandle: 'alice.test',
    })
    expect(liar.requests).toBe(1)
  })

  it('a handle pointing at a did:web whose document does not claim it is not verified', async () => {
    const silent = await startDidServer(serveJson((did) => didDoc(did)))
    const other = await startDidServer(serveJson((did) => didDoc(did, 'someone-else.test')))
    const honest = await startDidServer(serveJson((did) => didDoc(did, 'web-honest.test')))
    // The handle side is pinned (no DNS here); the document side is the real hardened fetch.
    const pointers: Record<string, string> = {
      'web-silent.test': silent.did,
      'web-other.test': other.did,
      'web-honest.test': honest.did,
    }
    const resolver = new IdentityResolver({
      handles: { resolve: async (handle) => pointers[handle] },
      documents: createDidDocumentSource({
        devMode: true,
        plcUrl: devnet.plc.url,
        timeoutMs: 3_000,
        didWeb: DID_WEB_DEFAULTS,
      }),
    })
    await expect(resolver.resolveIdentity('web-silent.test')).resolves.toMatchObject({
      did: silent.did,
      handle: null,
      handleVerified: false,
      claimedHandle: null,
    })
    await expect(resolver.resolveIdentity('web-other.test')).resolves.toMatchObject({
      did: other.did,
      handle: null,
      handleVerified: false,
      claimedHandle: 'someone-else.test',
    })
    await expect(resolver.resolveVerifiedHandle(asHandle('web-other.test'))).rejects.toMatchObject({
      name: 'HandleNotFoundError',
      reason: 'not-verified',
    })
    // The same path accepts a document that does claim the handle.
    await expect(resolver.resolveIdentity('web-honest.test')).resolves.toMatchObject({
      did: honest.did,
      handle: 'web-honest.test',
      handleVerified: true,
    })
  })
})

describe('S13: did:web servers that lie', () => {
  it('refuses a redirect without following it', async () => {
    const target = await startDidServer(serveJson((did) => didDoc(did)))
    const redirector = await startDidServer((_did, _req, res) => {
      res.writeHead(302, { location: `http://localhost:${target.port}/.well-known/did.json` })
      res.end()
    })
    expect(await resolveIdentity(devnet.resolver.url, redirector.did)).toMatchObject({
      status: 502,
      body: { error: 'DidWebRefused', reason: 'redirect' },
    })
    expect(target.requests).toBe(0)
  })

  it('refuses a document that declares an oversized length', async () => {
    const big = await startDidServer(
      serveJson((did) => ({ ...didDoc(did), padding: 'x'.repeat(DID_WEB_DEFAULTS.maxBytes) })),
    )
    expect(await resolveIdentity(devnet.resolver.url, big.did)).toMatchObject({
      status: 502,
      body: { error: 'DidWebRefused', reason: 'too-large' },
    })
  })

  it('stops reading an endless chunked document at the cap and hangs up', async () => {
    const endless = await startDidServer((did, _req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }) // no content-length: chunked
      res.write(`{"id":"${did}","padding":"`)
      const chunk = 'x'.repeat(16 * 1024)
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump)
      }
      pump()
    })
    expect(await resolveIdentity(devnet.resolver.url, endless.did)).toMatchObject({
      status: 502,
      body: { error: 'DidWebRefused', reason: 'too-large' },
    })
    await endless.connectionClosed
  })

  it('times out a slow document and hangs up', async () => {
    const fast = await startResolver({
      devMode: true,
      plcUrl: devnet.plc.url,
      pdsUrl: devnet.pds.url,
      didWeb: { timeoutMs: 500 },
    })
    extraResolvers.push(fast)
    const slow = await startDidServer((did, _req, res) => {
      // Headers and a first byte at once, then the rest never comes.
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write(`{"id":"${did}"`)
    })
    const started = Date.now()
    expect(await resolveIdentity(fast.url, slow.did)).toMatchObject({
      status: 502,
      body: { error: 'DidWebRefused', reason: 'timeout' },
    })
    const elapsed = Date.now() - started
    expect(elapsed).toBeGreaterThanOrEqual(450)
    expect(elapsed).toBeLessThan(3_000)
    await slow.connectionClosed
  })

  it('refuses a document whose id is another DID', async () => {
    const mismatch = await startDidServer(serveJson(() => didDoc('did:web:example.com', 'x.test')))
    expect(await resolveIdentity(devnet.resolver.url, mismatch.did)).toMatchObject({
      status: 502,
      body: { error: 'InvalidDidDocument', reason: 'id-mismatch' },
    })
  })

  it('refuses a document that is not JSON', async () => {
    const html = await startDidServer((_did, _req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' })
      res.end('<html>hello</html>')
    })
    expect(await resolveIdentity(devnet.resolver.url, html.did)).toMatchObject({
      status: 502,
      body: { error: 'InvalidDidDocument', reason: 'not-json' },
    })
  })

  it('outside dev mode, refuses loopback hosts without sending a request', async () => {
    const production = await startResolver({ devMode: false, plcUrl: devnet.plc.url })
    extraResolvers.push(production)
    const byName = await startDidServer(serveJson((did) => didDoc(did)))
    const byIp = await startDidServer(
      serveJson((did) => didDoc(did)),
      '127.0.0.1',
    )
    // The same documents resolve in dev mode...
    expect((await resolveIdentity(devnet.resolver.url, byName.did)).status).toBe(200)
    const before = byName.requests + byIp.requests
    // ...but not in production mode.
    for (const did of [byName.did, byIp.did]) {
      expect(await resolveIdentity(production.url, did)).toMatchObject({
        status: 502,
        body: { error: 'DidWebRefused', reason: 'address-not-allowed' },
      })
    }
    expect(byName.requests + byIp.requests).toBe(before)
  })

  it('outside dev mode, checks the resolved address, not the name', async () => {
    const target = await startDidServer(serveJson((did) => didDoc(did)))
    // A public-looking name whose DNS answer is loopback (rebinding-style).
    const production = await startResolver({
      devMode: false,
      plcUrl: devnet.plc.url,
      didWeb: { lookup: async () => [{ address: '127.0.0.1', family: 4 }] },
    })
    extraResolvers.push(production)
    const did = `did:web:innocent.example.com%3A${target.port}`
    const { status, body } = await resolveIdentity(production.url, did)
    expect(status).toBe(502)
    expect(body).toMatchObject({ error: 'DidWebRefused', reason: 'address-not-allowed' })
    expect(String(body.message)).toContain('127.0.0.1')
    expect(target.requests).toBe(0)
  })
})
