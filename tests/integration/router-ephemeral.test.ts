// Signed ephemeral messages through a real router (S9): real devnet, tickets from the real PDS,
// a real router on an ephemeral port. Members write their joins with the validated client;
// ephemeral frames are sent and watched on raw sockets, as an attacker would.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { PeerId, Repo } from '@automerge/automerge-repo'
import { startDevnet, type Devnet, type DevnetAccount } from '@hearth/devnet'
import { generateDeviceKey, signCanonical, type Did } from '@hearth/identity'
import {
  createLogger,
  createSyncEndpoint,
  peerIdFor,
  startRouter,
  type HearthSyncEndpoint,
  type RunningRouter,
} from '@hearth/router'
import {
  EPHEMERAL_DOMAIN,
  EPHEMERAL_TYPE,
  ephemeralSigningFields,
  MAX_SIGNAL_PAYLOAD_BYTES,
  SignedWriter,
  signEphemeral,
  type ChangeValidator,
  type EphemeralDraft,
  type EphemeralFrame,
  type EphemeralKind,
  type EventId,
  type SpaceEvent,
} from '@hearth/sync'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type WebSocket from 'ws'
import {
  ackFor,
  buyTicket,
  createSpace,
  joinRaw,
  openClient,
  rawPeer,
  ticketUrl,
  writeEvent,
  type FrameLog,
  type Space,
  type SpaceAuthor,
} from './support/router-peers.ts'

type Name = 'alice' | 'bob' | 'carol' | 'dave' | 'eve'

let devnet: Devnet
let router: RunningRouter
let endpoint: HearthSyncEndpoint
let dir: string
const accounts = {} as Record<Name, DevnetAccount>
const repos: Repo[] = []
const sockets: WebSocket[] = []
const logLines: string[] = []
const tickets: string[] = []

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hearth-router-ephemeral-'))
  devnet = await startDevnet({ keyserver: false })
  Object.assign(accounts, devnet.accounts)
  accounts.dave = await devnet.createAccount('dave')
  accounts.eve = await devnet.createAccount('eve')
  endpoint = await createSyncEndpoint({ dataDir: dir })
  router = await startRouter({
    port: 0,
    plcUrl: devnet.plc.url,
    devMode: true,
    endpoint,
    log: createLogger({ level: 'debug', write: (line) => logLines.push(line) }),
  })
})

afterAll(async () => {
  for (const ws of sockets) ws.terminate()
  for (const repo of repos) await repo.shutdown().catch(() => undefined)
  await router?.close()
  await devnet?.close()
  if (dir) await rm(dir, { recursive: true, force: true })
})

async function ticketFor(name: Name): Promise<string> {
  const bought = await buyTicket(devnet, accounts[name], {
    url: router.url,
    audience: router.identity.audience,
  })
  tickets.push(bought.ticket)
  return ticketUrl(bought)
}

/** A validated Hearth client (writes its space events through the router). */
interface Client extends SpaceAuthor {
  name: Name
  validator: ChangeValidator
}

async function client(name: Name): Promise<Client> {
  const did = accounts[name].did
  const { repo, validator, frames } = await openClient(
    await ticketFor(name),
    peerIdFor(did, 'repo'),
    true,
    (r) => repos.push(r),
  )
  return { name, did, key: (await generateDeviceKey()).key, repo, validator, frames }
}

/** A joined raw socket of a DID: what sends and watches ephemeral frames. */
interface Device {
  name: string
  did: Did
  peerId: PeerId
  frames: FrameLog
  closed: Promise<number>
  isOpen(): boolean
  send(frame: object): void
  ephemeral(): EphemeralFrame[]
}

async function device(name: Name, suffix: string): Promise<Device> {
  const peer = await rawPeer(await ticketFor(name), (ws) => sockets.push(ws))
  const peerId = peerIdFor(accounts[name].did, suffix)
  expect((await joinRaw(peer, peerId)).type).toBe('peer')
  return {
    name: `${name}#${suffix}`,
    did: accounts[name].did,
    peerId,
    frames: peer.frames,
    closed: peer.closed,
    isOpen: peer.isOpen,
    send: peer.send,
    ephemeral: () =>
      peer.frames.frames.filter((f) => f.type === EPHEMERAL_TYPE) as unknown as EphemeralFrame[],
  }
}

async function write(
  author: Client,
  writer: SignedWriter,
  space: Space,
  kind: 'invite' | 'join' | 'proposal' | 'channel.create',
  body: Record<string, unknown>,
  parents: EventId[],
): Promise<SpaceEvent> {
  const { event, hash } = await writeEvent(author, writer, space, kind, body, parents)
  await ackFor(author, space.documentId, hash)
  return event
}

/** An invited member opens the space document and writes its join with its device key. */
async function joinSpace(member: Client, space: Space, invite: EventId): Promise<SpaceEvent> {
  const handle = await member.repo.find(space.documentId)
  const writer = new SignedWriter(handle, member.key, {
    onWrite: (accepted) => member.validator.noteLocalWrite(space.documentId, accepted),
  })
  return write(member, writer, space, 'join', {}, [invite])
}

async function dropped(reason: string): Promise<number> {
  const metric = await router.metrics.ephemeralDropped.get()
  return metric.values.find((v) => v.labels.reason === reason)?.value ?? 0
}

describe('router ephemeral messages (S9)', () => {
  let alice: Client
  let bob: Client
  let dave: Client
  let space: Space
  let channel: SpaceEvent
  const d = {} as Record<'alice' | 'alice2' | 'bob' | 'bob2' | 'carol' | 'dave' | 'eve', Device>
  const everyone = (): Device[] => Object.values(d)

  function draft<K extends EphemeralKind>(
    kind: K,
    body: EphemeralDraft<K>['body'],
    author: Did,
    to?: Did,
  ): EphemeralDraft<K> {
    return { space: space.id, kind, body, author, ...(to ? { to } : {}) }
  }

  /** Sends a frame that must be delivered; waits until every expected device has it. */
  async function delivered(from: Device, frame: EphemeralFrame, to: Device[]): Promise<void> {
    from.send(frame)
    await Promise.all(
      to.map((dev) => dev.frames.next((f) => f.type === EPHEMERAL_TYPE && f.nonce === frame.nonce)),
    )
  }

  /**
   * After a refused frame: the refusal is counted, then a valid frame from alice (a barrier:
   * frames on one socket arrive in order) reaches every member device, and nobody holds the
   * refused nonce.
   */
  async function nobodyGot(nonce: string): Promise<void> {
    const barrier = await signEphemeral(
      alice.key,
      draft('presence', { state: 'online' }, alice.did),
    )
    await delivered(
      d.alice,
      barrier,
      [d.alice2, d.bob, d.bob2].filter((dev) => dev.isOpen()),
    )
    for (const dev of everyone())
      expect(
        dev.ephemeral().some((f) => f.nonce === nonce),
        dev.name,
      ).toBe(false)
  }

  async function refused(from: Device, frame: object, reason: string): Promise<void> {
    const before = await dropped(reason)
    from.send(frame)
    await expect.poll(() => dropped(reason)).toBe(before + 1)
    await nobodyGot((frame as { nonce: string }).nonce)
  }

  beforeAll(async () => {
    alice = await client('alice')
    bob = await client('bob')
    const carol = await client('carol')
    dave = await client('dave')
    space = await createSpace(alice, 'INVITES_ONLY', 'Ephemeral den')
    channel = await write(alice, space.writer, space, 'channel.create', { name: 'general' }, [
      space.genesis.id,
    ])
    const invites: Record<string, SpaceEvent> = {}
    let last = channel.id
    for (const invitee of [bob, carol, dave]) {
      invites[invitee.name] = await write(
        alice,
        space.writer,
        space,
        'invite',
        { invitee: invitee.did },
        [last],
      )
      last = invites[invitee.name]!.id
    }
    await joinSpace(bob, space, invites.bob!.id)
    const daveJoin = await joinSpace(dave, space, invites.dave!.id)
    // carol is invited and never joins; dave joined and is banned.
    await write(alice, space.writer, space, 'proposal', { action: 'ban', target: dave.did }, [
      daveJoin.id,
    ])
    expect(endpoint.spaces.member(space.id, bob.did)?.status).toBe('member')
    expect(endpoint.spaces.member(space.id, carol.did)?.status).toBe('invited')
    expect(endpoint.spaces.member(space.id, dave.did)?.status).toBe('banned')
    expect(endpoint.spaces.member(space.id, accounts.eve.did)).toBeUndefined()

    d.alice = await device('alice', 'eph')
    d.alice2 = await device('alice', 'eph2')
    d.bob = await device('bob', 'eph')
    d.bob2 = await device('bob', 'eph2')
    d.carol = await device('carol', 'eph')
    d.dave = await device('dave', 'eph')
    d.eve = await device('eve', 'eph')
  })

  it("a member's presence and typing reach the other members' devices and the author's other device, nobody else", async () => {
    const presence = await signEphemeral(alice.key, draft('presence', { state: 'away' }, alice.did))
    await delivered(d.alice, presence, [d.alice2, d.bob, d.bob2])
    const typing = await signEphemeral(
      bob.key,
      draft('typing', { channel: channel.id, active: true }, bob.did),
    )
    await delivered(d.bob, typing, [d.alice, d.alice2, d.bob2])
    // The relayed frame is the signed frame, byte for byte in its fields.
    const got = d.alice.ephemeral().find((f) => f.nonce === typing.nonce)!
    expect({ ...got, sig: new Uint8Array(got.sig) }).toEqual(typing)
    await nobodyGot('none') // barrier: everything sent so far has arrived
    for (const frame of [presence, typing]) {
      for (const outsider of [d.carol, d.dave, d.eve])
        expect(
          outsider.ephemeral().some((f) => f.nonce === frame.nonce),
          outsider.name,
        ).toBe(false)
    }
    // Not echoed to the sending socket.
    expect(d.alice.ephemeral().some((f) => f.nonce === presence.nonce)).toBe(false)
    expect(d.bob.ephemeral().some((f) => f.nonce === typing.nonce)).toBe(false)
  })

  it('a poke and a call signal reach only their target', async () => {
    const poke = await signEphemeral(alice.key, draft('poke', {}, alice.did, bob.did))
    await delivered(d.alice, poke, [d.bob, d.bob2])
    const signal = await signEphemeral(
      bob.key,
      draft('signal', { call: 'call-0001', payload: 'v=0 offer' }, bob.did, alice.did),
    )
    await delivered(d.bob, signal, [d.alice, d.alice2])
    await nobodyGot('none')
    for (const dev of [d.alice, d.alice2, d.carol, d.dave, d.eve])
      expect(
        dev.ephemeral().some((f) => f.nonce === poke.nonce),
        dev.name,
      ).toBe(false)
    for (const dev of [d.bob, d.bob2, d.carol, d.dave, d.eve])
      expect(
        dev.ephemeral().some((f) => f.nonce === signal.nonce),
        dev.name,
      ).toBe(false)
    // A poke to someone who has not joined (carol, invited) goes nowhere.
    await refused(
      d.alice,
      await signEphemeral(alice.key, draft('poke', {}, alice.did, accounts.carol.did)),
      'target-not-member',
    )
  })

  it('refuses non-members: a stranger, an invitee who has not joined, a banned member', async () => {
    const eveKey = (await generateDeviceKey()).key
    await refused(
      d.eve,
      await signEphemeral(eveKey, draft('presence', { state: 'online' }, accounts.eve.did)),
      'not-member',
    )
    const carolKey = (await generateDeviceKey()).key
    await refused(
      d.carol,
      await signEphemeral(carolKey, draft('presence', { state: 'online' }, accounts.carol.did)),
      'not-member',
    )
    // dave signs with the very key his join bound: the ban still refuses him.
    expect(endpoint.spaces.member(space.id, dave.did)!.keys).toContain(dave.key.keyId)
    await refused(
      d.dave,
      await signEphemeral(dave.key, draft('poke', {}, dave.did, alice.did)),
      'not-member',
    )
    await refused(
      d.dave,
      await signEphemeral(dave.key, draft('presence', { state: 'online' }, dave.did)),
      'not-member',
    )
  })

  it('in a PUBLIC space, presence is for joined members only: a reader neither hears nor speaks', async () => {
    const square = await createSpace(alice, 'PUBLIC', 'Open square')
    // eve reads the public space (anyone signed in may sync it) but never joined.
    expect(endpoint.spaces.allows(accounts.eve.did, square.documentId)).toBe(true)
    const here = await signEphemeral(alice.key, {
      space: square.id,
      kind: 'presence',
      author: alice.did,
      body: { state: 'online' },
    })
    await delivered(d.alice, here, [d.alice2])
    await nobodyGot('none')
    for (const dev of [d.eve, d.bob, d.bob2, d.carol, d.dave])
      expect(
        dev.ephemeral().some((f) => f.nonce === here.nonce),
        dev.name,
      ).toBe(false)
    const eveKey = (await generateDeviceKey()).key
    await refused(
      d.eve,
      await signEphemeral(eveKey, {
        space: square.id,
        kind: 'presence',
        author: accounts.eve.did,
        body: { state: 'online' },
      }),
      'not-member',
    )
  })

  it('refuses forgeries, replays, stale and oversized frames; the router keeps serving', async () => {
    // A forged signature (one bit flipped).
    const forged = await signEphemeral(bob.key, draft('presence', { state: 'online' }, bob.did))
    const sig = new Uint8Array(forged.sig)
    sig[10]! ^= 1
    await refused(d.bob, { ...forged, sig }, 'bad-signature')

    // Another member's frame, genuinely signed by alice, sent from bob's socket.
    const alices = await signEphemeral(alice.key, draft('presence', { state: 'online' }, alice.did))
    await refused(d.bob, alices, 'author-not-sender')

    // bob's DID with a key that is not bound to bob in this space.
    const stray = (await generateDeviceKey()).key
    await refused(
      d.bob,
      await signEphemeral(stray, draft('presence', { state: 'online' }, bob.did)),
      'key-not-bound',
    )
    // ...nor alice's key claimed as bob's (bound, but to alice).
    await refused(
      d.bob,
      await signEphemeral(alice.key, draft('presence', { state: 'online' }, bob.did)),
      'key-not-bound',
    )

    // A replayed nonce: the first copy is delivered, the second refused (even from another device).
    const once = await signEphemeral(
      bob.key,
      draft('typing', { channel: channel.id, active: false }, bob.did),
    )
    await delivered(d.bob, once, [d.alice])
    const replays = await dropped('replayed')
    d.bob2.send(once)
    await expect.poll(() => dropped('replayed')).toBe(replays + 1)
    await nobodyGot('none')
    for (const dev of [d.alice, d.alice2, d.bob, d.bob2])
      expect(dev.ephemeral().filter((f) => f.nonce === once.nonce).length, dev.name).toBe(
        dev === d.bob ? 0 : 1,
      )

    // An old timestamp (a minute ago), correctly signed.
    await refused(
      d.bob,
      await signEphemeral(bob.key, {
        ...draft('presence', { state: 'online' }, bob.did),
        ts: Date.now() - 60_000,
      }),
      'stale',
    )

    // An oversized signal: the sender signs it by hand (signEphemeral refuses); the edge
    // refuses the frame and closes that socket; nobody receives it.
    const unsigned = {
      type: EPHEMERAL_TYPE,
      space: space.id,
      kind: 'signal' as const,
      to: alice.did,
      body: { call: 'call-0002', payload: 'x'.repeat(MAX_SIGNAL_PAYLOAD_BYTES + 1) },
      author: bob.did,
      key: bob.key.keyId,
      ts: Date.now(),
      nonce: 'oversized-signal-0001',
    }
    const big = {
      ...unsigned,
      sig: await signCanonical(
        bob.key,
        EPHEMERAL_DOMAIN,
        ephemeralSigningFields(unsigned as never),
      ),
    }
    d.bob2.send(big)
    expect(await d.bob2.closed).toBe(1008)
    await nobodyGot(unsigned.nonce)

    // Still serving: members' frames flow, health is fine.
    const after = await signEphemeral(bob.key, draft('presence', { state: 'online' }, bob.did))
    await delivered(d.bob, after, [d.alice, d.alice2])
    expect((await fetch(`${router.url}/healthz`)).status).toBe(200)
    const metrics = await (await fetch(`${router.url}/metrics`)).text()
    expect(metrics).toMatch(/hearth_router_ephemeral_dropped_total\{reason="bad-signature"\} 1/)
    expect(metrics).toMatch(/hearth_router_rejections_total\{reason="malformed-frame"\} 1/)

    // The logs name refusals by reason and DID, as JSON lines, and never carry what was said
    // (a signal's payload), a ticket or a signature.
    const lines = logLines.map((line) => JSON.parse(line) as Record<string, unknown>)
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 'info',
        event: 'ephemeral.dropped',
        did: bob.did,
        reason: 'stale',
      }),
    )
    expect(lines.every((l) => typeof l.time === 'string' && typeof l.event === 'string')).toBe(true)
    const all = logLines.join('\n')
    for (const secret of ['v=0 offer', 'xxxxxxxxxx', ...tickets]) expect(all).not.toContain(secret)
  })
})
