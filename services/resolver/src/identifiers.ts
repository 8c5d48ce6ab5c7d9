import {
  asHandle,
  InvalidHandleError,
  isDid,
  isHandle,
  type Did,
  type Handle,
} from '@hearth/identity'
import { InvalidIdentifierError } from './errors.ts'

// did:web with a host and an optional %3A-encoded port: path-form did:web is not part of atproto.
const WEB_DID = /^did:web:([a-z0-9.-]+|\[[0-9a-f:]+\])(%3a[0-9]{1,5})?$/i
const PLC_DID = /^did:plc:[a-z2-7]{24}$/

/** A DID of a method this resolver can resolve. */
export type ResolvableDid = Did & (`did:plc:${string}` | `did:web:${string}`)

export type Identifier = { kind: 'did'; did: ResolvableDid } | { kind: 'handle'; handle: Handle }

/** Trims, drops a leading `@`, lower-cases and checks a handle; throws InvalidIdentifierError. */
export function parseHandle(input: string): Handle {
  try {
    return asHandle(input)
  } catch (err) {
    if (err instanceof InvalidHandleError) {
      throw new InvalidIdentifierError(err.input, `Invalid handle: ${err.message}`)
    }
    throw err
  }
}

/** Checks a DID of a method we resolve (plc, web); throws InvalidIdentifierError. */
export function parseDid(input: string): ResolvableDid {
  const shown = input.slice(0, 64)
  if (!isDid(input)) throw new InvalidIdentifierError(shown, `Invalid DID: ${shown}`)
  if (PLC_DID.test(input) || WEB_DID.test(input)) return input as ResolvableDid
  if (input.startsWith('did:web:')) {
    throw new InvalidIdentifierError(shown, `did:web with a path is not supported: ${shown}`)
  }
  throw new InvalidIdentifierError(shown, `Unsupported DID method: ${shown}`)
}

export function parseIdentifier(input: string): Identifier {
  const trimmed = input.trim()
  if (trimmed.startsWith('did:')) return { kind: 'did', did: parseDid(trimmed) }
  return { kind: 'handle', handle: parseHandle(trimmed) }
}

/** The handle of an `at://handle` alsoKnownAs entry, lower-cased, if it is a valid handle. */
export function handleFromAlsoKnownAs(entry: string): Handle | undefined {
  if (!entry.startsWith('at://')) return undefined
  const handle = entry.slice('at://'.length).toLowerCase()
  return isHandle(handle) ? handle : undefined
}
