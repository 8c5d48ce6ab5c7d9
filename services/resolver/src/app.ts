import { Hono } from 'hono'
import type { Context } from 'hono'
import { cors } from 'hono/cors'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import {
  DidNotFoundError,
  DidWebFetchError,
  HandleNotFoundError,
  InvalidDidDocumentError,
  InvalidIdentifierError,
  InvalidParamError,
  UpstreamError,
} from './errors.ts'
import { parseHandle } from './identifiers.ts'
import type { IdentityResolver } from './resolver.ts'

export interface AppDeps {
  resolver: IdentityResolver
}

const MAX_PARAM_LENGTH = 2048

function requiredParam(c: Context, name: string): string {
  const value = c.req.query(name)
  if (!value) throw new InvalidParamError(name, `Parameter ${name} is required`)
  if (value.length > MAX_PARAM_LENGTH)
    throw new InvalidParamError(name, `Parameter ${name} is too long`)
  return value
}

interface XrpcError {
  status: ContentfulStatusCode
  body: { error: string; message: string; reason?: string }
}

/** The one place errors become HTTP: known ones with their message, anything else a bare 500. */
export function toXrpcError(err: unknown): XrpcError {
  if (err instanceof InvalidParamError || err instanceof InvalidIdentifierError) {
    return { status: 400, body: { error: 'InvalidRequest', message: err.message } }
  }
  if (err instanceof HandleNotFoundError) {
    // This exact error/message pair is what atproto's XrpcHandleResolver (used by the OAuth
    // clients) reads as "no such handle"; `reason` says why.
    return {
      status: 400,
      body: { error: 'InvalidRequest', message: 'Unable to resolve handle', reason: err.reason },
    }
  }
  if (err instanceof DidNotFoundError) {
    return { status: 404, body: { error: 'DidNotFound', message: err.message } }
  }
  if (err instanceof DidWebFetchError) {
    return {
      status: 502,
      body: { error: 'DidWebRefused', message: err.message, reason: err.reason },
    }
  }
  if (err instanceof InvalidDidDocumentError) {
    return {
      status: 502,
      body: { error: 'InvalidDidDocument', message: err.message, reason: err.reason },
    }
  }
  if (err instanceof UpstreamError) {
    return { status: 502, body: { error: 'UpstreamFailure', message: err.message } }
  }
  return { status: 500, body: { error: 'InternalServerError', message: 'Internal Server Error' } }
}

export function createApp(deps: AppDeps): Hono {
  const app = new Hono()

  // Browsers call resolveHandle directly (the OAuth client's handleResolver); it is public data.
  app.use('/xrpc/*', cors({ origin: '*', allowMethods: ['GET', 'OPTIONS'] }))

  app.get('/healthz', (c) => c.json({ ok: true }))

  app.get('/xrpc/com.atproto.identity.resolveHandle', async (c) => {
    const handle = parseHandle(requiredParam(c, 'handle'))
    const did = await deps.resolver.resolveVerifiedHandle(handle)
    return c.json({ did })
  })

  app.get('/xrpc/app.hearth.resolver.resolveIdentity', async (c) => {
    const identity = await deps.resolver.resolveIdentity(requiredParam(c, 'identifier'))
    return c.json(identity)
  })

  app.notFound((c) => c.json({ error: 'MethodNotImplemented', message: 'Not Found' }, 404))

  app.onError((err, c) => {
    const { status, body } = toXrpcError(err)
    if (status === 500) console.error('resolver: unexpected error', err)
    return c.json(body, status)
  })

  return app
}
