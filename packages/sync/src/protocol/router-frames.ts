import { cbor, isValidDocumentId } from '@automerge/automerge-repo'
import type { DocumentId, PeerId } from '@automerge/automerge-repo'
import { z } from 'zod'
import { MAX_SYNC_MESSAGE_BYTES } from '../automerge/layout.ts'

/**
 * The frames a router sends to a client, parsed once at the edge. A router is a peer like any
 * other: what it sends is untrusted, so everything is checked for shape and size here, and the
 * document data it carries goes through the change validator after that.
 */

/** Our own frame: the router holds these changes durably ("stored by the router"). */
export const ACK_TYPE = 'hearth-ack'
/** Our own frame, both ways: validated changes pushed without an Automerge sync round. */
export const PUSH_TYPE = 'hearth-changes'
/** Changes in one pushed frame, at most (larger batches are left to Automerge sync). */
export const MAX_PUSH_CHANGES = 64
/** A frame from the router, at most: the largest sync message plus its envelope. */
export const MAX_ROUTER_FRAME_BYTES = MAX_SYNC_MESSAGE_BYTES + 64 * 1024

const peerId = z.string().min(1).max(600)
/** An automerge-repo document id, as both sides of the wire check it. */
export const documentIdSchema = z
  .string()
  .max(64)
  .refine((value) => isValidDocumentId(value), 'not a document id')
const documentId = documentIdSchema

/**
 * Decodes one CBOR frame of the sync protocol and returns its `type` with a parser for the
 * schema that type calls for; both failures go through `fail` (each side has its error class).
 */
export function decodeFrame(
  bytes: Uint8Array,
  fail: (reason: string) => Error,
): { type: unknown; parse: <T>(schema: z.ZodType<T>) => T } {
  let decoded: unknown
  try {
    decoded = cbor.decode(bytes)
  } catch {
    throw fail('undecodable CBOR')
  }
  const type = (decoded as { type?: unknown } | null)?.type
  return {
    type,
    parse<T>(schema: z.ZodType<T>): T {
      const result = schema.safeParse(decoded)
      if (!result.success) throw fail(`${String(type)}: ${result.error.issues[0]?.message}`)
      return result.data
    },
  }
}
const bytes = z.instanceof(Uint8Array)
const changeHash = z.string().regex(/^[0-9a-f]{64}$/)

const peerFrame = z.object({
  type: z.literal('peer'),
  senderId: peerId,
  targetId: peerId,
  peerMetadata: z
    .object({ storageId: z.string().max(256).optional(), isEphemeral: z.boolean().optional() })
    .optional(),
  selectedProtocolVersion: z.string().max(16).optional(),
})

const errorFrame = z.object({ type: z.literal('error'), message: z.string().max(1000) })

const docFrame = z.object({
  type: z.enum(['sync', 'request']),
  senderId: peerId,
  targetId: peerId,
  documentId,
  data: bytes,
})

const unavailableFrame = z.object({
  type: z.literal('doc-unavailable'),
  senderId: peerId,
  targetId: peerId,
  documentId,
})

const pushFrame = z.object({
  type: z.literal(PUSH_TYPE),
  senderId: peerId,
  targetId: peerId,
  documentId,
  changes: z.array(bytes).min(1).max(MAX_PUSH_CHANGES),
})

const ackFrame = z.object({
  type: z.literal(ACK_TYPE),
  senderId: peerId,
  targetId: peerId,
  documentId,
  changes: z.array(changeHash).max(100_000),
})

export type PeerFrame = z.infer<typeof peerFrame> & { senderId: PeerId; targetId: PeerId }
export interface RepoFrame {
  type: 'sync' | 'request' | 'doc-unavailable'
  senderId: PeerId
  targetId: PeerId
  documentId: DocumentId
  data?: Uint8Array
}
export interface PushFrame {
  type: typeof PUSH_TYPE
  senderId: PeerId
  targetId: PeerId
  documentId: DocumentId
  changes: Uint8Array[]
}
export interface AckFrame {
  type: typeof ACK_TYPE
  senderId: PeerId
  targetId: PeerId
  documentId: DocumentId
  changes: string[]
}

export type RouterFrame =
  | { kind: 'peer'; frame: PeerFrame }
  | { kind: 'error'; message: string }
  | { kind: 'repo'; frame: RepoFrame }
  | { kind: 'push'; frame: PushFrame }
  | { kind: 'ack'; frame: AckFrame }
  /** A frame type this client does not know (a newer router): ignored, not fatal. */
  | { kind: 'other'; type: string; value: unknown }

export class MalformedRouterFrameError extends Error {
  readonly reason: string
  constructor(reason: string) {
    super(`malformed frame from the router: ${reason}`)
    this.name = 'MalformedRouterFrameError'
    this.reason = reason
  }
}

/** Decodes one binary frame from the router. Throws MalformedRouterFrameError. */
export function parseRouterFrame(data: Uint8Array): RouterFrame {
  if (data.byteLength === 0) throw new MalformedRouterFrameError('empty frame')
  if (data.byteLength > MAX_ROUTER_FRAME_BYTES)
    throw new MalformedRouterFrameError(`frame of ${data.byteLength} bytes`)
  const { type, parse } = decodeFrame(data, (reason) => new MalformedRouterFrameError(reason))
  switch (type) {
    case 'peer':
      return { kind: 'peer', frame: parse(peerFrame) as PeerFrame }
    case 'error':
      return { kind: 'error', message: parse(errorFrame).message }
    case 'sync':
    case 'request':
      return { kind: 'repo', frame: parse(docFrame) as RepoFrame }
    case 'doc-unavailable':
      return { kind: 'repo', frame: parse(unavailableFrame) as RepoFrame }
    case PUSH_TYPE:
      return { kind: 'push', frame: parse(pushFrame) as PushFrame }
    case ACK_TYPE:
      return { kind: 'ack', frame: parse(ackFrame) as AckFrame }
    default:
      if (typeof type !== 'string' || type.length > 64)
        throw new MalformedRouterFrameError('no frame type')
      return { kind: 'other', type, value: parse(z.unknown()) }
  }
}

/** Encodes a frame the way automerge-repo's WebSocket adapters do (CBOR). */
export function encodeRouterFrame(frame: object): Uint8Array {
  return cbor.encode(frame)
}
