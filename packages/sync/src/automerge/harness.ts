import * as A from '@automerge/automerge'
import type { DocHandle, DocumentId } from '@automerge/automerge-repo'
import { generateDeviceKey } from '@hearth/identity'
import type { DeviceKey } from '@hearth/identity'
import { Prng } from '../harness/prng.ts'
import { base64urlEncode } from './base64url.ts'
import { importVerified } from './change-validator.ts'
import {
  actorIdFromKeyId,
  actorIdFromPublicKey,
  bucketKey,
  parseBucketKey,
  spaceDocumentId,
} from './layout.ts'
import { MemoryLinkAdapter } from './memory-network.ts'
import type { Deliver } from './memory-network.ts'
import {
  buildSignedChange,
  createSignedDocument,
  entriesOf,
  SignedWriter,
} from './signed-writer.ts'
import {
  craftByMutation,
  craftSignedChange,
  createPlainRepo,
  createValidatedPeer,
  entriesIn,
  makeTestEvent,
  readTestEvent,
  syncMessageWith,
  verifyTestEvent,
} from './testing.ts'
import type { ValidatedPeer } from './testing.ts'

/**
 * The seeded harness through real Automerge: real Repos behind validators, over in-memory
 * links whose delivery a seeded scheduler delays (links stay ordered and reliable, as a
 * WebSocket is), with partitions and heals, while a malicious device uses the stock client
 * and raw Automerge to send crafted changes. At the end every link heals and every honest
 * replica must end identical, hold every honest event, hold no invalid event, and load after
 * A.load(A.save(doc)); no honest peer may have refused another honest peer.
 */

type Doc = Record<string, unknown>

export interface AutomergeSeedReport {
  seed: number
  honestEvents: number
  attacks: Record<string, number>
  partitions: number
  refused: number
  failure: string | null
}

interface Honest {
  peer: ValidatedPeer
  handle: DocHandle<Doc>
  writer: SignedWriter
  written: string[]
}

const ATTACKS = [
  'delete',
  'overwrite',
  'foreign-insert',
  'unsigned',
  'actor-reuse',
  'seq-gap',
  'startop-reuse',
  'missing-list',
  'forged-event',
  'shadow-map',
] as const

type Attack = (typeof ATTACKS)[number]

function seededDeliver(prng: Prng): Deliver {
  // FIFO per link, each delivery after a random short delay: reorders across links only.
  const queue: (() => void)[] = []
  return (deliver) => {
    queue.push(deliver)
    setTimeout(() => queue.shift()?.(), prng.int(4))
  }
}

export async function runAutomergeSeed(
  seed: number,
  options: { steps?: number; timeoutMs?: number } = {},
): Promise<AutomergeSeedReport> {
  const prng = new Prng(seed)
  const steps = options.steps ?? 14
  const report: AutomergeSeedReport = {
    seed,
    honestEvents: 0,
    attacks: {},
    partitions: 0,
    refused: 0,
    failure: null,
  }
  const names = ['alice', 'bob', 'carol'].slice(0, 2 + prng.int(2))
  const peers = await Promise.all(names.map((name) => createValidatedPeer(name)))
  const documentId = spaceDocumentId(`harness-${seed}`) as DocumentId
  const links = new Map<string, MemoryLinkAdapter[]>()
  const connect = (a: ValidatedPeer, b: ValidatedPeer) => {
    const [x, y] = MemoryLinkAdapter.pair(seededDeliver(prng))
    a.link(x)
    b.link(y)
    links.set(`${a.name}|${b.name}`, [x, y])
  }
  for (let i = 0; i < peers.length; i++)
    for (let j = i + 1; j < peers.length; j++) connect(peers[i]!, peers[j]!)

  const mallory = createPlainRepo('mallory')
  const malloryKey: DeviceKey = (await generateDeviceKey()).key
  // Mallory reconnects before each attack (a new socket: a ban holds per connection here;
  // the router binds peers to DIDs), so every attack meets a validator.
  let fromMallory: MemoryLinkAdapter | undefined
  const reconnectMallory = async () => {
    fromMallory?.cut()
    const [toTarget, fromM] = MemoryLinkAdapter.pair(seededDeliver(prng))
    prng.pick(peers).link(toTarget)
    mallory.link(fromM)
    fromMallory = fromM
    await new Promise((resolve) => setTimeout(resolve, 1))
  }

  const creator = peers[0]!
  const genesis = await createSignedDocument(creator.key, [
    await makeTestEvent(creator.key, `genesis ${seed}`),
  ])
  // Everyone starts from the genesis document (an invitation carries it), so no peer races
  // a `find` against links that are still being announced.
  const honest: Honest[] = []
  for (const peer of peers) {
    const handle = await importVerified<Doc>(peer.repo, peer.validator, documentId, genesis)
    const writer = new SignedWriter(handle as DocHandle<unknown>, peer.key, {
      onWrite: (accepted) => peer.validator.noteLocalWrite(documentId, accepted),
    })
    honest.push({ peer, handle, writer, written: peer === creator ? [`genesis ${seed}`] : [] })
  }
  const malloryHandle = mallory.repo.import<Doc>(genesis, { docId: documentId })
  let eventCounter = 0

  const attack = async (kind: Attack): Promise<void> => {
    report.attacks[kind] = (report.attacks[kind] ?? 0) + 1
    await reconnectMallory()
    const link = fromMallory!
    const doc = malloryHandle.doc()
    const victimKey = Object.keys(doc).find((k) => {
      const parsed = parseBucketKey(k)
      return parsed && parsed.actor !== actorIdFromPublicKey(malloryKey.publicKey)
    })
    const mActor = actorIdFromPublicKey(malloryKey.publicKey)
    const heads = A.getHeads(doc)
    const backend = A.getBackend(doc)
    const maxOp = Math.max(0, ...heads.map((h) => backend.getChangeMetaByHash(h)?.maxOp ?? 0))
    const entry = base64urlEncode(await makeTestEvent(malloryKey, `evil ${eventCounter++}`))
    let change: A.Change | undefined
    let raw = false
    switch (kind) {
      case 'delete':
        if (victimKey)
          change = await craftByMutation(doc, malloryKey, (d) =>
            (d[victimKey] as unknown[]).splice(0, 1),
          )
        break
      case 'overwrite':
        if (victimKey)
          change = await craftByMutation(
            doc,
            malloryKey,
            (d) => ((d[victimKey] as unknown[])[0] = new A.ImmutableString(entry)),
          )
        break
      case 'foreign-insert':
        if (victimKey)
          change = await craftByMutation(doc, malloryKey, (d) =>
            (d[victimKey] as unknown[]).unshift(new A.ImmutableString(entry)),
          )
        break
      case 'unsigned':
        malloryHandle.change((d) => {
          d[`unsigned-${eventCounter}`] = 'x'
        })
        return
      case 'actor-reuse': {
        const victim = victimKey ? parseBucketKey(victimKey)!.actor : mActor
        change = await craftSignedChange(malloryKey, {
          actor: victim,
          seq: 50,
          startOp: maxOp + 1,
          deps: heads,
          ops: [
            {
              action: 'set',
              obj: `1@${victim}`,
              elemId: '_head',
              insert: true,
              value: entry,
              pred: [],
            },
          ],
        })
        raw = true
        break
      }
      case 'seq-gap':
      case 'startop-reuse':
      case 'missing-list': {
        const seq = kind === 'seq-gap' ? 7 : 1
        const startOp = kind === 'startop-reuse' ? 1 : maxOp + 1
        const ops: unknown[] =
          kind === 'missing-list'
            ? [
                {
                  action: 'set',
                  obj: `${maxOp + 40}@${mActor}`,
                  elemId: '_head',
                  insert: true,
                  value: entry,
                  pred: [],
                },
              ]
            : [
                { action: 'makeList', obj: '_root', key: bucketKey(mActor, 0), pred: [] },
                {
                  action: 'set',
                  obj: `${startOp}@${mActor}`,
                  elemId: '_head',
                  insert: true,
                  value: entry,
                  pred: [],
                },
              ]
        change = await craftSignedChange(malloryKey, { seq, startOp, deps: heads, ops })
        raw = true
        break
      }
      case 'forged-event': {
        const event = await makeTestEvent(malloryKey, 'forged')
        event[event.length - 3] ^= 1
        change = (
          await buildSignedChange(
            doc,
            malloryKey,
            { seq: 0, hash: undefined, bucket: undefined },
            entriesOf([event]),
          )
        ).change
        raw = true
        break
      }
      case 'shadow-map':
        change = await craftSignedChange(malloryKey, {
          seq: 1,
          startOp: 1,
          deps: [],
          ops: [{ action: 'makeMap', obj: '_root', key: victimKey ?? 'buckets', pred: [] }],
        })
        raw = true
        break
    }
    if (!change) return
    if (raw) {
      link.inject({ type: 'sync', documentId, data: syncMessageWith([change]) })
    } else {
      try {
        malloryHandle.update((d) => A.applyChanges(d, [change])[0])
      } catch {
        link.inject({ type: 'sync', documentId, data: syncMessageWith([change]) })
      }
    }
  }

  try {
    for (let step = 0; step < steps; step++) {
      const roll = prng.next()
      if (roll < 0.55) {
        const h = prng.pick(honest)
        const texts = Array.from(
          { length: 1 + prng.int(3) },
          () => `${h.peer.name} ${eventCounter++}`,
        )
        const events = await Promise.all(texts.map((t) => makeTestEvent(h.peer.key, t)))
        await h.writer.append(events)
        h.written.push(...texts)
      } else if (roll < 0.7 && peers.length > 1) {
        const [a, b] = prng.shuffle(peers).slice(0, 2) as [ValidatedPeer, ValidatedPeer]
        const key = links.has(`${a.name}|${b.name}`) ? `${a.name}|${b.name}` : `${b.name}|${a.name}`
        const link = links.get(key)
        if (link) {
          link[0]!.cut()
          links.delete(key)
          report.partitions++
        } else {
          connect(a, b)
        }
      } else {
        await attack(prng.pick(ATTACKS))
      }
      await new Promise((resolve) => setTimeout(resolve, prng.int(5)))
    }
    // Heal: every honest pair connected again.
    for (let i = 0; i < peers.length; i++)
      for (let j = i + 1; j < peers.length; j++) {
        const a = peers[i]!
        const b = peers[j]!
        if (!links.has(`${a.name}|${b.name}`) && !links.has(`${b.name}|${a.name}`)) connect(a, b)
      }
    const expected = honest.flatMap((h) => h.written).sort()
    report.honestEvents = expected.length
    await converge(honest, expected, options.timeoutMs ?? 20_000)
    await checkReplicas(honest, expected)
    for (const h of honest) {
      const bad = h.peer.rejections.filter((r) => r.peerId !== 'mallory' && r.kind === 'invalid')
      if (bad.length > 0)
        throw new Error(`${h.peer.name} refused an honest peer: ${bad[0]!.reason}`)
      report.refused += h.peer.rejections.filter((r) => r.peerId === 'mallory').length
    }
  } catch (error) {
    report.failure = error instanceof Error ? error.message : String(error)
  } finally {
    fromMallory?.cut()
    for (const peer of peers) peer.repo.networkSubsystem.disconnect()
    mallory.repo.networkSubsystem.disconnect()
  }
  return report
}

function textsOf(doc: Doc): string[] {
  return entriesIn(doc)
    .map((bytes) => readTestEvent(bytes).text)
    .sort()
}

function converge(honest: Honest[], expected: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const docs = honest.map((h) => (h.handle.isReady() ? h.handle.doc() : undefined))
      if (docs.some((d) => !d)) return
      const heads = docs.map((d) => JSON.stringify(A.getHeads(d!)))
      if (new Set(heads).size !== 1) return
      const texts = textsOf(docs[0]!)
      if (!expected.every((t) => texts.includes(t))) return
      done()
      resolve()
    }
    const timer = setTimeout(() => {
      done()
      const summary = honest.map(
        (h) =>
          `${h.peer.name}: ${textsOf(h.handle.doc()).length} events, heads ${A.getHeads(
            h.handle.doc(),
          )
            .map((x) => x.slice(0, 8))
            .join(
              ',',
            )}, refused ${JSON.stringify(h.peer.rejections.map((r) => [r.peerId, r.kind, r.reason.slice(0, 60)]))}`,
      )
      reject(
        new Error(
          `no convergence after ${timeoutMs} ms (${summary.join('; ')}; expected ${expected.length})`,
        ),
      )
    }, timeoutMs)
    const done = () => {
      clearTimeout(timer)
      for (const h of honest) h.handle.off('change', check)
    }
    for (const h of honest) h.handle.on('change', check)
    check()
  })
}

async function checkReplicas(honest: Honest[], expected: string[]): Promise<void> {
  for (const h of honest) {
    const doc = h.handle.doc()
    const reloaded = A.load<Doc>(A.save(doc))
    if (JSON.stringify(A.getHeads(reloaded)) !== JSON.stringify(A.getHeads(doc)))
      throw new Error(`${h.peer.name}: A.load(A.save(doc)) changed the heads`)
    for (const key of Object.keys(reloaded)) {
      const parsed = parseBucketKey(key)
      if (!parsed) throw new Error(`${h.peer.name}: a root key that is not a bucket: ${key}`)
      for (const entry of reloaded[key] as unknown[]) {
        const bytes = entriesIn({ [key]: [entry] })[0]
        if (!bytes) throw new Error(`${h.peer.name}: an entry that is not base64url`)
        const verdict = await verifyTestEvent(bytes)
        if (!verdict.ok)
          throw new Error(`${h.peer.name}: an invalid event is stored (${verdict.reason})`)
        if (actorIdFromKeyId(verdict.keyId) !== parsed.actor)
          throw new Error(`${h.peer.name}: an event in a bucket not its signer's`)
      }
    }
    const texts = textsOf(reloaded)
    for (const t of expected)
      if (!texts.includes(t)) throw new Error(`${h.peer.name}: honest event ${t} missing`)
    if (texts.some((t) => t.startsWith('evil') || t === 'forged'))
      throw new Error(`${h.peer.name}: an attacker's refused event is stored`)
  }
}
