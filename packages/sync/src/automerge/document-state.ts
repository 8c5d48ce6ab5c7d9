import * as A from '@automerge/automerge'
import { parseBucketKey } from './layout.ts'
import type { ActorId } from './layout.ts'

export interface ChangeMeta {
  hash: string
  actor: string
  seq: number
  startOp: number
  maxOp: number
}

export interface BucketInfo {
  key: string
  actor: ActorId
  index: number
  objId: string
  length: number
}

/** What one accepted change adds, kept until the Repo has applied it to the document. */
export interface AcceptedChange {
  meta: ChangeMeta
  created: { key: string; objId: string; actor: ActorId; index: number }[]
  inserts: Map<string, number>
}

/** Read access to a document's structure, as the rules need it. */
export interface StructureView {
  hasChange(hash: string): boolean
  meta(hash: string): ChangeMeta | undefined
  latest(actor: string): { seq: number; hash: string } | undefined
  bucketByObj(objId: string): BucketInfo | undefined
  bucketByKey(key: string): BucketInfo | undefined
  bucketCount(actor: string): number
}

function metaOf(m: A.ChangeMetadata | null): ChangeMeta | undefined {
  if (!m) return undefined
  return { hash: m.hash, actor: m.actor, seq: m.seq, startOp: m.startOp, maxOp: m.maxOp }
}

/**
 * The structure of one document as the validator knows it: the Repo's current document
 * plus changes accepted but not yet applied (the Repo applies asynchronously, so a second
 * message can arrive before the first one's changes are in the document). Rebuilt
 * incrementally from the document's new changes whenever the document object changes.
 */
export class DocumentState {
  readonly #getDoc: () => A.Doc<unknown> | undefined
  #doc: A.Doc<unknown> | undefined
  #heads: A.Heads = []
  readonly #latest = new Map<string, { seq: number; hash: string }>()
  readonly #byObj = new Map<string, BucketInfo>()
  readonly #byKey = new Map<string, BucketInfo>()
  readonly #counts = new Map<string, number>()
  readonly #pending = new Map<string, AcceptedChange>()

  constructor(getDoc: () => A.Doc<unknown> | undefined) {
    this.#getDoc = getDoc
  }

  /** Brings the state up to the Repo's current document. Cheap when nothing changed. */
  refresh(): void {
    const doc = this.#getDoc()
    if (!doc || doc === this.#doc) return
    const backend = A.getBackend(doc)
    const first = this.#doc === undefined
    let since: A.ChangeMetadata[]
    try {
      since = backend.getChangesMeta(this.#heads)
    } catch {
      since = backend.getChangesMeta([])
    }
    const touched = new Set<string>()
    for (const m of since) {
      this.#noteLatest(m.actor, m.seq, m.hash)
      touched.add(m.actor)
    }
    this.#doc = doc
    this.#heads = A.getHeads(doc)
    const root = doc as Record<string, unknown>
    const readBucket = (key: string): boolean => {
      const parsed = parseBucketKey(key)
      const list = root[key]
      if (!parsed || !Array.isArray(list)) return false
      const objId = A.getObjectId(list)
      if (!objId) return false
      this.#setBucket({ key, actor: parsed.actor, index: parsed.index, objId, length: list.length })
      return true
    }
    if (first) {
      for (const key of Object.keys(root)) readBucket(key)
    } else {
      // Only the actors with new changes can have new or longer buckets: their newest known
      // bucket and any after it (a document of 100k events has ~100 buckets; this reads 1-2).
      for (const actor of touched) {
        let index = Math.max(0, (this.#counts.get(actor) ?? 1) - 1)
        while (readBucket(`${actor}:${index}`)) index++
      }
    }
    for (const hash of [...this.#pending.keys()]) {
      if (backend.getChangeMetaByHash(hash)) this.#pending.delete(hash)
    }
  }

  #noteLatest(actor: string, seq: number, hash: string): void {
    const known = this.#latest.get(actor)
    if (!known || known.seq < seq) this.#latest.set(actor, { seq, hash })
  }

  #setBucket(info: BucketInfo): void {
    this.#byObj.set(info.objId, info)
    this.#byKey.set(info.key, info)
    this.#counts.set(info.actor, Math.max(this.#counts.get(info.actor) ?? 0, info.index + 1))
  }

  #pendingInserts(objId: string): number {
    let n = 0
    for (const accepted of this.#pending.values()) n += accepted.inserts.get(objId) ?? 0
    return n
  }

  hasChange(hash: string): boolean {
    if (this.#pending.has(hash)) return true
    return this.#doc ? A.getBackend(this.#doc).getChangeMetaByHash(hash) !== null : false
  }

  meta(hash: string): ChangeMeta | undefined {
    const pending = this.#pending.get(hash)
    if (pending) return pending.meta
    return this.#doc ? metaOf(A.getBackend(this.#doc).getChangeMetaByHash(hash)) : undefined
  }

  latest(actor: string): { seq: number; hash: string } | undefined {
    return this.#latest.get(actor)
  }

  bucketByObj(objId: string): BucketInfo | undefined {
    const info = this.#byObj.get(objId)
    return info && { ...info, length: info.length + this.#pendingInserts(objId) }
  }

  bucketByKey(key: string): BucketInfo | undefined {
    const info = this.#byKey.get(key)
    return info && { ...info, length: info.length + this.#pendingInserts(info.objId) }
  }

  bucketCount(actor: string): number {
    return this.#counts.get(actor) ?? 0
  }

  /** Records changes that passed validation (or were written locally) before the Repo applies them. */
  commit(changes: readonly AcceptedChange[]): void {
    for (const accepted of changes) {
      if (this.hasChange(accepted.meta.hash)) continue
      this.#pending.set(accepted.meta.hash, accepted)
      this.#noteLatest(accepted.meta.actor, accepted.meta.seq, accepted.meta.hash)
      for (const c of accepted.created) {
        if (!this.#byObj.has(c.objId)) this.#setBucket({ ...c, length: 0 })
      }
    }
  }

  /** A view for validating one message: reads this state plus the batch's own earlier changes. */
  beginBatch(): BatchView {
    this.refresh()
    return new BatchView(this)
  }
}

/** Layers the changes of one message, in order, over a DocumentState without touching it. */
export class BatchView implements StructureView {
  readonly #base: StructureView
  readonly accepted: AcceptedChange[] = []
  readonly #metas = new Map<string, ChangeMeta>()
  readonly #latest = new Map<string, { seq: number; hash: string }>()
  readonly #byObj = new Map<string, BucketInfo>()
  readonly #byKey = new Map<string, string>()
  readonly #inserts = new Map<string, number>()
  readonly #counts = new Map<string, number>()

  constructor(base: StructureView) {
    this.#base = base
  }

  hasChange(hash: string): boolean {
    return this.#metas.has(hash) || this.#base.hasChange(hash)
  }

  meta(hash: string): ChangeMeta | undefined {
    return this.#metas.get(hash) ?? this.#base.meta(hash)
  }

  latest(actor: string): { seq: number; hash: string } | undefined {
    return this.#latest.get(actor) ?? this.#base.latest(actor)
  }

  bucketByObj(objId: string): BucketInfo | undefined {
    const info = this.#byObj.get(objId) ?? this.#base.bucketByObj(objId)
    return info && { ...info, length: info.length + (this.#inserts.get(objId) ?? 0) }
  }

  bucketByKey(key: string): BucketInfo | undefined {
    const objId = this.#byKey.get(key)
    if (objId !== undefined) return this.bucketByObj(objId)
    const base = this.#base.bucketByKey(key)
    return base && { ...base, length: base.length + (this.#inserts.get(base.objId) ?? 0) }
  }

  bucketCount(actor: string): number {
    return this.#counts.get(actor) ?? this.#base.bucketCount(actor)
  }

  add(accepted: AcceptedChange): void {
    this.accepted.push(accepted)
    const { meta } = accepted
    this.#metas.set(meta.hash, meta)
    const known = this.latest(meta.actor)
    if (!known || known.seq < meta.seq)
      this.#latest.set(meta.actor, { seq: meta.seq, hash: meta.hash })
    for (const c of accepted.created) {
      this.#byObj.set(c.objId, { ...c, length: 0 })
      this.#byKey.set(c.key, c.objId)
      this.#counts.set(c.actor, Math.max(this.bucketCount(c.actor), c.index + 1))
    }
    for (const [objId, n] of accepted.inserts)
      this.#inserts.set(objId, (this.#inserts.get(objId) ?? 0) + n)
  }
}
