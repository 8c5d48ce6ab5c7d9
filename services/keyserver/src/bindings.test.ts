import { describe, expect, it } from 'vitest'
import type { Did } from '@hearth/identity'
import { BindingCache, createPdsBindingSource } from './bindings.ts'
import type { Binding, BindingSource } from './bindings.ts'
import { UpstreamError } from './errors.ts'

const alice = 'did:plc:alice000000000000000000' as Did
const value = (key: string) => ({
  $type: 'app.hearth.device',
  key,
  name: 'laptop',
  createdAt: '2026-01-01T00:00:00.000Z',
})

function fakePds(handler: (url: URL) => Response) {
  const seen: URL[] = []
  const fetch = (async (input: RequestInfo | URL) => {
    const url = new URL(String(input))
    seen.push(url)
    return handler(url)
  }) as typeof globalThis.fetch
  return { fetch, seen }
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })

describe('createPdsBindingSource', () => {
  it('reads app.hearth.device/<deviceId> from the PDS named by the DID document', async () => {
    const { fetch, seen } = fakePds(() =>
      json({ uri: `at://${alice}/app.hearth.device/abc`, value: value('did:key:zDnX') }),
    )
    const source = createPdsBindingSource({ fetch, resolvePds: async () => 'http://pds.test:2583' })
    expect(await source.getBinding(alice, 'abc')).toEqual({
      deviceId: 'abc',
      key: 'did:key:zDnX',
      name: 'laptop',
      createdAt: '2026-01-01T00:00:00.000Z',
    })
    expect(seen[0]!.origin).toBe('http://pds.test:2583')
    expect(seen[0]!.pathname).toBe('/xrpc/com.atproto.repo.getRecord')
    expect(Object.fromEntries(seen[0]!.searchParams)).toEqual({
      repo: alice,
      collection: 'app.hearth.device',
      rkey: 'abc',
    })
  })

  it('treats RecordNotFound, a malformed record, and a DID without a PDS as no binding', async () => {
    const notFound = createPdsBindingSource({
      fetch: fakePds(() =>
        json({ error: 'RecordNotFound', message: 'Could not locate record' }, 400),
      ).fetch,
      resolvePds: async () => 'http://pds.test',
    })
    expect(await notFound.getBinding(alice, 'abc')).toBeNull()

    for (const bad of [
      { ...value('k'), $type: 'app.other' },
      { ...value('k'), name: 'x'.repeat(500) },
      { key: 'k' },
      'string',
    ]) {
      const malformed = createPdsBindingSource({
        fetch: fakePds(() => json({ uri: 'at://x', value: bad })).fetch,
        resolvePds: async () => 'http://pds.test',
      })
      expect(await malformed.getBinding(alice, 'abc')).toBeNull()
    }

    const { fetch, seen } = fakePds(() => json({}))
    const gone = createPdsBindingSource({ fetch, resolvePds: async () => null })
    expect(await gone.getBinding(alice, 'abc')).toBeNull()
    expect((await gone.listBindings(alice)).size).toBe(0)
    expect(seen).toHaveLength(0)
  })

  it('raises UpstreamError for server errors, unreachable PDSes and oversized answers', async () => {
    const failing = createPdsBindingSource({
      fetch: fakePds(() => json({ error: 'InternalServerError' }, 500)).fetch,
      resolvePds: async () => 'http://pds.test',
    })
    await expect(failing.getBinding(alice, 'abc')).rejects.toBeInstanceOf(UpstreamError)

    const unreachable = createPdsBindingSource({
      fetch: (async () => {
        throw new TypeError('fetch failed')
      }) as typeof globalThis.fetch,
      resolvePds: async () => 'http://pds.test',
    })
    await expect(unreachable.getBinding(alice, 'abc')).rejects.toBeInstanceOf(UpstreamError)

    const huge = createPdsBindingSource({
      fetch: fakePds(() => new Response('x'.repeat(10_000))).fetch,
      resolvePds: async () => 'http://pds.test',
      maxResponseBytes: 1000,
    })
    await expect(huge.getBinding(alice, 'abc')).rejects.toBeInstanceOf(UpstreamError)
  })

  it('lists bindings across pages, ignoring records of other repositories', async () => {
    const { fetch, seen } = fakePds((url) =>
      url.searchParams.get('cursor')
        ? json({ records: [{ uri: `at://${alice}/app.hearth.device/b`, value: value('kb') }] })
        : json({
            cursor: 'next',
            records: [
              { uri: `at://${alice}/app.hearth.device/a`, value: value('ka') },
              { uri: `at://did:plc:mallory/app.hearth.device/m`, value: value('km') },
            ],
          }),
    )
    const source = createPdsBindingSource({ fetch, resolvePds: async () => 'http://pds.test' })
    const bindings = await source.listBindings(alice)
    expect([...bindings.keys()].sort()).toEqual(['a', 'b'])
    expect(seen).toHaveLength(2)
  })
})

describe('BindingCache', () => {
  function countingSource() {
    let resolveNext: ((m: Map<string, Binding>) => void) | undefined
    const source = {
      calls: 0,
      fail: false,
      getBinding: async () => null,
      listBindings(): Promise<Map<string, Binding>> {
        source.calls++
        if (source.fail) return Promise.reject(new UpstreamError('down'))
        return new Promise((r) => (resolveNext = r))
      },
      resolve: (m = new Map<string, Binding>()) => resolveNext?.(m),
    }
    return source satisfies BindingSource
  }

  it('shares one fetch between concurrent lookups and reuses it within the TTL', async () => {
    let now = 0
    const source = countingSource()
    const cache = new BindingCache(source, { ttlMs: 1000, now: () => now })
    const a = cache.listBindings(alice)
    const b = cache.listBindings(alice)
    source.resolve()
    await Promise.all([a, b])
    expect(source.calls).toBe(1)
    now = 999
    await cache.listBindings(alice)
    expect(source.calls).toBe(1)
    now = 1000
    const c = cache.listBindings(alice)
    source.resolve()
    await c
    expect(source.calls).toBe(2)
  })

  it('does not cache failures', async () => {
    const source = countingSource()
    const cache = new BindingCache(source, { ttlMs: 60_000, now: () => 0 })
    source.fail = true
    await expect(cache.listBindings(alice)).rejects.toBeInstanceOf(UpstreamError)
    source.fail = false
    const next = cache.listBindings(alice)
    source.resolve()
    await next
    expect(source.calls).toBe(2)
  })
})
