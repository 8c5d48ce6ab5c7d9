import { InvalidKeyIdError } from '@hearth/identity'
import { base64urlDecode } from './base64url.ts'
import { parseChangeMessage, verifyChangeSignature } from './change-signature.ts'
import type { AllowedOp, ChangeSignature } from './change-signature.ts'
import type { IncomingChange } from './chunks.ts'
import type { AcceptedChange, BatchView, StructureView } from './document-state.ts'
import {
  actorIdFromKeyId,
  BUCKET_CAPACITY,
  MAX_CHANGE_BYTES,
  MAX_ENTRY_CHARS,
  MAX_EVENTS_PER_CHANGE,
  parseBucketKey,
} from './layout.ts'
import type { ActorId } from './layout.ts'

/**
 * Checks one event's wire bytes (shape and event signature). Supplied by the event layer
 * (`parseSignedEvent` + signature check); `keyId` is the device key that signed the event.
 */
export type VerifyEvent = (
  bytes: Uint8Array,
) => Promise<{ ok: true; keyId: string } | { ok: false; reason: string }>

export type RejectionKind =
  /** The change breaks a rule: drop the message, disconnect and report the peer. */
  | 'invalid'
  /** A dependency is unknown here: drop the message and disconnect without banning (retry later). */
  | 'missing-deps'

/**
 * Two different changes, both validly signed by one device, with the same actor and seq: the
 * device forked its own history. Each peer keeps whichever it saw first, so this is proof of
 * misbehaviour to act on (revoke the device), not just a bad message.
 */
export interface Equivocation {
  actor: string
  seq: number
  /** The refused change, and the one already held when it has the same seq. */
  hashes: string[]
}

export class ChangeRejectedError extends Error {
  readonly kind: RejectionKind
  readonly reason: string
  readonly hash: string | undefined
  readonly equivocation: Equivocation | undefined
  constructor(kind: RejectionKind, reason: string, hash?: string, equivocation?: Equivocation) {
    super(`change ${hash?.slice(0, 12) ?? '?'} refused (${kind}): ${reason}`)
    this.name = 'ChangeRejectedError'
    this.kind = kind
    this.reason = reason
    this.hash = hash
    this.equivocation = equivocation
  }
}

/** A change whose seq the actor already used: refused, and checked for a valid signature. */
class SeqReusedError extends ChangeRejectedError {
  readonly held: { seq: number; hash: string }
  readonly signature: ChangeSignature
  constructor(
    reason: string,
    hash: string,
    held: { seq: number; hash: string },
    signature: ChangeSignature,
  ) {
    super('invalid', reason, hash)
    this.held = held
    this.signature = signature
  }
}

/** A change that passed the structural rules; its signatures are checked next. */
interface Checked {
  accepted: AcceptedChange
  signature: ChangeSignature
  signable: Parameters<typeof verifyChangeSignature>[0]
  entries: string[]
}

const EMPTY: readonly unknown[] = []

function isEmptyArray(value: unknown): boolean {
  return Array.isArray(value) && value.length === 0
}

/**
 * The synchronous rules for one change, against the document's structure plus the
 * message's earlier changes (`view`). Throws ChangeRejectedError. Cheap checks come first;
 * signatures are verified afterwards for the whole message at once.
 */
function checkStructure(view: StructureView, incoming: IncomingChange): Checked {
  const c = incoming.decoded
  const hash = c.hash
  const reject = (reason: string): never => {
    throw new ChangeRejectedError('invalid', reason, hash)
  }
  if (incoming.size > MAX_CHANGE_BYTES)
    reject(`change of ${incoming.size} bytes exceeds ${MAX_CHANGE_BYTES}`)
  // Fields the signature does not cover must be empty, or a re-encoded twin of an honest
  // change (same actor and seq, another hash) could reach a peer before the genuine one.
  const extra = c.extra_bytes
  if (extra !== undefined && extra !== null && !(Array.isArray(extra) && extra.length === 0))
    reject('extra bytes')
  const signature = parseChangeMessage(c.message)
  if (!signature) reject('missing or malformed change signature')
  if (c.author !== null && c.author !== undefined) reject('author field set')
  if (c.time !== 0) reject('time must be 0 (the event carries its own advisory timestamp)')
  let keyActor: ActorId
  try {
    keyActor = actorIdFromKeyId(signature!.keyId)
  } catch (error) {
    if (error instanceof InvalidKeyIdError) reject('signing key is not a P-256 did:key')
    throw error
  }
  if (keyActor! !== c.actor) reject('actor is not derived from the signing key')
  const actor = c.actor as ActorId

  // Structure: deps present, seq chain, op counter.
  if (!Array.isArray(c.deps) || c.deps.length > 1024) reject('bad deps')
  let maxDepOp = 0
  let hasOwnPrevious = false
  const previous = view.latest(actor)
  for (const dep of c.deps) {
    const meta = view.meta(dep)
    if (!meta)
      throw new ChangeRejectedError('missing-deps', `dependency ${dep.slice(0, 12)} unknown`, hash)
    maxDepOp = Math.max(maxDepOp, meta.maxOp)
    if (previous && dep === previous.hash) hasOwnPrevious = true
  }
  if (!Number.isSafeInteger(c.seq) || c.seq < 1) reject('bad seq')
  if (previous && previous.seq >= c.seq)
    throw new SeqReusedError(
      `seq ${c.seq} after the actor's seq ${previous.seq}`,
      hash,
      previous,
      signature!,
    )
  if (c.seq === 1) {
    // no history: checked above
  } else if (!previous) {
    reject(`seq ${c.seq} for an actor with no history (seq gap)`)
  } else if (previous.seq !== c.seq - 1) {
    reject(`seq ${c.seq} after the actor's seq ${previous.seq}`)
  } else if (!hasOwnPrevious) {
    reject("deps do not include the actor's previous change")
  }
  if (c.startOp !== maxDepOp + 1) reject(`startOp ${c.startOp} is not ${maxDepOp + 1}`)

  // Ops: insert-only into the actor's own buckets.
  if (!Array.isArray(c.ops) || c.ops.length === 0) reject('empty change')
  if (c.ops.length > MAX_EVENTS_PER_CHANGE * 2) reject('too many ops')
  const created: AcceptedChange['created'] = []
  const inserts = new Map<string, number>()
  const insertedHere = new Map<string, string>() // op id -> list obj id
  const lengths = new Map<string, number>()
  const ops: AllowedOp[] = []
  const entries: string[] = []
  let bucketCount = view.bucketCount(actor)
  c.ops.forEach((op, i) => {
    const opId = `${c.startOp + i}@${actor}`
    const o = op as unknown as Record<string, unknown>
    if (!isEmptyArray(o['pred'])) reject(`op ${i} has a predecessor (overwrite or delete)`)
    if (o['datatype'] !== undefined) reject(`op ${i} has datatype ${String(o['datatype'])}`)
    if (op.action === 'makeList') {
      if (
        o['obj'] !== '_root' ||
        typeof o['key'] !== 'string' ||
        o['insert'] ||
        o['value'] !== undefined
      )
        reject(`op ${i}: a list outside the root`)
      const key = o['key'] as string
      const parsed = parseBucketKey(key)
      if (!parsed || parsed.actor !== actor)
        reject(`op ${i}: list key ${key.slice(0, 80)} is not the actor's bucket`)
      if (parsed!.index !== bucketCount)
        reject(`op ${i}: bucket ${parsed!.index} is not the next one (${bucketCount})`)
      if (parsed!.index > 0) {
        const prev = view.bucketByKey(`${actor}:${parsed!.index - 1}`)
        const prevCreatedHere = created.find((b) => b.index === parsed!.index - 1)
        const prevLength = prevCreatedHere
          ? (lengths.get(prevCreatedHere.objId) ?? 0)
          : (prev?.length ?? 0) + (prev ? (lengths.get(prev.objId) ?? 0) : 0)
        if (prevLength < BUCKET_CAPACITY)
          reject(`op ${i}: a new bucket before the previous one is full`)
      }
      bucketCount++
      created.push({ key, objId: opId, actor, index: parsed!.index })
      ops.push({ action: 'makeList', obj: '_root', key, pred: [] })
      return
    }
    if (op.action !== 'set' || o['insert'] !== true)
      reject(`op ${i}: ${op.action}${o['insert'] ? '' : ' without insert'} is not allowed`)
    const obj = o['obj']
    if (typeof obj !== 'string') reject(`op ${i}: bad object`)
    const objId = obj as string
    const createdHere = created.find((b) => b.objId === objId)
    const bucket = createdHere ? { ...createdHere, length: 0 } : view.bucketByObj(objId)
    if (!bucket) reject(`op ${i}: insert into a list that does not exist`)
    if (bucket!.actor !== actor) reject(`op ${i}: insert into another actor's bucket`)
    const elemId = o['elemId']
    if (elemId !== '_head' && insertedHere.get(elemId as string) !== objId)
      reject(`op ${i}: elemId must be _head or an element inserted earlier in the change`)
    const length = bucket!.length + (lengths.get(objId) ?? 0)
    if (length + 1 > BUCKET_CAPACITY) reject(`op ${i}: bucket is full`)
    const value = o['value']
    if (typeof value !== 'string') reject(`op ${i}: entry is not an ImmutableString`)
    if ((value as string).length > MAX_ENTRY_CHARS) reject(`op ${i}: entry too large`)
    lengths.set(objId, (lengths.get(objId) ?? 0) + 1)
    inserts.set(objId, (inserts.get(objId) ?? 0) + 1)
    insertedHere.set(opId, objId)
    ops.push({
      action: 'set',
      obj: objId,
      elemId: elemId as string,
      insert: true,
      value: value as string,
      pred: [],
    })
    entries.push(value as string)
  })
  if (entries.length > MAX_EVENTS_PER_CHANGE) reject('too many events')
  if (c.seq === 1 && !created.some((b) => b.index === 0))
    reject("an actor's first change must create its bucket 0")
  const maxOp = c.startOp + c.ops.length - 1
  return {
    accepted: { meta: { hash, actor, seq: c.seq, startOp: c.startOp, maxOp }, created, inserts },
    signature: signature!,
    signable: { actor, seq: c.seq, startOp: c.startOp, time: c.time, deps: c.deps ?? EMPTY, ops },
    entries,
  }
}

async function throwIfEquivocation(error: SeqReusedError, incoming: IncomingChange): Promise<void> {
  const c = incoming.decoded
  let signed: boolean
  try {
    signed = await verifyChangeSignature(
      {
        actor: c.actor,
        seq: c.seq,
        startOp: c.startOp,
        time: c.time,
        deps: c.deps,
        ops: c.ops as unknown as AllowedOp[],
      },
      error.signature,
    )
  } catch {
    signed = false
  }
  if (!signed) return
  const hashes = error.held.seq === c.seq ? [c.hash, error.held.hash] : [c.hash]
  throw new ChangeRejectedError(
    'invalid',
    `equivocation: the device signed two changes with seq ${c.seq} (${error.reason})`,
    c.hash,
    { actor: c.actor, seq: c.seq, hashes },
  )
}

export interface ValidatedChanges {
  /** Changes new to this document, in order, with their events' wire bytes. */
  accepted: AcceptedChange[]
  events: Uint8Array[][]
  /** Changes skipped because the document (or an earlier message) already has them. */
  known: number
}

/**
 * Validates the changes of one message (or one imported document) as a unit: any failure
 * rejects them all. Structural rules run in order against `view`; then every change
 * signature and event signature is verified concurrently.
 */
export async function validateChanges(
  view: BatchView,
  changes: readonly IncomingChange[],
  verifyEvent: VerifyEvent,
): Promise<ValidatedChanges> {
  const checked: Checked[] = []
  let known = 0
  for (const incoming of changes) {
    if (view.hasChange(incoming.decoded.hash)) {
      known++
      continue
    }
    let result: Checked
    try {
      result = checkStructure(view, incoming)
    } catch (error) {
      if (error instanceof SeqReusedError) await throwIfEquivocation(error, incoming)
      throw error
    }
    view.add(result.accepted)
    checked.push(result)
  }
  const events = await Promise.all(
    checked.map(async (item) => {
      const hash = item.accepted.meta.hash
      const bytes = item.entries.map((entry) => {
        const decoded = base64urlDecode(entry)
        if (!decoded)
          throw new ChangeRejectedError('invalid', 'entry is not canonical base64url', hash)
        return decoded
      })
      const [changeOk, verdicts] = await Promise.all([
        verifyChangeSignature(item.signable, item.signature),
        Promise.all(bytes.map((b) => verifyEvent(b))),
      ])
      if (!changeOk)
        throw new ChangeRejectedError('invalid', 'change signature does not verify', hash)
      verdicts.forEach((verdict, i) => {
        if (!verdict.ok)
          throw new ChangeRejectedError('invalid', `event ${i}: ${verdict.reason}`, hash)
        if (verdict.keyId !== item.signature.keyId)
          throw new ChangeRejectedError(
            'invalid',
            `event ${i} is signed by another device than the change`,
            hash,
          )
      })
      return bytes
    }),
  )
  return { accepted: checked.map((c) => c.accepted), events, known }
}
