// Automerge storage of space events: append, validation, first sync, reopen, bytes per event.
//   npm run bench -- automerge      (BENCH_MAX=10000 to stop at 10k events; BENCH_ONLY=reopen)
import { mkdtemp, rm } from 'node:fs/promises'
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

async function reopenBench(devices: Device[], pool: Uint8Array[][]): Promise<void> {
  const n = Math.min(MAX, 100_000)
  for (const d of devices) d.own = { seq: 0, hash: undefined, bucket: undefined }
  const doc = await fill(devices, pool, n, 250)
  const saved = A.save(doc)
  gc?.()
  let t = performance.now()
  const loaded = A.load(saved)
  const coldMs = performance.now() - t
  A.free(loaded)
  // The reducer's real checkpoint of a 100k-event space (members, channels, ~90% messages,
  // reactions), saved with the document's change hashes, as the app saves it.
  const space = busySpace(n, { messages: 0.9, reactions: 0.1 })
  // A cold open also turns the document's entries back into events (schema + id, no signature).
  const wire = space.events.map((e) => encodeSignedEvent(e))
  gc?.()
  let t0 = performance.now()
  for (const bytes of wire) if (!parseSignedEvent(bytes).ok) throw new Error('parse failed')
  const parseMs = performance.now() - t0
  gc?.()
  t0 = performance.now()
  reduce(space.spaceId, space.events)
  const replayMs = performance.now() - t0
  const reducer = new SpaceReducer(space.spaceId)
  reducer.addAll(space.events)
  const digest = stateDigest(reducer.state)
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
    ...Array.from({ length: n - realHashes.length }, (_, i) =>
      (i + 1).toString(16).padStart(64, 'f'),
    ),
  ]
  const root = await mkdtemp(join(tmpdir(), 'hearth-bench-'))
  try {
    const store = new VerifiedStore(new FileStoreAdapter(root))
    t = performance.now()
    await store.saveCheckpoint(reducer, {
      heads: { doc: A.getHeads(doc) },
      verified: { doc: perChangeHashes },
    })
    const saveMs = performance.now() - t
    const adapter = new FileStoreAdapter(root)
    const stored = await adapter.loadRange(['checkpoint', space.spaceId])
    const sizeOf = (match: (name: string) => boolean) =>
      stored.filter((e) => match(e.key[e.key.length - 1]!)).reduce((s, e) => s + e.data.length, 0)
    const headBytes = sizeOf((name) => name === 'head')
    const pageBytes = sizeOf((name) => name.startsWith('m.'))
    const pages = stored.filter((e) => e.key[e.key.length - 1]!.startsWith('m.')).length
    const reducerBytes = sizeOf((name) => name.startsWith('r.'))
    stored.length = 0
    gc?.()
    // Reopen until the first screen of a channel is available: the head (space summary and
    // page index) and the latest 50 messages of the channel.
    t = performance.now()
    const reopenStore = new VerifiedStore(new FileStoreAdapter(root))
    const opened = await reopenStore.openCheckpoint(space.spaceId)
    const headMs = performance.now() - t
    const latest = await opened!.space.latestMessages(channel, 50)
    const firstScreenMs = performance.now() - t
    if (latest.map((m) => m.id).join() !== expectedLatest.join())
      throw new Error('reopened latest messages differ from the replay')
    if (opened!.space.summary.members.size !== reducer.state.members.size)
      throw new Error('reopened summary differs from the replay')
    // The validator's known-valid hashes, needed before syncing (not for the first screen).
    // With one event per change (chat) a 100k-event space has 100k of them.
    t = performance.now()
    const verified = await reopenStore.loadVerified('doc')
    const verifiedMs = performance.now() - t
    if (verified.size !== perChangeHashes.length) throw new Error('reopen lost the hashes')
    // Then the live reducer (to add events, or for the full state), read on demand.
    gc?.()
    t = performance.now()
    const live = await opened!.space.reducer()
    const state = live.state
    const reducerMs = performance.now() - t
    if (live.recomputes !== 0) throw new Error('reopen replayed')
    if (stateDigest(state) !== digest) throw new Error('reopened state differs from the replay')
    const cold = coldMs + parseMs + replayMs
    console.log(`\n-- reopen ${n.toLocaleString('en')} events --`)
    row(
      'cold: one A.load of the document',
      ms(coldMs),
      `${(saved.length / 1e6).toFixed(1)} MB, before any signature check`,
    )
    row('cold: parse the events (schema + id, no signature)', ms(parseMs))
    row('cold: full reducer replay of the events', ms(replayMs), 'reduce(spaceId, events)')
    row('cold total (A.load + parse + replay)', ms(cold))
    row(
      'reopen: the head',
      ms(headMs),
      `${(headBytes / 1e3).toFixed(1)} kB: members, containers, page index`,
    )
    row(
      'reopen until the latest 50 messages of a channel',
      ms(firstScreenMs),
      `${pages} pages of <= 1,000 messages, ${(pageBytes / 1e6).toFixed(1)} MB in all`,
    )
    row(
      'cold / reopen until the latest 50 messages',
      `${(cold / firstScreenMs).toFixed(1)}x`,
      cold / firstScreenMs >= 10 ? 'goal >= 10x: met' : 'goal >= 10x: MISSED',
    )
    row(
      'then: verified change hashes (100k changes)',
      ms(verifiedMs),
      'what the validator needs before syncing',
    )
    row(
      'then: the live reducer + full state (on demand)',
      ms(reducerMs),
      `${(reducerBytes / 1e6).toFixed(1)} MB of chunks; re-verifies and replays nothing`,
    )
    const everything = firstScreenMs + verifiedMs + reducerMs
    row(
      'cold / (first screen + hashes + live reducer)',
      `${(cold / everything).toFixed(1)}x`,
      `${ms(everything)}: before the next event can be synced and added`,
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
const devices = await makeDevices(DEVICES)
const pool = await pools(devices, 500)
if (!only || only === 'append') for (const size of SIZES) await appendBench(size, devices, pool)
if (!only || only === 'sync') await firstSyncBench(devices)
if (!only || only === 'reopen') await reopenBench(devices, pool)
if (!only || only === 'bytes') await bytesBench(devices)
