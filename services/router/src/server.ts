import type { IncomingMessage, Server as HttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { serve, type ServerType } from '@hono/node-server'
import { getConnInfo } from '@hono/node-server/conninfo'
import { IdResolver } from '@atproto/identity'
import { serviceIdentity, type Did, type ServiceIdentity } from '@hearth/identity'
import { WebSocketServer, type WebSocket } from 'ws'
import { createRouterApp, SYNC_PATH } from './app.ts'
import { ConnectionCaps, TokenBuckets } from './limits.ts'
import { createLogger, type Logger } from './log.ts'
import { createRouterMetrics, type RouterMetrics } from './metrics.ts'
import { TICKET_TTL_MS, TicketError, TicketStore } from './tickets.ts'

/** An authenticated sync connection: the DID comes from a consumed ticket, never from the peer. */
export interface SyncPeer {
  did: Did
  ip: string
}

/** What speaks the sync protocol on an authenticated socket (the sync layer plugs in here). */
export interface SyncEndpoint {
  accept(socket: WebSocket, peer: SyncPeer): void
  close?(): Promise<void>
  /** Given the router's metrics and logger when the router starts. */
  attach?(context: { metrics: RouterMetrics; log: Logger }): void
}

export interface RouterLimits {
  /** Largest WebSocket frame accepted; `ws` would otherwise allow 100 MiB. */
  maxFrameBytes: number
  connectionsPerDid: number
  connectionsPerIp: number
  connectionsTotal: number
  /** Ticket requests: burst and refill per second, per DID and per IP. */
  ticketBurst: number
  ticketsPerSecond: number
  /** A socket that has not answered a ping within this interval is reaped. */
  keepaliveMs: number
}

export const DEFAULT_LIMITS: RouterLimits = {
  maxFrameBytes: 1024 * 1024,
  connectionsPerDid: 32,
  connectionsPerIp: 256,
  connectionsTotal: 20_000,
  ticketBurst: 20,
  ticketsPerSecond: 2,
  keepaliveMs: 30_000,
}

export interface RouterOptions {
  port: number
  host?: string
  /** How clients reach the router (`localhost:2586`, `router.example.com`): its did:web. */
  publicHost?: string
  https?: boolean
  plcUrl: string
  /** Development only: lets identity resolution fetch http:// and loopback did:web documents. */
  devMode?: boolean
  limits?: Partial<RouterLimits>
  endpoint: SyncEndpoint
  /** Ticket lifetime; at most 30 s (the default). */
  ticketTtlMs?: number
  /** Structured logs (default: JSON lines on stdout at `info`). */
  log?: Logger
  /** Metrics registry to use (default: a new one); pass it to share with the sync endpoint. */
  metrics?: RouterMetrics
  /** Tests only: resolve signing keys without the PLC. */
  getSigningKey?: (iss: string, forceRefresh: boolean) => Promise<string>
}

export interface RunningRouter {
  url: string
  identity: ServiceIdentity
  metrics: RouterMetrics
  log: Logger
  tickets: TicketStore
  close(): Promise<void>
}

function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  const text = JSON.stringify({ error: reason })
  socket.end(
    `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 429 ? 'Too Many Requests' : 'Not Found'}\r\n` +
      `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
  )
}

export async function startRouter(options: RouterOptions): Promise<RunningRouter> {
  const limits = { ...DEFAULT_LIMITS, ...options.limits }
  const metrics = options.metrics ?? createRouterMetrics()
  const log = options.log ?? createLogger()
  options.endpoint.attach?.({ metrics, log })
  const tickets = new TicketStore({
    ttlMs: Math.min(options.ticketTtlMs ?? TICKET_TTL_MS, TICKET_TTL_MS),
  })
  const caps = new ConnectionCaps({
    perDid: limits.connectionsPerDid,
    perIp: limits.connectionsPerIp,
    total: limits.connectionsTotal,
  })
  const idResolver = new IdResolver({
    plcUrl: options.plcUrl,
    ...(options.devMode ? { fetch: globalThis.fetch } : {}),
  })
  const getSigningKey =
    options.getSigningKey ??
    ((iss: string, force: boolean) => idResolver.did.resolveAtprotoKey(iss, force))

  // The app is made once the port is bound: the router's did:web names its port.
  const routes: { app?: ReturnType<typeof createRouterApp> } = {}
  const server: ServerType = await new Promise((resolve) => {
    const s = serve(
      {
        fetch: (req, env) =>
          routes.app?.fetch(req, env) ?? new Response('starting', { status: 503 }),
        port: options.port,
        hostname: options.host ?? '127.0.0.1',
      },
      () => resolve(s),
    )
  })
  const port = (server.address() as AddressInfo).port
  const identity = serviceIdentity(options.publicHost ?? `localhost:${port}`, 'hearth_router', {
    https: options.https ?? false,
  })
  routes.app = createRouterApp({
    identity,
    getSigningKey,
    tickets,
    ticketBuckets: new TokenBuckets({
      capacity: limits.ticketBurst,
      refillPerSecond: limits.ticketsPerSecond,
    }),
    metrics,
    log,
    clientIp: (c) => getConnInfo(c).remote.address ?? 'unknown',
  })

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: limits.maxFrameBytes,
    perMessageDeflate: false,
  })
  const alive = new WeakMap<WebSocket, boolean>()

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy())
    const url = new URL(req.url ?? '/', 'http://router.invalid')
    if (url.pathname !== SYNC_PATH) return refuseUpgrade(socket, 404, 'NotFound')
    const ip = req.socket.remoteAddress ?? 'unknown'
    let did: Did
    try {
      did = tickets.consume(url.searchParams.get('ticket') ?? '')
    } catch (err) {
      const reason = err instanceof TicketError ? err.reason : 'BadTicket'
      metrics.rejections.inc({ reason })
      log.info('upgrade.refused', { ip, reason })
      return refuseUpgrade(socket, 401, reason)
    }
    const slot = caps.acquire(did, ip)
    if (!slot.ok) {
      metrics.rejections.inc({ reason: slot.reason })
      log.info('upgrade.refused', { did, ip, reason: slot.reason })
      return refuseUpgrade(socket, 429, slot.reason)
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      metrics.connections.inc()
      alive.set(ws, true)
      ws.on('pong', () => alive.set(ws, true))
      ws.on('error', () => ws.terminate())
      ws.on('close', () => {
        slot.release()
        metrics.connections.dec()
      })
      try {
        options.endpoint.accept(ws, { did, ip })
      } catch (err) {
        // A sync layer bug must cost one connection, never the process.
        log.error('connection.accept-failed', { did }, err)
        ws.close(1011, 'internal error')
      }
    })
  })

  const keepalive = setInterval(() => {
    for (const ws of wss.clients) {
      if (!alive.get(ws)) {
        metrics.rejections.inc({ reason: 'KeepaliveTimeout' })
        ws.terminate()
        continue
      }
      alive.set(ws, false)
      ws.ping()
    }
  }, limits.keepaliveMs)
  keepalive.unref()

  return {
    url: identity.url,
    identity,
    metrics,
    log,
    tickets,
    async close() {
      clearInterval(keepalive)
      // Stop taking writes first, then let the sync layer flush what it acknowledged.
      server.removeAllListeners('upgrade')
      for (const ws of wss.clients) ws.close(1001, 'router shutting down')
      await options.endpoint.close?.()
      await new Promise<void>((resolve) => {
        const s = server as HttpServer
        s.close(() => resolve())
        s.closeAllConnections?.()
      })
      wss.close()
    },
  }
}
