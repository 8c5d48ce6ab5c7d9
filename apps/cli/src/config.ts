/** Where the CLI finds the network. Defaults are the local network of `bash scripts/start.sh`. */
export interface CliConfig {
  resolverUrl: string
  keyserverUrl: string
  /** The router's HTTP base URL (tickets) and its service DID with `#hearth_router` (`aud`). */
  routerUrl: string
  routerAudience: string
  /** How long a command waits for the router before it gives up or works offline. */
  syncTimeoutMs: number
}

/**
 * A service's did:web audience as the services derive it from their host (`localhost:2586` ->
 * `did:web:localhost%3A2586#hearth_router`), so the default needs no network round trip.
 */
export function routerAudienceFor(routerUrl: string): string {
  return `did:web:${encodeURIComponent(new URL(routerUrl).host)}#hearth_router`
}

function positiveInt(raw: string | undefined, fallback: number, name: string): number {
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer`)
  return n
}

export function cliConfig(env: NodeJS.ProcessEnv = process.env): CliConfig {
  const routerUrl = env.HEARTH_ROUTER_URL ?? 'http://localhost:2586'
  return {
    resolverUrl: env.HEARTH_RESOLVER_URL ?? 'http://localhost:2584',
    keyserverUrl: env.HEARTH_KEYSERVER_URL ?? 'http://localhost:2585',
    routerUrl,
    routerAudience: env.HEARTH_ROUTER_AUDIENCE ?? routerAudienceFor(routerUrl),
    syncTimeoutMs: positiveInt(env.HEARTH_SYNC_TIMEOUT_MS, 15_000, 'HEARTH_SYNC_TIMEOUT_MS'),
  }
}
