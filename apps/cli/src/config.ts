/** Where the CLI finds the network. Defaults are the local network of `bash scripts/start.sh`. */
export interface CliConfig {
  resolverUrl: string
  keyserverUrl: string
}

export function cliConfig(env: NodeJS.ProcessEnv = process.env): CliConfig {
  return {
    resolverUrl: env.HEARTH_RESOLVER_URL ?? 'http://localhost:2584',
    keyserverUrl: env.HEARTH_KEYSERVER_URL ?? 'http://localhost:2585',
  }
}
