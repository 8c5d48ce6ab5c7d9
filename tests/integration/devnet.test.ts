import { AtpAgent } from '@atproto/api'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_ACCOUNT_NAMES, startDevnet, type Devnet } from '@hearth/devnet'

describe('devnet', () => {
  let devnet: Devnet
  let closed = false

  beforeAll(async () => {
    devnet = await startDevnet()
  })

  afterAll(async () => {
    if (!closed) await devnet?.close()
  })

  it('starts every part on its own ephemeral port', () => {
    const urls = [devnet.plc.url, devnet.pds.url, devnet.resolver.url, devnet.keyserver?.url]
    const ports = urls.map((url) => new URL(url ?? 'http://x').port)
    expect(new Set(ports).size).toBe(4)
    for (const port of ports) expect(['2582', '2583', '2584', '2585']).not.toContain(port)
    expect(devnet.keyserver?.did).toMatch(/^did:web:/)
  })

  it('logs in as each demo account with @atproto/api', async () => {
    for (const name of DEMO_ACCOUNT_NAMES) {
      const account = devnet.accounts[name]
      expect(account).toMatchObject({
        handle: `${name}.test`,
        email: `${name}@example.com`,
        password: `${name}-pass`,
      })
      const agent = new AtpAgent({ service: devnet.pds.url })
      const res = await agent.login({ identifier: account.handle, password: account.password })
      expect(res.data.did).toBe(account.did)
      expect(res.data.handle).toBe(account.handle)
    }
  })

  it('refuses a wrong password', async () => {
    const agent = new AtpAgent({ service: devnet.pds.url })
    await expect(
      agent.login({ identifier: 'alice.test', password: 'not-alice-pass' }),
    ).rejects.toThrow()
  })

  it('creates extra accounts and exposes the PDS signing key of a DID', async () => {
    const dave = await devnet.createAccount('dave')
    const agent = await devnet.login(dave)
    expect(agent.session?.did).toBe(dave.did)
    // The PDS's keypair for dave is the #atproto key of dave's DID document.
    const keypair = await devnet.signingKeypair(dave.did)
    const resolved = await fetch(
      `${devnet.resolver.url}/xrpc/app.hearth.resolver.resolveIdentity?identifier=dave.test`,
    )
    expect(await resolved.json()).toMatchObject({ did: dave.did, signingKey: keypair.did() })
  })

  it("wires the services together: the resolver reads the keyserver's did:web", async () => {
    const did = devnet.keyserver!.did
    const res = await fetch(
      `${devnet.resolver.url}/xrpc/app.hearth.resolver.resolveIdentity?identifier=${encodeURIComponent(did)}`,
    )
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ did, handle: null, handleVerified: false })
  })

  it('closes cleanly: every port stops answering', async () => {
    const urls = [devnet.plc.url, devnet.pds.url, devnet.resolver.url, devnet.keyserver!.url]
    await devnet.close()
    closed = true
    for (const url of urls) {
      await expect(fetch(url, { signal: AbortSignal.timeout(2_000) })).rejects.toThrow()
    }
  })
})

describe('devnet with the router', () => {
  it('starts the sync router on the same network and closes it', async () => {
    const net = await startDevnet({ router: true, keyserver: false, demoAccounts: false })
    try {
      if (!net.router) throw new Error('no router')
      expect((await fetch(`${net.router.url}/healthz`)).status).toBe(200)
      const doc = (await (await fetch(`${net.router.url}/.well-known/did.json`)).json()) as {
        id: string
      }
      expect(doc.id).toBe(net.router.identity.did)
    } finally {
      await net.close()
    }
    await expect(fetch(`${net.router.url}/healthz`)).rejects.toThrow()
  })
})
