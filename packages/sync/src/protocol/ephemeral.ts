import { isDid, isP256KeyId, signCanonical, verifyCanonical } from '@hearth/identity'
import type { DeviceKey, Did } from '@hearth/identity'
import { z } from 'zod'
import { isEventId, type EventId, type SpaceId } from '../events/schema.ts'

/**
 * Ephemeral messages of our own (presence, typing, pokes, WebRTC call signalling): never
 * stored, relayed by the router only to the space's members (a poke or a signal only to its
 * target), signed by the sender's device so every receiver can check who sent it, whatever
 * the router did. automerge-repo's own `ephemeral` frames carry no signature and stay off.
 *
 * Wire frame (CBOR like every frame):
 *   { type: 'hearth-ephemeral', space, kind, to?, body, author, key, ts, nonce, sig }
 * `sig` is the author's device key over DAG-CBOR of every other field (`to` absent when
 * unset), in the signature domain `hearth/ephemeral/v1`.
 */
export const EPHEMERAL_TYPE = 'hearth-ephemeral'
export const EPHEMERAL_DOMAIN = 'hearth/ephemeral/v1'
export const EPHEMERAL_KINDS = ['presence', 'typing', 'poke', 'signal'] as const
export type EphemeralKind = (typeof EPHEMERAL_KINDS)[number]
/** A signal's payload (an SDP offer or answer, ICE candidates), at most, in UTF-8 bytes. */
export const MAX_SIGNAL_PAYLOAD_BYTES = 16 * 1024
/** An encoded ephemeral frame, at most (the largest signal plus its envelope). */
export const MAX_EPHEMERAL_FRAME_BYTES = MAX_SIGNAL_PAYLOAD_BYTES + 4 * 1024
/** How far a frame's `ts` may be from the receiver's clock. */
export const EPHEMERAL_SKEW_MS = 30_000

const eventId = z.custom<EventId>(isEventId, 'expected an event id')
const did = z.custom<Did>(isDid, 'expected a DID')
const utf8Bytes = (value: string): number => new TextEncoder().encode(value).byteLength

export const ephemeralBodySchemas = {
  presence: z.strictObject({ state: z.enum(['online', 'away', 'offline']) }),
  typing: z.strictObject({ channel: eventId, active: z.boolean() }),
  poke: z.strictObject({}),
  signal: z.strictObject({
    call: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, 'expected a call id'),
    payload: z
      .string()
      .max(MAX_SIGNAL_PAYLOAD_BYTES)
      .refine((s) => utf8Bytes(s) <= MAX_SIGNAL_PAYLOAD_BYTES, 'signal payload too large'),
  }),
} as const

export type EphemeralBody<K extends EphemeralKind = EphemeralKind> = z.infer<
  (typeof ephemeralBodySchemas)[K]
>

const envelope = z.strictObject({
  type: z.literal(EPHEMERAL_TYPE),
  space: eventId,
  kind: z.enum(EPHEMERAL_KINDS),
  to: did.optional(),
  body: z.unknown(),
  author: did,
  key: z.string().max(128).refine(isP256KeyId, 'expected a did:key of a P-256 key'),
  ts: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  nonce: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/, 'expected a nonce'),
  sig: z.instanceof(Uint8Array).refine((s) => s.byteLength === 64, 'expected a 64-byte signature'),
})

export interface EphemeralFrame<K extends EphemeralKind = EphemeralKind> {
  type: typeof EPHEMERAL_TYPE
  space: SpaceId
  kind: K
  /** The addressed member: required for a poke and a signal, absent otherwise. */
  to?: Did
  body: EphemeralBody<K>
  author: Did
  /** The did:key of the device key that signed it (one of the author's bound keys). */
  key: string
  /** Milliseconds since the epoch, by the sender's clock. */
  ts: number
  nonce: string
  sig: Uint8Array
}

export type EphemeralDraft<K extends EphemeralKind = EphemeralKind> = {
  space: SpaceId
  kind: K
  body: EphemeralBody<K>
  author: Did
  to?: Did
  ts?: number
  nonce?: string
}

export type EphemeralParseReason = 'not-an-object' | 'envelope' | 'body' | 'target'

/** Why a frame was refused, for metrics and logs (never contains the frame's contents). */
export class EphemeralParseError extends Error {
  readonly reason: EphemeralParseReason
  constructor(reason: EphemeralParseReason, detail: string) {
    super(`ephemeral frame refused (${reason}): ${detail}`)
    this.name = 'EphemeralParseError'
    this.reason = reason
  }
}

export type EphemeralParseResult =
  { ok: true; frame: EphemeralFrame } | { ok: false; error: EphemeralParseError }

/** Every field but `sig`: what the signature covers (DAG-CBOR has no `undefined`). */
export function ephemeralSigningFields(
  frame: Omit<EphemeralFrame, 'sig'>,
): Record<string, unknown> {
  const fields: Record<string, unknown> = {
    type: EPHEMERAL_TYPE,
    space: frame.space,
    kind: frame.kind,
    body: frame.body,
    author: frame.author,
    key: frame.key,
    ts: frame.ts,
    nonce: frame.nonce,
  }
  if (frame.to !== undefined) fields.to = frame.to
  return fields
}

function randomNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  let out = ''
  for (const b of bytes) out += String.fromCharCode(b)
  return btoa(out).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

/**
 * Signs an ephemeral message with a device key. The draft is checked like a received frame
 * (a sender cannot produce what receivers would refuse); throws EphemeralParseError.
 */
export async function signEphemeral<K extends EphemeralKind>(
  key: DeviceKey,
  draft: EphemeralDraft<K>,
): Promise<EphemeralFrame<K>> {
  const unsigned = {
    type: EPHEMERAL_TYPE,
    space: draft.space,
    kind: draft.kind,
    ...(draft.to !== undefined ? { to: draft.to } : {}),
    body: draft.body,
    author: draft.author,
    key: key.keyId,
    ts: draft.ts ?? Date.now(),
    nonce: draft.nonce ?? randomNonce(),
  } as Omit<EphemeralFrame<K>, 'sig'>
  const checked = parseEphemeral({ ...unsigned, sig: new Uint8Array(64) })
  if (!checked.ok) throw checked.error
  const sig = await signCanonical(key, EPHEMERAL_DOMAIN, ephemeralSigningFields(unsigned))
  return { ...unsigned, sig }
}

/**
 * Parses an untrusted value (a decoded frame) into an ephemeral frame: shape, per-kind body
 * and caps, a target exactly for a poke and a signal. Never throws; the signature is checked
 * separately (`verifyEphemeral`), after cheaper checks have had their chance to refuse.
 */
export function parseEphemeral(value: unknown): EphemeralParseResult {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { ok: false, error: new EphemeralParseError('not-an-object', typeof value) }
  const parsed = envelope.safeParse(value)
  if (!parsed.success)
    return {
      ok: false,
      error: new EphemeralParseError('envelope', parsed.error.issues[0]?.path.join('.') ?? ''),
    }
  const frame = parsed.data
  const body = ephemeralBodySchemas[frame.kind].safeParse(frame.body)
  if (!body.success)
    return {
      ok: false,
      error: new EphemeralParseError('body', `${frame.kind}: ${body.error.issues[0]?.message}`),
    }
  const addressed = frame.kind === 'poke' || frame.kind === 'signal'
  if (addressed !== (frame.to !== undefined))
    return {
      ok: false,
      error: new EphemeralParseError(
        'target',
        addressed ? `${frame.kind} needs a target` : `${frame.kind} takes no target`,
      ),
    }
  const out: EphemeralFrame = {
    type: EPHEMERAL_TYPE,
    space: frame.space as SpaceId,
    kind: frame.kind,
    ...(frame.to !== undefined ? { to: frame.to } : {}),
    body: body.data as EphemeralBody,
    author: frame.author,
    key: frame.key,
    ts: frame.ts,
    nonce: frame.nonce,
    sig: new Uint8Array(frame.sig),
  }
  return { ok: true, frame: out }
}

/**
 * Checks the signature against the frame's own `key`. Whether that key belongs to the author
 * (bound in the space) and whether the author may speak there are the receiver's checks.
 */
export async function verifyEphemeral(frame: EphemeralFrame): Promise<boolean> {
  try {
    return await verifyCanonical(
      frame.key,
      EPHEMERAL_DOMAIN,
      ephemeralSigningFields(frame),
      frame.sig,
    )
  } catch {
    return false
  }
}
