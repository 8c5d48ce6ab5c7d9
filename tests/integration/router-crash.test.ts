// S20: a real `hearth-router` process on a real devnet is SIGKILLed at seeded moments inside
// bursts of signed writes from socket clients, and restarted on the same data directory.
// After every kill, every acknowledged change is in the store, every stored document loads,
// and everything never acknowledged is pushed again and acknowledged by the restarted router.
// The harness (and a soak with --count 1000) is services/router/scripts/soak-crash*.ts.
import { startDevnet, type Devnet } from '@hearth/devnet'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runRouterCrash } from '../../services/router/scripts/soak-crash-harness.ts'

const KILLS = 20

let devnet: Devnet

beforeAll(async () => {
  devnet = await startDevnet({ keyserver: false })
})

afterAll(async () => {
  await devnet?.close()
})

describe('router crash (S20)', () => {
  it(`keeps every acknowledged change through ${KILLS} SIGKILLs inside bursts of writes`, async () => {
    const moments: string[] = []
    const result = await runRouterCrash({
      devnet,
      kills: KILLS,
      seed: 20,
      onKill: (report) =>
        moments.push(
          `${report.moment}: ${report.ackedInBurst}/${report.sentInBurst} acked, ${report.unacknowledgedAtKill} not (${report.unacknowledgedStored} stored anyway)`,
        ),
    })
    console.log(
      `router crash: ${result.kills} kills, ${result.killsOnUnacknowledged} on unacknowledged writes, ` +
        `${result.acknowledged}/${result.sent} changes acknowledged, ${result.ackChecks} acknowledged-change checks, ` +
        `${result.documentLoads} document loads, unacknowledged at a kill: ${result.unacknowledgedStored} stored, ` +
        `${result.unacknowledgedLost} lost (pushed again, acknowledged), ${result.durationMs} ms\n  ` +
        moments.join('\n  '),
    )
    expect(result.failures).toEqual([])
    expect(result.kills).toBe(KILLS)
    // Some kills must land on writes the router had not acknowledged, or nothing was tested.
    expect(result.killsOnUnacknowledged).toBeGreaterThan(0)
    expect(result.unacknowledgedLost + result.unacknowledgedStored).toBeGreaterThan(0)
    // Every change sent was acknowledged in the end (after restarts, pushed again).
    expect(result.acknowledged).toBe(result.sent)
    expect(result.documentLoads).toBeGreaterThanOrEqual(KILLS * 6)
  }, 300_000)

  it('catches a lost acknowledged change (negative control: acknowledged on send)', async () => {
    const result = await runRouterCrash({ devnet, kills: 8, seed: 21, ackOnSend: true })
    expect(result.failures.some((f) => /acknowledged change \w+ of \w+ lost/.test(f))).toBe(true)
  }, 120_000)
})
