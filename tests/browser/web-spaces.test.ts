// The web app on the real network: devnet (PLC + PDS + resolver + keyserver) and the router,
// two users in two Chromium contexts signed in through the PDS's OAuth pages. alice makes a
// space and a channel, invites bob by handle, bob joins; they exchange messages, a reply and
// a reaction; each write goes from "saved on this device" to "stored by the router". With the
// router stopped both keep writing, a tab closed right after "saved" loses nothing (S21), and
// after the router restarts both timelines converge with every message once.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startDevnet } from '@hearth/devnet'
import type { Devnet } from '@hearth/devnet'
import { createLogger, createSyncEndpoint, startRouter } from '@hearth/router'
import type { RunningRouter } from '@hearth/router'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startWebServer } from '../../apps/web/serve.ts'
import type { WebServer } from '../../apps/web/serve.ts'
import { launchChromium } from './chromium.ts'

let devnet: Devnet
let web: WebServer
let browser: Browser
// Our own router (not the devnet's), so a test can stop it and start it again on the same
// port and data directory.
let router: RunningRouter | null = null
let routerPort = 0
let routerDir: string

async function startOurRouter(): Promise<RunningRouter> {
  const endpoint = await createSyncEndpoint({ dataDir: routerDir })
  const started = await startRouter({
    port: routerPort,
    plcUrl: devnet.plc.url,
    devMode: true,
    endpoint,
    log: createLogger({ level: 'error' }),
  })
  routerPort = Number(new URL(started.url).port)
  router = started
  return started
}

beforeAll(async () => {
  devnet = await startDevnet()
  if (!devnet.keyserver) throw new Error('the devnet started without its keyserver')
  routerDir = await mkdtemp(join(tmpdir(), 'hearth-web-router-'))
  const { url: routerUrl, identity } = await startOurRouter()
  web = await startWebServer({
    port: 0,
    config: {
      mode: 'development',
      handleResolver: devnet.resolver.url,
      plcUrl: devnet.plc.url,
      pdsUrl: devnet.pds.url,
      keyserverUrl: devnet.keyserver.url,
      keyserverDid: devnet.keyserver.did,
      routerUrl,
      routerDid: identity.did,
    },
  })
  browser = await launchChromium()
})

afterAll(async () => {
  await browser?.close()
  await web?.close()
  await router?.close()
  await devnet?.close()
  if (routerDir) await rm(routerDir, { recursive: true, force: true })
})

const onApp = (url: URL) => url.origin === new URL(web.url).origin
const onPds = (url: URL) => url.origin === new URL(devnet.pds.url).origin

interface Signed {
  context: BrowserContext
  page: Page
  csp: string[]
}

async function signIn(name: 'alice' | 'bob' | 'carol'): Promise<Signed> {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } })
  const page = await context.newPage()
  const csp: string[] = []
  if (process.env.HEARTH_DEBUG) {
    page.on('console', (m) => console.log(name, m.type(), m.text().slice(0, 400)))
    page.on('requestfailed', (r) => console.log(name, 'failed', r.url(), r.failure()?.errorText))
    page.on('response', (r) => {
      if (r.status() >= 400) console.log(name, r.status(), r.url())
    })
    page.on('websocket', (ws) => {
      console.log(name, 'ws', ws.url().replace(/ticket=[^&]+/, 'ticket=…'))
      ws.on('close', () => console.log(name, 'ws closed'))
    })
  }
  page.on('console', (m) => {
    if (onApp(new URL(page.url())) && /Content Security Policy/.test(m.text())) csp.push(m.text())
  })
  await page.goto(web.url)
  await page.waitForURL(`${web.url}/sign-in`)
  await page.getByLabel('Handle').fill(`${name}.test`)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.waitForURL(onPds)
  await page.locator('input[name=password]').fill(devnet.accounts[name].password)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('button', { name: 'Authorize' }).click()
  await page.waitForURL(onApp)
  await page.getByTestId('space-home').waitFor()
  return { context, page, csp }
}

const message = (page: Page, text: string) =>
  page
    .getByTestId('conversation')
    .locator('article[data-id]')
    .filter({ has: page.getByTestId('message-body').filter({ hasText: text }) })

describe('spaces in the web app, through the router', () => {
  let alice: Signed
  let bob: Signed
  let spaceUrl: string

  it('alice creates a space and a channel, and her message is stored by the router', async () => {
    alice = await signIn('alice')
    const { page } = alice
    await expect
      .poll(() => page.getByTestId('connection').getAttribute('data-state'))
      .toBe('online')
    await page.getByLabel('Create a space').fill('Garden club')
    await page.getByRole('button', { name: 'Create space' }).click()
    await page.waitForURL(/\/spaces\/[a-z2-7]{52}/)
    spaceUrl = new URL(page.url()).pathname.split('/').slice(0, 3).join('/')
    await expect.poll(() => page.getByTestId('space-name').textContent()).toContain('Garden club')
    await page.getByRole('button', { name: 'New channel' }).click()
    await page.getByLabel('Channel name').fill('general')
    await page.getByRole('button', { name: 'Create', exact: true }).click()
    await page.waitForURL(/\/spaces\/[a-z2-7]{52}\/[a-z2-7]{52}/)
    const composer = page.getByTestId('composer')
    await composer.fill('hello **bob** :wave:')
    await composer.press('Enter')
    const sent = message(page, 'hello bob')
    await sent.waitFor()
    expect(await sent.locator('strong').textContent()).toBe('bob')
    expect(await sent.getAttribute('data-badge')).toBe('verified')
    await expect.poll(() => sent.getAttribute('data-delivery'), { timeout: 20_000 }).toBe('stored')
  })

  it('alice invites bob by handle; bob opens the link, joins, and reads her message', async () => {
    const { page } = alice
    await page.getByTestId('invite-input').fill('bob.test')
    await page.getByRole('button', { name: 'Invite', exact: true }).click()
    await expect
      .poll(() => page.getByRole('status').filter({ hasText: 'Invited' }).textContent())
      .toContain('@bob.test')
    const invited = page
      .getByTestId('member')
      .filter({ hasText: devnet.accounts.bob.did.slice(8, 14) })
    await expect.poll(() => invited.getAttribute('data-status')).toBe('invited')

    const link = await page.getByTestId('invite-link').inputValue()
    expect(new URL(link).pathname).toBe(spaceUrl)

    bob = await signIn('bob')
    await bob.page.goto(link)
    await bob.page.getByRole('button', { name: 'Join space' }).click({ timeout: 30_000 })
    await bob.page.getByTestId('composer').waitFor({ timeout: 30_000 })
    const hers = message(bob.page, 'hello bob')
    await hers.waitFor({ timeout: 30_000 })
    expect(await hers.getAttribute('data-badge')).toBe('verified')
    expect(await hers.getByTestId('message-body').textContent()).toContain('👋')
  })

  it('bob replies and reacts; alice sees both', async () => {
    const hers = message(bob.page, 'hello bob')
    await hers.hover()
    await hers.getByRole('button', { name: 'Reply' }).click()
    await bob.page.getByTestId('composer').fill('hi _alice_')
    await bob.page.getByTestId('composer').press('Enter')
    const reply = message(bob.page, 'hi alice')
    await reply.waitFor()
    await expect.poll(() => reply.getAttribute('data-delivery'), { timeout: 20_000 }).toBe('stored')
    await hers.hover()
    await hers.getByRole('button', { name: 'React' }).click()
    await bob.page.getByTestId('reaction-picker').getByRole('button', { name: '🎉' }).click()

    const seen = message(alice.page, 'hi alice')
    await seen.waitFor({ timeout: 30_000 })
    expect(await seen.locator('em').textContent()).toBe('alice')
    expect(await seen.getByTestId('reply-preview').textContent()).toContain('hello **bob**')
    expect(await seen.getAttribute('data-badge')).toBe('verified')
    await message(alice.page, 'hello bob')
      .getByRole('button', { name: /🎉: 1/ })
      .waitFor({ timeout: 30_000 })
    expect(alice.csp).toEqual([])
    expect(bob.csp).toEqual([])
  })

  it('a signed-in non-member opening the link sees nothing of the space (S7)', async () => {
    const carol = await signIn('carol')
    await carol.page.goto(`${web.url}${spaceUrl}`)
    await carol.page.getByText('Looking for this space').waitFor()
    await expect
      .poll(() => carol.page.getByTestId('connection').getAttribute('data-state'))
      .toBe('online')
    // Connected, and still nothing: no name, no channel, no message, no member.
    expect(await carol.page.getByTestId('channel-list').locator('a').count()).toBe(0)
    expect(await carol.page.locator('article[data-id]').count()).toBe(0)
    expect(await carol.page.getByTestId('member').count()).toBe(0)
    expect(await carol.page.content()).not.toContain('Garden club')
    await carol.context.close()
  })

  it('with the router down both keep writing; a tab closed after "saved" loses nothing; then they converge', async () => {
    await router!.close()
    router = null
    const aliceOffline = 'alice writes while the router is down'
    const bobOffline = 'bob writes while the router is down'
    for (const [who, text] of [
      [alice, aliceOffline],
      [bob, bobOffline],
    ] as const) {
      await who.page.getByTestId('composer').fill(text)
      await who.page.getByTestId('composer').press('Enter')
      await expect
        .poll(() => message(who.page, text).getAttribute('data-delivery'), { timeout: 20_000 })
        .toBe('saved')
    }
    // S21: alice's tab goes away right after "saved"; a new tab has the message.
    const url = alice.page.url()
    await alice.page.close()
    alice.page = await alice.context.newPage()
    await alice.page.goto(url)
    await message(alice.page, aliceOffline).waitFor({ timeout: 30_000 })
    expect(await message(alice.page, aliceOffline).getAttribute('data-delivery')).toBe('saved')

    await startOurRouter()
    for (const [who, own, other] of [
      [alice, aliceOffline, bobOffline],
      [bob, bobOffline, aliceOffline],
    ] as const) {
      await expect
        .poll(() => message(who.page, own).getAttribute('data-delivery'), { timeout: 60_000 })
        .toBe('stored')
      await message(who.page, other).waitFor({ timeout: 60_000 })
    }
    // Every message once, in the same order on both sides.
    const texts = (p: Page) =>
      p.getByTestId('conversation').getByTestId('message-body').allTextContents()
    await expect.poll(async () => (await texts(alice.page)).length).toBe(4)
    expect(await texts(alice.page)).toEqual(await texts(bob.page))
  })

  it('alice’s second device gets its own key and the same spaces and read positions', async () => {
    const second = await signIn('alice')
    try {
      const rail = second.page.getByTestId('spaces-rail').getByRole('link', { name: 'Garden club' })
      await rail.waitFor({ timeout: 60_000 })
      await rail.click()
      await message(second.page, 'hi alice').waitFor({ timeout: 60_000 })
      expect(await message(second.page, 'hi alice').getAttribute('data-badge')).toBe('verified')
      // Everything alice read on her first device is read here too: no unread count.
      const general = second.page.getByTestId('channel-list').getByRole('link', { name: /general/ })
      await expect.poll(() => general.textContent()).not.toMatch(/\d/)
      // Two devices bound to alice now, each with its own key.
      const keys = await second.page.evaluate(async () => {
        const open = indexedDB.open('hearth-device')
        await new Promise((r) => (open.onsuccess = r))
        const all = open.result.transaction('device-keys').objectStore('device-keys').getAll()
        await new Promise((r) => (all.onsuccess = r))
        return (all.result as { keyId: string }[]).map((e) => e.keyId)
      })
      const firstKeys = await alice.page.evaluate(async () => {
        const open = indexedDB.open('hearth-device')
        await new Promise((r) => (open.onsuccess = r))
        const all = open.result.transaction('device-keys').objectStore('device-keys').getAll()
        await new Promise((r) => (all.onsuccess = r))
        return (all.result as { keyId: string }[]).map((e) => e.keyId)
      })
      expect(keys).toHaveLength(1)
      expect(firstKeys).toHaveLength(1)
      expect(keys[0]).not.toBe(firstKeys[0])
    } finally {
      await second.context.close()
    }
  })

  it('shows what the device has after a reload, at once and offline', async () => {
    const { page, context } = alice
    await context.setOffline(true)
    try {
      await page.reload()
      await message(page, 'hi alice').waitFor()
      await message(page, 'hello bob').waitFor()
      await expect
        .poll(() => page.getByTestId('connection').getAttribute('data-state'))
        .not.toBe('online')
    } finally {
      await context.setOffline(false)
    }
  })

  it('“remove this device” also erases the spaces kept in this browser', async () => {
    const { page } = alice
    const databases = () =>
      page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name ?? ''))
    const ours = `hearth-spaces:${devnet.accounts.alice.did}`
    expect(await databases()).toContain(ours)
    await page.goto(web.url)
    await page.getByRole('button', { name: 'Sign out and remove this device' }).click()
    await page.waitForURL(`${web.url}/sign-in`)
    await expect.poll(databases).not.toContain(ours)
    await alice.context.close()
    await bob.context.close()
  })
})
