import { describe, expect, it } from 'vitest'
import { BoundedCache, TokenBuckets } from './token-buckets.ts'

describe('TokenBuckets', () => {
  it('allow a burst up to capacity, then refuse with a Retry-After that refills one token', () => {
    let now = 0
    const buckets = new TokenBuckets({ capacity: 3, refillPerSecond: 0.5, now: () => now })
    expect([1, 2, 3].map(() => buckets.take('ip:1').ok)).toEqual([true, true, true])
    expect(buckets.take('ip:1')).toEqual({ ok: false, retryAfterSeconds: 2 })
    now += 1000
    expect(buckets.take('ip:1')).toEqual({ ok: false, retryAfterSeconds: 1 })
    now += 1000
    expect(buckets.take('ip:1').ok).toBe(true)
    expect(buckets.take('ip:1').ok).toBe(false)
  })

  it('keep one bucket per key, and take a cost of several tokens', () => {
    const buckets = new TokenBuckets({ capacity: 4, refillPerSecond: 1, now: () => 0 })
    expect(buckets.take('a', 3).ok).toBe(true)
    expect(buckets.take('a', 2)).toEqual({ ok: false, retryAfterSeconds: 1 })
    expect(buckets.take('b', 4).ok).toBe(true)
  })

  it('never refill above capacity, and ignore a clock that goes back', () => {
    let now = 60_000
    const buckets = new TokenBuckets({ capacity: 2, refillPerSecond: 10, now: () => now })
    buckets.take('a')
    now += 60_000
    expect([1, 2, 3].map(() => buckets.take('a').ok)).toEqual([true, true, false])
    now -= 30_000
    expect(buckets.take('a').ok).toBe(false)
  })

  it('bound their key set: idle keys are dropped, a newcomer is refused rather than a debtor forgotten', () => {
    let now = 0
    const buckets = new TokenBuckets({
      capacity: 1,
      refillPerSecond: 1,
      maxKeys: 2,
      now: () => now,
    })
    buckets.take('a')
    buckets.take('b')
    // An LRU would evict `a` here and hand it a fresh bucket on its next try.
    expect(buckets.take('c')).toEqual({ ok: false, retryAfterSeconds: 1 })
    expect(buckets.size).toBe(2)
    expect(buckets.take('a').ok).toBe(false)
    now += 5000 // a and b have refilled: idle, dropped for the newcomer
    expect(buckets.take('c').ok).toBe(true)
    expect(buckets.size).toBe(1)
  })

  it('reserve on credit: a wait as long as the tokens take, refused beyond the longest wait', () => {
    let now = 0
    const buckets = new TokenBuckets({ capacity: 2, refillPerSecond: 10, now: () => now })
    expect(buckets.reserve('a', 2, 1000)).toEqual({ ok: true, waitMs: 0 })
    expect(buckets.reserve('a', 1, 1000)).toEqual({ ok: true, waitMs: 100 })
    expect(buckets.reserve('a', 5, 1000)).toEqual({ ok: true, waitMs: 600 })
    // 6 tokens owed: 10 more would be 1.6 s away.
    expect(buckets.reserve('a', 10, 1000)).toEqual({ ok: false, retryAfterSeconds: 2 })
    now += 600 // the debt is paid off
    expect(buckets.reserve('a', 1, 1000)).toEqual({ ok: true, waitMs: 100 })
    expect(buckets.take('a').ok).toBe(false)
  })

  it('refuse a nonsensical configuration', () => {
    expect(() => new TokenBuckets({ capacity: 0, refillPerSecond: 1 })).toThrow(RangeError)
    expect(() => new TokenBuckets({ capacity: 1, refillPerSecond: 0 })).toThrow(RangeError)
  })
})

describe('BoundedCache', () => {
  it('remembers a key until it expires', () => {
    let now = 0
    const cache = new BoundedCache({ ttlMs: 1000, maxKeys: 10, now: () => now })
    expect(cache.add('n1')).toBe('added')
    expect(cache.add('n1')).toBe('present')
    now += 1001
    expect(cache.add('n1')).toBe('added')
  })

  it('when full, drops expired keys and otherwise refuses newcomers', () => {
    let now = 0
    const cache = new BoundedCache({ ttlMs: 1000, maxKeys: 2, now: () => now })
    cache.add('a')
    now += 500
    cache.add('b')
    expect(cache.add('c')).toBe('full')
    expect(cache.add('a')).toBe('present')
    now += 600 // a expired, b not
    expect(cache.add('c')).toBe('added')
    expect(cache.size).toBe(2)
    expect(cache.add('b')).toBe('present')
  })
})
