// Graceful shutdown (issue 5 item 9): the real `hearth-router` command as a child process on
// the real devnet. A member writes as fast as it can; SIGTERM arrives mid-burst. The router
// must log its stop as JSON lines, exit 0, and every change it acknowledged must be on disk
// (read back from the data directory by a fresh Repo, no router involved).
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import * as A from '@automerge/automerge'
import { cbor, Repo } from '@automerge/automerge-repo'
import type { DocumentId } from '@automerge/automerge-repo'
import { startDevnet, type Devnet } from '@hearth/devnet'
import { generateDeviceKey } from '@hearth/identity'
import { ACK_TYPE, openRouterStorage, peerIdFor } from '@hearth/router'
import {
  createSignedDocument,
  encodeSignedEvent,
  importVerified,
  SignedWriter,
  signEvent,
  spaceDocumentId,
  type EventId,
} from '@hearth/sync'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buyTicket, eventIds, openClient, ticketUrl } from './support/router-peers.ts'

const main = fileURLToPath(new URL('../../services/router/src/main.ts', import.meta.url))

let devnet: Devnet
let dir: string
let child: ChildProcess | undefined
let repo: Repo | undefined

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hearth-router-shutdown-'))
  devnet = await startDevnet({ keyserver: false })
})

afterAll(async () => {
  child?.kill('SIGKILL')
  await repo?.shutdown().catch(() => undefined)
  await devnet?.close()
  if (dir) await rm(dir, { recursive: true, force: true })
})

interface Running {
  url: string
  did: string
  lines: Record<string, unknown>[]
  exited: Promise<number | null>
}

function startChild(): Promise<Running> {
  const proc = spawn(process.execPath, [main], {
    env: {
      ...process.env,
      HEARTH_DEV_MODE: '1',
      HEARTH_ROUTER_PORT: '0',
      HEARTH_PLC_URL: devnet.plc.url,
      HEARTH_ROUTER_DATA: dir,
      HEARTH_LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  child = proc
  const lines: Record<string, unknown>[] = []
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)))
  return new Promise((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`router exited early (${code})`)))
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const parsed = JSON.parse(line) as Record<string, unknown>
      lines.push(parsed)
      if (parsed.event === 'router.listening')
        resolve({ url: String(parsed.url), did: String(parsed.did), lines, exited })
    })
  })
}

describe('graceful shutdown', () => {
  it('SIGTERM during a burst of writes: exits 0, logs its stop, every acknowledged change is on disk', async () => {
    const router = await startChild()
    const did = devnet.accounts.alice.did
    const ticket = await buyTicket(devnet, devnet.accounts.alice, {
      url: router.url,
      audience: `${router.did}#hearth_router`,
    })
    const opened = await openClient(ticketUrl(ticket), peerIdFor(did, 'writer'), true, (r) => {
      repo = r
    })
    const { adapter, validator } = opened
    const acked = new Set<string>()
    let onAck = (): void => undefined
    adapter.socket!.addEventListener('message', (event) => {
      const frame = cbor.decode(new Uint8Array(event.data as ArrayBuffer)) as {
        type?: string
        changes?: string[]
      }
      if (frame.type !== ACK_TYPE) return
      for (const hash of frame.changes ?? []) acked.add(hash)
      onAck()
    })
    const waitAcks = (n: number): Promise<void> =>
      new Promise((resolve) => {
        onAck = () => {
          if (acked.size >= n) resolve()
        }
        onAck()
      })

    const key = (await generateDeviceKey()).key
    const genesis = await signEvent(key, {
      space: null,
      kind: 'genesis',
      author: did,
      parents: [],
      body: { mode: 'PUBLIC', name: 'Shutdown test', nonce: crypto.randomUUID() },
    })
    const documentId: DocumentId = spaceDocumentId(genesis.id)
    const handle = await importVerified(
      opened.repo,
      validator,
      documentId,
      await createSignedDocument(key, [encodeSignedEvent(genesis)]),
    )
    const writer = new SignedWriter(handle, key, {
      onWrite: (accepted) => validator.noteLocalWrite(documentId, accepted),
    })
    const eventOf = new Map<string, EventId>([[A.getHeads(handle.doc())[0]!, genesis.id]])
    await waitAcks(1)

    // Writes as fast as the writer goes, until the router is gone.
    let stop = false
    let last = genesis.id as EventId
    const writing = (async () => {
      for (let i = 0; !stop && i < 2000; i++) {
        const event = await signEvent(key, {
          space: genesis.id,
          kind: 'channel.create',
          author: did,
          parents: [last],
          body: { name: `c${i}` },
        })
        last = event.id
        eventOf.set(await writer.append([encodeSignedEvent(event)]), event.id)
        // Let the socket breathe so acknowledgements come back mid-burst.
        if (i % 5 === 4) await new Promise((resolve) => setImmediate(resolve))
      }
    })()
    await waitAcks(15)
    child!.kill('SIGTERM')
    const code = await router.exited
    stop = true
    await writing
    expect(code, JSON.stringify(router.lines.map((l) => [l.event, l.error]))).toBe(0)
    const events = router.lines.map((l) => l.event)
    expect(events).toContain('router.stopping')
    expect(events).toContain('router.stopped')
    for (const line of router.lines) {
      expect(typeof line.time).toBe('string')
      expect(['debug', 'info', 'warn', 'error']).toContain(line.level)
    }

    // Every acknowledged change, read back from the data directory alone.
    const storage = openRouterStorage({ dataDir: dir })
    const reader = new Repo({ storage, network: [] })
    try {
      const stored = await reader.find(documentId)
      const ids = eventIds(stored.doc())
      const ackedEvents = [...acked].map((hash) => eventOf.get(hash))
      expect(ackedEvents.every((id) => id !== undefined)).toBe(true)
      expect(ackedEvents.filter((id) => !ids.has(id!))).toEqual([])
      expect(acked.size).toBeGreaterThanOrEqual(15)
      // Writes in flight when the signal came were not acknowledged and need not be there.
    } finally {
      await reader.shutdown()
      storage.close()
    }
  })
})
