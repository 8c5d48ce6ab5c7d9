// Typed errors of the resolver. The HTTP mapping lives once, in app.ts's onError.

/** A query parameter is missing or too long. */
export class InvalidParamError extends Error {
  readonly param: string
  constructor(param: string, message: string) {
    super(message)
    this.name = 'InvalidParamError'
    this.param = param
  }
}

/** The identifier is neither a syntactically valid handle nor a supported DID. */
export class InvalidIdentifierError extends Error {
  readonly identifier: string
  constructor(identifier: string, message: string) {
    super(message)
    this.name = 'InvalidIdentifierError'
    this.identifier = identifier
  }
}

/** No DID could be found for the handle (or it is not confirmed by its DID document). */
export class HandleNotFoundError extends Error {
  readonly handle: string
  readonly reason: 'unresolved' | 'not-verified'
  constructor(handle: string, reason: 'unresolved' | 'not-verified', options?: ErrorOptions) {
    super(
      reason === 'unresolved'
        ? `Unable to resolve handle ${handle}`
        : `Handle ${handle} is not confirmed by its DID document`,
      options,
    )
    this.name = 'HandleNotFoundError'
    this.handle = handle
    this.reason = reason
  }
}

/** The DID's method positively reports that the DID does not exist. */
export class DidNotFoundError extends Error {
  readonly did: string
  constructor(did: string) {
    super(`DID not found: ${did}`)
    this.name = 'DidNotFoundError'
    this.did = did
  }
}

/** The DID document was fetched but is not acceptable (not JSON, wrong shape, wrong id). */
export class InvalidDidDocumentError extends Error {
  readonly did: string
  readonly reason: 'not-json' | 'schema' | 'id-mismatch'
  constructor(did: string, reason: 'not-json' | 'schema' | 'id-mismatch', options?: ErrorOptions) {
    super(
      reason === 'id-mismatch'
        ? `DID document for ${did} has a different id`
        : reason === 'not-json'
          ? `DID document for ${did} is not JSON`
          : `DID document for ${did} is malformed`,
      options,
    )
    this.name = 'InvalidDidDocumentError'
    this.did = did
    this.reason = reason
  }
}

export type DidWebFetchFailure =
  'address-not-allowed' | 'redirect' | 'too-large' | 'timeout' | 'http-status' | 'network'

/** A did:web document fetch was refused or failed (S13: private address, redirect, size, time). */
export class DidWebFetchError extends Error {
  readonly did: string
  readonly reason: DidWebFetchFailure
  constructor(did: string, reason: DidWebFetchFailure, detail: string, options?: ErrorOptions) {
    super(`did:web document for ${did} refused: ${detail}`, options)
    this.name = 'DidWebFetchError'
    this.did = did
    this.reason = reason
  }
}

/** A configured upstream (PLC directory, PDS) failed or answered nonsense. */
export class UpstreamError extends Error {
  readonly upstream: 'plc' | 'pds' | 'handle'
  constructor(upstream: 'plc' | 'pds' | 'handle', message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'UpstreamError'
    this.upstream = upstream
  }
}
