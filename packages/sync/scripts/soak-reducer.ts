// Runs the convergence harness over many seeds, or replays one.
//   node packages/sync/scripts/soak-reducer.ts --count 10000 [--from 1] [--steps 120]
//   node packages/sync/scripts/soak-reducer.ts --seed 1234 [--broken ts|no-strong-remove]
import { parseArgs } from 'node:util'
import { replayCommand, runSeed } from '../src/harness/convergence.ts'
import { createActors, HARNESS_ACTOR_NAMES } from '../src/harness/space-builder.ts'
import type { ReducerFaults } from '../src/reducer/space-reducer.ts'

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '10000' },
    from: { type: 'string', default: '1' },
    seed: { type: 'string' },
    broken: { type: 'string', multiple: true },
    steps: { type: 'string' },
  },
})

const faults: ReducerFaults = {
  orderByTimestamp: values.broken?.includes('ts') ?? false,
  noStrongRemove: values.broken?.includes('no-strong-remove') ?? false,
}
const actors = createActors(HARNESS_ACTOR_NAMES)
const steps = values.steps === undefined ? undefined : Number(values.steps)

if (values.seed !== undefined) {
  const report = runSeed(Number(values.seed), actors, { faults, steps })
  console.log(JSON.stringify(report, null, 2))
  process.exit(report.failure ? 1 : 0)
}

const from = Number(values.from)
const count = Number(values.count)
const started = performance.now()
let failures = 0
let counted = 0
let events = 0
for (let seed = from; seed < from + count; seed++) {
  const report = runSeed(seed, actors, { faults, steps })
  if (report.counted) counted++
  events += report.events
  if (report.failure) {
    failures++
    console.log(
      `FAIL seed ${seed}: ${report.failure}\n  replay: ${replayCommand(seed, faults, steps)}`,
    )
  }
  if ((seed - from + 1) % 1000 === 0)
    console.log(
      `${seed - from + 1} seeds, ${failures} failures, ${((performance.now() - started) / 1000).toFixed(1)} s`,
    )
}
console.log(
  `${count} seeds (${counted} with faults and attacks), ${events} events, ${failures} failures in ${((performance.now() - started) / 1000).toFixed(1)} s`,
)
process.exit(failures > 0 ? 1 : 0)
