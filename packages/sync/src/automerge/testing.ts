// Test helpers for the Automerge layer: in-memory peers with a validator in front of a
// real Repo, and a minimal signed test event (used until the event layer's parser is wired).
import * as A from '@automerge/automerge'
import { Repo } from '@automerge/automerge-repo'
import type {
  DocHandle,
  NetworkAdapterInterface,
  PeerId,
  StorageAdapterInterface,
} from '@automerge/automerge-repo'
import {
  canonicalDecode,
  canonicalEncode,
  generateDeviceKey,
  verifySignature,
} from '@hearth/identity'
import type { DeviceKey } from '@hearth/identity'
import type { VerifyEvent } from './change-rules.ts'
import type { ChangeValidator } from './change-validator.ts'
import type { AcceptedPayload } from './change-validator.ts'
import type { ValidatingNetworkAdapter } from './validating-adapter.ts'
import { createValidatedRepo } from './validated-repo.ts'
import { MemoryLinkAdapter } from './memory-network.ts'
import type { PeerRejection } from './validating-adapter.ts'
import { base64urlDecode } from './base64url.ts'
import { actorIdFromPublicKey, CHANGE_DOMAIN, parseBucketKey } from './layout.ts'
import { changeSigningBytes, formatChangeMessage } from './change-signature.ts'
import type { AllowedOp } from './change-signature.ts'

const TEST_EVENT_DOMAIN = 'hearth/test-event/v1'

/** A signed test event: DAG-CBOR `{ e: { key, text }, s }` with `s` over DAG-CBOR of `e`. */
export async function makeTestEvent(key: DeviceKey, text: string): Promise<Uint8Array> {
  const e = { key: key.keyId, text }
  const s = await key.sign(TEST_EVENT_DOMAIN, canonicalEncode(e))
  return canonicalEncode({ e, s })
}

export function readTestEvent(bytes: Uint8Array): { key: string; text: string; s: Uint8Array } {
  const { e, s } = canonicalDecode(bytes) as { e: { key: string; text: string }; s: Uint8Array }
  return { ...e, s }
}

export const verifyTestEvent: VerifyEvent = async (bytes) => {
  let decoded: unknown
  try {
    decoded = canonicalDecode(bytes)
  } catch {
    return { ok: false, reason: 'not DAG-CBOR' }
  }
  const wire = decoded as { e?: { key?: unknown; text?: unknown }; s?: unknown }
  const e = wire?.e
  if (
    !e ||
    typeof e.key !== 'string' ||
    typeof e.text !== 'string' ||
    !(wire.s instanceof Uint8Array)
  )
    return { ok: false, reason: 'bad shape' }
  const ok = await verifySignature(
    e.key,
    TEST_EVENT_DOMAIN,
    canonicalEncode({ key: e.key, text: e.text }),
    wire.s,
  )
  return ok ? { ok: true, keyId: e.key } : { ok: false, reason: 'bad event signature' }
}

export interface ValidatedPeer {
  name: string
  repo: Repo
  validator: ChangeValidator
  key: DeviceKey
  rejections: PeerRejection[]
  accepted: AcceptedPayload[]
  /** Resolves once the validator has accepted changes for `documentId` (now or earlier). */
  acceptedFor(documentId: string): Promise<void>
  /** Resolves with the next rejection this peer reports (or one already reported and not yet taken). */
  nextRejection(): Promise<PeerRejection>
  /** Adds a link to another peer, behind this peer's validator. */
  link(adapter: NetworkAdapterInterface): ValidatingNetworkAdapter
}

/** A Repo with every link behind one shared ChangeValidator, and a device key. */
export async function createValidatedPeer(
  name: string,
  options: { verifyEvent?: VerifyEvent; storage?: StorageAdapterInterface; key?: DeviceKey } = {},
): Promise<ValidatedPeer> {
  const key = options.key ?? (await generateDeviceKey()).key
  const rejections: PeerRejection[] = []
  const unseen: PeerRejection[] = []
  const waiters: ((rejection: PeerRejection) => void)[] = []
  const accepted: AcceptedPayload[] = []
  const acceptWaiters: { documentId: string; resolve: () => void }[] = []
  const { repo, validator, addNetwork } = createValidatedRepo({
    verifyEvent: options.verifyEvent ?? verifyTestEvent,
    onAccepted: (payload) => {
      accepted.push(payload)
      for (const waiter of acceptWaiters.splice(0))
        if (waiter.documentId === payload.documentId) waiter.resolve()
        else acceptWaiters.push(waiter)
    },
    onReject: (rejection) => {
      rejections.push(rejection)
      const waiter = waiters.shift()
      if (waiter) waiter(rejection)
      else unseen.push(rejection)
    },
    retryDelayMs: 20,
    repo: {
      peerId: name as PeerId,
      ...(options.storage ? { storage: options.storage } : {}),
      sharePolicy: async () => true,
    },
  })
  return {
    name,
    repo,
    validator,
    key,
    rejections,
    accepted,
    acceptedFor(documentId) {
      if (accepted.some((p) => p.documentId === documentId)) return Promise.resolve()
      return new Promise((resolve) => acceptWaiters.push({ documentId, resolve }))
    },
    nextRejection() {
      const ready = unseen.shift()
      if (ready) return Promise.resolve(ready)
      return new Promise((resolve) => waiters.push(resolve))
    },
    link(adapter) {
      return addNetwork(
        adapter,
        adapter instanceof MemoryLinkAdapter ? { resetPeer: () => adapter.bounce() } : {},
      )
    },
  }
}

/** A Repo with no validator at all: the stock client an attacker runs. */
export function createPlainRepo(name: string): {
  repo: Repo
  link(adapter: NetworkAdapterInterface): void
} {
  const repo = new Repo({ peerId: name as PeerId, sharePolicy: async () => true })
  return { repo, link: (adapter) => repo.networkSubsystem.addNetworkAdapter(adapter) }
}

/** Resolves once `predicate` holds for the handle's document, checking on each change. */
export function until<T>(
  handle: DocHandle<T>,
  predicate: (doc: A.Doc<T>) => boolean,
): Promise<A.Doc<T>> {
  return new Promise((resolve) => {
    const check = (): boolean => {
      if (!handle.isReady()) return false
      const doc = handle.doc()
      if (!predicate(doc)) return false
      handle.off('change', check)
      resolve(doc)
      return true
    }
    if (check()) return
    handle.on('change', check)
    // A handle that becomes ready (loaded from storage) emits no change for what it loaded.
    if (!handle.isReady()) void handle.whenReady().then(check, () => undefined)
  })
}

/** Every event of a Hearth document, decoded, in bucket order. */
export function entriesIn(doc: unknown): Uint8Array[] {
  const out: Uint8Array[] = []
  const root = doc as Record<string, unknown>
  for (const key of Object.keys(root).sort()) {
    if (!parseBucketKey(key)) continue
    for (const entry of root[key] as unknown[]) {
      const bytes = base64urlDecode(String(entry))
      if (bytes) out.push(bytes)
    }
  }
  return out
}

/** The texts of the test events in a document, sorted. */
export function textsIn(doc: unknown): string[] {
  return entriesIn(doc)
    .map((bytes) => readTestEvent(bytes).text)
    .sort()
}

/** A sync message carrying `changes`, as any peer could craft it by hand. */
export function syncMessageWith(changes: Uint8Array[], heads: string[] = []): Uint8Array {
  return A.encodeSyncMessage({ heads, need: [], have: [], changes: changes as A.Change[] })
}

export interface CraftedFields {
  actor?: string
  seq: number
  startOp: number
  deps: string[]
  ops: unknown[]
  time?: number
  message?: string
}

/**
 * Encodes a change with any fields, signed by `key` when its ops have an allowed shape
 * (so that only the rule under test can refuse it). For attack tests.
 */
export async function craftSignedChange(key: DeviceKey, fields: CraftedFields): Promise<A.Change> {
  const actor = fields.actor ?? actorIdFromPublicKey(key.publicKey)
  const time = fields.time ?? 0
  let message = fields.message
  if (message === undefined) {
    let signed: Uint8Array
    try {
      signed = changeSigningBytes({ ...fields, actor, time, ops: fields.ops as AllowedOp[] })
    } catch {
      signed = new Uint8Array()
    }
    message = formatChangeMessage(key.keyId, await key.sign(CHANGE_DOMAIN, signed))
  }
  return A.encodeChange({
    actor,
    seq: fields.seq,
    startOp: fields.startOp,
    time,
    message,
    deps: fields.deps,
    ops: fields.ops,
  } as unknown as A.DecodedChange)
}

/** Makes a change with the plain Automerge API on a copy of `doc` under `key`'s actor, then signs it. */
export async function craftByMutation<T>(
  doc: A.Doc<T>,
  key: DeviceKey,
  mutate: (d: T) => void,
): Promise<A.Change> {
  const copy = A.clone(doc, { actor: actorIdFromPublicKey(key.publicKey) })
  const changed = A.change(copy, { time: 0 }, mutate)
  const decoded = A.decodeChange(A.getLastLocalChange(changed)!)
  A.free(copy)
  return craftSignedChange(key, {
    seq: decoded.seq,
    startOp: decoded.startOp,
    deps: decoded.deps,
    ops: decoded.ops,
  })
}
