// S20 at the router level: a real `hearth-router` process on a real devnet, writer clients on
// real sockets pushing signed changes in bursts, SIGKILL of the router at seeded moments
// inside the bursts, restart on the same data directory. After every kill, with the router
// down, its SQLite store is opened directly and every document in it is loaded with
// `A.load`; every change the router acknowledged (`hearth-ack`) must be in its document.
// After the restart each writer reconnects and pushes again what was never acknowledged
// (as a client's outbox does); the router must acknowledge all of it before the next burst.
// Shared by `tests/integration/router-crash.test.ts` and `scripts/soak-crash.ts`.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import * as A from '@automerge/automerge'
import { cbor } from '@automerge/automerge-repo'
import type { DemoAccountName, Devnet } from '@hearth/devnet'
import { generateDeviceKey, type DeviceKey, type Did } from '@hearth/identity'
import {
  buildSignedChange,
  encodeSignedEvent,
  entriesOf,
  messageDocumentId,
  signEvent,
  spaceDocumentId,
  type EventId,
  type OwnState,
  type SpaceId,
} from '@hearth/sync'
import { Prng } from '@hearth/sync/testing'
import WebSocket from 'ws'
import {
  ACK_TYPE,
  CLIENT_PUSH_TYPE,
  LXM_CREATE_TICKET,
  MAX_CLIENT_PUSH_CHANGES,
  openRouterStorage,
  peerIdFor,
} from '../src/index.ts'

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url))

export interface RouterCrashOptions {
  devnet: Devnet
  kills: number
  seed: number
  /** Writers, one per demo account (at most 3), each with its own space. */
  writers?: number
  /** Largest burst per writer (each burst is 1..this many changes, one message each). */
  maxBurst?: number
  /** How long the router may take to acknowledge what was pushed again after a restart. */
  settleMs?: number
  onKill?: (report: KillReport) => void
  /**
   * Negative control: writers take a change as acknowledged the moment they send it (what a
   * router acknowledging before its write is durable would look like). The checks must then
   * find acknowledged changes missing after a kill, or they prove nothing.
   */
  ackOnSend?: boolean
  /** Ends the run after the current kill (a soak stopped early still reports). */
  signal?: AbortSignal
}

export interface KillReport {
  kill: number
  /** How the moment was chosen: after the n-th acknowledgement of the burst, or after t ms. */
  moment: string
  sentInBurst: number
  ackedInBurst: number
  /** Sent, not acknowledged when the router died. */
  unacknowledgedAtKill: number
  /** Of those, found on disk anyway (committed, the ack not sent yet) and lost. */
  unacknowledgedStored: number
  unacknowledgedLost: number
  documents: number
  restartMs: number
}

export interface RouterCrashResult {
  kills: number
  killsOnUnacknowledged: number
  sent: number
  acknowledged: number
  unacknowledgedStored: number
  unacknowledgedLost: number
  documentLoads: number
  ackChecks: number
  /** Connection attempts that failed and were retried (a loaded machine, a slow restart). */
  connectRetries: number
  failures: string[]
  durationMs: number
}

/** The router as a child process on a fixed port and data directory. */
class RouterProcess {
  readonly #env: NodeJS.ProcessEnv
  #child: ChildProcess | undefined
  #exited: Promise<void> = Promise.resolve()
  stderr = ''
  /** Set when the process ended without us killing it. */
  died: string | undefined

  constructor(env: NodeJS.ProcessEnv) {
    this.#env = env
  }

  async start(): Promise<{ url: string; did: string }> {
    const child = spawn(process.execPath, [MAIN], {
      env: { ...process.env, ...this.#env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    this.#child = child
    this.stderr = ''
    child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4000)
    })
    this.died = undefined
    this.#exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        if (this.#child === child) this.died = `exit ${code ?? signal}`
        resolve()
      }),
    )
    const lines = createInterface({ input: child.stdout! })
    try {
      return await new Promise((resolve, reject) => {
        child.once('exit', (code, signal) =>
          reject(new Error(`router exited (${code ?? signal}) at start: ${this.stderr}`)),
        )
        lines.on('line', (line) => {
          try {
            const parsed = JSON.parse(line) as { msg?: string; url?: string; did?: string }
            if (parsed.msg === 'hearth-router listening' && parsed.url && parsed.did)
              resolve({ url: parsed.url, did: parsed.did })
          } catch {
            // other output
          }
        })
      })
    } finally {
      // Keep draining stdout so the child never blocks on a full pipe.
      lines.removeAllListeners('line')
      child.stdout!.resume()
    }
  }

  /** SIGKILL, and wait until the process is gone (its lock on the database released). */
  async kill(): Promise<void> {
    const child = this.#child
    this.#child = undefined
    child?.kill('SIGKILL')
    await this.#exited
  }

  async stop(): Promise<void> {
    const child = this.#child
    if (!child) return
    this.#child = undefined
    child.kill('SIGTERM')
    await this.#exited
  }
}

interface Doc {
  id: string
  doc: A.Doc<unknown>
  own: OwnState
}

interface Sent {
  documentId: string
  hash: string
  change: A.Change
}

/** One device of one account: its own space and channel, writing messages into the channel. */
class Writer {
  readonly name: DemoAccountName
  readonly did: Did
  readonly peerId: string
  readonly key: DeviceKey
  readonly #devnet: Devnet
  #agent: Awaited<ReturnType<Devnet['login']>> | undefined
  #ws: WebSocket | undefined
  #routerPeerId = ''
  space!: Doc
  messages!: Doc
  spaceId!: SpaceId
  channel: EventId | undefined
  /** Sent and not acknowledged, in the order sent. */
  readonly pending = new Map<string, Sent>()
  /** Every acknowledged change, by document. */
  readonly acked = new Map<string, Set<string>>()
  readonly #ackListeners = new Set<() => void>()
  #count = 0

  readonly #ackOnSend: boolean

  constructor(devnet: Devnet, name: DemoAccountName, key: DeviceKey, ackOnSend = false) {
    this.#devnet = devnet
    this.#ackOnSend = ackOnSend
    this.name = name
    this.did = devnet.accounts[name].did
    this.peerId = peerIdFor(this.did, 'crash')
    this.key = key
  }

  get ackedCount(): number {
    let n = 0
    for (const set of this.acked.values()) n += set.size
    return n
  }

  async connect(router: { url: string; did: string }): Promise<void> {
    this.#agent ??= await this.#devnet.login(this.#devnet.accounts[this.name])
    const { data } = await this.#agent.com.atproto.server.getServiceAuth({
      aud: `${router.did}#hearth_router`,
      lxm: LXM_CREATE_TICKET,
    })
    const res = await fetch(`${router.url}/xrpc/${LXM_CREATE_TICKET}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${data.token}` },
    })
    if (res.status !== 200) throw new Error(`ticket: ${res.status} ${await res.text()}`)
    const body = (await res.json()) as { ticket: string; url: string }
    const ws = new WebSocket(`${body.url}?ticket=${encodeURIComponent(body.ticket)}`)
    this.#ws = ws
    ws.on('error', () => undefined) // the router dies under us on purpose
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
    })
    const joined = new Promise<void>((resolve, reject) => {
      ws.once('close', () => reject(new Error(`${this.name}: closed before joining`)))
      ws.on('message', (data: Buffer) => {
        const frame = cbor.decode(new Uint8Array(data)) as Record<string, unknown>
        if (frame.type === 'peer') {
          this.#routerPeerId = String(frame.senderId)
          resolve()
        } else if (frame.type === 'error') {
          reject(new Error(`${this.name}: ${String(frame.message)}`))
        } else if (frame.type === ACK_TYPE && Array.isArray(frame.changes)) {
          this.#ack(String(frame.documentId), frame.changes as string[])
        }
      })
    })
    ws.send(
      cbor.encode({
        type: 'join',
        senderId: this.peerId,
        peerMetadata: {},
        supportedProtocolVersions: ['1'],
      }),
    )
    await joined
  }

  disconnect(): void {
    this.#ws?.terminate()
    this.#ws = undefined
  }

  #ack(documentId: string, hashes: string[]): void {
    let set = this.acked.get(documentId)
    if (!set) this.acked.set(documentId, (set = new Set()))
    for (const hash of hashes) {
      set.add(hash)
      this.pending.delete(hash)
    }
    for (const listener of [...this.#ackListeners]) listener()
  }

  /** Resolves once nothing sent is waiting for its acknowledgement (false if `ms` passed). */
  settled(ms: number): Promise<boolean> {
    if (this.pending.size === 0) return Promise.resolve(true)
    return new Promise((resolve) => {
      const stop = this.onAck(() => {
        if (this.pending.size > 0) return
        clearTimeout(timer)
        stop()
        resolve(true)
      })
      const timer = setTimeout(() => {
        stop()
        resolve(false)
      }, ms)
    })
  }

  /** Calls `listener` after each acknowledgement frame; returns its removal. */
  onAck(listener: () => void): () => void {
    this.#ackListeners.add(listener)
    return () => this.#ackListeners.delete(listener)
  }

  #send(frame: object): void {
    this.#ws?.send(cbor.encode(frame))
  }

  async #build(target: Doc, kind: 'genesis' | 'channel.create' | 'message'): Promise<Sent> {
    const event = await signEvent(this.key, {
      space: kind === 'genesis' ? null : this.spaceId,
      kind,
      author: this.did,
      parents: kind === 'genesis' ? [] : [this.channel ?? (this.spaceId as unknown as EventId)],
      body: (kind === 'genesis'
        ? { mode: 'PUBLIC', name: `${this.name}'s crash space`, nonce: crypto.randomUUID() }
        : kind === 'channel.create'
          ? { name: 'general' }
          : { text: `${this.name} #${++this.#count}`, channel: this.channel }) as never,
    })
    if (kind === 'genesis') {
      this.spaceId = event.id as SpaceId
      target.id = spaceDocumentId(event.id)
    }
    const built = await buildSignedChange(
      target.doc,
      this.key,
      target.own,
      entriesOf([encodeSignedEvent(event)]),
    )
    target.doc = A.applyChanges(target.doc, [built.change])[0]
    if (kind === 'channel.create') this.channel = event.id
    return { documentId: target.id, hash: built.hash, change: built.change }
  }

  /** A new document reaches the router as a sync message holding its first change. */
  #create(sent: Sent): void {
    this.pending.set(sent.hash, sent)
    this.#send({
      type: 'sync',
      senderId: this.peerId,
      targetId: this.#routerPeerId,
      documentId: sent.documentId,
      data: A.encodeSyncMessage({ heads: [], need: [], have: [], changes: [sent.change] }),
    })
  }

  #push(batch: Sent[]): void {
    for (const sent of batch) this.pending.set(sent.hash, sent)
    this.#send({
      type: CLIENT_PUSH_TYPE,
      senderId: this.peerId,
      targetId: this.#routerPeerId,
      documentId: batch[0]!.documentId,
      changes: batch.map((s) => s.change),
    })
    if (this.#ackOnSend)
      this.#ack(
        batch[0]!.documentId,
        batch.map((s) => s.hash),
      )
  }

  /** The space, its channel and the channel's first message document, each acknowledged. */
  async setUp(settleMs: number): Promise<void> {
    const fresh = (): Doc => ({
      id: '',
      doc: A.init<unknown>(),
      own: { seq: 0, hash: undefined, bucket: undefined },
    })
    this.space = fresh()
    this.#create(await this.#build(this.space, 'genesis'))
    if (!(await this.settled(settleMs))) throw new Error(`${this.name}: genesis not acknowledged`)
    this.#push([await this.#build(this.space, 'channel.create')])
    if (!(await this.settled(settleMs))) throw new Error(`${this.name}: channel not acknowledged`)
    this.messages = fresh()
    this.messages.id = messageDocumentId(this.spaceId, this.channel!, 0)
    this.#create(await this.#build(this.messages, 'message'))
    if (!(await this.settled(settleMs)))
      throw new Error(`${this.name}: message document not acknowledged`)
  }

  /** One signed message per change, each pushed as soon as it is signed. */
  async burst(size: number, onSent: () => void): Promise<number> {
    let sent = 0
    for (let i = 0; i < size; i++) {
      if (!this.#ws || this.#ws.readyState !== WebSocket.OPEN) break
      this.#push([await this.#build(this.messages, 'message')])
      sent++
      onSent()
    }
    return sent
  }

  /** After a restart: everything never acknowledged, again, in order (a client's outbox). */
  resend(): void {
    const byDocument = new Map<string, Sent[]>()
    for (const sent of this.pending.values()) {
      const list = byDocument.get(sent.documentId) ?? []
      list.push(sent)
      byDocument.set(sent.documentId, list)
    }
    for (const list of byDocument.values())
      for (let i = 0; i < list.length; i += MAX_CLIENT_PUSH_CHANGES)
        this.#push(list.slice(i, i + MAX_CLIENT_PUSH_CHANGES))
  }
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error)
  const cause = error.cause instanceof Error ? ` (${error.cause.message})` : ''
  return error.message + cause
}

/** A client reconnects until it gets in; the router dying meanwhile ends the run. */
async function connectWithRetry(
  writer: Writer,
  address: { url: string; did: string },
  router: RouterProcess,
  result: RouterCrashResult,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await writer.connect(address)
      return
    } catch (error) {
      writer.disconnect()
      if (router.died)
        throw new Error(`the router died (${router.died}): ${router.stderr.slice(-2000)}`, {
          cause: error,
        })
      if (attempt >= 5)
        throw new Error(`${writer.name} cannot connect: ${describeError(error)}`, { cause: error })
      result.connectRetries++
      await new Promise((resolve) => setTimeout(resolve, 250 * attempt))
    }
  }
}

/** A loopback port free right now (the router is restarted on the same one). */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** What the dead router left on disk: every document loaded, as automerge-repo would. */
async function inspectStore(
  dataDir: string,
  failures: string[],
): Promise<Map<string, A.Doc<unknown>>> {
  const storage = openRouterStorage({
    dataDir,
    onCorruptChunk: (event) =>
      failures.push(`corrupt chunk ${(event.key ?? []).join('/')}: ${event.reason}`),
  })
  try {
    const chunks = new Map<string, { snapshots: Uint8Array[]; incrementals: Uint8Array[] }>()
    for (const { key, data } of await storage.loadRange([])) {
      const [documentId, kind] = key
      if (!data || (kind !== 'snapshot' && kind !== 'incremental')) continue
      const entry = chunks.get(documentId!) ?? { snapshots: [], incrementals: [] }
      ;(kind === 'snapshot' ? entry.snapshots : entry.incrementals).push(data)
      chunks.set(documentId!, entry)
    }
    const docs = new Map<string, A.Doc<unknown>>()
    for (const [documentId, { snapshots, incrementals }] of chunks) {
      try {
        const parts = [...snapshots, ...incrementals]
        const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
        let offset = 0
        for (const part of parts) {
          bytes.set(part, offset)
          offset += part.length
        }
        const doc = A.load(bytes)
        // What automerge-repo does after loading: the document saves and loads again whole.
        A.load(A.save(doc))
        docs.set(documentId, doc)
      } catch (error) {
        failures.push(`stored document ${documentId} does not load: ${String(error)}`)
      }
    }
    return docs
  } finally {
    storage.close()
  }
}

export async function runRouterCrash(options: RouterCrashOptions): Promise<RouterCrashResult> {
  const started = Date.now()
  const prng = new Prng(options.seed)
  const maxBurst = options.maxBurst ?? 16
  const settleMs = options.settleMs ?? 20_000
  const names = (['alice', 'bob', 'carol'] as const).slice(0, options.writers ?? 3)
  const dataDir = await mkdtemp(join(tmpdir(), 'hearth-router-crash-'))
  const router = new RouterProcess({
    HEARTH_ROUTER_PORT: String(await freePort()),
    HEARTH_ROUTER_DATA: dataDir,
    HEARTH_PLC_URL: options.devnet.plc.url,
    HEARTH_DEV_MODE: '1',
  })
  const result: RouterCrashResult = {
    kills: 0,
    killsOnUnacknowledged: 0,
    sent: 0,
    acknowledged: 0,
    unacknowledgedStored: 0,
    unacknowledgedLost: 0,
    documentLoads: 0,
    ackChecks: 0,
    connectRetries: 0,
    failures: [],
    durationMs: 0,
  }
  const writers: Writer[] = []
  try {
    let address = await router.start()
    for (const name of names)
      writers.push(
        new Writer(options.devnet, name, (await generateDeviceKey()).key, options.ackOnSend),
      )
    for (const writer of writers) await connectWithRetry(writer, address, router, result)
    await Promise.all(writers.map((w) => w.setUp(settleMs)))

    for (
      let kill = 0;
      kill < options.kills && result.failures.length === 0 && !options.signal?.aborted;
      kill++
    ) {
      // The moment: after a seeded number of acknowledgements within the burst, or after a
      // seeded delay (which may fall before the first write or after the last ack).
      const sizes = writers.map(() => 1 + prng.int(maxBurst))
      const total = sizes.reduce((a, b) => a + b, 0)
      const byAck = prng.chance(0.6)
      const threshold = byAck ? prng.int(total) : prng.int(40)
      const moment = byAck ? `after ack ${threshold}/${total}` : `after ${threshold} ms`
      const ackedBefore = writers.reduce((n, w) => n + w.ackedCount, 0)
      let sentInBurst = 0
      let fire: () => void = () => undefined
      const due = new Promise<void>((resolve) => (fire = resolve))
      const check = () => {
        if (writers.reduce((n, w) => n + w.ackedCount, 0) - ackedBefore >= threshold) fire()
      }
      const stops: Array<() => void> = []
      if (byAck) {
        for (const writer of writers) stops.push(writer.onAck(check))
        check()
      } else {
        const timer = setTimeout(fire, threshold)
        stops.push(() => clearTimeout(timer))
      }
      const bursts = Promise.all(
        writers.map((w, i) => w.burst(sizes[i]!, () => sentInBurst++)),
      ).then(() => undefined)
      // Never wait past the burst's end plus its acks: kill then anyway (all acknowledged).
      await Promise.race([due, bursts.then(() => Promise.all(writers.map((w) => w.settled(2000))))])
      await router.kill()
      result.kills++
      for (const stop of stops) stop()
      for (const writer of writers) writer.disconnect()
      await bursts
      const ackedInBurst = writers.reduce((n, w) => n + w.ackedCount, 0) - ackedBefore
      const unacknowledged = writers.flatMap((w) => [...w.pending.values()])
      if (unacknowledged.length > 0) result.killsOnUnacknowledged++

      // The router is down: its store, read directly.
      const docs = await inspectStore(dataDir, result.failures)
      result.documentLoads += docs.size
      for (const writer of writers) {
        for (const [documentId, hashes] of writer.acked) {
          const doc = docs.get(documentId)
          if (!doc) {
            result.failures.push(`kill ${kill}: acknowledged document ${documentId} is gone`)
            continue
          }
          for (const hash of hashes) {
            result.ackChecks++
            if (!A.hasHeads(doc, [hash]))
              result.failures.push(
                `kill ${kill}: acknowledged change ${hash} of ${documentId} lost`,
              )
          }
        }
      }
      let stored = 0
      for (const sent of unacknowledged) {
        const doc = docs.get(sent.documentId)
        if (doc && A.hasHeads(doc, [sent.hash])) stored++
      }
      result.unacknowledgedStored += stored
      result.unacknowledgedLost += unacknowledged.length - stored

      const restartStarted = Date.now()
      address = await router.start()
      const restartMs = Date.now() - restartStarted
      for (const writer of writers) await connectWithRetry(writer, address, router, result)
      for (const writer of writers) writer.resend()
      const settled = await Promise.all(writers.map((w) => w.settled(settleMs)))
      settled.forEach((ok, i) => {
        if (!ok)
          result.failures.push(
            `kill ${kill}: ${writers[i]!.name}'s ${writers[i]!.pending.size} changes never acknowledged after the restart`,
          )
      })
      options.onKill?.({
        kill,
        moment,
        sentInBurst,
        ackedInBurst,
        unacknowledgedAtKill: unacknowledged.length,
        unacknowledgedStored: stored,
        unacknowledgedLost: unacknowledged.length - stored,
        documents: docs.size,
        restartMs,
      })
    }
  } catch (error) {
    result.failures.push(`harness: ${describeError(error)}`)
  } finally {
    result.sent = writers.reduce((n, w) => n + w.ackedCount + w.pending.size, 0)
    result.acknowledged = writers.reduce((n, w) => n + w.ackedCount, 0)
    for (const writer of writers) writer.disconnect()
    await router.stop()
    await rm(dataDir, { recursive: true, force: true })
    result.durationMs = Date.now() - started
  }
  return result
}
