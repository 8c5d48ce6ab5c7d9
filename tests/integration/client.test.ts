// The client library end to end: HearthClient instances on files (as the CLI runs them), a
// real router on an ephemeral port with SQLite, tickets bought with service-auth tokens from
// the real local PDS. Two users create, invite, join, write, go offline and converge.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startDevnet, type Devnet } from '@hearth/devnet'
import { generateDeviceKey, type DeviceKey } from '@hearth/identity'
import { createSyncEndpoint, startRouter, type RunningRouter } from '@hearth/router'
import {
  HearthClient,
  routerSocketUrl,
  StoreStorageAdapter,
  TicketRequestError,
  waitFor,
  type EventId,
  type SpaceSession,
  type SpaceState,
} from '@hearth/sync'
import { FileStoreAdapter } from '@hearth/sync/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

type Name = 'alice' | 'bob' | 'carol'

let devnet: Devnet
let router: RunningRouter | undefined
/** Where clients find the router (restarts reuse its port, so this stays true). */
let endpoint: { url: string; audience: string }
let dir: string
const keys = new Map<Name, DeviceKey>()
const clients: HearthClient[] = []

async function startOurRouter(port = 0): Promise<RunningRouter> {
  const endpoint = await createSyncEndpoint({
    dataDir: join(dir, 'router'),
  })
  return startRouter({ port, plcUrl: devnet.plc.url, devMode: true, endpoint })
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hearth-client-'))
  devnet = await startDevnet({ keyserver: false })
  router = await startOurRouter()
  endpoint = { url: router.url, audience: router.identity.audience }
  for (const name of ['alice', 'bob', 'carol'] as const)
    keys.set(name, (await generateDeviceKey()).key)
})

afterAll(async () => {
  for (const client of clients) await client.close().catch(() => undefined)
  await router?.close()
  await devnet?.close()
  if (dir) await rm(dir, { recursive: true, force: true })
})

/** A device of `name`: its own files under `dir/<name>-<device>`, the router at `port`. */
async function device(
  name: Name,
  options: { device?: string; online?: boolean; capacity?: number } = {},
): Promise<HearthClient> {
  const account = devnet.accounts[name]
  const agent = await devnet.login(account)
  const home = join(dir, `${name}-${options.device ?? 'one'}`)
  const client = await HearthClient.open({
    did: account.did,
    key: keys.get(name)!,
    store: new FileStoreAdapter(join(home, 'client')),
    repoStorage: new StoreStorageAdapter(new FileStoreAdapter(join(home, 'repo'))),
    ...(options.online === false
      ? {}
      : {
          router: {
            url: () =>
              routerSocketUrl(endpoint, async (aud, lxm) => {
                const { data } = await agent.com.atproto.server.getServiceAuth({ aud, lxm })
                return data.token
              }),
            minRetryMs: 50,
            maxRetryMs: 300,
          },
        }),
    ...(options.capacity ? { messageDocumentCapacity: options.capacity } : {}),
  })
  clients.push(client)
  return client
}

function until(session: SpaceSession, test: (state: SpaceState) => boolean): Promise<void> {
  return waitFor(session, test, 20_000)
}

async function stored(session: SpaceSession, id: EventId): Promise<void> {
  await waitFor(session, () => session.delivery(id) === 'stored', 20_000)
}

function texts(session: SpaceSession, container: EventId): (string | null)[] {
  return session.timeline(container).map((m) => m.text)
}

describe('two users through the router', () => {
  let alice: HearthClient
  let bob: HearthClient
  let aliceSpace: SpaceSession
  let bobSpace: SpaceSession
  let channel: EventId

  it('alice creates a space and a channel; her message is saved, then stored by the router', async () => {
    alice = await device('alice')
    aliceSpace = await alice.createSpace({ name: 'Book club', mode: 'INVITES_ONLY' })
    expect(aliceSpace.state.mode).toBe('INVITES_ONLY')
    expect(alice.spaces().map((s) => s.name)).toEqual(['Book club'])
    channel = await aliceSpace.createChannel('general')
    const hello = await aliceSpace.send(channel, 'Hello **world**')
    // Shown at once, from the local document, before any network round trip.
    expect(texts(aliceSpace, channel)).toEqual(['Hello **world**'])
    expect(['saving', 'saved']).toContain(aliceSpace.delivery(hello))
    await stored(aliceSpace, hello)
    expect(aliceSpace.delivery(hello)).toBe('stored')
  })

  it('bob cannot read the space before he is invited', async () => {
    bob = await device('bob')
    const peek = await bob.openSpace(aliceSpace.spaceId)
    // The router answers as for a document that does not exist: nothing of it arrives.
    await expect(waitFor(peek, (s) => s.mode !== null, 1500)).rejects.toThrow(/timed out/)
    expect(peek.state.messages.size).toBe(0)
    await bob.forgetSpace(aliceSpace.spaceId)
  })

  it('alice invites bob; bob joins, reads the history and replies; alice sees it', async () => {
    const invite = await aliceSpace.invite(devnet.accounts.bob.did)
    await stored(aliceSpace, invite)
    bob = await device('bob', { device: 'two' })
    bobSpace = await bob.joinSpace(aliceSpace.spaceId)
    await until(bobSpace, (s) => s.members.get(devnet.accounts.bob.did)?.status === 'member')
    await until(bobSpace, () => texts(bobSpace, channel).length === 1)
    expect(texts(bobSpace, channel)).toEqual(['Hello **world**'])
    const first = bobSpace.timeline(channel)[0]!
    const reply = await bobSpace.send(channel, 'Hi alice', { replyTo: first.id })
    await until(aliceSpace, () => texts(aliceSpace, channel).length === 2)
    expect(aliceSpace.state.messages.get(reply)?.replyTo).toBe(first.id)
    expect(aliceSpace.state.messages.get(reply)?.author).toBe(devnet.accounts.bob.did)
  })

  it('an edit and a reaction reach the other side', async () => {
    const [hello, reply] = aliceSpace.timeline(channel)
    await aliceSpace.edit(hello!.id, 'Hello everyone')
    await aliceSpace.react(reply!.id, '👍')
    await until(bobSpace, (s) => s.messages.get(hello!.id)?.text === 'Hello everyone')
    await until(bobSpace, (s) => s.messages.get(reply!.id)?.reactions.get('👍')?.size === 1)
    expect(bobSpace.state.messages.get(hello!.id)?.edited).toBe(true)
  })

  it('with the router down both keep writing; after it restarts both converge, each message once', async () => {
    const port = Number(new URL(router!.url).port)
    await router!.close()
    router = undefined
    await until(aliceSpace, () => alice.connection.state !== 'online')
    let a: EventId, b: EventId
    try {
      a = await aliceSpace.send(channel, 'offline from alice')
      b = await bobSpace.send(channel, 'offline from bob')
      await alice.flush()
      expect(aliceSpace.delivery(a)).toBe('saved')
      expect(texts(bobSpace, channel)).not.toContain('offline from alice')
    } finally {
      router = await startOurRouter(port)
    }
    await until(aliceSpace, () => texts(aliceSpace, channel).includes('offline from bob'))
    await until(bobSpace, () => texts(bobSpace, channel).includes('offline from alice'))
    await stored(aliceSpace, a)
    await stored(bobSpace, b)
    expect(texts(aliceSpace, channel)).toEqual(texts(bobSpace, channel))
    expect(texts(aliceSpace, channel).filter((t) => t === 'offline from alice')).toHaveLength(1)
  })

  it('a device reopened without any network shows everything it had', async () => {
    const before = texts(aliceSpace, channel)
    await alice.close()
    const offline = await device('alice', { online: false })
    expect(offline.spaces().map((s) => s.spaceId)).toEqual([aliceSpace.spaceId])
    const reopened = await offline.openSpace(aliceSpace.spaceId)
    await until(reopened, () => texts(reopened, channel).length === before.length)
    expect(texts(reopened, channel)).toEqual(before)
    expect(reopened.state.members.get(devnet.accounts.bob.did)?.status).toBe('member')
    await offline.close()
  })
  it('a message saved while the router was down and the app then closed is sent on the next start', async () => {
    const port = Number(new URL(router!.url).port)
    await router!.close()
    router = undefined
    let id: EventId
    try {
      const before = await device('alice')
      const space = await before.openSpace(aliceSpace.spaceId)
      id = await space.send(channel, 'written, then the app closed')
      await before.flush()
      expect(space.delivery(id)).toBe('saved')
      await before.close()
    } finally {
      router = await startOurRouter(port)
    }
    const after = await device('alice')
    const space = await after.openSpace(aliceSpace.spaceId)
    // The outbox survived the restart: not yet stored, and pushed again once online.
    expect(space.delivery(id)).toBe('saved')
    await stored(space, id)
    await until(bobSpace, () => texts(bobSpace, channel).includes('written, then the app closed'))
    await after.close()
  })
})

describe('message documents', () => {
  it('a channel rolls over to its next message document when one is full, and readers follow', async () => {
    const carol = await device('carol', { capacity: 5 })
    const space = await carol.createSpace({ name: 'Rollover', mode: 'PUBLIC' })
    const channel = await space.createChannel('busy')
    const ids: EventId[] = []
    for (let i = 0; i < 12; i++) ids.push(await space.send(channel, `m${i}`))
    expect(new Set(space.documentIds()).size).toBe(1 + 3) // space document + 3 message documents
    await stored(space, ids[ids.length - 1]!)
    // Another user of a public space reads all three documents from the router.
    const reader = await device('bob', { device: 'reader', capacity: 5 })
    const read = await reader.openSpace(space.spaceId)
    await until(read, () => texts(read, channel).length === 12)
    expect(texts(read, channel)).toEqual(ids.map((_, i) => `m${i}`))
  })
})

describe('router tickets', () => {
  it('refuses a ticket answer pointing at another host', async () => {
    const fake: typeof fetch = async () =>
      new Response(
        JSON.stringify({ ticket: 'x'.repeat(32), url: 'ws://evil.example/sync', expiresAt: '' }),
        { status: 200 },
      )
    await expect(
      routerSocketUrl({ url: 'http://localhost:1', audience: 'did:web:x' }, async () => 't', fake),
    ).rejects.toBeInstanceOf(TicketRequestError)
  })
})
