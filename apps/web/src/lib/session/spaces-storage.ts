// Where this device keeps an account's spaces, and how to erase them. Kept apart from
// spaces-client.ts so erasing does not load the sync package.
import type { Did } from '@hearth/identity'

export function spacesDatabaseName(did: Did): string {
  return `hearth-spaces:${did}`
}

/**
 * Deletes the account's spaces (documents, outbox, followed spaces) and read markers from
 * this browser. Call after the client is closed; other tabs still holding the database
 * delay the deletion until they close it.
 */
export function eraseSpacesData(did: Did): Promise<void> {
  localStorage.removeItem(`hearth:read:${did}`)
  return new Promise((resolve) => {
    const request = indexedDB.deleteDatabase(spacesDatabaseName(did))
    request.onsuccess = () => resolve()
    request.onerror = () => resolve()
    request.onblocked = () => resolve()
  })
}
