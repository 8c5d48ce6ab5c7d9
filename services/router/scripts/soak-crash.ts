// Router crash soak (S20 at scale):
//   node services/router/scripts/soak-crash.ts --count 1000 [--seed 1] [--writers 3] [--burst 16]
// (SIGINT/SIGTERM end the run after the current kill and still print the summary.)
// Starts a devnet, runs a real `hearth-router` process and SIGKILLs it --count times inside
// bursts of signed writes from real socket clients; after each kill every acknowledged change
// must be in the store and every stored document must load. Prints a JSON summary; exits
// non-zero on any failure.
import { parseArgs } from 'node:util'
import { startDevnet } from '@hearth/devnet'
import { runRouterCrash } from './soak-crash-harness.ts'

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '1000' },
    seed: { type: 'string', default: '1' },
    writers: { type: 'string', default: '3' },
    burst: { type: 'string', default: '16' },
  },
})
const count = Number(values.count)
const seed = Number(values.seed)
const stop = new AbortController()
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => stop.abort())
const devnet = await startDevnet({ keyserver: false })
let lostUnacknowledged = 0
let onUnacknowledged = 0
try {
  const result = await runRouterCrash({
    devnet,
    kills: count,
    seed,
    writers: Number(values.writers),
    maxBurst: Number(values.burst),
    signal: stop.signal,
    onKill: (report) => {
      lostUnacknowledged += report.unacknowledgedLost
      if (report.unacknowledgedAtKill > 0) onUnacknowledged++
      if ((report.kill + 1) % 10 === 0)
        console.error(
          `… ${report.kill + 1}/${count} kills, ${onUnacknowledged} on unacknowledged writes, ` +
            `${lostUnacknowledged} unacknowledged changes lost and pushed again (restart ${report.restartMs} ms)`,
        )
    },
  })
  console.log(
    JSON.stringify(
      {
        ...result,
        failures: result.failures.slice(0, 20),
        seed,
        msPerKill: Math.round(result.durationMs / Math.max(1, result.kills)),
      },
      null,
      2,
    ),
  )
  if (result.failures.length > 0 || (result.kills !== count && !stop.signal.aborted))
    process.exitCode = 1
} finally {
  await devnet.close()
}
