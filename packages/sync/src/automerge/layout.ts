import { sha256 } from '@noble/hashes/sha2'
import { parseP256KeyId, toHex, utf8 } from '@hearth/identity'
import { parseAutomergeUrl, stringifyAutomergeUrl } from '@automerge/automerge-repo'
import type { BinaryDocumentId, DocumentId } from '@automerge/automerge-repo'

/**
 * Document layout (see docs/architecture.md, "Sync and validation"):
 * the root of every Hearth document holds only lists at keys `<actorHex>:<n>`, each written
 * by that one actor (single-writer buckets), each entry an ImmutableString holding the
 * base64url of one signed event's wire bytes.
 */

/** Entries per bucket: appending to a bounded list stays flat where one long list does not. */
export const BUCKET_CAPACITY = 1000
/** Signing domain of whole-change signatures (see @hearth/identity `domainSeparated`). */
export const CHANGE_DOMAIN = 'hearth/change/v1'
/** An event's wire bytes (events/schema MAX_EVENT_BYTES) as base64url. */
export const MAX_ENTRY_CHARS = Math.ceil((64 * 1024 * 4) / 3)
/** A change carries at most this many events; honest writers batch far fewer. */
export const MAX_EVENTS_PER_CHANGE = 256
/** The encoded size of one change, checked before it is decoded. */
export const MAX_CHANGE_BYTES = 1024 * 1024
/** One sync message (a whole-document chunk on a first sync included): refused above this. */
export const MAX_SYNC_MESSAGE_BYTES = 16 * 1024 * 1024
/** Message documents are closed by count: a writer moves to the next one at this size. */
export const MESSAGE_DOCUMENT_CAPACITY = 10_000

export type ActorId = string & { readonly __brand: 'ActorId' }

const ACTOR_PATTERN = /^[0-9a-f]{32}$/
const BUCKET_KEY_PATTERN = /^([0-9a-f]{32}):(0|[1-9][0-9]{0,5})$/

export function isActorId(value: unknown): value is ActorId {
  return typeof value === 'string' && ACTOR_PATTERN.test(value)
}

/** The Automerge actor of a device: the first 16 bytes of SHA-256 of its public key, in hex. */
export function actorIdFromPublicKey(publicKey: Uint8Array): ActorId {
  return toHex(sha256(publicKey).subarray(0, 16)) as ActorId
}

// Parsing a did:key decompresses a curve point (~0.4 ms in JS): more than the rest of a
// change's checks. Validators see the same few keys again and again. Bounded, so a flood
// of distinct keys cannot grow memory.
const MAX_CACHED_ACTORS = 4096
const actorsByKeyId = new Map<string, ActorId>()

/** Throws InvalidKeyIdError for anything but a canonical P-256 did:key. */
export function actorIdFromKeyId(keyId: string): ActorId {
  const cached = actorsByKeyId.get(keyId)
  if (cached) return cached
  const actor = actorIdFromPublicKey(parseP256KeyId(keyId))
  if (actorsByKeyId.size >= MAX_CACHED_ACTORS) {
    const oldest = actorsByKeyId.keys().next().value
    if (oldest !== undefined) actorsByKeyId.delete(oldest)
  }
  actorsByKeyId.set(keyId, actor)
  return actor
}

export function bucketKey(actor: ActorId, index: number): string {
  return `${actor}:${index}`
}

export function parseBucketKey(key: string): { actor: ActorId; index: number } | undefined {
  const match = BUCKET_KEY_PATTERN.exec(key)
  if (!match) return undefined
  return { actor: match[1] as ActorId, index: Number(match[2]) }
}

function documentIdFromScope(scope: string): DocumentId {
  const digest = sha256(utf8(`hearth/document/v1\u0000${scope}`)).subarray(0, 16)
  return parseAutomergeUrl(stringifyAutomergeUrl({ documentId: digest as BinaryDocumentId }))
    .documentId
}

/**
 * Document ids are derived, never chosen: the space document from the space id, message
 * documents from (space, channel, index). So the registry of a space's documents follows
 * from its events (each `channel.create` in the space document registers that channel's
 * message documents), any peer and the router map a document id back to its space, and
 * nobody can register a foreign document under a space.
 */
export function spaceDocumentId(spaceId: string): DocumentId {
  return documentIdFromScope(`space\u0000${spaceId}`)
}

export function messageDocumentId(spaceId: string, channelId: string, index: number): DocumentId {
  return documentIdFromScope(`messages\u0000${spaceId}\u0000${channelId}\u0000${index}`)
}

/** A user's own document (followed spaces, read positions, preferences): only their devices sync it. */
export function userDocumentId(did: string): DocumentId {
  return documentIdFromScope(`user\u0000${did}`)
}

export type DocumentRole =
  | { kind: 'space'; spaceId: string }
  | { kind: 'messages'; spaceId: string; channelId: string; index: number }

/** Maps document ids to the space they belong to. Fed from the space documents' events. */
export class DocumentRegistry {
  readonly #roles = new Map<DocumentId, DocumentRole>()

  addSpace(spaceId: string): DocumentId {
    const id = spaceDocumentId(spaceId)
    this.#roles.set(id, { kind: 'space', spaceId })
    return id
  }

  /** Registers message documents 0..count-1 of a channel (a reader opens them lazily). */
  addChannel(spaceId: string, channelId: string, count = 1): DocumentId[] {
    const ids: DocumentId[] = []
    for (let index = 0; index < count; index++) {
      const id = messageDocumentId(spaceId, channelId, index)
      this.#roles.set(id, { kind: 'messages', spaceId, channelId, index })
      ids.push(id)
    }
    return ids
  }

  resolve(documentId: DocumentId): DocumentRole | undefined {
    return this.#roles.get(documentId)
  }

  has(documentId: DocumentId): boolean {
    return this.#roles.has(documentId)
  }
}
