import { describe, expect, it } from 'vitest'
import { TtlCache } from './ttl-cache.ts'

describe('TtlCache', () => {
  it('expires entries after the TTL', () => {
    let now = 1_000
    const cache = new TtlCache<string, number>({ ttlMs: 100, maxEntries: 10, now: () => now })
    cache.set('a', 1)
    now += 99
    expect(cache.get('a')).toBe(1)
    now += 1
    expect(cache.get('a')).toBeUndefined()
    expect(cache.size).toBe(0)
  })

  it('evicts the least recently used entry beyond maxEntries', () => {
    const cache = new TtlCache<string, number>({ ttlMs: 1_000, maxEntries: 2 })
    cache.set('a', 1)
    cache.set('b', 2)
    expect(cache.get('a')).toBe(1) // a is now the most recent
    cache.set('c', 3)
    expect(cache.get('b')).toBeUndefined()
    expect(cache.get('a')).toBe(1)
    expect(cache.get('c')).toBe(3)
    expect(cache.size).toBe(2)
  })

  it('stays bounded under many distinct keys', () => {
    const cache = new TtlCache<number, number>({ ttlMs: 1_000, maxEntries: 100 })
    for (let i = 0; i < 10_000; i++) cache.set(i, i)
    expect(cache.size).toBe(100)
    expect(cache.get(9_999)).toBe(9_999)
    expect(cache.get(0)).toBeUndefined()
  })
})
