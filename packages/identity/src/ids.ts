import { isValidDid, isValidHandle } from '@atproto/syntax'

/** A syntactically valid DID (did:plc or did:web for people; any method parses). */
export type Did = string & { readonly __brand: 'Did' }
/** A syntactically valid, lower-cased handle. Display only: who someone is, is their DID. */
export type Handle = string & { readonly __brand: 'Handle' }

// The AT Protocol caps DIDs at 2 KiB; people's DIDs are far shorter, and every DID
// we accept ends up in events, indexes and URLs, so we hold them to a tighter bound.
export const MAX_DID_LENGTH = 512
export const MAX_HANDLE_LENGTH = 253

export class InvalidDidError extends Error {
  readonly input: string
  constructor(input: string, reason: string) {
    super(`invalid DID (${reason}): ${JSON.stringify(input.slice(0, 64))}`)
    this.name = 'InvalidDidError'
    this.input = input.slice(0, 64)
  }
}

export class InvalidHandleError extends Error {
  readonly input: string
  constructor(input: string, reason: string) {
    super(`invalid handle (${reason}): ${JSON.stringify(input.slice(0, 64))}`)
    this.name = 'InvalidHandleError'
    this.input = input.slice(0, 64)
  }
}

function didProblem(input: unknown): string | null {
  if (typeof input !== 'string') return 'not a string'
  if (input.length > MAX_DID_LENGTH) return 'too long'
  if (input.includes('#') || input.includes('?')) return 'has a fragment or query'
  if (!isValidDid(input)) return 'bad syntax'
  return null
}

export function isDid(input: unknown): input is Did {
  return didProblem(input) === null
}

export function assertDid(input: unknown): asserts input is Did {
  const problem = didProblem(input)
  if (problem) throw new InvalidDidError(String(input), problem)
}

export function asDid(input: unknown): Did {
  assertDid(input)
  return input
}

function handleProblem(input: unknown): string | null {
  if (typeof input !== 'string') return 'not a string'
  if (input.length > MAX_HANDLE_LENGTH) return 'too long'
  if (!isValidHandle(input)) return 'bad syntax'
  return null
}

/** True for a valid handle in canonical (lower-case) form. */
export function isHandle(input: unknown): input is Handle {
  return handleProblem(input) === null && input === (input as string).toLowerCase()
}

export function assertHandle(input: unknown): asserts input is Handle {
  const problem = handleProblem(input)
  if (problem) throw new InvalidHandleError(String(input), problem)
  if (input !== (input as string).toLowerCase())
    throw new InvalidHandleError(String(input), 'not lower-case')
}

/** Parses a handle typed by a person: trims, drops a leading `@`, lower-cases. */
export function asHandle(input: unknown): Handle {
  const text = typeof input === 'string' ? input.trim().replace(/^@/, '').toLowerCase() : input
  assertHandle(text)
  return text
}
