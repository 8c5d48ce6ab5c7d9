#!/usr/bin/env node
import { DEVNET_DEFAULT_PORTS, startDevnet } from './index.ts'

function envPort(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const port = Number(raw)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`${name} must be a port`)
  return port
}

const devnet = await startDevnet({
  plcPort: envPort('HEARTH_PLC_PORT', DEVNET_DEFAULT_PORTS.plc),
  pdsPort: envPort('HEARTH_PDS_PORT', DEVNET_DEFAULT_PORTS.pds),
  resolverPort: envPort('HEARTH_RESOLVER_PORT', DEVNET_DEFAULT_PORTS.resolver),
  keyserverPort: envPort('HEARTH_KEYSERVER_PORT', DEVNET_DEFAULT_PORTS.keyserver),
  ...(process.env.HEARTH_KEYSERVER_DB && { keyserverDbPath: process.env.HEARTH_KEYSERVER_DB }),
})

const rows: Array<[string, string]> = [
  ['PLC', devnet.plc.url],
  ['PDS', devnet.pds.url],
  ['Resolver', devnet.resolver.url],
  [
    'Keyserver',
    devnet.keyserver ? `${devnet.keyserver.url}  (${devnet.keyserver.did})` : '(not available)',
  ],
]
const lines = [
  'Hearth devnet is running (local PLC + PDS, development mode: nothing here is public).',
  '',
  ...rows.map(([name, url]) => `  ${name.padEnd(10)} ${url}`),
  '',
  'Demo accounts (handle / password / email):',
  ...Object.values(devnet.accounts).map(
    (a) => `  ${a.handle.padEnd(12)} ${a.password.padEnd(12)} ${a.email}  ${a.did}`,
  ),
  '',
  'Ctrl-C stops everything.',
]
console.log(lines.join('\n'))

let stopping = false
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(1) // a second Ctrl-C does not wait
    stopping = true
    console.log(`\n${signal}: stopping the devnet...`)
    devnet.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err)
        process.exit(1)
      },
    )
  })
}
