import { cbor } from '@automerge/automerge-repo'
import type { DocumentId, PeerId } from '@automerge/automerge-repo'
import {
  decodeFrame,
  documentIdSchema,
  EPHEMERAL_TYPE,
  MAX_EPHEMERAL_FRAME_BYTES,
  MAX_PUSH_CHANGES,
  parseEphemeral,
  PUSH_TYPE,
  type EphemeralFrame,
} from '@hearth/sync'
import { z } from 'zod'
import { MAX_PEER_ID_CHARS } from './peer-id.ts'

/**
 * The frames of automerge-repo's WebSocket protocol (v1) that a client may send to the
 * router, parsed once at the edge. Anything else, and anything that is not CBOR, closes the
 * connection (S10).
 */

const peerId = z.string().min(1).max(MAX_PEER_ID_CHARS)
const documentId = documentIdSchema
const bytes = z.instanceof(Uint8Array)

const joinFrame = z.object({
  type: z.literal('join'),
  senderId: peerId,
  peerMetadata: z
    .object({
      storageId: z.string().min(1).max(128).optional(),
      isEphemeral: z.boolean().optional(),
    })
    .optional(),
  supportedProtocolVersions: z.array(z.string().max(16)).max(16).optional(),
})

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

/** Our own fast path, client to router: signed changes pushed without an Automerge sync round. */
export const CLIENT_PUSH_TYPE = PUSH_TYPE
/** Changes in one pushed frame, at most. */
export const MAX_CLIENT_PUSH_CHANGES = MAX_PUSH_CHANGES

const pushFrame = z.object({
  type: z.literal(CLIENT_PUSH_TYPE),
  senderId: peerId,
  targetId: peerId,
  documentId,
  changes: z.array(bytes).min(1).max(MAX_CLIENT_PUSH_CHANGES),
})

/** Frames that carry nothing the router acts on: dropped, the connection stays. */
const ignoredFrame = z.object({
  type: z.enum(['ephemeral', 'remote-subscription-change', 'remote-heads-changed']),
})

export type JoinFrame = z.infer<typeof joinFrame>
export interface DocFrame {
  type: 'sync' | 'request'
  senderId: PeerId
  targetId: PeerId
  documentId: DocumentId
  data: Uint8Array
}
export interface UnavailableFrame {
  type: 'doc-unavailable'
  senderId: PeerId
  targetId: PeerId
  documentId: DocumentId
}
export interface PushInFrame {
  type: typeof CLIENT_PUSH_TYPE
  senderId: PeerId
  targetId: PeerId
  documentId: DocumentId
  changes: Uint8Array[]
}
export type ClientFrame =
  | { kind: 'join'; frame: JoinFrame }
  | { kind: 'doc'; frame: DocFrame }
  | { kind: 'unavailable'; frame: UnavailableFrame }
  | { kind: 'push'; frame: PushInFrame }
  | { kind: 'ephemeral'; frame: EphemeralFrame }
  | { kind: 'ignored'; type: string }

export class MalformedFrameError extends Error {
  readonly reason: string
  constructor(reason: string) {
    super(`malformed frame: ${reason}`)
    this.name = 'MalformedFrameError'
    this.reason = reason
  }
}

function toBytes(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return data
  if (data instanceof ArrayBuffer) return new Uint8Array(data)
  if (Array.isArray(data) && data.every((part) => part instanceof Uint8Array))
    return Buffer.concat(data)
  throw new MalformedFrameError('not a binary frame')
}

/** Decodes one WebSocket frame from a client. Throws MalformedFrameError. */
export function parseClientFrame(data: unknown, isBinary: boolean): ClientFrame {
  if (!isBinary) throw new MalformedFrameError('text frame')
  const bytes = toBytes(data)
  const { type, parse } = decodeFrame(bytes, (reason) => new MalformedFrameError(reason))
  switch (type) {
    case 'join':
      return { kind: 'join', frame: parse(joinFrame) }
    case 'sync':
    case 'request':
      return { kind: 'doc', frame: parse(docFrame) as DocFrame }
    case CLIENT_PUSH_TYPE:
      return { kind: 'push', frame: parse(pushFrame) as PushInFrame }
    case 'doc-unavailable':
      return { kind: 'unavailable', frame: parse(unavailableFrame) as UnavailableFrame }
    case EPHEMERAL_TYPE: {
      // Our signed ephemeral messages (see @hearth/sync): shape and caps here, the rest
      // (signature, membership, replay) in the relay.
      if (bytes.byteLength > MAX_EPHEMERAL_FRAME_BYTES)
        throw new MalformedFrameError(`${EPHEMERAL_TYPE}: frame too large`)
      const result = parseEphemeral(parse(z.unknown()))
      if (!result.ok) throw new MalformedFrameError(`${EPHEMERAL_TYPE}: ${result.error.reason}`)
      return { kind: 'ephemeral', frame: result.frame }
    }
    default:
      return { kind: 'ignored', type: parse(ignoredFrame).type }
  }
}

/** Encodes a frame the way automerge-repo's WebSocket adapters do. */
export function encodeFrame(frame: object): Uint8Array {
  return cbor.encode(frame)
}
