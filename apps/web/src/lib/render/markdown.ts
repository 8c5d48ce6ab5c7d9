// Untrusted message text → safe HTML. Two independent layers:
//  1. marked renders markdown with raw HTML *escaped* (it is shown as typed, never parsed),
//     images turned into plain links (no remote images: they would leak who reads what),
//     and task-list checkboxes as text;
//  2. DOMPurify then keeps only a strict allow-list of tags and attributes, and links only
//     with http(s) or mailto targets, opened in a new tab without referrer or opener.
// The result is inserted with {@html}; the strict CSP (no inline script, no inline
// handlers) is the third layer. S14 is tested against a corpus of payloads
// (xss-corpus.ts) in jsdom here and in Chromium by the browser tests.

import createDOMPurify from 'dompurify'
import type { Config, WindowLike } from 'dompurify'
import { Marked } from 'marked'
import type { Tokens } from 'marked'
import { replaceShortcodes } from '../emoji/shortcodes.ts'

export const ALLOWED_TAGS = [
  'p',
  'br',
  'strong',
  'em',
  'del',
  'code',
  'pre',
  'blockquote',
  'ul',
  'ol',
  'li',
  'a',
  'h1',
  'h2',
  'h3',
  'h4',
  'h5',
  'h6',
  'hr',
  'table',
  'thead',
  'tbody',
  'tr',
  'th',
  'td',
] as const

export const ALLOWED_ATTR = ['href', 'title', 'start', 'align'] as const

/** The only link targets a message may carry. */
const SAFE_PROTOCOLS = new Set(['http:', 'https:', 'mailto:'])
export const LINK_REL = 'noopener noreferrer nofollow'

/** Message text is capped by the protocol (16 KiB); a longer string is cut, never parsed whole. */
const MAX_RENDER_CHARS = 20_000

function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;')
}

export function safeHref(href: string): string | null {
  let url: URL
  try {
    url = new URL(href)
  } catch {
    return null
  }
  return SAFE_PROTOCOLS.has(url.protocol) ? url.href : null
}

function createMarked(): Marked {
  return new Marked({
    gfm: true,
    breaks: true,
    async: false,
    renderer: {
      // Raw HTML in markdown is text, shown as typed.
      html: ({ text }: Tokens.HTML | Tokens.Tag) => escapeHtml(text),
      // No remote images in messages: an image becomes a link to it (kept only if http(s)).
      image({ href, text }: Tokens.Image) {
        const label = escapeHtml(text || href)
        const safe = safeHref(href)
        return safe ? `<a href="${escapeHtml(safe)}">${label}</a>` : label
      },
      checkbox: ({ checked }: Tokens.Checkbox) => (checked ? '☑ ' : '☐ '),
    },
    walkTokens(token) {
      // Shortcodes in prose only: code spans and blocks keep `:smile:` as typed.
      if (token.type === 'text' && !('tokens' in token && token.tokens)) {
        token.text = replaceShortcodes(token.text)
      }
    },
  })
}

export interface MessageRenderer {
  /** Markdown → sanitised HTML, safe to insert into the page. */
  render(text: string): string
}

export function createMessageRenderer(win: WindowLike): MessageRenderer {
  const purify = createDOMPurify(win)
  if (!purify.isSupported) throw new Error('DOMPurify cannot run in this environment')
  purify.addHook('afterSanitizeAttributes', (node) => {
    if (node.nodeName !== 'A') return
    const el = node as Element
    const href = el.getAttribute('href')
    const safe = href === null ? null : safeHref(href)
    if (safe === null) el.removeAttribute('href')
    else el.setAttribute('href', safe)
    el.setAttribute('target', '_blank')
    el.setAttribute('rel', LINK_REL)
  })
  const marked = createMarked()
  const config: Config = {
    ALLOWED_TAGS: [...ALLOWED_TAGS],
    ALLOWED_ATTR: [...ALLOWED_ATTR],
    ALLOWED_URI_REGEXP: /^(?:https?|mailto):/i,
    ALLOW_DATA_ATTR: false,
    ALLOW_ARIA_ATTR: false,
    ALLOW_UNKNOWN_PROTOCOLS: false,
    KEEP_CONTENT: true,
    RETURN_TRUSTED_TYPE: false,
  }
  return {
    render(text: string): string {
      const html = marked.parse(text.slice(0, MAX_RENDER_CHARS)) as string
      return purify.sanitize(html, config) as string
    },
  }
}

let shared: MessageRenderer | null = null

/** The page's renderer (one DOMPurify instance for the window). */
export function renderMessage(text: string): string {
  shared ??= createMessageRenderer(window)
  return shared.render(text)
}
