import { describe, expect, it } from 'vitest'
import { didWebUrl, fetchDidWebDocument, isAddressAllowed } from './did-web-fetch.ts'
import { DidWebFetchError } from './errors.ts'
import { parseDid } from './identifiers.ts'

describe('isAddressAllowed', () => {
  it.each([
    '127.0.0.1',
    '127.8.9.10',
    '::1',
    '::ffff:127.0.0.1',
    '10.0.0.1',
    '172.16.5.4',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '::',
    'fe80::1',
    'fc00::1',
    'fd12:3456::1',
    '::ffff:10.0.0.1',
    '224.0.0.1',
    '255.255.255.255',
    '198.18.0.1',
    'not an address',
  ])('refuses %s outside dev mode', (address) => {
    expect(isAddressAllowed(address, false)).toBe(false)
  })

  it.each(['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])(
    'allows the public address %s',
    (address) => {
      expect(isAddressAllowed(address, false)).toBe(true)
    },
  )

  it('allows loopback, and only loopback, in dev mode', () => {
    expect(isAddressAllowed('127.0.0.1', true)).toBe(true)
    expect(isAddressAllowed('::1', true)).toBe(true)
    expect(isAddressAllowed('10.0.0.1', true)).toBe(false)
    expect(isAddressAllowed('169.254.169.254', true)).toBe(false)
  })
})

describe('didWebUrl', () => {
  it('uses https, and http only for loopback in dev mode', () => {
    const local = parseDid('did:web:localhost%3A2585')
    expect(didWebUrl(local, true).href).toBe('http://localhost:2585/.well-known/did.json')
    expect(didWebUrl(local, false).href).toBe('https://localhost:2585/.well-known/did.json')
    const remote = parseDid('did:web:example.com')
    expect(didWebUrl(remote, true).href).toBe('https://example.com/.well-known/did.json')
  })
})

// These refusals happen before any socket is opened: the address check runs on the literal or
// on what the (injected) lookup returns.
describe('fetchDidWebDocument refusals', () => {
  const limits = { maxBytes: 1024, timeoutMs: 1_000 }

  it('refuses a private IP literal outside dev mode', async () => {
    await expect(
      fetchDidWebDocument(parseDid('did:web:127.0.0.1%3A9'), { devMode: false, ...limits }),
    ).rejects.toMatchObject({ name: 'DidWebFetchError', reason: 'address-not-allowed' })
  })

  it('refuses a public-looking name that resolves to a private address', async () => {
    let looked = 0
    const lookup = async () => {
      looked++
      return [
        { address: '93.184.216.34', family: 4 },
        { address: '::ffff:169.254.169.254', family: 6 },
      ]
    }
    const error = await fetchDidWebDocument(parseDid('did:web:innocent.example.com'), {
      devMode: false,
      ...limits,
      lookup,
    }).catch((err: unknown) => err)
    expect(error).toBeInstanceOf(DidWebFetchError)
    expect(error).toMatchObject({ reason: 'address-not-allowed' })
    expect((error as Error).message).toContain('169.254.169.254')
    expect(looked).toBe(1)
  })

  it('refuses a link-local target even in dev mode', async () => {
    await expect(
      fetchDidWebDocument(parseDid('did:web:metadata.internal'), {
        devMode: true,
        ...limits,
        lookup: async () => [{ address: '169.254.169.254', family: 4 }],
      }),
    ).rejects.toMatchObject({ reason: 'address-not-allowed' })
  })
})
