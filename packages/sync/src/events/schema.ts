import { isDid } from '@hearth/identity'
import type { Did } from '@hearth/identity'
import { z } from 'zod'

// Caps are part of the protocol: a peer that sends more is refused before any work is done.
export const MAX_EVENT_BYTES = 64 * 1024
export const MAX_TEXT_CHARS = 16 * 1024
export const MAX_NAME_CHARS = 100
export const MAX_DESCRIPTION_CHARS = 2000
export const MAX_PARENTS = 32
export const MAX_MOVE_MESSAGES = 100
export const MAX_PINNED_KEYS = 8
export const MAX_AUTOMOD_KEYWORDS = 200
export const MAX_EMOJI_CHARS = 64

export type EventId = string & { readonly __brand: 'EventId' }
/** The id of a space's genesis event. */
export type SpaceId = EventId

export const EVENT_ID_PATTERN = /^[a-z2-7]{52}$/
// did:key of a compressed P-256 key (multikey prefix zDn); full point validity is checked
// when the signature is verified or the key is bound.
const KEY_ID_PATTERN = /^did:key:zDn[1-9A-HJ-NP-Za-km-z]{40,50}$/

export function isEventId(value: unknown): value is EventId {
  return typeof value === 'string' && EVENT_ID_PATTERN.test(value)
}

const eventId = z.custom<EventId>(isEventId, 'expected an event id (52 base32 characters)')
const did = z.custom<Did>(isDid, 'expected a DID')
const keyId = z.string().regex(KEY_ID_PATTERN, 'expected a did:key of a P-256 key')
const name = z.string().min(1).max(MAX_NAME_CHARS)
const text = z.string().max(MAX_TEXT_CHARS)
const url = z.string().max(2000)

export const SPACE_MODES = ['ONE_TO_ONE', 'ADMIN_INVITES_ONLY', 'INVITES_ONLY', 'PUBLIC'] as const
export type SpaceMode = (typeof SPACE_MODES)[number]

export const ROLES = ['admin', 'moderator', 'member'] as const
export type Role = (typeof ROLES)[number]

// One strict schema per kind: unknown fields are refused, so "the same event plus a mode
// field" is not an event (R2).
export const bodySchemas = {
  genesis: z.strictObject({
    mode: z.enum(SPACE_MODES),
    name,
    nonce: z.string().min(8).max(64),
  }),
  invite: z.strictObject({
    invitee: did,
    // The invitee's device keys as the inviter looked them up (their PDS binding records):
    // when present, only these keys may sign the join.
    keys: z.array(keyId).min(1).max(MAX_PINNED_KEYS).optional(),
  }),
  join: z.strictObject({}),
  leave: z.strictObject({}),
  proposal: z
    .strictObject({
      action: z.enum(['ban', 'unban', 'role']),
      target: did,
      role: z.enum(ROLES).optional(),
    })
    .refine(
      (b) => (b.action === 'role') === (b.role !== undefined),
      'role is required for, and only for, action "role"',
    ),
  vote: z.strictObject({ proposal: eventId }),
  'device.add': z.strictObject({ key: keyId, name: name.optional() }),
  'device.revoke': z.strictObject({ key: keyId }),
  'space.profile': z
    .strictObject({
      name: name.optional(),
      description: z.string().max(MAX_DESCRIPTION_CHARS).optional(),
      avatar: url.optional(),
    })
    .refine((b) => Object.keys(b).length > 0, 'empty profile change'),
  'member.profile': z
    .strictObject({ displayName: name.optional(), avatar: url.optional() })
    .refine((b) => Object.keys(b).length > 0, 'empty profile change'),
  'channel.create': z.strictObject({
    name,
    topic: z.string().max(MAX_DESCRIPTION_CHARS).optional(),
  }),
  'channel.rename': z.strictObject({ channel: eventId, name }),
  'channel.archive': z.strictObject({ channel: eventId, archived: z.boolean() }),
  'thread.create': z.strictObject({ channel: eventId, title: name, root: eventId.optional() }),
  'thread.rename': z.strictObject({ thread: eventId, title: name }),
  'thread.archive': z.strictObject({ thread: eventId, archived: z.boolean() }),
  'page.create': z.strictObject({ title: name, text, channel: eventId.optional() }),
  'page.rename': z.strictObject({ page: eventId, title: name }),
  'page.archive': z.strictObject({ page: eventId, archived: z.boolean() }),
  message: z
    .strictObject({
      text: text.min(1),
      replyTo: eventId.optional(),
      channel: eventId.optional(),
      thread: eventId.optional(),
    })
    .refine((b) => !(b.channel && b.thread), 'a message targets a channel or a thread, not both'),
  edit: z.strictObject({ target: eventId, text: text.min(1) }),
  redaction: z.strictObject({ target: eventId, reason: z.string().max(500).optional() }),
  'reaction.add': z.strictObject({
    target: eventId,
    emoji: z.string().min(1).max(MAX_EMOJI_CHARS),
  }),
  'reaction.remove': z.strictObject({
    target: eventId,
    emoji: z.string().min(1).max(MAX_EMOJI_CHARS),
  }),
  move: z.strictObject({
    messages: z
      .array(eventId)
      .min(1)
      .max(MAX_MOVE_MESSAGES)
      .refine((ids) => new Set(ids).size === ids.length, 'duplicate message ids'),
    to: eventId,
  }),
  automod: z.strictObject({
    keywords: z.array(z.string().min(1).max(64)).max(MAX_AUTOMOD_KEYWORDS),
    maxMessagesPerMinute: z.int().min(1).max(10_000).optional(),
    maxRepeats: z.int().min(1).max(1000).optional(),
  }),
} as const

export type EventKind = keyof typeof bodySchemas
export const EVENT_KINDS = Object.keys(bodySchemas) as EventKind[]
export type EventBody<K extends EventKind = EventKind> = z.infer<(typeof bodySchemas)[K]>

/** Kinds that change who may do what. Everything else is content and never changes authority. */
export const AUTHORITY_KINDS: ReadonlySet<EventKind> = new Set<EventKind>([
  'genesis',
  'invite',
  'join',
  'leave',
  'proposal',
  'vote',
  'device.add',
  'device.revoke',
])

interface EventFields<K extends EventKind> {
  readonly v: 1
  /** null only for genesis: the space id is the genesis id. */
  readonly space: SpaceId | null
  readonly kind: K
  readonly author: Did
  /** did:key of the device key that signs. */
  readonly key: string
  /** Ids of the events the author had seen (heads), sorted, unique. */
  readonly parents: readonly EventId[]
  /** Milliseconds since the epoch, as the author's clock said. Advisory: never decides anything. */
  readonly ts: number
  readonly body: EventBody<K>
}

export type UnsignedEvent<K extends EventKind = EventKind> = K extends EventKind
  ? EventFields<K>
  : never

/** A parsed event with its recomputed id. The signature is checked by `verifySpaceEvent`. */
export type SpaceEvent<K extends EventKind = EventKind> = K extends EventKind
  ? EventFields<K> & { readonly id: EventId; readonly sig: Uint8Array }
  : never

const parents = z
  .array(eventId)
  .max(MAX_PARENTS)
  .refine(
    (ids) => ids.every((id, i) => i === 0 || ids[i - 1]! < id),
    'parents must be sorted and unique',
  )

const envelope = z.strictObject({
  v: z.literal(1),
  space: eventId.nullable(),
  kind: z.enum(EVENT_KINDS as [EventKind, ...EventKind[]]),
  author: did,
  key: keyId,
  parents,
  ts: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
  body: z.unknown(),
})

const signature = z
  .instanceof(Uint8Array)
  .refine((s) => s.length === 64, 'signature must be 64 bytes')

/** The wire form: DAG-CBOR of `{ e: unsigned event, s: 64-byte signature }`. */
export const wireSchema = z.strictObject({ e: envelope, s: signature })

/**
 * What every peer, of any version, checks at ingress: the wire form with any kind name and any
 * body. Kinds and body fields added later must not split older peers; the reducer judges the
 * kind and the body (an unknown kind or a body that fails its schema is an invalid event).
 */
export const KIND_PATTERN = /^[a-z][a-z0-9]{0,31}(?:[.-][a-z0-9]{1,31}){0,3}$/
export const envelopeWireSchema = z.strictObject({
  e: envelope.extend({ kind: z.string().max(64).regex(KIND_PATTERN, 'expected a kind name') }),
  s: signature,
})
