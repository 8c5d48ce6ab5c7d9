import { openEventEnvelope } from '../events/sign.ts'
import type { VerifyEvent } from './change-rules.ts'

/**
 * The validator's event check for real space events: the envelope (size, wire shape, any kind
 * name, genesis shape, id) and the event signature (`openEventEnvelope`). The event's key must
 * then be the change's key (checked by the rules). Kinds and bodies are not judged here: a
 * newer peer's kinds or body fields must not split older peers. The reducer lists an unknown
 * kind or a body that fails its schema as an invalid event, the same on every replica.
 */
export const verifySpaceEventBytes: VerifyEvent = async (bytes) => {
  const opened = await openEventEnvelope(bytes)
  return opened.ok
    ? { ok: true, keyId: opened.event.key }
    : { ok: false, reason: opened.error.message }
}
