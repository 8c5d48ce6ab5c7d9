import { describe, expect, it } from 'vitest'
import { replayCommand, runSeed, type SeedReport } from './convergence.ts'
import { createActors, HARNESS_ACTOR_NAMES } from './space-builder.ts'
import type { ReducerFaults } from '../reducer/space-reducer.ts'

// Keys are fixtures and signatures simulated, so 500 seeds take seconds.
const actors = createActors(HARNESS_ACTOR_NAMES)
const SEEDS = 500

function sum(
  reports: SeedReport[],
  field: 'faults' | 'attacks' | 'scenarios',
): Record<string, number> {
  const out: Record<string, number> = {}
  for (const r of reports) for (const [k, v] of Object.entries(r[field])) out[k] = (out[k] ?? 0) + v
  return out
}

describe('convergence harness', () => {
  it(`R25 R16 R17 every honest replica converges to the same state over ${SEEDS} seeds of faults and attacks`, () => {
    const reports: SeedReport[] = []
    const failures: string[] = []
    for (let seed = 1; reports.filter((r) => r.counted).length < SEEDS; seed++) {
      const report = runSeed(seed, actors)
      reports.push(report)
      if (report.failure)
        failures.push(`seed ${seed}: ${report.failure}\n  replay: ${replayCommand(seed)}`)
    }
    const counted = reports.filter((r) => r.counted)
    console.log(
      `harness: ${counted.length} counted seeds (${reports.length} run), ` +
        `${counted.reduce((n, r) => n + r.events, 0)} events, ` +
        `${counted.reduce((n, r) => n + r.outcome.banned, 0)} bans in effect, ` +
        `${counted.reduce((n, r) => n + r.outcome.filtered, 0)} events filtered by strong remove\n` +
        `  faults: ${JSON.stringify(sum(counted, 'faults'))}\n  attacks: ${JSON.stringify(sum(counted, 'attacks'))}` +
        `\n  scenarios: ${JSON.stringify(sum(counted, 'scenarios'))}`,
    )
    expect(failures).toEqual([])
    expect(counted.length).toBe(SEEDS)
    expect(sum(counted, 'scenarios')['mutual-ban']).toBeGreaterThan(20)
  }, 120_000)

  it('long runs (500 actions per seed) converge too', () => {
    const failures: string[] = []
    for (let seed = 100_600; seed < 100_625; seed++) {
      const report = runSeed(seed, actors, { steps: 500 })
      if (report.failure)
        failures.push(
          `seed ${seed}: ${report.failure}\n  replay: ${replayCommand(seed, undefined, 500)}`,
        )
    }
    expect(failures).toEqual([])
  }, 120_000)

  it('is deterministic: a seed replays to the same state', () => {
    expect(runSeed(42, actors).digest).toBe(runSeed(42, actors).digest)
  })

  const broken: Array<[string, ReducerFaults]> = [
    ['ties broken by wall clock', { orderByTimestamp: true }],
    ['no strong remove', { noStrongRemove: true }],
  ]
  for (const [name, faults] of broken) {
    it(`self-test: a reducer with ${name} fails the harness`, () => {
      let failure: string | null = null
      for (let seed = 1; seed <= 100 && !failure; seed++)
        failure = runSeed(seed, actors, { faults }).failure
      expect(failure).not.toBeNull()
    }, 60_000)
  }
})
