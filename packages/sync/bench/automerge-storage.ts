// Automerge storage of space events: append, validation, first sync, reopen, bytes per event.
//   npm run bench -- automerge      (BENCH_MAX=10000 to stop at 10k events; BENCH_ONLY=reopen)
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as A from '@automerge/automerge'
import type { DocumentId } from '@automerge/automerge-repo'
import { asDid, generateDeviceKey } from '@hearth/identity'
import type { DeviceKey } from '@hearth/identity'
import {
  buildSignedChange,
  ChangeValidator,
  compareOrd,
  containerOf,
  DocumentState,
  encodeSignedEvent,
  entriesOf,
  MAX_EVENTS_PER_CHANGE,
  parseSignedEvent,
  signEvent,
  spaceDocumentId,
  reduce,
  SpaceReducer,
  stateDigest,
  validateChanges,
  VerifiedStore,
  verifySpaceEventBytes,
} from '../src/index.ts'
import type { EventId, OwnState, SpaceEvent, SpaceId } from '../src/index.ts'
import { FileStoreAdapter } from '../src/node.ts'
import { busySpace } from './workload.ts'

const MAX = Number(process.env['BENCH_MAX'] ?? 100_000)
const SIZES = [1_000, 10_000, 100_000].filter((n) => n <= MAX)
const DEVICES = 20
const gc = (globalThis as { gc?: () => void }).gc

type Doc = A.Doc<unknown>

function p50(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

function ms(value: number): string {
  return `${value.toFixed(3)} ms`
}

function row(name: string, value: string, note = ''): void {
  console.log(`${name.padEnd(52)} ${value.padStart(14)}   ${note}`)
}

const SPACE = 'a'.repeat(52) as SpaceId
const CHANNEL = 'b'.repeat(52) as EventId

interface Device {
  key: DeviceKey
  own: OwnState
}

async function makeDevices(n: number): Promise<Device[]> {
  return Promise.all(
    Array.from({ length: n }, async () => ({
      key: (await generateDeviceKey()).key,
      own: { seq: 0, hash: undefined, bucket: undefined },
    })),
  )
}

let counter = 0
async function message(key: DeviceKey): Promise<SpaceEvent> {
  counter++
  return signEvent(key, {
    space: SPACE,
    kind: 'message',
    author: asDid(`did:plc:${'bench'.padEnd(24, String(counter % 10))}`),
    parents: [CHANNEL],
    ts: 1_767_225_600_000 + counter * 1000,
    body: {
      text: `message number ${counter}: a sentence of ordinary chat length`,
      channel: CHANNEL,
    },
  })
}

/** Per device, a pool of distinct signed events to fill documents with. */
async function pools(devices: Device[], perDevice: number): Promise<Uint8Array[][]> {
  return Promise.all(
    devices.map(async (d) =>
      Promise.all(
        Array.from({ length: perDevice }, async () => encodeSignedEvent(await message(d.key))),
      ),
    ),
  )
}

/** A document of `n` events, written by the devices in turns, `perChange` events per change. */
async function fill(
  devices: Device[],
  pool: Uint8Array[][],
  n: number,
  perChange: number,
): Promise<Doc> {
  let doc: Doc = A.init()
  let written = 0
  let turn = 0
  while (written < n) {
    const device = devices[turn++ % devices.length]!
    const devicePool = pool[devices.indexOf(device)]!
    const count = Math.min(perChange, n - written)
    const events = Array.from(
      { length: count },
      (_, i) => devicePool[(written + i) % devicePool.length]!,
    )
    const built = await buildSignedChange(doc, device.key, device.own, entriesOf(events))
    ;[doc] = A.applyChanges(doc, [built.change])
    written += count
  }
  return doc
}

async function appendBench(size: number, devices: Device[], pool: Uint8Array[][]): Promise<void> {
  for (const d of devices) d.own = { seq: 0, hash: undefined, bucket: undefined }
  let doc = await fill(devices, pool, size, 250)
  const receiverState = new DocumentState(() => doc)
  receiverState.refresh()
  const writer = devices[0]!
  const iterations = size >= 100_000 ? 100 : 200
  const signEventMs: number[] = []
  const buildMs: number[] = []
  const validateMs: number[] = []
  const applyMs: number[] = []
  for (let i = 0; i < iterations; i++) {
    let t = performance.now()
    const event = encodeSignedEvent(await message(writer.key))
    signEventMs.push(performance.now() - t)
    t = performance.now()
    const built = await buildSignedChange(doc, writer.key, writer.own, entriesOf([event]))
    buildMs.push(performance.now() - t)
    t = performance.now()
    const batch = receiverState.beginBatch()
    const result = await validateChanges(
      batch,
      [{ decoded: A.decodeChange(built.change), size: built.change.length }],
      verifySpaceEventBytes,
    )
    receiverState.commit(result.accepted)
    validateMs.push(performance.now() - t)
    t = performance.now()
    ;[doc] = A.applyChanges(doc, [built.change])
    applyMs.push(performance.now() - t)
  }
  const write = p50(buildMs) + p50(applyMs)
  const receive = p50(validateMs) + p50(applyMs)
  console.log(`\n-- append at ${size.toLocaleString('en')} events (${iterations} appends, p50) --`)
  row('sign the event (event layer)', ms(p50(signEventMs)))
  row('build + sign the change', ms(p50(buildMs)))
  row('validate on a receiving peer (all rules + 2 verifies)', ms(p50(validateMs)))
  row('apply (A.applyChanges)', ms(p50(applyMs)))
  row(
    'writer: build + sign + apply',
    ms(write),
    write <= 1 ? 'goal <= 1 ms: met' : 'goal <= 1 ms: MISSED',
  )
  row(
    'receiver: validate + apply',
    ms(receive),
    receive <= 1 ? 'goal <= 1 ms: met' : 'goal <= 1 ms: MISSED',
  )
  row('validation / plain apply', `${(p50(validateMs) / p50(applyMs)).toFixed(1)}x`)
  if (size === SIZES[SIZES.length - 1]) {
    const t = performance.now()
    A.clone(doc)
    row(
      'for comparison: one A.clone of this document',
      ms(performance.now() - t),
      'why writes do not clone',
    )
  }
}

async function firstSyncBench(devices: Device[]): Promise<void> {
  const n = 10_000
  for (const d of devices) d.own = { seq: 0, hash: undefined, bucket: undefined }
  const few = devices.slice(0, 5)
  let full: Doc = A.init()
  for (let i = 0; i < n; i++) {
    const d = few[i % few.length]!
    const built = await buildSignedChange(
      full,
      d.key,
      d.own,
      entriesOf([encodeSignedEvent(await message(d.key))]),
    )
    ;[full] = A.applyChanges(full, [built.change])
  }
  const documentId = spaceDocumentId('bench') as DocumentId
  const run = async (validated: boolean): Promise<{ ms: number; messages: number }> => {
    let empty: Doc = A.init()
    const validator = new ChangeValidator({ verifyEvent: verifySpaceEventBytes })
    validator.attachDocuments(() => empty)
    let a = A.initSyncState()
    let b = A.initSyncState()
    let messages = 0
    const t = performance.now()
    for (let round = 0; round < 50; round++) {
      let m1: Uint8Array | null
      ;[a, m1] = A.generateSyncMessage(full, a)
      if (m1) {
        messages++
        if (validated) await validator.validateSyncMessage(documentId, m1)
        ;[empty, b] = A.receiveSyncMessage(empty, b, m1)
      }
      let m2: Uint8Array | null
      ;[b, m2] = A.generateSyncMessage(empty, b)
      if (m2) [full, a] = A.receiveSyncMessage(full, a, m2)
      if (!m1 && !m2) break
    }
    const elapsed = performance.now() - t
    if (A.getHeads(empty).join() !== A.getHeads(full).join())
      throw new Error('first sync did not complete')
    return { ms: elapsed, messages }
  }
  const plain = await run(false)
  const validated = await run(true)
  console.log('\n-- first sync of a 10,000-event channel (one event per change) --')
  row('unvalidated', ms(plain.ms), `${plain.messages} messages`)
  row('validated', ms(validated.ms), `${validated.messages} messages`)
  row('validated / unvalidated', `${(validated.ms / plain.ms).toFixed(1)}x`)
  row('validated, per change', ms(validated.ms / n))
}

interface ReopenFixture {
  root: string
  spaceId: SpaceId
  channel: EventId
  expectedLatest: string[]
  members: number
  digest: string
  hashes: number
}

/** CPU time of this process (user + system), ms: steadier than wall time on a shared machine. */
function cpuMs(): number {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1000
}

/**
 * Cold open, measured in a fresh process (an app starting): one A.load of the document, the
 * events parsed back from their wire bytes (schema + id, no signature), the full replay.
 */
async function coldChild(f: ReopenFixture): Promise<Record<string, number>> {
  const saved = new Uint8Array(await readFile(join(f.root, 'doc.bin')))
  const blob = new Uint8Array(await readFile(join(f.root, 'events.bin')))
  const lengths = JSON.parse(await readFile(join(f.root, 'events.json'), 'utf8')) as number[]
  gc?.()
  const cpu0 = cpuMs()
  let t = performance.now()
  A.free(A.load(saved))
  const load = performance.now() - t
  t = performance.now()
  const events: SpaceEvent[] = []
  for (let i = 0, at = 0; i < lengths.length; at += lengths[i]!, i++) {
    const parsed = parseSignedEvent(blob.subarray(at, at + lengths[i]!))
    if (!parsed.ok) throw new Error('parse failed')
    events.push(parsed.event)
  }
  const parse = performance.now() - t
  t = performance.now()
  const state = reduce(f.spaceId, events)
  const replay = performance.now() - t
  const cpu = cpuMs() - cpu0
  if (stateDigest(state) !== f.digest) throw new Error('cold replay differs')
  return { load, parse, replay, cpu }
}

/** Reopen from the verified store, measured in a fresh process. */
async function reopenChild(f: ReopenFixture): Promise<Record<string, number>> {
  gc?.()
  const cpu0 = cpuMs()
  let t = performance.now()
  const store = new VerifiedStore(new FileStoreAdapter(f.root))
  const opened = await store.openCheckpoint(f.spaceId)
  const head = performance.now() - t
  const latest = await opened!.space.latestMessages(f.channel, 50)
  const firstScreen = performance.now() - t
  const firstScreenCpu = cpuMs() - cpu0
  if (latest.map((m) => m.id).join() !== f.expectedLatest.join())
    throw new Error('reopened latest messages differ from the replay')
  if (opened!.space.summary.members.size !== f.members)
    throw new Error('reopened summary differs from the replay')
  // The validator's known-valid hashes, needed before syncing (not for the first screen).
  t = performance.now()
  const verified = await store.loadVerified('doc')
  const hashes = performance.now() - t
  if (verified.size !== f.hashes) throw new Error('reopen lost the hashes')
  // Then the live reducer (to add events, or for the full state), read on demand.
  t = performance.now()
  const live = await opened!.space.reducer()
  const reducer = performance.now() - t
  const readyCpu = cpuMs() - cpu0
  t = performance.now()
  const state = live.state
  const fullState = performance.now() - t
  if (live.recomputes !== 0) throw new Error('reopen replayed')
  if (stateDigest(state) !== f.digest) throw new Error('reopened state differs from the replay')
  return { head, firstScreen, hashes, reducer, fullState, firstScreenCpu, readyCpu }
}

function runChild(kind: 'cold' | 'reopen', fixture: ReopenFixture): Record<string, number> {
  const run = spawnSync(
    process.execPath,
    ['--expose-gc', import.meta.filename, `--reopen-child=${kind}`],
    { input: JSON.stringify(fixture), encoding: 'utf8', stdio: ['pipe', 'pipe', 'inherit'] },
  )
  if (run.status !== 0) throw new Error(`${kind} child failed`)
  return JSON.parse(run.stdout) as Record<string, number>
}

async function reopenBench(devices: Device[], pool: Uint8Array[][]): Promise<void> {
  const n = Math.min(MAX, 100_000)
  for (const d of devices) d.own = { seq: 0, hash: undefined, bucket: undefined }
  const doc = await fill(devices, pool, n, 250)
  const saved = A.save(doc)
  // The reducer's real checkpoint of a 100k-event space (members, channels, ~90% messages,
  // reactions), saved with the document's change hashes, as the app saves it.
  const space = busySpace(n, { messages: 0.9, reactions: 0.1 })
  const wire = space.events.map((e) => encodeSignedEvent(e))
  const reducer = new SpaceReducer(space.spaceId)
  reducer.addAll(space.events)
  // What the first screen of the busiest channel shows, from the replay: its last 50 messages.
  const channel = [...reducer.state.containers.values()].find((c) => c.name === 'general')!.id
  const expectedLatest = [...reducer.state.messages.values()]
    .filter((m) => containerOf(m) === channel)
    .sort((a, b) => compareOrd(reducer.ord(a.id)!, reducer.ord(b.id)!))
    .slice(-50)
    .map((m) => m.id)
  // The document above batches 250 events per change; a chat space writes one per change, so
  // its store holds one verified hash per event: the real ones plus stand-ins up to n.
  const realHashes = A.getBackend(doc)
    .getChangesMeta([])
    .map((m) => m.hash)
  const perChangeHashes = [
    ...realHashes,
    ...Array.from(
      { length: n - realHashes.length },
      (_, i) => `e${(i + 1).toString(16).padStart(63, '0')}`,
    ),
  ]
  const root = await mkdtemp(join(tmpdir(), 'hearth-bench-'))
  try {
    const store = new VerifiedStore(new FileStoreAdapter(root))
    const t = performance.now()
    await store.saveCheckpoint(reducer, {
      heads: { doc: A.getHeads(doc) },
      verified: { doc: perChangeHashes },
    })
    const saveMs = performance.now() - t
    const stored = await new FileStoreAdapter(root).loadRange(['checkpoint', space.spaceId])
    const sizeOf = (match: (name: string) => boolean) =>
      stored.filter((e) => match(e.key[e.key.length - 1]!)).reduce((s, e) => s + e.data.length, 0)
    const headBytes = sizeOf((name) => name === 'head')
    const pageBytes = sizeOf((name) => name.startsWith('m.'))
    const pages = stored.filter((e) => e.key[e.key.length - 1]!.startsWith('m.')).length
    const reducerBytes = sizeOf((name) => name.startsWith('r.'))
    await writeFile(join(root, 'doc.bin'), saved)
    await writeFile(join(root, 'events.bin'), Buffer.concat(wire))
    await writeFile(join(root, 'events.json'), JSON.stringify(wire.map((w) => w.length)))
    const fixture: ReopenFixture = {
      root,
      spaceId: space.spaceId,
      channel,
      expectedLatest,
      members: reducer.state.members.size,
      digest: stateDigest(reducer.state),
      hashes: perChangeHashes.length,
    }
    const c = runChild('cold', fixture)
    const r = runChild('reopen', fixture)
    const cold = c['load']! + c['parse']! + c['replay']!
    console.log(`\n-- reopen ${n.toLocaleString('en')} events (each side in a fresh process) --`)
    row(
      'cold: one A.load of the document',
      ms(c['load']!),
      `${(saved.length / 1e6).toFixed(1)} MB, before any signature check`,
    )
    row('cold: parse the events (schema + id, no signature)', ms(c['parse']!))
    row('cold: full reducer replay of the events', ms(c['replay']!), 'reduce(spaceId, events)')
    row('cold total (A.load + parse + replay)', ms(cold))
    row(
      'reopen: the head',
      ms(r['head']!),
      `${(headBytes / 1e3).toFixed(1)} kB: members, containers, page index`,
    )
    row(
      'reopen until the latest 50 messages of a channel',
      ms(r['firstScreen']!),
      `${pages} pages of <= 1,000 messages, ${(pageBytes / 1e6).toFixed(1)} MB in all`,
    )
    row(
      'cold / reopen until the latest 50 messages',
      `${(cold / r['firstScreen']!).toFixed(1)}x`,
      cold / r['firstScreen']! >= 10 ? 'goal >= 10x: met' : 'goal >= 10x: MISSED',
    )
    row(
      'then: verified change hashes (100k changes)',
      ms(r['hashes']!),
      'what the validator needs before syncing',
    )
    row(
      'then: the live reducer, ready to add events',
      ms(r['reducer']!),
      `${(reducerBytes / 1e6).toFixed(1)} MB of chunks; re-verifies and replays nothing`,
    )
    row('then: its full state (message views built on first read)', ms(r['fullState']!))
    const everything = r['firstScreen']! + r['hashes']! + r['reducer']!
    row(
      'cold / (first screen + hashes + live reducer)',
      `${(cold / everything).toFixed(1)}x`,
      `${ms(everything)}: before the next event can be synced and added`,
    )
    row(
      'CPU time: cold / reopen until the latest 50 messages',
      `${(c['cpu']! / r['firstScreenCpu']!).toFixed(1)}x`,
      `${ms(c['cpu']!)} / ${ms(r['firstScreenCpu']!)} (steadier than wall time when loaded)`,
    )
    row(
      'CPU time: cold / (first screen + hashes + live reducer)',
      `${(c['cpu']! / r['readyCpu']!).toFixed(1)}x`,
      `${ms(c['cpu']!)} / ${ms(r['readyCpu']!)}`,
    )
    row('save: paged checkpoint + hashes', ms(saveMs))
  } finally {
    await rm(root, { recursive: true, force: true })
  }
}

async function bytesBench(devices: Device[]): Promise<void> {
  const n = 10_000
  const writers = devices.slice(0, 5)
  const perDevice = n / writers.length
  const byDevice: SpaceEvent[][] = []
  for (const d of writers) {
    const mine: SpaceEvent[] = []
    for (let i = 0; i < perDevice; i++) mine.push(await message(d.key))
    byDevice.push(mine)
  }
  const events = byDevice.flat()
  const json = events.reduce(
    (sum, e) =>
      sum + JSON.stringify({ ...e, sig: Buffer.from(e.sig).toString('base64url') }).length,
    0,
  )
  const wire = events.reduce((sum, e) => sum + encodeSignedEvent(e).length, 0)
  const measure = async (perChange: number): Promise<number> => {
    for (const d of writers) d.own = { seq: 0, hash: undefined, bucket: undefined }
    let doc: Doc = A.init()
    for (let i = 0; i < perDevice; i += perChange) {
      for (let w = 0; w < writers.length; w++) {
        const batch = byDevice[w]!.slice(i, i + perChange).map(encodeSignedEvent)
        const built = await buildSignedChange(
          doc,
          writers[w]!.key,
          writers[w]!.own,
          entriesOf(batch),
        )
        ;[doc] = A.applyChanges(doc, [built.change])
      }
    }
    return A.save(doc).length
  }
  // One event per change is the chat case; batches are what a bot or an import writes.
  const single = await measure(1)
  const batched = await measure(Math.min(MAX_EVENTS_PER_CHANGE, 100))
  console.log(
    `\n-- stored bytes per event (${n.toLocaleString('en')} message events, 5 devices) --`,
  )
  row('JSON of the event (sig as base64url)', `${(json / n).toFixed(0)} B`)
  row('wire (DAG-CBOR; the bucket holds it as base64url)', `${(wire / n).toFixed(0)} B`)
  row(
    'A.save, one event per change',
    `${(single / n).toFixed(0)} B`,
    `${(single / json).toFixed(2)}x the JSON`,
  )
  row(
    'A.save, 100 events per change',
    `${(batched / n).toFixed(0)} B`,
    `${(batched / json).toFixed(2)}x the JSON`,
  )
}

// BENCH_ONLY=reopen (or append, sync, bytes) runs one section.
const only = process.env['BENCH_ONLY']
const child = process.argv.find((a) => a.startsWith('--reopen-child='))?.split('=')[1]
if (child) {
  const fixture = JSON.parse(readFileSync(0, 'utf8')) as ReopenFixture
  const result = child === 'cold' ? await coldChild(fixture) : await reopenChild(fixture)
  process.stdout.write(JSON.stringify(result))
  process.exit(0)
}
const devices = await makeDevices(DEVICES)
const pool = await pools(devices, 500)
if (!only || only === 'append') for (const size of SIZES) await appendBench(size, devices, pool)
if (!only || only === 'sync') await firstSyncBench(devices)
if (!only || only === 'reopen') await reopenBench(devices, pool)
if (!only || only === 'bytes') await bytesBench(devices)
