import * as A from '@automerge/automerge'
import type { DocHandle, DocumentId, Repo } from '@automerge/automerge-repo'
import type { DeviceKey, Did } from '@hearth/identity'
import { base64urlDecode } from '../automerge/base64url.ts'
import { importVerified } from '../automerge/change-validator.ts'
import type { ChangeValidator } from '../automerge/change-validator.ts'
import { parseBucketKey, userDocumentId } from '../automerge/layout.ts'
import { createSignedDocument, SignedWriter } from '../automerge/signed-writer.ts'
import type { EventId, SpaceId } from '../events/schema.ts'
import {
  parseUserRecord,
  signUserRecord,
  type UserRecord,
  type UserRecordBody,
  type UserRecordType,
} from './user-record.ts'

export interface SpacePrefs {
  readonly muted: boolean
  readonly colour: string | null
}

export interface UserState {
  /** Spaces followed, with their name as last written. */
  readonly follows: ReadonlyMap<SpaceId, { name: string | null }>
  /** `${space}|${container}` → the newest event read there. */
  readonly reads: ReadonlyMap<string, EventId>
  readonly prefs: ReadonlyMap<SpaceId, SpacePrefs>
  /** Records signed by keys not (yet) confirmed as this user's devices: ignored. */
  readonly untrusted: number
}

export interface UserDocumentContext {
  readonly repo: Repo
  readonly validator: ChangeValidator
  readonly did: Did
  readonly key: DeviceKey
  /**
   * Is this key one of the user's devices? Only the owner's connections may write the user
   * document at the router, but the router itself is not trusted: a record counts only if its
   * key is this device's or one confirmed here (the apps ask the keyserver, which serves a key
   * only while its binding record is in the user's PDS).
   */
  readonly trustKey: (keyId: string) => Promise<boolean>
  push(documentId: DocumentId, changes: Uint8Array[]): boolean
}

interface Slot {
  record: UserRecord
  /** Tie-break between records of the same timestamp: their encoded bytes. */
  entry: string
}

/** Which records replace each other: the last one written wins its slot. */
function slotOf(record: UserRecord): string {
  const body = record.body as { space: string; container?: string }
  switch (record.type) {
    case 'space.follow':
    case 'space.unfollow':
      return `follow|${body.space}`
    case 'read':
      return `read|${body.space}|${body.container}`
    case 'space.prefs':
      return `prefs|${body.space}`
  }
}

/**
 * The user's own document on this device: read from its buckets as it changes, written with
 * signed changes like every Hearth document, merged across the user's devices by Automerge
 * (each device writes its own buckets) and by last-writer-wins per slot.
 */
export class UserDocument {
  readonly documentId: DocumentId
  readonly #ctx: UserDocumentContext
  #handle: DocHandle<unknown> | undefined
  #writer: SignedWriter | undefined
  readonly #seen = new Map<string, number>()
  readonly #slots = new Map<string, Slot>()
  readonly #trusted = new Map<string, boolean>()
  #untrusted = 0
  #state: UserState = { follows: new Map(), reads: new Map(), prefs: new Map(), untrusted: 0 }
  readonly #listeners = new Set<(state: UserState) => void>()
  #queue: Promise<unknown> = Promise.resolve()
  #stop: (() => void) | undefined

  constructor(ctx: UserDocumentContext) {
    this.#ctx = ctx
    this.documentId = userDocumentId(ctx.did)
    this.#trusted.set(ctx.key.keyId, true)
  }

  async open(): Promise<void> {
    const handle = await this.#ctx.repo.find<unknown>(this.documentId, {
      // Storage answers at once; a document only the router has follows when it arrives.
      allowableStates: ['ready', 'unavailable', 'requesting'],
    })
    // What the device holds is read (and its keys checked) before `open` resolves, so the
    // spaces list is complete from the first look.
    await this.#adopt(handle)
  }

  #adopt(handle: DocHandle<unknown>): Promise<void> {
    if (this.#handle === handle) return Promise.resolve()
    this.#stop?.()
    this.#handle = handle
    const onChange = ({ doc }: { doc: unknown }) => void this.#read(doc)
    handle.on('change', onChange)
    this.#stop = () => handle.off('change', onChange)
    return handle.isReady() ? this.#read(handle.doc()) : Promise.resolve()
  }

  get state(): UserState {
    return this.#state
  }

  subscribe(listener: (state: UserState) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  async #read(doc: unknown): Promise<void> {
    const root = doc as Record<string, unknown>
    const fresh: { record: UserRecord; entry: string }[] = []
    for (const key of Object.keys(root)) {
      if (!parseBucketKey(key)) continue
      const list = root[key]
      if (!Array.isArray(list)) continue
      const seen = this.#seen.get(key) ?? 0
      if (list.length <= seen) continue
      for (const value of list.slice(0, list.length - seen)) {
        const entry = String(value)
        const bytes = base64urlDecode(entry)
        // Signatures were checked at ingress; events in a user document are not records.
        const parsed = bytes && parseUserRecord(bytes)
        if (parsed && parsed.ok) fresh.push({ record: parsed.record, entry })
      }
      this.#seen.set(key, list.length)
    }
    let changed = false
    for (const { record, entry } of fresh) {
      if (!(await this.#isTrusted(record.key))) {
        this.#untrusted++
        changed = true
        continue
      }
      const slot = slotOf(record)
      const current = this.#slots.get(slot)
      if (
        !current ||
        current.record.ts < record.ts ||
        (current.record.ts === record.ts && current.entry < entry)
      ) {
        this.#slots.set(slot, { record, entry })
        changed = true
      }
    }
    if (changed) this.#rebuild()
  }

  async #isTrusted(keyId: string): Promise<boolean> {
    const known = this.#trusted.get(keyId)
    if (known !== undefined) return known
    const trusted = await this.#ctx.trustKey(keyId).catch(() => false)
    // A refusal is not cached: the key may be bound later (a device being added).
    if (trusted) this.#trusted.set(keyId, true)
    return trusted
  }

  #rebuild(): void {
    const follows = new Map<SpaceId, { name: string | null }>()
    const reads = new Map<string, EventId>()
    const prefs = new Map<SpaceId, SpacePrefs>()
    for (const { record } of this.#slots.values()) {
      if (record.type === 'space.follow') {
        const body = record.body as UserRecordBody<'space.follow'>
        follows.set(body.space, { name: body.name })
      } else if (record.type === 'read') {
        const body = record.body as UserRecordBody<'read'>
        reads.set(`${body.space}|${body.container}`, body.event)
      } else if (record.type === 'space.prefs') {
        const body = record.body as UserRecordBody<'space.prefs'>
        prefs.set(body.space, { muted: body.muted, colour: body.colour })
      }
    }
    this.#state = { follows, reads, prefs, untrusted: this.#untrusted }
    for (const listener of this.#listeners) listener(this.#state)
  }

  follow(space: SpaceId, name: string | null): Promise<void> {
    const current = this.#state.follows.get(space)
    if (current && current.name === name) return Promise.resolve()
    return this.#write('space.follow', { space, name })
  }

  unfollow(space: SpaceId): Promise<void> {
    if (!this.#state.follows.has(space)) return Promise.resolve()
    return this.#write('space.unfollow', { space })
  }

  /** Records how far this user has read in a channel, thread or page (seen on every device). */
  markRead(space: SpaceId, container: EventId, event: EventId): Promise<void> {
    if (this.#state.reads.get(`${space}|${container}`) === event) return Promise.resolve()
    return this.#write('read', { space, container, event })
  }

  readPosition(space: SpaceId, container: EventId): EventId | undefined {
    return this.#state.reads.get(`${space}|${container}`)
  }

  setPrefs(space: SpaceId, prefs: SpacePrefs): Promise<void> {
    return this.#write('space.prefs', { space, muted: prefs.muted, colour: prefs.colour })
  }

  #write<T extends UserRecordType>(type: T, body: UserRecordBody<T>): Promise<void> {
    const run = this.#queue.then(async () => {
      // Never older than what it replaces, whatever this device's clock says.
      const probe = { v: 1, type, key: this.#ctx.key.keyId, ts: 0, body } as UserRecord
      const previous = this.#slots.get(slotOf(probe))?.record.ts ?? 0
      const bytes = await signUserRecord(
        this.#ctx.key,
        type,
        body,
        Math.max(Date.now(), previous + 1),
      )
      const handle = this.#handle
      let change: Uint8Array
      if (handle?.isReady()) {
        this.#writer ??= new SignedWriter(handle, this.#ctx.key, {
          onWrite: (accepted) => this.#ctx.validator.noteLocalWrite(this.documentId, accepted),
        })
        ;({ change } = await this.#writer.appendChange([bytes]))
      } else {
        // The user's first record anywhere, or the router has not sent the document yet: a
        // new signed document, merged with any other device's when they meet.
        const saved = await createSignedDocument(this.#ctx.key, [bytes])
        ;[change] = A.getAllChanges(A.load(saved)) as [Uint8Array]
        await this.#adopt(
          await importVerified(this.#ctx.repo, this.#ctx.validator, this.documentId, saved),
        )
      }
      if (this.#handle?.isReady()) await this.#read(this.#handle.doc())
      this.#ctx.push(this.documentId, [change])
    })
    this.#queue = run.catch(() => undefined)
    return run
  }

  /** Asks the router again (the document may have been created by another device since). */
  refresh(): void {
    const repo = this.#ctx.repo
    if (!this.#handle || this.#handle.isReady()) return
    const synchronizer = repo.synchronizer.docSynchronizers[this.documentId]
    if (!synchronizer) return
    for (const peer of repo.peers) {
      synchronizer.endSync(peer)
      void synchronizer.beginSync([peer]).catch(() => undefined)
    }
  }

  close(): void {
    this.#stop?.()
    this.#listeners.clear()
  }
}
