import { canonicalEncode, verifySignature } from '@hearth/identity'
import type { DeviceKey } from '@hearth/identity'
import { base64urlDecode, base64urlEncode } from './base64url.ts'
import { CHANGE_DOMAIN } from './layout.ts'

/** The two op shapes a Hearth change may contain (see change-rules.ts). */
export type AllowedOp =
  | { action: 'makeList'; obj: '_root'; key: string; pred: [] }
  | { action: 'set'; obj: string; elemId: string; insert: true; value: string; pred: [] }

/** What the device signs: every field of the change that Automerge interprets. */
export interface SignableChange {
  actor: string
  seq: number
  startOp: number
  time: number
  deps: readonly string[]
  ops: readonly AllowedOp[]
}

// The did:key and the signature travel in the change's `message` field, so a change proves
// its own author with nothing else at hand: the key must hash to the actor, and the
// signature covers everything Automerge interprets. Exactly one spelling is accepted.
const MESSAGE_PATTERN = /^(did:key:zDn[1-9A-HJ-NP-Za-km-z]{40,50}) ([A-Za-z0-9_-]{86})$/

export interface ChangeSignature {
  keyId: string
  signature: Uint8Array
}

export function formatChangeMessage(keyId: string, signature: Uint8Array): string {
  return `${keyId} ${base64urlEncode(signature)}`
}

export function parseChangeMessage(message: unknown): ChangeSignature | undefined {
  if (typeof message !== 'string' || message.length > 200) return undefined
  const match = MESSAGE_PATTERN.exec(message)
  if (!match) return undefined
  const signature = base64urlDecode(match[2]!)
  if (!signature || signature.length !== 64) return undefined
  return { keyId: match[1]!, signature }
}

/**
 * Canonical bytes of a change without its message: DAG-CBOR of the fields in fixed order,
 * each op as a tuple. Built from the decoded change, so signer and verifier agree on the
 * bytes whatever Automerge's encoding does. Only called on ops already checked by the rules.
 */
export function changeSigningBytes(change: SignableChange): Uint8Array {
  const ops = change.ops.map((op) =>
    op.action === 'makeList' ? ['makeList', op.obj, op.key] : ['set', op.obj, op.elemId, op.value],
  )
  return canonicalEncode([
    1,
    change.actor,
    change.seq,
    change.startOp,
    change.time,
    [...change.deps],
    ops,
  ])
}

export async function signChange(key: DeviceKey, change: SignableChange): Promise<string> {
  const signature = await key.sign(CHANGE_DOMAIN, changeSigningBytes(change))
  return formatChangeMessage(key.keyId, signature)
}

export function verifyChangeSignature(
  change: SignableChange,
  signature: ChangeSignature,
): Promise<boolean> {
  return verifySignature(
    signature.keyId,
    CHANGE_DOMAIN,
    changeSigningBytes(change),
    signature.signature,
  )
}
