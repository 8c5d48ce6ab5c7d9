/** A token bucket: `capacity` requests at once, refilled at `refillPerSecond`. */
export interface BucketConfig {
  capacity: number
  refillPerSecond: number
}

export type TakeResult = { ok: true } | { ok: false; retryAfterSeconds: number }

interface Bucket {
  tokens: number
  updatedAt: number
}

/**
 * Token buckets keyed by a string (an IP, a DID). The map is bounded: when full, the least
 * recently used key is dropped, which at worst hands that key a fresh bucket, never more memory.
 */
export class TokenBucketLimiter {
  readonly config: BucketConfig
  readonly maxKeys: number
  private readonly buckets = new Map<string, Bucket>()
  private readonly now: () => number

  constructor(config: BucketConfig, options: { maxKeys?: number; now?: () => number } = {}) {
    if (!(config.capacity >= 1) || !(config.refillPerSecond > 0)) {
      throw new RangeError('a bucket needs capacity >= 1 and a positive refill rate')
    }
    this.config = config
    this.maxKeys = options.maxKeys ?? 10_000
    this.now = options.now ?? Date.now
  }

  take(key: string): TakeResult {
    const now = this.now()
    const { capacity, refillPerSecond } = this.config
    const existing = this.buckets.get(key)
    let bucket: Bucket
    if (existing) {
      const elapsed = Math.max(0, now - existing.updatedAt) / 1000
      bucket = {
        tokens: Math.min(capacity, existing.tokens + elapsed * refillPerSecond),
        updatedAt: now,
      }
      this.buckets.delete(key) // re-inserted below: Map order is our LRU order
    } else {
      bucket = { tokens: capacity, updatedAt: now }
      while (this.buckets.size >= this.maxKeys) {
        const oldest = this.buckets.keys().next().value
        if (oldest === undefined) break
        this.buckets.delete(oldest)
      }
    }
    this.buckets.set(key, bucket)
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1
      return { ok: true }
    }
    return {
      ok: false,
      retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / refillPerSecond)),
    }
  }

  get size(): number {
    return this.buckets.size
  }
}
