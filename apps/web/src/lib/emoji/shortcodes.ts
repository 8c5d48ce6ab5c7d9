// Emoji shortcodes (`:smile:` → 😄), from the generated table (scripts/emoji-data.ts).
// Lookups go through a Map: a message saying `:__proto__:` or `:constructor:` must find
// nothing, never a property of Object.prototype (S16).

import table from './shortcodes.json'

const SHORTCODES: ReadonlyMap<string, string> = new Map(table as [string, string][])

/** Shortcode names: what GitHub's set uses (letters, digits, `_`, `+`, `-`). */
const SHORTCODE = /:([a-z0-9_+-]{1,64}):/g

export function emojiForShortcode(code: string): string | undefined {
  return SHORTCODES.get(code)
}

/** Replaces every known `:shortcode:` in plain text; unknown ones stay as typed. */
export function replaceShortcodes(text: string): string {
  if (!text.includes(':')) return text
  return text.replace(SHORTCODE, (whole, code: string) => SHORTCODES.get(code) ?? whole)
}

export interface ShortcodeMatch {
  code: string
  emoji: string
}

/** Completions for a partly typed shortcode (`smi` → smile, smiley, ...), prefix matches first. */
export function completeShortcode(prefix: string, limit = 8): ShortcodeMatch[] {
  const p = prefix.toLowerCase()
  if (p.length < 2) return []
  const starts: ShortcodeMatch[] = []
  const contains: ShortcodeMatch[] = []
  for (const [code, emoji] of SHORTCODES) {
    if (code.startsWith(p)) starts.push({ code, emoji })
    else if (code.includes(p)) contains.push({ code, emoji })
    if (starts.length >= limit) break
  }
  return [...starts, ...contains].slice(0, limit)
}

/** The 16 reactions of the quick picker. */
export const QUICK_REACTIONS: readonly string[] = [
  '👍',
  '👎',
  '❤️',
  '😂',
  '😮',
  '😢',
  '😡',
  '🎉',
  '🙏',
  '👀',
  '🔥',
  '✅',
  '❌',
  '🤔',
  '🚀',
  '💯',
]
