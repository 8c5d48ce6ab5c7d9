// The client library end to end: HearthClient instances on files (as the CLI runs them), a
// real router on an ephemeral port with SQLite, tickets bought with service-auth tokens from
// the real local PDS. Two users create, invite, join, write, go offline and converge.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as A from '@automerge/automerge'
import { cbor } from '@automerge/automerge-repo'
import { startDevnet, type Devnet } from '@hearth/devnet'
import { generateDeviceKey, type DeviceKey } from '@hearth/identity'
import { createSyncEndpoint, startRouter, type RunningRouter } from '@hearth/router'
import {
  HearthClient,
  PUSH_TYPE,
  routerSocketUrl,
  StoreStorageAdapter,
  TicketRequestError,
  userDocumentId,
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
/** One key per device (a key never lives in two stores: that would fork its actor's history). */
const keys = new Map<string, DeviceKey>()
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
})

afterAll(async () => {
  for (const client of clients) await client.close().catch(() => undefined)
  await router?.close()
  await devnet?.close()
  if (dir) await rm(dir, { recursive: true, force: true })
})

async function deviceKey(name: Name, device: string): Promise<DeviceKey> {
  const id = `${name}-${device}`
  if (!keys.has(id)) keys.set(id, (await generateDeviceKey()).key)
  return keys.get(id)!
}

/** A device of `name`: its own files under `dir/<name>-<device>`, the router at `port`. */
async function device(
  name: Name,
  options: {
    device?: string
    online?: boolean
    capacity?: number
    key?: DeviceKey
    trustKey?: (keyId: string) => Promise<boolean>
  } = {},
): Promise<HearthClient> {
  const account = devnet.accounts[name]
  const agent = await devnet.login(account)
  const home = join(dir, `${name}-${options.device ?? 'one'}`)
  const client = await HearthClient.open({
    did: account.did,
    key: options.key ?? (await deviceKey(name, options.device ?? 'one')),
    ...(options.trustKey ? { trustKey: options.trustKey } : {}),
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
            joinTimeoutMs: 2000,
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
  const where = new Error('waited here').stack
  return waitFor(session, test, 20_000).catch((error: unknown) => {
    throw new Error(`${String(error)}\n${where}`)
  })
}

async function stored(session: SpaceSession, id: EventId): Promise<void> {
  await until(session, () => session.delivery(id) === 'stored')
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

  it('threads and gardening: a thread is made, written in, renamed; a message is moved into it', async () => {
    const [hello, reply] = aliceSpace.timeline(channel)
    const thread = await aliceSpace.createThread(channel, 'About hello', hello!.id)
    await until(bobSpace, (s) => s.containers.get(thread)?.name === 'About hello')
    await bobSpace.send(thread, 'in the thread')
    await until(aliceSpace, () => texts(aliceSpace, thread).includes('in the thread'))
    await aliceSpace.move([reply!.id], thread)
    await aliceSpace.renameThread(thread, 'Hello, continued')
    await until(
      bobSpace,
      (s) =>
        s.containers.get(thread)?.name === 'Hello, continued' &&
        texts(bobSpace, thread).length === 2,
    )
    expect(bobSpace.state.messages.get(reply!.id)?.movedTo).toBe(thread)
    expect(texts(bobSpace, channel)).not.toContain('Hi alice')
    // Moved back so the rest of this conversation reads as before.
    await aliceSpace.move([reply!.id], channel)
    await until(bobSpace, () => texts(bobSpace, channel).includes('Hi alice'))
  })

  it('typing and presence reach the other member; a poke reaches only its target', async () => {
    const aliceDid = devnet.accounts.alice.did
    const bobDid = devnet.accounts.bob.did
    expect(await aliceSpace.setTyping(channel, true)).toBe(true)
    await until(bobSpace, () => bobSpace.ephemeral.typingIn(channel).includes(aliceDid))
    await aliceSpace.setPresence('away')
    await until(bobSpace, () => bobSpace.ephemeral.presence().get(aliceDid)?.state === 'away')
    const poked = new Promise<string>((resolve) =>
      aliceSpace.ephemeral.on((frame) => {
        if (frame.kind === 'poke') resolve(frame.author)
      }),
    )
    await bobSpace.poke(aliceDid)
    expect(await poked).toBe(bobDid)
    // The router relays a poke only to its target: bob's own space never sees it.
    expect(bobSpace.ephemeral.dropped.get('not-for-me') ?? 0).toBe(0)
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

describe('the user document', () => {
  it('a second device of the same user sees the spaces, read positions and preferences', async () => {
    const first = await device('carol', { device: 'laptop' })
    const space = await first.createSpace({ name: 'Carol and friends', mode: 'INVITES_ONLY' })
    const channel = await space.createChannel('general')
    const hello = await space.send(channel, 'hello')
    await first.user.markRead(space.spaceId, channel, hello)
    await first.user.setPrefs(space.spaceId, { muted: true, colour: '#336699' })
    await stored(space, hello)
    // The phone has its own key; it trusts the laptop's key (the apps ask the keyserver).
    const phoneKey = (await generateDeviceKey()).key
    const laptopKey = (await deviceKey('carol', 'laptop')).keyId
    const phone = await device('carol', {
      device: 'phone',
      key: phoneKey,
      trustKey: async (keyId) => keyId === laptopKey,
    })
    await waitForUser(phone, (s) => s.follows.has(space.spaceId) && s.prefs.has(space.spaceId))
    expect(phone.spaces()).toContainEqual({ spaceId: space.spaceId, name: 'Carol and friends' })
    expect(phone.spaces()).toEqual(first.spaces())
    expect(phone.user.readPosition(space.spaceId, channel)).toBe(hello)
    expect(phone.prefs(space.spaceId)).toEqual({ muted: true, colour: '#336699' })
    // A record written by a key the phone cannot confirm as carol's counts for nothing there.
    const stranger = await device('carol', {
      device: 'stranger',
      key: (await generateDeviceKey()).key,
    })
    await waitForUser(stranger, (s) => s.follows.size === 0 && s.untrusted > 0)
    await stranger.user.follow('c'.repeat(52) as never, 'planted')
    await stranger.flush()
    await waitForUser(phone, (s) => s.untrusted > 0)
    expect(phone.spaces().map((s) => s.name)).toEqual(['Carol and friends'])
  })

  it('nobody else can read or write a user document (S7): answered as if it did not exist', async () => {
    const carolDocument = userDocumentId(devnet.accounts.carol.did)
    const missing = userDocumentId('did:plc:nobodynobodynobodynobody0')
    const agent = await devnet.login(devnet.accounts.bob)
    const url = await routerSocketUrl(endpoint, async (aud, lxm) => {
      const { data } = await agent.com.atproto.server.getServiceAuth({ aud, lxm })
      return data.token
    })
    const ws = new WebSocket(url)
    ws.binaryType = 'arraybuffer'
    const frames: Record<string, unknown>[] = []
    const waiters: (() => void)[] = []
    ws.addEventListener('message', (event) => {
      frames.push(cbor.decode(new Uint8Array(event.data as ArrayBuffer)) as Record<string, unknown>)
      for (const wake of waiters.splice(0)) wake()
    })
    /** The first frame from index `from` on that matches. */
    const next = async (match: (f: Record<string, unknown>) => boolean, from = 0) => {
      for (;;) {
        const found = frames.slice(from).find(match)
        if (found) return found
        await new Promise<void>((resolve) => waiters.push(resolve))
      }
    }
    await new Promise((resolve) => ws.addEventListener('open', resolve))
    const me = `${devnet.accounts.bob.did}#probe`
    const send = (frame: object) => ws.send(new Uint8Array(cbor.encode(frame)))
    send({
      type: 'join',
      senderId: me,
      peerMetadata: {},
      supportedProtocolVersions: ['1'],
    })
    const peer = await next((f) => f.type === 'peer')
    const ask = (documentId: string) =>
      send({
        type: 'request',
        senderId: me,
        targetId: peer.senderId,
        documentId,
        data: A.encodeSyncMessage({ heads: [], need: [], have: [], changes: [] }),
      })
    ask(carolDocument)
    const refused = await next((f) => f.documentId === carolDocument)
    ask(missing)
    const absent = await next((f) => f.documentId === missing)
    expect(refused.type).toBe('doc-unavailable')
    expect({ ...refused, documentId: null }).toEqual({ ...absent, documentId: null })
    // A pushed change into carol's user document is refused the same way, and changes nothing.
    const before = frames.length
    send({
      type: PUSH_TYPE,
      senderId: me,
      targetId: peer.senderId,
      documentId: carolDocument,
      changes: [new Uint8Array([1, 2, 3])],
    })
    const pushRefused = await next(
      (f, i = frames.indexOf(f)) => i >= before && f.documentId === carolDocument,
    )
    expect(pushRefused.type).toBe('doc-unavailable')
    ws.close()
  })
})

async function waitForUser(
  client: HearthClient,
  test: (state: HearthClient['user']['state']) => boolean,
): Promise<void> {
  if (test(client.user.state)) return
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error('timed out waiting for the user document')),
      20_000,
    )
    const stop = client.user.subscribe((state) => {
      if (!test(state)) return
      clearTimeout(timer)
      stop()
      resolve()
    })
  })
}

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
