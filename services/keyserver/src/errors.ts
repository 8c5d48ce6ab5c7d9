// Every failure a request can end in. `app.onError` maps these to HTTP once; anything else is a 500.

export class InvalidRequestError extends Error {
  override readonly name = 'InvalidRequestError'
  readonly status = 400
  readonly code: string
  constructor(message: string, code = 'InvalidRequest') {
    super(message)
    this.code = code
  }
}

/** The caller's PDS does not hold the `app.hearth.device` record that binds the key to the DID. */
export class BindingNotFoundError extends Error {
  override readonly name = 'BindingNotFoundError'
  readonly status = 400
  readonly code = 'BindingNotFound'
  readonly did: string
  readonly deviceId: string
  constructor(did: string, deviceId: string, detail: string) {
    super(
      `no binding record app.hearth.device/${deviceId} for this key in ${did}'s repository: ${detail}`,
    )
    this.did = did
    this.deviceId = deviceId
  }
}

/** `reason` is machine-readable (`BadAudience`, `Replayed`, ...), `message` says it for people. */
export class AuthRequiredError extends Error {
  override readonly name = 'AuthRequiredError'
  readonly status = 401
  readonly reason: string
  constructor(reason: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.reason = reason
  }
}

export class NotFoundError extends Error {
  override readonly name = 'NotFoundError'
  readonly status = 404
  readonly code: string
  constructor(message: string, code = 'NotFound') {
    super(message)
    this.code = code
  }
}

export class PayloadTooLargeError extends Error {
  override readonly name = 'PayloadTooLargeError'
  readonly status = 413
  readonly maxBytes: number
  constructor(maxBytes: number) {
    super(`request body larger than ${maxBytes} bytes`)
    this.maxBytes = maxBytes
  }
}

export class RateLimitedError extends Error {
  override readonly name = 'RateLimitedError'
  readonly status = 429
  /** Whole seconds until one more request fits in the bucket that refused. */
  readonly retryAfterSeconds: number
  readonly scope: 'ip' | 'did'
  constructor(scope: 'ip' | 'did', retryAfterSeconds: number) {
    super(`rate limit exceeded (per ${scope.toUpperCase()}); retry after ${retryAfterSeconds} s`)
    this.scope = scope
    this.retryAfterSeconds = retryAfterSeconds
  }
}

/** The owner's PDS or the PLC could not be reached or answered nonsense: we cannot confirm a binding. */
export class UpstreamError extends Error {
  override readonly name = 'UpstreamError'
  readonly status = 502
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}
