import { canonicalDecode, canonicalEncode, verifySignature } from '@hearth/identity'
import type { DeviceKey } from '@hearth/identity'
import { z } from 'zod'
import { isEventId, type EventId, type SpaceId } from '../events/schema.ts'

/**
 * Records of a user's own document (design §4: "each user also has a user document, only
 * their own devices sync it"): the spaces they follow, read positions, per-space preferences.
 * Each record is signed by the device that wrote it, with its own signature domain, so a
 * record can never be replayed as a space event or the other way round.
 */
export const USER_RECORD_DOMAIN = 'hearth/user-record/v1'
/** A user record, at most (they are small: ids, a name, a few flags). */
export const MAX_USER_RECORD_BYTES = 4096

const eventId = z.custom<EventId>(isEventId, 'expected an event id')
const keyId = z.string().regex(/^did:key:zDn[1-9A-HJ-NP-Za-km-z]{40,50}$/)

export const userRecordBodies = {
  'space.follow': z.strictObject({ space: eventId, name: z.string().max(200).nullable() }),
  'space.unfollow': z.strictObject({ space: eventId }),
  /** The newest event this user has seen in a channel, thread or page. */
  read: z.strictObject({ space: eventId, container: eventId, event: eventId }),
  'space.prefs': z.strictObject({
    space: eventId,
    muted: z.boolean(),
    colour: z
      .string()
      .regex(/^#[0-9a-f]{6}$/)
      .nullable(),
  }),
} as const

export type UserRecordType = keyof typeof userRecordBodies
export type UserRecordBody<T extends UserRecordType = UserRecordType> = z.infer<
  (typeof userRecordBodies)[T]
>

export interface UserRecord<T extends UserRecordType = UserRecordType> {
  readonly v: 1
  readonly type: T
  /** did:key of the device that signed it. */
  readonly key: string
  /** The writing device's clock: orders one user's own records (last writer wins). */
  readonly ts: number
  readonly body: UserRecordBody<T>
}

const recordSchema = z.strictObject({
  v: z.literal(1),
  type: z.enum(Object.keys(userRecordBodies) as [UserRecordType, ...UserRecordType[]]),
  key: keyId,
  ts: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
  body: z.unknown(),
})

const wireSchema = z.strictObject({ u: z.unknown(), s: z.instanceof(Uint8Array) })

/**
 * True when the bytes are shaped like a user record rather than a space event: both are
 * DAG-CBOR maps of two keys, sorted, so the first key decides (`e` for an event, `s` here).
 */
export function looksLikeUserRecord(bytes: Uint8Array): boolean {
  return bytes.length > 3 && bytes[0] === 0xa2 && bytes[1] === 0x61 && bytes[2] === 0x73
}

export async function signUserRecord<T extends UserRecordType>(
  key: Pick<DeviceKey, 'keyId' | 'sign'>,
  type: T,
  body: UserRecordBody<T>,
  ts = Date.now(),
): Promise<Uint8Array> {
  const parsed = userRecordBodies[type].parse(body)
  const record = {
    v: 1,
    type,
    key: key.keyId,
    ts: Math.floor(ts),
    body: Object.fromEntries(Object.entries(parsed).filter(([, v]) => v !== undefined)),
  }
  const s = await key.sign(USER_RECORD_DOMAIN, canonicalEncode(record))
  return canonicalEncode({ u: record, s })
}

export type OpenedUserRecord = { ok: true; record: UserRecord } | { ok: false; reason: string }

/** Parses untrusted bytes (size cap, strict schema per type) and checks the signature. */
export async function openUserRecord(bytes: Uint8Array): Promise<OpenedUserRecord> {
  const parsed = parseUserRecord(bytes)
  if (!parsed.ok) return parsed
  const valid = await verifySignature(
    parsed.record.key,
    USER_RECORD_DOMAIN,
    canonicalEncode(parsed.record),
    parsed.sig,
  ).catch(() => false)
  return valid ? { ok: true, record: parsed.record } : { ok: false, reason: 'bad signature' }
}

/** Shape only (no signature check): for records that passed `openUserRecord` at ingress. */
export function parseUserRecord(
  bytes: Uint8Array,
): { ok: true; record: UserRecord; sig: Uint8Array } | { ok: false; reason: string } {
  if (bytes.byteLength > MAX_USER_RECORD_BYTES) return { ok: false, reason: 'record too large' }
  let decoded: unknown
  try {
    decoded = canonicalDecode(bytes)
  } catch {
    return { ok: false, reason: 'not DAG-CBOR' }
  }
  const wire = wireSchema.safeParse(decoded)
  if (!wire.success) return { ok: false, reason: 'not a user record' }
  const record = recordSchema.safeParse(wire.data.u)
  if (!record.success) return { ok: false, reason: 'malformed user record' }
  const body = userRecordBodies[record.data.type].safeParse(record.data.body)
  if (!body.success) return { ok: false, reason: `malformed ${record.data.type} body` }
  return {
    ok: true,
    record: { ...record.data, body: body.data } as UserRecord,
    sig: wire.data.s,
  }
}

export type { SpaceId }
