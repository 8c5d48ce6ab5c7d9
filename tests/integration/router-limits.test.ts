// S11 on a real local network: the real router (sync endpoint, SQLite) on an ephemeral port,
// members signed in through the real PDS. Attackers open 1,000 sockets from one DID and 1,000
// from one IP (other loopback addresses: 127.0.0.2 and 127.0.0.3, so the members' own address
// is not the one flooded), and flood frames on the sockets they get; meanwhile a member's
// message must still reach another member. Needs ~4,000 file descriptors: `ulimit -n` is
// checked first (scripts/test.sh raises it).
import { execFileSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as A from '@automerge/automerge'
import { cbor } from '@automerge/automerge-repo'
import type { DocHandle, PeerId, Repo } from '@automerge/automerge-repo'
import { startDevnet, type Devnet } from '@hearth/devnet'
import { generateDeviceKey, type Did } from '@hearth/identity'
import {
  ACK_TYPE,
  CLOSE_TRY_LATER,
  createSyncEndpoint,
  DEFAULT_LIMITS,
  LXM_CREATE_TICKET,
  peerIdFor,
  silentLogger,
  startRouter,
  type HearthSyncEndpoint,
  type RunningRouter,
} from '@hearth/router'
import {
  encodeSignedEvent,
  signEvent,
  spaceDocumentId,
  type ChangeValidator,
  type EventId,
} from '@hearth/sync'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import {
  buyTicket,
  createSpace,
  eventIds,
  openClient,
  ticketUrl,
  until,
  type Space,
  type SpaceAuthor,
} from './support/router-peers.ts'

const ATTEMPTS = 1000
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'
/** Documents nobody has: what a flooder asks for. */
const unknownDocs = [...'cdefghijkl'].map((c) => spaceDocumentId(c.repeat(52)))
const BATCH = 25

let devnet: Devnet
let router: RunningRouter
let endpoint: HearthSyncEndpoint
let dir: string
const repos: Repo[] = []
const held: WebSocket[] = []

beforeAll(async () => {
  const fds = Number(execFileSync('sh', ['-c', 'ulimit -n']).toString().trim())
  if (fds < 4096)
    throw new Error(`S11 needs ulimit -n >= 4096 (have ${fds}; hard limit: ulimit -Hn)`)
  dir = await mkdtemp(join(tmpdir(), 'hearth-router-limits-'))
  devnet = await startDevnet({ keyserver: false })
  endpoint = await createSyncEndpoint({
    dataDir: dir,
    // Lower than the defaults so the frame flood is refused within the test's time.
    frameLimits: { perDidBurst: 50, perDidPerSecond: 20, maxWaitMs: 1000 },
  })
  router = await startRouter({
    port: 0,
    plcUrl: devnet.plc.url,
    devMode: true,
    endpoint,
    log: silentLogger,
  })
})

afterAll(async () => {
  for (const ws of held) ws.terminate()
  for (const repo of repos) await repo.shutdown().catch(() => undefined)
  await router?.close()
  await devnet?.close()
  if (dir) await rm(dir, { recursive: true, force: true })
})

interface Member extends SpaceAuthor {
  validator: ChangeValidator
  acks: Set<string>
  ackWaiters: Map<string, () => void>
}

async function member(name: 'alice' | 'bob'): Promise<Member> {
  const did = devnet.accounts[name].did
  const ticket = await buyTicket(devnet, devnet.accounts[name], {
    url: router.url,
    audience: router.identity.audience,
  })
  const { repo, validator, adapter, frames } = await openClient(
    ticketUrl(ticket),
    peerIdFor(did, 'member'),
    true,
    (r) => repos.push(r),
  )
  const m: Member = {
    did,
    key: (await generateDeviceKey()).key,
    repo,
    validator,
    frames,
    acks: new Set(),
    ackWaiters: new Map(),
  }
  adapter.socket!.addEventListener('message', (event) => {
    const frame = cbor.decode(new Uint8Array(event.data as ArrayBuffer)) as {
      type?: string
      changes?: string[]
    }
    if (frame.type !== ACK_TYPE) return
    for (const hash of frame.changes ?? []) {
      m.acks.add(hash)
      m.ackWaiters.get(hash)?.()
    }
  })
  return m
}

function acked(m: Member, hash: string): Promise<void> {
  if (m.acks.has(hash)) return Promise.resolve()
  return new Promise((resolve) => m.ackWaiters.set(hash, resolve))
}

type Attempt = { open: WebSocket } | { refused: number; reason: string } | { failed: string }

/** One WebSocket attempt with a ticket minted in-process, from a chosen loopback address. */
function attempt(did: Did, localAddress: string): Promise<Attempt> {
  const { ticket } = router.tickets.issue(did)
  const url = `${router.url.replace('http', 'ws')}/sync?ticket=${encodeURIComponent(ticket)}`
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { localAddress })
    ws.once('open', () => {
      held.push(ws)
      resolve({ open: ws })
    })
    ws.once('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (chunk: Buffer) => (body += chunk.toString()))
      res.on('end', () => {
        const reason = (JSON.parse(body || '{}') as { error?: string }).error ?? ''
        resolve({ refused: res.statusCode ?? 0, reason })
      })
    })
    ws.once('error', (error) => resolve({ failed: error.message }))
  })
}

/** ATTEMPTS sockets in batches; `during` runs beside the batch in the middle. */
async function flood(
  didFor: (i: number) => Did,
  localAddress: string,
  during: () => Promise<void>,
): Promise<Attempt[]> {
  const outcomes: Attempt[] = []
  let duringRun: Promise<void> | undefined
  for (let start = 0; start < ATTEMPTS; start += BATCH) {
    const batch = Array.from({ length: BATCH }, (_, i) => attempt(didFor(start + i), localAddress))
    if (start === ATTEMPTS / 2) duringRun = during()
    outcomes.push(...(await Promise.all(batch)))
  }
  await duringRun
  return outcomes
}

function tally(outcomes: Attempt[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const o of outcomes) {
    const key = 'open' in o ? 'open' : 'refused' in o ? `${o.refused} ${o.reason}` : 'failed'
    out[key] = (out[key] ?? 0) + 1
  }
  return out
}

async function rejections(reason: string): Promise<number> {
  const metric = await router.metrics.rejections.get()
  return metric.values.find((v) => v.labels.reason === reason)?.value ?? 0
}

describe('S11: connection floods', () => {
  let alice: Member
  let bob: Member
  let space: Space
  let bobView: DocHandle<unknown>
  let last: EventId

  /** alice writes; bob's replica must get it (through the router) while the flood runs. */
  async function aliceToBob(name: string): Promise<void> {
    const event = await signEvent(alice.key, {
      space: space.id,
      kind: 'channel.create',
      author: alice.did,
      parents: [last],
      body: { name },
    })
    last = event.id
    const hash = await space.writer.append([encodeSignedEvent(event)])
    await acked(alice, hash)
    await until(bobView, (doc) => eventIds(doc).has(event.id))
  }

  beforeAll(async () => {
    alice = await member('alice')
    bob = await member('bob')
    space = await createSpace(alice, 'PUBLIC', 'Busy square')
    last = space.genesis.id
    bobView = await bob.repo.find(space.documentId)
    await aliceToBob('before')
  })

  it('the ticket door: one DID asking for tickets as fast as it can is rate-limited', async () => {
    const mallory = await devnet.createAccount('mallory')
    const agent = await devnet.login(mallory)
    const statuses: number[] = []
    for (let i = 0; i < DEFAULT_LIMITS.ticketBurst + 5; i++) {
      const { data } = await agent.com.atproto.server.getServiceAuth({
        aud: router.identity.audience,
        lxm: LXM_CREATE_TICKET,
      })
      const res = await fetch(`${router.url}/xrpc/${LXM_CREATE_TICKET}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${data.token}` },
      })
      statuses.push(res.status)
    }
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0)
  })

  it('1,000 sockets from one DID: 32 open, the rest refused with 429 TooManyForDid; members keep flowing', async () => {
    const mallory = devnet.accounts.carol.did
    const outcomes = await flood(
      () => mallory,
      '127.0.0.2',
      () => aliceToBob('during-did-flood'),
    )
    expect(tally(outcomes)).toEqual({
      open: DEFAULT_LIMITS.connectionsPerDid,
      [`429 TooManyForDid`]: ATTEMPTS - DEFAULT_LIMITS.connectionsPerDid,
    })

    // The sockets it got flood frames: over its DID's budget they are closed with 1013,
    // and alice's message still reaches bob meanwhile.
    const sockets = outcomes.flatMap((o) => ('open' in o ? [o.open] : []))
    let tryLater = 0
    for (const ws of sockets)
      ws.once('close', (code) => {
        if (code === CLOSE_TRY_LATER) tryLater++
      })
    const limited = await rejections('rate-limited-did')
    sockets.forEach((ws, i) => {
      const me = peerIdFor(mallory, `flood${i}`) as PeerId
      ws.send(cbor.encode({ type: 'join', senderId: me, peerMetadata: {} }))
      for (let n = 0; n < 60; n++)
        ws.send(
          cbor.encode({
            type: 'request',
            senderId: me,
            targetId: endpoint.peerId,
            documentId: unknownDocs[n % unknownDocs.length],
            data: A.generateSyncMessage(A.init(), A.initSyncState())[1],
          }),
        )
    })
    await aliceToBob('during-frame-flood')
    // The DID's budget (a burst of 50, 20/s, at most 1 s owed) lets about one socket's 60
    // frames through; the others are closed with 1013 as they go over it.
    await expect
      .poll(() => tryLater, { timeout: 20_000 })
      .toBeGreaterThanOrEqual(sockets.length - 2)
    expect(await rejections('rate-limited-did')).toBeGreaterThanOrEqual(limited + tryLater)
    for (const ws of sockets) ws.terminate()
    await aliceToBob('after-frame-flood')
  })

  it('1,000 sockets from one IP (many DIDs): 256 open, the rest refused with 429 TooManyForIp; members keep flowing', async () => {
    const did = (i: number): Did => {
      let id = ''
      for (let n = i, k = 0; k < 24; k++, n = Math.floor(n / 32)) id += BASE32[n % 32]
      return `did:plc:${id}` as Did
    }
    const outcomes = await flood(did, '127.0.0.3', () => aliceToBob('during-ip-flood'))
    expect(tally(outcomes)).toEqual({
      open: DEFAULT_LIMITS.connectionsPerIp,
      [`429 TooManyForIp`]: ATTEMPTS - DEFAULT_LIMITS.connectionsPerIp,
    })
    expect(await rejections('TooManyForIp')).toBe(ATTEMPTS - DEFAULT_LIMITS.connectionsPerIp)
    // The caps are per address: the members' address still connects.
    const extra = await attempt(did(ATTEMPTS + 1), '127.0.0.1')
    expect('open' in extra).toBe(true)
    // Closing the flood frees its slots.
    const sockets = outcomes.flatMap((o) => ('open' in o ? [o.open] : []))
    await Promise.all(
      sockets.map((ws) => {
        const gone = new Promise((resolve) => ws.once('close', resolve))
        ws.close()
        return gone
      }),
    )
    await expect
      .poll(async () => 'open' in (await attempt(did(ATTEMPTS + 2), '127.0.0.3')))
      .toBe(true)
    await aliceToBob('after-ip-flood')
    expect((await fetch(`${router.url}/healthz`)).status).toBe(200)
  })
})
