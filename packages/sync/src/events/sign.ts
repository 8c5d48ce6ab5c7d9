import { verifySignature } from '@hearth/identity'
import type { DeviceKey, Did } from '@hearth/identity'
import {
  computeEventId,
  EVENT_SIG_DOMAIN,
  eventIdToBytes,
  EventParseError,
  parseEventEnvelope,
  parseSignedEvent,
  type ParseResult,
} from './codec.ts'
import {
  bodySchemas,
  MAX_PARENTS,
  type EventBody,
  type EventId,
  type EventKind,
  type SpaceEvent,
  type SpaceId,
  type UnsignedEvent,
} from './schema.ts'

/** What signs events: a DeviceKey, or anything with the same two members. */
export type EventSigner = Pick<DeviceKey, 'keyId' | 'sign'>

export interface EventDraft<K extends EventKind> {
  space: SpaceId | null
  kind: K
  author: Did
  /** The heads the author has seen; sorted and deduplicated here, capped at MAX_PARENTS. */
  parents: readonly EventId[]
  body: EventBody<K>
  ts?: number
}

/** Sorted, unique, at most MAX_PARENTS (the greatest ids are kept: any subset of heads is honest). */
export function normaliseParents(parents: readonly EventId[]): EventId[] {
  const sorted = [...new Set(parents)].sort()
  return sorted.length > MAX_PARENTS ? sorted.slice(sorted.length - MAX_PARENTS) : sorted
}

/** Builds, validates and signs an event. Throws EventParseError if the draft is not a valid event. */
export async function signEvent<K extends EventKind>(
  signer: EventSigner,
  draft: EventDraft<K>,
): Promise<SpaceEvent<K>> {
  const body = bodySchemas[draft.kind].safeParse(draft.body)
  if (!body.success)
    throw new EventParseError(
      'schema',
      `${draft.kind} body: ${body.error.issues[0]?.message ?? 'invalid'}`,
    )
  const unsigned = {
    v: 1,
    space: draft.space,
    kind: draft.kind,
    author: draft.author,
    key: signer.keyId,
    parents: normaliseParents(draft.parents),
    ts: Math.max(0, Math.floor(draft.ts ?? Date.now())),
    body: stripUndefined(body.data),
  } as unknown as UnsignedEvent
  const id = computeEventId(unsigned)
  const sig = await signer.sign(EVENT_SIG_DOMAIN, eventIdToBytes(id))
  const event = { ...unsigned, id, sig } as SpaceEvent
  // Round-trip through the parser so a signer can never emit what peers would refuse.
  const parsed = parseSignedEvent({ e: unsigned, s: sig })
  if (!parsed.ok) throw parsed.error
  return event as SpaceEvent<K>
}

// DAG-CBOR has no `undefined`: optional fields are absent, never undefined.
function stripUndefined<T>(value: T): T {
  if (
    value === null ||
    typeof value !== 'object' ||
    Array.isArray(value) ||
    value instanceof Uint8Array
  )
    return value
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T
}

/** Checks the signature over the (already recomputed) id with the event's own device key. */
export function verifySpaceEvent(event: SpaceEvent): Promise<boolean> {
  return verifySignature(event.key, EVENT_SIG_DOMAIN, eventIdToBytes(event.id), event.sig)
}

/** Parse and verify in one step: what every peer does with an event it did not make. */
export async function openSignedEvent(input: unknown, expectedId?: string): Promise<ParseResult> {
  const parsed = parseSignedEvent(input, expectedId)
  if (!parsed.ok) return parsed
  if (!(await verifySpaceEvent(parsed.event)))
    return {
      ok: false,
      error: new EventParseError(
        'bad-signature',
        `event ${parsed.event.id} is not signed by ${parsed.event.key}`,
      ),
    }
  return parsed
}

/**
 * Parse the envelope and verify the signature, leaving kind and body to the reducer
 * (`parseEventEnvelope`): the ingress check, the same for every version.
 */
export async function openEventEnvelope(input: unknown, expectedId?: string): Promise<ParseResult> {
  const parsed = parseEventEnvelope(input, expectedId)
  if (!parsed.ok) return parsed
  if (!(await verifySpaceEvent(parsed.event)))
    return {
      ok: false,
      error: new EventParseError(
        'bad-signature',
        `event ${parsed.event.id} is not signed by ${parsed.event.key}`,
      ),
    }
  return parsed
}
