// Token buckets live in @hearth/limits (shared with the keyserver); re-exported for the router's API.
export { TokenBuckets } from '@hearth/limits'
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
