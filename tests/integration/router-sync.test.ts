// The router's sync core on a real local network: tokens from the real PDS, tickets, a real
// router on an ephemeral port, SQLite on disk, and the UNMODIFIED automerge-repo WebSocket
// client. Attackers speak the same protocol through raw sockets.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as A from '@automerge/automerge'
import { cbor } from '@automerge/automerge-repo'
import type { DocumentId, PeerId } from '@automerge/automerge-repo'
import { startDevnet, type Devnet } from '@hearth/devnet'
import { generateDeviceKey, type Did } from '@hearth/identity'
import {
  ACK_TYPE,
  createSyncEndpoint,
  PUSH_TYPE,
  peerIdFor,
  startRouter,
  type HearthSyncEndpoint,
  type RunningRouter,
} from '@hearth/router'
import {
  buildSignedChange,
  createSignedDocument,
  encodeSignedEvent,
  entriesOf,
  importVerified,
  messageDocumentId,
  SignedWriter,
  signEvent,
  spaceDocumentId,
} from '@hearth/sync'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type WebSocket from 'ws'
import {
  ackFor,
  buyTicket,
  createSpace,
  eventsIn,
  openClient,
  rawPeer as openRawPeer,
  joinRaw,
  ticketUrl,
  until,
  writeEvent,
  type Frame,
  type RawPeer,
  type Space,
  type SpaceAuthor,
} from './support/router-peers.ts'

type Name = 'alice' | 'bob' | 'carol'

let devnet: Devnet
let router: RunningRouter
let endpoint: HearthSyncEndpoint
let dir: string
const open: { shutdown(): Promise<void> }[] = []
const rejections: { did: Did | undefined; reason: string }[] = []
const refusals: { did: Did; reason: string }[] = []

async function start(): Promise<void> {
  endpoint = await createSyncEndpoint({
    dataDir: dir,
    onReject: (rejection) => rejections.push(rejection),
    onRefuse: (refusal) => refusals.push(refusal),
  })
  router = await startRouter({ port: 0, plcUrl: devnet.plc.url, devMode: true, endpoint })
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hearth-router-sync-'))
  devnet = await startDevnet({ keyserver: false })
  await start()
})

afterAll(async () => {
  for (const client of open) await client.shutdown().catch(() => undefined)
  await router?.close()
  await devnet?.close()
  if (dir) await rm(dir, { recursive: true, force: true })
})

function ticketFor(name: Name): Promise<string> {
  return buyTicket(devnet, devnet.accounts[name], {
    url: router.url,
    audience: router.identity.audience,
  }).then(ticketUrl)
}

interface StockClient extends SpaceAuthor {
  peerId: PeerId
  socket(): WebSocket
  shutdown(): Promise<void>
}

/**
 * A Repo on the stock WebSocketClientAdapter, signed in with a ticket. `validated`: an honest
 * Hearth client (the validator in front of its Repo); otherwise the plain stock client.
 */
async function stockClient(name: Name, validated: boolean, suffix = 'tab1'): Promise<StockClient> {
  const did = devnet.accounts[name].did
  const peerId = peerIdFor(did, suffix)
  const { repo, validator, adapter, frames } = await openClient(
    await ticketFor(name),
    peerId,
    validated,
  )
  const client = {
    did,
    peerId,
    repo,
    key: (await generateDeviceKey()).key,
    validator,
    frames,
    socket: () => adapter.socket as unknown as WebSocket,
    shutdown: () => repo.shutdown(),
  }
  open.push(client)
  return client
}

async function rawPeer(name: Name): Promise<RawPeer> {
  return openRawPeer(await ticketFor(name))
}

describe('router sync', () => {
  let alice: StockClient
  let bob: StockClient
  let town: Space
  let den: Space

  it('syncs a public space: created by alice (signed path), read by the stock client of bob', async () => {
    alice = await stockClient('alice', true)
    bob = await stockClient('bob', false)
    town = await createSpace(alice, 'PUBLIC', 'Town square')

    const seen = await bob.repo.find(town.documentId)
    expect(eventsIn(seen.doc()).map((e) => e.kind)).toEqual(['genesis'])

    const channel = await writeEvent(
      alice,
      town.writer,
      town,
      'channel.create',
      { name: 'general' },
      [town.genesis.id],
    )
    const ack = await ackFor(alice, town.documentId, channel.hash)
    expect(ack).toMatchObject({ senderId: endpoint.peerId, targetId: alice.peerId })
    await until(seen, (doc) => eventsIn(doc).some((e) => e.id === channel.event.id))
  })

  it('fast path: a validated change is pushed at once to the other subscribers', async () => {
    const reader = await stockClient('carol', true, 'fast')
    const handle = await reader.repo.find(town.documentId)
    const write1 = await writeEvent(alice, town.writer, town, 'channel.create', { name: 'fast' }, [
      town.genesis.id,
    ])
    const frame = await reader.frames.next(
      (f) =>
        f.type === PUSH_TYPE &&
        f.documentId === town.documentId &&
        Array.isArray(f.changes) &&
        f.changes.some((c) => A.decodeChange(new Uint8Array(c as Uint8Array)).hash === write1.hash),
    )
    expect(frame).toMatchObject({ senderId: endpoint.peerId, targetId: reader.peerId })
    // A Hearth client checks pushed changes exactly like a sync message, then applies them.
    const changes = (frame.changes as Uint8Array[]).map((c) => new Uint8Array(c) as A.Change)
    await reader.validator!.validateSyncMessage(
      town.documentId,
      A.encodeSyncMessage({ heads: [], need: [], have: [], changes }),
    )
    handle.update((doc) => A.applyChanges(doc, changes)[0])
    expect(eventsIn(handle.doc()).some((e) => e.id === write1.event.id)).toBe(true)
    // The writer itself gets its acknowledgement, not its own change back.
    await ackFor(alice, town.documentId, write1.hash)
    expect(alice.frames.frames.some((f) => f.type === PUSH_TYPE)).toBe(false)
  })

  it('message documents: registered by channel.create, created by a member, read by others', async () => {
    const channel = await writeEvent(alice, town.writer, town, 'channel.create', { name: 'chat' }, [
      town.genesis.id,
    ])
    await ackFor(alice, town.documentId, channel.hash)
    const documentId = messageDocumentId(town.id, channel.event.id, 0)
    const hello = await signEvent(alice.key, {
      space: town.id,
      kind: 'message',
      author: alice.did,
      parents: [channel.event.id],
      body: { text: 'hello town', channel: channel.event.id },
    })
    const handle = await importVerified(
      alice.repo,
      alice.validator!,
      documentId,
      await createSignedDocument(alice.key, [encodeSignedEvent(hello)]),
    )
    await ackFor(alice, documentId, A.getHeads(handle.doc())[0]!)
    const seen = await bob.repo.find(documentId)
    expect(eventsIn(seen.doc()).map((e) => e.id)).toEqual([hello.id])
    // A message document nobody registered (a channel id the space never created) is refused.
    await expect(bob.repo.find(messageDocumentId(town.id, hello.id, 0))).rejects.toThrow(
      /unavailable/,
    )
  })

  it('S7: a private space is refused exactly like a document that does not exist', async () => {
    den = await createSpace(alice, 'INVITES_ONLY', 'Back room')
    const nowhere = spaceDocumentId('b'.repeat(52))

    // The stock client: both finds fail the same way.
    await expect(bob.repo.find(den.documentId)).rejects.toThrow(/unavailable/)
    await expect(bob.repo.find(nowhere)).rejects.toThrow(/unavailable/)

    // Byte for byte, through a raw socket: a request, and a sync from a peer claiming a copy.
    const raw = await rawPeer('bob')
    const me = peerIdFor(devnet.accounts.bob.did, 'probe')
    expect((await joinRaw(raw, me)).type).toBe('peer')
    const replies: Record<string, Frame[]> = {}
    const copy = A.from({ x: 1 })
    for (const documentId of [den.documentId, nowhere]) {
      const got: Frame[] = []
      raw.send({
        type: 'request',
        senderId: me,
        targetId: endpoint.peerId,
        documentId,
        data: A.generateSyncMessage(A.init(), A.initSyncState())[1],
      })
      got.push(
        await raw.frames.next((f) => f.documentId === documentId && f.type === 'doc-unavailable'),
      )
      const [, claim] = A.generateSyncMessage(copy, A.initSyncState())
      raw.send({ type: 'sync', senderId: me, targetId: endpoint.peerId, documentId, data: claim })
      got.push(await raw.frames.next((f) => f.documentId === documentId && f.type === 'sync'))
      replies[documentId] = got.map((f) => ({ ...f, documentId: 'X' }))
    }
    expect(replies[den.documentId]).toEqual(replies[nowhere])
    // The members of the private space are not named anywhere in what bob received.
    expect(JSON.stringify(raw.frames.frames)).not.toContain(alice.did)
    raw.ws.close()

    // alice, a member, still syncs it.
    expect(endpoint.spaces.allows(alice.did, den.documentId)).toBe(true)
    expect(endpoint.spaces.allows(bob.did, den.documentId)).toBe(false)
  })

  it('fast path from a client: a pushed change is validated, applied, pushed on, acknowledged', async () => {
    const carol = devnet.accounts.carol.did
    const reader = await stockClient('bob', true, 'reader2')
    const readerHandle = await reader.repo.find(town.documentId)
    const raw = await rawPeer('carol')
    const me = peerIdFor(carol, 'pusher')
    expect((await joinRaw(raw, me)).type).toBe('peer')

    const carolKey = (await generateDeviceKey()).key
    const joined = await signEvent(carolKey, {
      space: town.id,
      kind: 'join',
      author: carol,
      parents: [town.genesis.id],
      body: {},
    })
    const built = await buildSignedChange(
      readerHandle.doc(),
      carolKey,
      { seq: 0, hash: undefined, bucket: undefined },
      entriesOf([encodeSignedEvent(joined)]),
    )
    raw.send({
      type: PUSH_TYPE,
      senderId: me,
      targetId: endpoint.peerId,
      documentId: town.documentId,
      changes: [built.change],
    })
    await raw.frames.next(
      (f) => f.type === ACK_TYPE && Array.isArray(f.changes) && f.changes.includes(built.hash),
    )
    await reader.frames.next(
      (f) =>
        f.type === PUSH_TYPE &&
        Array.isArray(f.changes) &&
        f.changes.some((c) => A.decodeChange(new Uint8Array(c as Uint8Array)).hash === built.hash),
    )
    const bobHandle = await bob.repo.find(town.documentId)
    await until(bobHandle, (doc) => eventsIn(doc).some((e) => e.id === joined.id))

    // A push into a document carol may not sync is answered like a missing document.
    raw.send({
      type: PUSH_TYPE,
      senderId: me,
      targetId: endpoint.peerId,
      documentId: den.documentId,
      changes: [built.change],
    })
    expect(await raw.frames.next((f) => f.documentId === den.documentId)).toMatchObject({
      type: 'doc-unavailable',
    })
    // Garbage pushed closes that socket, as garbage synced does.
    raw.send({
      type: PUSH_TYPE,
      senderId: me,
      targetId: endpoint.peerId,
      documentId: town.documentId,
      changes: [new Uint8Array([0x85, 0x6f, 0x4a, 0x83, 9, 9, 9, 9, 1, 3, 1, 2, 3])],
    })
    expect(await raw.closed).toBe(1008)
    expect(rejections.at(-1)).toMatchObject({ did: carol, documentId: town.documentId })
  })

  it('a new space: only its author can open it, and only with a genesis that verifies', async () => {
    const carol = devnet.accounts.carol.did
    const pushGenesis = async (document: Uint8Array, documentId: DocumentId) => {
      const raw = await rawPeer('carol')
      const me = peerIdFor(carol, `creator-${crypto.randomUUID().slice(0, 8)}`)
      expect((await joinRaw(raw, me)).type).toBe('peer')
      const changes = A.getAllChanges(A.load(document))
      raw.send({
        type: 'sync',
        senderId: me,
        targetId: endpoint.peerId,
        documentId,
        data: A.encodeSyncMessage({ heads: [], need: [], have: [], changes }),
      })
      return raw
    }

    // alice's genesis (never pushed by alice), pushed by carol: refused like any unknown document.
    const stolen = await signEvent(alice.key, {
      space: null,
      kind: 'genesis',
      author: alice.did,
      parents: [],
      body: { mode: 'INVITES_ONLY', name: 'Not yours', nonce: crypto.randomUUID() },
    })
    const stolenDoc = spaceDocumentId(stolen.id)
    const thief = await pushGenesis(
      await createSignedDocument(alice.key, [encodeSignedEvent(stolen)]),
      stolenDoc,
    )
    expect(await thief.frames.next((f) => f.documentId === stolenDoc)).toMatchObject({
      type: 'doc-unavailable',
    })
    expect(endpoint.spaces.has(stolen.id)).toBe(false)
    thief.ws.close()

    // carol's own genesis with a forged event signature: the validator refuses it, the socket
    // closes, and the space is not created.
    const carolKey = (await generateDeviceKey()).key
    const forged = await signEvent(carolKey, {
      space: null,
      kind: 'genesis',
      author: carol,
      parents: [],
      body: { mode: 'PUBLIC', name: 'Forged', nonce: crypto.randomUUID() },
    })
    const badSig = new Uint8Array(forged.sig)
    badSig[10] ^= 0xff
    const forgedDoc = spaceDocumentId(forged.id)
    const forger = await pushGenesis(
      await createSignedDocument(carolKey, [encodeSignedEvent({ ...forged, sig: badSig })]),
      forgedDoc,
    )
    expect(await forger.closed).toBe(1008)
    expect(rejections.at(-1)).toMatchObject({ did: carol, documentId: forgedDoc })
    expect(endpoint.spaces.has(forged.id)).toBe(false)
  })

  it('ephemeral messages of the stock client reach no one', async () => {
    const aliceHandle = town.handle
    const heard: unknown[] = []
    aliceHandle.on('ephemeral-message', ({ message }) => heard.push(message))
    const bobHandle = await bob.repo.find(town.documentId)
    bobHandle.broadcast({ poke: 'alice', typing: true })
    // A barrier behind the broadcast on the same socket: bob's join reaches alice through the router.
    const bobWriter = new SignedWriter(bobHandle, bob.key)
    const joined = await writeEvent(bob, bobWriter, town, 'join', {}, [town.genesis.id])
    await until(aliceHandle, (doc) => eventsIn(doc).some((e) => e.id === joined.event.id))
    expect(heard).toEqual([])
  })

  it('S4: a join claiming another DID’s peer id is refused; the victim’s session goes on', async () => {
    const mallory = await rawPeer('carol')
    const reply = await joinRaw(mallory, alice.peerId)
    expect(reply.type).toBe('error')
    expect(await mallory.closed).toBe(1008)
    expect(refusals.at(-1)).toMatchObject({ did: devnet.accounts.carol.did })
    expect(refusals.at(-1)!.reason).toMatch(/peer id must be/)

    const squatter = await rawPeer('carol')
    expect((await joinRaw(squatter, 'carol-laptop')).type).toBe('error')
    expect(await squatter.closed).toBe(1008)

    // alice's session is intact: a new write is acknowledged and reaches bob.
    const channel = await writeEvent(
      alice,
      town.writer,
      town,
      'channel.create',
      { name: 'after-s4' },
      [town.genesis.id],
    )
    await ackFor(alice, town.documentId, channel.hash)
    const bobHandle = await bob.repo.find(town.documentId)
    await until(bobHandle, (doc) => eventsIn(doc).some((e) => e.id === channel.event.id))
  })

  it('S10: garbage, malformed CBOR and garbage changes close only that socket', async () => {
    const attacks: [string, (peer: RawPeer, me: string) => void][] = [
      ['undecodable frame', (peer) => peer.ws.send(Buffer.from([0xff, 0xfe, 0x00, 0x13, 0x37]))],
      ['text frame', (peer) => peer.ws.send('{"type":"sync"}')],
      [
        'malformed message',
        (peer, me) =>
          peer.send({ type: 'sync', senderId: me, targetId: endpoint.peerId, documentId: 42 }),
      ],
      [
        'garbage changes',
        (peer, me) =>
          peer.send({
            type: 'sync',
            senderId: me,
            targetId: endpoint.peerId,
            documentId: town.documentId,
            data: A.encodeSyncMessage({
              heads: [],
              need: [],
              have: [],
              changes: [
                new Uint8Array([
                  0x85,
                  0x6f,
                  0x4a,
                  0x83,
                  1,
                  2,
                  3,
                  4,
                  1,
                  40,
                  ...new Array(40).fill(7),
                ]),
              ] as A.Change[],
            }),
          }),
      ],
    ]
    let n = 0
    for (const [label, attack] of attacks) {
      const peer = await rawPeer('carol')
      const me = peerIdFor(devnet.accounts.carol.did, `attacker${n++}`)
      expect((await joinRaw(peer, me)).type, label).toBe('peer')
      attack(peer, me)
      expect(await peer.closed, label).toBe(1008)
    }
    // The garbage changes were refused by the validator, as every peer would.
    expect(rejections.at(-1)).toMatchObject({ did: devnet.accounts.carol.did, kind: 'invalid' })
    // Everyone else is served.
    const channel = await writeEvent(
      alice,
      town.writer,
      town,
      'channel.create',
      { name: 'after-s10' },
      [town.genesis.id],
    )
    await ackFor(alice, town.documentId, channel.hash)
    const bobHandle = await bob.repo.find(town.documentId)
    await until(bobHandle, (doc) => eventsIn(doc).some((e) => e.id === channel.event.id))
    expect((await fetch(`${router.url}/healthz`)).status).toBe(200)
  })

  it('S8: a banned member stops syncing the space at once and cannot re-subscribe', async () => {
    const guild = await createSpace(alice, 'INVITES_ONLY', 'Guild')
    const invite = await writeEvent(alice, guild.writer, guild, 'invite', { invitee: bob.did }, [
      guild.genesis.id,
    ])
    await ackFor(alice, guild.documentId, invite.hash)

    // bob, invited, reads the space (an invitee may sync the space document) and joins.
    const member = await stockClient('bob', true, 'tab2')
    const handle = await member.repo.find(guild.documentId)
    const bobWriter = new SignedWriter(handle, member.key, {
      onWrite: (accepted) => member.validator!.noteLocalWrite(guild.documentId, accepted),
    })
    const joined = await writeEvent(member, bobWriter, guild, 'join', {}, [invite.event.id])
    await ackFor(member, guild.documentId, joined.hash)
    const synchronizer = () => endpoint.repo.synchronizer.docSynchronizers[guild.documentId]
    await expect.poll(() => synchronizer()?.hasPeer(member.peerId)).toBe(true)

    const ban = await writeEvent(
      alice,
      guild.writer,
      guild,
      'proposal',
      { action: 'ban', target: bob.did },
      [joined.event.id],
    )
    await ackFor(alice, guild.documentId, ban.hash)
    // The router stops syncing the space with bob's device without waiting for bob.
    await expect.poll(() => synchronizer()?.hasPeer(member.peerId)).toBe(false)
    expect(endpoint.spaces.allows(bob.did, guild.documentId)).toBe(false)

    // alice writes after the ban: bob's device gets no push. A round trip on bob's socket after
    // alice's acknowledgement is the barrier (the router pushes before it acknowledges).
    const after = await writeEvent(
      alice,
      guild.writer,
      guild,
      'channel.create',
      { name: 'secret' },
      [ban.event.id],
    )
    await ackFor(alice, guild.documentId, after.hash)
    const probe = spaceDocumentId('c'.repeat(52))
    member.socket().send(
      cbor.encode({
        type: 'request',
        senderId: member.peerId,
        targetId: endpoint.peerId,
        documentId: probe,
        data: A.generateSyncMessage(A.init(), A.initSyncState())[1],
      }),
    )
    await member.frames.next((f) => f.type === 'doc-unavailable' && f.documentId === probe)
    expect(
      member.frames.frames
        .filter((f) => f.type === PUSH_TYPE && f.documentId === guild.documentId)
        .flatMap((f) => f.changes as Uint8Array[])
        .map((c) => A.decodeChange(new Uint8Array(c) as A.Change).hash),
    ).not.toContain(after.hash)

    // A fresh socket of bob asking for it gets what a stranger gets for a missing document.
    const raw = await rawPeer('bob')
    const me = peerIdFor(bob.did, 'after-ban')
    expect((await joinRaw(raw, me)).type).toBe('peer')
    raw.send({
      type: 'request',
      senderId: me,
      targetId: endpoint.peerId,
      documentId: guild.documentId,
      data: A.generateSyncMessage(A.init(), A.initSyncState())[1],
    })
    expect(await raw.frames.next((f) => f.documentId === guild.documentId)).toEqual({
      type: 'doc-unavailable',
      senderId: endpoint.peerId,
      targetId: me,
      documentId: guild.documentId,
    })
    raw.ws.close()
  })

  it('keeps what it acknowledged across a restart, and still refuses the private space', async () => {
    const expected = eventsIn(town.handle.doc()).length
    for (const client of open.splice(0)) await client.shutdown()
    await router.close()
    await start()
    const carol = await stockClient('carol', false, 'after-restart')
    const handle = await carol.repo.find(town.documentId)
    await until(handle, (doc) => eventsIn(doc).length === expected)
    await expect(carol.repo.find(den.documentId)).rejects.toThrow(/unavailable/)
  })
})
