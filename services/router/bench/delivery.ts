// Delivery of one small signed message to N receivers on loopback: p50/p99 latency at 10
// messages/s, and saturated throughput (a burst sent at once, until every receiver has all of it):
//   floor  — a raw `ws` broadcast of the same bytes (receivers verify the event signature);
//   stock  — automerge-repo's stock WebSocket server Repo (no validation, no storage);
//   router — Hearth's sync endpoint (validation, SQLite synchronous=FULL), delivery by its push
//            with the per-peer Automerge sync held back (fast-path.ts); receivers verify every
//            change (its signature and its events') before applying it, pushed or synced.
// Server and writer run here; all receivers of a run share one child process (fork of this
// file), so the server does not compete with its receivers for a core. Tickets are skipped
// (sockets are handed to the endpoint with a DID from the URL): sign-in is not under test.
// The router's writer also pushes its change to the router (the client side of the fast path);
// --no-client-push leaves that hop to Automerge sync. --full-clients runs the router's receivers
// as full Hearth Repos (validator + automerge-repo), each verifying on its own.
//   node services/router/bench/delivery.ts [--receivers 2,10,50] [--messages 50] [--burst 300]
//        [--systems floor,stock,router] [--no-client-push] [--full-clients]
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
  buildSignedChange,
  changesInBlob,
  createSignedDocument,
  createValidatedRepo,
  encodeSignedEvent,
  entriesOf,
  importVerified,
  openSignedEvent,
  parseChangeMessage,
  parseSignedEvent,
  SignedWriter,
  signEvent,
  spaceDocumentId,
  verifyChangeSignature,
  verifySpaceEventBytes,
  type SignableChange,
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
const progress = (line: string) => {
  if (process.env.BENCH_PROGRESS) console.error(`[${new Date().toISOString()}] ${line}`)
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

// ---------------------------------------------------------------- receivers (child process)
/** Message indexes of the throughput burst start here (the latency phase uses 0..messages-1). */
const BURST_BASE = 1_000_000

/**
 * Verification shared by the receivers of one process, keyed by what was received (the bytes,
 * or a change's hash, which Automerge recomputes from the bytes): each receiver checks that
 * what it got verifies, but a signature is checked once per process, not once per receiver.
 * In production every receiver is its own device on its own core; here 50 of them share one,
 * and verifying the same signature 50 times over would measure this machine, not the relay.
 * `--full-clients` turns this off (and runs the router's receivers as full Hearth Repos).
 */
const verifiedEvents = new Map<string, Promise<number | undefined>>()
function verifyEventBytes(bytes: Uint8Array, shared: boolean): Promise<number | undefined> {
  const open = async () => {
    const opened = await openSignedEvent(bytes)
    return opened.ok ? Number((opened.event.body as { text: string }).text) : undefined
  }
  if (!shared) return open()
  const key = Buffer.from(bytes).toString('base64')
  let result = verifiedEvents.get(key)
  if (!result) verifiedEvents.set(key, (result = open()))
  return result
}

const verifiedChanges = new Map<string, Promise<number[] | undefined>>()
/** A change's signature and every event in it (key bound to the change's): the event indexes. */
function verifyChange(decoded: A.DecodedChange): Promise<number[] | undefined> {
  let result = verifiedChanges.get(decoded.hash)
  if (!result)
    verifiedChanges.set(
      decoded.hash,
      (result = (async () => {
        const signature = parseChangeMessage(decoded.message)
        if (!signature) return undefined
        const ok = await verifyChangeSignature(decoded as unknown as SignableChange, signature)
        if (!ok) return undefined
        const indexes: number[] = []
        for (const op of decoded.ops as { value?: unknown }[]) {
          if (typeof op.value !== 'string') continue
          const bytes = base64urlDecode(op.value)
          const event = bytes && (await verifySpaceEventBytes(bytes))
          if (!event || !event.ok || event.keyId !== signature.keyId) return undefined
          const parsed = parseSignedEvent(bytes)
          if (parsed.ok && parsed.event.kind === 'message')
            indexes.push(Number((parsed.event.body as { text: string }).text))
        }
        return indexes
      })()),
    )
  return result
}

/**
 * A Hearth receiver without a Repo: its own Automerge document and sync state with the router
 * (it answers sync messages and, like a Repo, sends its heads after each change it applies),
 * every change verified before it is applied, whether pushed or synced.
 */
async function lightReceiver(
  url: string,
  did: string,
  documentId: string,
  arrived: (index: number, at: number) => void,
): Promise<() => void> {
  const peerId = `${did}#r`
  const ws = new WebSocket(`${url}?did=${encodeURIComponent(did)}`)
  ws.binaryType = 'nodebuffer'
  let doc = A.init<unknown>()
  let state = A.initSyncState()
  let router: string | undefined
  let queue = Promise.resolve()
  let timer: ReturnType<typeof setTimeout> | undefined
  let lastSync = 0
  const syncNow = () => {
    const [next, message] = A.generateSyncMessage(doc, state)
    state = next
    if (message && router)
      ws.send(
        cbor.encode({
          type: 'sync',
          senderId: peerId,
          targetId: router,
          documentId,
          data: message,
        }),
      )
  }
  const apply = async (decoded: A.DecodedChange[], at: number) => {
    const indexes = await Promise.all(decoded.map((d) => verifyChange(d)))
    if (indexes.some((i) => i === undefined)) throw new Error('a change did not verify')
    for (const list of indexes) for (const index of list!) arrived(index, at)
  }
  ws.on('message', (data: Buffer) => {
    const at = now()
    const frame = cbor.decode(data) as {
      type: string
      senderId: string
      documentId?: string
      data?: Uint8Array
      changes?: Uint8Array[]
    }
    if (frame.type === 'peer') {
      router = frame.senderId
      syncNow()
      return
    }
    if (frame.documentId !== documentId) return
    queue = queue.then(async () => {
      if (frame.type === 'sync' && frame.data) {
        const message = new Uint8Array(frame.data) as A.SyncMessage
        const decoded = A.decodeSyncMessage(message).changes.flatMap((blob) =>
          changesInBlob(blob).map((c) => c.decoded),
        )
        await apply(decoded, at)
        ;[doc, state] = A.receiveSyncMessage(doc, state, message)
        syncNow()
      } else if (frame.type === PUSH_TYPE && frame.changes) {
        const changes = frame.changes.map((c) => new Uint8Array(c) as A.Change)
        await apply(
          changes.map((c) => A.decodeChange(c)),
          at,
        )
        doc = A.applyChanges(doc, changes)[0]
        // Its heads, as a Repo sends them after a change (the router's confirmation of the
        // push), at most every 100 ms as automerge-repo's DocSynchronizer does.
        timer ??= setTimeout(
          () => {
            timer = undefined
            lastSync = Date.now()
            syncNow()
          },
          Math.max(0, lastSync + 100 - Date.now()),
        )
      }
    })
  })
  await new Promise((resolve) => ws.once('open', resolve))
  ws.send(
    cbor.encode({
      type: 'join',
      senderId: peerId,
      peerMetadata: {},
      supportedProtocolVersions: ['1'],
    }),
  )
  return () => ws.close()
}

async function runReceivers(
  system: System,
  url: string,
  count: number,
  documentId: string,
  full: boolean,
  burst: number,
) {
  const arrivals: [number, number][] = []
  const closers: (() => unknown)[] = []
  const seen = new Set<string>()
  let burstArrivals = 0
  const arrived = (receiver: number, index: number, at: number) => {
    const key = `${receiver}:${index}`
    if (seen.has(key)) return
    seen.add(key)
    arrivals.push([index, at])
    if (index >= BURST_BASE && ++burstArrivals === burst * count) process.send!({ burstDone: true })
  }
  for (let r = 0; r < count; r++) {
    const did = `did:plc:benchreader${String(r).padStart(13, '0')}`
    if (system === 'floor') {
      const ws = new WebSocket(url)
      ws.binaryType = 'nodebuffer'
      let queue = Promise.resolve()
      ws.on('message', (data: Buffer) => {
        const at = now()
        const bytes = new Uint8Array(data)
        queue = queue.then(async () => {
          const index = await verifyEventBytes(bytes, !full)
          if (index !== undefined) arrived(r, index, at)
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
          if (p.action === 'put' && p.path.length === 1) arrived(r, Number(p.value), at)
      })
      closers.push(() => repo.shutdown())
    } else if (!full) {
      closers.push(await lightReceiver(url, did, documentId, (i, at) => arrived(r, i, at)))
    } else {
      const adapter = new WebSocketClientAdapter(`${url}?did=${encodeURIComponent(did)}`, 600_000)
      const { repo, validator } = createValidatedRepo({
        repo: { peerId: `${did}#r` as PeerId, network: [adapter], sharePolicy: async () => true },
      })
      await adapter.whenReady()
      const handle = await repo.find(documentId as DocumentId)
      adapter.socket!.addEventListener('message', (event) => {
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
          .then(() => handle.update((doc) => A.applyChanges(doc, changes)[0]))
          .catch(() => undefined)
      })
      // Whatever reached the Repo (by push or by sync) passed its validator.
      handle.on('change', ({ patches }) => {
        const at = now()
        for (const p of patches) {
          if (p.action !== 'insert') continue
          for (const value of p.values) {
            const event = parseSignedEvent(base64urlDecode(String(value)) ?? new Uint8Array())
            if (event.ok && event.event.kind === 'message')
              arrived(r, Number((event.event.body as { text: string }).text), at)
          }
        }
      })
      closers.push(() => repo.shutdown())
    }
  }
  process.send!({ ready: true })
  process.on('message', () => {
    // Exit only once the (large) message is out: an exit right after send() can drop it.
    process.send!({ arrivals }, () => {
      void Promise.all(closers.map((close) => close())).finally(() => process.exit(0))
    })
  })
}

if (process.argv[2] === '--child') {
  const [, , , system, url, count, documentId, mode, burst] = process.argv
  await runReceivers(
    system as System,
    url!,
    Number(count),
    documentId!,
    mode === 'full',
    Number(burst),
  )
} else {
  const { values } = parseArgs({
    options: {
      receivers: { type: 'string', default: '2,10,50' },
      messages: { type: 'string', default: '50' },
      burst: { type: 'string', default: '300' },
      'no-client-push': { type: 'boolean', default: false },
      'full-clients': { type: 'boolean', default: false },
      systems: { type: 'string', default: 'floor,stock,router' },
    },
  })
  const clientPush = !values['no-client-push']
  const full = values['full-clients']
  const sizes = values.receivers.split(',').map(Number)
  const messages = Number(values.messages)
  const burst = Number(values.burst)
  const intervalMs = 100
  const { key } = await generateDeviceKey()
  const writerDid = asDid('did:plc:benchwriteraaaaaaaaaaaaa')
  let routerConfig = ''

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
    /** Prepares the throughput burst (signing, building) and returns its sender. */
    let prepareBurst: () => Promise<() => void>
    const genesis = await signEvent(key, {
      space: null,
      kind: 'genesis',
      author: writerDid,
      parents: [],
      body: { mode: 'PUBLIC', name: 'Bench', nonce: crypto.randomUUID() },
    })
    const eventFor = (i: number, by = key) =>
      signEvent(by, {
        space: genesis.id,
        kind: 'message',
        author: writerDid,
        parents: [genesis.id],
        body: { text: String(i) },
      })
    const burstIndexes = Array.from({ length: burst }, (_, k) => BURST_BASE + k)
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
      prepareBurst = async () => {
        const frames = await Promise.all(
          burstIndexes.map(async (i) => encodeSignedEvent(await eventFor(i))),
        )
        return () => {
          for (const frame of frames) writer.send(frame)
        }
      }
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
      prepareBurst = async () => () => {
        for (const i of burstIndexes)
          handle.change((d) => {
            d[`m${i}`] = i
          })
      }
    } else {
      const endpoint = await createSyncEndpoint({ dataDir: dir, frameLimits: BENCH_FRAME_LIMITS })
      const storage = endpoint.repo.storageSubsystem
      routerConfig = `router: validation on (every change: rules + change and event signatures), SQLite synchronous=FULL (acks after fsync), fast path confirm timeout 2000 ms, frame rate limits lifted for the bench${storage ? '' : ' [no storage?]'}`
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
      const pushChanges = (changes: A.Change[]) =>
        adapter.socket!.send(
          cbor.encode({
            type: PUSH_TYPE,
            senderId: `${writerDid}#w`,
            targetId: endpoint.peerId,
            documentId,
            changes,
          }),
        )
      send = async (i) => {
        const { change } = await writer.appendChange([encodeSignedEvent(await eventFor(i))])
        // The writer's side of the fast path: its change straight to the router.
        if (clientPush) pushChanges([change])
      }
      prepareBurst = async () => {
        // A second device of the writer builds the burst's chain of changes beforehand, on a
        // copy of the document, so that the burst measures the router, not the writer's signing.
        const { key: second } = await generateDeviceKey()
        let local = A.clone(handle.doc())
        const own = { seq: 0, hash: undefined, bucket: undefined }
        const changes: A.Change[] = []
        for (const i of burstIndexes) {
          const event = encodeSignedEvent(await eventFor(i, second))
          const built = await buildSignedChange(local, second, own, entriesOf([event]))
          local = A.applyChanges(local, [built.change])[0]
          changes.push(built.change)
        }
        return () => {
          for (const change of changes) pushChanges([change])
        }
      }
    }
    const child = fork(import.meta.filename, [
      '--child',
      system,
      url,
      String(receivers),
      documentId,
      full ? 'full' : 'light',
      String(burst),
    ])
    child.on('exit', (code, signal) =>
      progress(`${system} ${receivers}: receivers exited ${code ?? signal}`),
    )
    await new Promise((resolve) => child.once('message', resolve))
    progress(`${system} ${receivers}: receivers ready`)
    await sleep(300) // let the receivers' first sync settle before timing starts
    const sent: number[] = []
    for (let i = 0; i < messages; i++) {
      const start = now()
      sent[i] = start
      await send(i)
      await sleep(Math.max(0, intervalMs - (now() - start)))
    }
    await sleep(2000) // stragglers
    progress(`${system} ${receivers}: latency phase done`)
    // Saturated throughput: the whole burst at once, until every receiver has all of it.
    let burstStart = NaN
    let burstComplete = false
    if (burst > 0) {
      const fire = await prepareBurst()
      const done = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 60_000)
        child.on('message', (m) => {
          if ((m as { burstDone?: boolean }).burstDone) {
            clearTimeout(timer)
            resolve(true)
          }
        })
      })
      burstStart = now()
      fire()
      burstComplete = await done
    }
    const arrivals: [number, number][] = await new Promise((resolve) => {
      child.on('message', (m) => {
        const a = (m as { arrivals?: [number, number][] }).arrivals
        if (a) resolve(a)
      })
      child.send('done')
    })
    progress(`${system} ${receivers}: burst ${burstComplete ? 'complete' : 'INCOMPLETE'}; closing`)
    for (const c of cleanup) await c()
    progress(`${system} ${receivers}: closed`)
    const latencies = arrivals
      .filter(([i]) => i < BURST_BASE && sent[i] !== undefined)
      .map(([i, at]) => at - sent[i]!)
      .sort((a, b) => a - b)
    const burstTimes = arrivals.filter(([i]) => i >= BURST_BASE).map(([, at]) => at)
    const lastBurst = Math.max(...burstTimes)
    return {
      p50: percentile(latencies, 0.5),
      p99: percentile(latencies, 0.99),
      delivered: latencies.length,
      expected: receivers * messages,
      // Messages per second, each delivered to every receiver (all of the burst, or NaN).
      throughput: burstComplete ? burst / ((lastBurst - burstStart) / 1000) : NaN,
      burstDelivered: burstTimes.length,
    }
  }

  const systems = new Set(values.systems.split(','))
  type Result = Awaited<ReturnType<typeof run>>
  const skipped: Result = {
    p50: NaN,
    p99: NaN,
    delivered: 0,
    expected: 0,
    throughput: NaN,
    burstDelivered: 0,
  }
  const rows: [number, Result, Result, Result][] = []
  for (const n of sizes) {
    const floor = systems.has('floor') ? await run('floor', n) : skipped
    const stock = systems.has('stock') ? await run('stock', n) : skipped
    const router = systems.has('router') ? await run('router', n) : skipped
    rows.push([n, floor, stock, router])
  }
  const ms = (x: number) => x.toFixed(1)
  const lat = (r: Result, floor: Result) =>
    `${ms(r.p50)} / ${ms(r.p99)} ms (+${ms(r.p50 - floor.p50)} / +${ms(r.p99 - floor.p99)}; ${(r.p50 / floor.p50).toFixed(1)}× / ${(r.p99 / floor.p99).toFixed(1)}×)`
  console.log(
    `delivery of one signed message to N receivers on loopback: latency at 10 messages/s (${messages} messages), throughput = a burst of ${burst} sent at once until every receiver has all of it`,
  )
  console.log(
    `receivers: ${full ? "full clients (the router's are validated automerge-repo Repos, each verifying on its own)" : 'light (each verifies what it receives; signatures checked once per process, see verifyEventBytes)'}; client push ${clientPush ? 'on' : 'off'}`,
  )
  if (routerConfig) console.log(routerConfig)
  console.log(
    '\nlatency p50 / p99 (added over the floor; ratio to the floor)\nreceivers | floor | stock automerge-repo | router | delivered (router)',
  )
  for (const [n, floor, stock, router] of rows)
    console.log(
      `${n} | ${ms(floor.p50)} / ${ms(floor.p99)} ms | ${lat(stock, floor)} | ${lat(router, floor)} | ${router.delivered}/${router.expected}`,
    )
  console.log('\nsaturated throughput, messages/s to every receiver (ratio to the floor)')
  console.log('receivers | floor | stock automerge-repo | router')
  const tp = (r: Result, floor: Result) =>
    `${r.throughput.toFixed(0)} (${(r.throughput / floor.throughput).toFixed(2)}×)`
  for (const [n, floor, stock, router] of rows)
    console.log(
      `${n} | ${floor.throughput.toFixed(0)} | ${tp(stock, floor)} | ${tp(router, floor)}`,
    )
  process.exit(0)
}
