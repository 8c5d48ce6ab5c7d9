// The signed-in device's sync client: a HearthClient on this browser's IndexedDB (one
// database per account, the Repo's documents and the client's own records side by side),
// connected to the router with a fresh ticket per attempt. The ticket is bought with a
// service-auth token from the user's PDS (aud = the router's did:web#hearth_router,
// lxm = app.hearth.router.createTicket), which the OAuth scope allows and nothing else.

import { isDid } from '@hearth/identity'
import type { DeviceKey, Did } from '@hearth/identity'
import {
  HearthClient,
  IndexedDbStoreAdapter,
  prefixedStore,
  routerSocketUrl,
  StoreStorageAdapter,
} from '@hearth/sync'
import { routerAudience } from '../auth/scopes.ts'
import { serviceFetchHandler, xrpcQuery } from '../auth/xrpc.ts'
import type { FetchHandler } from '../auth/xrpc.ts'
import type { AppConfig } from '../config/app-config.ts'
import { getServiceAuth } from '../device/enrol.ts'
import { Chat } from '../spaces/chat.svelte.ts'
import { spacesDatabaseName } from './spaces-storage.ts'

export interface SpacesClientDeps {
  did: Did
  key: DeviceKey
  config: AppConfig
  /** The OAuth session's fetch handler (the user's PDS). */
  pds: FetchHandler
}

export async function openSpacesClient(
  deps: SpacesClientDeps,
): Promise<{ chat: Chat; client: HearthClient; close: () => Promise<void> }> {
  const idb = await IndexedDbStoreAdapter.open(spacesDatabaseName(deps.did))
  const { routerUrl, routerDid } = deps.config
  const client = await HearthClient.open({
    did: deps.did,
    key: deps.key,
    store: prefixedStore(idb, 'hearth'),
    repoStorage: new StoreStorageAdapter(prefixedStore(idb, 'repo')),
    // The user document counts records only from keys the user's account vouches for: the
    // keyserver's active devices of this DID (this device's own key always counts).
    trustKey: (keyId) => activeDeviceKeys(deps.config, deps.did).then((keys) => keys.has(keyId)),
    ...(routerUrl &&
      routerDid && {
        router: {
          url: () =>
            routerSocketUrl({ url: routerUrl, audience: routerAudience(routerDid) }, (aud, lxm) =>
              getServiceAuth(deps.pds, aud, lxm),
            ),
        },
      }),
  })
  const online = () => client.reconnectNow()
  addEventListener('online', online)
  const resolver = serviceFetchHandler(deps.config.handleResolver)
  const chat = new Chat(client, { resolveHandle: (handle) => resolveHandle(resolver, handle) })
  return {
    chat,
    client,
    close: async () => {
      removeEventListener('online', online)
      chat.close()
      await client.close()
      idb.close()
    },
  }
}

const DEVICE_CACHE_MS = 60_000
let deviceCache: { did: Did; at: number; keys: Promise<Set<string>> } | null = null

/** The DID's devices the keyserver serves as active (cached a minute; none when unreachable). */
export function activeDeviceKeys(config: AppConfig, did: Did): Promise<Set<string>> {
  if (deviceCache && deviceCache.did === did && Date.now() - deviceCache.at < DEVICE_CACHE_MS)
    return deviceCache.keys
  const keys = xrpcQuery(
    serviceFetchHandler(config.keyserverUrl),
    'app.hearth.keyserver.listDevices',
    {
      did,
    },
  ).then(
    (out) => {
      const devices = (out as { devices?: unknown } | null)?.devices
      const active = new Set<string>()
      if (Array.isArray(devices))
        for (const d of devices.slice(0, 100) as { key?: unknown; revokedAt?: unknown }[])
          if (typeof d?.key === 'string' && !d.revokedAt) active.add(d.key)
      return active
    },
    () => {
      deviceCache = null
      return new Set<string>()
    },
  )
  deviceCache = { did, at: Date.now(), keys }
  return keys
}

/** Handle → DID through the configured resolver (which checks the handle both ways). */
export async function resolveHandle(resolver: FetchHandler, handle: string): Promise<Did> {
  const out = await xrpcQuery(resolver, 'com.atproto.identity.resolveHandle', { handle })
  const did = (out as { did?: unknown } | null)?.did
  if (!isDid(did)) throw new Error(`No account found for @${handle}`)
  return did
}
