// This device's signing keys, one per account signed in here, kept in IndexedDB.
// The CryptoKeyPair is stored as a structured clone: a non-extractable private key
// survives that and still signs, yet its bytes can never be read back by script.
//
// One key per DID rather than one per browser, so two accounts signed in on the same
// browser do not publish the same device key (which would link them publicly).

import type { Did } from '@hearth/identity'

export interface StoredDeviceKey {
  did: Did
  keyPair: CryptoKeyPair
  keyId: string
  deviceId: string
  createdAt: string
  /** The binding record is in the user's repo. */
  published: boolean
  /** The keyserver has accepted the key. */
  registered: boolean
}

const DB_NAME = 'hearth-device'
const DB_VERSION = 1
const STORE = 'device-keys'

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result)
    req.onerror = () => reject(req.error ?? new Error('IndexedDB request failed'))
  })
}

function openDb(): Promise<IDBDatabase> {
  const req = indexedDB.open(DB_NAME, DB_VERSION)
  req.onupgradeneeded = () => {
    const db = req.result
    if (!db.objectStoreNames.contains(STORE)) db.createObjectStore(STORE, { keyPath: 'did' })
  }
  return request(req)
}

async function withStore<T>(
  mode: IDBTransactionMode,
  fn: (store: IDBObjectStore) => IDBRequest<T>,
): Promise<T> {
  const db = await openDb()
  try {
    const tx = db.transaction(STORE, mode)
    const result = await request(fn(tx.objectStore(STORE)))
    // Resolve only once the transaction committed, so "saved" means durable.
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve()
      tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'))
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'))
    })
    return result
  } finally {
    db.close()
  }
}

function isStoredDeviceKey(value: unknown): value is StoredDeviceKey {
  if (typeof value !== 'object' || value === null) return false
  const v = value as Record<string, unknown>
  const pair = v.keyPair as Record<string, unknown> | undefined
  return (
    typeof v.did === 'string' &&
    typeof v.keyId === 'string' &&
    typeof v.deviceId === 'string' &&
    typeof v.createdAt === 'string' &&
    typeof v.published === 'boolean' &&
    typeof v.registered === 'boolean' &&
    typeof pair === 'object' &&
    pair !== null &&
    pair.privateKey instanceof CryptoKey &&
    pair.publicKey instanceof CryptoKey
  )
}

export async function loadDeviceKey(did: Did): Promise<StoredDeviceKey | null> {
  const value: unknown = await withStore('readonly', (store) => store.get(did))
  // An old or damaged entry is treated as absent: a fresh key gets made and bound.
  return isStoredDeviceKey(value) ? value : null
}

export async function saveDeviceKey(entry: StoredDeviceKey): Promise<void> {
  await withStore('readwrite', (store) => store.put(entry))
}

export async function deleteDeviceKey(did: Did): Promise<void> {
  await withStore('readwrite', (store) => store.delete(did))
}
