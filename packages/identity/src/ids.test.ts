import { describe, expect, it } from 'vitest'
import {
  asDid,
  asHandle,
  assertDid,
  InvalidDidError,
  InvalidHandleError,
  isDid,
  isHandle,
} from './ids.ts'

describe('DIDs', () => {
  it('accepts did:plc and did:web', () => {
    expect(isDid('did:plc:ewvi7nxzyoun6zhxrhs64oiz')).toBe(true)
    expect(isDid('did:web:hearth.example.com')).toBe(true)
    expect(isDid('did:web:localhost%3A2585')).toBe(true)
  })
  it.each([
    ['empty', ''],
    ['not a DID', 'alice.test'],
    ['fragment', 'did:web:hearth.example.com#hearth_keyserver'],
    ['query', 'did:plc:abc?x=1'],
    ['upper-case method', 'did:PLC:abc'],
    ['too long', 'did:plc:' + 'a'.repeat(600)],
    ['not a string', 42],
  ])('refuses %s', (_name, input) => {
    expect(isDid(input)).toBe(false)
    expect(() => assertDid(input)).toThrow(InvalidDidError)
  })
  it('asDid returns the branded value unchanged', () => {
    expect(asDid('did:plc:abc')).toBe('did:plc:abc')
  })
})

describe('handles', () => {
  it('normalises what a person types', () => {
    expect(asHandle(' @Alice.TEST ')).toBe('alice.test')
    expect(isHandle('alice.test')).toBe(true)
    expect(isHandle('Alice.test')).toBe(false)
  })
  it.each([
    ['no dot', 'alice'],
    ['leading hyphen label', '-alice.test'],
    ['too long', `${'abcdefghij'.repeat(6)}.`.repeat(5) + 'test'],
    ['spaces inside', 'al ice.test'],
    ['a DID', 'did:plc:abc'],
  ])('refuses %s', (_name, input) => {
    expect(() => asHandle(input)).toThrow(InvalidHandleError)
  })
})

describe('service identities', async () => {
  const { serviceIdentity } = await import('./service-identity.ts')
  it('encode the port and carry the fragment in the audience', () => {
    const id = serviceIdentity('LocalHost:2586', 'hearth_router', { https: false })
    expect(id.did).toBe('did:web:localhost%3A2586')
    expect(id.audience).toBe('did:web:localhost%3A2586#hearth_router')
    expect(id.url).toBe('http://localhost:2586')
    expect(isDid(id.did)).toBe(true)
  })
  it.each(['http://x', 'a/b', 'host:port'])('refuse %s as a host', (host) => {
    expect(() => serviceIdentity(host, 'hearth_router', { https: true })).toThrow(TypeError)
  })
})
