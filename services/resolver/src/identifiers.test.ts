import { describe, expect, it } from 'vitest'
import { InvalidIdentifierError } from './errors.ts'
import { handleFromAlsoKnownAs, parseDid, parseHandle, parseIdentifier } from './identifiers.ts'

describe('parseIdentifier', () => {
  it('normalises handles typed by people', () => {
    expect(parseIdentifier(' @Alice.Test ')).toEqual({ kind: 'handle', handle: 'alice.test' })
  })

  it('accepts did:plc and did:web with a port', () => {
    expect(parseIdentifier('did:plc:ewvi7nxzyoun6zhxrhs64oiz').kind).toBe('did')
    expect(parseDid('did:web:example.com')).toBe('did:web:example.com')
    expect(parseDid('did:web:localhost%3A2585')).toBe('did:web:localhost%3A2585')
  })

  it.each([
    ['did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme', /Unsupported DID method/],
    ['did:web:example.com:user:alice', /path is not supported/],
    ['did:plc:short', /Unsupported DID method/],
    ['did:web:exa mple.com', /Invalid DID/],
    [`did:web:${'a'.repeat(600)}.com`, /Invalid DID/],
  ])('refuses the DID %s', (input, message) => {
    expect(() => parseIdentifier(input)).toThrow(InvalidIdentifierError)
    expect(() => parseIdentifier(input)).toThrow(message)
  })

  it.each(['alice', 'alice..test', '-alice.test', 'alice.123', 'a'.repeat(254) + '.test', ''])(
    'refuses the handle %j',
    (input) => {
      expect(() => parseHandle(input)).toThrow(InvalidIdentifierError)
    },
  )
})

describe('handleFromAlsoKnownAs', () => {
  it('reads at:// entries only, lower-cased, valid handles only', () => {
    expect(handleFromAlsoKnownAs('at://Alice.Test')).toBe('alice.test')
    expect(handleFromAlsoKnownAs('https://alice.test')).toBeUndefined()
    expect(handleFromAlsoKnownAs('at://not a handle')).toBeUndefined()
  })
})
