// The component harness (apps/web/src/harness) for the web-* browser tests: built once per
// run into apps/web/.svelte-kit/harness, served like the app (serve.ts: same security headers),
// opened in Chromium with traps for anything a payload could run.
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import { startWebServer } from '../../apps/web/serve.ts'
import type { WebServer } from '../../apps/web/serve.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const HARNESS_DIR = fileURLToPath(
  new URL('../../apps/web/.svelte-kit/harness/', import.meta.url),
)

export function buildHarness(): void {
  // apps/web's tsconfig extends Kit's generated one (node_modules/$app), which an npm
  // install prunes: regenerate it first, as `npm run check` does.
  execFileSync(process.execPath, ['../../node_modules/@sveltejs/kit/svelte-kit.js', 'sync'], {
    cwd: `${ROOT}apps/web`,
    stdio: 'pipe',
  })
  execFileSync(
    process.execPath,
    ['node_modules/vite/bin/vite.js', 'build', '--config', 'apps/web/src/harness/vite.config.ts'],
    { cwd: ROOT, stdio: 'pipe' },
  )
}

export function serveHarness(): Promise<WebServer> {
  return startWebServer({
    port: 0,
    buildDir: HARNESS_DIR,
    // The harness reads no config; serve.ts wants one.
    config: {
      mode: 'development',
      handleResolver: 'http://127.0.0.1:9',
      plcUrl: 'http://127.0.0.1:9',
      keyserverUrl: 'http://127.0.0.1:9',
      keyserverDid: 'did:web:localhost%3A9',
    },
  })
}

export interface HarnessPage {
  page: Page
  ids: Record<string, string>
  /** Requests that left the harness's origin (remote images, styles, navigations). */
  external: string[]
  dialogs: string[]
  /** Script the payloads would call, CSP reports, uncaught errors, all from inside the page. */
  traps(): Promise<{ pwned: number; violations: string[]; errors: string[] }>
  close(): Promise<void>
}

export async function openHarness(
  browser: Browser,
  web: WebServer,
  scenario: 'basic' | 'corpus' | 'big',
  options: { count?: number; colorScheme?: 'light' | 'dark' } = {},
): Promise<HarnessPage> {
  const context = await browser.newContext({
    viewport: { width: 1440, height: 900 },
    colorScheme: options.colorScheme ?? 'light',
  })
  const page = await context.newPage()
  await page.addInitScript(() => {
    const w = window as unknown as Record<string, unknown>
    const violations: string[] = []
    const errors: string[] = []
    w.__violations = violations
    w.__errors = errors
    w.__pwned = 0
    const pwned = () => {
      w.__pwned = (w.__pwned as number) + 1
    }
    w.hearthPwned = pwned
    w.alert = pwned
    w.prompt = pwned
    w.confirm = pwned
    addEventListener('securitypolicyviolation', (e) =>
      violations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sample}`),
    )
    addEventListener('error', (e) => {
      // Chromium's benign notice when a ResizeObserver callback (the timeline measuring
      // rows) changes layout again; the next frame delivers the rest.
      if (/^ResizeObserver loop/.test(String(e.message))) return
      errors.push(String(e.message))
    })
  })
  const origin = web.url
  const external: string[] = []
  const dialogs: string[] = []
  page.on('request', (r) => {
    if (!r.url().startsWith(origin) && !r.url().startsWith('data:')) external.push(r.url())
  })
  page.on('dialog', (d) => {
    dialogs.push(d.message())
    void d.dismiss()
  })
  const query = new URLSearchParams({ scenario })
  if (options.count) query.set('count', String(options.count))
  await page.goto(`${origin}/?${query}`)
  await page.waitForSelector('body[data-ready=true], body[data-error]')
  const failed = await page.evaluate(() => document.body.dataset.error)
  if (failed) throw new Error(`the harness scenario failed: ${failed}`)
  const ids = await page.evaluate(
    () => (window as unknown as { __harness: { ids: Record<string, string> } }).__harness.ids,
  )
  return {
    page,
    ids,
    external,
    dialogs,
    traps: () =>
      page.evaluate(() => {
        const w = window as unknown as Record<string, unknown>
        return {
          pwned: w.__pwned as number,
          violations: w.__violations as string[],
          errors: w.__errors as string[],
        }
      }),
    close: () => context.close(),
  }
}

/** Goes to a space/container (and thread) inside the harness and waits for the shell. */
export async function goTo(
  page: Page,
  spaceId: string,
  containerId?: string,
  threadId?: string,
): Promise<void> {
  const hash = `#/spaces/${spaceId}${containerId ? `/${containerId}` : ''}${threadId ? `?thread=${threadId}` : ''}`
  await page.evaluate((h) => {
    location.hash = h
  }, hash)
  await page.getByTestId('channel-list').waitFor()
}
