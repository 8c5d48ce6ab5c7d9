import { describe, expect, it } from 'vitest'
import { runAutomergeSeed } from './harness.ts'

const SEEDS = 50
const PARALLEL = 10

describe('the harness through real Automerge (R25, R26)', () => {
  it(
    `converges on ${SEEDS} seeds with a malicious stock client attacking`,
    { timeout: 240_000 },
    async () => {
      const reports = []
      for (let start = 1; start <= SEEDS; start += PARALLEL) {
        const batch = Array.from(
          { length: Math.min(PARALLEL, SEEDS - start + 1) },
          (_, i) => start + i,
        )
        reports.push(...(await Promise.all(batch.map((seed) => runAutomergeSeed(seed)))))
      }
      const failures = reports.filter((r) => r.failure !== null)
      expect(failures.map((f) => `seed ${f.seed}: ${f.failure}`)).toEqual([])
      const attacks = reports.reduce(
        (n, r) => n + Object.values(r.attacks).reduce((a, b) => a + b, 0),
        0,
      )
      expect(attacks).toBeGreaterThan(SEEDS)
      expect(reports.reduce((n, r) => n + r.partitions, 0)).toBeGreaterThan(0)
      expect(reports.reduce((n, r) => n + r.refused, 0)).toBeGreaterThan(0)
    },
  )
})
