import { describe, expect, it } from 'vitest'
import { cleanName, MAX_SHOWN_NAME, shortDid } from './names.ts'
import { XSS_CORPUS } from './xss-corpus.ts'

// Bidi controls, zero-width and format characters, C0/C1 controls.
/* eslint-disable no-control-regex -- matching control characters is the point */
const INVISIBLE_OR_CONTROL =
  /[\u0000-\u001F\u007F-\u009F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u206F\uFEFF]/u
/* eslint-enable no-control-regex */

describe('names shown in the UI, S15', () => {
  it('strips bidi overrides and zero-width characters, so a name cannot pass for another', () => {
    expect(cleanName('ali\u200Bce')).toBe('alice')
    expect(cleanName('\u202Ealice')).toBe('alice')
    expect(cleanName('alice\u202E\u2066ecila\u2069')).toBe('aliceecila')
    expect(cleanName('\uFEFFalice\u2060')).toBe('alice')
  })

  it('keeps a name on one line, so it cannot fake a system line under it', () => {
    expect(cleanName('alice\n\nbob joined the space')).toBe('alice bob joined the space')
    expect(cleanName('  a \t b  ')).toBe('a b')
  })

  it('caps the length', () => {
    const long = cleanName('x'.repeat(5000))
    expect(Array.from(long)).toHaveLength(MAX_SHOWN_NAME)
    expect(long.endsWith('…')).toBe(true)
  })

  it('leaves no invisible or control character in any corpus name', () => {
    for (const p of XSS_CORPUS) expect(cleanName(p.text)).not.toMatch(INVISIBLE_OR_CONTROL)
  })

  it('shortens DIDs keeping both ends', () => {
    expect(shortDid('did:plc:abcdefghijklmnopqrstuvwx')).toBe('did:plc:abcdef…uvwx')
    expect(shortDid('did:web:example.com')).toBe('did:web:example.com')
  })
})
