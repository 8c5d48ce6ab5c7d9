// Signed events and the reducer: each figure is printed beside its floor, measured in the same
// run on the same machine.   npm run bench -- sync   (or: node --expose-gc <this file>)
import { asDid, domainSeparated, generateDeviceKey } from '@hearth/identity'
import {
  encodeSignedEvent,
  EVENT_SIG_DOMAIN,
  eventIdToBytes,
  openSignedEvent,
  parseSignedEvent,
  reduce,
  signEvent,
  SpaceReducer,
  verifySpaceEvent,
  type EventId,
  type SpaceEvent,
} from '../src/index.ts'
import { createActors, HARNESS_ACTOR_NAMES, SpaceBuilder } from '../src/harness/space-builder.ts'
import { busySpace } from './workload.ts'

const gc = (globalThis as { gc?: () => void }).gc

function rate(n: number, ms: number): string {
  return `${Math.round((n / ms) * 1000).toLocaleString('en')}/s`
}

function line(name: string, value: string, floor: string, ratio: number): void {
  console.log(
    `${name.padEnd(44)} ${value.padStart(14)}   floor ${floor.padStart(14)}   ${ratio.toFixed(2)}x the floor`,
  )
}

async function time<T>(fn: () => Promise<T> | T): Promise<[T, number]> {
  const t0 = performance.now()
  const out = await fn()
  return [out, performance.now() - t0]
}

// ---- signatures ----
{
  const N = 3000
  const { key, keyPair } = await generateDeviceKey()
  const did = asDid('did:plc:ewvi7nxzyoun6zhxrhs64oiz')
  const genesis = await signEvent(key, {
    space: null,
    kind: 'genesis',
    author: did,
    parents: [],
    body: { mode: 'PUBLIC', name: 'bench', nonce: 'bench-nonce' },
  })
  const events: SpaceEvent[] = []
  let parent = genesis.id as EventId
  for (let i = 0; i < N; i++) {
    const e = await signEvent(key, {
      space: genesis.id,
      kind: 'message',
      author: did,
      parents: [parent],
      body: { text: `message ${i}` },
    })
    events.push(e)
    parent = e.id
  }
  const wire = events.map((e) => encodeSignedEvent(e))
  // The floor: the bare WebCrypto verify of the same signed bytes, key imported once.
  const publicKey = keyPair.publicKey
  const signed = events.map(
    (e) => new Uint8Array(domainSeparated(EVENT_SIG_DOMAIN, eventIdToBytes(e.id))),
  )
  const sigs = events.map((e) => new Uint8Array(e.sig))
  const alg = { name: 'ECDSA', hash: 'SHA-256' }
  // Three rounds, interleaved, best of each: the two cores are shared, and JIT warm-up
  // should not favour whichever loop runs last.
  const best = {
    floor: Infinity,
    floorParallel: Infinity,
    verify: Infinity,
    open: Infinity,
    parallel: Infinity,
  }
  for (let round = 0; round < 3; round++) {
    const [, floorMs] = await time(async () => {
      for (let i = 0; i < N; i++)
        if (!(await crypto.subtle.verify(alg, publicKey, sigs[i]!, signed[i]!)))
          throw new Error('floor verify failed')
    })
    const [, verifyMs] = await time(async () => {
      for (const e of events) if (!(await verifySpaceEvent(e))) throw new Error('verify failed')
    })
    const [, openMs] = await time(async () => {
      for (const bytes of wire)
        if (!(await openSignedEvent(bytes)).ok) throw new Error('open failed')
    })
    const [, parallelMs] = await time(async () => {
      const all = await Promise.all(events.map((e) => verifySpaceEvent(e)))
      if (all.some((ok) => !ok)) throw new Error('verify failed')
    })
    const [, floorParallelMs] = await time(async () => {
      const all = await Promise.all(
        sigs.map((sig, i) => crypto.subtle.verify(alg, publicKey, sig, signed[i]!)),
      )
      if (all.some((ok) => !ok)) throw new Error('floor verify failed')
    })
    best.floorParallel = Math.min(best.floorParallel, floorParallelMs)
    best.floor = Math.min(best.floor, floorMs)
    best.verify = Math.min(best.verify, verifyMs)
    best.open = Math.min(best.open, openMs)
    best.parallel = Math.min(best.parallel, parallelMs)
  }
  const {
    floor: floorMs,
    floorParallel: floorParallelMs,
    verify: verifyMs,
    open: openMs,
    parallel: parallelMs,
  } = best
  console.log(`signatures (WebCrypto P-256, ${N} events, one key)`)
  line('verifySpaceEvent, one at a time', rate(N, verifyMs), rate(N, floorMs), verifyMs / floorMs)
  line('openSignedEvent (parse + id + verify)', rate(N, openMs), rate(N, floorMs), openMs / floorMs)
  line(
    'verifySpaceEvent, all in flight',
    rate(N, parallelMs),
    rate(N, floorParallelMs),
    parallelMs / floorParallelMs,
  )
}

// ---- the reducer ----
{
  const COUNT = 100_000
  const tBuild = performance.now()
  const { spaceId, events } = busySpace(COUNT, { messages: 0.8, reactions: 0.15 })
  const buildMs = performance.now() - tBuild
  console.log(
    `\nreducer (${COUNT.toLocaleString('en')} events: 8 members, ~80% messages, reactions, edits; built in ${(buildMs / 1000).toFixed(1)} s)`,
  )

  // Floor: the least any reducer does per event: keep it by id and look its parents up.
  const [, floorMs] = await time(() => {
    const seen = new Map<EventId, number>()
    for (const e of events) {
      let depth = 0
      for (const p of e.parents) depth = Math.max(depth, (seen.get(p) ?? 0) + 1)
      seen.set(e.id, depth)
    }
    return seen.size
  })
  const [, replayMs] = await time(() => reduce(spaceId, events).messages.size)
  line('full replay (reduce)', rate(COUNT, replayMs), rate(COUNT, floorMs), replayMs / floorMs)

  const tail = 10_000
  const r = new SpaceReducer(spaceId)
  r.addAll(events.slice(0, COUNT - tail))
  void r.state
  const [, incMs] = await time(() => {
    for (const e of events.slice(COUNT - tail)) r.add(e)
    return r.state.messages.size
  })
  const [, incReadMs] = await time(() => {
    const r2 = new SpaceReducer(spaceId)
    r2.addAll(events.slice(0, COUNT - tail))
    void r2.state
    const t0 = performance.now()
    for (const e of events.slice(COUNT - tail)) {
      r2.add(e)
      void r2.state.messages.get(e.id)
    }
    return performance.now() - t0
  }).then(([ms]) => [ms, ms] as const)
  line(
    `incremental, last ${tail.toLocaleString('en')} appended`,
    rate(tail, incMs),
    rate(COUNT, floorMs),
    incMs / tail / (floorMs / COUNT),
  )
  line(
    'incremental, append + read state each time',
    rate(tail, incReadMs),
    rate(COUNT, floorMs),
    incReadMs / tail / (floorMs / COUNT),
  )
  console.log(
    `${'  = per appended event'.padEnd(44)} ${((incMs / tail) * 1000).toFixed(1).padStart(12)} µs   recomputes during appends: ${r.recomputes - 1}`,
  )

  // Authority events that land in the middle of the order. A join by a newcomer (citing an old
  // head) changes nobody's standing after it: applied in place. A leave by someone who posted
  // after that position changes their later messages: the next read recomputes from the set.
  const late = new SpaceBuilder()
  late.spaceId = spaceId
  const actors = createActors([...HARNESS_ACTOR_NAMES, 'ivan']) // the workload's, plus a newcomer
  const newcomer = actors[8]!
  const lateJoin = late.make(newcomer, 'join', {}, { parents: [events[COUNT / 2]!.id] })
  const lateLeave = late.make(actors[1]!, 'leave', {}, { parents: [events[COUNT / 2]!.id] })
  const [, joinMs] = await time(() => {
    r.add(lateJoin)
    return r.state.members.size
  })
  const [, leaveMs] = await time(() => {
    r.add(lateLeave)
    return r.state.members.size
  })
  const perEvent = floorMs / COUNT
  line(
    'late join (applied in place)',
    `${(joinMs * 1000).toFixed(0)} µs`,
    `${(perEvent * 1000).toFixed(2)} µs`,
    joinMs / perEvent,
  )
  line(
    'late leave of an active member (recompute)',
    `${leaveMs.toFixed(0)} ms`,
    `${replayMs.toFixed(0)} ms`,
    leaveMs / replayMs,
  )
  console.log(`${''.padEnd(44)} (the recompute's floor is the full replay above)`)

  if (gc) {
    const heap = () => {
      gc()
      gc()
      return process.memoryUsage().heapUsed
    }
    const base = heap()
    // Fresh copies decoded from the wire: their strings are not shared with anything else.
    const copy = events.map((e) => {
      const parsed = parseSignedEvent(encodeSignedEvent(e))
      if (!parsed.ok) throw parsed.error
      return parsed.event
    })
    const rawBytes = heap() - base
    const withReducer = ((): number => {
      const reducer = new SpaceReducer(spaceId)
      reducer.addAll(copy)
      void reducer.state
      return heap() - base
    })()
    const after = heap() - base
    // The events alone, measured with and without the reducer around: the smaller is the floor
    // (the first measure can still hold parsing garbage V8 has not compacted).
    const floor = Math.min(rawBytes, after)
    console.log(`\nmemory per 100k events (heap after full GC)`)
    line(
      'events + reducer state',
      `${(withReducer / 2 ** 20).toFixed(0)} MiB`,
      `${(floor / 2 ** 20).toFixed(0)} MiB`,
      withReducer / floor,
    )
    console.log(
      `${''.padEnd(44)} ${Math.round(withReducer / COUNT)} bytes/event; the floor (decoded events alone) ${Math.round(floor / COUNT)} bytes/event`,
    )
    void copy.length
  } else console.log('\nmemory: run with --expose-gc (npm run bench does)')
}
