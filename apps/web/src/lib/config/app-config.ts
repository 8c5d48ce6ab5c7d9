// Runtime configuration, read from /config.json next to the build, so one build runs
// on the development network and in production. The file is untrusted input as far
// as shape goes: it is parsed once here and the rest of the app trusts the type.

export type AppMode = 'development' | 'production'

export interface AppConfig {
  /** `development` allows plain-http OAuth servers and loopback client ids. */
  mode: AppMode
  /** The handle resolver the OAuth client uses (our resolver, or any XRPC host with resolveHandle). */
  handleResolver: string
  /** PLC directory for did:plc documents. */
  plcUrl: string
  /** A PDS to suggest in messages (the development network's); sign-in finds the real one from the DID. */
  pdsUrl: string | null
  keyserverUrl: string
  /** The keyserver's did:web, without the service fragment. */
  keyserverDid: string
  /** Production only: the https URL of the hosted client-metadata.json (the OAuth client id). */
  clientId: string | null
  /** The sync router; both null: spaces work on this device only (no sync). */
  routerUrl: string | null
  /** The router's did:web, without the service fragment. */
  routerDid: string | null
}

export class ConfigError extends Error {
  readonly field: string
  constructor(field: string, message: string) {
    super(`config.json: ${field}: ${message}`)
    this.name = 'ConfigError'
    this.field = field
  }
}

const MAX_CONFIG_BYTES = 16 * 1024
const DID_WEB = /^did:web:[A-Za-z0-9.%:-]{1,253}$/
const MAX_URL_LENGTH = 2048

function readUrl(
  obj: Record<string, unknown>,
  field: string,
  mode: AppMode,
  optional: boolean,
): string | null {
  const value = obj[field]
  if (value === undefined || value === null) {
    if (optional) return null
    throw new ConfigError(field, 'missing')
  }
  if (typeof value !== 'string' || value.length > MAX_URL_LENGTH)
    throw new ConfigError(field, 'must be a URL string')
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new ConfigError(field, `not a URL: ${value}`)
  }
  // Plain http only on the development network, where everything is on loopback.
  if (url.protocol !== 'https:' && !(mode === 'development' && url.protocol === 'http:')) {
    throw new ConfigError(field, `must be https in production: ${value}`)
  }
  return url.href.replace(/\/$/, '')
}

export function parseAppConfig(input: unknown): AppConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ConfigError('(root)', 'must be a JSON object')
  }
  const obj = input as Record<string, unknown>
  const mode = obj.mode ?? 'production'
  if (mode !== 'development' && mode !== 'production')
    throw new ConfigError('mode', 'must be "development" or "production"')
  const keyserverDid = obj.keyserverDid
  if (typeof keyserverDid !== 'string' || !DID_WEB.test(keyserverDid)) {
    throw new ConfigError('keyserverDid', 'must be a did:web without a fragment')
  }
  const routerDid = obj.routerDid ?? null
  if (routerDid !== null && (typeof routerDid !== 'string' || !DID_WEB.test(routerDid))) {
    throw new ConfigError('routerDid', 'must be a did:web without a fragment')
  }
  const routerUrl = readUrl(obj, 'routerUrl', mode, true)
  if ((routerUrl === null) !== (routerDid === null)) {
    throw new ConfigError('routerUrl', 'routerUrl and routerDid go together')
  }
  const clientId = readUrl(obj, 'clientId', mode, true)
  if (mode === 'production' && clientId === null) {
    throw new ConfigError('clientId', 'production needs the URL of the hosted client-metadata.json')
  }
  return {
    mode,
    handleResolver: readUrl(obj, 'handleResolver', mode, false) as string,
    plcUrl: readUrl(obj, 'plcUrl', mode, false) as string,
    pdsUrl: readUrl(obj, 'pdsUrl', mode, true),
    keyserverUrl: readUrl(obj, 'keyserverUrl', mode, false) as string,
    keyserverDid,
    clientId,
    routerUrl,
    routerDid,
  }
}

export async function loadAppConfig(fetchFn: typeof fetch = fetch): Promise<AppConfig> {
  let response: Response
  try {
    // no-cache: revalidate, so a changed deployment is picked up; the service worker
    // answers from its cache when offline.
    response = await fetchFn('/config.json', { cache: 'no-cache' })
  } catch (cause) {
    throw new ConfigError('(file)', `could not be loaded (${String(cause)})`)
  }
  if (!response.ok) throw new ConfigError('(file)', `HTTP ${response.status}`)
  const text = await response.text()
  if (text.length > MAX_CONFIG_BYTES) throw new ConfigError('(file)', 'too large')
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw new ConfigError('(file)', 'not JSON')
  }
  return parseAppConfig(json)
}
