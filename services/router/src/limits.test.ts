import { describe, expect, it } from 'vitest'
import { ConnectionCaps } from './limits.ts'

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
