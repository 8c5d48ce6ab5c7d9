// Delivery latency of one small signed message to N receivers at 10 messages/s, on loopback:
//   floor  — a raw `ws` broadcast of the same bytes (receivers verify the event signature);
//   stock  — automerge-repo's stock WebSocket server Repo (no validation, no storage);
//   router — Hearth's sync endpoint (validation, SQLite synchronous=FULL), delivery by its push
//            (receivers validate the pushed change like a sync message, then apply it).
// Server and writer run here; all receivers of a run share one child process (fork of this
// file), so the server does not compete with its receivers for a core. Tickets are skipped
// (sockets are handed to the endpoint with a DID from the URL): sign-in is not under test.
// The router's writer also pushes its change to the router (the client side of the fast path);
// --no-client-push leaves that hop to Automerge sync.
//   node services/router/bench/delivery.ts [--receivers 2,10,50] [--messages 50] [--no-client-push]
import { fork } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import * as A from '@automerge/automerge'
import { cbor, Repo } from '@automerge/automerge-repo'
import type { DocumentId, PeerId } from '@automerge/automerge-repo'
import {
  WebSocketClientAdapter,
  WebSocketServerAdapter,
} from '@automerge/automerge-repo-network-websocket'
import { asDid, generateDeviceKey } from '@hearth/identity'
import {
  base64urlDecode,
  createSignedDocument,
  createValidatedRepo,
  encodeSignedEvent,
  importVerified,
  openSignedEvent,
  parseSignedEvent,
  SignedWriter,
  signEvent,
  spaceDocumentId,
} from '@hearth/sync'
import WebSocket, { WebSocketServer } from 'ws'
import { createSyncEndpoint, PUSH_TYPE } from '../src/index.ts'

type System = 'floor' | 'stock' | 'router'
// The router's per-DID and per-space frame rate limits are lifted: the bench measures delivery,
// and its 50 receivers in one space would otherwise share one space's budget (README, "Limits").
const BENCH_FRAME_LIMITS = {
  perDidBurst: 1e9,
  perDidPerSecond: 1e9,
  perSpaceBurst: 1e9,
  perSpacePerSecond: 1e9,
}
const now = (): number => performance.timeOrigin + performance.now()
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

// ---------------------------------------------------------------- receivers (child process)
async function runReceivers(system: System, url: string, count: number, documentId: string) {
  const arrivals: [number, number][] = []
  const closers: (() => unknown)[] = []
  for (let r = 0; r < count; r++) {
    const did = `did:plc:benchreader${String(r).padStart(13, '0')}`
    if (system === 'floor') {
      const ws = new WebSocket(url)
      ws.binaryType = 'nodebuffer'
      ws.on('message', (data: Buffer) => {
        const at = now()
        void openSignedEvent(new Uint8Array(data)).then((opened) => {
          if (opened.ok) arrivals.push([Number((opened.event.body as { text: string }).text), at])
        })
      })
      await new Promise((resolve) => ws.once('open', resolve))
      closers.push(() => ws.close())
    } else if (system === 'stock') {
      const adapter = new WebSocketClientAdapter(url, 600_000)
      const repo = new Repo({
        peerId: `r${r}` as PeerId,
        network: [adapter],
        sharePolicy: async () => true,
      })
      await adapter.whenReady()
      const handle = await repo.find<Record<string, number>>(documentId as DocumentId)
      handle.on('change', ({ patches }) => {
        const at = now()
        for (const p of patches)
          if (p.action === 'put' && p.path.length === 1) arrivals.push([Number(p.value), at])
      })
      closers.push(() => repo.shutdown())
    } else {
      const adapter = new WebSocketClientAdapter(`${url}?did=${encodeURIComponent(did)}`, 600_000)
      const { repo, validator } = createValidatedRepo({
        repo: { peerId: `${did}#r` as PeerId, network: [adapter], sharePolicy: async () => true },
      })
      await adapter.whenReady()
      const handle = await repo.find(documentId as DocumentId)
      adapter.socket!.addEventListener('message', (event) => {
        const at = now()
        const frame = cbor.decode(new Uint8Array(event.data as ArrayBuffer)) as {
          type: string
          changes?: Uint8Array[]
        }
        if (frame.type !== PUSH_TYPE || !frame.changes) return
        const changes = frame.changes.map((c) => new Uint8Array(c) as A.Change)
        void validator
          .validateSyncMessage(
            documentId as DocumentId,
            A.encodeSyncMessage({ heads: [], need: [], have: [], changes }),
          )
          .then(() => {
            handle.update((doc) => A.applyChanges(doc, changes)[0])
            for (const change of changes)
              for (const op of A.decodeChange(change).ops as { value?: unknown }[]) {
                const event = parseSignedEvent(
                  base64urlDecode(String(op.value ?? '')) ?? new Uint8Array(),
                )
                if (event.ok)
                  arrivals.push([Number((event.event.body as { text: string }).text), at])
              }
          })
          .catch(() => undefined)
      })
      closers.push(() => repo.shutdown())
    }
  }
  process.send!({ ready: true })
  process.on('message', () => {
    process.send!({ arrivals })
    void Promise.all(closers.map((close) => close())).finally(() => process.exit(0))
  })
}

if (process.argv[2] === '--child') {
  const [, , , system, url, count, documentId] = process.argv
  await runReceivers(system as System, url!, Number(count), documentId!)
} else {
  const { values } = parseArgs({
    options: {
      receivers: { type: 'string', default: '2,10,50' },
      messages: { type: 'string', default: '50' },
      'no-client-push': { type: 'boolean', default: false },
      systems: { type: 'string', default: 'floor,stock,router' },
    },
  })
  const clientPush = !values['no-client-push']
  const sizes = values.receivers.split(',').map(Number)
  const messages = Number(values.messages)
  const intervalMs = 100
  const { key } = await generateDeviceKey()
  const writerDid = asDid('did:plc:benchwriteraaaaaaaaaaaaa')

  function percentile(sorted: number[], q: number): number {
    return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN
  }

  async function run(system: System, receivers: number) {
    const dir = await mkdtemp(join(tmpdir(), 'hearth-bench-delivery-'))
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 1024 * 1024 })
    await new Promise((resolve) => wss.once('listening', resolve))
    const url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}/`
    const cleanup: (() => unknown)[] = [
      () => wss.close(),
      () => rm(dir, { recursive: true, force: true }),
    ]
    let documentId = ''
    let send: (i: number) => Promise<void>
    const genesis = await signEvent(key, {
      space: null,
      kind: 'genesis',
      author: writerDid,
      parents: [],
      body: { mode: 'PUBLIC', name: 'Bench', nonce: crypto.randomUUID() },
    })
    const eventFor = (i: number) =>
      signEvent(key, {
        space: genesis.id,
        kind: 'message',
        author: writerDid,
        parents: [genesis.id],
        body: { text: String(i) },
      })
    if (system === 'floor') {
      wss.on('connection', (ws) =>
        ws.on('message', (data) => {
          for (const client of wss.clients) if (client !== ws) client.send(data)
        }),
      )
      const writer = new WebSocket(url)
      await new Promise((resolve) => writer.once('open', resolve))
      cleanup.unshift(() => writer.close())
      send = async (i) => writer.send(encodeSignedEvent(await eventFor(i)))
    } else if (system === 'stock') {
      const server = new Repo({
        network: [new WebSocketServerAdapter(wss as never)],
        sharePolicy: async () => false,
        peerId: 'server' as PeerId,
      })
      const adapter = new WebSocketClientAdapter(url, 600_000)
      const repo = new Repo({
        peerId: 'writer' as PeerId,
        network: [adapter],
        sharePolicy: async () => true,
      })
      await adapter.whenReady()
      const handle = repo.create<Record<string, number>>()
      documentId = handle.documentId
      await repo.flush()
      await server.find(documentId as DocumentId).catch(() => undefined)
      cleanup.unshift(
        () => repo.shutdown(),
        () => server.shutdown(),
      )
      send = async (i) => {
        await eventFor(i) // the same signing cost as the other systems
        handle.change((d) => {
          d[`m${i}`] = i
        })
      }
    } else {
      const endpoint = await createSyncEndpoint({ dataDir: dir, frameLimits: BENCH_FRAME_LIMITS })
      wss.on('connection', (ws, req) => {
        const did = asDid(new URL(req.url ?? '/', 'http://x').searchParams.get('did') ?? '')
        endpoint.accept(ws, { did, ip: '127.0.0.1' })
      })
      const adapter = new WebSocketClientAdapter(
        `${url}?did=${encodeURIComponent(writerDid)}`,
        600_000,
      )
      const { repo, validator } = createValidatedRepo({
        repo: {
          peerId: `${writerDid}#w` as PeerId,
          network: [adapter],
          sharePolicy: async () => true,
        },
      })
      await adapter.whenReady()
      documentId = spaceDocumentId(genesis.id)
      const handle = await importVerified(
        repo,
        validator,
        documentId as DocumentId,
        await createSignedDocument(key, [encodeSignedEvent(genesis)]),
      )
      while (
        !endpoint.spaces.allows(writerDid, documentId as DocumentId) ||
        !endpoint.repo.handles[documentId as DocumentId]?.isReady()
      )
        await sleep(10)
      const writer = new SignedWriter(handle, key, {
        onWrite: (a) => validator.noteLocalWrite(documentId as DocumentId, a),
      })
      cleanup.unshift(
        () => repo.shutdown(),
        () => {
          if (process.env.FP_DEBUG) console.error('fast path', endpoint.fastPath.stats)
        },
        () => endpoint.close(),
      )
      send = async (i) => {
        const hash = await writer.append([encodeSignedEvent(await eventFor(i))])
        // The writer's side of the fast path: its change straight to the router.
        const change = A.getBackend(handle.doc()).getChangeByHash(hash)
        if (clientPush && change)
          adapter.socket!.send(
            cbor.encode({
              type: PUSH_TYPE,
              senderId: `${writerDid}#w`,
              targetId: endpoint.peerId,
              documentId,
              changes: [change],
            }),
          )
      }
    }
    const child = fork(import.meta.filename, [
      '--child',
      system,
      url,
      String(receivers),
      documentId,
    ])
    await new Promise((resolve) => child.once('message', resolve))
    await sleep(300) // let the receivers' first sync settle before timing starts
    const sent: number[] = []
    for (let i = 0; i < messages; i++) {
      const start = now()
      sent[i] = start
      await send(i)
      await sleep(Math.max(0, intervalMs - (now() - start)))
    }
    await sleep(2000) // stragglers
    const arrivals: [number, number][] = await new Promise((resolve) => {
      child.once('message', (m) => resolve((m as { arrivals: [number, number][] }).arrivals))
      child.send('done')
    })
    for (const c of cleanup) await c()
    const latencies = arrivals
      .filter(([i]) => sent[i] !== undefined)
      .map(([i, at]) => at - sent[i]!)
      .sort((a, b) => a - b)
    return {
      p50: percentile(latencies, 0.5),
      p99: percentile(latencies, 0.99),
      delivered: latencies.length,
      expected: receivers * messages,
    }
  }

  console.log(
    `delivery at 10 messages/s, ${messages} messages; router: validation on, SQLite synchronous=FULL, push path, client push ${clientPush ? 'on' : 'off'}`,
  )
  console.log(
    'receivers | floor p50/p99 | stock p50/p99 | router p50/p99 | router/floor p99 | delivered (router)',
  )
  const systems = new Set(values.systems.split(','))
  const skipped = { p50: NaN, p99: NaN, delivered: 0, expected: 0 }
  for (const n of sizes) {
    const floor = systems.has('floor') ? await run('floor', n) : skipped
    const stock = systems.has('stock') ? await run('stock', n) : skipped
    const router = systems.has('router') ? await run('router', n) : skipped
    const f = (r: { p50: number; p99: number }) => `${r.p50.toFixed(1)} / ${r.p99.toFixed(1)} ms`
    console.log(
      `${n} | ${f(floor)} | ${f(stock)} | ${f(router)} | ${(router.p99 / floor.p99).toFixed(1)}× | ${router.delivered}/${router.expected}`,
    )
  }
  process.exit(0)
}
