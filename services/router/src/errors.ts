import { ServiceJwtError } from '@hearth/identity/service-jwt'
import { TicketError } from './tickets.ts'

export class RateLimitedError extends Error {
  readonly retryAfterSeconds: number
  constructor(retryAfterSeconds: number, what: string) {
    super(`too many ${what}; retry in ${retryAfterSeconds} s`)
    this.name = 'RateLimitedError'
    this.retryAfterSeconds = retryAfterSeconds
  }
}

export interface HttpError {
  status: 401 | 429 | 500
  body: { error: string; message: string }
  headers?: Record<string, string>
}

/** The one place router errors become HTTP answers; unknown errors say nothing about themselves. */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof ServiceJwtError)
    return { status: 401, body: { error: err.reason, message: err.message } }
  if (err instanceof RateLimitedError)
    return {
      status: 429,
      body: { error: 'RateLimited', message: err.message },
      headers: { 'retry-after': String(err.retryAfterSeconds) },
    }
  if (err instanceof TicketError)
    return {
      status: 429,
      body: { error: err.reason, message: err.message },
      headers: { 'retry-after': '5' },
    }
  return { status: 500, body: { error: 'InternalServerError', message: 'internal error' } }
}
