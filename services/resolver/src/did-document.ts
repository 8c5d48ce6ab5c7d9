import { getKey, getPds } from '@atproto/identity'
import type { Handle } from '@hearth/identity'
import { z } from 'zod'
import { InvalidDidDocumentError } from './errors.ts'
import { handleFromAlsoKnownAs, type ResolvableDid } from './identifiers.ts'

// Caps keep a hostile document from making us hold or return unbounded arrays and strings
// (the byte cap on the fetch bounds the whole; these bound what we keep and re-serve).
const str = (max: number) => z.string().max(max)

const verificationMethodSchema = z.object({
  id: str(512),
  type: str(128),
  controller: str(2048),
  publicKeyMultibase: str(512).optional(),
})

const serviceSchema = z.object({
  id: str(512),
  type: str(128),
  serviceEndpoint: z.union([str(2048), z.record(str(128), z.unknown())]),
})

export const didDocumentSchema = z.object({
  '@context': z
    .union([z.literal('https://www.w3.org/ns/did/v1'), z.array(str(512)).max(16)])
    .optional(),
  id: str(2048),
  alsoKnownAs: z.array(str(2048)).max(32).optional(),
  verificationMethod: z.array(verificationMethodSchema).max(32).optional(),
  service: z.array(serviceSchema).max(32).optional(),
})

export type DidDocument = z.infer<typeof didDocumentSchema>

/** Parses an untrusted DID document: shape first, then meaning (its id must be the DID asked for). */
export function parseDidDocument(did: ResolvableDid, value: unknown): DidDocument {
  const parsed = didDocumentSchema.safeParse(value)
  if (!parsed.success) throw new InvalidDidDocumentError(did, 'schema', { cause: parsed.error })
  if (parsed.data.id !== did) throw new InvalidDidDocumentError(did, 'id-mismatch')
  return parsed.data
}

export interface AtprotoIdentityData {
  /** The handle the document claims (atproto: the first `at://` entry), lower-cased; not yet verified. */
  claimedHandle: Handle | null
  pds: string | null
  /** The `#atproto` signing key as a did:key. */
  signingKey: string | null
}

export function atprotoDataFromDocument(doc: DidDocument): AtprotoIdentityData {
  const firstAt = doc.alsoKnownAs?.find((entry) => entry.startsWith('at://'))
  let signingKey: string | null
  try {
    signingKey = getKey(doc) ?? null
  } catch {
    // A malformed multibase key is the document's problem; it just has no usable key.
    signingKey = null
  }
  return {
    claimedHandle: (firstAt !== undefined && handleFromAlsoKnownAs(firstAt)) || null,
    pds: getPds(doc) ?? null,
    signingKey,
  }
}
