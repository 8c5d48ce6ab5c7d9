import { describe, expect, it } from 'vitest'
import { ConnectionCaps, TokenBuckets } from './limits.ts'

describe('token buckets', () => {
  it('allow a burst, then refuse with a Retry-After, then refill', () => {
    let now = 0
    const buckets = new TokenBuckets({ capacity: 3, refillPerSecond: 1, now: () => now })
    expect(buckets.take('did:a').ok).toBe(true)
    expect(buckets.take('did:a').ok).toBe(true)
    expect(buckets.take('did:a').ok).toBe(true)
    expect(buckets.take('did:a')).toEqual({ ok: false, retryAfterSeconds: 1 })
    expect(buckets.take('did:b').ok).toBe(true)
    now += 1000
    expect(buckets.take('did:a').ok).toBe(true)
  })

  it('bound their key set without forgetting a debtor', () => {
    let now = 0
    const buckets = new TokenBuckets({
      capacity: 1,
      refillPerSecond: 1,
      maxKeys: 2,
      now: () => now,
    })
    buckets.take('a')
    buckets.take('b')
    expect(buckets.take('c').ok).toBe(false)
    expect(buckets.take('a').ok).toBe(false)
    now += 5000
    expect(buckets.take('c').ok).toBe(true)
  })
})

describe('connection caps', () => {
  it('hold per DID, per IP and in total, and release once', () => {
    const caps = new ConnectionCaps({ perDid: 2, perIp: 3, total: 4 })
    const a1 = caps.acquire('did:a', 'ip1')
    const a2 = caps.acquire('did:a', 'ip1')
    expect(caps.acquire('did:a', 'ip2')).toEqual({ ok: false, reason: 'TooManyForDid' })
    caps.acquire('did:b', 'ip1')
    expect(caps.acquire('did:c', 'ip1')).toEqual({ ok: false, reason: 'TooManyForIp' })
    caps.acquire('did:c', 'ip2')
    expect(caps.acquire('did:d', 'ip3')).toEqual({ ok: false, reason: 'RouterFull' })
    if (!a1.ok || !a2.ok) throw new Error('expected slots')
    a1.release()
    a1.release()
    expect(caps.total).toBe(3)
    expect(caps.acquire('did:a', 'ip3').ok).toBe(true)
  })
})
