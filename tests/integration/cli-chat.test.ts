// Chat from a terminal: `hearth` as real processes, each user with their own HEARTH_HOME, against
// a real local PDS, resolver, keyserver and router (issue 5 item 10).
import { execFile, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startDevnet, type Devnet } from '@hearth/devnet'
import { createSyncEndpoint, startRouter, type RunningRouter } from '@hearth/router'
import { MAX_TEXT_CHARS } from '@hearth/sync'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const CLI = fileURLToPath(new URL('../../apps/cli/src/main.ts', import.meta.url))
type Name = 'alice' | 'bob' | 'carol'

let devnet: Devnet
let router: RunningRouter | undefined
let routerEnv: Record<string, string>
let dir: string
const homes = {} as Record<Name, string>

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hearth-cli-chat-'))
  devnet = await startDevnet()
  // Our own router (not devnet's), so the last test can stop and restart it.
  router = await startOurRouter(0)
  routerEnv = {
    HEARTH_ROUTER_URL: router.url,
    HEARTH_ROUTER_AUDIENCE: router.identity.audience,
  }
  for (const name of ['alice', 'bob', 'carol'] as const) homes[name] = join(dir, name)
}, 60_000)

async function startOurRouter(port: number): Promise<RunningRouter> {
  const endpoint = await createSyncEndpoint({ dataDir: join(dir, 'router') })
  return startRouter({ port, plcUrl: devnet.plc.url, devMode: true, endpoint })
}

afterAll(async () => {
  await router?.close()
  await devnet?.close()
  if (dir) await rm(dir, { recursive: true, force: true })
})

function env(name: Name): NodeJS.ProcessEnv {
  return {
    ...process.env,
    HEARTH_HOME: homes[name],
    HEARTH_RESOLVER_URL: devnet.resolver.url,
    HEARTH_KEYSERVER_URL: devnet.keyserver!.url,
    ...routerEnv,
  }
}

interface Result {
  code: number
  stdout: string
  stderr: string
}

function hearth(name: Name, ...args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: env(name) }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    )
  })
}

interface Line {
  id: string
  author: string
  handle: string | null
  text: string | null
  ts: number
  edited: boolean
  replyTo: string | null
  delivery: string
}

function lines(stdout: string): Line[] {
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line)
}

// Each step runs several real processes; on a loaded machine one takes seconds to start.
describe('two CLI users chat through the router', { timeout: 120_000 }, () => {
  let spaceId: string

  it('alice, bob and carol log in, each in their own HEARTH_HOME', async () => {
    const results = await Promise.all(
      (['alice', 'bob', 'carol'] as const).map((name) =>
        hearth(name, 'login', `${name}.test`, '--password', devnet.accounts[name].password),
      ),
    )
    expect(results.map((r) => [r.code, r.stderr])).toEqual([
      [0, ''],
      [0, ''],
      [0, ''],
    ])
  })

  it('alice creates a private space with a general channel; it is listed by name', async () => {
    const created = await hearth('alice', 'space', 'create', 'Book club', '--mode', 'invites')
    expect(created.stderr).toBe('')
    expect(created.code).toBe(0)
    spaceId = created.stdout.trim()
    expect(spaceId).toMatch(/^[a-z2-7]{52}$/)
    const list = await hearth('alice', 'space', 'list', '--json')
    expect(JSON.parse(list.stdout)).toEqual({ spaceId, name: 'Book club' })
    const channels = await hearth('alice', 'channel', 'list', 'book', '--json')
    expect(channels.code).toBe(0)
    expect(lines(channels.stdout).map((c) => (c as unknown as { name: string }).name)).toEqual([
      'general',
    ])
  })

  it('alice invites bob by handle (name prefix for the space); bob joins by id', async () => {
    const invite = await hearth('alice', 'space', 'invite', 'Book', 'bob.test')
    expect(invite.stderr).toBe('')
    expect(invite.stdout).toContain(`invited bob.test (${devnet.accounts.bob.did})`)
    const join = await hearth('bob', 'space', 'join', spaceId)
    expect(join.stderr).toBe('')
    expect(join.stdout.trim()).toBe(`joined Book club (${spaceId})`)
    const members = await hearth('bob', 'space', 'members', spaceId, '--json')
    expect(members.code).toBe(0)
    const byHandle = Object.fromEntries(
      lines(members.stdout).map((m) => {
        const member = m as unknown as { handle: string; role: string; status: string }
        return [member.handle, `${member.role} ${member.status}`]
      }),
    )
    expect(byHandle).toEqual({ 'alice.test': 'admin member', 'bob.test': 'member member' })
  })

  it('they exchange messages (each stored by the router); both read back the same conversation', async () => {
    const first = await hearth('alice', 'send', 'Book', 'Hello bob, welcome to the club')
    expect(first.stderr).toBe('')
    expect(first.stdout).toMatch(/^stored [a-z2-7]{52}$/m)
    const reply = await hearth('bob', 'send', spaceId, '--channel', 'general', 'Hi alice!')
    expect(reply.stdout).toMatch(/^stored /m)
    const third = await hearth('alice', 'send', 'Book', '--channel', '#general', 'First book: Dune')
    expect(third.stdout).toMatch(/^stored /m)

    const [a, b] = await Promise.all([
      hearth('alice', 'read', 'Book', '--json'),
      hearth('bob', 'read', spaceId, '--json'),
    ])
    expect([a.code, b.code]).toEqual([0, 0])
    const alices = lines(a.stdout)
    const bobs = lines(b.stdout)
    expect(alices.map((m) => [m.handle, m.text])).toEqual([
      ['alice.test', 'Hello bob, welcome to the club'],
      ['bob.test', 'Hi alice!'],
      ['alice.test', 'First book: Dune'],
    ])
    expect(bobs.map((m) => [m.id, m.author, m.text, m.ts])).toEqual(
      alices.map((m) => [m.id, m.author, m.text, m.ts]),
    )
    expect(alices[0]!.author).toBe(devnet.accounts.alice.did)
    expect(bobs.every((m) => m.delivery === 'stored' && !m.edited && m.replyTo === null)).toBe(true)
    const limited = await hearth('bob', 'read', spaceId, '--limit', '1')
    expect(limited.stdout.trim().split('\n')).toHaveLength(1)
    expect(limited.stdout).toContain('alice.test: First book: Dune')
  })

  it("bob's tail prints alice's next message as it arrives and exits 0 on SIGINT", async () => {
    const child = spawn(process.execPath, [CLI, 'tail', spaceId, '--json'], { env: env('bob') })
    let stdout = ''
    let stderr = ''
    const output = new EventTarget()
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString()
      output.dispatchEvent(new Event('data'))
    })
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
      output.dispatchEvent(new Event('data'))
    })
    const saw = (test: () => boolean) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!test()) return
          output.removeEventListener('data', check)
          resolve()
        }
        output.addEventListener('data', check)
        child.once('exit', () => reject(new Error(`tail exited early: ${stderr}`)))
        // A failure shows what tail printed instead of a bare test timeout.
        setTimeout(() => reject(new Error(`tail printed: ${stdout} / ${stderr}`)), 40_000)
        check()
      })
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
    await saw(() => stderr.includes('following #general'))
    // --no-wait: pushed at once, no waiting for the acknowledgement; tail still gets it.
    const sent = await hearth('alice', 'send', 'Book', '--no-wait', 'Chapter one tonight?')
    expect(sent.stdout).toMatch(/^sent [a-z2-7]{52}; not waiting/m)
    await saw(() => stdout.includes('Chapter one tonight?'))
    child.kill('SIGINT')
    expect(await exited).toBe(0)
    const printed = lines(stdout)
    expect(printed.map((m) => [m.handle, m.text])).toEqual([['alice.test', 'Chapter one tonight?']])
  })

  it('carol, not a member, cannot read the private space: a clear error and no content', async () => {
    const res = await hearth('carol', 'read', spaceId, '--json')
    expect(res.code).toBe(1)
    expect(res.stdout).toBe('')
    expect(res.stderr).toMatch(/^hearth: space [a-z2-7]{52} was not found, or you are not a member/)
    expect(res.stderr).not.toContain('Dune')
    // Nor did looking make her follow it.
    expect((await hearth('carol', 'space', 'list')).stdout).toBe('')
  })

  it('input is checked before anything is written: long text, empty names, unknown handles', async () => {
    const [long, blank, nobody, unknown, help] = await Promise.all([
      hearth('alice', 'send', 'Book', 'x'.repeat(MAX_TEXT_CHARS + 1)),
      hearth('alice', 'channel', 'create', 'Book', '   '),
      hearth('alice', 'space', 'invite', 'Book', 'nobody.test'),
      hearth('alice', 'read', 'No such space'),
      hearth('alice', 'send', '--help'),
    ])
    expect(long.code).toBe(2)
    expect(long.stderr).toMatch(/at most 16384 are allowed/)
    expect(blank.code).toBe(2)
    expect(nobody.code).toBe(1)
    expect(nobody.stderr).toMatch(/^hearth: .*resolver/)
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toMatch(/no space named "No such space"/)
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/^usage: hearth send <space>/)
  })

  it('with the router stopped, read works from local data and send saves for later; sent once it is back', async () => {
    const before = lines((await hearth('bob', 'read', spaceId, '--json')).stdout)
    const port = Number(new URL(router!.url).port)
    await router!.close()
    router = undefined
    try {
      const offline = await hearth('bob', 'read', spaceId, '--json')
      expect(offline.code).toBe(0)
      expect(offline.stderr).toMatch(/router.*showing what this device holds/)
      expect(lines(offline.stdout)).toEqual(before)
      const saved = await hearth('bob', 'send', spaceId, 'written offline')
      expect(saved.code).toBe(0)
      expect(saved.stdout).toMatch(/^saved on this device/)
      const after = lines((await hearth('bob', 'read', spaceId, '--json')).stdout)
      expect(after.at(-1)).toMatchObject({ text: 'written offline', delivery: 'saved' })
      const tail = await hearth('bob', 'tail', spaceId)
      expect(tail.code).toBe(1)
      expect(tail.stderr).toMatch(
        /^hearth: cannot reach the router at .*: try again when it is back/,
      )
    } finally {
      router = await startOurRouter(port)
    }
    // `hearth sync` (or any command that opens the space online) sends what waited on bob's device.
    const synced = await hearth('bob', 'sync', '--json')
    expect(synced.stderr).toBe('')
    expect(JSON.parse(synced.stdout)).toEqual({ spaceId, name: 'Book club', waiting: 0 })
    const alices = lines((await hearth('alice', 'read', 'Book', '--json')).stdout)
    expect(alices.at(-1)).toMatchObject({ text: 'written offline', handle: 'bob.test' })
  })
})
