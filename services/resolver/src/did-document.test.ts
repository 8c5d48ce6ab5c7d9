import { describe, expect, it } from 'vitest'
import { InvalidDidDocumentError } from './errors.ts'
import { atprotoDataFromDocument, parseDidDocument } from './did-document.ts'
import { parseDid } from './identifiers.ts'

const did = parseDid('did:plc:ewvi7nxzyoun6zhxrhs64oiz')

const plcDoc = {
  '@context': [
    'https://www.w3.org/ns/did/v1',
    'https://w3id.org/security/suites/secp256k1-2019/v1',
  ],
  id: did,
  alsoKnownAs: ['at://Alice.Test', 'at://other.test'],
  verificationMethod: [
    {
      id: '#atproto',
      type: 'EcdsaSecp256k1VerificationKey2019',
      controller: did,
      publicKeyMultibase:
        'zMriT2WKke7SecvyLiqA6uRJLvHpn4dVpRwU6GLHccroVvsEpTwwQtL8XTxn67hv7pFp6qdKT5nSxRPbFhW7xWGw7',
    },
  ],
  service: [
    {
      id: '#atproto_pds',
      type: 'AtprotoPersonalDataServer',
      serviceEndpoint: 'https://pds.example',
    },
  ],
}

describe('parseDidDocument', () => {
  it('keeps the known fields and drops the rest', () => {
    const hostile: unknown = JSON.parse(
      JSON.stringify({ ...plcDoc, extra: 'x' }).replace('{', '{"__proto__":{"polluted":true},'),
    )
    const doc = parseDidDocument(did, hostile)
    expect(Object.keys(doc).sort()).toEqual(
      ['@context', 'alsoKnownAs', 'id', 'service', 'verificationMethod'].sort(),
    )
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect((doc as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('refuses a document whose id is another DID', () => {
    const other = { ...plcDoc, id: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' }
    expect(() => parseDidDocument(did, other)).toThrow(
      expect.objectContaining({ name: 'InvalidDidDocumentError', reason: 'id-mismatch' }),
    )
  })

  it.each([
    ['not an object', 'hello'],
    ['no id', { alsoKnownAs: [] }],
    ['too many aliases', { id: did, alsoKnownAs: Array.from({ length: 33 }, () => 'at://a.test') }],
    ['an oversized string', { id: did, alsoKnownAs: ['at://' + 'a'.repeat(3000)] }],
    ['a service without endpoint', { id: did, service: [{ id: '#x', type: 'y' }] }],
  ])('refuses %s', (_name, value) => {
    expect(() => parseDidDocument(did, value)).toThrow(InvalidDidDocumentError)
  })
})

describe('atprotoDataFromDocument', () => {
  it('takes the first at:// alias as the claimed handle, the PDS and the signing key', () => {
    const data = atprotoDataFromDocument(parseDidDocument(did, plcDoc))
    expect(data.claimedHandle).toBe('alice.test')
    expect(data.pds).toBe('https://pds.example')
    expect(data.signingKey).toMatch(/^did:key:zQ3s/)
  })

  it('reports nothing for a document without atproto data', () => {
    const data = atprotoDataFromDocument(parseDidDocument(did, { id: did }))
    expect(data).toEqual({ claimedHandle: null, pds: null, signingKey: null })
  })

  it('does not fail on a broken key', () => {
    const broken = {
      ...plcDoc,
      verificationMethod: [{ ...plcDoc.verificationMethod[0]!, publicKeyMultibase: 'zzz' }],
    }
    expect(atprotoDataFromDocument(parseDidDocument(did, broken)).signingKey).toBeNull()
  })
})
