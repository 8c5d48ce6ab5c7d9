/**
 * Token buckets keyed by DID, IP or space. The key set is peer-controlled, so it is
 * bounded: when full, buckets that have refilled completely (idle keys) are dropped
 * first, and if none can be dropped the newcomer is refused rather than forgetting
 * someone's debt.
 */
export class TokenBuckets {
  readonly #buckets = new Map<string, { tokens: number; at: number }>()
  readonly #capacity: number
  readonly #perSecond: number
  readonly #maxKeys: number
  readonly #now: () => number

  constructor(options: {
    capacity: number
    refillPerSecond: number
    maxKeys?: number
    now?: () => number
  }) {
    this.#capacity = options.capacity
    this.#perSecond = options.refillPerSecond
    this.#maxKeys = options.maxKeys ?? 100_000
    this.#now = options.now ?? Date.now
  }

  /** Takes `cost` tokens; on refusal says how long until they would be there. */
  take(key: string, cost = 1): { ok: true } | { ok: false; retryAfterSeconds: number } {
    const now = this.#now()
    let bucket = this.#buckets.get(key)
    if (!bucket) {
      if (this.#buckets.size >= this.#maxKeys) this.#dropIdle(now)
      if (this.#buckets.size >= this.#maxKeys) return { ok: false, retryAfterSeconds: 1 }
      bucket = { tokens: this.#capacity, at: now }
      this.#buckets.set(key, bucket)
    }
    bucket.tokens = Math.min(
      this.#capacity,
      bucket.tokens + ((now - bucket.at) / 1000) * this.#perSecond,
    )
    bucket.at = now
    if (bucket.tokens >= cost) {
      bucket.tokens -= cost
      return { ok: true }
    }
    return {
      ok: false,
      retryAfterSeconds: Math.max(1, Math.ceil((cost - bucket.tokens) / this.#perSecond)),
    }
  }

  #dropIdle(now: number): void {
    for (const [key, b] of this.#buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.#perSecond >= this.#capacity)
        this.#buckets.delete(key)
    }
  }
}

export type ConnectionRefusal = 'TooManyForDid' | 'TooManyForIp' | 'RouterFull'

/** Open sockets per DID, per IP and in total. */
export class ConnectionCaps {
  readonly #byDid = new Map<string, number>()
  readonly #byIp = new Map<string, number>()
  #total = 0
  readonly #limits: { perDid: number; perIp: number; total: number }

  constructor(limits: { perDid: number; perIp: number; total: number }) {
    this.#limits = limits
  }

  get total(): number {
    return this.#total
  }

  /** Reserves a slot; returns the release function or the reason for refusal. */
  acquire(
    did: string,
    ip: string,
  ): { ok: true; release: () => void } | { ok: false; reason: ConnectionRefusal } {
    if (this.#total >= this.#limits.total) return { ok: false, reason: 'RouterFull' }
    if ((this.#byDid.get(did) ?? 0) >= this.#limits.perDid)
      return { ok: false, reason: 'TooManyForDid' }
    if ((this.#byIp.get(ip) ?? 0) >= this.#limits.perIp)
      return { ok: false, reason: 'TooManyForIp' }
    bump(this.#byDid, did, 1)
    bump(this.#byIp, ip, 1)
    this.#total++
    let released = false
    return {
      ok: true,
      release: () => {
        if (released) return
        released = true
        bump(this.#byDid, did, -1)
        bump(this.#byIp, ip, -1)
        this.#total--
      },
    }
  }
}

function bump(map: Map<string, number>, key: string, by: number): void {
  const next = (map.get(key) ?? 0) + by
  if (next <= 0) map.delete(key)
  else map.set(key, next)
}
