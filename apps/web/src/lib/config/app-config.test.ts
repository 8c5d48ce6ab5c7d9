import { describe, expect, it } from 'vitest'
import { ConfigError, parseAppConfig } from './app-config.ts'

const dev = {
  mode: 'development',
  handleResolver: 'http://127.0.0.1:2584',
  plcUrl: 'http://127.0.0.1:2582',
  pdsUrl: 'http://localhost:2583/',
  keyserverUrl: 'http://localhost:2585',
  keyserverDid: 'did:web:localhost%3A2585',
}

const prod = {
  mode: 'production',
  handleResolver: 'https://resolver.hearth.example',
  plcUrl: 'https://plc.directory',
  keyserverUrl: 'https://keys.hearth.example',
  keyserverDid: 'did:web:keys.hearth.example',
  clientId: 'https://hearth.example/client-metadata.json',
}

describe('parseAppConfig', () => {
  it('accepts the development network’s config and trims trailing slashes', () => {
    const config = parseAppConfig(dev)
    expect(config.mode).toBe('development')
    expect(config.pdsUrl).toBe('http://localhost:2583')
    expect(config.clientId).toBeNull()
  })

  it('accepts a production config', () => {
    expect(parseAppConfig(prod).clientId).toBe(prod.clientId)
  })

  it('defaults to production, where plain http is refused', () => {
    const { mode: _mode, ...noMode } = dev
    expect(() => parseAppConfig({ ...noMode, clientId: prod.clientId })).toThrow(/must be https/)
    expect(() => parseAppConfig({ ...prod, keyserverUrl: 'http://keys.hearth.example' })).toThrow(
      ConfigError,
    )
  })

  it('requires the hosted client id in production', () => {
    const { clientId: _clientId, ...noClient } = prod
    expect(() => parseAppConfig(noClient)).toThrow(/clientId/)
  })

  it('refuses a keyserver DID with a fragment or another method', () => {
    expect(() =>
      parseAppConfig({ ...dev, keyserverDid: 'did:web:localhost%3A2585#hearth_keyserver' }),
    ).toThrow(/keyserverDid/)
    expect(() => parseAppConfig({ ...dev, keyserverDid: 'did:plc:abc' })).toThrow(/keyserverDid/)
  })

  it('refuses what is not a config object', () => {
    for (const bad of [null, [], 'x', 1]) expect(() => parseAppConfig(bad)).toThrow(ConfigError)
    expect(() => parseAppConfig({ ...dev, plcUrl: 'not a url' })).toThrow(/plcUrl/)
    expect(() => parseAppConfig({ ...dev, mode: 'test' })).toThrow(/mode/)
  })

  it('takes the router as a pair of URL and did:web, or neither', () => {
    expect(parseAppConfig(dev)).toMatchObject({ routerUrl: null, routerDid: null })
    const withRouter = parseAppConfig({
      ...dev,
      routerUrl: 'http://localhost:2586/',
      routerDid: 'did:web:localhost%3A2586',
    })
    expect(withRouter).toMatchObject({
      routerUrl: 'http://localhost:2586',
      routerDid: 'did:web:localhost%3A2586',
    })
    expect(() => parseAppConfig({ ...dev, routerUrl: 'http://localhost:2586' })).toThrow(
      /go together/,
    )
    expect(() =>
      parseAppConfig({ ...dev, routerUrl: 'http://localhost:2586', routerDid: 'did:plc:abc' }),
    ).toThrow(/routerDid/)
  })
})
