// R26/R27: every attack below is made with the unmodified automerge-repo client or the raw
// Automerge API, signed with the attacker's own genuine device key wherever a signature is
// possible (so the rule under test, not a missing signature, is what refuses it). After each
// one, the honest replicas are unchanged, still sync, and round-trip A.load(A.save(doc)).
import * as A from '@automerge/automerge'
import type { DocHandle, DocumentId } from '@automerge/automerge-repo'
import { describe, expect, it } from 'vitest'
import { generateDeviceKey } from '@hearth/identity'
import { base64urlEncode } from './base64url.ts'
import { importVerified } from './change-validator.ts'
import { actorIdFromPublicKey, bucketKey, MAX_ENTRY_CHARS, spaceDocumentId } from './layout.ts'
import { MemoryLinkAdapter } from './memory-network.ts'
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
  makeTestEvent,
  syncMessageWith,
  textsIn,
  until,
} from './testing.ts'
import type { ValidatedPeer } from './testing.ts'

type Doc = Record<string, unknown>

let counter = 0

async function setup() {
  const alice = await createValidatedPeer('alice')
  const bob = await createValidatedPeer('bob')
  const [ab, ba] = MemoryLinkAdapter.pair()
  alice.link(ab)
  bob.link(ba)
  const mallory = createPlainRepo('mallory')
  const malloryKey = (await generateDeviceKey()).key
  const [am, ma] = MemoryLinkAdapter.pair()
  alice.link(am)
  mallory.link(ma)

  const documentId = spaceDocumentId(`attack-space-${++counter}`)
  const genesis = await createSignedDocument(alice.key, [await makeTestEvent(alice.key, 'genesis')])
  const aliceHandle = await importVerified<Doc>(alice.repo, alice.validator, documentId, genesis)
  const aliceWriter = writerFor(alice, aliceHandle, documentId)
  await aliceWriter.append([await makeTestEvent(alice.key, 'alice 1')])
  const bobHandle = await bob.repo.find<Doc>(documentId)
  const bobWriter = writerFor(bob, bobHandle, documentId)
  await until(bobHandle, (d) => textsIn(d).length === 2)
  await bobWriter.append([await makeTestEvent(bob.key, 'bob 1')])
  await until(aliceHandle, (d) => textsIn(d).length === 3)
  const malloryHandle = await mallory.repo.find<Doc>(documentId)
  await until(malloryHandle, (d) => textsIn(d).length === 3)
  return {
    alice,
    bob,
    mallory,
    malloryKey,
    documentId,
    aliceHandle,
    bobHandle,
    malloryHandle,
    aliceWriter,
    bobWriter: bobWriter as SignedWriter,
    ma,
  }
}

function writerFor(
  peer: ValidatedPeer,
  handle: DocHandle<Doc>,
  documentId: DocumentId,
): SignedWriter {
  return new SignedWriter(handle as DocHandle<unknown>, peer.key, {
    onWrite: (accepted) => peer.validator.noteLocalWrite(documentId, accepted),
  })
}

type World = Awaited<ReturnType<typeof setup>>

/** The attack was refused and the honest replicas kept their state. */
async function expectRefused(
  world: World,
  reasonPattern: RegExp,
  snapshot: { alice: string[]; bob: string[] },
) {
  const rejection = await world.alice.nextRejection()
  expect(rejection.reason).toMatch(reasonPattern)
  expect(rejection.kind).toBe('invalid')
  expect(rejection.peerId).toBe('mallory')
  expect(A.getHeads(world.aliceHandle.doc())).toEqual(snapshot.alice)
  expect(A.getHeads(world.bobHandle.doc())).toEqual(snapshot.bob)
}

/** Honest replicas still sync both ways, end identical, and round-trip A.load(A.save(doc)). */
async function expectHealthy(world: World, alsoPresent: string[] = []) {
  await world.aliceWriter.append([await makeTestEvent(world.alice.key, 'alice after')])
  await world.bobWriter.append([await makeTestEvent(world.bob.key, 'bob after')])
  const expected = [
    'alice 1',
    'alice after',
    'bob 1',
    'bob after',
    'genesis',
    ...alsoPresent,
  ].sort()
  const heads: string[][] = []
  for (const handle of [world.aliceHandle, world.bobHandle]) {
    const doc = await until(handle, (d) => textsIn(d).length === expected.length)
    expect(textsIn(doc)).toEqual(expected)
    const reloaded = A.load<Doc>(A.save(doc))
    expect(textsIn(reloaded)).toEqual(expected)
    expect(A.getAllChanges(reloaded)).toHaveLength(A.getAllChanges(doc).length)
    heads.push(A.getHeads(doc))
  }
  expect(heads[0]).toEqual(heads[1])
}

async function expectRefusedAndHealthy(
  world: World,
  reasonPattern: RegExp,
  snapshot: { alice: string[]; bob: string[] },
  alsoPresent: string[] = [],
) {
  await expectRefused(world, reasonPattern, snapshot)
  await expectHealthy(world, alsoPresent)
}

function snapshot(world: World) {
  return { alice: A.getHeads(world.aliceHandle.doc()), bob: A.getHeads(world.bobHandle.doc()) }
}

function aliceBucket(world: World): string {
  return bucketKey(actorIdFromPublicKey(world.alice.key.publicKey), 0)
}

/** Mallory's stock client applies a change to its own copy and syncs it like any change. */
function sendWithStockClient(world: World, change: A.Change) {
  world.malloryHandle.update((d) => A.applyChanges(d, [change])[0])
}

/** Mallory sends a hand-made sync message (for changes a stock client cannot even apply). */
function sendRaw(world: World, changes: A.Change[]) {
  world.ma.inject({ type: 'sync', documentId: world.documentId, data: syncMessageWith(changes) })
}

/** Mallory's own honest first change (bucket 0 with one event), for attacks that need history. */
async function malloryFirstChange(world: World): Promise<A.Change> {
  const doc = world.malloryHandle.doc()
  const built = await buildSignedChange(
    doc,
    world.malloryKey,
    { seq: 0, hash: undefined, bucket: undefined },
    entriesOf([await makeTestEvent(world.malloryKey, 'mallory 1')]),
  )
  return built.change
}

describe('the change validator refuses attacks (R26, R27)', () => {
  it('lets honest peers sync through it', async () => {
    const world = await setup()
    expect(textsIn(world.bobHandle.doc())).toEqual(['alice 1', 'bob 1', 'genesis'])
    expect(world.alice.rejections).toEqual([])
    expect(world.bob.rejections).toEqual([])
  })

  it('refuses deleting another member’s event', async () => {
    const world = await setup()
    const before = snapshot(world)
    const key = aliceBucket(world)
    sendWithStockClient(
      world,
      await craftByMutation(world.malloryHandle.doc(), world.malloryKey, (d) =>
        (d[key] as unknown[]).splice(0, 1),
      ),
    )
    await expectRefusedAndHealthy(world, /predecessor/, before)
  })

  it('refuses overwriting another member’s event', async () => {
    const world = await setup()
    const before = snapshot(world)
    const key = aliceBucket(world)
    const forged = base64urlEncode(await makeTestEvent(world.malloryKey, 'forged'))
    sendWithStockClient(
      world,
      await craftByMutation(
        world.malloryHandle.doc(),
        world.malloryKey,
        (d) => ((d[key] as unknown[])[0] = new A.ImmutableString(forged)),
      ),
    )
    await expectRefusedAndHealthy(world, /predecessor/, before)
  })

  it('refuses inserting into another member’s bucket', async () => {
    const world = await setup()
    const before = snapshot(world)
    const key = aliceBucket(world)
    const entry = base64urlEncode(await makeTestEvent(world.malloryKey, 'squatter'))
    sendWithStockClient(
      world,
      await craftByMutation(world.malloryHandle.doc(), world.malloryKey, (d) =>
        (d[key] as unknown[]).unshift(new A.ImmutableString(entry)),
      ),
    )
    await expectRefusedAndHealthy(world, /another actor's bucket/, before)
  })
})

async function withMalloryAccepted(world: World) {
  const first = await malloryFirstChange(world)
  sendWithStockClient(world, first)
  await until(world.aliceHandle, (d) => textsIn(d).includes('mallory 1'))
  await until(world.bobHandle, (d) => textsIn(d).includes('mallory 1'))
  return A.decodeChange(first)
}

/** A signed change by Mallory: insert-only, into Mallory's own bucket, with a valid event. */
async function malloryInsert(
  world: World,
  fields: { seq: number; startOp: number; deps: string[]; obj?: string },
  text = 'mallory 2',
) {
  const actor = actorIdFromPublicKey(world.malloryKey.publicKey)
  const entry = base64urlEncode(await makeTestEvent(world.malloryKey, text))
  return craftSignedChange(world.malloryKey, {
    seq: fields.seq,
    startOp: fields.startOp,
    deps: fields.deps,
    ops: [
      {
        action: 'set',
        obj: fields.obj ?? `1@${actor}`,
        elemId: '_head',
        insert: true,
        value: entry,
        pred: [],
      },
    ],
  })
}

function maxOpOf(handle: DocHandle<Doc>, hashes: string[]): number {
  const backend = A.getBackend(handle.doc())
  return Math.max(0, ...hashes.map((h) => backend.getChangeMetaByHash(h)!.maxOp))
}

describe('structural attacks with signed, insert-only changes', () => {
  it('refuses a map that would shadow buckets (a new root map)', async () => {
    const world = await setup()
    const before = snapshot(world)
    sendWithStockClient(
      world,
      await craftByMutation(
        world.malloryHandle.doc(),
        world.malloryKey,
        (d) => (d['buckets'] = {}),
      ),
    )
    await expectRefusedAndHealthy(world, /makeMap/, before)
  })

  it('refuses a concurrent map created at another member’s bucket key', async () => {
    const world = await setup()
    const before = snapshot(world)
    const change = await craftSignedChange(world.malloryKey, {
      seq: 1,
      startOp: 1,
      deps: [],
      ops: [{ action: 'makeMap', obj: '_root', key: aliceBucket(world), pred: [] }],
    })
    sendWithStockClient(world, change)
    await expectRefusedAndHealthy(world, /makeMap/, before)
  })

  it('refuses a list created at another member’s bucket key', async () => {
    const world = await setup()
    const before = snapshot(world)
    const change = await craftSignedChange(world.malloryKey, {
      seq: 1,
      startOp: 1,
      deps: [],
      ops: [{ action: 'makeList', obj: '_root', key: aliceBucket(world), pred: [] }],
    })
    sendWithStockClient(world, change)
    await expectRefusedAndHealthy(world, /not the actor's bucket/, before)
  })

  it('refuses a change under another device’s actor id, signed with the attacker’s key', async () => {
    const world = await setup()
    const before = snapshot(world)
    const aliceActor = actorIdFromPublicKey(world.alice.key.publicKey)
    const heads = A.getHeads(world.malloryHandle.doc())
    const entry = base64urlEncode(await makeTestEvent(world.malloryKey, 'as alice'))
    const change = await craftSignedChange(world.malloryKey, {
      actor: aliceActor,
      seq: 3,
      startOp: maxOpOf(world.malloryHandle, heads) + 1,
      deps: heads,
      ops: [
        {
          action: 'set',
          obj: `1@${aliceActor}`,
          elemId: '_head',
          insert: true,
          value: entry,
          pred: [],
        },
      ],
    })
    sendRaw(world, [change])
    await expectRefusedAndHealthy(world, /actor is not derived from the signing key/, before)
  })

  it('refuses a change under another device’s actor id carrying that device’s old signature', async () => {
    const world = await setup()
    const before = snapshot(world)
    const aliceActor = actorIdFromPublicKey(world.alice.key.publicKey)
    const backend = A.getBackend(world.malloryHandle.doc())
    const aliceLatest = backend
      .getChangesMeta([])
      .filter((m) => m.actor === aliceActor)
      .sort((a, b) => b.seq - a.seq)[0]!
    const heads = [...new Set([...A.getHeads(world.malloryHandle.doc()), aliceLatest.hash])].sort()
    const entry = base64urlEncode(await makeTestEvent(world.malloryKey, 'as alice'))
    const change = await craftSignedChange(world.malloryKey, {
      actor: aliceActor,
      seq: aliceLatest.seq + 1,
      startOp: maxOpOf(world.malloryHandle, heads) + 1,
      deps: heads,
      ops: [
        {
          action: 'set',
          obj: `1@${aliceActor}`,
          elemId: '_head',
          insert: true,
          value: entry,
          pred: [],
        },
      ],
      message: aliceLatest.message!,
    })
    sendRaw(world, [change])
    await expectRefusedAndHealthy(world, /change signature does not verify/, before)
  })

  it('refuses an unsigned change from the stock client', async () => {
    const world = await setup()
    const before = snapshot(world)
    const actor = actorIdFromPublicKey(world.malloryKey.publicKey)
    world.malloryHandle.change((d) => {
      d[bucketKey(actor, 0)] = [new A.ImmutableString('unsigned')]
    })
    await expectRefusedAndHealthy(world, /missing or malformed change signature/, before)
  })

  it.each([
    ['another time', { time: 1_700_000_000 }, /time must be 0/],
    ['extra bytes', { extra_bytes: [1, 2, 3] }, /extra bytes/],
    ['another message', { message: 'twin' }, /missing or malformed change signature/],
  ])(
    'refuses a twin of an honest change with %s, and the genuine one still applies',
    async (_name, variation, reason) => {
      const world = await setup()
      const before = snapshot(world)
      // Bob signs a change that Mallory sees (say, relayed through Mallory) before Alice does.
      const bobDoc = world.bobHandle.doc()
      const bobActor = actorIdFromPublicKey(world.bob.key.publicKey)
      const bobLatest = A.getBackend(bobDoc)
        .getChangesMeta([])
        .filter((m) => m.actor === bobActor)
        .sort((a, b) => b.seq - a.seq)[0]!
      const bucket = {
        index: 0,
        objId: A.getObjectId(bobDoc[bucketKey(bobActor, 0)] as unknown[])!,
        length: 1,
      }
      const genuine = await buildSignedChange(
        bobDoc,
        world.bob.key,
        { seq: bobLatest.seq, hash: bobLatest.hash, bucket },
        entriesOf([await makeTestEvent(world.bob.key, 'bob genuine')]),
      )
      const decoded = A.decodeChange(genuine.change)
      const twin = A.encodeChange({ ...decoded, ...variation } as unknown as A.DecodedChange)
      expect(A.decodeChange(twin).hash).not.toBe(decoded.hash)
      sendRaw(world, [twin])
      await expectRefused(world, reason, before)
      world.bobHandle.update((d) => A.applyChanges(d, [genuine.change])[0])
      await until(world.aliceHandle, (d) => textsIn(d).includes('bob genuine'))
      world.bobWriter = writerFor(world.bob, world.bobHandle, world.documentId)
      await expectHealthy(world, ['bob genuine'])
    },
  )

  it('refuses reused op counters (startOp too low)', async () => {
    const world = await setup()
    const first = await withMalloryAccepted(world)
    const before = snapshot(world)
    sendRaw(world, [
      await malloryInsert(world, { seq: 2, startOp: first.startOp, deps: [first.hash] }),
    ])
    await expectRefusedAndHealthy(world, /startOp/, before, ['mallory 1'])
  })

  it('refuses a seq gap', async () => {
    const world = await setup()
    const first = await withMalloryAccepted(world)
    const before = snapshot(world)
    const startOp = maxOpOf(world.aliceHandle, [first.hash]) + 1
    sendRaw(world, [await malloryInsert(world, { seq: 3, startOp, deps: [first.hash] })])
    await expectRefusedAndHealthy(world, /seq 3 after the actor's seq 1/, before, ['mallory 1'])
  })

  it('refuses deps not chained to the actor’s previous change', async () => {
    const world = await setup()
    const first = await withMalloryAccepted(world)
    const before = snapshot(world)
    const deps = first.deps
    const startOp = maxOpOf(world.aliceHandle, deps) + 1
    sendRaw(world, [await malloryInsert(world, { seq: 2, startOp, deps })])
    await expectRefusedAndHealthy(world, /previous change/, before, ['mallory 1'])
  })

  it('refuses an insert into a list that does not exist', async () => {
    const world = await setup()
    const first = await withMalloryAccepted(world)
    const before = snapshot(world)
    const actor = actorIdFromPublicKey(world.malloryKey.publicKey)
    const startOp = maxOpOf(world.aliceHandle, [first.hash]) + 1
    sendRaw(world, [
      await malloryInsert(world, {
        seq: 2,
        startOp,
        deps: [first.hash],
        obj: `${startOp + 50}@${actor}`,
      }),
    ])
    await expectRefusedAndHealthy(world, /list that does not exist/, before, ['mallory 1'])
  })

  it('refuses an event with a forged signature', async () => {
    const world = await setup()
    const before = snapshot(world)
    const event = await makeTestEvent(world.malloryKey, 'forged')
    event[event.length - 5] ^= 1
    const heads = A.getHeads(world.malloryHandle.doc())
    const built = await buildSignedChange(
      world.malloryHandle.doc(),
      world.malloryKey,
      { seq: 0, hash: undefined, bucket: undefined },
      entriesOf([event]),
    )
    expect(heads.length).toBeGreaterThan(0)
    sendWithStockClient(world, built.change)
    await expectRefusedAndHealthy(world, /bad event signature/, before)
  })

  it('refuses another member’s genuine event copied into the attacker’s bucket', async () => {
    const world = await setup()
    const before = snapshot(world)
    const aliceEvent = await makeTestEvent(world.alice.key, 'alice 1')
    const built = await buildSignedChange(
      world.malloryHandle.doc(),
      world.malloryKey,
      { seq: 0, hash: undefined, bucket: undefined },
      entriesOf([aliceEvent]),
    )
    sendWithStockClient(world, built.change)
    await expectRefusedAndHealthy(world, /signed by another device/, before)
  })

  it('refuses an oversized entry (R27)', async () => {
    const world = await setup()
    const before = snapshot(world)
    const actor = actorIdFromPublicKey(world.malloryKey.publicKey)
    const heads = A.getHeads(world.malloryHandle.doc())
    const startOp = maxOpOf(world.malloryHandle, heads) + 1
    const change = await craftSignedChange(world.malloryKey, {
      seq: 1,
      startOp,
      deps: heads,
      ops: [
        { action: 'makeList', obj: '_root', key: bucketKey(actor, 0), pred: [] },
        {
          action: 'set',
          obj: `${startOp}@${actor}`,
          elemId: '_head',
          insert: true,
          value: 'A'.repeat(MAX_ENTRY_CHARS + 4),
          pred: [],
        },
      ],
    })
    sendRaw(world, [change])
    await expectRefusedAndHealthy(world, /entry too large/, before)
  })

  it('refuses an oversized change and an oversized sync message before decoding them (R27)', async () => {
    const world = await setup()
    const before = snapshot(world)
    const actor = actorIdFromPublicKey(world.malloryKey.publicKey)
    const heads = A.getHeads(world.malloryHandle.doc())
    const startOp = maxOpOf(world.malloryHandle, heads) + 1
    const big = 'B'.repeat(60_000)
    const ops: unknown[] = [
      { action: 'makeList', obj: '_root', key: bucketKey(actor, 0), pred: [] },
    ]
    for (let i = 0; i < 24; i++) {
      ops.push({
        action: 'set',
        obj: `${startOp}@${actor}`,
        elemId: i === 0 ? '_head' : `${startOp + i}@${actor}`,
        insert: true,
        value: big + i,
        pred: [],
      })
    }
    sendRaw(world, [
      await craftSignedChange(world.malloryKey, { seq: 1, startOp, deps: heads, ops }),
    ])
    await expectRefusedAndHealthy(world, /oversized change|exceeds/, before)

    const world2 = await setup()
    const before2 = snapshot(world2)
    world2.ma.inject({
      type: 'sync',
      documentId: world2.documentId,
      data: new Uint8Array(world2.alice.validator.maxMessageBytes + 1),
    })
    await expectRefusedAndHealthy(world2, /exceeds/, before2)
  })

  it('refuses a malformed sync message', async () => {
    const world = await setup()
    const before = snapshot(world)
    world.ma.inject({
      type: 'sync',
      documentId: world.documentId,
      data: new Uint8Array([0x42, 1, 2, 3]),
    })
    await expectRefusedAndHealthy(world, /undecodable|malformed/, before)
  })

  it('drops a change with an unknown dependency without banning, and syncs again later', async () => {
    const world = await setup()
    const before = snapshot(world)
    const unknownDep = 'ab'.repeat(32)
    sendRaw(world, [await malloryInsert(world, { seq: 2, startOp: 100, deps: [unknownDep] })])
    const rejection = await world.alice.nextRejection()
    expect(rejection.kind).toBe('missing-deps')
    expect(A.getHeads(world.aliceHandle.doc())).toEqual(before.alice)
    // Mallory is offered to alice's Repo again: its next valid change arrives.
    sendWithStockClient(world, await malloryFirstChange(world))
    await until(world.aliceHandle, (d) => textsIn(d).includes('mallory 1'))
  })
})

describe('attacks hidden in whole documents and requests', () => {
  it('refuses a document chunk (a first sync) that carries one bad change among good ones', async () => {
    const world = await setup()
    const before = snapshot(world)
    const key = aliceBucket(world)
    const evil = await craftByMutation(world.malloryHandle.doc(), world.malloryKey, (d) =>
      (d[key] as unknown[]).splice(0, 1),
    )
    const [poisoned] = A.applyChanges(A.clone(world.malloryHandle.doc()), [evil])
    const chunk = A.save(poisoned)
    expect(chunk[8]).toBe(0) // a document chunk, as a first sync sends it
    world.ma.inject({ type: 'sync', documentId: world.documentId, data: syncMessageWith([chunk]) })
    await expectRefusedAndHealthy(world, /predecessor/, before)
  })

  it('refuses a bad change in a `request` message as in a `sync` one', async () => {
    const world = await setup()
    const before = snapshot(world)
    const entry = base64urlEncode(await makeTestEvent(world.malloryKey, 'squatter'))
    const key = aliceBucket(world)
    const evil = await craftByMutation(world.malloryHandle.doc(), world.malloryKey, (d) =>
      (d[key] as unknown[]).unshift(new A.ImmutableString(entry)),
    )
    world.ma.inject({
      type: 'request',
      documentId: world.documentId,
      data: syncMessageWith([evil]),
    })
    await expectRefusedAndHealthy(world, /another actor's bucket/, before)
  })

  it('guards repo.import: a tampered document is refused before it is imported', async () => {
    const world = await setup()
    const key = aliceBucket(world)
    const evil = await craftByMutation(world.malloryHandle.doc(), world.malloryKey, (d) =>
      (d[key] as unknown[]).splice(0, 1),
    )
    const [poisoned] = A.applyChanges(A.clone(world.malloryHandle.doc()), [evil])
    const carol = await createValidatedPeer('carol')
    await expect(
      importVerified(carol.repo, carol.validator, world.documentId, A.save(poisoned)),
    ).rejects.toThrow(/predecessor/)
    expect(carol.repo.handles[world.documentId]).toBeUndefined()
  })
})

describe('a device that forks its own history', () => {
  it('is refused and reported with the proof: two validly signed changes with one seq', async () => {
    const world = await setup()
    const first = await withMalloryAccepted(world)
    const actor = actorIdFromPublicKey(world.malloryKey.publicKey)
    const doc = world.aliceHandle.doc()
    const bucket = {
      index: 0,
      objId: A.getObjectId(doc[bucketKey(actor, 0)] as unknown[])!,
      length: 1,
    }
    const fork = async (text: string) =>
      (
        await buildSignedChange(
          doc,
          world.malloryKey,
          { seq: first.seq, hash: first.hash, bucket },
          entriesOf([await makeTestEvent(world.malloryKey, text)]),
        )
      ).change
    const left = await fork('left')
    const right = await fork('right')
    sendRaw(world, [left])
    await until(world.aliceHandle, (d) => textsIn(d).includes('left'))
    const before = snapshot(world)
    world.ma.inject({ type: 'sync', documentId: world.documentId, data: syncMessageWith([right]) })
    const rejection = await world.alice.nextRejection()
    expect(rejection.reason).toMatch(/equivocation/)
    expect(rejection.equivocation).toEqual({
      actor,
      seq: 2,
      hashes: [A.decodeChange(right).hash, A.decodeChange(left).hash],
    })
    expect(A.getHeads(world.aliceHandle.doc())).toEqual(before.alice)
    await until(world.bobHandle, (d) => textsIn(d).includes('left'))
    await expectHealthy(world, ['mallory 1', 'left'])
  })
})
