// Sign-in failures, classified once for the UI. The OAuth client reports everything as
// a few generic error classes; what went wrong is in the message and the cause chain.

export type SignInFailure =
  | 'invalid-handle'
  | 'unknown-handle'
  | 'handle-mismatch'
  | 'resolver-unreachable'
  | 'pds-unreachable'
  | 'consent-refused'
  | 'callback-failed'
  | 'session-ended'
  | 'device-removed'
  | 'unexpected'

export class SignInError extends Error {
  readonly failure: SignInFailure
  constructor(failure: SignInFailure, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'SignInError'
    this.failure = failure
  }
}

function causes(err: unknown): unknown[] {
  const chain: unknown[] = []
  let current: unknown = err
  while (current !== undefined && current !== null && chain.length < 10) {
    chain.push(current)
    current = current instanceof Error ? current.cause : undefined
  }
  return chain
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function isNetworkFailure(err: unknown): boolean {
  // fetch rejects with a TypeError when the host is unreachable (and with nothing
  // more specific, by design, so pages cannot probe the network).
  return err instanceof TypeError && /fetch|network|load failed/i.test(err.message)
}

/** Classifies an error thrown while starting sign-in (handle → DID → PDS → authorize). */
export function classifyAuthorizeError(err: unknown, handle: string): SignInError {
  if (err instanceof SignInError) return err
  const chain = causes(err)
  const messages = chain.map(messageOf)
  const has = (re: RegExp) => messages.some((m) => re.test(m))

  if (
    has(/^Failed to resolve OAuth server metadata for resource: /) ||
    has(/not protected by issuer/)
  ) {
    const pds = /for resource: (\S+)/.exec(messages.join('\n'))?.[1]
    return new SignInError(
      'pds-unreachable',
      `Found ${handle}, but could not reach its PDS${pds ? ` (${pds})` : ''}. It may be down or offline; try again later.`,
      { cause: err },
    )
  }
  if (has(/^Failed to resolve OAuth server metadata for issuer: /)) {
    return new SignInError(
      'pds-unreachable',
      `Could not reach the sign-in server of ${handle}'s PDS. Try again later.`,
      { cause: err },
    )
  }
  if (has(/does not resolve to a DID/)) {
    return new SignInError(
      'unknown-handle',
      `No account found for the handle "${handle}". Check the spelling.`,
      { cause: err },
    )
  }
  if (has(/does not include the handle/)) {
    return new SignInError(
      'handle-mismatch',
      `The handle "${handle}" is not confirmed by its account's identity document.`,
      { cause: err },
    )
  }
  if (has(/^Invalid handle/)) {
    return new SignInError(
      'invalid-handle',
      `"${handle}" is not a valid handle (it looks like name.example.com).`,
      { cause: err },
    )
  }
  if (has(/^Failed to resolve identity/)) {
    if (chain.some(isNetworkFailure) || has(/resolveHandle/)) {
      return new SignInError(
        'resolver-unreachable',
        'Could not reach the handle resolver. Check your connection and try again.',
        { cause: err },
      )
    }
    if (has(/did:/i)) {
      return new SignInError(
        'unknown-handle',
        `Could not find the identity document of "${handle}".`,
        { cause: err },
      )
    }
  }
  if (chain.some(isNetworkFailure)) {
    return new SignInError(
      'pds-unreachable',
      `Could not reach ${handle}'s PDS. Check your connection and try again.`,
      { cause: err },
    )
  }
  return new SignInError('unexpected', `Sign-in failed: ${messageOf(err)}`, { cause: err })
}

/** Classifies an error from the OAuth redirect back to the app. */
export function classifyCallbackError(err: unknown): SignInError {
  if (err instanceof SignInError) return err
  const params = (err as { params?: unknown } | null)?.params
  const code = params instanceof URLSearchParams ? params.get('error') : null
  if (code === 'access_denied') {
    return new SignInError(
      'consent-refused',
      'You declined to let Hearth use your account, so you are not signed in.',
      { cause: err },
    )
  }
  if (code !== null) {
    const description = params instanceof URLSearchParams ? params.get('error_description') : null
    return new SignInError(
      'callback-failed',
      `Sign-in was not completed: ${description ?? code}.`,
      { cause: err },
    )
  }
  return new SignInError('callback-failed', `Sign-in could not be completed: ${messageOf(err)}`, {
    cause: err,
  })
}
