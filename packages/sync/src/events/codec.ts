import * as dagCbor from '@ipld/dag-cbor'
import { sha256 } from '@noble/hashes/sha2'
import { utf8 } from '@hearth/identity'
import {
  bodySchemas,
  envelopeWireSchema,
  MAX_EVENT_BYTES,
  wireSchema,
  type EventId,
  type EventKind,
  type SpaceEvent,
  type UnsignedEvent,
} from './schema.ts'

/** Domain of the event id hash: the id can never collide with another hashed Hearth object. */
export const EVENT_ID_DOMAIN = 'hearth/event-id/v1'
/** Signing domain (see @hearth/identity `domainSeparated`): the device key signs the id bytes. */
export const EVENT_SIG_DOMAIN = 'hearth/event-sig/v1'

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'

/** RFC 4648 base32, lower case, no padding (what multiformats calls `base32` without its prefix). */
export function base32Encode(bytes: Uint8Array): string {
  let out = ''
  let buffer = 0
  let bits = 0
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += ALPHABET[(buffer >>> (bits - 5)) & 31]
      bits -= 5
    }
    buffer &= (1 << bits) - 1
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31]
  return out
}

export function base32Decode(text: string): Uint8Array {
  const out = new Uint8Array(Math.floor((text.length * 5) / 8))
  let buffer = 0
  let bits = 0
  let i = 0
  for (const ch of text) {
    const value = ALPHABET.indexOf(ch)
    if (value < 0) throw new TypeError('invalid base32')
    buffer = (buffer << 5) | value
    bits += 5
    if (bits >= 8) {
      out[i++] = (buffer >>> (bits - 8)) & 255
      bits -= 8
      buffer &= (1 << bits) - 1
    }
  }
  return out
}

const idPrefix = new Uint8Array([...utf8(EVENT_ID_DOMAIN), 0])

/** Strips the envelope down to exactly the signed fields (drops id and sig if present). */
export function unsignedFields(event: UnsignedEvent): UnsignedEvent {
  const { v, space, kind, author, key, parents, ts, body } = event
  return { v, space, kind, author, key, parents, ts, body } as UnsignedEvent
}

/** Canonical bytes of the unsigned event (DAG-CBOR: sorted keys, shortest integers). */
export function encodeUnsignedEvent(event: UnsignedEvent): Uint8Array {
  return dagCbor.encode(unsignedFields(event))
}

export function eventIdBytes(unsignedBytes: Uint8Array): Uint8Array {
  const input = new Uint8Array(idPrefix.length + unsignedBytes.length)
  input.set(idPrefix)
  input.set(unsignedBytes, idPrefix.length)
  return sha256(input)
}

export function computeEventId(event: UnsignedEvent): EventId {
  return base32Encode(eventIdBytes(encodeUnsignedEvent(event))) as EventId
}

/** The bytes the device key signs (under EVENT_SIG_DOMAIN): the 32-byte id hash. */
export function eventIdToBytes(id: EventId): Uint8Array {
  return base32Decode(id)
}

export function encodeSignedEvent(event: SpaceEvent): Uint8Array {
  return dagCbor.encode({ e: unsignedFields(event), s: event.sig })
}

export type EventParseReason =
  'oversized' | 'malformed' | 'schema' | 'genesis-shape' | 'id-mismatch' | 'bad-signature'

export class EventParseError extends Error {
  readonly reason: EventParseReason
  readonly detail: string
  constructor(reason: EventParseReason, detail: string, options?: { cause?: unknown }) {
    super(`invalid event (${reason}): ${detail}`, options)
    this.name = 'EventParseError'
    this.reason = reason
    this.detail = detail
  }
}

export type ParseResult = { ok: true; event: SpaceEvent } | { ok: false; error: EventParseError }

function fail(reason: EventParseReason, detail: string, cause?: unknown): ParseResult {
  return { ok: false, error: new EventParseError(reason, detail, { cause }) }
}

/**
 * Parses an event from untrusted input: the wire bytes, or a value already decoded from
 * DAG-CBOR (e.g. read from an Automerge document). Checks size, shape and the per-kind body
 * schema, and recomputes the id. Does not check the signature: see `verifySpaceEvent`.
 * `expectedId`, when the container names the event by id, must match the recomputed one.
 */
export function parseSignedEvent(input: unknown, expectedId?: string): ParseResult {
  let decoded: unknown = input
  if (input instanceof Uint8Array) {
    if (input.length > MAX_EVENT_BYTES)
      return fail('oversized', `${input.length} bytes > ${MAX_EVENT_BYTES}`)
    try {
      decoded = dagCbor.decode(input)
    } catch (cause) {
      return fail('malformed', 'not canonical DAG-CBOR', cause)
    }
  }
  const wire = wireSchema.safeParse(decoded)
  if (!wire.success) return fail('schema', summarise(wire.error))
  const e = wire.data.e
  const bodySchema = bodySchemas[e.kind]
  const body = bodySchema.safeParse(e.body)
  if (!body.success) return fail('schema', `${e.kind} body: ${summarise(body.error)}`)
  const isGenesis = e.kind === 'genesis'
  if (isGenesis !== (e.space === null))
    return fail('genesis-shape', 'space is null for, and only for, genesis')
  if (isGenesis !== (e.parents.length === 0))
    return fail('genesis-shape', 'parents are empty for, and only for, genesis')
  const unsigned = { ...e, body: body.data } as UnsignedEvent
  let bytes: Uint8Array
  try {
    bytes = encodeUnsignedEvent(unsigned)
  } catch (cause) {
    return fail('malformed', 'not encodable as DAG-CBOR', cause)
  }
  // Re-encoding caps values that arrived already decoded, and catches bodies that zod
  // normalised (e.g. stripped) into something other than what was signed.
  if (bytes.length + 80 > MAX_EVENT_BYTES)
    return fail('oversized', `${bytes.length} bytes > ${MAX_EVENT_BYTES}`)
  const id = base32Encode(eventIdBytes(bytes)) as EventId
  if (expectedId !== undefined && expectedId !== id)
    return fail('id-mismatch', `expected ${expectedId.slice(0, 60)}, computed ${id}`)
  const event = { ...unsigned, id, sig: wire.data.s } as SpaceEvent
  bodyChecked.add(event)
  return { ok: true, event }
}

/** Events whose kind is known and whose body passed its schema (parsed here, never mutated). */
const bodyChecked = new WeakSet<object>()

/**
 * Parses the envelope only: size, the wire shape with any kind name and any DAG-CBOR body, the
 * genesis shape, and the id (computed over the body as sent). What ingress checks, so a newer
 * peer's kinds and body fields do not split older peers. The event's `kind` and `body` are
 * then unchecked: `bodyProblem` (the reducer) judges them.
 */
export function parseEventEnvelope(input: unknown, expectedId?: string): ParseResult {
  let decoded: unknown = input
  if (input instanceof Uint8Array) {
    if (input.length > MAX_EVENT_BYTES)
      return fail('oversized', `${input.length} bytes > ${MAX_EVENT_BYTES}`)
    try {
      decoded = dagCbor.decode(input)
    } catch (cause) {
      return fail('malformed', 'not canonical DAG-CBOR', cause)
    }
  }
  const wire = envelopeWireSchema.safeParse(decoded)
  if (!wire.success) return fail('schema', summarise(wire.error))
  const e = wire.data.e
  // Whatever the kind, a body is plain data: every replica (and its checkpoint) must be able
  // to hold any event it stores, and a 2^64 integer (a BigInt here) or a CID would not be.
  if (!isPlainMap(e.body, 0))
    return fail('schema', 'body: a map of plain data (no CIDs, integers within 2^53, depth <= 16)')
  const isGenesis = e.kind === 'genesis'
  if (isGenesis !== (e.space === null))
    return fail('genesis-shape', 'space is null for, and only for, genesis')
  if (isGenesis !== (e.parents.length === 0))
    return fail('genesis-shape', 'parents are empty for, and only for, genesis')
  const unsigned = { ...e } as unknown as UnsignedEvent
  let bytes: Uint8Array
  try {
    bytes = encodeUnsignedEvent(unsigned)
  } catch (cause) {
    return fail('malformed', 'not encodable as DAG-CBOR', cause)
  }
  if (bytes.length + 80 > MAX_EVENT_BYTES)
    return fail('oversized', `${bytes.length} bytes > ${MAX_EVENT_BYTES}`)
  const id = base32Encode(eventIdBytes(bytes)) as EventId
  if (expectedId !== undefined && expectedId !== id)
    return fail('id-mismatch', `expected ${expectedId.slice(0, 60)}, computed ${id}`)
  return { ok: true, event: { ...unsigned, id, sig: wire.data.s } as SpaceEvent }
}

const MAX_BODY_DEPTH = 16

function isPlainMap(value: unknown, depth: number): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  if (value instanceof Uint8Array) return false
  const proto = Object.getPrototypeOf(value) as unknown
  if (proto !== Object.prototype && proto !== null) return false
  return Object.values(value).every((v) => isPlainValue(v, depth + 1))
}

function isPlainValue(value: unknown, depth: number): boolean {
  if (depth > MAX_BODY_DEPTH) return false
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true
  if (typeof value === 'number')
    return Number.isFinite(value) && (Number.isSafeInteger(value) || !Number.isInteger(value))
  if (value instanceof Uint8Array) return true
  if (Array.isArray(value)) return value.every((v) => isPlainValue(v, depth + 1))
  return isPlainMap(value, depth)
}

/**
 * Why the reducer cannot apply an event whose envelope is valid: its kind is unknown to this
 * version, or its body fails the kind's schema. Null if neither. A pure function of the event,
 * so every replica of every version that knows the kind judges it the same.
 */
export function bodyProblem(event: SpaceEvent): 'unknown-kind' | 'malformed-body' | null {
  if (bodyChecked.has(event)) return null
  if (!Object.hasOwn(bodySchemas, event.kind)) return 'unknown-kind'
  if (!bodySchemas[event.kind].safeParse(event.body).success) return 'malformed-body'
  bodyChecked.add(event)
  return null
}

function summarise(error: {
  issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>
}): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`)
    .join('; ')
}

export function isKind<K extends EventKind>(event: SpaceEvent, kind: K): event is SpaceEvent<K> {
  return event.kind === kind
}
