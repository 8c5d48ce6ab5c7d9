import { describe, expect, it } from 'vitest'
import { shortcutFor, stepIndex } from './keyboard.ts'

const key = (
  k: string,
  mods: Partial<Record<'alt' | 'ctrl' | 'meta' | 'shift', boolean>> = {},
) => ({
  key: k,
  altKey: !!mods.alt,
  ctrlKey: !!mods.ctrl,
  metaKey: !!mods.meta,
  shiftKey: !!mods.shift,
})

describe('keyboard shortcuts', () => {
  it('maps Alt+arrows to channels, with Shift to unread ones, with Ctrl to spaces', () => {
    expect(shortcutFor(key('ArrowDown', { alt: true }))).toEqual({ kind: 'channel', step: 1 })
    expect(shortcutFor(key('ArrowUp', { alt: true, shift: true }))).toEqual({
      kind: 'unread-channel',
      step: -1,
    })
    expect(shortcutFor(key('ArrowDown', { alt: true, ctrl: true }))).toEqual({
      kind: 'space',
      step: 1,
    })
    expect(shortcutFor(key('ArrowDown'))).toBeNull()
    expect(shortcutFor(key('/', { ctrl: true }))).toEqual({ kind: 'help' })
  })

  it('steps cyclically', () => {
    expect(stepIndex(3, 2, 1)).toBe(0)
    expect(stepIndex(3, 0, -1)).toBe(2)
    expect(stepIndex(3, -1, 1)).toBe(0)
    expect(stepIndex(3, -1, -1)).toBe(2)
    expect(stepIndex(0, 0, 1)).toBe(-1)
  })
})
