// Delivery latency through the router's sync core: the fast-path push (hearth-changes) against
// the same change arriving by automerge-repo sync, at N receivers, and the writer's durable ack.
// Loopback, no devnet: sockets are handed to the endpoint with a DID from the URL (bench only).
// Router, writer and receivers share this process (and the machine's cores): the figures include
// their contention, and the writer's own hop to the router is Automerge sync (no client push yet).
//   node services/router/scripts/fast-path-latency.ts [--receivers 10] [--messages 50] [--rate 10]
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import * as A from '@automerge/automerge'
import { cbor, Repo } from '@automerge/automerge-repo'
import type { PeerId } from '@automerge/automerge-repo'
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket'
import { asDid, generateDeviceKey } from '@hearth/identity'
import {
  createSignedDocument,
  createValidatedRepo,
  encodeSignedEvent,
  importVerified,
  SignedWriter,
  signEvent,
  spaceDocumentId,
} from '@hearth/sync'
import { WebSocketServer } from 'ws'
import { ACK_TYPE, createSyncEndpoint, PUSH_TYPE } from '../src/index.ts'

const { values } = parseArgs({
  options: {
    receivers: { type: 'string', default: '10' },
    messages: { type: 'string', default: '50' },
    rate: { type: 'string', default: '10' },
  },
})
const receivers = Number(values.receivers)
const messages = Number(values.messages)
const intervalMs = 1000 / Number(values.rate)

const dir = await mkdtemp(join(tmpdir(), 'hearth-fast-path-'))
const endpoint = await createSyncEndpoint({ dataDir: dir })
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 1024 * 1024 })
wss.on('connection', (ws, req) => {
  const did = asDid(new URL(req.url ?? '/', 'http://x').searchParams.get('did') ?? '')
  endpoint.accept(ws, { did, ip: '127.0.0.1' })
})
await new Promise((resolve) => wss.once('listening', resolve))
const port = (wss.address() as { port: number }).port

type Frame = { type: string; documentId?: string; changes?: unknown[] }
function connect(did: string, suffix: string) {
  const adapter = new WebSocketClientAdapter(
    `ws://127.0.0.1:${port}/?did=${encodeURIComponent(did)}`,
    600_000,
  )
  const listeners: ((frame: Frame, at: number) => void)[] = []
  const ready = adapter.whenReady().then(() => {
    adapter.socket!.addEventListener('message', (event) => {
      const at = performance.now()
      const frame = cbor.decode(new Uint8Array(event.data as ArrayBuffer)) as Frame
      for (const listener of listeners) listener(frame, at)
    })
  })
  return { adapter, peerId: `${did}#${suffix}` as PeerId, ready, listeners }
}

const aliceDid = asDid('did:plc:benchaliceaaaaaaaaaaaaaa')
const alice = connect(aliceDid, 'writer')
const { repo: aliceRepo, validator } = createValidatedRepo({
  repo: { peerId: alice.peerId, network: [alice.adapter], sharePolicy: async () => true },
})
await alice.ready
const { key } = await generateDeviceKey()
const genesis = await signEvent(key, {
  space: null,
  kind: 'genesis',
  author: aliceDid,
  parents: [],
  body: { mode: 'PUBLIC', name: 'Bench', nonce: crypto.randomUUID() },
})
const documentId = spaceDocumentId(genesis.id)
const acks = new Map<string, number>()
alice.listeners.push((frame, at) => {
  if (frame.type === ACK_TYPE && frame.documentId === documentId)
    for (const hash of frame.changes as string[]) acks.set(hash, at)
})
const handle = await importVerified(
  aliceRepo,
  validator,
  documentId,
  await createSignedDocument(key, [encodeSignedEvent(genesis)]),
)
const writer = new SignedWriter(handle, key, {
  onWrite: (accepted) => validator.noteLocalWrite(documentId, accepted),
})
const genesisHash = A.getHeads(handle.doc())[0]!
while (!acks.has(genesisHash)) await new Promise((resolve) => setTimeout(resolve, 10))

const pushed = new Map<string, number[]>()
const synced = new Map<string, number[]>()
const readers = []
for (let i = 0; i < receivers; i++) {
  const did = asDid(`did:plc:benchreader${String(i).padStart(13, '0')}`)
  const peer = connect(did, 'r')
  const repo = new Repo({
    peerId: peer.peerId,
    network: [peer.adapter],
    sharePolicy: async () => true,
  })
  await peer.ready
  peer.listeners.push((frame, at) => {
    if (frame.type !== PUSH_TYPE || frame.documentId !== documentId) return
    for (const bytes of frame.changes as Uint8Array[]) {
      const hash = A.decodeChange(new Uint8Array(bytes) as A.Change).hash
      pushed.set(hash, [...(pushed.get(hash) ?? []), at])
    }
  })
  const h = await repo.find(documentId)
  const seen = new Set<string>()
  h.on('heads-changed', ({ doc }) => {
    const at = performance.now()
    for (const meta of A.getBackend(doc).getChangesMeta([])) {
      if (seen.has(meta.hash)) continue
      seen.add(meta.hash)
      synced.set(meta.hash, [...(synced.get(meta.hash) ?? []), at])
    }
  })
  readers.push(repo)
}

const sent = new Map<string, number>()
for (let i = 0; i < messages; i++) {
  const event = await signEvent(key, {
    space: genesis.id,
    kind: 'message',
    author: aliceDid,
    parents: [genesis.id],
    body: { text: `hello ${i}` },
  })
  const t0 = performance.now()
  const hash = await writer.append([encodeSignedEvent(event)])
  sent.set(hash, t0)
  await new Promise((resolve) => setTimeout(resolve, intervalMs))
}
const done = (): boolean =>
  [...sent.keys()].every(
    (h) =>
      (synced.get(h)?.length ?? 0) >= receivers &&
      (pushed.get(h)?.length ?? 0) >= receivers &&
      acks.has(h),
  )
const deadline = performance.now() + 30_000
while (!done() && performance.now() < deadline)
  await new Promise((resolve) => setTimeout(resolve, 20))

function summary(samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b)
  const at = (q: number) =>
    sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN
  return `p50 ${at(0.5).toFixed(1)} ms  p99 ${at(0.99).toFixed(1)} ms  (n=${sorted.length})`
}
const lat = (m: Map<string, number[]>) =>
  [...sent].flatMap(([h, t0]) => (m.get(h) ?? []).map((t) => t - t0))
console.log(
  `receivers ${receivers}, messages ${messages} at ${values.rate}/s; validation on, SQLite synchronous=FULL`,
)
console.log(`fast path (hearth-changes push): ${summary(lat(pushed))}`)
console.log(`automerge-repo sync:             ${summary(lat(synced))}`)
console.log(
  `writer's durable ack:            ${summary([...sent].flatMap(([h, t0]) => (acks.has(h) ? [acks.get(h)! - t0] : [])))}`,
)

const missed = [...sent.keys()].filter((h) => (pushed.get(h)?.length ?? 0) < receivers).length
console.log(`messages not pushed to every receiver: ${missed} (Automerge sync delivered them)`)
for (const repo of readers) await repo.shutdown()
await aliceRepo.shutdown()
await endpoint.close()
wss.close()
await rm(dir, { recursive: true, force: true })
process.exit(0)
