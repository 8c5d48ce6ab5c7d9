import type { PeerId } from '@automerge/automerge-repo'
import type { Did } from '@hearth/identity'

/** The part after `#`: a device or tab name the client picks (no `#`, no spaces). */
const SUFFIX = /^[A-Za-z0-9._~-]{1,64}$/
/** A DID is at most 2 KiB (did:web with a long host); the peer id adds at most 65 bytes. */
export const MAX_PEER_ID_CHARS = 2048 + 65

/**
 * The rule that binds automerge peer ids to the authenticated DID (S4): a peer id is
 * `<did>#<suffix>`, where `<did>` is exactly the DID the connection's ticket was issued to.
 * So a peer id names its owner, and nobody can present a peer id that names someone else.
 * The suffix tells one owner's devices and tabs apart.
 */
export function peerIdBelongsTo(peerId: string, did: Did): boolean {
  if (peerId.length > MAX_PEER_ID_CHARS) return false
  if (!peerId.startsWith(`${did}#`)) return false
  return SUFFIX.test(peerId.slice(did.length + 1))
}

/** A peer id for `did` (what a Hearth client passes to `new Repo({ peerId })`). */
export function peerIdFor(did: Did, suffix: string): PeerId {
  if (!SUFFIX.test(suffix)) throw new RangeError(`invalid peer id suffix: ${suffix}`)
  return `${did}#${suffix}` as PeerId
}
