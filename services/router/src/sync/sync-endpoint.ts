import { randomBytes } from 'node:crypto'
import * as A from '@automerge/automerge'
import type { DocHandle, DocumentId, PeerId, Repo } from '@automerge/automerge-repo'
import type { Did } from '@hearth/identity'
import {
  ACK_TYPE,
  base64urlDecode,
  ChangeRejectedError,
  changesInBlob,
  changesInDocument,
  createValidatedRepo,
  MalformedChunkError,
  MAX_BANNED_PEERS,
  MAX_PUSH_CHANGES,
  parseBucketKey,
  parseSignedEvent,
  spaceDocumentId,
  splitChunks,
  PUSH_TYPE,
  type AckFrame,
  type PeerRejection,
  type PushFrame,
  type SpaceEvent,
  type SpaceId,
} from '@hearth/sync'
import type { Registry } from 'prom-client'
import type { WebSocket } from 'ws'
import { SessionGuard, type FrameLimits } from '../limits-frames.ts'
import type { SyncEndpoint, SyncPeer } from '../server.ts'
import { openRouterStorage } from '../storage/router-storage.ts'
import type { SqliteStorageAdapter } from '../storage/sqlite-adapter.ts'
import type { EphemeralLimits } from './ephemeral-relay.ts'
import { AuthenticatedSocketAdapter, type GateOutcome, type SessionInfo } from './socket-adapter.ts'
import { FastPath, type FastPathOptions } from './fast-path.ts'
import { SpaceDirectory } from './space-directory.ts'
import { CLIENT_PUSH_TYPE, type DocFrame, type PushInFrame, type UnavailableFrame } from './wire.ts'

// Our own frames (the acknowledgement, the pushed changes): one definition, in @hearth/sync,
// which clients parse with. Re-exported for the router's tests and tools.
export { ACK_TYPE, MAX_PUSH_CHANGES, PUSH_TYPE }
export type { AckFrame, PushFrame }

interface PushCandidate {
  hash: string
  deps: readonly string[]
  bytes?: A.Change
  decoded?: A.DecodedChange
}

/** Change hashes awaiting their push, per document, at most. */
const MAX_FRESH_PER_DOCUMENT = 10_000

/** Storage key prefix of the router's own index of spaces (never an Automerge document id). */
const SPACE_INDEX = ['hearth-router', 'space']
/** Blank-reply sync states kept per peer (documents it may not see, or that do not exist). */
const MAX_BLANK_STATES_PER_PEER = 64
/** Flushes of one document for acknowledgements start at most this often (group commit). */
const FLUSH_INTERVAL_MS = 5
/** Longer than automerge-repo's save throttle (100 ms): shutdown waits this long between flushes. */
const SAVE_SETTLE_MS = 150
/** How long an acknowledgement waits for the Repo to apply what the validator passed. */
const ACK_TIMEOUT_MS = 30_000

export interface SyncEndpointOptions {
  /** Data directory: the router's SQLite storage is opened there (`openRouterStorage`). */
  dataDir?: string
  /** Or a storage adapter opened by the caller (closed by `close()`). */
  storage?: SqliteStorageAdapter
  /** The router's Prometheus registry (storage corruption counter). */
  registry?: Registry
  /** The router's automerge peer id (default: a random one). */
  peerId?: PeerId
  onReject?: (rejection: PeerRejection & { did: Did | undefined }) => void
  onRefuse?: (refusal: { did: Did; ip: string; reason: string }) => void
  /** Rate limits on document frames and on ephemeral messages (README, "Limits"). */
  frameLimits?: Partial<FrameLimits>
  ephemeralLimits?: Partial<EphemeralLimits>
  /** The fast path's timing (confirmation timeout, refresh rounds); tests shorten it. */
  fastPath?: FastPathOptions
}

export interface HearthSyncEndpoint extends SyncEndpoint {
  readonly repo: Repo
  readonly peerId: PeerId
  readonly spaces: SpaceDirectory
  readonly adapter: AuthenticatedSocketAdapter
  /** Rate limits, the ephemeral relay, counting and logging of refusals. */
  readonly guard: SessionGuard
  /** The push and the Automerge sync it holds back (fast-path.ts). */
  readonly fastPath: FastPath
  close(): Promise<void>
}

/** Every event stored in a Hearth document (bucket order). */
function eventsIn(doc: unknown): Uint8Array[] {
  const out: Uint8Array[] = []
  const root = doc as Record<string, unknown>
  for (const key of Object.keys(root).sort()) {
    if (!parseBucketKey(key)) continue
    const list = root[key]
    if (!Array.isArray(list)) continue
    for (const entry of list) {
      const bytes = base64urlDecode(String(entry))
      if (bytes) out.push(bytes)
    }
  }
  return out
}

/**
 * The genesis a creator pushes for a space the router does not know: in a change with seq 1
 * and no deps, an entry that is a genesis event by `did` whose space document is `documentId`.
 * Its signature and the change's are checked by the validator right after.
 */
function genesisIn(
  changes: Uint8Array[],
  did: Did,
  documentId: DocumentId,
): SpaceEvent | undefined {
  for (const blob of changes) {
    for (const { decoded } of changesInBlob(blob)) {
      if (decoded.seq !== 1 || decoded.deps.length !== 0) continue
      for (const op of decoded.ops as { action?: string; insert?: boolean; value?: unknown }[]) {
        if (op.action !== 'set' || !op.insert || typeof op.value !== 'string') continue
        const bytes = base64urlDecode(op.value)
        if (!bytes) continue
        const parsed = parseSignedEvent(bytes)
        if (!parsed.ok || parsed.event.kind !== 'genesis') continue
        if (parsed.event.author !== did) continue
        if (spaceDocumentId(parsed.event.id) !== documentId) continue
        return parsed.event
      }
    }
  }
  return undefined
}

/**
 * The router's sync core: an automerge-repo `Repo` on SQLite storage, behind the validator
 * every Hearth peer runs, behind our own socket adapter with access control at its gate.
 */
export async function createSyncEndpoint(
  options: SyncEndpointOptions,
): Promise<HearthSyncEndpoint> {
  const peerId = options.peerId ?? (`hearth-router#${randomBytes(8).toString('hex')}` as PeerId)
  const storage =
    options.storage ??
    openRouterStorage({
      dataDir: options.dataDir!,
      ...(options.registry ? { registry: options.registry } : {}),
    })
  const spaces = new SpaceDirectory()
  const guard = new SessionGuard({
    roleOf: (documentId) => spaces.resolve(documentId),
    storedEvents: (documentId) => {
      const handle = repo.handles[documentId]
      return handle?.isReady() ? eventsIn(handle.doc()) : undefined
    },
    members: (spaceId) => spaces.members(spaceId),
    sessionsOf: (did) => adapter.sessionsOf(did),
    online: { count: () => adapter.onlineDids, dids: () => adapter.liveDids() },
    send: (target, frame) => adapter.sendFrame(target, frame),
    ...(options.frameLimits ? { frameLimits: options.frameLimits } : {}),
    ...(options.ephemeralLimits ? { ephemeralLimits: options.ephemeralLimits } : {}),
  })
  const onReject = (rejection: PeerRejection & { did: Did | undefined }): void => {
    guard.rejected(rejection)
    options.onReject?.(rejection)
  }
  // Replies for documents a peer may not see (or that do not exist), computed against an
  // empty document: the same bytes either way, so nothing tells the two apart.
  const blankStates = new Map<PeerId, Map<DocumentId, A.SyncState>>()
  // Changes accepted and not yet pushed, per document: only these are pushed (never what a
  // peer re-sends and the router already had).
  const freshChanges = new Map<DocumentId, Set<string>>()
  // Peer ids refused for an invalid push (the validating adapter keeps its own for sync).
  const pushBanned = new Set<PeerId>()
  // Sessions that synced a document (a message for it passed the gate): whom a push may reach,
  // so a push costs its subscribers, not every connection.
  const subscribers = new Map<DocumentId, Set<SessionInfo>>()
  const subscribedTo = new Map<PeerId, Set<DocumentId>>()
  function subscribe(session: SessionInfo, documentId: DocumentId): void {
    let peers = subscribers.get(documentId)
    if (!peers) subscribers.set(documentId, (peers = new Set()))
    peers.add(session)
    let documents = subscribedTo.get(session.peerId)
    if (!documents) subscribedTo.set(session.peerId, (documents = new Set()))
    documents.add(documentId)
  }

  const adapter: AuthenticatedSocketAdapter = new AuthenticatedSocketAdapter({
    gate: (session, frame) => gate(session, frame),
    isBanned: (id) => validating.bannedPeers.has(id) || pushBanned.has(id),
    ...guard.adapterHooks(options.onRefuse),
    onSessionEnd: (session) => {
      blankStates.delete(session.peerId)
      for (const documentId of subscribedTo.get(session.peerId) ?? []) {
        const peers = subscribers.get(documentId)
        peers?.delete(session)
        if (peers?.size === 0) {
          subscribers.delete(documentId)
          fastPath.forgetDocument(documentId)
        }
      }
      subscribedTo.delete(session.peerId)
      fastPath.endSession(session.peerId)
    },
  })
  // The Repo's sync messages to a peer in step that only repeat what was pushed are held back
  // (fast-path.ts); everything else goes out as before.
  const sendToSocket = adapter.send.bind(adapter)
  adapter.send = (message) => {
    if (!fastPath.holdsBack(message)) sendToSocket(message)
  }
  // The same wiring as every Hearth client (createValidatedRepo): one validator in front of
  // the Repo, its accepted events feeding the reducers that decide access.
  const { repo, validator, addNetwork } = createValidatedRepo({
    onAccepted: ({ documentId, changes, events }) => {
      let fresh = freshChanges.get(documentId)
      if (!fresh) freshChanges.set(documentId, (fresh = new Set()))
      // Accepted changes whose message was then dropped (its peer left) are never pushed: bound.
      if (fresh.size > MAX_FRESH_PER_DOCUMENT) fresh.clear()
      for (const change of changes) fresh.add(change.meta.hash)
      guard.accepted(documentId, events)
      spaces.ingest(documentId, events.flat())
    },
    repo: {
      peerId,
      storage,
      shareConfig: {
        announce: async () => false,
        access: async (id, documentId) => {
          const did = adapter.didOf(id)
          return did !== undefined && spaces.allows(did, documentId)
        },
      },
    },
  })
  const validating = addNetwork(adapter, {
    onReject: (rejection) => {
      const role = rejection.documentId && spaces.resolve(rejection.documentId)
      if (role && role.kind === 'space' && rejection.kind !== 'missing-deps')
        spaces.abandonCreation(role.spaceId)
      onReject({ ...rejection, did: adapter.didOf(rejection.peerId) })
    },
    closePeer: (id, rejection) => adapter.closePeer(id, `rejected: ${rejection.reason}`),
    // A peer missing dependencies starts over with a fresh sync state on both sides.
    resetPeer: (id) => adapter.closePeer(id, 'resync'),
  })
  spaces.onSpaceCreated = (spaceId) => {
    void storage
      .save([...SPACE_INDEX, spaceId], new TextEncoder().encode(spaceId))
      .catch((error: unknown) => guard.log.error('storage.space-index-failed', { spaceId }, error))
  }
  // A ban or a leave must stop sync with that member at once, not at their next message. Only
  // that space's documents are re-checked, and only removals matter (a newly allowed peer asks).
  // (`repo.shareConfigChanged()` would re-run both policies for every document and peer.)
  spaces.onAuthorityChange = (spaceId) => {
    const synchronizers = repo.synchronizer.docSynchronizers
    for (const [documentId, synchronizer] of Object.entries(synchronizers)) {
      if (spaces.resolve(documentId as DocumentId)?.spaceId !== spaceId) continue
      for (const peer of repo.synchronizer.peers) {
        if (!synchronizer.hasPeer(peer)) continue
        const did = adapter.didOf(peer)
        if (did === undefined || !spaces.allows(did, documentId as DocumentId))
          synchronizer.endSync(peer)
      }
      // Peers the fast path took out of the synchronizer are only in the subscriber list.
      for (const session of subscribers.get(documentId as DocumentId) ?? [])
        if (!spaces.allows(session.did, documentId as DocumentId))
          fastPath.endDocument(session.peerId, documentId as DocumentId)
    }
  }

  const fastPath: FastPath = new FastPath(
    {
      heads: (documentId) => {
        const handle = repo.handles[documentId]
        return handle?.isReady() ? A.getHeads(handle.doc()) : undefined
      },
      hasChange: (documentId, hash) => {
        const handle = repo.handles[documentId]
        if (!handle?.isReady()) return false
        return A.getBackend(handle.doc()).getChangeMetaByHash(hash) !== null
      },
      holdOut: (peer, documentId) => {
        const synchronizer = repo.synchronizer.docSynchronizers[documentId]
        if (synchronizer?.hasPeer(peer)) synchronizer.endSync(peer)
      },
      resync: (peer, documentId) => {
        const synchronizer = repo.synchronizer.docSynchronizers[documentId]
        const did = adapter.didOf(peer)
        if (!synchronizer || did === undefined) return
        // Never start sending to a peer that may no longer read the document.
        if (!spaces.allows(did, documentId)) {
          if (synchronizer.hasPeer(peer)) synchronizer.endSync(peer)
          return
        }
        void synchronizer.beginSync([peer])
      },
      sendEncoded: (peer, bytes) => adapter.sendEncoded(peer, bytes),
    },
    peerId,
    options.fastPath,
  )

  function replyBlank(session: SessionInfo, frame: DocFrame): void {
    let states = blankStates.get(session.peerId)
    if (!states) blankStates.set(session.peerId, (states = new Map()))
    const state = states.get(frame.documentId) ?? A.initSyncState()
    states.delete(frame.documentId)
    // A fresh empty document each time: receiving into one outdates it.
    const [scratch, received] = A.receiveSyncMessage(A.init(), state, frame.data as A.SyncMessage)
    const [next, reply] = A.generateSyncMessage(scratch, received)
    A.free(scratch)
    states.set(frame.documentId, next)
    if (states.size > MAX_BLANK_STATES_PER_PEER) states.delete(states.keys().next().value!)
    if (reply)
      adapter.sendFrame(session.peerId, {
        type: 'sync',
        senderId: peerId,
        targetId: session.peerId,
        documentId: frame.documentId,
        data: reply,
      })
  }

  function unavailable(session: SessionInfo, documentId: DocumentId): GateOutcome {
    adapter.sendFrame(session.peerId, {
      type: 'doc-unavailable',
      senderId: peerId,
      targetId: session.peerId,
      documentId,
    })
    return { action: 'handled' }
  }

  async function gate(
    session: SessionInfo,
    frame: DocFrame | UnavailableFrame | PushInFrame,
  ): Promise<GateOutcome> {
    const { documentId } = frame
    if (frame.type === CLIENT_PUSH_TYPE) {
      // A push opens nothing: the document must be one this DID may already sync.
      if (!spaces.allows(session.did, documentId)) return unavailable(session, documentId)
      return acceptPush(session, frame)
    }
    if (spaces.allows(session.did, documentId)) {
      if (frame.type !== 'doc-unavailable') {
        // The validator judges a message against the Repo's document: load it first.
        await repo
          .find(documentId, { allowableStates: ['ready', 'unavailable', 'requesting'] })
          .catch(() => undefined)
        subscribe(session, documentId)
        // The echo of a push from a peer in step confirms it and carries nothing new: neither
        // the validator nor the Repo needs to see it (fast-path.ts).
        if (
          frame.type === 'sync' &&
          fastPath.inspect(session.peerId, documentId, frame.data) === 'drop'
        )
          return { action: 'handled' }
      }
      return { action: 'forward' }
    }
    if (frame.type === 'doc-unavailable') return { action: 'handled' }
    if (frame.type === 'request') return unavailable(session, documentId)
    let message: A.DecodedSyncMessage
    try {
      message = A.decodeSyncMessage(frame.data)
    } catch {
      return { action: 'close', reason: 'undecodable sync message' }
    }
    if (message.changes.length === 0) {
      try {
        replyBlank(session, frame)
      } catch {
        return { action: 'close', reason: 'unusable sync message' }
      }
      return { action: 'handled' }
    }
    let genesis: SpaceEvent | undefined
    try {
      genesis = genesisIn(message.changes, session.did, documentId)
    } catch (error) {
      if (error instanceof MalformedChunkError) return { action: 'close', reason: error.message }
      return { action: 'close', reason: 'undecodable changes' }
    }
    if (
      genesis &&
      guard.mayCreateSpace(session.did, spaces.has(genesis.id)) &&
      spaces.beginCreation(genesis, session.did)
    ) {
      blankStates.get(session.peerId)?.delete(documentId)
      subscribe(session, documentId)
      return { action: 'forward' }
    }
    return unavailable(session, documentId)
  }

  // Acknowledgements: what the validator passed from a peer, once applied and on disk.
  /**
   * A client's own push: validated exactly like a sync message carrying those changes, applied
   * to the router's document, pushed on, acknowledged once on disk. A rule violation closes the
   * socket and refuses the peer id from then on, as for sync; a missing dependency drops the
   * push (Automerge sync, which runs anyway, brings what is missing).
   */
  async function acceptPush(session: SessionInfo, frame: PushInFrame): Promise<GateOutcome> {
    const { documentId } = frame
    const changes = frame.changes.map((bytes) => new Uint8Array(bytes) as A.Change)
    const handle = await repo.find(documentId, {
      allowableStates: ['ready', 'unavailable', 'requesting'],
    })
    let decoded: A.DecodedChange[]
    try {
      decoded = changes.map((change) => A.decodeChange(change))
      await validator.validateSyncMessage(
        documentId,
        A.encodeSyncMessage({ heads: [], need: [], have: [], changes }),
      )
    } catch (error) {
      const rejection =
        error instanceof ChangeRejectedError
          ? { kind: error.kind, reason: error.reason, hash: error.hash }
          : { kind: 'invalid' as const, reason: 'undecodable pushed changes', hash: undefined }
      if (rejection.kind === 'missing-deps') return { action: 'handled' }
      pushBanned.add(session.peerId)
      // Bounded like the validating adapter's bans (peer ids are minted one per ticket).
      if (pushBanned.size > MAX_BANNED_PEERS) pushBanned.delete(pushBanned.values().next().value!)
      onReject({ ...rejection, peerId: session.peerId, documentId, did: session.did })
      return { action: 'close', reason: `rejected: ${rejection.reason}` }
    }
    applySoon(handle, changes)
    subscribe(session, documentId)
    const hashes = decoded.map((d) => d.hash)
    push(
      session.peerId,
      documentId,
      hashes,
      changes.map((bytes, i) => ({ hash: hashes[i]!, deps: decoded[i]!.deps, bytes })),
    )
    void acknowledge(session.peerId, documentId, hashes).catch(() => undefined)
    return { action: 'handled' }
  }

  // Runs right after the validator passed a message and the Repo was handed it (the Repo
  // applies it a moment later, asynchronously): the fast path pushes from here, and the
  // acknowledgement waits for the Repo and the disk.
  validating.on('message', (message) => {
    if (message.type !== 'sync' && message.type !== 'request') return
    if (!(message.data instanceof Uint8Array)) return
    const documentId = message.documentId
    if (!documentId) return
    const hashes: string[] = []
    const changes: PushCandidate[] = []
    try {
      for (const blob of A.decodeSyncMessage(message.data).changes)
        for (const chunk of splitChunks(blob)) {
          // 1 and 2: a change, plain or deflated; anything else passed the validator as a
          // whole document (a first sync, or a peer that believes we have nothing).
          if (chunk.type === 1 || chunk.type === 2) {
            const { hash, deps } = A.decodeChange(chunk.bytes as A.Change)
            hashes.push(hash)
            changes.push({ hash, deps, bytes: chunk.bytes as A.Change })
          } else
            for (const { decoded } of changesInDocument(chunk.bytes)) {
              hashes.push(decoded.hash)
              changes.push({ hash: decoded.hash, deps: decoded.deps, decoded })
            }
        }
    } catch {
      return
    }
    if (hashes.length === 0) return
    try {
      push(message.senderId, documentId, hashes, changes)
    } catch (error) {
      // The push is an optimisation: Automerge sync still delivers.
      guard.log.error('push.failed', { documentId }, error)
    }
    void acknowledge(message.senderId, documentId, hashes).catch(() => undefined)
  })

  // Pushed changes validated in the same turn of the event loop are applied in one
  // `handle.update` (each update runs the handle's state machine: ~1-2 ms at saturation). The
  // validator already counts them as accepted, so later messages are judged against them, and
  // the acknowledgement waits until the Repo's document has them.
  const toApply = new Map<DocHandle<unknown>, A.Change[]>()
  function applySoon(handle: DocHandle<unknown>, changes: A.Change[]): void {
    let pending = toApply.get(handle)
    if (!pending) {
      toApply.set(handle, (pending = []))
      setImmediate(() => {
        toApply.delete(handle)
        handle.update((doc) => A.applyChanges(doc, pending!)[0])
      })
    }
    pending.push(...changes)
  }

  // Group commit: acknowledgements of one document share flushes (each one a SQLite
  // transaction with its fsync, plus automerge-repo's compaction now and then). A waiter joins
  // the next flush not yet started (one already running may have read the document before the
  // waiter's changes were applied), or schedules one; flushes of a document start at most every
  // FLUSH_INTERVAL_MS, one at a time, so a burst of writes costs a few fsyncs, not one each.
  const flushes = new Map<
    DocumentId,
    { running?: Promise<void>; next?: Promise<void>; last: number }
  >()
  function flushDocument(documentId: DocumentId): Promise<void> {
    let state = flushes.get(documentId)
    if (!state) flushes.set(documentId, (state = { last: 0 }))
    const s = state
    if (s.next) return s.next
    const previous = s.running ?? Promise.resolve()
    s.next = previous
      .catch(() => undefined)
      .then(() => {
        const wait = s.last + FLUSH_INTERVAL_MS - Date.now()
        return wait > 0 ? new Promise((resolve) => setTimeout(resolve, wait)) : undefined
      })
      .then(() => {
        s.next = undefined
        s.last = Date.now()
        const flushed = repo.flush([documentId])
        s.running = flushed
        void flushed
          .catch(() => undefined)
          .finally(() => {
            if (s.running === flushed) s.running = undefined
          })
        return flushed
      })
    return s.next
  }

  async function acknowledge(
    target: PeerId,
    documentId: DocumentId,
    hashes: string[],
  ): Promise<void> {
    const handle = await repo.find(documentId, {
      allowableStates: ['ready', 'unavailable', 'requesting'],
    })
    await appliedAll(handle, hashes)
    await flushDocument(documentId)
    const ack: AckFrame = {
      type: ACK_TYPE,
      senderId: peerId,
      targetId: target,
      documentId,
      changes: hashes,
    }
    adapter.sendFrame(target, ack)
  }

  // The fast path: validated changes go to the document's other subscribers at once, without
  // automerge-repo's 100 ms throttle and per-peer sync exchange (and before the fsync). Only
  // changes new to the router (what a peer re-sends is not news to anyone).
  function push(
    source: PeerId,
    documentId: DocumentId,
    hashes: string[],
    changes: PushCandidate[],
  ): void {
    const fresh = freshChanges.get(documentId)
    if (!fresh) return
    const candidates = changes.filter((c) => fresh.has(c.hash))
    for (const hash of hashes) fresh.delete(hash)
    if (fresh.size === 0) freshChanges.delete(documentId)
    if (candidates.length === 0) return
    if (candidates.length > MAX_PUSH_CHANGES) {
      fastPath.notPushed(
        source,
        documentId,
        candidates.map((c) => c.hash),
      )
      return
    }
    const recipients: PeerId[] = []
    for (const session of subscribers.get(documentId) ?? [])
      // Checked again at push time: a ban or a leave ends the push at once.
      if (session.peerId !== source && spaces.allows(session.did, documentId))
        recipients.push(session.peerId)
    // A change that came inside a document chunk is re-encoded: the same bytes, the same hash
    // (the validator refused anything outside the encoding, such as extra bytes). The frame is
    // encoded once for all recipients.
    fastPath.push(
      source,
      documentId,
      candidates.map((c) => ({
        hash: c.hash,
        deps: c.deps,
        bytes: c.bytes ?? A.encodeChange(c.decoded!),
      })),
      recipients,
    )
  }

  // The Repo applies what the validator passed a moment later (it is asynchronous). A handle
  // that was requesting emits `heads-changed` before it turns ready: wait for ready first.
  async function appliedAll(handle: DocHandle<unknown>, hashes: string[]): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined
    let stop = (): void => undefined
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('not applied in time')), ACK_TIMEOUT_MS)
      timer.unref()
    })
    const has = (): boolean => {
      const backend = A.getBackend(handle.doc())
      return hashes.every((h) => backend.getChangeMetaByHash(h) !== null)
    }
    try {
      await Promise.race([handle.whenReady(['ready']), expired])
      if (has()) return
      await Promise.race([
        new Promise<void>((resolve) => {
          const check = (): void => {
            if (has()) resolve()
          }
          handle.on('heads-changed', check)
          stop = () => handle.off('heads-changed', check)
        }),
        expired,
      ])
    } finally {
      clearTimeout(timer)
      stop()
    }
  }

  // Spaces stored before a restart: their documents, reduced, before anyone connects.
  await repo.storageId()
  for (const { data } of await storage.loadRange(SPACE_INDEX)) {
    if (!data) continue
    const spaceId = new TextDecoder().decode(data) as SpaceId
    spaces.addSpace(spaceId)
    const documentId = spaceDocumentId(spaceId)
    const handle = await repo
      .find(documentId, { allowableStates: ['ready', 'unavailable'] })
      .catch(() => undefined)
    if (handle?.isReady()) spaces.ingest(documentId, eventsIn(handle.doc()))
  }

  return {
    repo,
    peerId,
    spaces,
    adapter,
    guard,
    attach: (context) => guard.attach(context),
    accept(socket: WebSocket, peer: SyncPeer) {
      adapter.accept(socket, peer.did, peer.ip)
    },
    fastPath,
    async close() {
      fastPath.close()
      // Drain: the sockets are closed (shutdown disconnects the adapter), then what the Repo
      // was already handed is applied and flushed. Messages still in validation are applied a
      // moment later and schedule automerge-repo's throttled saves (100 ms), which would meet a
      // closed storage: settle and flush again before closing it. Nothing acknowledged is at
      // stake (an acknowledgement follows its flush); this keeps late saves off a closed file.
      await repo.shutdown()
      for (let round = 0; round < 2; round++) {
        await new Promise((resolve) => setTimeout(resolve, SAVE_SETTLE_MS))
        await repo.flush()
      }
      storage.close()
    },
  }
}
