// Event ids as the UI checks them (URLs, stored read markers). The same rule as
// @hearth/sync's isEventId, kept here so the app shell does not load the sync package
// (and Automerge's wasm) before it can paint.
import type { EventId } from '@hearth/sync'

const EVENT_ID = /^[a-z2-7]{52}$/

export function isEventId(value: unknown): value is EventId {
  return typeof value === 'string' && EVENT_ID.test(value)
}
