import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { buildEmojiTables } from '../../../scripts/emoji-data.ts'
import { completeShortcode, emojiForShortcode, QUICK_REACTIONS } from './shortcodes.ts'

describe('emoji tables', () => {
  it('are what scripts/emoji-data.ts makes from the installed emojibase-data', () => {
    const tables = buildEmojiTables()
    expect(readFileSync(new URL('./shortcodes.json', import.meta.url), 'utf8')).toBe(
      tables.shortcodes,
    )
    expect(readFileSync(new URL('./picker.json', import.meta.url), 'utf8')).toBe(tables.picker)
  })

  it('know the usual shortcodes and complete partial ones', () => {
    expect(emojiForShortcode('smile')).toBe('😄')
    expect(emojiForShortcode('tada')).toBe('🎉')
    expect(completeShortcode('thumbs').map((m) => m.code)).toContain('thumbsup')
    expect(completeShortcode('s')).toEqual([])
    expect(QUICK_REACTIONS).toHaveLength(16)
    expect(new Set(QUICK_REACTIONS).size).toBe(16)
  })
})
