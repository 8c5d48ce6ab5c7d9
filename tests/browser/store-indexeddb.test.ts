// The IndexedDB backend of the storage seam in real Chromium: the same contract suite the
// memory and file backends run, every operation executed by IndexedDbStoreAdapter on the
// page's real IndexedDB (the assertions run here, in vitest, and talk to the page through
// Playwright: vitest's own runner cannot run inside this page without its browser mode,
// which is not installed). Then what only a browser can show: data survives a reload, a
// closed tab, and SIGKILL of the whole browser right after a save resolved (S21); and an
// automerge-repo Repo stores its documents there through StoreStorageAdapter.
import { InvalidStoreKeyError } from '@hearth/sync'
import type { IndexedDbStoreAdapter, StoreAdapter, StoreEntry, StoreKey } from '@hearth/sync'
import { runStoreAdapterContract } from '@hearth/sync/testing'
import { chromium } from 'playwright-core'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { stripTypeScriptTypes } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'vite'
import type { PluginOption } from 'vite'
import wasmPlugin from 'vite-plugin-wasm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CHROMIUM_ARGS, CHROMIUM_PATH, launchChromium } from './chromium.ts'

// vite-plugin-wasm's types describe its CommonJS build; its ESM entry exports the function.
const wasm = wasmPlugin as unknown as () => PluginOption

const STORE_SOURCES = new URL('../../packages/sync/src/store/', import.meta.url)

// The page: the adapter's own source files served as JavaScript (types stripped by Node,
// imports left as they are: `./store-adapter.ts` resolves to the next file served here),
// and a small table of open adapters the test drives by name.
const PAGE = `<!doctype html><meta charset="utf-8"><title>store</title>
<script type="module">
import { IndexedDbStoreAdapter } from '/store/indexeddb-store-adapter.ts'
const adapters = new Map()
const wire = (value) =>
  value instanceof Uint8Array ? { bytes: Array.from(value) }
  : Array.isArray(value) ? value.map((e) => ({ key: e.key, data: wire(e.data) }))
  : value
window.hearthStore = {
  async open(handle, database) {
    adapters.set(handle, await IndexedDbStoreAdapter.open(database))
  },
  async call(handle, method, args) {
    try {
      const value = await adapters.get(handle)[method](
        ...args.map((a) => (a && a.bytes ? new Uint8Array(a.bytes) : a)),
      )
      return { ok: true, value: wire(value) }
    } catch (error) {
      return { ok: false, name: error.name, message: error.message }
    }
  },
  async drop(database) {
    for (const [handle, adapter] of adapters)
      if (adapter.name === database) { adapter.close(); adapters.delete(handle) }
    await IndexedDbStoreAdapter.deleteDatabase(database)
  },
  IndexedDbStoreAdapter,
}
document.title = 'ready'
</script>`

// The second page: automerge-repo's Repo on IndexedDB through the storage bridge, bundled by
// Vite (Automerge's wasm included) from store-indexeddb.page.ts.
const REPO_PAGE = `<!doctype html><meta charset="utf-8"><title>repo</title>
<script type="module" src="/repo.js"></script>`
let repoBundle: string

interface WireBytes {
  bytes: number[]
}
type WireValue = undefined | WireBytes | Array<{ key: string[]; data: WireBytes }>
type CallResult = { ok: true; value: WireValue } | { ok: false; name: string; message: string }
interface PageRepo {
  write(database: string, count: number): Promise<{ url: string; heads: string[] }>
  read(database: string, url: string): Promise<{ lines: string[]; heads: string[] }>
}
interface PageStore {
  open(handle: string, database: string): Promise<void>
  call(handle: string, method: string, args: unknown[]): Promise<CallResult>
  drop(database: string): Promise<void>
  IndexedDbStoreAdapter: typeof IndexedDbStoreAdapter
}
declare global {
  interface Window {
    hearthStore: PageStore
    hearthRepo: PageRepo
    hearthStarted(i: number): void
    hearthAcked(i: number): void
  }
}

let server: ReturnType<typeof createServer>
let origin: string
let browser: Browser
let page: Page

async function startPageServer(): Promise<void> {
  server = createServer((req, res) => {
    void (async () => {
      const path = new URL(req.url ?? '/', 'http://x').pathname
      const file = /^\/store\/([a-z-]+\.ts)$/.exec(path)?.[1]
      if (path === '/') {
        res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE)
      } else if (path === '/repo') {
        res.writeHead(200, { 'content-type': 'text/html' }).end(REPO_PAGE)
      } else if (path === '/repo.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' }).end(repoBundle)
      } else if (file) {
        try {
          const source = await readFile(new URL(file, STORE_SOURCES), 'utf8')
          res.writeHead(200, { 'content-type': 'text/javascript' })
          res.end(stripTypeScriptTypes(source))
        } catch {
          res.writeHead(404).end()
        }
      } else {
        res.writeHead(404).end()
      }
    })()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

async function buildRepoPage(): Promise<void> {
  const outDir = await mkdtemp(join(tmpdir(), 'hearth-repo-page-'))
  try {
    await build({
      configFile: false,
      logLevel: 'warn',
      plugins: [wasm()],
      build: {
        outDir,
        target: 'esnext',
        minify: false,
        lib: {
          entry: fileURLToPath(new URL('./store-indexeddb.page.ts', import.meta.url)),
          formats: ['es'],
          fileName: 'repo',
        },
      },
    })
    repoBundle = await readFile(join(outDir, 'repo.js'), 'utf8')
  } finally {
    await rm(outDir, { recursive: true, force: true })
  }
}

async function openPage(context: BrowserContext | Browser, path = '/'): Promise<Page> {
  const opened = await context.newPage()
  await opened.goto(origin + path)
  await opened.waitForFunction(() => document.title === 'ready')
  return opened
}

const toWire = (value: unknown): unknown =>
  value instanceof Uint8Array ? { bytes: Array.from(value) } : value

/** A StoreAdapter whose every call runs on the page's IndexedDbStoreAdapter `handle`. */
function remoteAdapter(target: Page, handle: string): StoreAdapter {
  async function call(method: keyof StoreAdapter, key: StoreKey, data?: Uint8Array) {
    const args = data === undefined ? [key] : [key, toWire(data)]
    const result = await target.evaluate(([h, m, a]) => window.hearthStore.call(h, m, a), [
      handle,
      method,
      args,
    ] as const)
    if (!result.ok) {
      if (result.name === 'InvalidStoreKeyError') throw new InvalidStoreKeyError(key)
      throw Object.assign(new Error(result.message), { name: result.name })
    }
    return result.value
  }
  const bytesOf = (value: WireValue) =>
    value && !Array.isArray(value) ? new Uint8Array(value.bytes) : undefined
  return {
    load: async (key) => bytesOf(await call('load', key)),
    save: async (key, data) => void (await call('save', key, data)),
    remove: async (key) => void (await call('remove', key)),
    loadRange: async (prefix): Promise<StoreEntry[]> => {
      const value = await call('loadRange', prefix)
      if (!Array.isArray(value)) throw new Error('loadRange returned no list')
      return value.map((e) => ({ key: e.key, data: new Uint8Array(e.data.bytes) }))
    },
    removeRange: async (prefix) => void (await call('removeRange', prefix)),
  }
}

beforeAll(async () => {
  await Promise.all([startPageServer(), buildRepoPage()])
  browser = await launchChromium()
  page = await openPage(browser)
})

afterAll(async () => {
  await browser?.close()
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
})

let fixtures = 0
runStoreAdapterContract('IndexedDB in Chromium', async () => {
  const database = `contract-${++fixtures}`
  let handles = 0
  const open = async () => {
    const handle = `${database}#${++handles}`
    await page.evaluate(([h, d]) => window.hearthStore.open(h, d), [handle, database] as const)
    return remoteAdapter(page, handle)
  }
  return {
    adapter: await open(),
    reopen: open,
    teardown: () => page.evaluate((d) => window.hearthStore.drop(d), database),
  }
})

describe('IndexedDbStoreAdapter in Chromium', () => {
  it('stores a Repo’s document through the storage bridge; a new Repo loads it after a reload', async () => {
    const tab = await openPage(browser, '/repo')
    const written = await tab.evaluate(() => window.hearthRepo.write('repo-reload', 50))
    await tab.reload()
    await tab.waitForFunction(() => document.title === 'ready')
    const read = await tab.evaluate(
      (url) => window.hearthRepo.read('repo-reload', url),
      written.url,
    )
    expect(read.heads).toEqual(written.heads)
    expect(read.lines).toEqual(Array.from({ length: 50 }, (_, i) => `line ${i}`))
    await tab.close()
  })

  it('stores exactly a view’s bytes, as a copy, and hands out copies', async () => {
    const result = await page.evaluate(async () => {
      const adapter = await window.hearthStore.IndexedDbStoreAdapter.open('views')
      const buffer = new Uint8Array(4096).map((_, i) => i % 251)
      await adapter.save(['view'], buffer.subarray(100, 110))
      buffer.fill(0)
      const first = await adapter.load(['view'])
      first![0] = 255
      const second = await adapter.load(['view'])
      const [entry] = await adapter.loadRange(['view'])
      adapter.close()
      await window.hearthStore.drop('views')
      return {
        length: second!.length,
        buffer: second!.buffer.byteLength,
        values: Array.from(second!),
        range: Array.from(entry!.data),
      }
    })
    const expected = Array.from({ length: 10 }, (_, i) => (100 + i) % 251)
    expect(result).toEqual({ length: 10, buffer: 10, values: expected, range: expected })
  })

  it('rejects every call after close, and a later adapter on the same name still reads', async () => {
    const result = await page.evaluate(async () => {
      const { IndexedDbStoreAdapter } = window.hearthStore
      const adapter = await IndexedDbStoreAdapter.open('closing')
      await adapter.save(['kept'], new Uint8Array([7]))
      adapter.close()
      const error = await adapter.load(['kept']).then(
        () => 'resolved',
        (e: Error) => e.name,
      )
      const again = await IndexedDbStoreAdapter.open('closing')
      const kept = Array.from((await again.load(['kept'])) ?? [])
      again.close()
      await window.hearthStore.drop('closing')
      return { error, kept }
    })
    expect(result).toEqual({ error: 'IndexedDbStoreError', kept: [7] })
  })

  it('keeps saved data across a page reload', async () => {
    const tab = await openPage(browser)
    await tab.evaluate(async () => {
      const adapter = await window.hearthStore.IndexedDbStoreAdapter.open('reload')
      await adapter.save(['repo', 'doc', 'snapshot', 'h1'], new Uint8Array([1, 2, 3]))
      await adapter.save(['hearth', 'verified', 'doc', 'b1'], new Uint8Array([4]))
    })
    await tab.reload()
    await tab.waitForFunction(() => document.title === 'ready')
    const after = await tab.evaluate(async () => {
      const adapter = await window.hearthStore.IndexedDbStoreAdapter.open('reload')
      const range = await adapter.loadRange([])
      adapter.close()
      await window.hearthStore.drop('reload')
      return range.map((e) => ({ key: e.key, data: Array.from(e.data) }))
    })
    expect(after).toEqual([
      { key: ['hearth', 'verified', 'doc', 'b1'], data: [4] },
      { key: ['repo', 'doc', 'snapshot', 'h1'], data: [1, 2, 3] },
    ])
    await tab.close()
  })

  it('keeps a save that resolved when its tab is closed right after', async () => {
    const context = await browser.newContext()
    const tab = await openPage(context)
    // The tab closes as soon as the save's promise resolved in the page.
    await tab.evaluate(async () => {
      const adapter = await window.hearthStore.IndexedDbStoreAdapter.open('closed-tab')
      for (let i = 0; i < 20; i++)
        await adapter.save(['sent', String(i)], new Uint8Array(1000).fill(i))
    })
    await tab.close()
    const reopened = await openPage(context)
    const sizes = await reopened.evaluate(async () => {
      const adapter = await window.hearthStore.IndexedDbStoreAdapter.open('closed-tab')
      const range = await adapter.loadRange(['sent'])
      adapter.close()
      return range.map((e) => [e.key[1], e.data.length, e.data[0]])
    })
    expect(new Map(sizes.map(([k, n, v]) => [Number(k), [n, v]]))).toEqual(
      new Map(Array.from({ length: 20 }, (_, i) => [i, [1000, i]])),
    )
    await context.close()
  })
})

/** Every pid of Chromium's process group whose main process uses `userDataDir`. */
async function browserProcessGroup(userDataDir: string): Promise<number> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')
    const args = cmdline.split('\0')
    if (
      args.includes(`--user-data-dir=${userDataDir}`) &&
      !args.some((a) => a.startsWith('--type='))
    )
      return Number(entry)
  }
  throw new Error('the browser process was not found')
}

describe('IndexedDbStoreAdapter when the browser is killed (S21)', () => {
  const ROUNDS = 4
  let userDataDir: string

  beforeAll(async () => {
    userDataDir = await mkdtemp(join(tmpdir(), 'hearth-chromium-'))
  })
  afterAll(async () => {
    await rm(userDataDir, { recursive: true, force: true })
  })

  const launch = () =>
    chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      args: CHROMIUM_ARGS,
    })

  it(`keeps every save that resolved before SIGKILL of the whole browser (${ROUNDS} kills)`, async () => {
    const acked: Array<{ round: number; index: number }> = []
    let killsOnUnacknowledged = 0
    for (let round = 0; round < ROUNDS; round++) {
      const context = await launch()
      const pid = await browserProcessGroup(userDataDir) // found before the burst: kill at once
      const tab = await openPage(context)
      // Everything acknowledged in earlier rounds is still there, whole.
      const stored = await tab.evaluate(async () => {
        const adapter = await window.hearthStore.IndexedDbStoreAdapter.open('crash')
        const range = await adapter.loadRange(['burst'])
        adapter.close()
        return range.map((e) => ({
          key: e.key,
          length: e.data.length,
          whole: e.data.every((v) => v === e.data[0]),
          first: e.data[0],
        }))
      })
      const present = new Map(stored.map((e) => [e.key.slice(1).join('/'), e]))
      for (const { round: r, index } of acked) {
        const entry = present.get(`${r}/${index}`)
        expect(entry, `round ${r} save ${index} was acknowledged`).toBeDefined()
        expect(entry).toMatchObject({ length: 4096, whole: true, first: (r * 31 + index) % 256 })
      }

      const started = new Set<number>()
      const roundAcks = new Set<number>()
      const target = 5 + ((round * 7919) % 23) // seeded: the kill lands after 5..27 acknowledgements
      let reached: () => void = () => undefined
      const enough = new Promise<void>((resolve) => (reached = resolve))
      await tab.exposeFunction('hearthStarted', (index: number) => started.add(index))
      await tab.exposeFunction('hearthAcked', (index: number) => {
        roundAcks.add(index)
        if (roundAcks.size >= target) reached()
      })
      // A burst of saves, four in flight at once; each is acknowledged to the test once its
      // promise resolved (what the app would show as "stored on this device").
      const burst = tab
        .evaluate(async (r) => {
          const adapter = await window.hearthStore.IndexedDbStoreAdapter.open('crash')
          let next = 0
          const writer = async () => {
            for (;;) {
              const index = next++
              window.hearthStarted(index)
              const data = new Uint8Array(4096).fill((r * 31 + index) % 256)
              await adapter.save(['burst', String(r), String(index)], data)
              window.hearthAcked(index)
            }
          }
          await Promise.all([writer(), writer(), writer(), writer()])
        }, round)
        .catch(() => undefined) // the kill ends it
      await enough
      const closed = new Promise<void>((resolve) => context.once('close', () => resolve()))
      process.kill(-pid, 'SIGKILL') // the whole group: browser, renderer, storage service
      await closed
      await burst
      for (const index of roundAcks) acked.push({ round, index })
      if ([...started].some((index) => !roundAcks.has(index))) killsOnUnacknowledged++
    }
    const context = await launch()
    const tab = await openPage(context)
    const count = await tab.evaluate(async () => {
      const adapter = await window.hearthStore.IndexedDbStoreAdapter.open('crash')
      return (await adapter.loadRange(['burst'])).length
    })
    await context.close()
    expect(count).toBeGreaterThanOrEqual(acked.length)
    expect(acked.length).toBeGreaterThanOrEqual(ROUNDS * 5)
    // The kills must land among writes not yet acknowledged, or the test proves nothing.
    expect(killsOnUnacknowledged).toBeGreaterThan(0)
    console.log(
      `browser SIGKILL: ${ROUNDS} kills, ${killsOnUnacknowledged} with saves in flight, ${acked.length} acknowledged saves all present (${count} stored)`,
    )
  })

  it('keeps a Repo’s document flushed right before SIGKILL of the browser', async () => {
    const context = await launch()
    const pid = await browserProcessGroup(userDataDir)
    const tab = await openPage(context, '/repo')
    const written = await tab.evaluate(() => window.hearthRepo.write('repo-crash', 30))
    const closed = new Promise<void>((resolve) => context.once('close', () => resolve()))
    process.kill(-pid, 'SIGKILL') // as soon as the flush resolved in the page
    await closed
    const again = await launch()
    const reopened = await openPage(again, '/repo')
    const read = await reopened.evaluate(
      (url) => window.hearthRepo.read('repo-crash', url),
      written.url,
    )
    await again.close()
    expect(read.heads).toEqual(written.heads)
    expect(read.lines).toHaveLength(30)
  })
})
