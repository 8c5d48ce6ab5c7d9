import { serviceDidDocument, type ServiceIdentity } from '@hearth/identity'
import { bearerToken, JtiReplayCache, verifyServiceJwt } from '@hearth/identity/service-jwt'
import { Hono, type Context } from 'hono'
import { cors } from 'hono/cors'
import { RateLimitedError, toHttpError } from './errors.ts'
import type { TokenBuckets } from './limits.ts'
import type { Logger } from './log.ts'
import type { RouterMetrics } from './metrics.ts'
import type { TicketStore } from './tickets.ts'

export const LXM_CREATE_TICKET = 'app.hearth.router.createTicket'
export const SYNC_PATH = '/sync'

export interface RouterAppDeps {
  identity: ServiceIdentity
  /** The caller's atproto signing key (IdResolver's `did.resolveAtprotoKey`). */
  getSigningKey: (iss: string, forceRefresh: boolean) => Promise<string>
  tickets: TicketStore
  ticketBuckets: TokenBuckets
  metrics: RouterMetrics
  /** Structured logs (no tokens, no bodies). Default: none. */
  log?: Logger
  /** Client IP as the socket saw it (the router sits at the edge, or behind a proxy that rewrites it). */
  clientIp: (c: Context) => string
  replayCache?: JtiReplayCache
}

export function createRouterApp(deps: RouterAppDeps): Hono {
  const app = new Hono()
  const replayCache = deps.replayCache ?? new JtiReplayCache()

  function limit(key: string): void {
    const taken = deps.ticketBuckets.take(key)
    if (!taken.ok) throw new RateLimitedError(taken.retryAfterSeconds, 'ticket requests')
  }

  app.get('/.well-known/did.json', (c) => c.json(serviceDidDocument(deps.identity, 'HearthRouter')))

  app.get('/healthz', (c) => c.json({ status: 'ok' }))

  app.get('/metrics', async (c) => {
    c.header('content-type', deps.metrics.registry.contentType)
    return c.body(await deps.metrics.registry.metrics())
  })

  // The web app asks for tickets from its own origin. Bearer tokens, never cookies, so any
  // origin may call (as the keyserver allows); preflights are answered before any limit.
  app.use(
    '/xrpc/*',
    cors({
      origin: '*',
      allowMethods: ['POST', 'OPTIONS'],
      allowHeaders: ['authorization', 'content-type'],
      exposeHeaders: ['retry-after', 'www-authenticate'],
      maxAge: 600,
    }),
  )

  // A service-auth JWT from the caller's PDS buys one single-use ticket for the WebSocket.
  app.post(`/xrpc/${LXM_CREATE_TICKET}`, async (c) => {
    limit(`ip:${deps.clientIp(c)}`)
    const verified = await verifyServiceJwt(bearerToken(c.req.header('authorization')), {
      audience: deps.identity.audience,
      lxm: LXM_CREATE_TICKET,
      getSigningKey: deps.getSigningKey,
      replayCache,
    })
    limit(`did:${verified.iss}`)
    const { ticket, expiresAt } = deps.tickets.issue(verified.iss)
    deps.metrics.tickets.inc()
    const wsUrl = new URL(SYNC_PATH, deps.identity.url.replace(/^http/, 'ws'))
    return c.json({
      did: verified.iss,
      ticket,
      expiresAt: new Date(expiresAt).toISOString(),
      url: wsUrl.href,
    })
  })

  app.notFound((c) => c.json({ error: 'NotFound', message: 'no such endpoint' }, 404))

  app.onError((err, c) => {
    const { status, body, headers } = toHttpError(err)
    deps.metrics.rejections.inc({ reason: body.error })
    if (status === 500) deps.log?.error('http.unexpected-error', { path: c.req.path }, err)
    for (const [k, v] of Object.entries(headers ?? {})) c.header(k, v)
    return c.json(body, status)
  })

  return app
}
