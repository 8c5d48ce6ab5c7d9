// The validator in front of automerge-repo's own WebSocket adapters, on a real loopback
// socket (the socket is the point): a router Repo and two clients behind validators, and a
// stock client attacking through the router.
import * as A from '@automerge/automerge'
import { Repo } from '@automerge/automerge-repo'
import type { DocHandle, PeerId } from '@automerge/automerge-repo'
import {
  WebSocketClientAdapter,
  WebSocketServerAdapter,
} from '@automerge/automerge-repo-network-websocket'
import { generateDeviceKey } from '@hearth/identity'
import { WebSocketServer } from 'ws'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { importVerified } from './change-validator.ts'
import { actorIdFromPublicKey, bucketKey, spaceDocumentId } from './layout.ts'
import { createSignedDocument, SignedWriter } from './signed-writer.ts'
import { craftByMutation, makeTestEvent, textsIn, until, verifyTestEvent } from './testing.ts'
import { createValidatedRepo } from './validated-repo.ts'
import type { PeerRejection } from './validating-adapter.ts'

type Doc = Record<string, unknown>
const cleanups: (() => void | Promise<void>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

describe('the validator over automerge-repo WebSocket adapters', () => {
  it('a router refuses and closes a stock client’s bad change; honest clients keep syncing through it', async () => {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    await new Promise<void>((resolve) => server.once('listening', () => resolve()))
    const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`
    const serverAdapter = new WebSocketServerAdapter(server as never)
    const routerRejections: PeerRejection[] = []
    let rejected: (r: PeerRejection) => void = () => {}
    const firstRejection = new Promise<PeerRejection>((resolve) => (rejected = resolve))
    const router = createValidatedRepo({
      verifyEvent: verifyTestEvent,
      repo: { peerId: 'router' as PeerId, sharePolicy: async () => true },
      onReject: (r) => {
        routerRejections.push(r)
        rejected(r)
      },
      closePeer: (peerId) => serverAdapter.sockets[peerId]?.close(),
      resetPeer: (peerId) => serverAdapter.sockets[peerId]?.close(),
    })
    router.addNetwork(serverAdapter)

    const client = (name: string) => {
      const made = createValidatedRepo({
        verifyEvent: verifyTestEvent,
        repo: { peerId: name as PeerId, sharePolicy: async () => true },
      })
      made.addNetwork(new WebSocketClientAdapter(url, 100))
      return made
    }
    const alice = client('alice')
    const bob = client('bob')
    const mallory = new Repo({
      peerId: 'mallory' as PeerId,
      network: [new WebSocketClientAdapter(url, 100)],
    })
    cleanups.push(async () => {
      for (const repo of [alice.repo, bob.repo, mallory, router.repo])
        repo.networkSubsystem.disconnect()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    })

    const aliceKey = (await generateDeviceKey()).key
    const bobKey = (await generateDeviceKey()).key
    const malloryKey = (await generateDeviceKey()).key
    const documentId = spaceDocumentId('websocket')
    const genesis = await createSignedDocument(aliceKey, [await makeTestEvent(aliceKey, 'genesis')])
    const aliceHandle = await importVerified<Doc>(alice.repo, alice.validator, documentId, genesis)
    const aliceWriter = new SignedWriter(aliceHandle as DocHandle<unknown>, aliceKey, {
      onWrite: (a) => alice.validator.noteLocalWrite(documentId, a),
    })
    await aliceWriter.append([await makeTestEvent(aliceKey, 'hello')])
    await alice.repo.networkSubsystem.whenReady()
    const routerHandle = await router.repo.find<Doc>(documentId)
    await until(routerHandle, (d) => textsIn(d).length === 2)
    const bobHandle = await bob.repo.find<Doc>(documentId)
    await until(bobHandle, (d) => textsIn(d).length === 2)

    const malloryHandle = await mallory.find<Doc>(documentId)
    await until(malloryHandle, (d) => textsIn(d).length === 2)
    const victim = bucketKey(actorIdFromPublicKey(aliceKey.publicKey), 0)
    const evil = await craftByMutation(malloryHandle.doc(), malloryKey, (d) =>
      (d[victim] as unknown[]).splice(0, 1),
    )
    const before = A.getHeads(routerHandle.doc())
    // The router closes mallory's socket; its client reconnects, and the ban holds.
    let joins = 0
    const rejoined = new Promise<void>((resolve) =>
      serverAdapter.on('peer-candidate', ({ peerId }) => {
        if (peerId === 'mallory' && ++joins === 1) resolve()
      }),
    )
    malloryHandle.update((d) => A.applyChanges(d, [evil])[0])
    const rejection = await firstRejection
    expect(rejection.peerId).toBe('mallory')
    expect(rejection.reason).toMatch(/predecessor/)
    expect(A.getHeads(routerHandle.doc())).toEqual(before)

    const bobWriter = new SignedWriter(bobHandle as DocHandle<unknown>, bobKey, {
      onWrite: (a) => bob.validator.noteLocalWrite(documentId, a),
    })
    await bobWriter.append([await makeTestEvent(bobKey, 'after the attack')])
    const doc = await until(aliceHandle, (d) => textsIn(d).includes('after the attack'))
    expect(textsIn(doc)).toEqual(['after the attack', 'genesis', 'hello'])
    expect(textsIn(A.load(A.save(routerHandle.doc())))).toEqual([
      'after the attack',
      'genesis',
      'hello',
    ])
    expect(routerRejections.every((r) => r.peerId === 'mallory')).toBe(true)
    await rejoined
    expect(router.repo.peers).not.toContain('mallory')
  })
})
