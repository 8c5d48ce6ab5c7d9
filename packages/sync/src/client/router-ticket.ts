import { z } from 'zod'

/** The router's XRPC method that exchanges a service-auth JWT for a WebSocket ticket. */
export const LXM_CREATE_TICKET = 'app.hearth.router.createTicket'

export interface RouterEndpoint {
  /** The router's HTTP base URL, e.g. `http://localhost:2586`. */
  url: string
  /** The router's service DID with its fragment: the `aud` of the service-auth token. */
  audience: string
}

/** Mints a service-auth JWT at the user's PDS (`com.atproto.server.getServiceAuth`). */
export type ServiceTokenSource = (audience: string, lxm: string) => Promise<string>

export class TicketRequestError extends Error {
  readonly status: number
  constructor(status: number, message: string) {
    super(message)
    this.name = 'TicketRequestError'
    this.status = status
  }
}

const ticketResponse = z.object({
  ticket: z.string().min(16).max(256),
  url: z.string().max(2048),
  expiresAt: z.string().max(64),
})

/**
 * A WebSocket URL carrying a fresh single-use ticket: what `RouterConnection` asks for before
 * each attempt. The router's answer is parsed with a schema and its URL must be ws(s) on the
 * router's own host, so a tampered answer cannot send the device's sync elsewhere.
 */
export async function routerSocketUrl(
  router: RouterEndpoint,
  token: ServiceTokenSource,
  fetchImpl: typeof fetch = fetch,
): Promise<string> {
  const jwt = await token(router.audience, LXM_CREATE_TICKET)
  const res = await fetchImpl(new URL(`/xrpc/${LXM_CREATE_TICKET}`, router.url), {
    method: 'POST',
    headers: { authorization: `Bearer ${jwt}` },
  })
  const text = await res.text()
  if (!res.ok) throw new TicketRequestError(res.status, text.slice(0, 300))
  if (text.length > 8192) throw new TicketRequestError(res.status, 'ticket answer too large')
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    throw new TicketRequestError(res.status, 'ticket answer is not JSON')
  }
  const parsed = ticketResponse.safeParse(body)
  if (!parsed.success) throw new TicketRequestError(res.status, 'malformed ticket answer')
  const socket = new URL(parsed.data.url)
  const base = new URL(router.url)
  if (!['ws:', 'wss:'].includes(socket.protocol) || socket.hostname !== base.hostname)
    throw new TicketRequestError(res.status, `ticket for an unexpected address ${socket.origin}`)
  socket.searchParams.set('ticket', parsed.data.ticket)
  return socket.href
}
