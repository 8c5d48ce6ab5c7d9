// The page half of store-indexeddb.test.ts: automerge-repo's Repo on IndexedDB through the
// storage bridge, bundled by Vite for Chromium. Exposed on `window` for Playwright.
import { Repo } from '@automerge/automerge-repo'
import type { AutomergeUrl } from '@automerge/automerge-repo'
import { IndexedDbStoreAdapter } from '../../packages/sync/src/store/indexeddb-store-adapter.ts'
import { prefixedStore, StoreStorageAdapter } from '../../packages/sync/src/store/storage-bridge.ts'

interface Lines {
  lines: string[]
}

async function openRepo(database: string): Promise<{ repo: Repo; store: IndexedDbStoreAdapter }> {
  const store = await IndexedDbStoreAdapter.open(database)
  return {
    repo: new Repo({ storage: new StoreStorageAdapter(prefixedStore(store, 'repo')) }),
    store,
  }
}

export const hearthRepo = {
  /** Creates a document, writes `count` lines, resolves once the Repo flushed to IndexedDB. */
  async write(database: string, count: number): Promise<{ url: string; heads: string[] }> {
    const { repo } = await openRepo(database)
    const handle = repo.create<Lines>({ lines: [] })
    for (let i = 0; i < count; i++) handle.change((d) => void d.lines.push(`line ${i}`))
    await repo.flush()
    return { url: handle.url, heads: handle.heads() }
  },
  /** A fresh Repo on the same database: the document as loaded from IndexedDB. */
  async read(database: string, url: string): Promise<{ lines: string[]; heads: string[] }> {
    const { repo, store } = await openRepo(database)
    const handle = await repo.find<Lines>(url as AutomergeUrl)
    const result = { lines: [...handle.doc().lines], heads: handle.heads() }
    await repo.shutdown()
    store.close()
    return result
  },
}

;(window as unknown as { hearthRepo: typeof hearthRepo }).hearthRepo = hearthRepo
document.title = 'ready'
