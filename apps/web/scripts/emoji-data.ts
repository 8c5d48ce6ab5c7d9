// Generates the two emoji tables the app ships, from emojibase-data (a maintained data set,
// Unicode 17): shortcodes (GitHub's set, the one Slack/Discord users type) for the composer
// and the renderer, and the full picker's groups, loaded only when the picker opens.
// Only what is used is kept: no skin-tone variants, no tags, no components.
//
//   node apps/web/scripts/emoji-data.ts          # rewrites src/lib/emoji/*.json
//   node apps/web/scripts/emoji-data.ts --check  # exits 1 if they are stale

import { readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

interface CompactEmoji {
  hexcode: string
  label: string
  unicode: string
  group?: number
  order?: number
}

const require = createRequire(import.meta.url)
const compact = require('emojibase-data/en/compact.json') as CompactEmoji[]
const github = require('emojibase-data/en/shortcodes/github.json') as Record<
  string,
  string | string[]
>
const messages = require('emojibase-data/en/messages.json') as {
  groups: { key: string; message: string; order: number }[]
}

/** The component group (skin tones, hair) is not something to send on its own. */
const COMPONENT_GROUP = 2

export function buildEmojiTables(): { shortcodes: string; picker: string } {
  const byHex = new Map(compact.map((e) => [e.hexcode, e]))
  const shortcodes: [string, string][] = []
  const firstCode = new Map<string, string>()
  for (const [hex, codes] of Object.entries(github)) {
    const emoji = byHex.get(hex)
    if (!emoji) continue
    const list = Array.isArray(codes) ? codes : [codes]
    for (const code of list) shortcodes.push([code, emoji.unicode])
    if (list[0]) firstCode.set(hex, list[0])
  }
  shortcodes.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
  const groups = messages.groups
    .filter((g) => g.order !== COMPONENT_GROUP)
    .map((g) => ({
      name: g.message,
      emojis: compact
        .filter((e) => e.group === g.order)
        .sort((a, b) => (a.order ?? 0) - (b.order ?? 0))
        .map((e) => [e.unicode, e.label, firstCode.get(e.hexcode) ?? ''] as const),
    }))
    .filter((g) => g.emojis.length > 0)
  return {
    shortcodes: JSON.stringify(shortcodes) + '\n',
    picker: JSON.stringify(groups) + '\n',
  }
}

const OUT = {
  shortcodes: fileURLToPath(new URL('../src/lib/emoji/shortcodes.json', import.meta.url)),
  picker: fileURLToPath(new URL('../src/lib/emoji/picker.json', import.meta.url)),
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const tables = buildEmojiTables()
  if (process.argv.includes('--check')) {
    const stale = (['shortcodes', 'picker'] as const).filter(
      (k) => readFileSync(OUT[k], 'utf8') !== tables[k],
    )
    if (stale.length > 0) {
      console.error(`stale: ${stale.join(', ')} (run node apps/web/scripts/emoji-data.ts)`)
      process.exit(1)
    }
  } else {
    writeFileSync(OUT.shortcodes, tables.shortcodes)
    writeFileSync(OUT.picker, tables.picker)
  }
}
