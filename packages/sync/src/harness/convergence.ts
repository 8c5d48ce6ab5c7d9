import type { Did } from '@hearth/identity'
import { computeEventId } from '../events/codec.ts'
import { normaliseParents } from '../events/sign.ts'
import type {
  EventBody,
  EventId,
  EventKind,
  SpaceEvent,
  SpaceId,
  SpaceMode,
  UnsignedEvent,
} from '../events/schema.ts'
import { snapshotState, stateDigest } from '../reducer/snapshot.ts'
import { reduce, SpaceReducer, type ReducerFaults } from '../reducer/space-reducer.ts'
import { compareOrd, type SpaceState } from '../reducer/types.ts'
import { Prng } from './prng.ts'
import { hasSimulatedSignature, simulatedSignature, type TestActor } from './space-builder.ts'

/**
 * A deterministic convergence harness at the level of event sets. Replicas (one device of one
 * actor each, honest or malicious) create events from their own view and exchange them over a
 * simulated network driven by a seeded scheduler: drops, duplicates, delays, reordering,
 * partitions and heals, restarts (the reducer rebuilt from the replica's stored events), skewed
 * clocks. After the run the network heals and anti-entropy hands every replica every event;
 * then every honest replica must hold the identical state, equal to a full replay, with no
 * rule-breaking event applied, every honest message shown, and strong remove respected.
 */

export interface HarnessOptions {
  /** A deliberately broken reducer for the harness's self-test. */
  faults?: ReducerFaults
  /** Actor actions per run (default 120). */
  steps?: number
}

export interface SeedReport {
  seed: number
  replicas: number
  honest: number
  malicious: number
  events: number
  faults: Record<string, number>
  attacks: Record<string, number>
  /** Scripted hard cases that happened (e.g. two admins banning each other across a partition, R17). */
  scenarios: Record<string, number>
  /** A seed counts only if it exercised at least one fault and one attack. */
  counted: boolean
  failure: string | null
  digest: string
  /** What the run ended with on the honest replicas (to see that it exercised something). */
  outcome: {
    members: number
    banned: number
    messages: number
    invalid: number
    filtered: number
    pending: number
  }
}

interface Replica {
  index: number
  actor: TestActor
  honest: boolean
  device: number
  skew: number
  reducer: SpaceReducer
  store: Map<EventId, SpaceEvent>
  group: number
}

interface Packet {
  to: number
  event: SpaceEvent
  due: number
}

const BASE_TS = 1_767_225_600_000
const HOUR = 3_600_000

class Run {
  readonly prng: Prng
  readonly replicas: Replica[] = []
  readonly inFlight: Packet[] = []
  readonly faults: Record<string, number> = {
    drop: 0,
    duplicate: 0,
    delay: 0,
    reorder: 0,
    partition: 0,
    heal: 0,
    restart: 0,
    skew: 0,
    resync: 0,
  }
  readonly attacks: Record<string, number> = {}
  readonly scenarios: Record<string, number> = { 'mutual-ban': 0 }
  readonly mustReject = new Set<EventId>()
  readonly forged = new Set<EventId>()
  /** Honest plain messages: the author was a member in their own view when they wrote it. */
  readonly honestMessages: SpaceEvent[] = []
  /** Honest joins, each made after the actor saw its invite (or in a PUBLIC space). */
  readonly honestJoins: SpaceEvent[] = []
  readonly targeted = new Set<Did>()
  readonly all = new Map<EventId, SpaceEvent>()
  spaceId!: SpaceId
  step = 0
  partitioned = false
  readonly options: HarnessOptions

  readonly seed: number

  constructor(seed: number, actors: readonly TestActor[], options: HarnessOptions) {
    this.seed = seed
    this.options = options
    this.prng = new Prng(seed)
    const count = 3 + this.prng.int(6)
    const maliciousCount = 1 + this.prng.int(Math.min(2, count - 2))
    for (let i = 0; i < count; i++) {
      const skewed = this.prng.chance(0.4)
      if (skewed) this.faults.skew!++
      this.replicas.push({
        index: i,
        actor: actors[i]!,
        honest: i < count - maliciousCount,
        device: 0,
        skew: skewed ? Math.round((this.prng.next() * 2 - 1) * 3 * HOUR) : 0,
        reducer: null as unknown as SpaceReducer,
        store: new Map(),
        group: 0,
      })
    }
  }

  run(): SeedReport {
    const creator = this.replicas[0]!
    const mode = this.prng.pick<SpaceMode>(['ADMIN_INVITES_ONLY', 'INVITES_ONLY', 'PUBLIC'])
    const genesis = this.sign(
      creator,
      'genesis',
      { mode, name: `seed ${this.seed}`, nonce: `seed-${this.seed}-nonce` },
      { parents: [] },
    )
    this.spaceId = genesis.id
    for (const r of this.replicas)
      r.reducer = new SpaceReducer(this.spaceId, { faults: this.options.faults })
    this.ingest(creator, genesis)
    this.broadcast(creator, genesis)

    const steps = this.options.steps ?? 120
    const mutualBanAt = this.prng.chance(0.6)
      ? Math.floor(steps * (0.3 + this.prng.next() * 0.4))
      : -1
    for (this.step = 1; this.step <= steps; this.step++) {
      this.deliver()
      if (this.step >= mutualBanAt && mutualBanAt >= 0 && this.scenarios['mutual-ban'] === 0)
        this.mutualBan()
      const roll = this.prng.next()
      if (roll < 0.04) this.partition()
      else if (roll < 0.07) this.heal()
      else if (roll < 0.1) this.restart(this.prng.pick(this.replicas))
      else if (roll < 0.25)
        this.resync(this.prng.pick(this.replicas), this.prng.pick(this.replicas))
      const r = this.prng.pick(this.replicas)
      if (r.honest) this.honestAction(r)
      else this.maliciousAction(r)
    }
    this.heal()
    this.antiEntropy()
    return this.check()
  }

  // ---- network ----

  private broadcast(from: Replica, e: SpaceEvent): void {
    for (const to of this.replicas) {
      if (to === from) continue
      if (this.prng.chance(0.08)) {
        this.faults.drop!++
        continue
      }
      const delay = this.prng.chance(0.3) ? 1 + this.prng.int(6) : 0
      if (delay) this.faults.delay!++
      this.inFlight.push({ to: to.index, event: e, due: this.step + delay })
      if (this.prng.chance(0.08)) {
        this.faults.duplicate!++
        this.inFlight.push({ to: to.index, event: e, due: this.step + this.prng.int(8) })
      }
    }
  }

  private deliver(): void {
    const due = this.inFlight.filter((p) => p.due <= this.step)
    if (due.length === 0) return
    const rest = this.inFlight.filter((p) => p.due > this.step)
    this.inFlight.length = 0
    this.inFlight.push(...rest)
    const order = this.prng.shuffle(due)
    if (order.some((p, i) => i > 0 && p.event.ts < order[i - 1]!.event.ts)) this.faults.reorder!++
    for (const p of order) {
      const to = this.replicas[p.to]!
      const from = this.senderGroup(p.event)
      if (this.partitioned && from !== null && from !== to.group) {
        this.faults.drop!++
        continue
      }
      this.ingest(to, p.event)
    }
  }

  private senderGroup(e: SpaceEvent): number | null {
    const r = this.replicas.find((x) => x.actor.devices.includes(e.key))
    return r ? r.group : null
  }

  private partition(): void {
    this.partitioned = true
    this.faults.partition!++
    for (const r of this.replicas) r.group = this.prng.int(2)
  }

  private heal(): void {
    if (!this.partitioned) return
    this.partitioned = false
    this.faults.heal!++
    for (const r of this.replicas) r.group = 0
  }

  /** Anti-entropy between two replicas that can reach each other (what Automerge sync does). */
  private resync(a: Replica, b: Replica): void {
    if (a === b || (this.partitioned && a.group !== b.group)) return
    this.faults.resync!++
    for (const e of this.prng.shuffle([...a.store.values()])) this.ingest(b, e)
    for (const e of this.prng.shuffle([...b.store.values()])) this.ingest(a, e)
  }

  /** A restart: the in-memory reducer is gone; the replica reloads its stored events. */
  private restart(r: Replica): void {
    this.faults.restart!++
    r.reducer = new SpaceReducer(this.spaceId, { faults: this.options.faults })
    r.reducer.addAll(this.prng.shuffle([...r.store.values()]))
  }

  /** Heal and exchange everything until every replica holds every event anyone holds. */
  private antiEntropy(): void {
    const union = new Map<EventId, SpaceEvent>()
    for (const r of this.replicas) for (const [id, e] of r.store) union.set(id, e)
    for (const p of this.inFlight) union.set(p.event.id, p.event)
    this.inFlight.length = 0
    for (const r of this.replicas) {
      for (const e of this.prng.shuffle([...union.values()])) {
        this.ingest(r, e)
        if (this.prng.chance(0.05)) void r.reducer.state
      }
    }
  }

  /** What every peer does with an event: check the signature, store once, reduce. */
  private ingest(r: Replica, e: SpaceEvent): void {
    if (!hasSimulatedSignature(e)) return
    if (r.store.has(e.id)) return
    r.store.set(e.id, e)
    r.reducer.add(e)
  }

  // ---- making events ----

  private sign<K extends EventKind>(
    r: Replica,
    kind: K,
    body: EventBody<K>,
    options: { parents?: readonly EventId[]; author?: Did; key?: string } = {},
  ): SpaceEvent<K> {
    const key = options.key ?? r.actor.devices[r.device]!
    const unsigned = {
      v: 1,
      space: kind === 'genesis' ? null : this.spaceId,
      kind,
      author: options.author ?? r.actor.did,
      key,
      parents: normaliseParents(options.parents ?? r.reducer.heads()),
      ts: BASE_TS + this.step * 1000 + r.skew,
      body,
    } as unknown as UnsignedEvent
    const id = computeEventId(unsigned)
    const e = { ...unsigned, id, sig: simulatedSignature(key, id) } as SpaceEvent<K>
    this.all.set(id, e)
    return e
  }

  private emit<K extends EventKind>(
    r: Replica,
    kind: K,
    body: EventBody<K>,
    options?: Parameters<Run['sign']>[3],
  ): SpaceEvent<K> {
    const e = this.sign(r, kind, body, options)
    this.ingest(r, e)
    this.broadcast(r, e)
    return e
  }

  private attack<K extends EventKind>(
    r: Replica,
    name: string,
    kind: K,
    body: EventBody<K>,
    options?: Parameters<Run['sign']>[3],
  ): void {
    this.attacks[name] = (this.attacks[name] ?? 0) + 1
    this.mustReject.add(this.emit(r, kind, body, options).id)
  }

  private honestAction(r: Replica): void {
    const s = r.reducer.state
    const me = s.members.get(r.actor.did)
    if (!me || me.status !== 'member') {
      if (
        me?.status === 'invited' ||
        (s.mode === 'PUBLIC' && me?.status !== 'banned' && this.prng.chance(0.5))
      ) {
        this.honestJoins.push(this.emit(r, 'join', {}))
      }
      return
    }
    const isAdmin = me.role === 'admin'
    const messages = [...s.messages.values()]
    const mine = messages.filter((m) => m.author === r.actor.did && !m.redacted)
    const channels = [...s.containers.values()].filter((c) => c.type === 'channel')
    const others = this.replicas.filter((x) => x !== r)
    const roll = this.prng.int(100)
    if (roll < 34) {
      const channel =
        channels.length > 0 && this.prng.chance(0.5) ? this.prng.pick(channels).id : undefined
      const e = this.emit(r, 'message', {
        text: `hello ${this.step}`,
        ...(channel ? { channel } : {}),
      })
      if (!channel) this.honestMessages.push(e)
    } else if (roll < 42 && messages.length > 0) {
      this.emit(r, 'message', { text: `re ${this.step}`, replyTo: this.prng.pick(messages).id })
    } else if (roll < 52 && messages.length > 0) {
      const kind = this.prng.chance(0.7) ? 'reaction.add' : 'reaction.remove'
      this.emit(r, kind, {
        target: this.prng.pick(messages).id,
        emoji: this.prng.pick(['👍', '🔥', '🎉']),
      })
    } else if (roll < 57 && mine.length > 0) {
      this.emit(r, 'edit', { target: this.prng.pick(mine).id, text: `edited ${this.step}` })
    } else if (roll < 59 && mine.length > 0) {
      this.emit(r, 'redaction', { target: this.prng.pick(mine).id })
    } else if (roll < 71 && (isAdmin || s.mode === 'INVITES_ONLY')) {
      const candidates = others.filter((x) => {
        const st = s.members.get(x.actor.did)?.status
        return st === undefined || st === 'left'
      })
      if (candidates.length > 0)
        this.emit(r, 'invite', { invitee: this.prng.pick(candidates).actor.did })
    } else if (roll < 74 && isAdmin) {
      this.emit(r, 'channel.create', { name: `room ${this.step}` })
    } else if (roll < 80 && isAdmin) {
      const bad = others.filter((x) => !x.honest && s.members.get(x.actor.did)?.status === 'member')
      const open = [...s.proposals.values()].some((p) => p.status === 'open' && p.action === 'ban')
      if (bad.length > 0 && !open) {
        const target = this.prng.pick(bad).actor.did
        this.targeted.add(target)
        this.emit(r, 'proposal', { action: 'ban', target })
      }
    } else if (roll < 90 && isAdmin) {
      const open = [...s.proposals.values()].filter(
        (p) => p.status === 'open' && p.electorate.has(r.actor.did) && !p.votes.has(r.actor.did),
      )
      if (open.length > 0) this.emit(r, 'vote', { proposal: this.prng.pick(open).id })
    } else if (roll < 93 && isAdmin) {
      const candidates = others.filter(
        (x) =>
          x.honest &&
          s.members.get(x.actor.did)?.status === 'member' &&
          s.members.get(x.actor.did)?.role !== 'admin',
      )
      if (candidates.length > 0)
        this.emit(r, 'proposal', {
          action: 'role',
          target: this.prng.pick(candidates).actor.did,
          role: 'admin',
        })
    } else if (
      roll < 96 &&
      r.device === 0 &&
      !s.members.get(r.actor.did)!.keys.includes(r.actor.devices[1]!)
    ) {
      this.emit(r, 'device.add', { key: r.actor.devices[1]! })
    } else if (roll < 97 && r.device === 0 && me.keys.includes(r.actor.devices[1]!)) {
      r.device = 1 // carry on from the second device
    } else if (roll < 98 && isAdmin) {
      // R17 material: an honest admin bans another admin (possibly while being banned).
      const admins = others.filter((x) => x.honest && s.members.get(x.actor.did)?.role === 'admin')
      if (admins.length > 0) {
        const target = this.prng.pick(admins).actor.did
        this.targeted.add(target)
        this.targeted.add(r.actor.did)
        this.emit(r, 'proposal', { action: 'ban', target })
      }
    }
  }

  /** R17: two honest admins, cut off from each other, ban each other. */
  private mutualBan(): void {
    const admins = this.replicas.filter((r) => {
      const m = r.reducer.state.members.get(r.actor.did)
      return r.honest && m?.status === 'member' && m.role === 'admin'
    })
    for (const a of admins) {
      for (const b of admins) {
        if (a === b) continue
        const aSees = a.reducer.state.members.get(b.actor.did)
        const bSees = b.reducer.state.members.get(a.actor.did)
        if (aSees?.role !== 'admin' || bSees?.role !== 'admin') continue
        this.partitioned = true
        this.faults.partition!++
        for (const r of this.replicas) r.group = r === b ? 1 : r === a ? 0 : this.prng.int(2)
        this.targeted.add(a.actor.did)
        this.targeted.add(b.actor.did)
        this.emit(a, 'proposal', { action: 'ban', target: b.actor.did })
        this.emit(b, 'proposal', { action: 'ban', target: a.actor.did })
        this.scenarios['mutual-ban']!++
        return
      }
    }
    // Not two admins yet: the first one promotes an honest member, and the scene waits.
    const a = admins[0]
    if (!a) return
    const state = a.reducer.state
    const open = [...state.proposals.values()].some(
      (p) => p.status === 'open' && p.action === 'role',
    )
    const candidates = this.replicas.filter(
      (r) => r.honest && r !== a && state.members.get(r.actor.did)?.status === 'member',
    )
    if (!open && candidates.length > 0)
      this.emit(a, 'proposal', {
        action: 'role',
        target: this.prng.pick(candidates).actor.did,
        role: 'admin',
      })
  }

  private maliciousAction(r: Replica): void {
    const s = r.reducer.state
    const me = s.members.get(r.actor.did)
    const honest = this.replicas.filter((x) => x.honest)
    const victim = this.prng.pick(honest)
    const honestMessages = [...s.messages.values()].filter((m) =>
      honest.some((h) => h.actor.did === m.author),
    )
    const roll = this.prng.int(100)
    if (roll < 20) {
      // Behave: join when possible, post (what strong remove must later take away).
      if (!me || me.status !== 'member') this.emit(r, 'join', {})
      else {
        const stale = this.prng.chance(0.4)
        this.emit(
          r,
          'message',
          { text: `spam ${this.step}` },
          stale ? { parents: this.oldParents(r) } : {},
        )
      }
    } else if (roll < 30) {
      this.attack(
        r,
        'forged-author',
        'message',
        { text: `I am ${victim.actor.name}` },
        { author: victim.actor.did },
      )
    } else if (roll < 40) {
      this.attack(r, 'ban-without-rights', 'proposal', {
        action: 'ban',
        target: this.replicas[0]!.actor.did,
      })
    } else if (roll < 48) {
      const open = [...s.proposals.values()]
      if (open.length > 0)
        this.attack(r, 'fake-vote', 'vote', { proposal: this.prng.pick(open).id })
      else
        this.attack(r, 'self-promotion', 'proposal', {
          action: 'role',
          target: r.actor.did,
          role: 'admin',
        })
    } else if (roll < 56 && honestMessages.length > 0) {
      this.attack(r, 'edit-others', 'edit', {
        target: this.prng.pick(honestMessages).id,
        text: 'rewritten',
      })
    } else if (roll < 62 && honestMessages.length > 0) {
      this.attack(r, 'redact-others', 'redaction', { target: this.prng.pick(honestMessages).id })
    } else if (roll < 70) {
      this.attacks['bad-signature'] = (this.attacks['bad-signature'] ?? 0) + 1
      const e = this.sign(r, 'message', { text: 'unsigned' })
      const forged = { ...e, sig: e.sig.map((b, i) => (i === 0 ? b ^ 1 : b)) } as SpaceEvent
      this.forged.add(forged.id)
      for (const to of this.replicas)
        if (to !== r) this.inFlight.push({ to: to.index, event: forged, due: this.step })
    } else if (roll < 76) {
      const ghost = this.fakeId()
      this.attack(
        r,
        'unknown-parent',
        'message',
        { text: 'hangs on nothing' },
        { parents: [ghost] },
      )
    } else if (roll < 82) {
      this.attack(
        r,
        'bind-key-for-another',
        'device.add',
        { key: r.actor.devices[1]! },
        { author: victim.actor.did },
      )
    } else if (roll < 86 && me?.status === 'member') {
      // References that do not cite what they name: the target may arrive after them, may
      // sort after them, may be no message at all.
      const any = [...r.store.values()].filter((e) => e.id !== this.spaceId)
      if (any.length > 0) {
        const target = this.prng.pick(any).id
        const kind = this.prng.pick(['reaction.add', 'edit', 'redaction'] as const)
        const parents = { parents: this.oldParents(r) }
        if (kind === 'edit') this.emit(r, kind, { target, text: 'sneaky' }, parents)
        else if (kind === 'redaction') this.emit(r, kind, { target }, parents)
        else this.emit(r, kind, { target, emoji: '👀' }, parents)
      }
    } else if (roll < 90 && me?.status === 'member') {
      // A flood on stale parents: concurrent with whatever ban is coming.
      for (let i = 0; i < 3; i++)
        this.emit(
          r,
          'message',
          { text: `flood ${this.step}.${i}` },
          { parents: this.oldParents(r) },
        )
    } else {
      this.attack(r, 'edit-unknown', 'edit', { target: this.fakeId(), text: 'ghost' })
    }
  }

  private fakeId(): EventId {
    let id = ''
    for (let i = 0; i < 52; i++) id += 'abcdefghijklmnopqrstuvwxyz234567'[this.prng.int(32)]
    return id as EventId
  }

  private oldParents(r: Replica): EventId[] {
    const own = [...r.store.values()].filter((e) => e.author === r.actor.did)
    return own.length > 0 ? [this.prng.pick(own).id] : [this.spaceId]
  }

  // ---- the verdict ----

  private check(): SeedReport {
    const honest = this.replicas.filter((r) => r.honest)
    const states = honest.map((r) => r.reducer.state)
    const digests = states.map((s) => stateDigest(s))
    const report: SeedReport = {
      seed: this.seed,
      replicas: this.replicas.length,
      honest: honest.length,
      malicious: this.replicas.length - honest.length,
      events: honest[0]!.store.size,
      faults: this.faults,
      attacks: this.attacks,
      scenarios: this.scenarios,
      counted:
        Object.values(this.faults).some((n) => n > 0) &&
        Object.values(this.attacks).some((n) => n > 0),
      failure: null,
      digest: digests[0]!,
      outcome: outcomeOf(states[0]!),
    }
    report.failure = this.findFailure(honest, states, digests)
    return report
  }

  private findFailure(honest: Replica[], states: SpaceState[], digests: string[]): string | null {
    const diverged = digests.findIndex((d) => d !== digests[0])
    if (diverged >= 0)
      return `replicas ${honest[0]!.actor.name} and ${honest[diverged]!.actor.name} diverged: ${firstDifference(states[0]!, states[diverged]!)}`
    const s = states[0]!
    const replay = reduce(this.spaceId, [...honest[0]!.store.values()], {
      faults: this.options.faults,
    })
    if (stateDigest(replay) !== digests[0])
      return `incremental state differs from a full replay: ${firstDifference(s, replay)}`
    for (const id of this.forged)
      if (honest.some((r) => r.store.has(id))) return `forged signature stored: ${id}`
    for (const id of this.mustReject) {
      if (!s.invalid.has(id) && !s.pending.has(id))
        return `rule-breaking event ${id} (${this.all.get(id)?.kind}) was applied`
    }
    // Causality, not clocks: a join made after its invite stands, however skewed the clocks.
    const excused = new Set<Did>(this.targeted)
    const reducer = honest[0]!.reducer
    const joins = [...this.honestJoins].sort((x, y) =>
      compareOrd(reducer.ord(x.id)!, reducer.ord(y.id)!),
    )
    for (const e of joins) {
      if (this.targeted.has(e.author)) continue
      const why = s.invalid.get(e.id)?.reason
      if (!why || why === 'already-member') continue
      // An invite whose author was banned concurrently (filtered by strong remove, R16, or
      // arriving after the ban in the order) takes the join that answered it along.
      const invites = honest[0]!.reducer.ancestorsMatching(
        e.id,
        (x) => x.kind === 'invite' && (x as SpaceEvent<'invite'>).body.invitee === e.author,
      )
      // (Cascades too: an inviter whose own join fell that way.)
      const fellWithInviter = [...invites].every((id) => {
        const reason = s.invalid.get(id)?.reason
        return (
          reason === 'filtered-by-ban' ||
          reason === 'banned' ||
          (reason !== undefined && excused.has(s.invalid.get(id)!.author))
        )
      })
      if (why === 'not-invited' && invites.size > 0 && fellWithInviter) {
        excused.add(e.author)
        continue
      }
      return `honest join ${e.id} by ${e.author} rejected: ${why}`
    }
    for (const e of this.honestMessages) {
      if (excused.has(e.author) || s.members.get(e.author)?.status === 'banned') continue
      if (!s.messages.has(e.id))
        return `honest message ${e.id} by ${e.author} is missing: ${s.invalid.get(e.id)?.reason ?? s.pending.get(e.id) ?? 'not there'}`
    }
    // R17: of two admins who banned each other, at most one is out (never both, for a race).
    const bans = [...s.proposals.values()].filter((p) => p.action === 'ban')
    for (const p of bans) {
      const counter = bans.find((q) => q.target === p.proposer && q.proposer === p.target)
      if (counter && p.status === 'passed' && counter.status === 'passed') {
        const both =
          s.members.get(p.target)?.status === 'banned' &&
          s.members.get(counter.target)?.status === 'banned'
        if (both) return `mutual ban: both ${p.target} and ${counter.target} are banned`
      }
    }
    // Strong remove (R16): a member banned once and for all keeps only what the ban's proposer had seen.
    for (const [did, m] of s.members) {
      if (m.status !== 'banned') continue
      const decided = [...s.proposals.values()].filter(
        (p) => p.target === did && p.status === 'passed',
      )
      if (decided.length !== 1 || decided[0]!.action !== 'ban') continue
      const past = honest[0]!.reducer.ancestorsMatching(decided[0]!.id, (e) => e.author === did)
      for (const msg of s.messages.values()) {
        if (msg.author === did && !past.has(msg.id))
          return `strong remove: ${msg.id} by banned ${did} is not in the ban's past`
      }
    }
    return null
  }
}

function outcomeOf(s: SpaceState): SeedReport['outcome'] {
  const members = [...s.members.values()]
  const invalid = [...s.invalid.values()]
  return {
    members: members.filter((m) => m.status === 'member').length,
    banned: members.filter((m) => m.status === 'banned').length,
    messages: s.messages.size,
    invalid: invalid.length,
    filtered: invalid.filter(
      (e) => e.reason === 'filtered-by-ban' || e.reason === 'filtered-by-revocation',
    ).length,
    pending: s.pending.size,
  }
}

function firstDifference(a: SpaceState, b: SpaceState): string {
  const x = snapshotState(a) as Record<string, unknown>
  const y = snapshotState(b) as Record<string, unknown>
  for (const k of Object.keys(x)) {
    const l = x[k]
    const r = y[k]
    if (JSON.stringify(l) === JSON.stringify(r)) continue
    if (Array.isArray(l) && Array.isArray(r)) {
      // Sorted by id: report the first entry that differs, not the whole list.
      for (let i = 0; i < Math.max(l.length, r.length); i++) {
        const li = JSON.stringify(l[i])
        const ri = JSON.stringify(r[i])
        if (li !== ri)
          return `${k}[${i}]: ${String(li).slice(0, 400)} vs ${String(ri).slice(0, 400)}`
      }
    }
    return `${k}: ${JSON.stringify(l).slice(0, 300)} vs ${JSON.stringify(r).slice(0, 300)}`
  }
  return 'no field differs'
}

/** Runs one seed. Pure and synchronous: the same seed and actors always give the same report. */
export function runSeed(
  seed: number,
  actors: readonly TestActor[],
  options: HarnessOptions = {},
): SeedReport {
  if (actors.length < 8) throw new RangeError('the harness needs 8 actors')
  return new Run(seed, actors, options).run()
}

/** The event set a seed ends with (every event any replica held): material for property tests. */
export function eventSetForSeed(
  seed: number,
  actors: readonly TestActor[],
  options: HarnessOptions = {},
): { spaceId: SpaceId; events: SpaceEvent[] } {
  const run = new Run(seed, actors, options)
  run.run()
  return { spaceId: run.spaceId, events: [...run.replicas[0]!.store.values()] }
}

export function replayCommand(seed: number, faults?: ReducerFaults, steps?: number): string {
  const flags = [
    faults?.orderByTimestamp ? '--broken ts' : '',
    faults?.noStrongRemove ? '--broken no-strong-remove' : '',
  ]
    .filter(Boolean)
    .join(' ')
  const stepsFlag = steps === undefined ? '' : ` --steps ${steps}`
  return `node packages/sync/scripts/soak-reducer.ts --seed ${seed}${flags ? ' ' + flags : ''}${stepsFlag}`
}
