#!/usr/bin/env node
// The `hearth` command. Only argument parsing and printing live here; commands are in ./commands.
import { parseArgs, type ParseArgsConfig } from 'node:util'
import type { SpaceMode } from '@hearth/sync'
import type { Context, MessageLine } from './commands/chat.ts'
import { cliConfig } from './config.ts'
import { UsageError } from './errors.ts'
import { hearthHome } from './home.ts'

// Commands load their modules when run: `--help` and usage errors start fast, and login
// never loads the sync library.
const chat = () => import('./commands/chat.ts')
const targets = () => import('./chat-targets.ts')

const MODES: Record<string, SpaceMode> = {
  public: 'PUBLIC',
  invites: 'INVITES_ONLY',
  'admin-invites': 'ADMIN_INVITES_ONLY',
}

const ENVIRONMENT = `environment: HEARTH_HOME (state directory, default ~/.hearth),
             HEARTH_RESOLVER_URL (default http://localhost:2584), HEARTH_KEYSERVER_URL (default http://localhost:2585),
             HEARTH_ROUTER_URL (default http://localhost:2586), HEARTH_ROUTER_AUDIENCE (default derived from its host),
             HEARTH_SYNC_TIMEOUT_MS (how long to wait for the router, default 15000)`

/** Each command's usage line and help text (`hearth <command> --help`). */
const HELP: Record<string, { usage: string; help: string }> = {
  login: {
    usage: 'hearth login <handle> --password <app password> [--pds <url>] [--json]',
    help: 'Signs in with an app password and makes this HEARTH_HOME a device of the account.',
  },
  whoami: { usage: 'hearth whoami [--json]', help: 'Who is signed in on this device.' },
  'space create': {
    usage: 'hearth space create <name> [--mode public|invites|admin-invites] [--channel <name>]',
    help: 'Creates a space (default mode: invites) with a first channel (default "general") and prints its id.',
  },
  'space list': {
    usage: 'hearth space list [--json]',
    help: 'The spaces this device follows (from local data).',
  },
  'space invite': {
    usage: 'hearth space invite <space> <handle-or-did>',
    help: 'Invites someone; a handle must be verified both ways by the resolver.',
  },
  'space join': {
    usage: 'hearth space join <space-id>',
    help: 'Joins a space you were invited to (or a public one) and fetches its channels.',
  },
  'space members': {
    usage: 'hearth space members <space> [--json]',
    help: 'Members with handle (where known), role and status.',
  },
  'channel create': {
    usage: 'hearth channel create <space> <name>',
    help: 'Creates a channel and prints its id.',
  },
  'channel list': {
    usage: 'hearth channel list <space> [--json]',
    help: "The space's channels, oldest first.",
  },
  send: {
    usage: 'hearth send <space> [--channel <name-or-id>] [--no-wait] <text | ->',
    help: 'Sends a message (- reads it from stdin) to a channel (default: the first) and waits\nuntil the router stored it; offline or with --no-wait it stays on this device and is sent later.',
  },
  read: {
    usage: 'hearth read <space> [--channel <name-or-id>] [--limit N] [--json]',
    help: 'The latest messages (default 50), oldest first; works offline from local data.\n--json prints one object a line: id, author, handle, text, ts, edited, replyTo, delivery.',
  },
  sync: {
    usage: 'hearth sync [<space>]',
    help: 'Brings the spaces this device follows (or one) up to date and sends what was written\noffline; prints, per space, how many of your messages are still unconfirmed.',
  },
  tail: {
    usage: 'hearth tail <space> [--channel <name-or-id>] [--json]',
    help: 'Prints new messages as they arrive, until Ctrl-C.',
  },
}

const USAGE = `usage:
${Object.values(HELP)
  .map((h) => `  ${h.usage}`)
  .join('\n')}

<space> is a space id or a unique prefix of a name from \`hearth space list\`.
\`hearth <command> --help\` explains each command.

${ENVIRONMENT}`

type Options = NonNullable<ParseArgsConfig['options']>

function parse<O extends Options>(args: string[], options: O) {
  try {
    return parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      allowNegative: true,
    })
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error))
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length
    // Bounded: the text cap is far below this, parseText reports the length.
    if (size > 1_000_000) throw new UsageError('the message on stdin is too long')
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8').replace(/\n$/, '')
}

function printLines<T>(rows: T[], json: boolean | undefined, human: (row: T) => string): void {
  for (const row of rows) console.log(json ? JSON.stringify(row) : human(row))
}

async function messagePrinter(json: boolean | undefined): Promise<(line: MessageLine) => void> {
  const { formatMessage } = await chat()
  return (line) => console.log(json ? JSON.stringify(line) : formatMessage(line))
}

async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  const home = hearthHome()
  const config = cliConfig()
  const ctx: Context = { home, config, note: (line) => console.error(`hearth: ${line}`) }
  // Two-word commands (`space create`) look up their help under both words.
  const sub = command === 'space' || command === 'channel' ? rest.shift() : undefined
  const name = sub === undefined ? (command ?? '') : `${command} ${sub}`
  const help = HELP[name]
  const wantsHelp = rest.includes('--help') || rest.includes('-h')
  if (help && wantsHelp) {
    console.log(`usage: ${help.usage}\n\n${help.help}\n\n${ENVIRONMENT}`)
    return 0
  }
  if (!help && (command === 'space' || command === 'channel')) {
    const group = Object.entries(HELP)
      .filter(([key]) => key.startsWith(`${command} `))
      .map(([, h]) => `  ${h.usage}\n      ${h.help.replace(/\n/g, '\n      ')}`)
      .join('\n')
    if (sub === undefined || sub === '--help' || sub === '-h') {
      console.log(`usage:\n${group}`)
      return 0
    }
    throw new UsageError(`unknown command: hearth ${name}\nusage:\n${group}`)
  }
  const positional = (n: number, positionals: string[]): string[] => {
    if (positionals.length !== n) throw new UsageError(`usage: ${help!.usage}`)
    return positionals
  }

  switch (name) {
    case 'login': {
      const { values, positionals } = parse(rest, {
        password: { type: 'string' },
        pds: { type: 'string' },
        json: { type: 'boolean' },
      })
      const password = values.password ?? process.env.HEARTH_PASSWORD
      if (positionals.length !== 1 || !password) return usage()
      const result = await (
        await import('./commands/login.ts')
      ).login(home, config, {
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
      const { values } = parse(rest, { json: { type: 'boolean' } })
      const me = await (await import('./commands/whoami.ts')).whoami(home)
      if (values.json) console.log(JSON.stringify(me))
      else
        console.log(
          `${me.handle} (${me.did})\npds: ${me.pds} (session ${me.session})\ndevice: ${me.deviceId ?? 'none'}\nfingerprint: ${me.fingerprint ?? '-'}`,
        )
      return 0
    }
    case 'space create': {
      const { values, positionals } = parse(rest, {
        mode: { type: 'string' },
        channel: { type: 'string' },
        json: { type: 'boolean' },
      })
      const [spaceName] = positional(1, positionals)
      const mode = MODES[values.mode ?? 'invites']
      if (!mode) throw new UsageError('--mode is one of public, invites, admin-invites')
      const result = await (
        await chat()
      ).spaceCreate(ctx, {
        name: spaceName!,
        mode,
        channel: values.channel ?? 'general',
      })
      console.log(values.json ? JSON.stringify(result) : result.spaceId)
      return 0
    }
    case 'space list': {
      const { values, positionals } = parse(rest, { json: { type: 'boolean' } })
      positional(0, positionals)
      printLines(
        await (await chat()).spaceList(ctx),
        values.json,
        (s) => `${s.spaceId}  ${s.name ?? '(unnamed)'}`,
      )
      return 0
    }
    case 'space invite': {
      const { positionals } = parse(rest, {})
      const [space, who] = positional(2, positionals)
      const result = await (await chat()).spaceInvite(ctx, { space: space!, who: who! })
      const whom = result.handle ? `${result.handle} (${result.did})` : result.did
      console.log(result.stored ? `invited ${whom}` : `invitation for ${whom} saved on this device`)
      return 0
    }
    case 'space join': {
      const { positionals } = parse(rest, {})
      const [space] = positional(1, positionals)
      const result = await (await chat()).spaceJoin(ctx, { space: space! })
      console.log(
        `${result.already ? 'already a member of' : 'joined'} ${result.name} (${result.spaceId})`,
      )
      return 0
    }
    case 'space members': {
      const { values, positionals } = parse(rest, { json: { type: 'boolean' } })
      const [space] = positional(1, positionals)
      printLines(
        await (await chat()).spaceMembers(ctx, { space: space! }),
        values.json,
        (m) => `${m.handle ?? '-'}  ${m.did}  ${m.role}  ${m.status}`,
      )
      return 0
    }
    case 'channel create': {
      const { values, positionals } = parse(rest, { json: { type: 'boolean' } })
      const [space, channel] = positional(2, positionals)
      const result = await (await chat()).channelCreate(ctx, { space: space!, name: channel! })
      console.log(values.json ? JSON.stringify(result) : result.channelId)
      return 0
    }
    case 'channel list': {
      const { values, positionals } = parse(rest, { json: { type: 'boolean' } })
      const [space] = positional(1, positionals)
      printLines(
        await (await chat()).channelList(ctx, { space: space! }),
        values.json,
        (c) => `${c.id}  #${c.name}`,
      )
      return 0
    }
    case 'send': {
      const { values, positionals } = parse(rest, {
        channel: { type: 'string' },
        wait: { type: 'boolean', default: true },
        json: { type: 'boolean' },
      })
      const [space, text] = positional(2, positionals)
      const result = await (
        await chat()
      ).send(ctx, {
        space: space!,
        channel: values.channel,
        text: text === '-' ? await readStdin() : text!,
        wait: values.wait !== false,
      })
      if (values.json) console.log(JSON.stringify(result))
      else if (result.stored) console.log(`stored ${result.id}`)
      else if (result.sent)
        console.log(`sent ${result.id}; not waiting for the router to confirm it`)
      else
        console.log(
          `saved on this device (${result.id}); it will be sent by \`hearth sync\` or the next command that reaches the router`,
        )
      return 0
    }
    case 'read': {
      const { values, positionals } = parse(rest, {
        channel: { type: 'string' },
        limit: { type: 'string' },
        json: { type: 'boolean' },
      })
      const [space] = positional(1, positionals)
      const lines = await (
        await chat()
      ).read(ctx, {
        space: space!,
        channel: values.channel,
        limit: (await targets()).parseLimit(values.limit, 50),
      })
      lines.forEach(await messagePrinter(values.json))
      return 0
    }
    case 'sync': {
      const { values, positionals } = parse(rest, { json: { type: 'boolean' } })
      if (positionals.length > 1) throw new UsageError(`usage: ${help!.usage}`)
      printLines(
        await (await chat()).sync(ctx, { space: positionals[0] }),
        values.json,
        (s) =>
          `${s.spaceId}  ${s.name}  ${s.waiting === 0 ? 'up to date' : `${s.waiting} unconfirmed`}`,
      )
      return 0
    }
    case 'tail': {
      const { values, positionals } = parse(rest, {
        channel: { type: 'string' },
        json: { type: 'boolean' },
      })
      const [space] = positional(1, positionals)
      const stop = new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve())
        process.once('SIGTERM', () => resolve())
      })
      await (
        await chat()
      ).tail(
        ctx,
        { space: space!, channel: values.channel },
        await messagePrinter(values.json),
        (channel) => ctx.note(`following #${channel}; Ctrl-C to stop`),
        stop,
      )
      return 0
    }
    case '':
    case 'help':
    case '--help':
    case '-h':
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

let code: number
try {
  code = await run(process.argv.slice(2))
} catch (err) {
  console.error(`hearth: ${err instanceof Error ? err.message : String(err)}`)
  code = err instanceof UsageError ? 2 : 1
}
// Exit at once: the network client may hold timers (reconnect backoff, the Repo's own) that
// have nothing left to do once the command has flushed and closed.
process.exit(code)
