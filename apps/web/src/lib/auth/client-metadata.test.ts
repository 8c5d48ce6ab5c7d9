import { readFileSync } from 'node:fs'
import { assertOAuthDiscoverableClientId, oauthClientMetadataSchema } from '@atproto/oauth-types'
import { describe, expect, it } from 'vitest'
import { clientMetadata } from './client-metadata.ts'

describe('clientMetadata', () => {
  const metadata = clientMetadata({
    origin: 'https://hearth.example',
    keyserverDid: 'did:web:keys.hearth.example',
  })

  it('is valid OAuth client metadata for atproto', () => {
    expect(oauthClientMetadataSchema.safeParse(metadata).success).toBe(true)
    expect(() => assertOAuthDiscoverableClientId(metadata.client_id)).not.toThrow()
    expect(metadata.scope).not.toContain('transition:')
  })

  it('matches the committed template (regenerate it with scripts/client-metadata.ts)', () => {
    const template = JSON.parse(
      readFileSync(new URL('../../../client-metadata.template.json', import.meta.url), 'utf8'),
    ) as unknown
    expect(template).toEqual(metadata)
  })

  it('refuses an origin that is not bare https', () => {
    for (const origin of [
      'http://hearth.example',
      'https://hearth.example/app',
      'https://hearth.example/?x=1',
    ]) {
      expect(() => clientMetadata({ origin, keyserverDid: 'did:web:keys.hearth.example' })).toThrow(
        TypeError,
      )
    }
  })
})
