// The `hearth` command as a person runs it: a real process, its own HEARTH_HOME, against a
// real local PDS, resolver and keyserver.
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startDevnet, type Devnet } from '@hearth/devnet'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const CLI = fileURLToPath(new URL('../../apps/cli/src/main.ts', import.meta.url))
let devnet: Devnet
const homes: string[] = []

beforeAll(async () => {
  devnet = await startDevnet()
})

afterAll(async () => {
  await devnet?.close()
  for (const home of homes) await rm(home, { recursive: true, force: true })
})

async function newHome(): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), 'hearth-cli-'))
  homes.push(home)
  return home
}

function hearth(
  home: string,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      {
        env: {
          ...process.env,
          HEARTH_HOME: home,
          HEARTH_RESOLVER_URL: devnet.resolver.url,
          HEARTH_KEYSERVER_URL: devnet.keyserver!.url,
        },
      },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    )
  })
}

interface Device {
  deviceId: string
  key: string
}

async function servedDevices(did: string): Promise<Device[]> {
  const res = await fetch(
    `${devnet.keyserver!.url}/xrpc/app.hearth.keyserver.listDevices?did=${did}`,
  )
  if (res.status !== 200) return []
  return ((await res.json()) as { devices: Device[] }).devices
}

describe('hearth CLI', () => {
  it('logs in as bob.test; whoami prints his DID; his device key is bound in his PDS and served', async () => {
    const home = await newHome()
    const bob = devnet.accounts.bob
    const login = await hearth(home, 'login', 'bob.test', '--password', bob.password)
    expect(login.stderr).toBe('')
    expect(login.code).toBe(0)

    const whoami = await hearth(home, 'whoami', '--json')
    expect(whoami.code).toBe(0)
    const me = JSON.parse(whoami.stdout) as {
      did: string
      handle: string
      keyId: string
      deviceId: string
      fingerprint: string
      session: string
    }
    expect(me.did).toBe(bob.did)
    expect(me.handle).toBe('bob.test')
    expect(me.session).toBe('active')
    expect(me.fingerprint).toMatch(/^(\d{5} ){7}\d{5}$/)

    const agent = await devnet.login(bob)
    const record = await agent.com.atproto.repo.getRecord({
      repo: bob.did,
      collection: 'app.hearth.device',
      rkey: me.deviceId,
    })
    expect((record.data.value as { key: string }).key).toBe(me.keyId)

    const devices = await servedDevices(bob.did)
    expect(devices.map((d) => d.key)).toContain(me.keyId)
  })

  it('keeps the private key and session in HEARTH_HOME, readable by the owner only', async () => {
    const home = await newHome()
    expect(
      (await hearth(home, 'login', 'carol.test', '--password', devnet.accounts.carol.password))
        .code,
    ).toBe(0)
    for (const file of ['device.json', 'session.json']) {
      expect((await stat(join(home, file))).mode & 0o077).toBe(0)
    }
    // The password itself is never stored.
    const everything =
      (await readFile(join(home, 'session.json'), 'utf8')) +
      (await readFile(join(home, 'device.json'), 'utf8'))
    expect(everything).not.toContain(devnet.accounts.carol.password)
  })

  it('two users run side by side with separate HEARTH_HOMEs, each with its own device', async () => {
    const aliceHome = await newHome()
    const bobHome = await newHome()
    const [a, b] = await Promise.all([
      hearth(aliceHome, 'login', 'alice.test', '--password', devnet.accounts.alice.password),
      hearth(bobHome, 'login', 'bob.test', '--password', devnet.accounts.bob.password),
    ])
    expect([a.code, b.code]).toEqual([0, 0])
    const alice = JSON.parse((await hearth(aliceHome, 'whoami', '--json')).stdout) as {
      did: string
      keyId: string
    }
    const bob = JSON.parse((await hearth(bobHome, 'whoami', '--json')).stdout) as {
      did: string
      keyId: string
    }
    expect(alice.did).toBe(devnet.accounts.alice.did)
    expect(bob.did).toBe(devnet.accounts.bob.did)
    expect(alice.keyId).not.toBe(bob.keyId)
  })

  it('logging in again on the same device keeps its key', async () => {
    const home = await newHome()
    const pw = devnet.accounts.alice.password
    await hearth(home, 'login', 'alice.test', '--password', pw)
    const first = JSON.parse((await hearth(home, 'whoami', '--json')).stdout) as { keyId: string }
    await hearth(home, 'login', 'alice.test', '--password', pw)
    const second = JSON.parse((await hearth(home, 'whoami', '--json')).stdout) as { keyId: string }
    expect(second.keyId).toBe(first.keyId)
  })

  it('a wrong password fails clearly and stores no session', async () => {
    const home = await newHome()
    const res = await hearth(home, 'login', 'bob.test', '--password', 'wrong-password')
    expect(res.code).toBe(1)
    expect(res.stderr).toMatch(/refused the login for bob\.test/)
    const whoami = await hearth(home, 'whoami')
    expect(whoami.code).toBe(1)
    expect(whoami.stderr).toMatch(/not logged in/)
  })

  it('an unknown handle fails clearly', async () => {
    const home = await newHome()
    const res = await hearth(home, 'login', 'nobody.test', '--password', 'x')
    expect(res.code).toBe(1)
    expect(res.stderr).toMatch(/^hearth: .*nobody\.test|resolver refused/m)
  })

  it('a malformed handle is refused before any network call', async () => {
    const home = await newHome()
    const res = await hearth(home, 'login', 'not a handle', '--password', 'x')
    expect(res.code).toBe(1)
    expect(res.stderr).toMatch(/invalid handle/)
  })
})
