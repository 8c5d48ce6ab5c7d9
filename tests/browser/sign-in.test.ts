// The web app's first screens against a freshly started devnet: OAuth through the PDS's
// real sign-in and consent pages in Chromium, the device key's binding record and
// keyserver registration, reload, offline start, sign-out, and the sign-in errors.
import { startDevnet } from '@hearth/devnet'
import type { Devnet } from '@hearth/devnet'
import { deviceIdFromKeyId, fingerprint } from '@hearth/identity'
import type { Did } from '@hearth/identity'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startWebServer } from '../../apps/web/serve.ts'
import type { WebServer } from '../../apps/web/serve.ts'
import { launchChromium } from './chromium.ts'

const FINGERPRINT = /^\d{5}( \d{5}){7}$/

let devnet: Devnet
let web: WebServer
let browser: Browser

beforeAll(async () => {
  devnet = await startDevnet()
  if (!devnet.keyserver) throw new Error('the devnet started without a keyserver')
  web = await startWebServer({
    port: 0,
    config: {
      mode: 'development',
      handleResolver: devnet.resolver.url,
      plcUrl: devnet.plc.url,
      pdsUrl: devnet.pds.url,
      keyserverUrl: devnet.keyserver.url,
      keyserverDid: devnet.keyserver.did,
    },
  })
  browser = await launchChromium()
})

afterAll(async () => {
  await browser?.close()
  await web?.close()
  await devnet?.close()
})

async function listBindings(did: Did): Promise<Array<{ rkey: string; key: string }>> {
  const url = new URL('/xrpc/com.atproto.repo.listRecords', devnet.pds.url)
  url.searchParams.set('repo', did)
  url.searchParams.set('collection', 'app.hearth.device')
  const res = await fetch(url)
  expect(res.status).toBe(200)
  const body = (await res.json()) as { records: Array<{ uri: string; value: { key: string } }> }
  return body.records.map((r) => ({ rkey: r.uri.split('/').pop() as string, key: r.value.key }))
}

/** The keyserver's view of a DID's devices: key → revocation reason (null while active). */
async function keyserverDevices(did: Did): Promise<Record<string, string | null>> {
  const url = new URL('/xrpc/app.hearth.keyserver.listDevices', devnet.keyserver!.url)
  url.searchParams.set('did', did)
  const res = await fetch(url)
  if (res.status === 404) return {}
  expect(res.status).toBe(200)
  const body = (await res.json()) as { devices: Array<{ key: string; revokedReason?: string }> }
  return Object.fromEntries(body.devices.map((d) => [d.key, d.revokedReason ?? null]))
}

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

const onPds = (url: URL) => url.origin === new URL(devnet.pds.url).origin
const onApp = (url: URL) => url.origin === new URL(web.url).origin

/** Starts sign-in in the app and returns once the PDS's own page is showing. */
async function startSignIn(page: Page, handle: string): Promise<void> {
  await page.goto(web.url)
  await page.waitForURL(`${web.url}/sign-in`)
  await page.getByLabel('Handle').fill(handle)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.waitForURL(onPds)
}

/** Fills the PDS's sign-in page, then accepts or denies on its consent page. */
async function completeOnPds(
  page: Page,
  password: string,
  decision: 'Authorize' | 'Deny access',
): Promise<void> {
  await page.locator('input[name=password]').fill(password)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('button', { name: decision }).click()
  await page.waitForURL(onApp)
}

describe('web sign-in (OAuth through the PDS, device enrolment)', () => {
  let alice: BrowserContext
  let page: Page
  let shownFingerprint: string

  /** Everything the app's pages report as blocked by its CSP (the PDS's pages are not ours). */
  const cspViolations: string[] = []

  it('serves a strict CSP: no inline scripts allowed', async () => {
    const html = await (await fetch(`${web.url}/sign-in`)).text()
    const csp = /http-equiv="content-security-policy" content="([^"]+)"/.exec(html)?.[1] ?? ''
    const scriptSrc = csp.split(';').find((d) => d.trim().startsWith('script-src')) ?? ''
    expect(scriptSrc).toContain("'self'")
    expect(scriptSrc).not.toContain('unsafe-inline')
    expect(csp).toContain("object-src 'none'")
  })

  it('signs alice in through the PDS pages, asking only for Hearth’s own scopes', async () => {
    alice = await browser.newContext()
    page = await alice.newPage()
    page.on('console', (message) => {
      if (onApp(new URL(page.url())) && /Content Security Policy/.test(message.text())) {
        cspViolations.push(message.text())
      }
    })
    const par = page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith('/oauth/par'))
    await startSignIn(page, 'alice.test')
    const scope = new URLSearchParams((await par).postData() ?? '').get('scope') ?? ''
    const aud = `${devnet.keyserver!.did.replaceAll('%', '%25')}%23hearth_keyserver`
    expect(scope.split(' ').sort()).toEqual(
      [
        'atproto',
        'repo:app.hearth.device',
        `rpc:app.hearth.keyserver.registerDevice?aud=${aud}`,
        `rpc:app.hearth.keyserver.revokeDevice?aud=${aud}`,
      ].sort(),
    )
    expect(scope).not.toContain('transition:')

    await completeOnPds(page, devnet.accounts.alice.password, 'Authorize')
    await page.getByTestId('enrolment-done').waitFor()
    await expect.poll(() => page.getByTestId('handle').textContent()).toBe('@alice.test')
    expect(await page.getByTestId('did').textContent()).toBe(devnet.accounts.alice.did)
    shownFingerprint = (await page.getByTestId('fingerprint').textContent())?.trim() ?? ''
    expect(shownFingerprint).toMatch(FINGERPRINT)
  })

  it('published the binding record in alice’s repo and registered the key with the keyserver', async () => {
    const did = devnet.accounts.alice.did
    const bindings = await listBindings(did)
    expect(bindings).toHaveLength(1)
    const [binding] = bindings
    expect(binding!.rkey).toBe(deviceIdFromKeyId(binding!.key))
    // The digits on screen are the fingerprint of exactly this DID and published key.
    expect(fingerprint(did, binding!.key)).toBe(shownFingerprint)
    expect(await keyserverDevices(did)).toEqual({ [binding!.key]: null })
  })

  it('keeps the private key non-extractable in IndexedDB, and nothing was blocked by the CSP', async () => {
    const stored = await page.evaluate(
      () =>
        new Promise<{ extractable: boolean; usages: string[] }[]>((resolve, reject) => {
          const open = indexedDB.open('hearth-device')
          open.onerror = () => reject(open.error)
          open.onsuccess = () => {
            const all = open.result.transaction('device-keys').objectStore('device-keys').getAll()
            all.onerror = () => reject(all.error)
            all.onsuccess = () =>
              resolve(
                (all.result as { keyPair: CryptoKeyPair }[]).map((e) => ({
                  extractable: e.keyPair.privateKey.extractable,
                  usages: [...e.keyPair.privateKey.usages],
                })),
              )
          }
        }),
    )
    expect(stored).toEqual([{ extractable: false, usages: ['sign'] }])
    expect(cspViolations).toEqual([])
  })

  it('stays signed in across a reload, with the same device key', async () => {
    await page.reload()
    await page.getByTestId('fingerprint').waitFor()
    expect(onApp(new URL(page.url()))).toBe(true)
    expect(await page.getByTestId('fingerprint').textContent()).toBe(shownFingerprint)
    await expect.poll(() => page.getByTestId('handle').textContent()).toBe('@alice.test')
    expect(await listBindings(devnet.accounts.alice.did)).toHaveLength(1)
  })

  it('starts offline from the service worker’s cache after the first visit', async () => {
    await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined))
    // The worker controls pages from the next load on; make sure this one is.
    await page.reload()
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null)
    await alice.setOffline(true)
    try {
      await page.reload()
      await page.getByTestId('fingerprint').waitFor()
      expect(await page.getByTestId('fingerprint').textContent()).toBe(shownFingerprint)
      expect(await page.getByTestId('handle').textContent()).toBe('@alice.test')
    } finally {
      await alice.setOffline(false)
    }
  })

  it('signs out, keeps the device key, and brings the same device back on the next sign-in', async () => {
    await page.reload()
    await page.getByTestId('fingerprint').waitFor()
    const otherTab = await alice.newPage()
    await otherTab.goto(web.url)
    await otherTab.getByTestId('fingerprint').waitFor()
    const revoke = page.waitForRequest(
      (r) => r.method() === 'POST' && onPds(new URL(r.url())) && r.url().endsWith('/oauth/revoke'),
    )
    await page.getByRole('button', { name: 'Sign out', exact: true }).click()
    await page.waitForURL(`${web.url}/sign-in`)
    // The PDS was told to revoke the tokens, not just this browser forgetting them.
    expect((await (await revoke).response())?.ok()).toBe(true)
    // The other tab learns of it and says why it is signed out.
    await otherTab.waitForURL(`${web.url}/sign-in`)
    expect(await otherTab.getByRole('alert').getAttribute('data-failure')).toBe('session-ended')
    await otherTab.close()
    await page.reload()
    await page.getByLabel('Handle').waitFor()
    expect(await page.getByTestId('fingerprint').count()).toBe(0)

    await page.getByLabel('Handle').fill('alice.test')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL(onPds)
    await completeOnPds(page, devnet.accounts.alice.password, 'Authorize')
    await page.getByTestId('enrolment-done').waitFor()
    expect(await page.getByTestId('fingerprint').textContent()).toBe(shownFingerprint)
    expect(await listBindings(devnet.accounts.alice.did)).toHaveLength(1)
  })

  it('“remove this device” unregisters the key, deletes the binding and the key', async () => {
    const did = devnet.accounts.alice.did
    const [binding] = await listBindings(did)
    await page.getByRole('button', { name: 'Sign out and remove this device' }).click()
    await page.waitForURL(`${web.url}/sign-in`)
    expect(await listBindings(did)).toEqual([])
    expect(await keyserverDevices(did)).toEqual({ [binding!.key]: 'revoked' })
    // The key itself is gone from this browser: the next sign-in makes a new one.
    await page.getByLabel('Handle').fill('alice.test')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL(onPds)
    await completeOnPds(page, devnet.accounts.alice.password, 'Authorize')
    await page.getByTestId('enrolment-done').waitFor()
    const fresh = (await page.getByTestId('fingerprint').textContent())?.trim()
    expect(fresh).toMatch(FINGERPRINT)
    expect(fresh).not.toBe(shownFingerprint)
    const [newBinding] = await listBindings(did)
    expect(newBinding!.key).not.toBe(binding!.key)
  })

  it('signs out and erases the key when the device was removed from another device', async () => {
    const did = devnet.accounts.alice.did
    const [binding] = await listBindings(did)
    const agent = await devnet.login(devnet.accounts.alice)
    await agent.com.atproto.repo.deleteRecord({
      repo: did,
      collection: 'app.hearth.device',
      rkey: binding!.rkey,
    })
    await page.reload()
    await page.waitForURL(`${web.url}/sign-in`)
    const alert = page.getByRole('alert')
    await expect.poll(() => alert.getAttribute('data-failure')).toBe('device-removed')
    // It did not bind itself again, and its key is gone from the browser.
    expect(await listBindings(did)).toEqual([])
    const keys = await page.evaluate(
      () =>
        new Promise<number>((resolve, reject) => {
          const open = indexedDB.open('hearth-device')
          open.onerror = () => reject(open.error)
          open.onsuccess = () => {
            const count = open.result.transaction('device-keys').objectStore('device-keys').count()
            count.onsuccess = () => resolve(count.result)
          }
        }),
    )
    expect(keys).toBe(0)
    await alice.close()
  })

  it('shows a clear error for an unknown handle, and for text that is not a handle', async () => {
    const context = await browser.newContext()
    const p = await context.newPage()
    await p.goto(`${web.url}/sign-in`)
    await p.getByLabel('Handle').fill('nobody.test')
    await p.getByRole('button', { name: 'Sign in' }).click()
    const alert = p.getByRole('alert')
    await expect.poll(() => alert.getAttribute('data-failure')).toBe('unknown-handle')
    expect(await alert.textContent()).toContain('No account found for the handle "nobody.test"')
    expect(onApp(new URL(p.url()))).toBe(true)

    await p.getByLabel('Handle').fill('not a handle')
    await p.getByRole('button', { name: 'Sign in' }).click()
    await expect.poll(() => alert.getAttribute('data-failure')).toBe('invalid-handle')
    await context.close()
  })

  it('answers an unknown address with the app’s own page', async () => {
    const context = await browser.newContext()
    const p = await context.newPage()
    await p.goto(`${web.url}/no/such/page`)
    await expect
      .poll(() => p.getByRole('alert').textContent())
      .toContain('This page does not exist.')
    await context.close()
  })

  it('explains a refused consent and publishes nothing', async () => {
    const context = await browser.newContext()
    const p = await context.newPage()
    await startSignIn(p, 'bob.test')
    await completeOnPds(p, devnet.accounts.bob.password, 'Deny access')
    const alert = p.getByRole('alert')
    await expect.poll(() => alert.getAttribute('data-failure')).toBe('consent-refused')
    expect(await alert.textContent()).toContain('declined')
    expect(await listBindings(devnet.accounts.bob.did)).toEqual([])
    await context.close()
  })

  it('says so when the account’s PDS cannot be reached', async () => {
    // carol's DID document now names a PDS that is down; her handle still resolves.
    const carol = devnet.accounts.carol
    const deadPds = `http://127.0.0.1:${await closedPort()}`
    await devnet.network.plc
      .getClient()
      .updatePds(carol.did, devnet.network.pds.ctx.plcRotationKey, deadPds)
    const context = await browser.newContext()
    const p = await context.newPage()
    await p.goto(`${web.url}/sign-in`)
    await p.getByLabel('Handle').fill('carol.test')
    await p.getByRole('button', { name: 'Sign in' }).click()
    const alert = p.getByRole('alert')
    await expect.poll(() => alert.getAttribute('data-failure')).toBe('pds-unreachable')
    expect(await alert.textContent()).toContain('could not reach its PDS')
    expect(onApp(new URL(p.url()))).toBe(true)
    await context.close()
  })
})
