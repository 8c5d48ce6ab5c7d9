// Minimal XRPC over an authenticated fetch (the OAuth session's DPoP-bound fetch
// handler), for the handful of calls the first screens make.

export type FetchHandler = (pathname: string, init?: RequestInit) => Promise<Response>

export class XrpcError extends Error {
  readonly status: number
  readonly error: string | null
  readonly method: string
  constructor(method: string, status: number, error: string | null, message: string) {
    super(`${method}: ${message}`)
    this.name = 'XrpcError'
    this.method = method
    this.status = status
    this.error = error
  }
}

const MAX_RESPONSE_CHARS = 256 * 1024

async function readJson(method: string, response: Response): Promise<unknown> {
  const text = await response.text()
  if (text.length > MAX_RESPONSE_CHARS)
    throw new XrpcError(method, response.status, null, 'response too large')
  if (text === '') return null
  try {
    return JSON.parse(text) as unknown
  } catch {
    throw new XrpcError(method, response.status, null, `not JSON (HTTP ${response.status})`)
  }
}

async function handle(method: string, response: Response): Promise<unknown> {
  const body = await readJson(method, response)
  if (!response.ok) {
    const obj = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>
    const error = typeof obj.error === 'string' ? obj.error.slice(0, 100) : null
    const message =
      typeof obj.message === 'string' ? obj.message.slice(0, 500) : `HTTP ${response.status}`
    throw new XrpcError(method, response.status, error, message)
  }
  return body
}

export async function xrpcQuery(
  fetchHandler: FetchHandler,
  method: string,
  params: Record<string, string>,
): Promise<unknown> {
  const qs = new URLSearchParams(params).toString()
  const response = await fetchHandler(`/xrpc/${method}${qs ? `?${qs}` : ''}`, { method: 'GET' })
  return handle(method, response)
}

export async function xrpcProcedure(
  fetchHandler: FetchHandler,
  method: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<unknown> {
  const response = await fetchHandler(`/xrpc/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  })
  return handle(method, response)
}

/** A fetch handler for a plain (unauthenticated) XRPC service at `baseUrl`. */
export function serviceFetchHandler(baseUrl: string, fetchFn: typeof fetch = fetch): FetchHandler {
  return (pathname, init) => fetchFn(new URL(pathname, baseUrl), init)
}
