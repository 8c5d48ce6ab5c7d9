import { DEVNET_DEFAULT_PORTS, startDevnet, type Devnet } from './index.ts'

/** A port from the environment, or the fallback; 0 means any free port. */
export function envPort(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const port = Number(raw)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`${name} must be a port`)
  return port
}

/** The devnet on the fixed ports of `bash scripts/start.sh`, each overridable from the environment. */
export function startDevnetFromEnv(): Promise<Devnet> {
  return startDevnet({
    plcPort: envPort('HEARTH_PLC_PORT', DEVNET_DEFAULT_PORTS.plc),
    pdsPort: envPort('HEARTH_PDS_PORT', DEVNET_DEFAULT_PORTS.pds),
    resolverPort: envPort('HEARTH_RESOLVER_PORT', DEVNET_DEFAULT_PORTS.resolver),
    keyserverPort: envPort('HEARTH_KEYSERVER_PORT', DEVNET_DEFAULT_PORTS.keyserver),
    router: true,
    routerPort: envPort('HEARTH_ROUTER_PORT', DEVNET_DEFAULT_PORTS.router),
    ...(process.env.HEARTH_ROUTER_DATA && { routerDataDir: process.env.HEARTH_ROUTER_DATA }),
    ...(process.env.HEARTH_KEYSERVER_DB && { keyserverDbPath: process.env.HEARTH_KEYSERVER_DB }),
  })
}

/** The start banner: every URL, then the demo accounts with their passwords. */
export function devnetBanner(devnet: Devnet, extraRows: Array<[string, string]> = []): string {
  const rows: Array<[string, string]> = [
    ...extraRows,
    ['PLC', devnet.plc.url],
    ['PDS', devnet.pds.url],
    ['Resolver', devnet.resolver.url],
    [
      'Keyserver',
      devnet.keyserver ? `${devnet.keyserver.url}  (${devnet.keyserver.did})` : '(not running)',
    ],
    [
      'Router',
      devnet.router ? `${devnet.router.url}  (${devnet.router.identity.did})` : '(not running)',
    ],
  ]
  return [
    'Hearth is running on a local AT Protocol network (development mode: nothing here is public).',
    '',
    ...rows.map(([name, url]) => `  ${name.padEnd(10)} ${url}`),
    '',
    'Demo accounts (handle / password / email):',
    ...Object.values(devnet.accounts).map(
      (a) => `  ${a.handle.padEnd(12)} ${a.password.padEnd(12)} ${a.email}  ${a.did}`,
    ),
    '',
    'Ctrl-C stops everything.',
  ].join('\n')
}

/** Closes everything on SIGINT/SIGTERM; a second signal exits at once. */
export function closeOnSignal(close: () => Promise<void>): void {
  let stopping = false
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stopping) process.exit(1)
      stopping = true
      console.log(`\n${signal}: stopping...`)
      close().then(
        () => process.exit(0),
        (err: unknown) => {
          console.error(err)
          process.exit(1)
        },
      )
    })
  }
}
