import { cbor } from '@automerge/automerge-repo'
import { describe, expect, it } from 'vitest'
import { MalformedFrameError, parseClientFrame } from './wire.ts'

const documentId = '4JWnqMPGmM6bUat3qWbPc3vq3Fmy'
const frame = (value: unknown): Uint8Array => cbor.encode(value)

describe('client frames parsed at the edge (S10)', () => {
  it('reads join, sync, request and doc-unavailable', () => {
    expect(
      parseClientFrame(
        frame({ type: 'join', senderId: 'p', supportedProtocolVersions: ['1'] }),
        true,
      ).kind,
    ).toBe('join')
    const sync = parseClientFrame(
      frame({ type: 'sync', senderId: 'p', targetId: 'r', documentId, data: new Uint8Array([1]) }),
      true,
    )
    expect(sync.kind).toBe('doc')
    expect(
      parseClientFrame(
        frame({ type: 'doc-unavailable', senderId: 'p', targetId: 'r', documentId }),
        true,
      ).kind,
    ).toBe('unavailable')
  })

  it('reads a client push of at most 64 changes', () => {
    const push = { type: 'hearth-changes', senderId: 'p', targetId: 'r', documentId }
    expect(parseClientFrame(frame({ ...push, changes: [new Uint8Array([1])] }), true).kind).toBe(
      'push',
    )
    expect(() => parseClientFrame(frame({ ...push, changes: [] }), true)).toThrow(
      MalformedFrameError,
    )
    expect(() =>
      parseClientFrame(frame({ ...push, changes: Array(65).fill(new Uint8Array([1])) }), true),
    ).toThrow(MalformedFrameError)
  })

  it('drops ephemeral and remote-heads frames without acting on them', () => {
    expect(parseClientFrame(frame({ type: 'ephemeral', data: new Uint8Array([1]) }), true)).toEqual(
      { kind: 'ignored', type: 'ephemeral' },
    )
  })

  it.each([
    ['undecodable CBOR', Buffer.from([0xff, 0xfe, 0x13]), true],
    ['a text frame', Buffer.from('{"type":"join"}'), false],
    ['an unknown type', frame({ type: 'relay', to: 'bob' }), true],
    ['no type', frame([1, 2, 3]), true],
    [
      'a bad document id',
      frame({
        type: 'sync',
        senderId: 'p',
        targetId: 'r',
        documentId: 42,
        data: new Uint8Array([1]),
      }),
      true,
    ],
    ['sync without data', frame({ type: 'sync', senderId: 'p', targetId: 'r', documentId }), true],
    ['a huge peer id', frame({ type: 'join', senderId: 'x'.repeat(5000) }), true],
  ])('refuses %s', (_label, bytes, binary) => {
    expect(() => parseClientFrame(bytes, binary)).toThrow(MalformedFrameError)
  })
})
