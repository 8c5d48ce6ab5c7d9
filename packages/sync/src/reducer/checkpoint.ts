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
   * UTF-8 JSON of the tagged-plain body (see toPlain): every event the reducer held, as it held it (including
   * ones a replay lists as invalid), the graph bookkeeping (order, heads, waiting, pending),
   * and authority's and content's records and live views.
   */
  readonly state: Uint8Array
  /**
   * A 64-bit checksum (hex) of `state`, so a damaged store entry is refused, never half-used.
   * Not a signature: the checkpoint is this device's own write (whoever can rewrite the store
   * can rewrite anything in it), and SHA-256 in JS cost more than a replay at 100k events.
   */
  readonly checksum: string
}

export const CHECKPOINT_VERSION = 1
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
  state: z.instanceof(Uint8Array),
  checksum: z.string().regex(/^[0-9a-f]{16}$/),
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
  if (checksum(parsed.data.state) !== parsed.data.checksum)
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
// {$B: hex} and {$U: 1}; record fields never start with '$'.

export function toPlain(value: unknown): unknown {
  if (value === undefined) return { $U: 1 }
  if (value === null || typeof value !== 'object') return value
  if (value instanceof Uint8Array) return { $B: toHex(value) }
  if (value instanceof Map) return { $M: [...value].map(([k, v]) => [toPlain(k), toPlain(v)]) }
  if (value instanceof Set) return { $S: [...value].map(toPlain) }
  if (Array.isArray(value)) return value.map(toPlain)
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) out[k] = toPlain(v)
  return out
}

export function encodeBody(value: unknown): Uint8Array {
  return utf8(JSON.stringify(toPlain(value)))
}

export function decodeBody(bytes: Uint8Array): unknown {
  let parsed: unknown
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch (cause) {
    throw new InvalidCheckpointError('state is not JSON', { cause })
  }
  return fromPlain(parsed)
}

export function fromPlain(value: unknown, depth = 0): unknown {
  if (depth > MAX_NESTING) throw new InvalidCheckpointError('state nested too deeply')
  if (value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) return value.map((v) => fromPlain(v, depth + 1))
  const record = value as Record<string, unknown>
  const keys = Object.keys(record)
  if (keys.length === 1 && keys[0]!.startsWith('$')) {
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
    if (k.startsWith('$') || k === '__proto__')
      throw new InvalidCheckpointError('bad record key in state')
    out[k] = fromPlain(record[k], depth + 1)
  }
  return out
}

/**
 * The reducer's events. After a restore each is kept as its JSON until something reads it:
 * most never are (a recompute reads them all), and parsing 100k events was half of a restore.
 */
export class EventTable<E extends { id: string }> {
  readonly #map = new Map<string, E | string>()
  readonly #check: (value: unknown) => E

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
    if (typeof value !== 'string') return value
    const event = this.#check(decodeJson(value))
    if (event.id !== id) throw new InvalidCheckpointError('event stored under another id')
    this.#map.set(id, event)
    return event
  }

  set(id: string, event: E): void {
    this.#map.set(id, event)
  }

  setJson(id: string, json: string): void {
    this.#map.set(id, json)
  }

  delete(id: string): boolean {
    return this.#map.delete(id)
  }

  *values(): IterableIterator<E> {
    for (const id of this.#map.keys()) yield this.get(id)!
  }

  /** [id, JSON] pairs, in arrival order, without parsing what was never read. */
  json(): Array<[string, string]> {
    const out: Array<[string, string]> = []
    for (const [id, value] of this.#map)
      out.push([id, typeof value === 'string' ? value : JSON.stringify(toPlain(value))])
    return out
  }
}

function decodeJson(json: string): unknown {
  try {
    return fromPlain(JSON.parse(json))
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
