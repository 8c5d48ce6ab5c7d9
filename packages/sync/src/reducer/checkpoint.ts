import { canonicalDecode, canonicalEncode, fromHex, toHex, utf8 } from '@hearth/identity'
import { z } from 'zod'

/**
 * A reducer checkpoint: everything a SpaceReducer needs to carry on incrementally, as a plain
 * DAG-CBOR value. The events themselves are included: a late authority event can force a
 * recompute, and the restored reducer must be able to do it on its own, with no event source.
 */
export interface SpaceCheckpoint {
  readonly v: typeof CHECKPOINT_VERSION
  readonly spaceId: string
  /** Events held (tallied by the caller against its own store). */
  readonly eventCount: number
  /**
   * UTF-8 JSON of the body: the event index (ids and lengths into `events`), the canonical
   * order as columns, the message records as rows, and the graph bookkeeping and authority's
   * and content's other records in the tagged-plain form (see toPlain).
   */
  readonly state: Uint8Array
  /**
   * Every event the reducer held, as it held it (including ones a replay lists as invalid):
   * their JSON, back to back (UTF-8), cut by the lengths in `state`. Kept apart so a restore
   * decodes it once and parses an event only when it is read.
   */
  readonly events: Uint8Array
  /**
   * Two 64-bit checksums (hex) of `state` and `events`, so a damaged store entry is refused,
   * never half-used. Not a signature: the checkpoint is this device's own write (whoever can
   * rewrite the store can rewrite anything in it), and SHA-256 in JS cost more than a replay
   * at 100k events.
   */
  readonly checksum: string
}

export const CHECKPOINT_VERSION = 2
/** Generous caps: a checkpoint is read back from local storage as untrusted bytes. */
export const MAX_CHECKPOINT_EVENTS = 2_000_000
export const MAX_CHECKPOINT_BYTES = 1024 * 1024 * 1024
const MAX_NESTING = 32

export class InvalidCheckpointError extends Error {
  readonly detail: string
  constructor(detail: string, options?: { cause?: unknown }) {
    super(`invalid reducer checkpoint: ${detail}`, options)
    this.name = 'InvalidCheckpointError'
    this.detail = detail
  }
}

const checkpointSchema = z.object({
  v: z.literal(CHECKPOINT_VERSION),
  spaceId: z.string().min(1).max(200),
  eventCount: z.number().int().min(0).max(MAX_CHECKPOINT_EVENTS),
  state: z.instanceof(Uint8Array).refine((b) => b.length <= MAX_CHECKPOINT_BYTES, 'too large'),
  events: z.instanceof(Uint8Array).refine((b) => b.length <= MAX_CHECKPOINT_BYTES, 'too large'),
  checksum: z.string().regex(/^[0-9a-f]{32}$/),
})

export function encodeCheckpoint(checkpoint: SpaceCheckpoint): Uint8Array {
  return canonicalEncode(checkpoint)
}

/** Parses a checkpoint from untrusted bytes (or an already-decoded value); throws InvalidCheckpointError. */
export function parseCheckpoint(input: unknown): SpaceCheckpoint {
  let decoded = input
  if (input instanceof Uint8Array) {
    if (input.length > MAX_CHECKPOINT_BYTES)
      throw new InvalidCheckpointError(`${input.length} bytes > ${MAX_CHECKPOINT_BYTES}`)
    try {
      decoded = canonicalDecode(input)
    } catch (cause) {
      throw new InvalidCheckpointError('not canonical DAG-CBOR', { cause })
    }
  }
  const parsed = checkpointSchema.safeParse(decoded)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new InvalidCheckpointError(
      `schema: ${issue?.path.map(String).join('.') || '(root)'}: ${issue?.message ?? '?'}`,
    )
  }
  if (checksum(parsed.data.state) + checksum(parsed.data.events) !== parsed.data.checksum)
    throw new InvalidCheckpointError('checksum mismatch (damaged)')
  return parsed.data as SpaceCheckpoint
}

/** Two independent 32-bit multiplicative lanes over 32-bit words (fast; catches damage). */
export function checksum(bytes: Uint8Array): string {
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : new Uint8Array(bytes)
  const words = new Uint32Array(aligned.buffer, aligned.byteOffset, aligned.length >>> 2)
  let a = 0x811c9dc5 ^ bytes.length
  let b = 0x9e3779b9
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!
    a = Math.imul(a ^ w, 0x01000193)
    b = Math.imul((b << 5) | (b >>> 27), 0x85ebca6b) ^ w
  }
  for (let i = words.length * 4; i < bytes.length; i++) {
    a = Math.imul(a ^ bytes[i]!, 0x01000193)
    b = Math.imul((b << 5) | (b >>> 27), 0x85ebca6b) ^ bytes[i]!
  }
  a = Math.imul(a ^ (a >>> 16), 0x7feb352d) >>> 0
  b = Math.imul(b ^ (b >>> 15), 0x846ca68b) >>> 0
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0')
}

// ---- tagged-plain encoding of the reducer's in-memory records ----
// The body is JSON, not DAG-CBOR: JSON.parse is several times faster on a 100k-event space, it
// keeps a record's key order (which shows in the state's digest), and the body is hashed as
// bytes anyway. Maps, Sets, bytes and undefined become {$M: [[k, v], ...]}, {$S: [...]},
// {$B: hex} and {$U: 1}. Record fields never start with '$'; keys of event bodies (any plain
// data a peer signed) that start with '$', and `__proto__`, are escaped with one more '$'.

const escapeKey = (k: string): string => (k.startsWith('$') || k === '__proto__' ? `$${k}` : k)

export function toPlain(value: unknown): unknown {
  if (value === undefined) return { $U: 1 }
  if (value === null || typeof value !== 'object') return value
  if (value instanceof Uint8Array) return { $B: toHex(value) }
  if (value instanceof Map) return { $M: [...value].map(([k, v]) => [toPlain(k), toPlain(v)]) }
  if (value instanceof Set) return { $S: [...value].map(toPlain) }
  if (Array.isArray(value)) return value.map(toPlain)
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) out[escapeKey(k)] = toPlain(v)
  return out
}

export function encodeBody(value: unknown): Uint8Array {
  return utf8(JSON.stringify(toPlain(value)))
}

export function decodeBody(bytes: Uint8Array): unknown {
  return fromPlain(parseJsonBytes(bytes, 'state'))
}

/** JSON from UTF-8 bytes, without the tagged-plain pass (for the columnar sections). */
export function parseJsonBytes(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(decodeUtf8(bytes))
  } catch (cause) {
    throw new InvalidCheckpointError(`${what} is not JSON`, { cause })
  }
}

export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes)
  } catch (cause) {
    throw new InvalidCheckpointError('not UTF-8', { cause })
  }
}

export function fromPlain(value: unknown, depth = 0): unknown {
  if (depth > MAX_NESTING) throw new InvalidCheckpointError('state nested too deeply')
  if (value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) return value.map((v) => fromPlain(v, depth + 1))
  const record = value as Record<string, unknown>
  const keys = Object.keys(record)
  if (keys.length === 1 && isTag(keys[0]!)) {
    const tagged = record[keys[0]!]
    if (keys[0] === '$U' && tagged === 1) return undefined
    if (keys[0] === '$B' && typeof tagged === 'string' && /^(?:[0-9a-f]{2})*$/.test(tagged))
      return fromHex(tagged)
    if (keys[0] === '$S' && Array.isArray(tagged))
      return new Set(tagged.map((v) => fromPlain(v, depth + 1)))
    if (keys[0] === '$M' && Array.isArray(tagged)) {
      const map = new Map<unknown, unknown>()
      for (const entry of tagged) {
        if (!Array.isArray(entry) || entry.length !== 2)
          throw new InvalidCheckpointError('bad map entry in state')
        map.set(fromPlain(entry[0], depth + 1), fromPlain(entry[1], depth + 1))
      }
      return map
    }
    throw new InvalidCheckpointError(`unknown tag ${keys[0]!.slice(0, 20)} in state`)
  }
  const out: Record<string, unknown> = {}
  for (const k of keys) {
    let key = k
    if (k.startsWith('$')) {
      key = k.slice(1)
      if (!key.startsWith('$') && key !== '__proto__')
        throw new InvalidCheckpointError('bad record key in state')
    } else if (k === '__proto__') throw new InvalidCheckpointError('bad record key in state')
    const v = fromPlain(record[k], depth + 1)
    // An own property even for `__proto__` (assignment would set the prototype).
    if (key === '__proto__')
      Object.defineProperty(out, key, {
        value: v,
        enumerable: true,
        writable: true,
        configurable: true,
      })
    else out[key] = v
  }
  return out
}

const isTag = (k: string): boolean => k === '$U' || k === '$B' || k === '$S' || k === '$M'

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * The reducer's events. After a restore each is kept as its UTF-8 JSON (a slice of the
 * checkpoint) until something reads it: most never are (a recompute reads them all), and
 * parsing 100k events was half of a restore.
 */
export class EventTable<E extends { id: string }> {
  /** An event, or (restored, not read yet) its index into the restored bytes. */
  readonly #map = new Map<string, E | number>()
  readonly #check: (value: unknown) => E
  #restored: Uint8Array = new Uint8Array(0)
  /** Where each restored event starts in `#restored`, and one past the last. */
  #starts: Float64Array = new Float64Array(1)

  constructor(check: (value: unknown) => E) {
    this.#check = check
  }

  has(id: string): boolean {
    return this.#map.has(id)
  }

  get size(): number {
    return this.#map.size
  }

  get(id: string): E | undefined {
    const value = this.#map.get(id)
    if (typeof value !== 'number') return value
    const event = this.#check(decodeJson(this.#slice(value)))
    if (event.id !== id) throw new InvalidCheckpointError('event stored under another id')
    this.#map.set(id, event)
    return event
  }

  set(id: string, event: E): void {
    this.#map.set(id, event)
  }

  /**
   * Puts back restored events: `ids[i]` is the UTF-8 JSON (tagged-plain form) of `bytes` from
   * the sum of the lengths before it, `lengths[i]` long. Kept as bytes until first read.
   * Throws InvalidCheckpointError if the lengths do not cut `bytes` exactly, or an id repeats.
   */
  restore(ids: readonly string[], lengths: readonly number[], bytes: Uint8Array): void {
    const starts = new Float64Array(ids.length + 1)
    let at = 0
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!
      const length = lengths[i]!
      if (length < 2 || at + length > bytes.length || this.#map.has(id))
        throw new InvalidCheckpointError('malformed event entry in state')
      starts[i] = at
      this.#map.set(id, i)
      at += length
    }
    if (at !== bytes.length) throw new InvalidCheckpointError('events do not match their lengths')
    starts[ids.length] = at
    this.#restored = bytes
    this.#starts = starts
  }

  #slice(index: number): Uint8Array {
    return this.#restored.subarray(this.#starts[index]!, this.#starts[index + 1]!)
  }

  delete(id: string): boolean {
    return this.#map.delete(id)
  }

  *values(): IterableIterator<E> {
    for (const id of this.#map.keys()) yield this.get(id)!
  }

  /** [id, UTF-8 JSON] pairs, in arrival order, without parsing what was never read. */
  *json(): IterableIterator<[string, Uint8Array]> {
    for (const [id, value] of this.#map)
      yield [
        id,
        typeof value === 'number' ? this.#slice(value) : utf8(JSON.stringify(toPlain(value))),
      ]
  }
}

function decodeJson(bytes: Uint8Array): unknown {
  try {
    return fromPlain(JSON.parse(strictUtf8.decode(bytes)))
  } catch (cause) {
    if (cause instanceof InvalidCheckpointError) throw cause
    throw new InvalidCheckpointError('event is not JSON', { cause })
  }
}

/** The own data fields of a reducer part, minus references to shared or outside objects. */
export function fieldsOf(obj: object, exclude: ReadonlySet<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(obj)) if (!exclude.has(k)) out[k] = v
  return out
}

/** Puts restored fields back, refusing any field the part does not have (a foreign layout). */
export function assignFields(
  obj: object,
  fields: unknown,
  exclude: ReadonlySet<string>,
  what: string,
): void {
  if (fields === null || typeof fields !== 'object' || Array.isArray(fields))
    throw new InvalidCheckpointError(`${what}: not a record`)
  const target = obj as Record<string, unknown>
  const expected = Object.keys(target).filter((k) => !exclude.has(k))
  const given = Object.keys(fields)
  if (given.length !== expected.length || !expected.every((k) => k in fields))
    throw new InvalidCheckpointError(`${what}: unexpected fields`)
  for (const k of expected) {
    const value = (fields as Record<string, unknown>)[k]
    const current = target[k]
    // A cheap type check per field: a Map stays a Map, a number a number.
    const kind = (x: unknown) =>
      x instanceof Map ? 'map' : x instanceof Set ? 'set' : Array.isArray(x) ? 'array' : typeof x
    if (current !== null && value !== null && kind(current) !== kind(value))
      throw new InvalidCheckpointError(`${what}.${k}: wrong type`)
    target[k] = value
  }
}

// ---- columnar sections: the canonical order and the message records ----

const isIndex = (x: unknown, length: number): x is number =>
  typeof x === 'number' && Number.isInteger(x) && x >= 0 && x < length

/** Strings of a column, each checked. */
export function stringColumn(value: unknown, what: string, length?: number): string[] {
  if (
    !Array.isArray(value) ||
    (length !== undefined && value.length !== length) ||
    !value.every((v) => typeof v === 'string')
  )
    throw new InvalidCheckpointError(`${what}: not a column of strings`)
  return value as string[]
}

export function intColumn(value: unknown, what: string, length: number): number[] {
  if (
    !Array.isArray(value) ||
    value.length !== length ||
    !value.every((v) => typeof v === 'number' && Number.isSafeInteger(v))
  )
    throw new InvalidCheckpointError(`${what}: not a column of integers`)
  return value as number[]
}

/** A table of repeated strings (DIDs, keys, container ids), referenced by index; -1 is null. */
export class RefTable {
  readonly refs: string[] = []
  readonly #index = new Map<string, number>()
  ref(value: string | null): number {
    if (value === null) return -1
    let i = this.#index.get(value)
    if (i === undefined) {
      i = this.refs.length
      this.refs.push(value)
      this.#index.set(value, i)
    }
    return i
  }
}

export function refReader(refs: readonly string[], what: string) {
  const bad = () => new InvalidCheckpointError(`${what}: bad reference`)
  const req = (i: unknown): string => {
    if (!isIndex(i, refs.length)) throw bad()
    return refs[i]!
  }
  return { req, opt: (i: unknown): string | null => (i === -1 ? null : req(i)) }
}
