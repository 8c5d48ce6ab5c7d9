// Names anyone can set (display names, space, channel and thread names) are shown as
// plain text (Svelte escapes it) inside <bdi>, after removing what could make one name
// pass for another or spill into the UI around it (S15): bidi overrides and isolates,
// zero-width characters, other control and format characters, runs of whitespace.
// The author shown beside a name always comes from the verified DID (see authorLabel).

// Bidi embeddings/overrides/isolates, LRM/RLM/ALM, zero-width space/joiners, word joiner,
// invisible operators, BOM, Mongolian vowel separator, soft hyphen, Hangul fillers, tags.
/* eslint-disable no-misleading-character-class -- variation selectors are listed on purpose */
const INVISIBLE =
  /[\u00AD\u061C\u115F\u1160\u180E\u200B-\u200F\u202A-\u202E\u2060-\u206F\u3164\uFE00-\uFE0E\uFEFF\uFFA0\u{E0000}-\u{E007F}]/gu
// C0/C1 controls (newlines and tabs included: a name is one line).
/* eslint-disable no-control-regex -- matching control characters is the point */
const CONTROL = /[\u0000-\u001F\u007F-\u009F]/g
/* eslint-enable no-misleading-character-class, no-control-regex */
const SPACES = /[\s\u2800]+/g

export const MAX_SHOWN_NAME = 64

/** A name as it may be shown: visible characters only, one line, capped. */
export function cleanName(raw: string | null | undefined, max = MAX_SHOWN_NAME): string {
  if (!raw) return ''
  const cleaned = raw
    .normalize('NFC')
    .replace(INVISIBLE, '')
    .replace(CONTROL, ' ')
    .replace(SPACES, ' ')
    .trim()
  const chars = Array.from(cleaned)
  return chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : cleaned
}

/** `did:plc:abcd…wxyz`: short but still distinct enough to tell two DIDs apart at a glance. */
export function shortDid(did: string): string {
  const i = did.lastIndexOf(':')
  const method = did.slice(0, i + 1)
  const id = did.slice(i + 1)
  return id.length > 12 ? `${method}${id.slice(0, 6)}…${id.slice(-4)}` : did
}
