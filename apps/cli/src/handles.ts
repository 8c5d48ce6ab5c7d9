import { isDid, isHandle, type Did } from '@hearth/identity'
import { z } from 'zod'
import { readState, writeState } from './home.ts'
import { resolveIdentity } from './network.ts'

const HANDLES_FILE = 'handles.json'
/** Handles remembered per HEARTH_HOME, at most (a cache, not a contact list). */
const MAX_CACHED = 5000
/** DIDs looked up per command, at most: the rest print without a handle. */
const MAX_LOOKUPS = 50

const handleCache = z.record(z.string().refine(isDid), z.string().refine(isHandle))

/**
 * Handles for DIDs, verified both ways by the resolver (a DID document's claim alone is not a
 * handle). Answers from this HEARTH_HOME's cache first; unknown DIDs are looked up in parallel
 * with a short timeout when online, and a failed lookup only means "no handle shown".
 */
export class HandleBook {
  readonly #home: string
  readonly #resolverUrl: string
  #cache: Record<string, string> = {}
  #dirty = false

  private constructor(home: string, resolverUrl: string) {
    this.#home = home
    this.#resolverUrl = resolverUrl
  }

  static async open(home: string, resolverUrl: string): Promise<HandleBook> {
    const book = new HandleBook(home, resolverUrl)
    try {
      book.#cache = (await readState(home, HANDLES_FILE, handleCache)) ?? {}
    } catch {
      book.#cache = {} // a damaged cache is rebuilt, never fatal
    }
    return book
  }

  get(did: Did): string | null {
    return this.#cache[did] ?? null
  }

  remember(did: Did, handle: string): void {
    if (this.#cache[did] === handle) return
    this.#cache[did] = handle
    this.#dirty = true
  }

  /** Looks up the DIDs without a cached handle (when `online`), then returns the lookup. */
  async resolve(dids: Iterable<Did>, online: boolean): Promise<(did: Did) => string | null> {
    if (online) {
      const unknown = [...new Set(dids)].filter((did) => !this.#cache[did]).slice(0, MAX_LOOKUPS)
      await Promise.all(
        unknown.map(async (did) => {
          try {
            const identity = await resolveIdentity(this.#resolverUrl, did)
            if (identity.handleVerified && identity.handle) this.remember(did, identity.handle)
          } catch {
            // No handle for this one: it prints as its DID.
          }
        }),
      )
    }
    return (did) => this.get(did)
  }

  async save(): Promise<void> {
    if (!this.#dirty) return
    const entries = Object.entries(this.#cache).slice(-MAX_CACHED)
    await writeState(this.#home, HANDLES_FILE, Object.fromEntries(entries))
    this.#dirty = false
  }
}
