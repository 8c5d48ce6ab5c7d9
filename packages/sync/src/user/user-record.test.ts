import { canonicalDecode, canonicalEncode, generateDeviceKey } from '@hearth/identity'
import { describe, expect, it } from 'vitest'
import { verifyHearthEntry } from '../automerge/entries.ts'
import { encodeSignedEvent } from '../events/codec.ts'
import type { EventId } from '../events/schema.ts'
import { signEvent } from '../events/sign.ts'
import {
  looksLikeUserRecord,
  MAX_USER_RECORD_BYTES,
  openUserRecord,
  signUserRecord,
} from './user-record.ts'

const space = 'a'.repeat(52) as EventId
const channel = 'b'.repeat(52) as EventId

describe('user records', () => {
  it('round-trip: signed by a device, opened with its key, told apart from space events', async () => {
    const { key } = await generateDeviceKey()
    const bytes = await signUserRecord(key, 'read', { space, container: channel, event: channel })
    expect(looksLikeUserRecord(bytes)).toBe(true)
    const opened = await openUserRecord(bytes)
    expect(opened).toMatchObject({ ok: true, record: { type: 'read', key: key.keyId } })
    expect(await verifyHearthEntry(bytes)).toEqual({ ok: true, keyId: key.keyId })
    const event = encodeSignedEvent(
      await signEvent(key, {
        space: null,
        kind: 'genesis',
        author: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' as never,
        parents: [],
        body: { mode: 'PUBLIC', name: 'x', nonce: 'nonce-123' },
      }),
    )
    expect(looksLikeUserRecord(event)).toBe(false)
    expect(await verifyHearthEntry(event)).toEqual({ ok: true, keyId: key.keyId })
  })

  it('refuses an altered record, a record signed for another purpose, and oversized or malformed ones', async () => {
    const { key } = await generateDeviceKey()
    const bytes = await signUserRecord(key, 'space.follow', { space, name: 'Club' })
    const wire = canonicalDecode(bytes) as { u: { body: { name: string } }; s: Uint8Array }
    wire.u.body.name = 'Other'
    expect(await openUserRecord(canonicalEncode(wire))).toEqual({
      ok: false,
      reason: 'bad signature',
    })
    // The same fields signed under the event domain are not a user record's signature.
    const record = (canonicalDecode(bytes) as { u: unknown }).u
    const forged = canonicalEncode({
      u: record,
      s: await key.sign('hearth/event-sig/v1', canonicalEncode(record)),
    })
    expect(await openUserRecord(forged)).toEqual({ ok: false, reason: 'bad signature' })
    expect(
      (await openUserRecord(new Uint8Array(MAX_USER_RECORD_BYTES + 1))) as { ok: boolean },
    ).toMatchObject({ ok: false, reason: 'record too large' })
    const extra = canonicalEncode({ u: { ...(record as object), extra: 1 }, s: wire.s })
    expect(await openUserRecord(extra)).toMatchObject({
      ok: false,
      reason: 'malformed user record',
    })
    const badBody = canonicalEncode({
      u: { ...(record as object), body: { space: 'nope', name: 1 } },
      s: wire.s,
    })
    expect(await openUserRecord(badBody)).toMatchObject({
      ok: false,
      reason: 'malformed space.follow body',
    })
    expect(await verifyHearthEntry(extra)).toMatchObject({ ok: false })
  })
})
