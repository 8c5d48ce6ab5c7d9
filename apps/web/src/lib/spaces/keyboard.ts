// The chat's keyboard shortcuts (Discord's, so hands already know them), as a pure map
// from a key event to an intent; the shell carries the intents out.

export type ShortcutIntent =
  | { kind: 'channel'; step: -1 | 1 }
  | { kind: 'unread-channel'; step: -1 | 1 }
  | { kind: 'space'; step: -1 | 1 }
  | { kind: 'focus-composer' }
  | { kind: 'help' }

export interface KeyLike {
  key: string
  altKey: boolean
  ctrlKey: boolean
  metaKey: boolean
  shiftKey: boolean
}

export function shortcutFor(e: KeyLike): ShortcutIntent | null {
  const step = e.key === 'ArrowUp' ? -1 : e.key === 'ArrowDown' ? 1 : 0
  if (step !== 0 && e.altKey) {
    if (e.ctrlKey || e.metaKey) return { kind: 'space', step }
    if (e.shiftKey) return { kind: 'unread-channel', step }
    return { kind: 'channel', step }
  }
  if ((e.ctrlKey || e.metaKey) && !e.altKey && e.key === '/') return { kind: 'help' }
  return null
}

export const SHORTCUTS: readonly [string, string][] = [
  ['Alt + ↑ / ↓', 'Previous / next channel or thread'],
  ['Alt + Shift + ↑ / ↓', 'Previous / next channel with unread messages'],
  ['Ctrl + Alt + ↑ / ↓', 'Previous / next space'],
  ['↑ in an empty composer', 'Edit your last message'],
  ['Escape', 'Cancel reply or edit; mark the channel read'],
  ['Enter / Shift + Enter', 'Send / new line'],
  ['Home / End in the timeline', 'First / latest message'],
  ['Ctrl + /', 'Show these shortcuts'],
]

/** The next index in a cyclic list, from `current` (or from the edge when not in it). */
export function stepIndex(length: number, current: number, step: -1 | 1): number {
  if (length === 0) return -1
  if (current < 0) return step === 1 ? 0 : length - 1
  return (current + step + length) % length
}
