// The router's front door on a real local network: tokens minted by the real PDS, tickets,
// real WebSockets on an ephemeral port. The sync endpoint here is a test echo: what is under
// test is who gets a socket at all, and that limits hold without hurting anyone else.
import { startDevnet, type Devnet } from '@hearth/devnet'
import { startRouter, type RunningRouter, type SyncPeer } from '@hearth/router'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { buyTicket } from './support/router-peers.ts'

let devnet: Devnet
let router: RunningRouter
const peers: SyncPeer[] = []

beforeAll(async () => {
  devnet = await startDevnet({ keyserver: false })
  router = await startRouter({
    port: 0,
    plcUrl: devnet.plc.url,
    devMode: true,
    ticketTtlMs: 1500,
    limits: { connectionsPerDid: 3, maxFrameBytes: 1024 },
    endpoint: {
      accept(socket, peer) {
        peers.push(peer)
        socket.on('message', (data) => socket.send(data))
      },
    },
  })
})

afterAll(async () => {
  await router?.close()
  await devnet?.close()
})

function ticketFor(name: 'alice' | 'bob'): Promise<{ ticket: string; url: string }> {
  return buyTicket(devnet, devnet.accounts[name], {
    url: router.url,
    audience: router.identity.audience,
  })
}

type Outcome = { open: WebSocket } | { refused: number }

function connect(url: string, ticket: string): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}?ticket=${encodeURIComponent(ticket)}`)
    ws.once('open', () => resolve({ open: ws }))
    ws.once('unexpected-response', (_req, res) => resolve({ refused: res.statusCode ?? 0 }))
    ws.once('error', reject)
  })
}

async function mustOpen(url: string, ticket: string): Promise<WebSocket> {
  const outcome = await connect(url, ticket)
  if (!('open' in outcome)) throw new Error(`refused with ${outcome.refused}`)
  return outcome.open
}

function echo(ws: WebSocket, text: string): Promise<string> {
  return new Promise((resolve) => {
    ws.once('message', (data) => resolve(String(data)))
    ws.send(text)
  })
}

function closed(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once('close', (code) => resolve(code)))
}

describe('router sign-in', () => {
  it('a PDS-minted service-auth token buys a ticket; the socket is bound to the DID', async () => {
    const { ticket, url } = await ticketFor('alice')
    const ws = await mustOpen(url, ticket)
    expect(await echo(ws, 'hello')).toBe('hello')
    expect(peers.at(-1)?.did).toBe(devnet.accounts.alice.did)
    ws.close()
  })

  it('S3: a ticket used twice is refused the second time', async () => {
    const { ticket, url } = await ticketFor('alice')
    const ws = await mustOpen(url, ticket)
    expect(await connect(url, ticket)).toEqual({ refused: 401 })
    // The first session is untouched.
    expect(await echo(ws, 'still here')).toBe('still here')
    ws.close()
  })

  it('S3: a ticket past its lifetime is refused', async () => {
    const { ticket, url } = await ticketFor('alice')
    await new Promise((r) => setTimeout(r, 1600)) // the ticket lifetime under test
    expect(await connect(url, ticket)).toEqual({ refused: 401 })
  })

  it('refuses a socket without a ticket or with a made-up one', async () => {
    const url = router.url.replace('http', 'ws') + '/sync'
    expect(await connect(url, '')).toEqual({ refused: 401 })
    expect(await connect(url, 'A'.repeat(43))).toEqual({ refused: 401 })
  })

  it('S11: the per-DID connection cap holds and other members keep flowing', async () => {
    const open: WebSocket[] = []
    for (let i = 0; i < 3; i++) {
      const { ticket, url } = await ticketFor('alice')
      open.push(await mustOpen(url, ticket))
    }
    const { ticket, url } = await ticketFor('alice')
    expect(await connect(url, ticket)).toEqual({ refused: 429 })
    const bobTicket = await ticketFor('bob')
    const bob = await mustOpen(bobTicket.url, bobTicket.ticket)
    expect(await echo(bob, 'bob talks')).toBe('bob talks')
    // Closing one of alice's sockets frees a slot.
    const gone = closed(open[0]!)
    open[0]!.close()
    await gone
    const again = await ticketFor('alice')
    await expect.poll(async () => 'open' in (await connect(again.url, again.ticket))).toBe(true)
    for (const ws of [...open, bob]) ws.close()
  })

  it('S10: a frame over the size limit closes that connection only', async () => {
    const a = await ticketFor('alice')
    const b = await ticketFor('bob')
    const big = await mustOpen(a.url, a.ticket)
    const other = await mustOpen(b.url, b.ticket)
    const code = closed(big)
    big.send(Buffer.alloc(4096))
    expect(await code).toBe(1009)
    expect(await echo(other, 'unaffected')).toBe('unaffected')
    other.close()
    const health = await fetch(`${router.url}/healthz`)
    expect(health.status).toBe(200)
  })
})
