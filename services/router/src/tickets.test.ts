import { asDid } from '@hearth/identity'
import { describe, expect, it } from 'vitest'
import { TicketError, TicketStore } from './tickets.ts'

const alice = asDid('did:plc:alice')

describe('tickets', () => {
  it('S3: a ticket works once', () => {
    const store = new TicketStore()
    const { ticket } = store.issue(alice)
    expect(store.consume(ticket)).toBe(alice)
    expect(() => store.consume(ticket)).toThrow(
      expect.objectContaining({ reason: 'UnknownTicket' }),
    )
  })

  it('S3: a ticket past its lifetime is refused and forgotten', () => {
    let now = 1_000_000
    const store = new TicketStore({ ttlMs: 30_000, now: () => now })
    const { ticket, expiresAt } = store.issue(alice)
    expect(expiresAt).toBe(now + 30_000)
    now += 30_000
    expect(() => store.consume(ticket)).toThrow(
      expect.objectContaining({ reason: 'ExpiredTicket' }),
    )
    expect(store.size).toBe(0)
  })

  it('refuses an unknown ticket', () => {
    expect(() => new TicketStore().consume('made-up')).toThrow(TicketError)
  })

  it('caps unused tickets per DID and in total', () => {
    const store = new TicketStore({ maxPerDid: 2, maxOutstanding: 3 })
    store.issue(alice)
    store.issue(alice)
    expect(() => store.issue(alice)).toThrow(expect.objectContaining({ reason: 'TooManyTickets' }))
    store.issue(asDid('did:plc:bob'))
    expect(() => store.issue(asDid('did:plc:carol'))).toThrow(
      expect.objectContaining({ reason: 'TooManyTickets' }),
    )
  })

  it('makes room by dropping expired tickets', () => {
    let now = 0
    const store = new TicketStore({ maxOutstanding: 1, ttlMs: 10, now: () => now })
    store.issue(alice)
    now = 20
    expect(() => store.issue(alice)).not.toThrow()
  })

  it('tickets are unguessable (32 random bytes)', () => {
    const store = new TicketStore()
    const a = store.issue(alice).ticket
    const b = store.issue(alice).ticket
    expect(a).not.toBe(b)
    expect(Buffer.from(a, 'base64url')).toHaveLength(32)
  })
})
