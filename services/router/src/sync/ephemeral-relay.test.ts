import type { PeerId } from '@automerge/automerge-repo'
import { generateDeviceKey, type DeviceKey, type Did } from '@hearth/identity'
import { signEphemeral, type EphemeralFrame, type MemberView, type SpaceId } from '@hearth/sync'
import { beforeAll, describe, expect, it } from 'vitest'
import { EphemeralRelay, type EphemeralDropReason } from './ephemeral-relay.ts'
import type { SessionInfo } from './socket-adapter.ts'

const space = 'a'.repeat(52) as SpaceId
const alice = 'did:plc:aliceaaaaaaaaaaaaaaaaaaa' as Did
const bob = 'did:plc:bobbbbbbbbbbbbbbbbbbbbbb' as Did
const session = (did: Did, tab: string): SessionInfo => ({
  did,
  ip: '127.0.0.1',
  peerId: `${did}#${tab}` as PeerId,
})
let aliceKey: DeviceKey
let bobKey: DeviceKey

beforeAll(async () => {
  aliceKey = (await generateDeviceKey()).key
  bobKey = (await generateDeviceKey()).key
})

function setup(limits = {}, online = false) {
  const members = new Map<Did, MemberView>([
    [alice, { did: alice, status: 'member', keys: [aliceKey.keyId] } as unknown as MemberView],
    [bob, { did: bob, status: 'member', keys: [bobKey.keyId] } as unknown as MemberView],
  ])
  const sessions = new Map<Did, SessionInfo[]>([
    [alice, [session(alice, 'a1')]],
    [bob, [session(bob, 'b1'), session(bob, 'b2')]],
  ])
  const sent: [PeerId, EphemeralFrame][] = []
  const drops: EphemeralDropReason[] = []
  const relay = new EphemeralRelay({
    members: () => members,
    sessionsOf: (did) => sessions.get(did) ?? [],
    ...(online ? { online: { count: () => sessions.size, dids: () => sessions.keys() } } : {}),
    send: (peerId, frame) => sent.push([peerId, frame]),
    limits,
    onDrop: (reason) => drops.push(reason),
  })
  return { relay, members, sent, drops }
}

const presence = (key: DeviceKey, author: Did) =>
  signEphemeral(key, { space, kind: 'presence', author, body: { state: 'online' } })

describe('EphemeralRelay', () => {
  it("delivers a member's presence to every other session of the space's members", async () => {
    const { relay, sent, drops } = setup()
    await relay.receive(session(bob, 'b1'), await presence(bobKey, bob))
    expect(sent.map(([peer]) => peer).sort()).toEqual([`${alice}#a1`, `${bob}#b2`])
    expect(drops).toEqual([])
  })

  it('walks the DIDs online instead of the member list when they are fewer: same deliveries', async () => {
    const { relay, members, sent } = setup({}, true)
    for (let i = 0; i < 10; i++) {
      const did = `did:plc:member${'a'.repeat(18)}${String.fromCharCode(97 + i)}` as Did
      members.set(did, { did, status: 'member', keys: [] } as unknown as MemberView)
    }
    await relay.receive(session(bob, 'b1'), await presence(bobKey, bob))
    expect(sent.map(([peer]) => peer).sort()).toEqual([`${alice}#a1`, `${bob}#b2`])
  })

  it('drops over the per-DID rate, and over the per-space rate for everyone', async () => {
    const perDid = setup({ perDidBurst: 2, perDidPerSecond: 0.001 })
    for (let i = 0; i < 3; i++)
      await perDid.relay.receive(session(bob, 'b1'), await presence(bobKey, bob))
    expect(perDid.drops).toEqual(['rate-limited'])
    const perSpace = setup({ perSpaceBurst: 1, perSpacePerSecond: 0.001 })
    await perSpace.relay.receive(session(bob, 'b1'), await presence(bobKey, bob))
    await perSpace.relay.receive(session(alice, 'a1'), await presence(aliceKey, alice))
    expect(perSpace.drops).toEqual(['rate-limited'])
  })

  it('a revoked key no longer speaks for its member', async () => {
    const { relay, members, drops, sent } = setup()
    members.set(bob, { ...members.get(bob)!, keys: [], revokedKeys: [bobKey.keyId] } as MemberView)
    await relay.receive(session(bob, 'b1'), await presence(bobKey, bob))
    expect(drops).toEqual(['key-not-bound'])
    expect(sent).toEqual([])
  })

  it('a ban landing while the signature is checked still stops the frame', async () => {
    const { relay, members, drops, sent } = setup()
    const frame = await presence(bobKey, bob)
    const pending = relay.receive(session(bob, 'b1'), frame)
    members.set(bob, { ...members.get(bob)!, status: 'banned' } as MemberView)
    await pending
    expect(drops).toEqual(['not-member'])
    expect(sent).toEqual([])
  })

  it('a full replay cache refuses rather than forgetting a live nonce', async () => {
    const { relay, drops, sent } = setup({ maxNonces: 1 })
    await relay.receive(session(bob, 'b1'), await presence(bobKey, bob))
    await relay.receive(session(bob, 'b1'), await presence(bobKey, bob))
    expect(drops).toEqual(['replay-cache-full'])
    expect(sent.length).toBe(2)
  })
})
