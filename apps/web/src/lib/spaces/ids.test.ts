import { isEventId as syncIsEventId } from '@hearth/sync'
import { describe, expect, it } from 'vitest'
import { isEventId } from './ids.ts'

describe('isEventId', () => {
  it('agrees with @hearth/sync', () => {
    for (const value of [
      'a'.repeat(52),
      'a'.repeat(51),
      `${'a'.repeat(51)}1`,
      'A'.repeat(52),
      42,
      null,
    ])
      expect(isEventId(value)).toBe(syncIsEventId(value))
  })
})
