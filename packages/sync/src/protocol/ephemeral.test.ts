import { cbor } from '@automerge/automerge-repo'
import { generateDeviceKey, signCanonical, type DeviceKey, type Did } from '@hearth/identity'
import { beforeAll, describe, expect, it } from 'vitest'
import type { SpaceId } from '../events/schema.ts'
import {
  EPHEMERAL_DOMAIN,
  ephemeralSigningFields,
  MAX_SIGNAL_PAYLOAD_BYTES,
  parseEphemeral,
  signEphemeral,
  verifyEphemeral,
  type EphemeralFrame,
} from './ephemeral.ts'

const space = 'a'.repeat(52) as SpaceId
const alice = 'did:plc:aliceaaaaaaaaaaaaaaaaaaa' as Did
const bob = 'did:plc:bobbbbbbbbbbbbbbbbbbbbbb' as Did
let key: DeviceKey

beforeAll(async () => {
  key = (await generateDeviceKey()).key
})

/** What a receiver does: decode the wire bytes, parse, verify. */
async function receive(frame: object): Promise<{ parsed: boolean; verified: boolean }> {
  const result = parseEphemeral(cbor.decode(cbor.encode(frame)))
  if (!result.ok) return { parsed: false, verified: false }
  return { parsed: true, verified: await verifyEphemeral(result.frame) }
}

describe('ephemeral messages', () => {
  it('round-trip every kind through the wire: signed, parsed, verified', async () => {
    const frames: EphemeralFrame[] = [
      await signEphemeral(key, { space, kind: 'presence', author: alice, body: { state: 'away' } }),
      await signEphemeral(key, {
        space,
        kind: 'typing',
        author: alice,
        body: { channel: 'b'.repeat(52) as SpaceId, active: true },
      }),
      await signEphemeral(key, { space, kind: 'poke', author: alice, to: bob, body: {} }),
      await signEphemeral(key, {
        space,
        kind: 'signal',
        author: alice,
        to: bob,
        body: { call: 'call-1234', payload: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1' },
      }),
    ]
    for (const frame of frames) {
      expect(frame.key).toBe(key.keyId)
      expect(await receive(frame)).toEqual({ parsed: true, verified: true })
    }
    expect(frames[0]!.nonce).not.toBe(frames[1]!.nonce)
  })

  it('refuse any field changed after signing', async () => {
    const frame = await signEphemeral(key, {
      space,
      kind: 'poke',
      author: alice,
      to: bob,
      body: {},
    })
    const other = (await generateDeviceKey()).key
    const tampered: object[] = [
      { ...frame, to: alice },
      { ...frame, author: bob },
      { ...frame, ts: frame.ts + 1 },
      { ...frame, nonce: 'x'.repeat(22) },
      { ...frame, space: 'c'.repeat(52) },
      { ...frame, key: other.keyId },
    ]
    for (const t of tampered) expect(await receive(t)).toEqual({ parsed: true, verified: false })
  })

  it('refuse a signature made in another domain over the same fields', async () => {
    const frame = await signEphemeral(key, {
      space,
      kind: 'presence',
      author: alice,
      body: { state: 'online' },
    })
    const sig = await signCanonical(key, 'hearth/event-sig/v1', ephemeralSigningFields(frame))
    expect(await receive({ ...frame, sig })).toEqual({ parsed: true, verified: false })
    expect(EPHEMERAL_DOMAIN).toBe('hearth/ephemeral/v1')
  })

  it('parse never throws, and names why a frame is refused', async () => {
    const good = await signEphemeral(key, {
      space,
      kind: 'presence',
      author: alice,
      body: { state: 'online' },
    })
    const cases: [unknown, string][] = [
      [null, 'not-an-object'],
      ['hearth-ephemeral', 'not-an-object'],
      [[good], 'not-an-object'],
      [{ ...good, extra: 1 }, 'envelope'],
      [{ ...good, kind: 'shout' }, 'envelope'],
      [{ ...good, author: 'alice' }, 'envelope'],
      [{ ...good, key: 'did:key:zQ3notp256' }, 'envelope'],
      [{ ...good, ts: 1.5 }, 'envelope'],
      [{ ...good, nonce: 'short' }, 'envelope'],
      [{ ...good, sig: new Uint8Array(63) }, 'envelope'],
      [{ ...good, space: 'x' }, 'envelope'],
      [{ ...good, body: { state: 'busy' } }, 'body'],
      [{ ...good, body: { state: 'online', text: 'hi' } }, 'body'],
      [{ ...good, body: null }, 'body'],
      [{ ...good, kind: 'typing', body: { channel: 'general', active: true } }, 'body'],
      [{ ...good, to: bob }, 'target'],
      [{ ...good, kind: 'poke', body: {} }, 'target'],
      [{ ...good, kind: 'signal', to: bob, body: { call: 'call-1234' } }, 'body'],
    ]
    for (const [value, reason] of cases) {
      const result = parseEphemeral(value)
      expect(result.ok, JSON.stringify(reason)).toBe(false)
      if (!result.ok) expect(result.error.reason).toBe(reason)
    }
  })

  it('cap a signal payload at 16 KiB of UTF-8, and refuse to sign a larger one', async () => {
    const draft = (payload: string) =>
      ({
        space,
        kind: 'signal',
        author: alice,
        to: bob,
        body: { call: 'call-1234', payload },
      }) as const
    const fits = await signEphemeral(key, draft('a'.repeat(MAX_SIGNAL_PAYLOAD_BYTES)))
    expect(await receive(fits)).toEqual({ parsed: true, verified: true })
    await expect(
      signEphemeral(key, draft('a'.repeat(MAX_SIGNAL_PAYLOAD_BYTES + 1))),
    ).rejects.toThrow(/body/)
    // Counted in bytes, not characters: 6,000 three-byte characters are 18,000 bytes.
    const wide = { ...fits, body: { call: 'call-1234', payload: '\u20ac'.repeat(6000) } }
    expect(parseEphemeral(wide).ok).toBe(false)
  })
})
