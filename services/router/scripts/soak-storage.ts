// Storage crash soak (S20 at the storage level, at scale):
//   node services/router/scripts/soak-storage.ts --count 1000 [--seed 1] [--keep 3]
// SIGKILLs a writer child --count times on one SQLite file and checks every acknowledged chunk
// after each kill. Exits non-zero on the first failure.
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { runCrashKills } from '../src/storage/crash-harness.ts'

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '1000' },
    seed: { type: 'string', default: '1' },
    keep: { type: 'string', default: '3' },
  },
})
const count = Number(values.count)
const seed = Number(values.seed)
const dir = mkdtempSync(join(tmpdir(), 'hearth-soak-storage-'))
const path = join(dir, 'router.sqlite')
try {
  const result = await runCrashKills({
    path,
    kills: count,
    seed,
    keepRounds: Number(values.keep),
    onRound: (round) => {
      if ((round.round + 1) % 50 === 0) console.error(`… ${round.round + 1}/${count} kills`)
    },
  })
  const size = statSync(path).size
  console.log(
    JSON.stringify(
      {
        ...result,
        failures: result.failures.slice(0, 20),
        seed,
        fileBytes: size,
        msPerKill: Math.round(result.durationMs / Math.max(1, result.kills)),
      },
      null,
      2,
    ),
  )
  if (result.failures.length > 0 || result.kills !== count) process.exitCode = 1
} finally {
  rmSync(dir, { recursive: true, force: true })
}
