import type { StorageAdapterInterface, StorageKey } from '@automerge/automerge-repo/slim'
import { runStorageAdapterTests } from '@automerge/automerge-repo/helpers/tests/storage-adapter-tests.js'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ChunkTooLargeError, InvalidStorageKeyError } from './errors.ts'

/**
 * One storage backend under test. `reopen` closes the current adapter (if it can be closed)
 * and opens a new one on the same underlying store; `maxChunkBytes` is the cap the backend
 * was opened with (at least 100 000, automerge-repo's own large-payload case).
 */
export interface StorageHarness {
  adapter: StorageAdapterInterface
  maxChunkBytes: number
  reopen(): Promise<StorageAdapterInterface>
  teardown(): Promise<void> | void
}

/**
 * The storage seam's contract, written once: automerge-repo's own acceptance suite plus
 * Hearth's cases. Call it inside a test file for each backend (SQLite, memory, later Postgres).
 */
export function runStorageContract(name: string, open: () => Promise<StorageHarness>): void {
  describe(`storage contract: ${name}`, () => {
    describe('automerge-repo acceptance', () => {
      runStorageAdapterTests(async () => {
        const harness = await open()
        return { adapter: harness.adapter, teardown: () => harness.teardown() }
      }, name)
    })

    describe('hearth', () => {
      let h: StorageHarness
      beforeEach(async () => {
        h = await open()
      })
      afterEach(async () => {
        await h.teardown()
      })

      it('keeps saves and removals across close and reopen', async () => {
        await h.adapter.save(['doc1', 'incremental', 'a'], bytes(1, 10))
        await h.adapter.save(['doc1', 'incremental', 'b'], bytes(2, 20))
        await h.adapter.save(['doc1', 'snapshot', 'c'], bytes(3, 30))
        await h.adapter.save(['doc2', 'sync-state', 'p'], bytes(4, 40))
        await h.adapter.save(['doc1', 'incremental', 'a'], bytes(5, 50))
        await h.adapter.remove(['doc1', 'incremental', 'b'])
        await h.adapter.removeRange(['doc2'])
        const reopened = await h.reopen()
        expect(await reopened.load(['doc1', 'incremental', 'a'])).toStrictEqual(bytes(5, 50))
        expect(await reopened.load(['doc1', 'incremental', 'b'])).toBeUndefined()
        expect(await reopened.loadRange(['doc1'])).toStrictEqual([
          { key: ['doc1', 'incremental', 'a'], data: bytes(5, 50) },
          { key: ['doc1', 'snapshot', 'c'], data: bytes(3, 30) },
        ])
        expect(await reopened.loadRange(['doc2'])).toStrictEqual([])
      })

      it('isolates ranges of documents whose ids share a prefix', async () => {
        const keys: StorageKey[] = [
          ['abc', 'incremental', 'h1'],
          ['abcd', 'incremental', 'h2'],
          ['ab', 'c', 'h3'],
          ['abc', 'incrementalX', 'h4'],
          ['abc'],
          ['ab'],
        ]
        for (const [i, key] of keys.entries()) await h.adapter.save(key, bytes(i, 8))
        expect(await keysOf(h.adapter, ['abc'])).toEqual([
          ['abc', 'incremental', 'h1'],
          ['abc', 'incrementalX', 'h4'],
          ['abc'],
        ])
        expect(await keysOf(h.adapter, ['abc', 'incremental'])).toEqual([
          ['abc', 'incremental', 'h1'],
        ])
        expect(await keysOf(h.adapter, ['ab'])).toEqual([['ab', 'c', 'h3'], ['ab']])
        expect(await keysOf(h.adapter, ['a'])).toEqual([])
        await h.adapter.removeRange(['abc'])
        expect(await keysOf(h.adapter, [])).toEqual([
          ['abcd', 'incremental', 'h2'],
          ['ab', 'c', 'h3'],
          ['ab'],
        ])
        await h.adapter.removeRange(['ab', 'c'])
        expect(await keysOf(h.adapter, [])).toEqual([['abcd', 'incremental', 'h2'], ['ab']])
      })

      it('stores keys with wildcard, separator, control and non-BMP characters exactly', async () => {
        const odd = [
          '%',
          '_',
          'a%',
          'a_c',
          'abc',
          '\\',
          "'; DROP TABLE chunks; --",
          '.',
          'a.b',
          '/',
          '',
          '\u0000',
          '\u0001',
          'a\u0000b',
          '\u0001\u0002',
          '\uffff',
          '\u{1f525}',
          '\u{10ffff}',
          'é',
          'e\u0301',
        ]
        for (const [i, part] of odd.entries()) await h.adapter.save([part, 'x'], bytes(i, 4))
        await h.adapter.save(['a', 'b'], bytes(99, 4))
        await h.adapter.save(['a', '\u0000b'], bytes(98, 4))
        for (const [i, part] of odd.entries()) {
          expect(await h.adapter.load([part, 'x'])).toStrictEqual(bytes(i, 4))
          // A prefix matches only its own key: '%' and '_' are not wildcards, '\uffff' is
          // not an upper bound for astral characters, NUL does not end a part early.
          expect(await h.adapter.loadRange([part])).toStrictEqual([
            { key: [part, 'x'], data: bytes(i, 4) },
          ])
        }
        expect(await keysOf(h.adapter, ['a'])).toEqual([
          ['a', 'b'],
          ['a', '\u0000b'],
        ])
        expect(await h.adapter.load(['a\u0000b'])).toBeUndefined()
        await h.adapter.removeRange(['%'])
        await h.adapter.removeRange(['_'])
        expect((await h.adapter.loadRange([])).length).toBe(odd.length + 2 - 2)
      })

      it('refuses keys it could not store exactly', async () => {
        await expect(h.adapter.save([], bytes(0, 1))).rejects.toBeInstanceOf(InvalidStorageKeyError)
        // A lone surrogate has no UTF-8 form: '\ud800' would collide with '\ufffd'.
        await expect(h.adapter.save(['\ud800'], bytes(0, 1))).rejects.toBeInstanceOf(
          InvalidStorageKeyError,
        )
        await expect(h.adapter.save(['x'.repeat(5000)], bytes(0, 1))).rejects.toBeInstanceOf(
          InvalidStorageKeyError,
        )
        expect(await h.adapter.loadRange([])).toStrictEqual([])
      })

      it('refuses a chunk above its cap and keeps what was there', async () => {
        const key = ['doc', 'snapshot', 'big']
        await h.adapter.save(key, bytes(1, h.maxChunkBytes))
        expect((await h.adapter.load(key))?.byteLength).toBe(h.maxChunkBytes)
        const refusal = h.adapter.save(key, bytes(2, h.maxChunkBytes + 1))
        await expect(refusal).rejects.toBeInstanceOf(ChunkTooLargeError)
        expect(await h.adapter.load(key)).toStrictEqual(bytes(1, h.maxChunkBytes))
      })

      it('does not alias the caller’s buffers', async () => {
        const data = bytes(7, 16)
        await h.adapter.save(['doc', 'incremental', 'x'], data)
        data.fill(0)
        const loaded = await h.adapter.load(['doc', 'incremental', 'x'])
        expect(loaded).toStrictEqual(bytes(7, 16))
        loaded!.fill(0)
        expect(await h.adapter.load(['doc', 'incremental', 'x'])).toStrictEqual(bytes(7, 16))
      })
    })
  })
}

/** Deterministic bytes of a given length. */
export function bytes(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length)
  let x = (seed * 2654435761) >>> 0 || 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

async function keysOf(adapter: StorageAdapterInterface, prefix: StorageKey): Promise<StorageKey[]> {
  return (await adapter.loadRange(prefix)).map((chunk) => chunk.key)
}
