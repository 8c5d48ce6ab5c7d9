import { asHandle, fingerprint, type Did } from '@hearth/identity'
import { hostname } from 'node:os'
import type { CliConfig } from '../config.ts'
import { loadOrCreateDeviceKey } from '../device.ts'
import { keyserverDid, registerDevice, resolveIdentity } from '../network.ts'
import { persistentAgent } from '../session.ts'

export const DEVICE_COLLECTION = 'app.hearth.device'
export const REGISTER_LXM = 'app.hearth.keyserver.registerDevice'

export class LoginError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'LoginError'
  }
}

export interface LoginResult {
  did: Did
  handle: string
  pds: string
  deviceId: string
  keyId: string
  fingerprint: string
}

/**
 * Signs in with an app password, then makes this device a Hearth device of the account:
 * its own key pair, a binding record in the user's own PDS repository (so anyone can check
 * the key belongs to the DID without trusting us), and registration with the keyserver.
 */
export async function login(
  home: string,
  config: CliConfig,
  input: { handle: string; password: string; pds?: string | undefined },
): Promise<LoginResult> {
  const handle = asHandle(input.handle)
  const identity = await resolveIdentity(config.resolverUrl, handle)
  if (!identity.handleVerified)
    throw new LoginError(
      `${handle} points at ${identity.did}, whose DID document does not claim the handle back`,
    )
  const pds = input.pds ?? identity.pds
  if (!pds) throw new LoginError(`${identity.did} names no PDS`)

  const agent = persistentAgent(home, pds)
  try {
    await agent.login({ identifier: handle, password: input.password })
  } catch (cause) {
    throw new LoginError(`the PDS at ${pds} refused the login for ${handle}`, { cause })
  }
  if (agent.session?.did !== identity.did)
    throw new LoginError(`the PDS signed us in as ${agent.session?.did}, not ${identity.did}`)

  const key = await loadOrCreateDeviceKey(home)
  await agent.com.atproto.repo.putRecord({
    repo: identity.did,
    collection: DEVICE_COLLECTION,
    rkey: key.deviceId,
    record: {
      $type: DEVICE_COLLECTION,
      key: key.keyId,
      name: `hearth CLI on ${hostname()}`.slice(0, 64),
      createdAt: new Date().toISOString(),
    },
  })

  const audience = `${await keyserverDid(config.keyserverUrl)}#hearth_keyserver`
  const auth = await agent.com.atproto.server.getServiceAuth({ aud: audience, lxm: REGISTER_LXM })
  await registerDevice(config.keyserverUrl, auth.data.token, {
    key: key.keyId,
    deviceId: key.deviceId,
  })

  return {
    did: identity.did,
    handle,
    pds,
    deviceId: key.deviceId,
    keyId: key.keyId,
    fingerprint: fingerprint(identity.did, key.keyId),
  }
}
