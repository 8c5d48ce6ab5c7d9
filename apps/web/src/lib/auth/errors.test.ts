import { describe, expect, it } from 'vitest'
import { classifyAuthorizeError, classifyCallbackError } from './errors.ts'

// Shaped like what @atproto/oauth-client throws (message + cause chain), see
// oauth-resolver.js; the browser test covers the real thing end to end.
const wrap = (message: string, cause?: unknown) => new Error(message, { cause })

describe('classifyAuthorizeError', () => {
  it('an unknown handle', () => {
    const err = wrap(
      'Failed to resolve identity: nobody.test',
      wrap('Handle "nobody.test" does not resolve to a DID'),
    )
    const out = classifyAuthorizeError(err, 'nobody.test')
    expect(out.failure).toBe('unknown-handle')
    expect(out.message).toContain('nobody.test')
  })

  it('a PDS that cannot be reached', () => {
    const err = wrap(
      'Failed to resolve OAuth server metadata for resource: http://127.0.0.1:9/',
      new TypeError('Failed to fetch'),
    )
    const out = classifyAuthorizeError(err, 'carol.test')
    expect(out.failure).toBe('pds-unreachable')
    expect(out.message).toContain('http://127.0.0.1:9/')
  })

  it('a resolver that cannot be reached', () => {
    const err = wrap('Failed to resolve identity: alice.test', new TypeError('Failed to fetch'))
    expect(classifyAuthorizeError(err, 'alice.test').failure).toBe('resolver-unreachable')
  })

  it('a handle its DID document does not claim', () => {
    const err = wrap(
      'Failed to resolve identity: mallory.test',
      wrap('Did document for "did:plc:x" does not include the handle "mallory.test"'),
    )
    expect(classifyAuthorizeError(err, 'mallory.test').failure).toBe('handle-mismatch')
  })

  it('anything else is unexpected, with its message', () => {
    const out = classifyAuthorizeError(new Error('boom'), 'alice.test')
    expect(out.failure).toBe('unexpected')
    expect(out.message).toContain('boom')
  })
})

describe('classifyCallbackError', () => {
  const callbackError = (params: string) =>
    Object.assign(new Error('OAuth callback error'), { params: new URLSearchParams(params) })

  it('a refused consent', () => {
    expect(classifyCallbackError(callbackError('error=access_denied&state=x')).failure).toBe(
      'consent-refused',
    )
  })

  it('another OAuth error keeps its description', () => {
    const out = classifyCallbackError(callbackError('error=server_error&error_description=Oops'))
    expect(out.failure).toBe('callback-failed')
    expect(out.message).toContain('Oops')
  })
})
