#!/usr/bin/env node
// The `hearth` command. Only argument parsing and printing live here; commands are in ./commands.
import { parseArgs } from 'node:util'
import { login } from './commands/login.ts'
import { whoami } from './commands/whoami.ts'
import { cliConfig } from './config.ts'
import { hearthHome } from './home.ts'

const USAGE = `usage:
  hearth login <handle> --password <app password> [--pds <url>]
  hearth whoami [--json]

environment: HEARTH_HOME (state directory, default ~/.hearth),
             HEARTH_RESOLVER_URL (default http://localhost:2584), HEARTH_KEYSERVER_URL (default http://localhost:2585)`

async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  const home = hearthHome()
  const config = cliConfig()
  switch (command) {
    case 'login': {
      const { values, positionals } = parseArgs({
        args: rest,
        options: {
          password: { type: 'string' },
          pds: { type: 'string' },
          json: { type: 'boolean' },
        },
        allowPositionals: true,
      })
      const password = values.password ?? process.env.HEARTH_PASSWORD
      if (positionals.length !== 1 || !password) return usage()
      const result = await login(home, config, {
        handle: positionals[0]!,
        password,
        pds: values.pds,
      })
      if (values.json) console.log(JSON.stringify(result))
      else
        console.log(
          `logged in as ${result.handle} (${result.did})\nthis device: ${result.deviceId}\nfingerprint: ${result.fingerprint}`,
        )
      return 0
    }
    case 'whoami': {
      const { values } = parseArgs({ args: rest, options: { json: { type: 'boolean' } } })
      const me = await whoami(home)
      if (values.json) console.log(JSON.stringify(me))
      else
        console.log(
          `${me.handle} (${me.did})\npds: ${me.pds} (session ${me.session})\ndevice: ${me.deviceId ?? 'none'}\nfingerprint: ${me.fingerprint ?? '-'}`,
        )
      return 0
    }
    case undefined:
    case 'help':
    case '--help':
      console.log(USAGE)
      return 0
    default:
      return usage()
  }
}

function usage(): number {
  console.error(USAGE)
  return 2
}

try {
  process.exitCode = await run(process.argv.slice(2))
} catch (err) {
  console.error(`hearth: ${err instanceof Error ? err.message : String(err)}`)
  process.exitCode = 1
}
