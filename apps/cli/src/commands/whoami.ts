import { deviceIdFromKeyId, fingerprint, type Did } from '@hearth/identity'
import { readDeviceKeyId } from '../device.ts'
import { NotLoggedInError, readSession, resumeAgent } from '../session.ts'

export interface WhoAmI {
  did: Did
  handle: string
  pds: string
  deviceId: string | null
  keyId: string | null
  fingerprint: string | null
  /** 'active' when the PDS accepted the stored session just now. */
  session: 'active' | 'expired' | 'unreachable'
}

/** Answers from local state, then asks the PDS whether the session still holds. */
export async function whoami(home: string): Promise<WhoAmI> {
  const stored = await readSession(home)
  if (!stored) throw new NotLoggedInError()
  const keyId = await readDeviceKeyId(home)
  let session: WhoAmI['session'] = 'active'
  try {
    await resumeAgent(home)
  } catch (err) {
    const status = (err as { status?: number }).status
    session = status === 400 || status === 401 ? 'expired' : 'unreachable'
  }
  return {
    did: stored.did,
    handle: stored.handle,
    pds: stored.pds,
    deviceId: keyId ? deviceIdFromKeyId(keyId) : null,
    keyId,
    fingerprint: keyId ? fingerprint(stored.did, keyId) : null,
    session,
  }
}
