import type { Did } from '@hearth/identity'
import { canonicalDecode, canonicalEncode, utf8 } from '@hearth/identity'
import { z } from 'zod'
import { EVENT_ID_PATTERN, type EventId, type SpaceId } from '../events/schema.ts'
import {
  checksum,
  InvalidCheckpointError,
  MAX_CHECKPOINT_BYTES,
  MAX_CHECKPOINT_EVENTS,
} from './checkpoint.ts'
import { SpaceReducer, type SpaceReducerOptions } from './space-reducer.ts'
import { compareOrd, type MessageView, type SpaceState } from './types.ts'

/**
 * A paged reducer checkpoint. Reopening a space should show its first screen (members,
 * channels, the latest messages of a channel) without reading the whole state:
 *
 * - the **head** (small, read first): the space-level state (members, proposals, containers,
 *   profiles, automod, counts) and an index of every part with its size and checksum;
 * - **message pages**: the message views of one container (the channel, thread or page a
 *   message shows in now), in canonical order, `pageSize` per page, read on demand;
 * - **reducer chunks**: the whole-reducer checkpoint (`SpaceReducer.checkpoint()`: its body
 *   and its events), split into chunks, read only when the caller needs the live reducer (to
 *   add events, or for the full state); its envelope lives in the head.
 *
 * Every part is checked against the head's checksum when it is read; the head itself carries
 * a checksum and is schema-checked with caps. Any mismatch is an InvalidCheckpointError: the
 * caller replays.
 */
export interface PagedCheckpoint {
  /** DAG-CBOR of the head envelope. */
  readonly head: Uint8Array
  /** Part name -> bytes; every name is listed in the head. */
  readonly parts: ReadonlyMap<string, Uint8Array>
}

export const PAGED_CHECKPOINT_VERSION = 2
export const MESSAGES_PER_PAGE = 1000
/** Large: putting chunks back together costs a copy (a 100k-event space fits in one). */
export const REDUCER_CHUNK_BYTES = 256 * 1024 * 1024
/** The head is small by design; this caps a damaged one, not an honest one. */
export const MAX_HEAD_BYTES = 256 * 1024 * 1024
/** A page holds at most MESSAGES_PER_PAGE messages of at most one event's text each. */
const MAX_PAGE_BYTES = 256 * 1024 * 1024
const MAX_PAGE_SIZE = 100_000
/** Where messages that name no channel or thread are listed. */
export const NO_CONTAINER = '-'

/** The space-level part of SpaceState, available as soon as the head is read. */
export interface SpaceSummary extends Omit<SpaceState, 'messages' | 'invalid' | 'pending'> {
  /** Counts of what the summary leaves out (the full state has them). */
  readonly messageCount: number
  readonly invalidCount: number
  readonly pendingCount: number
}

export interface ContainerPages {
  /** Messages showing in this container, and how many pages hold them (the last is the newest). */
  readonly messages: number
  readonly pages: number
}

// ---- encoding ----

type Row = [
  id: string,
  author: number,
  key: number,
  flags: number,
  channel: number,
  thread: number,
  replyTo: number,
  text: string | null,
  movedTo: number,
  movedBy: number,
  ts: number,
  reactions: Array<[string, number[]]> | 0,
]

const KEY_CHANGED = 1
const EDITED = 2
const REDACTED = 4

/** The container a message shows in now: where it was moved to, else its thread or channel. */
export function containerOf(m: MessageView): string {
  return m.movedTo ?? m.thread ?? m.channel ?? NO_CONTAINER
}

function encodePage(
  container: string,
  index: number,
  messages: readonly MessageView[],
): Uint8Array {
  // Columns that repeat (DIDs, keys, channel ids) are listed once per page.
  const refs: string[] = []
  const refIndex = new Map<string, number>()
  const ref = (value: string | null): number => {
    if (value === null) return -1
    let i = refIndex.get(value)
    if (i === undefined) {
      i = refs.length
      refs.push(value)
      refIndex.set(value, i)
    }
    return i
  }
  const rows: Row[] = messages.map((m) => [
    m.id,
    ref(m.author),
    ref(m.key),
    (m.keyChanged ? KEY_CHANGED : 0) | (m.edited ? EDITED : 0) | (m.redacted ? REDACTED : 0),
    ref(m.channel),
    ref(m.thread),
    ref(m.replyTo),
    m.text,
    ref(m.movedTo),
    ref(m.movedBy),
    m.ts,
    m.reactions.size === 0
      ? 0
      : [...m.reactions].map(([emoji, dids]) => [emoji, [...dids].map((d) => ref(d))]),
  ])
  return utf8(JSON.stringify({ container, index, refs, rows }))
}

function decodePage(bytes: Uint8Array, container: string, index: number): MessageView[] {
  let page: unknown
  try {
    page = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch (cause) {
    throw new InvalidCheckpointError('message page is not JSON', { cause })
  }
  const p = page as { container?: unknown; index?: unknown; refs?: unknown; rows?: unknown }
  if (
    typeof p !== 'object' ||
    p === null ||
    p.container !== container ||
    p.index !== index ||
    !Array.isArray(p.refs) ||
    !Array.isArray(p.rows) ||
    !p.refs.every((r) => typeof r === 'string' && r.length <= 2048)
  )
    throw new InvalidCheckpointError(`message page ${container}/${index}: unexpected shape`)
  const refs = p.refs as string[]
  const bad = () => new InvalidCheckpointError(`message page ${container}/${index}: bad row`)
  const req = (i: unknown): string => {
    if (typeof i !== 'number' || !Number.isInteger(i) || i < 0 || i >= refs.length) throw bad()
    return refs[i]!
  }
  const opt = (i: unknown): string | null => (i === -1 ? null : req(i))
  return (p.rows as unknown[]).map((row): MessageView => {
    if (!Array.isArray(row) || row.length !== 12) throw bad()
    const [id, author, key, flags, channel, thread, replyTo, text, movedTo, movedBy, ts, r] = row
    if (
      typeof id !== 'string' ||
      !EVENT_ID_PATTERN.test(id) ||
      typeof flags !== 'number' ||
      !Number.isInteger(flags) ||
      flags < 0 ||
      flags > 7 ||
      (text !== null && typeof text !== 'string') ||
      typeof ts !== 'number' ||
      !Number.isSafeInteger(ts)
    )
      throw bad()
    const reactions = new Map<string, Set<Did>>()
    if (r !== 0) {
      if (!Array.isArray(r)) throw bad()
      for (const entry of r) {
        if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string') throw bad()
        if (!Array.isArray(entry[1])) throw bad()
        reactions.set(entry[0], new Set(entry[1].map((d: unknown) => req(d) as Did)))
      }
    }
    // The key order of the reducer's own views (it shows in a state digest).
    return {
      id: id as EventId,
      author: req(author) as Did,
      key: req(key),
      keyChanged: (flags & KEY_CHANGED) !== 0,
      channel: opt(channel) as EventId | null,
      thread: opt(thread) as EventId | null,
      replyTo: opt(replyTo) as EventId | null,
      text: text as string | null,
      edited: (flags & EDITED) !== 0,
      redacted: (flags & REDACTED) !== 0,
      movedTo: opt(movedTo) as EventId | null,
      movedBy: opt(movedBy) as Did | null,
      reactions,
      ts,
    }
  })
}

function summaryOf(state: SpaceState) {
  return {
    mode: state.mode,
    creator: state.creator,
    profile: state.profile,
    automod: state.automod,
    members: [...state.members.values()],
    memberProfiles: [...state.memberProfiles].map(([did, p]) => [did, p.displayName, p.avatar]),
    proposals: [...state.proposals.values()].map((p) => ({
      ...p,
      electorate: [...p.electorate],
      votes: [...p.votes],
    })),
    containers: [...state.containers.values()],
    applied: state.applied,
    messageCount: state.messages.size,
    invalidCount: state.invalid.size,
    pendingCount: state.pending.size,
  }
}

/** Splits a reducer's state into a paged checkpoint (see PagedCheckpoint). */
export function pagedCheckpoint(
  reducer: SpaceReducer,
  options: { pageSize?: number; chunkBytes?: number } = {},
): PagedCheckpoint {
  const pageSize = options.pageSize ?? MESSAGES_PER_PAGE
  const chunkBytes = options.chunkBytes ?? REDUCER_CHUNK_BYTES
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE)
    throw new RangeError(`page size ${pageSize}`)
  // One moment: the whole-reducer checkpoint and the views come from the same state.
  const whole = reducer.checkpoint()
  const state = reducer.state
  const parts = new Map<string, Uint8Array>()
  // The reducer's body and events, cut into chunks; the reducer checkpoint's own checksums
  // cover them (checked when they are put back together).
  const chunk = (prefix: string, bytes: Uint8Array) => {
    const out: Array<{ name: string; size: number }> = []
    for (let at = 0, n = 0; at < bytes.length || n === 0; at += chunkBytes, n++) {
      const name = `${prefix}.${n}`
      const piece = bytes.subarray(at, at + chunkBytes)
      parts.set(name, piece)
      out.push({ name, size: piece.length })
    }
    return out
  }
  const reducerIndex = {
    v: whole.v,
    checksum: whole.checksum,
    state: chunk('r.s', whole.state),
    events: chunk('r.e', whole.events),
  }
  const byContainer = new Map<string, MessageView[]>()
  for (const m of state.messages.values()) {
    const key = containerOf(m)
    const list = byContainer.get(key)
    if (list) list.push(m)
    else byContainer.set(key, [m])
  }
  const pages: Array<{
    container: string
    messages: number
    parts: Array<{ name: string; count: number; checksum: string }>
  }> = []
  for (const [container, list] of [...byContainer].sort(([a], [b]) => (a < b ? -1 : 1))) {
    list.sort((a, b) => compareOrd(reducer.ord(a.id)!, reducer.ord(b.id)!))
    const entry = { container, messages: list.length, parts: [] as (typeof pages)[0]['parts'] }
    for (let i = 0; i * pageSize < list.length; i++) {
      const name = `m.${container}.${i}`
      const bytes = encodePage(container, i, list.slice(i * pageSize, (i + 1) * pageSize))
      parts.set(name, bytes)
      entry.parts.push({
        name,
        count: Math.min(pageSize, list.length - i * pageSize),
        checksum: checksum(bytes),
      })
    }
    pages.push(entry)
  }
  const body = utf8(
    JSON.stringify({ summary: summaryOf(state), pages, reducer: reducerIndex, pageSize }),
  )
  const head = canonicalEncode({
    v: PAGED_CHECKPOINT_VERSION,
    spaceId: reducer.spaceId,
    eventCount: reducer.size,
    body,
    checksum: checksum(body),
  })
  return { head, parts }
}

// ---- decoding ----

const MAX_LIST = MAX_CHECKPOINT_EVENTS
const str = (max: number) => z.string().max(max)
const id = str(200)
const nullableId = id.nullable()

const headSchema = z.strictObject({
  v: z.literal(PAGED_CHECKPOINT_VERSION),
  spaceId: z.string().min(1).max(200),
  eventCount: z.int().min(0).max(MAX_CHECKPOINT_EVENTS),
  body: z.instanceof(Uint8Array),
  checksum: z.string().regex(/^[0-9a-f]{16}$/),
})

const partName = z.string().regex(/^[A-Za-z0-9._:-]{1,200}$/)
const summarySchema = z.strictObject({
  mode: z.enum(['ONE_TO_ONE', 'ADMIN_INVITES_ONLY', 'INVITES_ONLY', 'PUBLIC']).nullable(),
  creator: nullableId,
  profile: z.strictObject({
    name: str(1000).nullable(),
    description: str(10_000).nullable(),
    avatar: str(4000).nullable(),
  }),
  automod: z
    .strictObject({
      keywords: z.array(str(200)).max(1000),
      maxMessagesPerMinute: z.int().nullable(),
      maxRepeats: z.int().nullable(),
    })
    .nullable(),
  members: z
    .array(
      z.strictObject({
        did: id,
        status: z.enum(['invited', 'member', 'left', 'banned']),
        role: z.enum(['admin', 'moderator', 'member']),
        keys: z.array(id).max(MAX_LIST),
        revokedKeys: z.array(id).max(MAX_LIST),
        firstKey: nullableId,
        invitedBy: nullableId,
      }),
    )
    .max(MAX_LIST),
  memberProfiles: z.array(z.tuple([id, str(1000).nullable(), str(4000).nullable()])).max(MAX_LIST),
  proposals: z
    .array(
      z.strictObject({
        id,
        action: z.enum(['ban', 'unban', 'role']),
        target: id,
        role: z.enum(['admin', 'moderator', 'member']).nullable(),
        proposer: id,
        electorate: z.array(id).max(MAX_LIST),
        votes: z.array(id).max(MAX_LIST),
        status: z.enum(['open', 'passed', 'void']),
        decidedBy: nullableId,
        reinvite: z.boolean(),
      }),
    )
    .max(MAX_LIST),
  containers: z
    .array(
      z.strictObject({
        id,
        type: z.enum(['channel', 'thread', 'page']),
        creator: id,
        name: str(1000),
        archived: z.boolean(),
        channel: nullableId,
        root: nullableId,
        text: z
          .string()
          .max(1024 * 1024)
          .nullable(),
      }),
    )
    .max(MAX_LIST),
  applied: z.int().min(0),
  messageCount: z.int().min(0),
  invalidCount: z.int().min(0),
  pendingCount: z.int().min(0),
})
const chunkList = z
  .array(z.strictObject({ name: partName, size: z.int().min(0).max(MAX_CHECKPOINT_BYTES) }))
  .min(1)
  .max(10_000)
const bodySchema = z.strictObject({
  summary: summarySchema,
  pages: z
    .array(
      z.strictObject({
        container: z.string().regex(/^(?:-|[a-z2-7]{52})$/),
        messages: z.int().min(0).max(MAX_LIST),
        parts: z
          .array(
            z.strictObject({
              name: partName,
              count: z.int().min(1).max(MAX_PAGE_SIZE),
              checksum: z.string().regex(/^[0-9a-f]{16}$/),
            }),
          )
          .max(MAX_LIST),
      }),
    )
    .max(MAX_LIST),
  reducer: z.strictObject({
    v: z.int(),
    checksum: z.string().regex(/^[0-9a-f]{32}$/),
    state: chunkList,
    events: chunkList,
  }),
  pageSize: z.int().min(1).max(MAX_PAGE_SIZE),
})

type HeadBody = z.infer<typeof bodySchema>

function schemaError(what: string, error: z.ZodError): InvalidCheckpointError {
  const issue = error.issues[0]
  return new InvalidCheckpointError(
    `${what} schema: ${issue?.path.map(String).join('.') || '(root)'}: ${issue?.message ?? '?'}`,
  )
}

/** Reads one part by name (from a store); undefined if it is missing. */
export type LoadPart = (name: string) => Promise<Uint8Array | undefined>

/**
 * A space opened from a paged checkpoint: the summary at once, message pages and the live
 * reducer on demand. A view of the state as it was saved: once the caller has the reducer and
 * adds events, the reducer is the truth. Reads of a damaged or missing part throw
 * InvalidCheckpointError (the caller replays).
 */
export class PagedSpace {
  readonly spaceId: SpaceId
  readonly eventCount: number
  readonly summary: SpaceSummary
  readonly pageSize: number
  readonly #body: HeadBody
  readonly #loadPart: LoadPart
  readonly #index = new Map<string, HeadBody['pages'][number]>()
  readonly #pages = new Map<string, Promise<MessageView[]>>()
  #reducer: Promise<SpaceReducer> | undefined

  /** @internal use openPagedCheckpoint */
  constructor(spaceId: SpaceId, eventCount: number, body: HeadBody, loadPart: LoadPart) {
    this.spaceId = spaceId
    this.eventCount = eventCount
    this.#body = body
    this.#loadPart = loadPart
    this.pageSize = body.pageSize
    const s = body.summary
    let listed = 0
    for (const entry of body.pages) {
      if (this.#index.has(entry.container))
        throw new InvalidCheckpointError('a container is listed twice')
      const counted = entry.parts.reduce((sum, p) => sum + p.count, 0)
      if (counted !== entry.messages || entry.parts.length === 0)
        throw new InvalidCheckpointError('page counts do not add up')
      this.#index.set(entry.container, entry)
      listed += entry.messages
    }
    if (listed !== s.messageCount)
      throw new InvalidCheckpointError('pages do not hold every message')
    const reducerBytes = [...body.reducer.state, ...body.reducer.events].reduce(
      (sum, c) => sum + c.size,
      0,
    )
    if (reducerBytes > 2 * MAX_CHECKPOINT_BYTES)
      throw new InvalidCheckpointError('reducer chunks too large')
    this.summary = {
      spaceId,
      mode: s.mode,
      creator: s.creator as Did | null,
      profile: s.profile,
      members: new Map(
        s.members.map((m) => [
          m.did as Did,
          { ...m, did: m.did as Did, invitedBy: m.invitedBy as Did | null },
        ]),
      ),
      memberProfiles: new Map(
        s.memberProfiles.map(([did, displayName, avatar]) => [did as Did, { displayName, avatar }]),
      ),
      proposals: new Map(
        s.proposals.map((p) => [
          p.id as EventId,
          {
            ...p,
            id: p.id as EventId,
            target: p.target as Did,
            proposer: p.proposer as Did,
            electorate: new Set(p.electorate as Did[]),
            votes: new Set(p.votes as Did[]),
            decidedBy: p.decidedBy as EventId | null,
          },
        ]),
      ),
      containers: new Map(
        s.containers.map((c) => [
          c.id as EventId,
          {
            ...c,
            id: c.id as EventId,
            creator: c.creator as Did,
            channel: c.channel as EventId | null,
            root: c.root as EventId | null,
          },
        ]),
      ),
      automod: s.automod,
      applied: s.applied,
      messageCount: s.messageCount,
      invalidCount: s.invalidCount,
      pendingCount: s.pendingCount,
    }
  }

  /** Containers that hold messages (NO_CONTAINER for messages outside any). */
  containers(): ReadonlyMap<string, ContainerPages> {
    const out = new Map<string, ContainerPages>()
    for (const [k, e] of this.#index) out.set(k, { messages: e.messages, pages: e.parts.length })
    return out
  }

  /** One page of a container's messages in canonical order (page 0 is the oldest). */
  page(container: string | null, index: number): Promise<MessageView[]> {
    const entry = this.#index.get(container ?? NO_CONTAINER)
    const part = entry?.parts[index]
    if (!entry || !part) return Promise.resolve([])
    const cacheKey = part.name
    let loaded = this.#pages.get(cacheKey)
    if (!loaded) {
      loaded = this.#read(part).then((bytes) => {
        const views = decodePage(bytes, entry.container, index)
        if (views.length !== part.count) throw new InvalidCheckpointError('page count mismatch')
        return views
      })
      // A failed read is not cached as a success, nor retried into a half state.
      this.#pages.set(cacheKey, loaded)
    }
    return loaded
  }

  /** The last `limit` messages of a container, oldest first: what a channel's first screen shows. */
  async latestMessages(container: string | null, limit = 50): Promise<MessageView[]> {
    const entry = this.#index.get(container ?? NO_CONTAINER)
    if (!entry) return []
    const out: MessageView[][] = []
    let have = 0
    for (let i = entry.parts.length - 1; i >= 0 && have < limit; i--) {
      const page = await this.page(container, i)
      out.unshift(page)
      have += page.length
    }
    const flat = out.flat()
    return flat.slice(Math.max(0, flat.length - limit))
  }

  /**
   * The live reducer (every chunk read, checked and restored; nothing replayed or verified),
   * once: later calls share it. Needed to add events or to read the full state.
   */
  reducer(options: SpaceReducerOptions = {}): Promise<SpaceReducer> {
    this.#reducer ??= (async () => {
      const index = this.#body.reducer
      const read = async (chunks: ReadonlyArray<{ name: string; size: number }>) => {
        const pieces: Uint8Array[] = []
        let total = 0
        for (const part of chunks) {
          const bytes = await this.#read(part)
          if (bytes.length !== part.size) throw new InvalidCheckpointError('chunk size mismatch')
          pieces.push(bytes)
          total += bytes.length
        }
        if (pieces.length === 1) return pieces[0]!
        const whole = new Uint8Array(total)
        let at = 0
        for (const piece of pieces) {
          whole.set(piece, at)
          at += piece.length
        }
        return whole
      }
      // The reducer checkpoint's envelope is the head's; its checksums cover the chunks.
      const checkpoint = {
        v: index.v,
        spaceId: this.spaceId,
        eventCount: this.eventCount,
        state: await read(index.state),
        events: await read(index.events),
        checksum: index.checksum,
      }
      const reducer = SpaceReducer.restore(checkpoint, { ...options, spaceId: this.spaceId })
      // The head and the reducer must describe the same state.
      if (reducer.size !== this.eventCount)
        throw new InvalidCheckpointError('reducer and head disagree on the event count')
      const counts = reducer.counts()
      if (
        counts.applied !== this.summary.applied ||
        counts.messages !== this.summary.messageCount ||
        counts.members !== this.summary.members.size ||
        counts.containers !== this.summary.containers.size
      )
        throw new InvalidCheckpointError('reducer and head describe different states')
      return reducer
    })()
    return this.#reducer
  }

  /** The full state (reads the reducer). */
  async state(): Promise<SpaceState> {
    return (await this.reducer()).state
  }

  async #read(part: { name: string; checksum?: string }): Promise<Uint8Array> {
    const bytes = await this.#loadPart(part.name)
    if (!bytes) throw new InvalidCheckpointError(`part ${part.name} is missing`)
    if (bytes.length > Math.max(MAX_PAGE_BYTES, REDUCER_CHUNK_BYTES))
      throw new InvalidCheckpointError(`part ${part.name} is oversized`)
    if (part.checksum !== undefined && checksum(bytes) !== part.checksum)
      throw new InvalidCheckpointError(`part ${part.name}: checksum mismatch (damaged)`)
    return bytes
  }
}

/**
 * Opens a paged checkpoint from its head (untrusted bytes): envelope (zod, caps), checksum,
 * body schema and cross-checks now; parts when read. Throws InvalidCheckpointError.
 */
export function openPagedCheckpoint(
  head: unknown,
  options: { spaceId?: SpaceId; loadPart: LoadPart },
): PagedSpace {
  let decoded = head
  if (head instanceof Uint8Array) {
    if (head.length > MAX_HEAD_BYTES)
      throw new InvalidCheckpointError(`head: ${head.length} bytes > ${MAX_HEAD_BYTES}`)
    try {
      decoded = canonicalDecode(head)
    } catch (cause) {
      throw new InvalidCheckpointError('head: not canonical DAG-CBOR', { cause })
    }
  }
  const envelope = headSchema.safeParse(decoded)
  if (!envelope.success) throw schemaError('head', envelope.error)
  const { spaceId, eventCount, body, checksum: sum } = envelope.data
  if (checksum(body) !== sum) throw new InvalidCheckpointError('head: checksum mismatch (damaged)')
  if (options.spaceId !== undefined && spaceId !== options.spaceId)
    throw new InvalidCheckpointError(`for space ${spaceId.slice(0, 80)}, not this one`)
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body))
  } catch (cause) {
    throw new InvalidCheckpointError('head body is not JSON', { cause })
  }
  const parsed = bodySchema.safeParse(json)
  if (!parsed.success) throw schemaError('head body', parsed.error)
  return new PagedSpace(spaceId as SpaceId, eventCount, parsed.data, options.loadPart)
}

/** In memory (tests, or a caller holding the parts): the loader over a PagedCheckpoint's parts. */
export function partsLoader(parts: ReadonlyMap<string, Uint8Array>): LoadPart {
  return async (name) => parts.get(name)
}
