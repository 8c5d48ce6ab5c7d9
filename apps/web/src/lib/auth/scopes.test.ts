import { RepoPermission, RpcPermission } from '@atproto/oauth-scopes'
import { describe, expect, it } from 'vitest'
import { encodeScopeAud, hearthScope, keyserverAudience } from './scopes.ts'

const DEV_KEYSERVER = 'did:web:localhost%3A2585'
const PROD_KEYSERVER = 'did:web:keys.hearth.example'

describe('hearthScope', () => {
  for (const did of [DEV_KEYSERVER, PROD_KEYSERVER]) {
    it(`grants exactly the keyserver calls for ${did}, as the PDS parses them`, () => {
      const parts = hearthScope(did).split(' ')
      expect(parts[0]).toBe('atproto')
      expect(parts).not.toContain('transition:generic')
      const aud = keyserverAudience(did)
      const rpc = parts
        .filter((p) => p.startsWith('rpc:'))
        .map((p) => RpcPermission.fromString(p as `rpc:${string}`))
      expect(rpc).toHaveLength(2)
      for (const lxm of [
        'app.hearth.keyserver.registerDevice',
        'app.hearth.keyserver.revokeDevice',
      ]) {
        expect(rpc.some((p) => p?.matches({ aud, lxm }))).toBe(true)
      }
      // Nothing else: not another method, not another audience.
      expect(rpc.some((p) => p?.matches({ aud, lxm: 'com.atproto.server.createAccount' }))).toBe(
        false,
      )
      expect(
        rpc.some((p) =>
          p?.matches({ aud: `${did}#hearth_router`, lxm: 'app.hearth.keyserver.registerDevice' }),
        ),
      ).toBe(false)
      const repo = parts
        .filter((p) => p.startsWith('repo:'))
        .map((p) => RepoPermission.fromString(p as `repo:${string}`))
      expect(repo).toHaveLength(1)
      expect(repo[0]?.matches({ collection: 'app.hearth.device', action: 'create' })).toBe(true)
      expect(repo[0]?.matches({ collection: 'app.bsky.feed.post', action: 'create' })).toBe(false)
    })
  }

  it('escapes the % of a did:web port so the decoded audience keeps it', () => {
    expect(encodeScopeAud(`${DEV_KEYSERVER}#hearth_keyserver`)).toBe(
      'did:web:localhost%253A2585%23hearth_keyserver',
    )
    // The naive form decodes to did:web:localhost:2585 (a path), which the PDS drops.
    expect(
      RpcPermission.fromString(
        `rpc:app.hearth.keyserver.registerDevice?aud=did:web:localhost%3A2585%23hearth_keyserver`,
      ),
    ).toBeNull()
  })
})
