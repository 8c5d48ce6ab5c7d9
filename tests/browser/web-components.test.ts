// The chat components in real Chromium, on reducer-backed spaces (the component harness,
// apps/web/src/harness: a test-only build, never shipped), under the app's strict CSP:
// the S14-S16 corpus everywhere text goes, the virtualised timeline at 100k messages,
// composing and keyboard use, and axe-core on the main screens.
import { AxeBuilder } from '@axe-core/playwright'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { WebServer } from '../../apps/web/serve.ts'
import { XSS_CORPUS } from '../../apps/web/src/lib/render/xss-corpus.ts'
import { launchChromium } from './chromium.ts'
import { buildHarness, goTo, openHarness, serveHarness } from './web-harness.ts'

let browser: Browser
let web: WebServer

beforeAll(async () => {
  buildHarness()
  web = await serveHarness()
  browser = await launchChromium()
})

afterAll(async () => {
  await browser?.close()
  await web?.close()
})

// Bidi controls, zero-width and other invisible format characters.
const INVISIBLE = /[\u061C\u200B-\u200F\u202A-\u202E\u2060-\u2069\uFEFF]/

/** Scrolls a timeline from top to bottom and returns the ids of every message rendered. */
function sweepTimeline(page: Page, selector: string): Promise<string[]> {
  return page.evaluate(async (sel) => {
    const el = document.querySelector<HTMLElement>(`${sel} [data-testid=timeline]`)
    if (!el) throw new Error(`no timeline in ${sel}`)
    const frame = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))
    const seen = new Set<string>()
    el.scrollTop = 0
    await frame()
    for (let i = 0; i < 10_000; i++) {
      for (const a of el.querySelectorAll<HTMLElement>('article[data-id]')) seen.add(a.dataset.id!)
      if (el.scrollTop + el.clientHeight >= el.scrollHeight - 2) break
      el.scrollTop += Math.max(50, el.clientHeight * 0.7)
      await frame()
    }
    return [...seen]
  }, selector)
}

/** Everything in the page that could run script or load a resource, outside our own bundle. */
function activeContent(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const found: string[] = []
    for (const el of document.querySelectorAll('#app *')) {
      const tag = el.localName
      if (
        [
          'script',
          'iframe',
          'object',
          'embed',
          'img',
          'svg',
          'math',
          'style',
          'link',
          'base',
          'meta',
          'form',
          'video',
          'audio',
          'template',
        ].includes(tag)
      )
        if (!(
          tag === 'form' &&
          el.closest('[data-testid=chat-shell]') &&
          !el.closest('[data-testid=message-body]')
        ))
          found.push(`<${tag}> ${el.outerHTML.slice(0, 80)}`)
      for (const attr of el.attributes) {
        if (/^on/i.test(attr.name)) found.push(`${attr.name} on <${tag}>`)
        if (/^\s*(javascript|vbscript|data):/i.test(attr.value))
          found.push(`${attr.name}=${attr.value}`)
        // Our own spacers are sized through the CSSOM (allowed by the CSP), nothing else.
        if (attr.name === 'style' && !el.classList.contains('spacer'))
          found.push(`style attribute on <${tag}>`)
      }
    }
    return found
  })
}

describe('the S14-S16 corpus in the chat, under the CSP', () => {
  it(`renders ${XSS_CORPUS.length} payloads as messages, names, channel and space names: inert`, async () => {
    const h = await openHarness(browser, web, 'corpus')
    try {
      const { page, ids } = h
      await goTo(page, ids.space!, ids.general!, ids.thread!)
      await page.getByTestId('thread-pane').waitFor()
      await page.locator('[data-testid=conversation] article[data-id]').first().waitFor()

      // Every payload message was rendered at some point of a full sweep of the timeline.
      const seen = new Set(await sweepTimeline(page, '[data-testid=conversation]'))
      const missing = XSS_CORPUS.filter((p) => !seen.has(ids[`message:${p.id}`]!)).map((p) => p.id)
      expect(missing).toEqual([])

      // Channel names (every payload), the rail's space names, members' display names.
      expect(await page.locator('[data-testid=channel-list] a').count()).toBeGreaterThan(
        XSS_CORPUS.length,
      )
      expect(await page.locator('[data-testid=spaces-rail] a').count()).toBe(11)
      expect(await page.locator('[data-testid=member]').count()).toBe(16)

      // Authors: a chosen name never stands alone, the DID is beside it; nothing invisible.
      const authors = await page.locator('[data-testid=author]').allTextContents()
      expect(authors.length).toBeGreaterThan(10)
      for (const a of authors) {
        expect(a).toContain('did:plc:')
        expect(a).not.toMatch(INVISIBLE)
      }
      const names = await page
        .locator(
          '[data-testid=member-list] bdi, [data-testid=channel-list] bdi, [data-testid=space-name]',
        )
        .allTextContents()
      for (const n of names) expect(n).not.toMatch(INVISIBLE)

      expect(await activeContent(page)).toEqual([])
      const traps = await h.traps()
      expect(traps.pwned).toBe(0)
      expect(traps.violations).toEqual([])
      expect(traps.errors).toEqual([])
      expect(h.dialogs).toEqual([])
      expect(h.external).toEqual([])
      // S16: nothing reached Object.prototype.
      expect(
        await page.evaluate(() => ({
          polluted: ({} as Record<string, unknown>).polluted,
          keys: Object.getOwnPropertyNames(Object.prototype).length,
        })),
      ).toEqual({ polluted: undefined, keys: 12 })
    } finally {
      await h.close()
    }
  })
})

describe('the virtualised timeline', () => {
  it('scrolls a 100k-message channel to its first message with a bounded DOM', async () => {
    const h = await openHarness(browser, web, 'big')
    try {
      const { page, ids } = h
      await goTo(page, ids.space!, ids.firehose!)
      const timeline = page.locator('[data-testid=conversation] [data-testid=timeline]')
      const rows = timeline.locator('article[data-id]')
      await page.locator(`article[data-id="${ids.last}"]`).waitFor()
      expect(await rows.first().getAttribute('aria-setsize')).toBe('100000')
      const bounded = async () => {
        expect(await rows.count()).toBeLessThanOrEqual(60)
        expect(await timeline.locator('*').count()).toBeLessThan(3000)
      }
      await bounded()
      await timeline.focus()
      await page.keyboard.press('Home')
      await page.locator(`article[data-id="${ids.first}"]`).waitFor()
      expect(await page.locator('article[aria-posinset="1"]').count()).toBe(1)
      await bounded()
      await page.keyboard.press('End')
      await page.locator(`article[data-id="${ids.last}"]`).waitFor()
      await bounded()
      expect((await h.traps()).violations).toEqual([])
    } finally {
      await h.close()
    }
  })
})

describe('composing, reading and the keyboard', () => {
  it('sends markdown with shortcodes, edits the last message with ↑, replies and reacts', async () => {
    const h = await openHarness(browser, web, 'basic')
    try {
      const { page, ids } = h
      await goTo(page, ids.space!, ids.general!)
      const composer = page.getByTestId('conversation').getByTestId('composer')
      await composer.fill('a **bold** word :smile:')
      await composer.press('Enter')
      const last = page.getByTestId('conversation').locator('article[data-id]').last()
      await expect.poll(() => last.locator('strong').textContent()).toBe('bold')
      expect(await last.getByTestId('message-body').textContent()).toContain('😄')
      expect(await last.getAttribute('data-badge')).toBe('verified')

      // ↑ in the empty composer edits that message.
      await composer.press('ArrowUp')
      await page.getByTestId('composer-editing').waitFor()
      expect(await composer.inputValue()).toBe('a **bold** word :smile:')
      await composer.fill('an _edited_ word')
      await composer.press('Enter')
      await expect.poll(() => last.locator('em').textContent()).toBe('edited')
      expect(await last.textContent()).toContain('(edited)')

      // Reply to alice's first message, then react to it from the quick picker.
      const hello = page.locator(`article[data-id="${ids.hello}"]`)
      await hello.hover()
      await hello.getByRole('button', { name: 'Reply' }).click()
      await page.getByTestId('composer-replying').waitFor()
      await composer.fill('replying now')
      await composer.press('Enter')
      await expect
        .poll(() => last.getByTestId('reply-preview').textContent())
        .toContain('Hello **world**')
      await hello.hover()
      await hello.getByRole('button', { name: 'React' }).click()
      const picker = page.getByTestId('reaction-picker')
      expect(
        await picker.getByRole('group', { name: 'Quick reactions' }).getByRole('button').count(),
      ).toBe(16)
      await picker.getByRole('button', { name: '🔥' }).click()
      await hello.getByRole('button', { name: /🔥: 1, including you/ }).waitFor()
      // The full picker searches names.
      await hello.hover()
      await hello.getByRole('button', { name: 'React' }).click()
      await picker.getByRole('button', { name: 'More emoji…' }).click()
      await picker.getByLabel('Search emoji').fill('avocado')
      await picker.getByRole('button', { name: 'avocado' }).click()
      await hello.getByRole('button', { name: /🥑: 1/ }).waitFor()
      expect((await h.traps()).violations).toEqual([])
    } finally {
      await h.close()
    }
  })

  it('shows badges, delivery, roles, votes and rejected events; switches channel and space by keyboard', async () => {
    const h = await openHarness(browser, web, 'basic')
    try {
      const { page, ids } = h
      await goTo(page, ids.space!, ids.general!)
      await page.locator(`article[data-id="${ids.phone}"]`).waitFor()
      expect(await page.locator(`article[data-id="${ids.hello}"]`).getAttribute('data-badge')).toBe(
        'verified',
      )
      expect(await page.locator(`article[data-id="${ids.phone}"]`).getAttribute('data-badge')).toBe(
        'key-changed',
      )
      expect(
        await page.locator(`article[data-id="${ids.mine}"]`).getAttribute('data-delivery'),
      ).toBe('saved')
      expect(await page.locator(`article[data-id="${ids.typo}"]`).textContent()).toContain(
        '(edited)',
      )
      const roles = await page
        .getByTestId('member')
        .evaluateAll((els) =>
          els.map((e) => `${(e as HTMLElement).dataset.role}/${(e as HTMLElement).dataset.status}`),
        )
      expect(roles.sort()).toEqual([
        'admin/member',
        'member/invited',
        'member/member',
        'moderator/member',
      ])
      expect(await page.getByTestId('rejected-events').textContent()).toContain('not-member')

      // Alt+↓: general → its thread → random; Ctrl+Alt+↓: the next space.
      await page.getByTestId('composer').focus()
      await page.keyboard.press('Alt+ArrowDown')
      await expect.poll(() => page.evaluate(() => location.hash)).toContain(ids.thread!)
      await page.keyboard.press('Alt+ArrowDown')
      await expect.poll(() => page.evaluate(() => location.hash)).toContain(ids.random!)
      await page.keyboard.press('Control+Alt+ArrowDown')
      await expect.poll(() => page.evaluate(() => location.hash)).toContain(ids.club!)
      // A public space alice is not in: she reads, then joins and can write.
      await page.getByRole('button', { name: 'Join space' }).click()
      await page.getByTestId('composer').waitFor()

      // Theme: dark on request.
      await page.getByLabel('Theme').selectOption('dark')
      expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe('dark')
      expect((await h.traps()).violations).toEqual([])
    } finally {
      await h.close()
    }
  })
})

describe('unread messages', () => {
  it('says how many arrived since the last read, and jumps to the first of them', async () => {
    const h = await openHarness(browser, web, 'basic')
    try {
      const { page, ids } = h
      await goTo(page, ids.space!, ids.general!)
      await page.locator(`article[data-id="${ids.mine}"]`).waitFor()
      await goTo(page, ids.space!, ids.random!)
      await page.getByTestId('container-title').filter({ hasText: 'random' }).waitFor()
      // bob writes three messages in #general while alice reads #random.
      const first = await page.evaluate(
        ({ space, general }) => {
          type Local = { as(a: unknown, k: string, b: unknown): string }
          const harness = (
            window as unknown as {
              __harness: {
                backend: { spacesById: Map<string, Local> }
                actors: Record<string, unknown>
              }
            }
          ).__harness
          const s = harness.backend.spacesById.get(space)!
          const bob = harness.actors.bob
          const id = s.as(bob, 'message', { text: 'unread one', channel: general })
          s.as(bob, 'message', { text: 'unread two', channel: general })
          s.as(bob, 'message', { text: 'unread three', channel: general })
          return id
        },
        { space: ids.space!, general: ids.general! },
      )
      const general = page.getByTestId('channel-list').getByRole('link', { name: /general/ })
      await expect.poll(() => general.textContent()).toContain('3')
      // The next channel with unread messages after #random, cyclically: #general.
      await page.keyboard.press('Alt+Shift+ArrowDown')
      await expect.poll(() => page.evaluate(() => location.hash)).toContain(ids.general!)
      const bar = page.getByTestId('unread-bar')
      await expect.poll(() => bar.textContent()).toContain('3 new since you last read')
      await bar.getByRole('button', { name: 'Jump to first unread' }).click()
      await page.locator(`article[data-id="${first}"]`).waitFor()
      expect(await bar.count()).toBe(0)
    } finally {
      await h.close()
    }
  })
})

describe('accessibility (axe-core)', () => {
  for (const colorScheme of ['light', 'dark'] as const) {
    it(`finds no serious violation on the home, space and thread screens (${colorScheme})`, async () => {
      const h = await openHarness(browser, web, 'basic', { colorScheme })
      try {
        const { page, ids } = h
        const serious = async (screen: string) => {
          const result = await new AxeBuilder({ page })
            .withTags(['wcag2a', 'wcag2aa', 'wcag21aa'])
            .analyze()
          return result.violations
            .filter((v) => v.impact === 'serious' || v.impact === 'critical')
            .map((v) => `${screen}: ${v.id} (${v.nodes.length}) ${v.nodes[0]?.target.join(' ')}`)
        }
        await page.getByTestId('space-home').waitFor()
        const found = await serious('home')
        await goTo(page, ids.space!, ids.general!, ids.thread!)
        await page.getByTestId('thread-pane').waitFor()
        found.push(...(await serious('space with thread')))
        expect(found).toEqual([])
      } finally {
        await h.close()
      }
    })
  }
})

describe('the production build', () => {
  it('contains neither the harness nor the attack corpus', () => {
    const build = fileURLToPath(new URL('../../apps/web/build/', import.meta.url))
    const files: string[] = []
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name)
        if (statSync(path).isDirectory()) walk(path)
        else if (/\.(js|html|json|css)$/.test(name)) files.push(path)
      }
    }
    walk(build)
    expect(files.length).toBeGreaterThan(5)
    for (const file of files) {
      const text = readFileSync(file, 'utf8')
      expect(text, file).not.toContain('hearth-component-harness')
      expect(text, file).not.toContain('hearthPwned')
    }
  })
})
