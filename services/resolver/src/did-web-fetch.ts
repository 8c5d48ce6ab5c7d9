import { lookup as dnsLookup } from 'node:dns/promises'
import http from 'node:http'
import https from 'node:https'
import type { LookupAddress, lookup as LookupFunction } from 'node:dns'
import ipaddr from 'ipaddr.js'
import { DidNotFoundError, DidWebFetchError, InvalidDidDocumentError } from './errors.ts'
import type { ResolvableDid } from './identifiers.ts'

/** Resolves a host name to every address it has (injectable so tests can point a public-looking name at loopback). */
export type HostLookup = (hostname: string) => Promise<LookupAddress[]>

export interface DidWebFetchOptions {
  /** Development mode allows loopback hosts (and plain http to them); every other limit still holds. */
  devMode: boolean
  maxBytes: number
  timeoutMs: number
  lookup?: HostLookup
}

export const DID_WEB_DEFAULTS = { maxBytes: 64 * 1024, timeoutMs: 3_000 } as const

const DOC_PATH = '/.well-known/did.json'
const MAX_HEADER_BYTES = 16 * 1024

const systemLookup: HostLookup = (hostname) => dnsLookup(hostname, { all: true, verbatim: true })

/**
 * Only globally routable unicast addresses pass (an allow-list, so new special ranges are refused
 * by default); IPv4-mapped IPv6 is unwrapped first so ::ffff:127.0.0.1 counts as loopback.
 */
export function isAddressAllowed(address: string, devMode: boolean): boolean {
  if (!ipaddr.isValid(address)) return false
  const range = ipaddr.process(address).range()
  return range === 'unicast' || (devMode && range === 'loopback')
}

function stripBrackets(hostname: string): string {
  return hostname.startsWith('[') ? hostname.slice(1, -1) : hostname
}

function isLoopbackName(hostname: string): boolean {
  const host = stripBrackets(hostname)
  if (host === 'localhost' || host.endsWith('.localhost')) return true
  return ipaddr.isValid(host) && ipaddr.process(host).range() === 'loopback'
}

/** did:web:host%3Aport -> https://host:port/.well-known/did.json (http only for loopback in dev mode). */
export function didWebUrl(did: ResolvableDid, devMode: boolean): URL {
  const hostPort = decodeURIComponent(did.slice('did:web:'.length))
  const url = new URL(`https://${hostPort}${DOC_PATH}`)
  if (devMode && isLoopbackName(url.hostname)) url.protocol = 'http:'
  return url
}

/**
 * Fetches a did:web document with the S13 hardening: resolved addresses checked at connect time
 * (so DNS rebinding between check and connect does not help), no redirects, a byte cap enforced
 * while streaming, and one deadline covering connect, headers and body (slow-drip documents time out).
 * Returns the parsed JSON as `unknown`; the caller validates it.
 */
export function fetchDidWebDocument(
  did: ResolvableDid,
  options: DidWebFetchOptions,
): Promise<unknown> {
  const { devMode, maxBytes, timeoutMs } = options
  const lookupHost = options.lookup ?? systemLookup
  const url = didWebUrl(did, devMode)
  const literal = stripBrackets(url.hostname)
  if (ipaddr.isValid(literal) && !isAddressAllowed(literal, devMode)) {
    return Promise.reject(
      new DidWebFetchError(did, 'address-not-allowed', `address ${literal} is not public`),
    )
  }

  return new Promise<unknown>((resolve, reject) => {
    let settled = false
    let refusal: DidWebFetchError | undefined

    const finish = (error: Error | undefined, value?: unknown) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (error) {
        req.destroy()
        reject(error)
      } else {
        resolve(value)
      }
    }

    const timer = setTimeout(() => {
      finish(new DidWebFetchError(did, 'timeout', `no complete document within ${timeoutMs} ms`))
    }, timeoutMs)

    const checkedLookup = (
      hostname: string,
      lookupOptions: { all?: boolean },
      callback: (...args: unknown[]) => void,
    ) => {
      lookupHost(hostname).then(
        (addresses) => {
          const refused = addresses.find((a) => !isAddressAllowed(a.address, devMode))
          if (addresses.length === 0 || refused) {
            refusal = new DidWebFetchError(
              did,
              'address-not-allowed',
              refused
                ? `${hostname} resolves to ${refused.address}, which is not public`
                : `${hostname} has no address`,
            )
            callback(refusal)
          } else if (lookupOptions.all) {
            callback(null, addresses)
          } else {
            callback(null, addresses[0]!.address, addresses[0]!.family)
          }
        },
        (err: unknown) => callback(err),
      )
    }

    const transport = url.protocol === 'http:' ? http : https
    const req = transport.request(
      url,
      {
        method: 'GET',
        agent: false,
        lookup: checkedLookup as unknown as typeof LookupFunction,
        maxHeaderSize: MAX_HEADER_BYTES,
        headers: { accept: 'application/did+ld+json, application/json' },
      },
      (res) => {
        const status = res.statusCode ?? 0
        if (status >= 300 && status < 400) {
          finish(new DidWebFetchError(did, 'redirect', `redirects are not followed (${status})`))
          return
        }
        if (status === 404 || status === 410) {
          finish(new DidNotFoundError(did))
          return
        }
        if (status !== 200) {
          finish(new DidWebFetchError(did, 'http-status', `HTTP ${status}`))
          return
        }
        const declared = Number(res.headers['content-length'])
        if (Number.isFinite(declared) && declared > maxBytes) {
          finish(new DidWebFetchError(did, 'too-large', `declared ${declared} bytes > ${maxBytes}`))
          return
        }
        const chunks: Buffer[] = []
        let received = 0
        res.on('data', (chunk: Buffer) => {
          received += chunk.length
          if (received > maxBytes) {
            finish(new DidWebFetchError(did, 'too-large', `document exceeds ${maxBytes} bytes`))
            return
          }
          chunks.push(chunk)
        })
        res.on('end', () => {
          let value: unknown
          try {
            value = JSON.parse(Buffer.concat(chunks).toString('utf8'))
          } catch (err) {
            finish(new InvalidDidDocumentError(did, 'not-json', { cause: err }))
            return
          }
          finish(undefined, value)
        })
        res.on('error', (err) => {
          finish(new DidWebFetchError(did, 'network', err.message, { cause: err }))
        })
      },
    )
    req.on('error', (err) => {
      finish(refusal ?? new DidWebFetchError(did, 'network', err.message, { cause: err }))
    })
    req.end()
  })
}
