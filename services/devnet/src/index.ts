import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve as resolvePath, sep } from 'node:path'
import { AtpAgent } from '@atproto/api'
import { TestNetworkNoAppView } from '@atproto/dev-env'
import type { Did, Handle } from '@hearth/identity'
import { startKeyserver, type RunningKeyserver } from '@hearth/keyserver'
import { createSyncEndpoint, startRouter, type RunningRouter } from '@hearth/router'
import { startResolver, type RunningResolver } from '@hearth/resolver'

/** The PDS's per-account signing keypair (an @atproto/crypto Keypair). */
export type PdsKeypair = Awaited<
  ReturnType<TestNetworkNoAppView['pds']['ctx']['actorStore']['keypair']>
>

export interface DevnetAccount {
  name: string
  handle: Handle
  did: Did
  email: string
  password: string
}

export const DEMO_ACCOUNT_NAMES = ['alice', 'bob', 'carol'] as const
export type DemoAccountName = (typeof DEMO_ACCOUNT_NAMES)[number]

/** The ports `npm start` uses; startDevnet itself defaults to ephemeral ports. */
export const DEVNET_DEFAULT_PORTS = {
  plc: 2582,
  pds: 2583,
  resolver: 2584,
  keyserver: 2585,
  router: 2586,
} as const

export interface DevnetOptions {
  /** 0 or omitted: a free port. */
  plcPort?: number
  pdsPort?: number
  resolverPort?: number
  keyserverPort?: number
  /** Start the sync router (default false: tests that need one usually configure their own). */
  router?: boolean
  routerPort?: number
  /** Storage directory for the router; default a temp dir removed on close. */
  routerDataDir?: string
  /** Start the keyserver (default true). */
  keyserver?: boolean
  /** SQLite file for the keyserver; default a temp dir removed on close. */
  keyserverDbPath?: string
  /** Create alice.test, bob.test and carol.test (default true). */
  demoAccounts?: boolean
  /** Resolver cache TTL; tests that change identities mid-run lower it. */
  resolverCacheTtlMs?: number
  /** Extra PDS environment (e.g. rate limits); the port comes from `pdsPort`. */
  pdsConfig?: Omit<PdsConfig, 'port'>
}

type PdsConfig = NonNullable<NonNullable<Parameters<typeof TestNetworkNoAppView.create>[0]>['pds']>

export interface Devnet {
  plc: { url: string }
  pds: { url: string }
  resolver: { url: string }
  /** `audience` is the `aud` service-auth tokens for it must carry; `store` is for tests. */
  keyserver?: Pick<RunningKeyserver, 'url' | 'did' | 'audience' | 'store'>
  router?: Pick<RunningRouter, 'url' | 'identity'>
  accounts: Record<DemoAccountName, DevnetAccount>
  /** The in-process PLC and PDS, for tests that need to reach inside (PLC rotation key, ...). */
  network: TestNetworkNoAppView
  /** `<name>.test` with `<name>@example.com` and password `<name>-pass` unless given. */
  createAccount(name: string, opts?: { password?: string; email?: string }): Promise<DevnetAccount>
  /** An agent logged in as the account. */
  login(account: Pick<DevnetAccount, 'handle' | 'password'>): Promise<AtpAgent>
  /** The PDS's own signing key for a DID: lets tests mint crafted service-auth JWTs. */
  signingKeypair(did: string): Promise<PdsKeypair>
  close(): Promise<void>
}

// dev-env spreads its config over its own defaults, so an explicit `port: 0` (or undefined)
// would override the port it picked and the advertised URL would be wrong: leave the key out.
function portConfig(port: number | undefined): { port?: number } {
  return port ? { port } : {}
}

function isInside(dir: string, path: string): boolean {
  return resolvePath(path).startsWith(resolvePath(dir) + sep)
}

export async function startDevnet(options: DevnetOptions = {}): Promise<Devnet> {
  const network = await TestNetworkNoAppView.create({
    plc: portConfig(options.plcPort),
    pds: { ...options.pdsConfig, ...portConfig(options.pdsPort) },
  })
  const cleanups: Array<() => Promise<void>> = []
  const pdsDirs = [dirname(network.pds.ctx.cfg.db.accountDbLoc)]
  const blobstore = network.pds.ctx.cfg.blobstore
  if (blobstore.provider === 'disk') pdsDirs.push(blobstore.location)

  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    const errors: unknown[] = []
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((err: unknown) => errors.push(err))
    }
    await network.close().catch((err: unknown) => errors.push(err))
    // dev-env leaves its SQLite files and blobs in the temp dir.
    for (const dir of pdsDirs) {
      if (isInside(tmpdir(), dir)) await rm(dir, { recursive: true, force: true })
    }
    if (errors.length === 1) throw errors[0]
    if (errors.length > 1) throw new AggregateError(errors, 'devnet close failed')
  }

  try {
    const resolver: RunningResolver = await startResolver({
      devMode: true,
      port: options.resolverPort ?? 0,
      plcUrl: network.plc.url,
      pdsUrl: network.pds.url,
      ...(options.resolverCacheTtlMs !== undefined && {
        cache: { ttlMs: options.resolverCacheTtlMs },
      }),
    })
    cleanups.push(() => resolver.close())

    let keyserver: RunningKeyserver | undefined
    if (options.keyserver !== false) {
      let dbPath = options.keyserverDbPath
      if (!dbPath) {
        const dir = await mkdtemp(join(tmpdir(), 'hearth-keyserver-'))
        cleanups.push(() => rm(dir, { recursive: true, force: true }))
        dbPath = join(dir, 'keyserver.sqlite')
      }
      const started = await startKeyserver({
        port: options.keyserverPort ?? 0,
        plcUrl: network.plc.url,
        dbPath,
        devMode: true,
      })
      keyserver = started
      cleanups.push(() => started.close())
    }

    let router: RunningRouter | undefined
    if (options.router) {
      let dataDir = options.routerDataDir
      if (!dataDir) {
        dataDir = await mkdtemp(join(tmpdir(), 'hearth-router-'))
        const dir = dataDir
        cleanups.push(() => rm(dir, { recursive: true, force: true }))
      }
      const endpoint = await createSyncEndpoint({ dataDir })
      const started = await startRouter({
        port: options.routerPort ?? 0,
        plcUrl: network.plc.url,
        devMode: true,
        endpoint,
      })
      router = started
      cleanups.push(() => started.close())
    }

    const createAccount: Devnet['createAccount'] = async (name, opts = {}) => {
      const handle = `${name}.test` as Handle
      const email = opts.email ?? `${name}@example.com`
      const password = opts.password ?? `${name}-pass`
      const agent = new AtpAgent({ service: network.pds.url })
      const res = await agent.com.atproto.server.createAccount({ handle, email, password })
      return { name, handle, did: res.data.did as Did, email, password }
    }

    const accounts = {} as Record<DemoAccountName, DevnetAccount>
    if (options.demoAccounts !== false) {
      for (const name of DEMO_ACCOUNT_NAMES) accounts[name] = await createAccount(name)
    }

    return {
      plc: { url: network.plc.url },
      pds: { url: network.pds.url },
      resolver: { url: resolver.url },
      ...(keyserver && {
        keyserver: {
          url: keyserver.url,
          did: keyserver.did,
          audience: keyserver.audience,
          store: keyserver.store,
        },
      }),
      ...(router && { router: { url: router.url, identity: router.identity } }),
      accounts,
      network,
      createAccount,
      async login(account) {
        const agent = new AtpAgent({ service: network.pds.url })
        await agent.login({ identifier: account.handle, password: account.password })
        return agent
      },
      signingKeypair: (did) => network.pds.ctx.actorStore.keypair(did),
      close,
    }
  } catch (err) {
    await close().catch(() => undefined)
    throw err
  }
}
