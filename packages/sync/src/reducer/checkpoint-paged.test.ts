import { canonicalDecode, canonicalEncode } from '@hearth/identity'
import { describe, expect, it } from 'vitest'
import { eventSetForSeed } from '../harness/convergence.ts'
import { Prng } from '../harness/prng.ts'
import { createActors, HARNESS_ACTOR_NAMES, SpaceBuilder } from '../harness/space-builder.ts'
import type { EventId, SpaceId } from '../events/schema.ts'
import { checksum, InvalidCheckpointError } from './checkpoint.ts'
import {
  containerOf,
  openPagedCheckpoint,
  pagedCheckpoint,
  partsLoader,
  type PagedSpace,
} from './checkpoint-paged.ts'
import { snapshotState, stateDigest } from './snapshot.ts'
import { reduce, SpaceReducer } from './space-reducer.ts'
import type { MessageView, SpaceState } from './types.ts'

const actors = createActors(HARNESS_ACTOR_NAMES)

/** What the head and pages show, compared with the same views of a state. */
function summaryOfState(state: SpaceState) {
  const { messages: _m, invalid, pending, ...rest } = snapshotState(state)
  return { ...rest, counts: [state.messages.size, invalid.length, pending.length] }
}

function summaryOfPaged(space: PagedSpace) {
  const s = space.summary
  const {
    messages: _m,
    invalid: _i,
    pending: _p,
    ...rest
  } = snapshotState({
    ...s,
    messages: new Map(),
    invalid: new Map(),
    pending: new Map(),
  })
  return { ...rest, counts: [s.messageCount, s.invalidCount, s.pendingCount] }
}

const plainMessages = (views: readonly MessageView[]) =>
  views.map((m) => ({
    ...m,
    reactions: [...m.reactions].map(([emoji, dids]) => [emoji, [...dids].sort()]).sort(),
  }))

/** Every container's messages in canonical order, as the reducer holds them. */
function byContainer(reducer: SpaceReducer): Map<string, MessageView[]> {
  const out = new Map<string, MessageView[]>()
  for (const m of reducer.state.messages.values()) {
    const list = out.get(containerOf(m)) ?? []
    list.push(m)
    out.set(containerOf(m), list)
  }
  for (const list of out.values()) {
    list.sort((a, b) => {
      const x = reducer.ord(a.id)!
      const y = reducer.ord(b.id)!
      return x.depth - y.depth || (x.id < y.id ? -1 : 1)
    })
  }
  return out
}

function busy() {
  const [alice, bob, carol] = actors
  const b = new SpaceBuilder()
  b.genesis(alice!, 'PUBLIC')
  b.make(bob!, 'join', {})
  b.make(carol!, 'join', {})
  const general = b.make(alice!, 'channel.create', { name: 'general' }).id
  const random = b.make(alice!, 'channel.create', { name: 'random' }).id
  for (let i = 0; i < 23; i++) {
    const m = b.make([alice, bob, carol][i % 3]!, 'message', {
      text: `m${i}`,
      channel: i % 4 === 0 ? random : general,
    })
    if (i % 5 === 0) b.make(bob!, 'reaction.add', { target: m.id, emoji: '👍' })
  }
  b.make(bob!, 'message', { text: 'nowhere' })
  const r = new SpaceReducer(b.spaceId!)
  r.addAll(b.events)
  return { b, r, general, random }
}

describe('paged reducer checkpoint', () => {
  it('head + pages show the state; restore(checkpoint(first part)) + second part = full replay (property)', async () => {
    const prng = new Prng(78)
    let recomputes = 0
    let authorityReplays = 0
    let pagesRead = 0
    let multiPage = false
    for (let seed = 1; seed <= 60; seed++) {
      const { spaceId, events } = eventSetForSeed(seed, actors)
      const replay = stateDigest(reduce(spaceId, events))
      const shuffled = prng.shuffle(events)
      const split = prng.int(shuffled.length + 1)
      const first = new SpaceReducer(spaceId)
      first.addAll(shuffled.slice(0, split))
      if (prng.chance(0.5)) void first.state
      const pageSize = 1 + prng.int(5)
      const paged = pagedCheckpoint(first, { pageSize, chunkBytes: 500 + prng.int(20_000) })
      const space = openPagedCheckpoint(paged.head, { spaceId, loadPart: partsLoader(paged.parts) })
      // The summary and every page are the saved state's views.
      expect(summaryOfPaged(space), `seed ${seed}: summary`).toEqual(summaryOfState(first.state))
      const expected = byContainer(first)
      expect([...space.containers().keys()].sort()).toEqual([...expected.keys()].sort())
      for (const [container, list] of expected) {
        const pages = space.containers().get(container)!.pages
        const all: MessageView[] = []
        for (let i = 0; i < pages; i++) all.push(...(await space.page(container, i)))
        pagesRead += pages
        multiPage ||= pages > 1
        expect(plainMessages(all)).toEqual(plainMessages(list))
        expect(all.map((m) => m.id)).toEqual(list.map((m) => m.id))
        const k = 1 + prng.int(8)
        expect((await space.latestMessages(container, k)).map((m) => m.id)).toEqual(
          list.slice(-k).map((m) => m.id),
        )
      }
      // The live reducer from the chunks carries on to the full replay.
      const restored = await space.reducer()
      expect(restored.recomputes, `seed ${seed}: restore replays nothing`).toBe(0)
      expect(stateDigest(await space.state())).toBe(stateDigest(first.state))
      for (let i = split; i < shuffled.length;) {
        const n = 1 + prng.int(6)
        restored.addAll(shuffled.slice(i, i + n))
        i += n
        if (prng.chance(0.3)) void restored.state
      }
      expect(stateDigest(restored.state), `seed ${seed} split ${split}`).toBe(replay)
      recomputes += restored.recomputes
      authorityReplays += restored.authorityReplays
    }
    // Late authority events were absorbed both ways, and pages were really paged.
    expect(recomputes).toBeGreaterThan(0)
    expect(authorityReplays).toBeGreaterThan(0)
    expect(pagesRead).toBeGreaterThan(20)
    expect(multiPage).toBe(true)
  }, 120_000)

  it('the first screen reads the head and the last page only', async () => {
    const { r, general, b } = busy()
    const paged = pagedCheckpoint(r, { pageSize: 4 })
    const read: string[] = []
    const space = openPagedCheckpoint(paged.head, {
      spaceId: b.spaceId!,
      loadPart: async (name) => {
        read.push(name)
        return paged.parts.get(name)
      },
    })
    expect(space.summary.containers.get(general)?.name).toBe('general')
    expect(space.summary.members.size).toBe(3)
    const latest = await space.latestMessages(general, 3)
    // 17 messages in general, 4 per page: the last page holds one, so two pages are read.
    expect(latest.map((m) => m.text)).toEqual(['m19', 'm21', 'm22'])
    expect(read).toEqual([`m.${general}.4`, `m.${general}.3`])
    expect((await space.latestMessages(null, 5)).map((m) => m.text)).toEqual(['nowhere'])
    const reacted = (await space.page(general, 0)).find((m) => m.text === 'm5')!
    expect([...reacted.reactions.get('👍')!]).toEqual([actors[1]!.did])
    // Adding to the restored reducer: a message after reopen shows in the live state.
    const reducer = await space.reducer()
    const m = b.make(actors[0]!, 'message', { text: 'after reopen', channel: general })
    reducer.add(m)
    expect(reducer.state.messages.get(m.id)?.text).toBe('after reopen')
    expect(stateDigest(reducer.state)).toBe(stateDigest(reduce(b.spaceId!, b.events)))
  })

  it('refuses a foreign, other-version or damaged head', () => {
    const { r } = busy()
    const paged = pagedCheckpoint(r)
    const loadPart = partsLoader(paged.parts)
    const other = 'b'.repeat(52) as SpaceId
    expect(() => openPagedCheckpoint(paged.head, { spaceId: other, loadPart })).toThrow(
      /not this one/,
    )
    const head = canonicalDecode(paged.head) as { body: Uint8Array; v: number }
    expect(() => openPagedCheckpoint(canonicalEncode({ ...head, v: 3 }), { loadPart })).toThrow(
      /schema/,
    )
    expect(() =>
      openPagedCheckpoint(paged.head.subarray(0, paged.head.length - 5), { loadPart }),
    ).toThrow(InvalidCheckpointError)
    const flipped = new Uint8Array(head.body)
    flipped[flipped.length >> 1]! ^= 0x01
    expect(() => openPagedCheckpoint({ ...head, body: flipped }, { loadPart })).toThrow(/checksum/)
    // A head rewritten with a matching checksum still has to hold together.
    const body = JSON.parse(new TextDecoder().decode(head.body)) as {
      summary: { messageCount: number }
      pages: unknown[]
    }
    body.summary.messageCount += 1
    const lying = new TextEncoder().encode(JSON.stringify(body))
    expect(() =>
      openPagedCheckpoint({ ...head, body: lying, checksum: checksum(lying) }, { loadPart }),
    ).toThrow(/every message/)
    const extra = new TextEncoder().encode(JSON.stringify({ ...body, admin: true }))
    expect(() =>
      openPagedCheckpoint({ ...head, body: extra, checksum: checksum(extra) }, { loadPart }),
    ).toThrow(/schema/)
  })

  it('refuses a damaged, missing or swapped part when it is read', async () => {
    const { r, general, random, b } = busy()
    const paged = pagedCheckpoint(r, { pageSize: 4, chunkBytes: 2000 })
    const parts = new Map(paged.parts)
    const open = () =>
      openPagedCheckpoint(paged.head, { spaceId: b.spaceId!, loadPart: partsLoader(parts) })
    // A page from another container under this one's name.
    parts.set(`m.${general}.0`, paged.parts.get(`m.${random}.0`)!)
    await expect(open().page(general, 0)).rejects.toThrow(/checksum/)
    parts.delete(`m.${general}.0`)
    await expect(open().page(general, 0)).rejects.toThrow(/missing/)
    // A damaged reducer chunk: the live reducer is refused, the caller replays.
    parts.set(`m.${general}.0`, paged.parts.get(`m.${general}.0`)!)
    const chunk = new Uint8Array(paged.parts.get('r.e.1')!)
    chunk[10]! ^= 0x20
    parts.set('r.e.1', chunk)
    const space = open()
    expect((await space.page(general, 0)).length).toBe(4)
    await expect(space.reducer()).rejects.toBeInstanceOf(InvalidCheckpointError)
    // Chunks of another checkpoint of the same space (an older save) do not pass either.
    const older = new SpaceReducer(b.spaceId!)
    older.addAll(b.events.slice(0, 10))
    const olderParts = pagedCheckpoint(older, { pageSize: 4, chunkBytes: 2000 }).parts
    parts.set('r.e.1', paged.parts.get('r.e.1')!)
    expect(await open().reducer()).toBeInstanceOf(SpaceReducer)
    parts.set('r.s.0', olderParts.get('r.s.0')!)
    await expect(open().reducer()).rejects.toBeInstanceOf(InvalidCheckpointError)
    // Same size, other bytes: the reducer checkpoint's checksum catches it.
    const same = new Uint8Array(paged.parts.get('r.s.0')!)
    same[same.length >> 1]! ^= 0x01
    parts.set('r.s.0', same)
    await expect(open().reducer()).rejects.toThrow(/checksum/)
  })

  it('checks a page row by row: a page rewritten with a matching checksum is still refused', async () => {
    const { r, general, b } = busy()
    const paged = pagedCheckpoint(r, { pageSize: 4 })
    const head = canonicalDecode(paged.head) as { body: Uint8Array }
    const body = JSON.parse(new TextDecoder().decode(head.body)) as {
      pages: Array<{ container: string; parts: Array<{ name: string; checksum: string }> }>
    }
    const name = `m.${general}.1`
    const page = JSON.parse(new TextDecoder().decode(paged.parts.get(name)!)) as {
      rows: unknown[][]
    }
    page.rows[0]![1] = 999 // an author reference outside the page's table
    const bytes = new TextEncoder().encode(JSON.stringify(page))
    body.pages.find((p) => p.container === general)!.parts[1]!.checksum = checksum(bytes)
    const newBody = new TextEncoder().encode(JSON.stringify(body))
    const parts = new Map(paged.parts)
    parts.set(name, bytes)
    const space = openPagedCheckpoint(
      { ...head, body: newBody, checksum: checksum(newBody) },
      { spaceId: b.spaceId!, loadPart: partsLoader(parts) },
    )
    await expect(space.page(general, 1)).rejects.toThrow(/bad row/)
    expect((await space.page(general, 0)).length).toBe(4)
    expect(space.summary.messageCount).toBe(24)
    expect(await space.page('z'.repeat(52) as EventId, 0)).toEqual([])
  })
})
