import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import { assertStoreKey, sortEntries } from './store-adapter.ts'
import type { StoreAdapter, StoreEntry, StoreKey } from './store-adapter.ts'

/**
 * Files in Node: one file per key, `<root>/<segment>/.../<last>.bin`. Writes go to a temporary
 * file that is renamed over the old one, so a crash leaves the old value or the new one.
 */
export class FileStoreAdapter implements StoreAdapter {
  readonly #root: string

  constructor(root: string) {
    this.#root = root
  }

  #path(key: StoreKey): string {
    return join(this.#root, ...key.slice(0, -1), `${key[key.length - 1]}.bin`)
  }

  async load(key: StoreKey): Promise<Uint8Array | undefined> {
    assertStoreKey(key)
    try {
      return new Uint8Array(await readFile(this.#path(key)))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw error
    }
  }

  async save(key: StoreKey, data: Uint8Array): Promise<void> {
    assertStoreKey(key)
    const path = this.#path(key)
    await mkdir(join(this.#root, ...key.slice(0, -1)), { recursive: true })
    const temporary = `${path}.${randomUUID()}.tmp`
    await writeFile(temporary, data)
    await rename(temporary, path)
  }

  async remove(key: StoreKey): Promise<void> {
    assertStoreKey(key)
    await rm(this.#path(key), { force: true })
  }

  async loadRange(prefix: StoreKey): Promise<StoreEntry[]> {
    assertStoreKey(prefix, true)
    const out: StoreEntry[] = []
    const walk = async (dir: string, key: string[]): Promise<void> => {
      let names: string[]
      try {
        names = await readdir(dir)
      } catch (error) {
        if (
          (error as NodeJS.ErrnoException).code === 'ENOENT' ||
          (error as NodeJS.ErrnoException).code === 'ENOTDIR'
        )
          return
        throw error
      }
      for (const name of names) {
        if (name.endsWith('.tmp')) continue
        if (name.endsWith('.bin')) {
          const full = [...key, name.slice(0, -4)]
          out.push({ key: full, data: new Uint8Array(await readFile(join(dir, name))) })
        } else {
          await walk(join(dir, name), [...key, name])
        }
      }
    }
    // The prefix may name a file (a whole key) as well as a directory.
    if (prefix.length > 0) {
      const exact = await this.load(prefix)
      if (exact) out.push({ key: [...prefix], data: exact })
    }
    await walk(join(this.#root, ...prefix), [...prefix])
    return sortEntries(out)
  }

  async removeRange(prefix: StoreKey): Promise<void> {
    assertStoreKey(prefix, true)
    if (prefix.length > 0) await rm(this.#path(prefix), { force: true })
    await rm(join(this.#root, ...prefix), { recursive: true, force: true })
  }
}
