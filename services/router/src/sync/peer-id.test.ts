import { asDid } from '@hearth/identity'
import { describe, expect, it } from 'vitest'
import { peerIdBelongsTo, peerIdFor } from './peer-id.ts'

const alice = asDid('did:plc:aliceaaaaaaaaaaaaaaaaaaa')
const web = asDid('did:web:localhost%3A2583')

describe('peer ids bound to DIDs (S4)', () => {
  it('accepts <did>#<suffix> for exactly that DID', () => {
    expect(peerIdBelongsTo(`${alice}#laptop-1`, alice)).toBe(true)
    expect(peerIdBelongsTo(peerIdFor(web, 'tab.2'), web)).toBe(true)
  })

  it('refuses another DID’s peer id, a prefix of a DID, bare ids and odd suffixes', () => {
    const bob = asDid('did:plc:bobbbbbbbbbbbbbbbbbbbbbb')
    expect(peerIdBelongsTo(`${alice}#laptop`, bob)).toBe(false)
    expect(peerIdBelongsTo(`${alice}x#laptop`, alice)).toBe(false)
    expect(peerIdBelongsTo(`${alice}`, alice)).toBe(false)
    expect(peerIdBelongsTo(`${alice}#`, alice)).toBe(false)
    expect(peerIdBelongsTo(`${alice}#a#b`, alice)).toBe(false)
    expect(peerIdBelongsTo(`${alice}#a b`, alice)).toBe(false)
    expect(peerIdBelongsTo(`${alice}#${'a'.repeat(65)}`, alice)).toBe(false)
    expect(peerIdBelongsTo('laptop', alice)).toBe(false)
    expect(() => peerIdFor(alice, 'a#b')).toThrow(RangeError)
  })
})
