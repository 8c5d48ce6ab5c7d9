import * as A from '@automerge/automerge'
import { MAX_CHANGE_BYTES } from './layout.ts'

/** Automerge chunk types (the byte after magic and checksum). */
export const CHUNK_DOCUMENT = 0
export const CHUNK_CHANGE = 1
export const CHUNK_DEFLATED_CHANGE = 2
export const CHUNK_BUNDLE = 3

const MAGIC = [0x85, 0x6f, 0x4a, 0x83]

export interface Chunk {
  type: number
  bytes: Uint8Array
}

export class MalformedChunkError extends Error {
  constructor(detail: string) {
    super(`malformed Automerge chunk: ${detail}`)
    this.name = 'MalformedChunkError'
  }
}

/** Splits concatenated Automerge chunks (a sync message's `changes` blob). */
export function splitChunks(blob: Uint8Array): Chunk[] {
  const chunks: Chunk[] = []
  let offset = 0
  while (offset < blob.length) {
    if (blob.length - offset < 10) throw new MalformedChunkError('truncated header')
    for (let i = 0; i < 4; i++)
      if (blob[offset + i] !== MAGIC[i]) throw new MalformedChunkError('bad magic')
    const type = blob[offset + 8]!
    let length = 0
    let shift = 0
    let p = offset + 9
    for (;;) {
      if (p >= blob.length || shift > 28) throw new MalformedChunkError('bad length')
      const byte = blob[p++]!
      length += (byte & 0x7f) * 2 ** shift
      shift += 7
      if ((byte & 0x80) === 0) break
    }
    const end = p + length
    if (end > blob.length) throw new MalformedChunkError('truncated body')
    chunks.push({ type, bytes: blob.subarray(offset, end) })
    offset = end
  }
  return chunks
}

/** A change as the validator sees it: decoded, with its encoded size. */
export interface IncomingChange {
  decoded: A.DecodedChange & { extra_bytes?: unknown }
  size: number
}

/**
 * Every change a blob would add: change chunks are decoded; a document chunk is loaded into
 * a scratch document whose changes are listed (then freed). Bundles are refused: honest
 * Automerge 3.5 peers do not send them in sync messages, and refusing is safe.
 * Throws on malformed input; the caller treats a throw as a rejection.
 */
export function changesInBlob(blob: Uint8Array): IncomingChange[] {
  const out: IncomingChange[] = []
  for (const chunk of splitChunks(blob)) {
    if (chunk.type === CHUNK_CHANGE || chunk.type === CHUNK_DEFLATED_CHANGE) {
      if (chunk.bytes.length > MAX_CHANGE_BYTES) throw new MalformedChunkError('oversized change')
      out.push({ decoded: A.decodeChange(chunk.bytes as A.Change), size: chunk.bytes.length })
    } else if (chunk.type === CHUNK_DOCUMENT) {
      out.push(...changesInDocument(chunk.bytes))
    } else {
      throw new MalformedChunkError(`chunk type ${chunk.type} not accepted`)
    }
  }
  return out
}

/** The changes of a saved document (a document chunk, or a whole `A.save`), in causal order. */
export function changesInDocument(bytes: Uint8Array): IncomingChange[] {
  const scratch = A.load(bytes)
  try {
    return A.getAllChanges(scratch).map((change) => {
      if (change.length > MAX_CHANGE_BYTES) throw new MalformedChunkError('oversized change')
      return { decoded: A.decodeChange(change), size: change.length }
    })
  } finally {
    A.free(scratch)
  }
}
