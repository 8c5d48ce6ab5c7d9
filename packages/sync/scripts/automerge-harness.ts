// Runs the Automerge harness over many seeds: node packages/sync/scripts/automerge-harness.ts [count] [from] [parallel]
// Prints a summary, and each failing seed (rerun one with count 1 and from = the seed).
import { runAutomergeSeed } from '../src/automerge/harness.ts'
import type { AutomergeSeedReport } from '../src/automerge/harness.ts'

const count = Number(process.argv[2] ?? 1000)
const from = Number(process.argv[3] ?? 1)
const parallel = Number(process.argv[4] ?? 10)

const started = performance.now()
const reports: AutomergeSeedReport[] = []
for (let start = from; start < from + count; start += parallel) {
  const seeds = Array.from(
    { length: Math.min(parallel, from + count - start) },
    (_, i) => start + i,
  )
  const batch = await Promise.all(seeds.map((seed) => runAutomergeSeed(seed)))
  reports.push(...batch)
  for (const r of batch) if (r.failure) console.log(`seed ${r.seed} FAILED: ${r.failure}`)
}
const attacks: Record<string, number> = {}
for (const r of reports)
  for (const [k, v] of Object.entries(r.attacks)) attacks[k] = (attacks[k] ?? 0) + v
const failed = reports.filter((r) => r.failure)
console.log(
  JSON.stringify(
    {
      seeds: reports.length,
      failed: failed.length,
      honestEvents: reports.reduce((n, r) => n + r.honestEvents, 0),
      partitions: reports.reduce((n, r) => n + r.partitions, 0),
      refusedMessages: reports.reduce((n, r) => n + r.refused, 0),
      attacks,
      seconds: Math.round((performance.now() - started) / 100) / 10,
    },
    null,
    2,
  ),
)
process.exit(failed.length > 0 ? 1 : 0)
