// Offline support: precache the build (hashed app files, static assets and the SPA
// shell) so the app starts with no network, and keep the last config.json for offline
// starts. Only same-origin GETs are handled; the PDS, resolver and keyserver are
// never intercepted.

import { version } from '$app/env'
import { assets, immutable } from '$app/manifest'
import { self } from '$app/service-worker'

const CACHE = `hearth-${version}`
const SHELL = '200.html'
const CONFIG = 'config.json'

const scope = new URL(self.registration.scope)
const toUrl = (path: string) => new URL(path.replace(/^\//, ''), scope).href

const PRECACHE = [...immutable.map((f) => f.path), ...assets.map((f) => f.path), SHELL].map(toUrl)
const PRECACHED = new Set(PRECACHE)
const SHELL_URL = toUrl(SHELL)
const CONFIG_URL = toUrl(CONFIG)

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE)
      await cache.addAll(PRECACHE)
      await self.skipWaiting()
    })(),
  )
})

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const key of await caches.keys()) if (key !== CACHE) await caches.delete(key)
      await self.clients.claim()
    })(),
  )
})

async function fromCache(url: string): Promise<Response | undefined> {
  const cache = await caches.open(CACHE)
  return cache.match(url)
}

async function networkFirst(request: Request): Promise<Response> {
  const cache = await caches.open(CACHE)
  try {
    const response = await fetch(request)
    if (response.ok) await cache.put(request.url, response.clone())
    return response
  } catch (err) {
    const cached = await cache.match(request.url)
    if (cached) return cached
    throw err
  }
}

self.addEventListener('fetch', (event) => {
  const request = event.request
  if (request.method !== 'GET') return
  const url = new URL(request.url)
  if (url.origin !== scope.origin) return
  const bare = url.origin + url.pathname

  if (bare === CONFIG_URL) {
    event.respondWith(networkFirst(request))
    return
  }
  if (PRECACHED.has(bare)) {
    event.respondWith((async () => (await fromCache(bare)) ?? fetch(request))())
    return
  }
  if (request.mode === 'navigate') {
    // Every route is the same SPA shell: answer from the cache, so the app opens
    // instantly and offline.
    event.respondWith((async () => (await fromCache(SHELL_URL)) ?? fetch(request))())
  }
})
