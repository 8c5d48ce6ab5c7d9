import * as A from '@automerge/automerge'
import type { DocHandle } from '@automerge/automerge-repo'
import type { DeviceKey } from '@hearth/identity'
import { base64urlEncode } from './base64url.ts'
import { signChange } from './change-signature.ts'
import type { AllowedOp, SignableChange } from './change-signature.ts'
import type { AcceptedChange } from './document-state.ts'
import {
  actorIdFromPublicKey,
  BUCKET_CAPACITY,
  bucketKey,
  MAX_EVENTS_PER_CHANGE,
  parseBucketKey,
} from './layout.ts'
import type { ActorId } from './layout.ts'

export class WriteError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'WriteError'
  }
}

export interface OwnState {
  seq: number
  hash: string | undefined
  bucket: { index: number; objId: string; length: number } | undefined
}

/** The actor's own latest change and newest bucket in `doc` (a scan of the history, once per writer). */
function readOwnState(doc: A.Doc<unknown>, actor: ActorId): OwnState {
  let seq = 0
  let hash: string | undefined
  for (const meta of A.getBackend(doc).getChangesMeta([])) {
    if (meta.actor === actor && meta.seq > seq) {
      seq = meta.seq
      hash = meta.hash
    }
  }
  let bucket: OwnState['bucket']
  const root = doc as Record<string, unknown>
  for (const key of Object.keys(root)) {
    const parsed = parseBucketKey(key)
    const list = root[key]
    if (!parsed || parsed.actor !== actor || !Array.isArray(list)) continue
    if (bucket && bucket.index > parsed.index) continue
    const objId = A.getObjectId(list)
    if (objId) bucket = { index: parsed.index, objId, length: list.length }
  }
  return { seq, hash, bucket }
}

export interface BuiltChange {
  change: A.Change
  hash: string
  accepted: AcceptedChange
}

/**
 * Builds the signed change that appends `entries` to the device's own buckets of `doc`.
 * The ops are written directly (no clone of the document: `A.clone` costs time linear in
 * the document, where this costs time linear in the events), and are exactly the shapes
 * the validator accepts: a `makeList` at the next bucket key when the current one is full,
 * then inserts chained from `_head`.
 */
export async function buildSignedChange(
  doc: A.Doc<unknown>,
  key: DeviceKey,
  own: OwnState,
  entries: readonly string[],
): Promise<BuiltChange> {
  if (entries.length === 0) throw new WriteError('nothing to write')
  if (entries.length > MAX_EVENTS_PER_CHANGE)
    throw new WriteError(`at most ${MAX_EVENTS_PER_CHANGE} events per change`)
  const actor = actorIdFromPublicKey(key.publicKey)
  const backend = A.getBackend(doc)
  // The device's own previous change is always a direct dep, even when it is already an
  // ancestor of the heads: the validator then checks the seq chain in O(1) instead of
  // walking history (Automerge accepts the redundant dep).
  const deps = [...new Set([...A.getHeads(doc), ...(own.hash ? [own.hash] : [])])].sort()
  let maxOp = 0
  for (const dep of deps) maxOp = Math.max(maxOp, backend.getChangeMetaByHash(dep)?.maxOp ?? 0)
  const startOp = maxOp + 1
  const ops: AllowedOp[] = []
  const created: AcceptedChange['created'] = []
  const inserts = new Map<string, number>()
  let bucket = own.bucket && { ...own.bucket }
  let previous: string | undefined
  for (const entry of entries) {
    if (!bucket || bucket.length >= BUCKET_CAPACITY) {
      const index = bucket ? bucket.index + 1 : 0
      const objId = `${startOp + ops.length}@${actor}`
      const k = bucketKey(actor, index)
      ops.push({ action: 'makeList', obj: '_root', key: k, pred: [] })
      created.push({ key: k, objId, actor, index })
      bucket = { index, objId, length: 0 }
      previous = undefined
    }
    const opId = `${startOp + ops.length}@${actor}`
    ops.push({
      action: 'set',
      obj: bucket.objId,
      elemId: previous ?? '_head',
      insert: true,
      value: entry,
      pred: [],
    })
    inserts.set(bucket.objId, (inserts.get(bucket.objId) ?? 0) + 1)
    bucket.length++
    previous = opId
  }
  const signable: SignableChange = { actor, seq: own.seq + 1, startOp, time: 0, deps, ops }
  const message = await signChange(key, signable)
  const change = A.encodeChange({ ...signable, deps, ops, message } as unknown as A.DecodedChange)
  const hash = A.decodeChange(change).hash
  own.seq = signable.seq
  own.hash = hash
  own.bucket = bucket
  return {
    change,
    hash,
    accepted: {
      meta: { hash, actor, seq: signable.seq, startOp, maxOp: startOp + ops.length - 1 },
      created,
      inserts,
    },
  }
}

/** Wraps event wire bytes as bucket entries. */
export function entriesOf(events: readonly Uint8Array[]): string[] {
  return events.map((bytes) => base64urlEncode(bytes))
}

/**
 * A new document holding one signed change: a space's genesis document, or the first
 * change of a message document. Import it with `importVerified` (never `repo.create()`,
 * which writes an unsigned change).
 */
export async function createSignedDocument(
  key: DeviceKey,
  events: readonly Uint8Array[],
): Promise<Uint8Array> {
  const empty = A.init<unknown>()
  const built = await buildSignedChange(
    empty,
    key,
    { seq: 0, hash: undefined, bucket: undefined },
    entriesOf(events),
  )
  const [doc] = A.applyChanges(empty, [built.change])
  return A.save(doc)
}

/**
 * Appends events to one document as signed changes of this device. Writes are serialised
 * (two concurrent writes would take the same seq), and `handle.change()` is never used:
 * it would write unsigned under a random actor and every peer would refuse it.
 */
export class SignedWriter {
  readonly #handle: DocHandle<unknown>
  readonly #key: DeviceKey
  readonly #actor: ActorId
  readonly #onWrite: ((accepted: AcceptedChange) => void) | undefined
  #own: OwnState | undefined
  #queue: Promise<unknown> = Promise.resolve()

  constructor(
    handle: DocHandle<unknown>,
    key: DeviceKey,
    options: { onWrite?: (accepted: AcceptedChange) => void } = {},
  ) {
    this.#handle = handle
    this.#key = key
    this.#actor = actorIdFromPublicKey(key.publicKey)
    this.#onWrite = options.onWrite
  }

  get actor(): ActorId {
    return this.#actor
  }

  /** Appends the events in one signed change; resolves with its hash once the handle has it. */
  async append(events: readonly Uint8Array[]): Promise<string> {
    return (await this.appendChange(events)).hash
  }

  /** As `append`, with the change's bytes too (to push them to the router at once). */
  appendChange(events: readonly Uint8Array[]): Promise<{ hash: string; change: A.Change }> {
    const run = this.#queue.then(() => this.#write(events))
    this.#queue = run.catch(() => undefined)
    return run
  }

  async #write(events: readonly Uint8Array[]): Promise<{ hash: string; change: A.Change }> {
    const doc = this.#handle.doc()
    if (!doc) throw new WriteError('document is not loaded')
    this.#own ??= readOwnState(doc, this.#actor)
    const own = { ...this.#own, bucket: this.#own.bucket && { ...this.#own.bucket } }
    const built = await buildSignedChange(doc, this.#key, own, entriesOf(events))
    // Heads may have moved while signing (a peer's change arrived): deps then name an older
    // state, which is still a valid, if less recent, causal past.
    this.#handle.update((d) => A.applyChanges(d, [built.change])[0])
    this.#own = own
    this.#onWrite?.(built.accepted)
    return { hash: built.hash, change: built.change }
  }
}
