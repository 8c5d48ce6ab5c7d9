import {
  deviceKeyFromKeyPair,
  generateDeviceKey,
  isP256KeyId,
  type DeviceKey,
} from '@hearth/identity'
import { z } from 'zod'
import { readState, writeState } from './home.ts'

const DEVICE_FILE = 'device.json'

const deviceFile = z.object({
  keyId: z.string().refine(isP256KeyId, 'not a P-256 did:key'),
  // The private key as a JWK. It never leaves this directory (0600), like a browser's
  // non-extractable key never leaves its IndexedDB: a terminal has no keystore of its own.
  privateJwk: z.looseObject({
    kty: z.literal('EC'),
    crv: z.literal('P-256'),
    d: z.string(),
    x: z.string(),
    y: z.string(),
  }),
})

const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const

/** This CLI's device key: made once per HEARTH_HOME, then reloaded. */
export async function loadOrCreateDeviceKey(home: string): Promise<DeviceKey> {
  const existing = await loadDeviceKey(home)
  if (existing) return existing
  const { key, keyPair } = await generateDeviceKey({ extractable: true })
  const privateJwk = await crypto.subtle.exportKey('jwk', keyPair.privateKey)
  await writeState(home, DEVICE_FILE, { keyId: key.keyId, privateJwk })
  return key
}

/** The device key `hearth login` made, or null before the first login. */
export async function loadDeviceKey(home: string): Promise<DeviceKey | null> {
  const stored = await readState(home, DEVICE_FILE, deviceFile)
  if (stored) {
    const { d: _d, key_ops: _ops, ...publicJwk } = stored.privateJwk as JsonWebKey
    const privateKey = await crypto.subtle.importKey(
      'jwk',
      stored.privateJwk as JsonWebKey,
      ECDSA_P256,
      false,
      ['sign'],
    )
    const publicKey = await crypto.subtle.importKey('jwk', publicJwk, ECDSA_P256, true, ['verify'])
    const key = await deviceKeyFromKeyPair({ privateKey, publicKey })
    if (key.keyId !== stored.keyId)
      throw new Error(`${DEVICE_FILE} holds a key that does not match its key id`)
    return key
  }
  return null
}

export async function readDeviceKeyId(home: string): Promise<string | null> {
  return (await readState(home, DEVICE_FILE, deviceFile))?.keyId ?? null
}
