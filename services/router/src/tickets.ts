import type { Did } from '@hearth/identity'

export const TICKET_TTL_MS = 30_000

export type TicketFailure = 'UnknownTicket' | 'ExpiredTicket' | 'TooManyTickets'

export class TicketError extends Error {
  readonly reason: TicketFailure
  constructor(reason: TicketFailure, message: string) {
    super(`${reason}: ${message}`)
    this.name = 'TicketError'
    this.reason = reason
  }
}

interface Outstanding {
  did: Did
  expiresAt: number
}

/**
 * Single-use, short-lived tickets: a service-auth JWT (minted by the user's PDS) is
 * exchanged for one, and the WebSocket presents it when it opens. A ticket is forgotten
 * the moment it is used or expires, so a leaked one is worth at most one connection for
 * at most 30 s. Bounded globally and per DID.
 */
export class TicketStore {
  readonly #tickets = new Map<string, Outstanding>()
  readonly #ttlMs: number
  readonly #maxOutstanding: number
  readonly #maxPerDid: number
  readonly #now: () => number

  constructor(
    options: {
      ttlMs?: number
      maxOutstanding?: number
      maxPerDid?: number
      now?: () => number
    } = {},
  ) {
    this.#ttlMs = options.ttlMs ?? TICKET_TTL_MS
    this.#maxOutstanding = options.maxOutstanding ?? 50_000
    this.#maxPerDid = options.maxPerDid ?? 32
    this.#now = options.now ?? Date.now
  }

  get size(): number {
    return this.#tickets.size
  }

  issue(did: Did): { ticket: string; expiresAt: number } {
    const now = this.#now()
    if (this.#tickets.size >= this.#maxOutstanding) this.#purge(now)
    if (this.#tickets.size >= this.#maxOutstanding)
      throw new TicketError(
        'TooManyTickets',
        'the router is handing out too many tickets; retry shortly',
      )
    let mine = 0
    for (const t of this.#tickets.values()) if (t.did === did && t.expiresAt > now) mine++
    if (mine >= this.#maxPerDid)
      throw new TicketError('TooManyTickets', 'too many unused tickets for this account')
    const ticket = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')
    const expiresAt = now + this.#ttlMs
    this.#tickets.set(ticket, { did, expiresAt })
    return { ticket, expiresAt }
  }

  /** Returns the ticket's DID and forgets the ticket, whatever the outcome. */
  consume(ticket: string): Did {
    const found = this.#tickets.get(ticket)
    if (!found) throw new TicketError('UnknownTicket', 'unknown or already used ticket')
    this.#tickets.delete(ticket)
    if (found.expiresAt <= this.#now())
      throw new TicketError('ExpiredTicket', 'the ticket has expired')
    return found.did
  }

  #purge(now: number): void {
    for (const [ticket, t] of this.#tickets) if (t.expiresAt <= now) this.#tickets.delete(ticket)
  }
}
