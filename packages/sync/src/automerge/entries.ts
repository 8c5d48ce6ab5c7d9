import { looksLikeUserRecord, openUserRecord } from '../user/user-record.ts'
import type { VerifyEvent } from './change-rules.ts'
import { verifySpaceEventBytes } from './space-events.ts'

/**
 * The validator's check of one bucket entry in any Hearth document: a space event (space and
 * message documents) or a user record (user documents). Either way the entry is signed and its
 * key must then be the change's key. Which kind belongs in which document is the readers'
 * business: the reducer reads only events, the user document only records.
 */
export const verifyHearthEntry: VerifyEvent = async (bytes) => {
  if (!looksLikeUserRecord(bytes)) return verifySpaceEventBytes(bytes)
  const opened = await openUserRecord(bytes)
  return opened.ok ? { ok: true, keyId: opened.record.key } : { ok: false, reason: opened.reason }
}
