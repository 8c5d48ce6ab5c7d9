/** A token bucket: `capacity` tokens at once, refilled at `refillPerSecond`. */
export interface BucketConfig {
  capacity: number
  refillPerSecond: number
}

export type TakeResult = { ok: true } | { ok: false; retryAfterSeconds: number }

export interface TokenBucketsOptions extends BucketConfig {
  /** Keys tracked at once (default 100,000): the key set is peer-controlled. */
  maxKeys?: number
  now?: () => number
}

interface Bucket {
  tokens: number
  at: number
}

/**
 * Token buckets keyed by a string (a DID, an IP, a space). The key set is peer-controlled, so
 * it is bounded: when full, buckets that have refilled completely (idle keys, which hold no
 * debt) are dropped first, and if none can be dropped the newcomer is refused. Evicting a key
 * in debt instead (an LRU) would hand a flooder a fresh bucket just by cycling through more
 * keys than the map holds; refusing newcomers costs them a retry, never anyone's limit.
 */
export class TokenBuckets {
  readonly config: BucketConfig
  readonly maxKeys: number
  readonly #buckets = new Map<string, Bucket>()
  readonly #now: () => number

  constructor(options: TokenBucketsOptions) {
    if (!(options.capacity >= 1) || !(options.refillPerSecond > 0))
      throw new RangeError('a bucket needs capacity >= 1 and a positive refill rate')
    this.config = { capacity: options.capacity, refillPerSecond: options.refillPerSecond }
    this.maxKeys = options.maxKeys ?? 100_000
    this.#now = options.now ?? Date.now
  }

  get size(): number {
    return this.#buckets.size
  }

  /** Takes `cost` tokens; on refusal says how long until they would be there. */
  take(key: string, cost = 1): TakeResult {
    const now = this.#now()
    const { capacity, refillPerSecond } = this.config
    let bucket = this.#buckets.get(key)
    if (!bucket) {
      if (this.#buckets.size >= this.maxKeys) this.#dropIdle(now)
      if (this.#buckets.size >= this.maxKeys) return { ok: false, retryAfterSeconds: 1 }
      bucket = { tokens: capacity, at: now }
      this.#buckets.set(key, bucket)
    }
    bucket.tokens = Math.min(
      capacity,
      bucket.tokens + (Math.max(0, now - bucket.at) / 1000) * refillPerSecond,
    )
    bucket.at = now
    if (bucket.tokens >= cost) {
      bucket.tokens -= cost
      return { ok: true }
    }
    return {
      ok: false,
      retryAfterSeconds: Math.max(1, Math.ceil((cost - bucket.tokens) / refillPerSecond)),
    }
  }

  /**
   * Takes `cost` tokens now or on credit (the bucket goes into debt): says how long the caller
   * should wait before acting, as if it had waited for the tokens. Refused, taking nothing,
   * when that wait would exceed `maxWaitMs` (so a debt, too, is bounded).
   */
  reserve(
    key: string,
    cost: number,
    maxWaitMs: number,
  ): { ok: true; waitMs: number } | { ok: false; retryAfterSeconds: number } {
    const now = this.#now()
    const { capacity, refillPerSecond } = this.config
    let bucket = this.#buckets.get(key)
    if (!bucket) {
      if (this.#buckets.size >= this.maxKeys) this.#dropIdle(now)
      if (this.#buckets.size >= this.maxKeys) return { ok: false, retryAfterSeconds: 1 }
      bucket = { tokens: capacity, at: now }
      this.#buckets.set(key, bucket)
    }
    bucket.tokens = Math.min(
      capacity,
      bucket.tokens + (Math.max(0, now - bucket.at) / 1000) * refillPerSecond,
    )
    bucket.at = now
    const after = bucket.tokens - cost
    const waitMs = after >= 0 ? 0 : Math.ceil((-after / refillPerSecond) * 1000)
    if (waitMs > maxWaitMs)
      return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) }
    bucket.tokens = after
    return { ok: true, waitMs }
  }

  #dropIdle(now: number): void {
    const { capacity, refillPerSecond } = this.config
    for (const [key, b] of this.#buckets)
      if (b.tokens + ((now - b.at) / 1000) * refillPerSecond >= capacity) this.#buckets.delete(key)
  }
}

/**
 * A set of keys remembered until they expire, bounded: when full, expired keys are dropped
 * and, if none has expired, a newcomer is refused (`add` returns 'full') rather than
 * forgetting one that still matters (a replay cache must not forget a live nonce).
 */
export class BoundedCache {
  readonly maxKeys: number
  readonly #ttlMs: number
  readonly #expires = new Map<string, number>()
  readonly #now: () => number

  constructor(options: { ttlMs: number; maxKeys: number; now?: () => number }) {
    this.#ttlMs = options.ttlMs
    this.maxKeys = options.maxKeys
    this.#now = options.now ?? Date.now
  }

  get size(): number {
    return this.#expires.size
  }

  /** 'added', 'present' (seen and not expired), or 'full'. */
  add(key: string): 'added' | 'present' | 'full' {
    const now = this.#now()
    const expires = this.#expires.get(key)
    if (expires !== undefined && expires > now) return 'present'
    if (expires === undefined && this.#expires.size >= this.maxKeys) {
      // Insertion order is expiry order (one ttl for all): the oldest expire first.
      for (const [k, at] of this.#expires) {
        if (at > now) break
        this.#expires.delete(k)
      }
      if (this.#expires.size >= this.maxKeys) return 'full'
    }
    this.#expires.delete(key)
    this.#expires.set(key, now + this.#ttlMs)
    return 'added'
  }
}
