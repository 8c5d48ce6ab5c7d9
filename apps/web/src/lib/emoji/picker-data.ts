// The full picker's table: loaded on first use (its own chunk), never with the app shell.

export interface PickerEmoji {
  emoji: string
  label: string
  shortcode: string
}

export interface PickerGroup {
  name: string
  emojis: PickerEmoji[]
}

let loading: Promise<PickerGroup[]> | null = null

export function loadPickerGroups(): Promise<PickerGroup[]> {
  loading ??= import('./picker.json').then((module) =>
    (module.default as { name: string; emojis: [string, string, string][] }[]).map((g) => ({
      name: g.name,
      emojis: g.emojis.map(([emoji, label, shortcode]) => ({ emoji, label, shortcode })),
    })),
  )
  return loading
}

/** Emojis whose label or shortcode contains every word of the query. */
export function searchEmoji(groups: PickerGroup[], query: string, limit = 200): PickerEmoji[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean)
  if (words.length === 0) return []
  const out: PickerEmoji[] = []
  for (const group of groups)
    for (const e of group.emojis) {
      const hay = `${e.label} ${e.shortcode}`
      if (words.every((w) => hay.includes(w))) {
        out.push(e)
        if (out.length >= limit) return out
      }
    }
  return out
}
