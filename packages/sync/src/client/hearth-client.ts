import * as A from '@automerge/automerge'
import type {
  DocHandle,
  DocumentId,
  PeerId,
  StorageAdapterInterface,
} from '@automerge/automerge-repo'
import type { DeviceKey, Did } from '@hearth/identity'
import { ChangeRejectedError } from '../automerge/change-rules.ts'
import { importVerified } from '../automerge/change-validator.ts'
import type { ChangeValidator } from '../automerge/change-validator.ts'
import { spaceDocumentId } from '../automerge/layout.ts'
import { createSignedDocument } from '../automerge/signed-writer.ts'
import { createValidatedRepo } from '../automerge/validated-repo.ts'
import type { PeerRejection } from '../automerge/validating-adapter.ts'
import { encodeSignedEvent } from '../events/codec.ts'
import type { SpaceId, SpaceMode } from '../events/schema.ts'
import { signEvent } from '../events/sign.ts'
import {
  MAX_PUSH_CHANGES,
  PUSH_TYPE,
  type AckFrame,
  type PushFrame,
} from '../protocol/router-frames.ts'
import { EPHEMERAL_TYPE, parseEphemeral } from '../protocol/ephemeral.ts'
import type { StoreAdapter } from '../store/store-adapter.ts'
import { UserDocument, type SpacePrefs, type UserState } from '../user/user-document.ts'
import { ClientStore, MAX_SPACES, type SpaceEntry } from './client-store.ts'
import { Outbox } from './outbox.ts'
import {
  RouterConnection,
  type ConnectionState,
  type RouterConnectionOptions,
} from './router-connection.ts'
import { SpaceSession } from './space-session.ts'

export interface HearthClientOptions {
  did: Did
  /** This device's signing key (bound to the DID by its binding record). */
  key: DeviceKey
  /** The device's store: the client's own records (spaces followed, outbox). */
  store: StoreAdapter
  /** The Repo's storage (Automerge documents); the same backend as `store`, another prefix. */
  repoStorage: StorageAdapterInterface
  /** Where the router is: a fresh WebSocket URL with a ticket per attempt. Absent: offline only. */
  router?: Pick<
    RouterConnectionOptions,
    'url' | 'minRetryMs' | 'maxRetryMs' | 'readyAfterMs' | 'joinTimeoutMs'
  >
  /** Distinguishes this tab or process among the device's connections (peer id suffix). */
  instance?: string
  /** Events per message document (default MESSAGE_DOCUMENT_CAPACITY; tests lower it). */
  messageDocumentCapacity?: number
  /**
   * Is this key one of the user's other devices? (Their records in the user document count
   * only then.) Apps ask the keyserver; the default trusts this device alone.
   */
  trustKey?: (keyId: string) => Promise<boolean>
  /** A peer (the router) sent something the validator refused: reported, connection reset. */
  onReject?: (rejection: PeerRejection) => void
}

export interface ConnectionStatus {
  readonly state: ConnectionState
  subscribe(listener: (state: ConnectionState) => void): () => void
}

function randomSuffix(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6))
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

/**
 * One signed-in device: a validated Repo on the device's storage, the connection to the router
 * (pushes and acknowledgements included), the spaces it follows. Everything is local first:
 * spaces open from the device's store at once; the router fills in and carries writes out.
 */
export class HearthClient {
  readonly did: Did
  readonly key: DeviceKey
  readonly #repo: ReturnType<typeof createValidatedRepo>['repo']
  readonly #validator: ChangeValidator
  readonly #store: ClientStore
  readonly #connection: RouterConnection | undefined
  readonly #sessions = new Map<SpaceId, Promise<SpaceSession>>()
  readonly #outboxes = new Map<SpaceId, Outbox>()
  /** The user's own document: followed spaces, read positions, preferences (all devices). */
  readonly user: UserDocument
  readonly connection: ConnectionStatus
  readonly rejections: PeerRejection[] = []
  readonly #capacity: number | undefined

  private constructor(options: HearthClientOptions) {
    this.did = options.did
    this.key = options.key
    this.#store = new ClientStore(options.store)
    this.#capacity = options.messageDocumentCapacity
    const peerId =
      `${options.did}#${options.key.deviceId.slice(0, 16)}-${options.instance ?? randomSuffix()}` as PeerId
    const validated = createValidatedRepo({
      repo: { storage: options.repoStorage, peerId, sharePolicy: async () => true },
      onReject: (rejection) => {
        if (this.rejections.length < 100) this.rejections.push(rejection)
        options.onReject?.(rejection)
      },
      // The only peer is the router: a refused message resets the connection (a fresh sync
      // state on both sides), with backoff, rather than leaving this device offline for good.
      closePeer: () => this.#connection?.reset(),
      resetPeer: () => this.#connection?.reset(),
    })
    this.#repo = validated.repo
    this.#validator = validated.validator
    if (options.router) {
      this.#connection = new RouterConnection({
        ...options.router,
        onPush: (frame) => void this.#applyPush(frame),
        onAck: (frame) => this.#acknowledged(frame),
        onFrame: (type, value) => {
          if (type !== EPHEMERAL_TYPE) return
          const parsed = parseEphemeral(value)
          if (!parsed.ok) return
          void this.#sessions
            .get(parsed.frame.space)
            ?.then((session) => session.receiveEphemeral(parsed.frame))
            .catch(() => undefined)
        },
      })
      this.#connection.onState((state) => {
        if (state !== 'online') return
        this.#pushOutboxes()
        this.user.refresh()
        for (const session of this.#sessions.values())
          void session.then((s) => s.refresh()).catch(() => undefined)
      })
      validated.addNetwork(this.#connection)
    }
    this.user = new UserDocument({
      repo: this.#repo,
      validator: this.#validator,
      did: this.did,
      key: this.key,
      trustKey: options.trustKey ?? (async () => false),
      push: (documentId, changes) => this.#push(documentId, changes),
    })
    const connection = this.#connection
    this.connection = {
      get state() {
        return connection?.state ?? 'offline'
      },
      subscribe: (listener) => connection?.onState(listener) ?? (() => undefined),
    }
  }

  static async open(options: HearthClientOptions): Promise<HearthClient> {
    const client = new HearthClient(options)
    await client.user.open()
    return client
  }

  /** The spaces this device follows (names as last seen). */
  spaces(): readonly SpaceEntry[] {
    return spaceEntries(this.user.state)
  }

  subscribeSpaces(listener: (spaces: readonly SpaceEntry[]) => void): () => void {
    return this.user.subscribe((state) => listener(spaceEntries(state)))
  }

  /** Per-space preferences, the same on all of this user's devices and seen by no one else. */
  prefs(spaceId: SpaceId): SpacePrefs {
    return this.user.state.prefs.get(spaceId) ?? { muted: false, colour: null }
  }

  async #remember(spaceId: SpaceId, name: string | null): Promise<void> {
    const follows = this.user.state.follows
    if (!follows.has(spaceId) && follows.size >= MAX_SPACES)
      throw new Error(`this account follows ${MAX_SPACES} spaces already`)
    await this.user.follow(spaceId, name)
  }

  /** Creates a space: a signed genesis document imported here, then synced to the router. */
  async createSpace(options: { name: string; mode: SpaceMode }): Promise<SpaceSession> {
    const nonce = randomSuffix() + randomSuffix()
    const genesis = await signEvent(this.key, {
      space: null,
      kind: 'genesis',
      author: this.did,
      parents: [],
      body: { mode: options.mode, name: options.name, nonce },
    })
    const spaceId = genesis.id
    const bytes = await createSignedDocument(this.key, [encodeSignedEvent(genesis)])
    const handle = await importVerified(
      this.#repo,
      this.#validator,
      spaceDocumentId(spaceId),
      bytes,
    )
    await this.#repo.flush([handle.documentId])
    const session = await this.#session(spaceId, handle)
    await this.#remember(spaceId, options.name)
    return session
  }

  /**
   * Opens a space this device follows, or starts following one (a public space, or one this
   * DID was invited to): what the device holds shows at once, the router fills in the rest.
   */
  async openSpace(spaceId: SpaceId): Promise<SpaceSession> {
    const session = await this.#session(spaceId)
    await this.#remember(spaceId, session.state.profile.name ?? this.#genesisName(session))
    return session
  }

  /** Opens the space and writes this DID's join (it must have been invited, or it is public). */
  async joinSpace(spaceId: SpaceId, options: { timeoutMs?: number } = {}): Promise<SpaceSession> {
    const session = await this.openSpace(spaceId)
    await waitFor(session, (state) => state.mode !== null, options.timeoutMs ?? 15_000)
    const me = session.state.members.get(this.did)
    if (me?.status !== 'member') await session.join()
    return session
  }

  /** Stops following a space on this device (its documents stay until storage is cleared). */
  async forgetSpace(spaceId: SpaceId): Promise<void> {
    const session = await this.#sessions.get(spaceId)?.catch(() => undefined)
    session?.close()
    this.#sessions.delete(spaceId)
    await this.user.unfollow(spaceId)
  }

  #genesisName(session: SpaceSession): string | null {
    const genesis = session.event(session.spaceId)
    return genesis?.kind === 'genesis' ? genesis.body.name : null
  }

  #session(spaceId: SpaceId, adopt?: DocHandle<unknown>): Promise<SpaceSession> {
    const existing = this.#sessions.get(spaceId)
    if (existing) return existing
    const opening = (async () => {
      const outbox = this.#outbox(spaceId)
      await outbox.load()
      const session = new SpaceSession(spaceId, {
        repo: this.#repo,
        validator: this.#validator,
        did: this.did,
        key: this.key,
        outbox,
        push: (documentId, changes) => this.#push(documentId, changes),
        sendEphemeral: (frame) =>
          this.#connection?.sendFrame({ ...frame }, { addressed: false }) ?? false,
        ...(this.#capacity ? { messageDocumentCapacity: this.#capacity } : {}),
      })
      if (adopt) session.adopt(adopt)
      else await session.open()
      // Opened after the connection came up: what a previous run left unsent goes now.
      this.#pushOutbox(outbox)
      session.subscribe((state) => {
        const name = state.profile.name ?? this.#genesisName(session)
        const known = this.user.state.follows.get(spaceId)
        if (known && known.name !== name) void this.#remember(spaceId, name).catch(() => undefined)
      })
      return session
    })()
    this.#sessions.set(spaceId, opening)
    opening.catch(() => this.#sessions.delete(spaceId))
    return opening
  }

  #outbox(spaceId: SpaceId): Outbox {
    let outbox = this.#outboxes.get(spaceId)
    if (!outbox) {
      outbox = new Outbox(
        spaceId,
        this.#store,
        () =>
          void this.#sessions
            .get(spaceId)
            ?.then((s) => s.notify())
            .catch(() => undefined),
      )
      this.#outboxes.set(spaceId, outbox)
    }
    return outbox
  }

  // The fast path ---------------------------------------------------------------------------

  #push(documentId: DocumentId, changes: Uint8Array[]): boolean {
    if (!this.#connection) return false
    for (let i = 0; i < changes.length; i += MAX_PUSH_CHANGES)
      if (
        !this.#connection.sendFrame({
          type: PUSH_TYPE,
          documentId,
          changes: changes.slice(i, i + MAX_PUSH_CHANGES),
        })
      )
        return false
    return true
  }

  /** After a reconnect: push again what the router has not acknowledged (it acks known ones). */
  #pushOutboxes(): void {
    for (const outbox of this.#outboxes.values()) this.#pushOutbox(outbox)
  }

  #pushOutbox(outbox: Outbox): void {
    if (this.#connection?.state !== 'online') return
    for (const [documentId, hashes] of outbox.unacknowledged()) {
      const handle = this.#repo.handles[documentId] as DocHandle<unknown> | undefined
      if (!handle?.isReady()) continue
      const backend = A.getBackend(handle.doc())
      const changes = hashes
        .map((hash) => backend.getChangeByHash(hash))
        .filter((c): c is A.Change => c !== null && c !== undefined)
      if (changes.length > 0) this.#push(documentId, changes)
    }
  }

  /**
   * Changes the router pushed: validated like a sync message, then applied. Only for documents
   * this device has open; a missing dependency is left to Automerge sync, which runs anyway.
   */
  async #applyPush(frame: PushFrame): Promise<void> {
    const handle = this.#repo.handles[frame.documentId] as DocHandle<unknown> | undefined
    if (!handle) return
    const changes = frame.changes.map((bytes) => new Uint8Array(bytes) as A.Change)
    try {
      await this.#validator.validateSyncMessage(
        frame.documentId,
        A.encodeSyncMessage({ heads: [], need: [], have: [], changes }),
      )
    } catch (error) {
      if (error instanceof ChangeRejectedError && error.kind === 'missing-deps') return
      const rejection: PeerRejection = {
        peerId: frame.senderId,
        documentId: frame.documentId,
        kind: error instanceof ChangeRejectedError ? error.kind : 'invalid',
        reason: error instanceof ChangeRejectedError ? error.reason : 'undecodable pushed changes',
        hash: error instanceof ChangeRejectedError ? error.hash : undefined,
      } as PeerRejection
      if (this.rejections.length < 100) this.rejections.push(rejection)
      this.#connection?.reset()
      return
    }
    handle.update((doc) => A.applyChanges(doc, changes)[0])
  }

  #acknowledged(frame: AckFrame): void {
    for (const outbox of this.#outboxes.values())
      outbox.acknowledged(frame.documentId, frame.changes)
  }

  /** A document as this device holds it (`A.save` bytes), for export and backup. */
  exportDocument(documentId: DocumentId): Uint8Array | undefined {
    const handle = this.#repo.handles[documentId] as DocHandle<unknown> | undefined
    return handle?.isReady() ? A.save(handle.doc()) : undefined
  }

  /** The state of each document this device has opened (for a sync indicator, diagnostics). */
  documentStates(): Record<string, string> {
    return Object.fromEntries(
      Object.entries(this.#repo.handles).map(([id, handle]) => [id, handle.state]),
    )
  }

  /** Tries the router at once (the platform reported the network back). */
  reconnectNow(): void {
    this.#connection?.retryNow()
  }

  /** Waits until every write so far is on the device's disk. */
  async flush(): Promise<void> {
    for (const session of this.#sessions.values())
      await (await session.catch(() => undefined))?.settled()
    await this.#repo.flush(this.#readyDocuments())
    await Promise.all([...this.#outboxes.values()].map((o) => o.flush()))
  }

  async close(): Promise<void> {
    this.user.close()
    for (const session of this.#sessions.values()) (await session.catch(() => undefined))?.close()
    this.#connection?.disconnect()
    // Not `repo.shutdown()`: it flushes every handle, and a handle still waiting for a
    // document throws (automerge-repo 2.5.6); only documents that exist have anything to save.
    await this.flush().catch(() => undefined)
  }

  #readyDocuments(): DocumentId[] {
    return Object.values(this.#repo.handles)
      .filter((handle) => handle.isReady())
      .map((handle) => handle.documentId)
  }
}

/** Resolves once `test` holds for the session's state; rejects after `timeoutMs`. */
export function waitFor(
  session: SpaceSession,
  test: (state: SpaceSession['state']) => boolean,
  timeoutMs: number,
): Promise<void> {
  if (test(session.state)) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop()
      reject(new Error('timed out waiting for the space'))
    }, timeoutMs)
    const stop = session.subscribe((state) => {
      if (!test(state)) return
      clearTimeout(timer)
      stop()
      resolve()
    })
  })
}

function spaceEntries(state: UserState): SpaceEntry[] {
  return [...state.follows].map(([spaceId, { name }]) => ({ spaceId, name }))
}
