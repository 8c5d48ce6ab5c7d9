import { openSignedEvent } from '../events/sign.ts'
import type { VerifyEvent } from './change-rules.ts'

/**
 * The validator's event check for real space events: parse the wire bytes and verify the
 * event signature (`openSignedEvent`). The event's key must then be the change's key
 * (checked by the rules).
 * @NOTE this also applies the current body schemas; a future event kind would be refused by
 * older peers. Before adding kinds, narrow this to envelope + signature (see architecture).
 */
export const verifySpaceEventBytes: VerifyEvent = async (bytes) => {
  const opened = await openSignedEvent(bytes)
  return opened.ok
    ? { ok: true, keyId: opened.event.key }
    : { ok: false, reason: opened.error.message }
}
