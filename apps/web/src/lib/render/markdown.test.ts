import { JSDOM } from 'jsdom'
import { describe, expect, it } from 'vitest'
import { emojiForShortcode, replaceShortcodes } from '../emoji/shortcodes.ts'
import { ALLOWED_ATTR, ALLOWED_TAGS, createMessageRenderer, LINK_REL } from './markdown.ts'
import { XSS_CORPUS } from './xss-corpus.ts'

const { window } = new JSDOM('<!doctype html><body></body>')
const renderer = createMessageRenderer(window as unknown as Window & typeof globalThis)

function parse(html: string): HTMLTemplateElement {
  const template = window.document.createElement('template')
  template.innerHTML = html
  return template
}

/** Every way the output could run script or load something: empty when it is inert. */
function problems(html: string): string[] {
  const found: string[] = []
  const template = parse(html)
  const allowedTags = new Set<string>(ALLOWED_TAGS)
  const allowedAttrs = new Set<string>([...ALLOWED_ATTR, 'target', 'rel'])
  for (const el of template.content.querySelectorAll('*')) {
    const tag = el.localName
    if (!allowedTags.has(tag)) found.push(`element <${tag}>`)
    if (el.namespaceURI !== 'http://www.w3.org/1999/xhtml') found.push(`namespace ${tag}`)
    for (const attr of el.attributes) {
      if (!allowedAttrs.has(attr.name)) found.push(`attribute ${attr.name} on <${tag}>`)
      if (/^on/i.test(attr.name)) found.push(`handler ${attr.name}`)
      if (/^\s*(javascript|vbscript|data|file|blob):/i.test(attr.value.replace(/[\s\0]/g, '')))
        found.push(`url ${attr.value}`)
    }
    if (tag === 'a') {
      const href = el.getAttribute('href')
      if (href !== null && !/^(https?|mailto):/.test(href)) found.push(`href ${href}`)
      if (el.getAttribute('rel') !== LINK_REL) found.push('link without rel')
      if (el.getAttribute('target') !== '_blank') found.push('link without target')
    }
  }
  // Parsing is a fixed point after the first pass (no mutation XSS on re-insertion).
  if (parse(template.innerHTML).innerHTML !== template.innerHTML)
    found.push('output mutates when parsed again')
  return found
}

describe('message rendering (markdown + DOMPurify), S14', () => {
  it('has a corpus of at least 200 attack payloads', () => {
    expect(XSS_CORPUS.length).toBeGreaterThanOrEqual(200)
    expect(new Set(XSS_CORPUS.map((p) => p.id)).size).toBe(XSS_CORPUS.length)
  })

  it.each(XSS_CORPUS.map((p) => [p.id, p.text] as const))('renders %s inertly', (_id, text) => {
    const html = renderer.render(text)
    expect(problems(html)).toEqual([])
    expect(html).not.toMatch(/<(script|img|svg|math|iframe|object|embed|style|form|input)\b/i)
  })

  it('renders markdown: bold, emphasis, code, lists, quotes', () => {
    expect(renderer.render('a **bold** word')).toBe('<p>a <strong>bold</strong> word</p>\n')
    expect(renderer.render('_em_ and `code`')).toBe('<p><em>em</em> and <code>code</code></p>\n')
    expect(renderer.render('- one\n- two')).toContain('<li>one</li>')
    expect(renderer.render('> quoted')).toContain('<blockquote>')
  })

  it('makes links open safely in a new tab, and drops other schemes but keeps the text', () => {
    const html = renderer.render('[docs](https://example.com/a?b=1)')
    expect(html).toBe(
      `<p><a href="https://example.com/a?b=1" target="_blank" rel="${LINK_REL}">docs</a></p>\n`,
    )
    expect(renderer.render('mail <mailto:a@example.com>')).toContain('href="mailto:a@example.com"')
    const js = renderer.render('[click me](javascript:hearthPwned())')
    expect(js).not.toContain('href')
    expect(js).toContain('click me')
  })

  it('shows raw HTML as text rather than dropping it', () => {
    const html = renderer.render('<b>hi</b> <script>x()</script>')
    expect(parse(html).content.textContent).toContain('<b>hi</b> <script>x()</script>')
  })

  it('never shows remote images: an http(s) image becomes a link, others only text', () => {
    const html = renderer.render('![cat](https://example.com/cat.png)')
    expect(html).not.toContain('<img')
    expect(html).toContain('<a href="https://example.com/cat.png"')
    expect(html).toContain('>cat</a>')
    expect(renderer.render('![svg](data:image/svg+xml,<svg onload=x()>)')).not.toContain('href')
  })

  it('replaces emoji shortcodes in prose, not in code', () => {
    expect(renderer.render('hi :smile: :+1:')).toBe(`<p>hi 😄 ${emojiForShortcode('+1')}</p>\n`)
    expect(renderer.render('`:smile:`')).toBe('<p><code>:smile:</code></p>\n')
    expect(renderer.render(':no_such_code:')).toBe('<p>:no_such_code:</p>\n')
  })
})

describe('emoji shortcodes, S16', () => {
  it('finds nothing for prototype keys, and pollutes nothing', () => {
    for (const key of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'prototype'])
      expect(emojiForShortcode(key)).toBeUndefined()
    expect(replaceShortcodes(':__proto__: :constructor:')).toBe(':__proto__: :constructor:')
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })
})
