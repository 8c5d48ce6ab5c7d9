import { sha256 } from '@noble/hashes/sha2'
import { asDid, utf8 } from '@hearth/identity'
import type { Did } from '@hearth/identity'
import {
  computeEventId,
  EVENT_SIG_DOMAIN,
  eventIdToBytes,
  EventParseError,
} from '../events/codec.ts'
import { normaliseParents } from '../events/sign.ts'
import { FIXTURE_KEY_IDS } from './fixture-keys.ts'
import {
  bodySchemas,
  type EventBody,
  type EventId,
  type EventKind,
  type SpaceEvent,
  type SpaceId,
  type SpaceMode,
  type UnsignedEvent,
} from '../events/schema.ts'

/**
 * Simulated signatures for tests and the harness: the reducer never checks signatures (that is
 * the ingest layer's job, tested with real WebCrypto keys), and a P-256 signature per simulated
 * event would make thousands of seeds too slow. The key ids are real did:keys.
 */
export function simulatedSignature(keyId: string, id: EventId): Uint8Array {
  const tag = utf8(`${EVENT_SIG_DOMAIN}\n${keyId}\n`)
  const input = new Uint8Array(tag.length + 32)
  input.set(tag)
  input.set(eventIdToBytes(id), tag.length)
  const h = sha256(input)
  const out = new Uint8Array(64)
  out.set(h)
  out.set(sha256(h), 32)
  return out
}

export function hasSimulatedSignature(e: SpaceEvent): boolean {
  const expected = simulatedSignature(e.key, e.id)
  return e.sig.length === 64 && e.sig.every((b, i) => b === expected[i])
}

export interface TestActor {
  readonly name: string
  readonly did: Did
  /** Device key ids; devices[0] is the actor's first device. */
  readonly devices: readonly string[]
}

/** Actors with fixed did:keys (see fixture-keys.ts): the same ids, hence the same order, in every run. */
export function createActors(names: readonly string[], devicesEach = 2): TestActor[] {
  if (names.length * devicesEach > FIXTURE_KEY_IDS.length)
    throw new RangeError('not enough fixture keys')
  return names.map((name, i) => ({
    name,
    did: asDid(`did:plc:${name.toLowerCase().padEnd(24, 'x').slice(0, 24)}`),
    devices: FIXTURE_KEY_IDS.slice(i * devicesEach, (i + 1) * devicesEach),
  }))
}

export const HARNESS_ACTOR_NAMES = [
  'alice',
  'bob',
  'carol',
  'dave',
  'erin',
  'frank',
  'grace',
  'heidi',
] as const

export interface DraftOptions {
  /** Parents to cite; default: every current head of this builder (an actor who saw everything). */
  parents?: readonly EventId[]
  /** Which of the actor's devices signs (index), or an explicit key id (forgery tests). */
  device?: number | string
  /** Claimed author, when it differs from the signer's owner (forgery tests). */
  author?: Did
  ts?: number
}

/**
 * Builds events for tests without the honest client API: any author, any key, any parents.
 * Every body is checked against its schema (a test typo fails loudly); nothing else is.
 */
export class SpaceBuilder {
  readonly events: SpaceEvent[] = []
  spaceId: SpaceId | null = null
  private readonly heads = new Set<EventId>()
  private clock = 1_700_000_000_000

  genesis(creator: TestActor, mode: SpaceMode, options: DraftOptions = {}): SpaceEvent<'genesis'> {
    const g = this.make(
      creator,
      'genesis',
      { mode, name: 'Test space', nonce: `nonce-${this.events.length}-${creator.name}` },
      { ...options, parents: [] },
    )
    this.spaceId ??= g.id
    return g
  }

  make<K extends EventKind>(
    actor: TestActor,
    kind: K,
    body: EventBody<K>,
    options: DraftOptions = {},
  ): SpaceEvent<K> {
    const parsed = bodySchemas[kind].safeParse(body)
    if (!parsed.success)
      throw new EventParseError('schema', `${kind}: ${parsed.error.issues[0]?.message}`)
    const key =
      typeof options.device === 'string' ? options.device : actor.devices[options.device ?? 0]!
    this.clock += 1000
    const unsigned = {
      v: 1,
      space: kind === 'genesis' ? null : this.spaceId,
      kind,
      author: options.author ?? actor.did,
      key,
      parents: normaliseParents(options.parents ?? [...this.heads]),
      ts: options.ts ?? this.clock,
      body: parsed.data,
    } as unknown as UnsignedEvent
    const id = computeEventId(unsigned)
    const event = { ...unsigned, id, sig: simulatedSignature(key, id) } as SpaceEvent<K>
    this.events.push(event)
    for (const p of event.parents) this.heads.delete(p)
    this.heads.add(id)
    return event
  }

  currentHeads(): EventId[] {
    return [...this.heads].sort()
  }
}
