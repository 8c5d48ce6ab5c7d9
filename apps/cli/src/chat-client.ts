import type { DeviceKey, Did } from '@hearth/identity'
import {
  HearthClient,
  prefixedStore,
  routerSocketUrl,
  StoreStorageAdapter,
  TicketRequestError,
  type SpaceSession,
} from '@hearth/sync'
import { FileStoreAdapter } from '@hearth/sync/node'
import { join } from 'node:path'
import type { CliConfig } from './config.ts'
import { loadDeviceKey } from './device.ts'
import { activeDeviceKeys } from './network.ts'
import { NotLoggedInError, readSession, resumeAgent } from './session.ts'

/** Handle states that will not change without the network (or that the network answered). */
const SETTLED_STATES = new Set(['ready', 'unavailable', 'deleted', 'unloaded'])

/**
 * One command's client: this HEARTH_HOME's device key and files, the router from the config.
 * Commands open it, wait for what they need, and close it (which flushes to disk).
 */
export class ChatClient {
  readonly client: HearthClient
  readonly did: Did
  readonly handle: string
  readonly key: DeviceKey
  readonly #config: CliConfig
  /** Why the last attempt to reach the router failed (null: none failed yet). */
  #lastError: string | null = null
  #failures = 0
  readonly #failureListeners = new Set<() => void>()

  private constructor(
    client: HearthClient,
    me: { did: Did; handle: string; key: DeviceKey },
    config: CliConfig,
  ) {
    this.client = client
    this.did = me.did
    this.handle = me.handle
    this.key = me.key
    this.#config = config
  }

  static async open(
    home: string,
    config: CliConfig,
    options: { online?: boolean } = {},
  ): Promise<ChatClient> {
    const stored = await readSession(home)
    const key = await loadDeviceKey(home)
    if (!stored || !key) throw new NotLoggedInError()
    const files = new FileStoreAdapter(join(home, 'data'))
    // Set once the client exists: the URL callback may run before (its failure is then lost).
    const ref: { chat?: ChatClient } = {}
    // The PDS session is resumed on the first connection attempt only: reading from this
    // device's files must work with no network at all.
    let agent: Promise<Awaited<ReturnType<typeof resumeAgent>>['agent']> | undefined
    const endpoint = { url: config.routerUrl, audience: config.routerAudience }
    const socketUrl = async (): Promise<string> => {
      try {
        agent ??= resumeAgent(home).then((r) => r.agent)
        const pds = await agent.catch((cause: unknown) => {
          agent = undefined
          throw new RouterUnreachableError(`cannot resume the session at ${stored.pds}`, cause)
        })
        return await routerSocketUrl(endpoint, async (aud, lxm) => {
          const { data } = await pds.com.atproto.server.getServiceAuth({ aud, lxm })
          return data.token
        })
      } catch (error) {
        if (ref.chat) ref.chat.#lastError = describeFailure(error, config.routerUrl)
        throw error
      }
    }
    // Records in the user document (followed spaces) count from this user's other devices
    // too, as the keyserver lists them; asked once per command, and only if such a record shows.
    let devices: Promise<Set<string>> | undefined
    let asking = 0
    const trustKey = async (keyId: string): Promise<boolean> => {
      asking++
      try {
        devices ??= activeDeviceKeys(config.keyserverUrl, stored.did, 2000)
        return (await devices.catch(() => new Set<string>())).has(keyId)
      } finally {
        asking--
      }
    }
    const client = await HearthClient.open({
      did: stored.did,
      key,
      trustKey,
      store: prefixedStore(files, 'client'),
      repoStorage: new StoreStorageAdapter(prefixedStore(files, 'repo')),
      instance: `cli-${process.pid}`,
      ...(options.online === false
        ? {}
        : { router: { url: socketUrl, minRetryMs: 250, maxRetryMs: 2000, readyAfterMs: 3000 } }),
    })
    await userSettled(client, () => asking > 0)
    const chat = new ChatClient(client, { did: stored.did, handle: stored.handle, key }, config)
    ref.chat = chat
    client.connection.subscribe((state) => chat.#connectionState(state))
    return chat
  }

  #wasOnline = false

  #connectionState(state: string): void {
    if (state === 'online') this.#wasOnline = true
    if (state === 'connecting') this.#lastError = null
    // Offline without having been online: this attempt failed (no ticket, socket refused).
    if (state !== 'offline' || this.#wasOnline) return
    this.#lastError ??= `the router at ${this.#config.routerUrl} closed the connection`
    this.#failures++
    for (const listener of this.#failureListeners) listener()
  }

  /** How long commands wait for the router (HEARTH_SYNC_TIMEOUT_MS). */
  get timeoutMs(): number {
    return this.#config.syncTimeoutMs
  }

  /** Why the router could not be reached, when it could not. */
  get offlineReason(): string {
    return this.#lastError ?? `no answer from the router at ${this.#config.routerUrl}`
  }

  /**
   * Resolves true once connected to the router; false after `attempts` failed attempts or the
   * sync timeout (a refused or unreachable router fails fast: the CLI does not hang on it).
   */
  online(attempts = 1): Promise<boolean> {
    const connection = this.client.connection
    if (connection.state === 'online') return Promise.resolve(true)
    if (this.#failures >= attempts) return Promise.resolve(false)
    return new Promise((resolve) => {
      const done = (value: boolean) => {
        clearTimeout(timer)
        stopState()
        this.#failureListeners.delete(onFailure)
        resolve(value)
      }
      const timer = setTimeout(() => done(false), this.#config.syncTimeoutMs)
      const stopState = connection.subscribe((state) => {
        if (state === 'online') done(true)
      })
      const onFailure = () => {
        if (this.#failures >= attempts) done(false)
      }
      this.#failureListeners.add(onFailure)
    })
  }

  /**
   * Waits until the space's documents have settled: none still loading or asked for, and no
   * change for `quietMs`. Automerge sync has no "caught up" signal a client can see, so a quiet
   * spell after the exchange is the best available; bounded by the sync timeout.
   */
  async settle(session: SpaceSession, quietMs: number): Promise<void> {
    const deadline = Date.now() + this.#config.syncTimeoutMs
    let lastChange = Date.now()
    const stop = session.subscribe(() => (lastChange = Date.now()))
    try {
      for (;;) {
        const now = Date.now()
        if (now >= deadline) return
        const states = this.client.documentStates()
        const pending = session.documentIds().some((id) => {
          const state = states[id]
          return state !== undefined && !SETTLED_STATES.has(state)
        })
        if (!pending && now - lastChange >= quietMs) return
        await new Promise((r) => setTimeout(r, Math.min(100, quietMs)))
      }
    } finally {
      stop()
    }
  }

  /** Writes everything to disk, then disconnects. */
  async close(): Promise<void> {
    await this.client.flush()
    await this.client.close()
  }
}

/**
 * The followed spaces come from the user document, read asynchronously after `open` resolves
 * (each record's key is checked first, other devices' keys with the keyserver): commands that
 * name a space wait for that reading to go quiet, briefly, so `spaces()` is complete.
 */
async function userSettled(
  client: HearthClient,
  busy: () => boolean,
  quietMs = 100,
  maxMs = 3000,
): Promise<void> {
  const start = Date.now()
  let last = Date.now()
  const stop = client.subscribeSpaces(() => (last = Date.now()))
  try {
    while ((busy() || Date.now() - last < quietMs) && Date.now() - start < maxMs)
      await new Promise((r) => setTimeout(r, 20))
  } finally {
    stop()
  }
}

export class RouterUnreachableError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause })
    this.name = 'RouterUnreachableError'
  }
}

function describeFailure(error: unknown, routerUrl: string): string {
  if (error instanceof RouterUnreachableError) return error.message
  if (error instanceof TicketRequestError)
    return `the router at ${routerUrl} refused a ticket (${error.status})`
  const status = (error as { status?: unknown }).status
  if (typeof status === 'number') return `the PDS refused a service token (${status})`
  return `cannot reach the router at ${routerUrl}`
}
