// First sign-in on a device: make its key, bind it to the account with a record in the
// user's own repository, and register it with the keyserver. Every step is idempotent
// and its completion is saved, so an interrupted enrolment resumes on the next start.

import { deviceKeyFromKeyPair, generateDeviceKey } from '@hearth/identity'
import type { DeviceKey, Did } from '@hearth/identity'
import {
  DEVICE_COLLECTION,
  keyserverAudience,
  LXM_REGISTER_DEVICE,
  LXM_REVOKE_DEVICE,
} from '../auth/scopes.ts'
import { serviceFetchHandler, XrpcError, xrpcProcedure, xrpcQuery } from '../auth/xrpc.ts'
import type { FetchHandler } from '../auth/xrpc.ts'
import { deleteDeviceKey, loadDeviceKey, saveDeviceKey } from './key-store.ts'
import type { StoredDeviceKey } from './key-store.ts'

export interface EnrolDeps {
  did: Did
  /** The OAuth session's fetch handler: requests go to the user's PDS with DPoP. */
  pds: FetchHandler
  keyserverUrl: string
  keyserverDid: string
  deviceName: string
  fetch?: typeof fetch
}

export type EnrolStep = 'key' | 'binding' | 'keyserver'

export class EnrolmentError extends Error {
  readonly step: EnrolStep
  constructor(step: EnrolStep, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'EnrolmentError'
    this.step = step
  }
}

export interface EnrolledDevice {
  key: DeviceKey
  stored: StoredDeviceKey
}

export function deviceRecord(key: DeviceKey, name: string, createdAt: string) {
  return { $type: DEVICE_COLLECTION, key: key.keyId, name, createdAt }
}

/** A service-auth token from the user's PDS for one call (`lxm`) at one service (`aud`). */
export async function getServiceAuth(pds: FetchHandler, aud: string, lxm: string): Promise<string> {
  const out = await xrpcQuery(pds, 'com.atproto.server.getServiceAuth', { aud, lxm })
  const token = (out as { token?: unknown } | null)?.token
  if (typeof token !== 'string' || token.length > 8192)
    throw new Error('getServiceAuth returned no token')
  return token
}

/** This device's key for `did`: loaded from IndexedDB, or made (non-extractable) and saved. */
export async function ensureDeviceKey(
  did: Did,
  now: () => Date = () => new Date(),
): Promise<EnrolledDevice> {
  try {
    const existing = await loadDeviceKey(did)
    if (existing) return { key: await deviceKeyFromKeyPair(existing.keyPair), stored: existing }
    const { key, keyPair } = await generateDeviceKey({ extractable: false })
    const stored: StoredDeviceKey = {
      did,
      keyPair,
      keyId: key.keyId,
      deviceId: key.deviceId,
      createdAt: now().toISOString(),
      published: false,
      registered: false,
    }
    await saveDeviceKey(stored)
    return { key, stored }
  } catch (cause) {
    throw new EnrolmentError(
      'key',
      'Could not create or load this device’s key (is storage available?)',
      { cause },
    )
  }
}

/** Publishes the binding record and registers with the keyserver, whichever is not done yet. */
export async function enrolDevice(
  deps: EnrolDeps,
  device: EnrolledDevice,
  onStep?: (step: EnrolStep) => void,
): Promise<EnrolledDevice> {
  let { stored } = device
  const { key } = device

  if (!stored.published) {
    onStep?.('binding')
    try {
      await xrpcProcedure(deps.pds, 'com.atproto.repo.putRecord', {
        repo: deps.did,
        collection: DEVICE_COLLECTION,
        rkey: key.deviceId,
        record: deviceRecord(key, deps.deviceName, stored.createdAt),
      })
    } catch (cause) {
      throw new EnrolmentError(
        'binding',
        'Could not publish this device’s binding record to your PDS',
        { cause },
      )
    }
    stored = { ...stored, published: true }
    await saveDeviceKey(stored)
  }

  if (!stored.registered) {
    onStep?.('keyserver')
    try {
      const token = await getServiceAuth(
        deps.pds,
        keyserverAudience(deps.keyserverDid),
        LXM_REGISTER_DEVICE,
      )
      await xrpcProcedure(
        serviceFetchHandler(deps.keyserverUrl, deps.fetch),
        LXM_REGISTER_DEVICE,
        { key: key.keyId, deviceId: key.deviceId },
        { authorization: `Bearer ${token}` },
      )
    } catch (cause) {
      throw new EnrolmentError('keyserver', 'Could not register this device with the keyserver', {
        cause,
      })
    }
    stored = { ...stored, registered: true }
    await saveDeviceKey(stored)
  }
  return { key, stored }
}

/**
 * Whether the user's repo still binds this key. `absent` only on the PDS's explicit
 * answer (record not found, or a different key under our rkey); any failure to ask
 * (offline, PDS down) is `unknown`, never a reason to drop the device.
 */
export async function bindingStatus(
  deps: Pick<EnrolDeps, 'did' | 'pds'>,
  key: Pick<DeviceKey, 'keyId' | 'deviceId'>,
): Promise<'present' | 'absent' | 'unknown'> {
  try {
    const out = await xrpcQuery(deps.pds, 'com.atproto.repo.getRecord', {
      repo: deps.did,
      collection: DEVICE_COLLECTION,
      rkey: key.deviceId,
    })
    const value = (out as { value?: { key?: unknown } } | null)?.value
    return value?.key === key.keyId ? 'present' : 'absent'
  } catch (err) {
    if (err instanceof XrpcError && err.error === 'RecordNotFound') return 'absent'
    return 'unknown'
  }
}

/**
 * Removes this device from the account: the keyserver stops serving the key, the
 * binding record is deleted (which alone already makes every honest peer and the
 * keyserver drop it), and the private key is erased from this browser.
 */
export async function forgetDevice(deps: EnrolDeps): Promise<void> {
  const stored = await loadDeviceKey(deps.did)
  if (!stored) return
  if (stored.registered) {
    const token = await getServiceAuth(
      deps.pds,
      keyserverAudience(deps.keyserverDid),
      LXM_REVOKE_DEVICE,
    )
    await xrpcProcedure(
      serviceFetchHandler(deps.keyserverUrl, deps.fetch),
      LXM_REVOKE_DEVICE,
      { deviceId: stored.deviceId },
      { authorization: `Bearer ${token}` },
    )
  }
  await xrpcProcedure(deps.pds, 'com.atproto.repo.deleteRecord', {
    repo: deps.did,
    collection: DEVICE_COLLECTION,
    rkey: stored.deviceId,
  })
  await deleteDeviceKey(deps.did)
}

/** A readable name for the binding record, e.g. "Chrome on Linux". No fingerprinting detail. */
export function describeDevice(userAgent: string): string {
  const browser = /Edg\//.test(userAgent)
    ? 'Edge'
    : /Firefox\//.test(userAgent)
      ? 'Firefox'
      : /Chrom(e|ium)\//.test(userAgent)
        ? 'Chrome'
        : /Safari\//.test(userAgent)
          ? 'Safari'
          : 'Browser'
  const os = /Android/.test(userAgent)
    ? 'Android'
    : /iPhone|iPad/.test(userAgent)
      ? 'iOS'
      : /Mac OS X/.test(userAgent)
        ? 'macOS'
        : /Windows/.test(userAgent)
          ? 'Windows'
          : /Linux/.test(userAgent)
            ? 'Linux'
            : 'unknown system'
  return `${browser} on ${os}`
}
