import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runCrashKills } from '../../services/router/src/storage/crash-harness.ts'

// S20 at the storage level: a real child process writing to a real file, SIGKILLed at seeded
// moments. The soak (services/router/scripts/soak-storage.ts --count 1000) runs the same at scale.
describe('router storage survives SIGKILL (S20, storage level)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-router-storage-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('keeps every acknowledged chunk through 24 kills, some of them mid-write', async () => {
    const result = await runCrashKills({ path: join(dir, 'router.sqlite'), kills: 24, seed: 20 })
    console.info(
      `storage crash test: ${result.kills} kills, ${result.midWrite} mid-write ` +
        `(${result.unackedPresent} committed before the ack, ${result.unackedAbsent} not), ` +
        `${result.ackedWrites} acknowledged writes, ${result.verifiedReads} verified reads, ${result.durationMs} ms`,
    )
    expect(result.failures).toEqual([])
    expect(result.kills).toBe(24)
    expect(result.midWrite).toBeGreaterThan(0)
    expect(result.ackedWrites).toBeGreaterThan(0)
  })

  it('catches a writer that acknowledges before its save is durable', async () => {
    const result = await runCrashKills({
      path: join(dir, 'lying.sqlite'),
      kills: 60,
      seed: 21,
      ackBeforeSave: true,
    })
    // The harness stops at the first failed check: a lost acknowledged chunk.
    expect(result.failures.length).toBeGreaterThan(0)
    expect(result.failures[0]).toMatch(/acknowledged r\d+\/incremental\/\d+ is missing/)
  })
})
