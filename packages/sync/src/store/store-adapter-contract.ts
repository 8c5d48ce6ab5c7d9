// The contract every StoreAdapter passes (files in Node, IndexedDB in the browser, memory).
// Written once, run by each implementation's test: `runStoreAdapterContract(name, setup)`.
import { describe, expect, it } from 'vitest'
import { InvalidStoreKeyError } from './store-adapter.ts'
import type { StoreAdapter } from './store-adapter.ts'

export interface StoreAdapterFixture {
  adapter: StoreAdapter
  /** A second adapter over the same storage, as after a restart (omit for memory). */
  reopen?: () => Promise<StoreAdapter>
  teardown?: () => Promise<void>
}

export function runStoreAdapterContract(
  name: string,
  setup: () => Promise<StoreAdapterFixture>,
): void {
  const bytes = (...values: number[]) => new Uint8Array(values)

  async function withFixture(run: (fixture: StoreAdapterFixture) => Promise<void>): Promise<void> {
    const fixture = await setup()
    try {
      await run(fixture)
    } finally {
      await fixture.teardown?.()
    }
  }

  describe(`StoreAdapter contract: ${name}`, () => {
    it('loads nothing for a missing key', () =>
      withFixture(async ({ adapter }) => {
        expect(await adapter.load(['a', 'missing'])).toBeUndefined()
        expect(await adapter.loadRange(['a'])).toEqual([])
      }))

    it('round-trips every byte value, and empty values', () =>
      withFixture(async ({ adapter }) => {
        const all = new Uint8Array(256).map((_, i) => i)
        await adapter.save(['doc', 'all'], all)
        await adapter.save(['doc', 'empty'], new Uint8Array())
        expect(await adapter.load(['doc', 'all'])).toEqual(all)
        expect(await adapter.load(['doc', 'empty'])).toEqual(new Uint8Array())
      }))

    it('stores a copy: later changes to the caller’s buffer do not leak in', () =>
      withFixture(async ({ adapter }) => {
        const data = bytes(1, 2, 3)
        await adapter.save(['k'], data)
        data[0] = 9
        const loaded = await adapter.load(['k'])
        expect(loaded).toEqual(bytes(1, 2, 3))
        loaded![1] = 9
        expect(await adapter.load(['k'])).toEqual(bytes(1, 2, 3))
      }))

    it('overwrites and removes', () =>
      withFixture(async ({ adapter }) => {
        await adapter.save(['k', '1'], bytes(1))
        await adapter.save(['k', '1'], bytes(2, 2))
        expect(await adapter.load(['k', '1'])).toEqual(bytes(2, 2))
        await adapter.remove(['k', '1'])
        await adapter.remove(['k', 'never-there'])
        expect(await adapter.load(['k', '1'])).toBeUndefined()
      }))

    it('loads a range by prefix, nested keys included, in key order, and nothing outside it', () =>
      withFixture(async ({ adapter }) => {
        await adapter.save(['verified', 'docB', '2'], bytes(2))
        await adapter.save(['verified', 'docA', '1'], bytes(1))
        await adapter.save(['verified', 'docA', '0'], bytes(0))
        await adapter.save(['verified', 'docAB', '0'], bytes(7))
        await adapter.save(['snapshot', 'docA'], bytes(9))
        const range = await adapter.loadRange(['verified', 'docA'])
        expect(range.map((e) => e.key)).toEqual([
          ['verified', 'docA', '0'],
          ['verified', 'docA', '1'],
        ])
        expect(range.map((e) => e.data)).toEqual([bytes(0), bytes(1)])
        expect((await adapter.loadRange(['verified'])).length).toBe(4)
        expect((await adapter.loadRange([])).length).toBe(5)
      }))

    it('removes a range without touching its neighbours', () =>
      withFixture(async ({ adapter }) => {
        await adapter.save(['verified', 'docA', '0'], bytes(0))
        await adapter.save(['verified', 'docAB', '0'], bytes(1))
        await adapter.removeRange(['verified', 'docA'])
        expect(await adapter.loadRange(['verified', 'docA'])).toEqual([])
        expect(await adapter.load(['verified', 'docAB', '0'])).toEqual(bytes(1))
      }))

    it('refuses keys that could escape their namespace', () =>
      withFixture(async ({ adapter }) => {
        for (const key of [[], ['..'], ['a', '.'], ['a/b'], ['a\\b'], [''], ['x'.repeat(201)]]) {
          await expect(adapter.save(key, bytes(1))).rejects.toBeInstanceOf(InvalidStoreKeyError)
        }
      }))

    it('keeps the last of concurrent writes to one key whole', () =>
      withFixture(async ({ adapter }) => {
        const a = new Uint8Array(64 * 1024).fill(1)
        const b = new Uint8Array(64 * 1024).fill(2)
        await Promise.all([adapter.save(['race'], a), adapter.save(['race'], b)])
        const loaded = await adapter.load(['race'])
        expect([1, 2]).toContain(loaded![0])
        expect(loaded!.every((v) => v === loaded![0])).toBe(true)
        expect(await adapter.loadRange(['race'])).toHaveLength(1)
      }))

    it('survives a restart', () =>
      withFixture(async ({ adapter, reopen }) => {
        if (!reopen) return
        await adapter.save(['snapshot', 'space'], bytes(4, 5))
        const again = await reopen()
        expect(await again.load(['snapshot', 'space'])).toEqual(bytes(4, 5))
      }))
  })
}
