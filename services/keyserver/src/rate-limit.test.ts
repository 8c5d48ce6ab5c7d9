import { describe, expect, it } from 'vitest'
import { TokenBucketLimiter } from './rate-limit.ts'

describe('TokenBucketLimiter', () => {
  it('allows a burst up to capacity, then refuses with a Retry-After that refills one token', () => {
    let now = 0
    const limiter = new TokenBucketLimiter(
      { capacity: 3, refillPerSecond: 0.5 },
      { now: () => now },
    )
    expect([1, 2, 3].map(() => limiter.take('ip:1').ok)).toEqual([true, true, true])
    expect(limiter.take('ip:1')).toEqual({ ok: false, retryAfterSeconds: 2 })
    now += 1000
    expect(limiter.take('ip:1')).toEqual({ ok: false, retryAfterSeconds: 1 })
    now += 1000
    expect(limiter.take('ip:1').ok).toBe(true)
    expect(limiter.take('ip:1').ok).toBe(false)
  })

  it('keeps one bucket per key', () => {
    const limiter = new TokenBucketLimiter({ capacity: 1, refillPerSecond: 1 }, { now: () => 0 })
    expect(limiter.take('a').ok).toBe(true)
    expect(limiter.take('a').ok).toBe(false)
    expect(limiter.take('b').ok).toBe(true)
  })

  it('never refills above capacity', () => {
    let now = 0
    const limiter = new TokenBucketLimiter({ capacity: 2, refillPerSecond: 10 }, { now: () => now })
    limiter.take('a')
    now += 60_000
    expect([1, 2, 3].map(() => limiter.take('a').ok)).toEqual([true, true, false])
  })

  it('bounds its map, dropping the least recently used key', () => {
    const limiter = new TokenBucketLimiter(
      { capacity: 1, refillPerSecond: 1 },
      { maxKeys: 2, now: () => 0 },
    )
    limiter.take('a')
    limiter.take('b')
    limiter.take('a') // a is now the most recent
    limiter.take('c') // evicts b
    expect(limiter.size).toBe(2)
    expect(limiter.take('a').ok).toBe(false)
    expect(limiter.take('b').ok).toBe(true) // fresh bucket
  })

  it('refuses a nonsensical configuration', () => {
    expect(() => new TokenBucketLimiter({ capacity: 0, refillPerSecond: 1 })).toThrow(RangeError)
    expect(() => new TokenBucketLimiter({ capacity: 1, refillPerSecond: 0 })).toThrow(RangeError)
  })
})
