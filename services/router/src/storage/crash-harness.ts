import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import { crashChunk, crashKey } from './crash-workload.ts'
import { SqliteStorageAdapter } from './sqlite-adapter.ts'

const CHILD = fileURLToPath(new URL('./crash-child.ts', import.meta.url))
const ROUND_DEADLINE_MS = 60_000

export interface CrashRunOptions {
  /** Database file, shared by every round. */
  path: string
  kills: number
  seed: number
  /** Rounds whose keys stay in the file and are re-checked after every kill (default 3). */
  keepRounds?: number
  /** Kill after this many protocol lines at most (default 80; ready, pruned, begin, ok). */
  maxLinesBeforeKill?: number
  onRound?: (round: CrashRound) => void
  /** Test of the test: the child acknowledges before saving, so some kills must lose acked chunks. */
  ackBeforeSave?: boolean
}

export interface CrashRound {
  round: number
  acked: number
  /** The child died between starting a save() and acknowledging it. */
  midWrite: boolean
  /** For a mid-write kill: whether the unacknowledged chunk had been committed anyway. */
  unackedPresent: boolean | undefined
}

export interface CrashRunResult {
  kills: number
  midWrite: number
  unackedPresent: number
  unackedAbsent: number
  ackedWrites: number
  /** Acknowledged chunks re-read and compared byte for byte (summed over every check). */
  verifiedReads: number
  failures: string[]
  durationMs: number
}

/**
 * S20 at the storage level: a child saves chunks in a loop and prints each key once save()
 * resolves; it is SIGKILLed after a seeded number of lines (on a "begin" line the kill races
 * the write itself). After every kill the file is reopened: every acknowledged chunk of the
 * kept rounds must be there with its bytes, no chunk may appear that was never begun, pruned
 * rounds must be gone, nothing may fail its checksum, and `PRAGMA integrity_check` must say ok.
 */
export async function runCrashKills(options: CrashRunOptions): Promise<CrashRunResult> {
  const keep = options.keepRounds ?? 3
  const maxLines = options.maxLinesBeforeKill ?? 80
  const random = mulberry32(options.seed)
  const started = performance.now()
  const acked = new Map<number, Set<number>>()
  // Per round, the one save() a kill interrupted: it may or may not have been committed.
  const interrupted = new Map<number, number>()
  const result: CrashRunResult = {
    kills: 0,
    midWrite: 0,
    unackedPresent: 0,
    unackedAbsent: 0,
    ackedWrites: 0,
    verifiedReads: 0,
    failures: [],
    durationMs: 0,
  }
  for (let round = 0; round < options.kills; round++) {
    const killAfter = 1 + Math.floor(random() * maxLines)
    const args = [CHILD, options.path, String(round), String(keep)]
    if (options.ackBeforeSave) args.push('--ack-before-save')
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    const closed = once(child, 'close')
    // A child that stops talking (a lock wait, a hang) is killed and reported, not waited on forever.
    let stalled = false
    const watchdog = setTimeout(() => {
      stalled = true
      child.kill('SIGKILL')
    }, ROUND_DEADLINE_MS)
    const mine = new Set<number>()
    acked.set(round, mine)
    const pruned: number[] = []
    let begun: number | undefined
    let lines = 0
    let killed = false
    for await (const line of createInterface({ input: child.stdout })) {
      const [word, arg] = line.split(' ')
      if (word === 'begin') begun = Number(arg)
      else if (word === 'ok') mine.add(Number(arg))
      else if (word === 'pruned') pruned.push(Number(arg))
      // Every line counts, so some kills land while the child opens the file or prunes.
      if (++lines === killAfter && !killed) {
        killed = child.kill('SIGKILL')
      }
    }
    const [code, signal] = (await closed) as [number | null, NodeJS.Signals | null]
    clearTimeout(watchdog)
    if (stalled) {
      result.failures.push(
        `round ${round}: child stalled after ${lines} lines: ${stderr.slice(0, 2000)}`,
      )
      break
    }
    if (signal !== 'SIGKILL') {
      result.failures.push(
        `round ${round}: child exited ${code} ${signal}: ${stderr.slice(0, 2000)}`,
      )
      break
    }
    result.kills++
    result.ackedWrites += mine.size
    for (const old of pruned) {
      acked.delete(old)
      interrupted.delete(old)
    }
    for (const old of acked.keys()) if (old <= round - keep) acked.delete(old)
    const midWrite = begun !== undefined && !mine.has(begun)
    if (midWrite) interrupted.set(round, begun!)
    const check = await verify(options.path, round, acked, pruned, interrupted)
    result.verifiedReads += check.reads
    result.failures.push(...check.failures.map((f) => `round ${round}: ${f}`))
    if (midWrite) {
      result.midWrite++
      if (check.unackedPresent) result.unackedPresent++
      else result.unackedAbsent++
    }
    options.onRound?.({
      round,
      acked: mine.size,
      midWrite,
      unackedPresent: midWrite ? check.unackedPresent : undefined,
    })
    if (result.failures.length > 0) break
  }
  result.durationMs = Math.round(performance.now() - started)
  return result
}

async function verify(
  path: string,
  round: number,
  acked: Map<number, Set<number>>,
  pruned: number[],
  interrupted: Map<number, number>,
): Promise<{ reads: number; failures: string[]; unackedPresent: boolean }> {
  const failures: string[] = []
  const storage = new SqliteStorageAdapter({
    path,
    onCorruptChunk: (event) => failures.push(`corrupt chunk ${JSON.stringify(event)}`),
  })
  let reads = 0
  let unackedPresent = false
  try {
    for (const [r, indices] of acked) {
      const stored = new Map(
        (await storage.loadRange([`r${r}`])).map((chunk) => [
          chunk.key.join('/'),
          chunk.data ?? new Uint8Array(0),
        ]),
      )
      for (const i of indices) {
        reads++
        const key = crashKey(r, i)
        const data = stored.get(key.join('/'))
        if (!data) failures.push(`acknowledged ${key.join('/')} is missing`)
        else if (!Buffer.from(crashChunk(r, i)).equals(data))
          failures.push(`acknowledged ${key.join('/')} has other bytes`)
        stored.delete(key.join('/'))
      }
      // What is left was never acknowledged: only the one write the kill interrupted may be.
      for (const [key, data] of stored) {
        const i = Number(key.split('/')[2])
        if (interrupted.get(r) !== i) failures.push(`unexpected chunk ${key}`)
        else if (!Buffer.from(crashChunk(r, i)).equals(data))
          failures.push(`interrupted ${key} is present with other bytes`)
        else if (r === round) unackedPresent = true
      }
    }
    for (const old of pruned)
      if ((await storage.loadRange([`r${old}`])).length > 0)
        failures.push(`pruned round r${old} still has chunks`)
    const integrity = storage.integrityCheck()
    if (integrity.join() !== 'ok') failures.push(`integrity_check: ${integrity.join('; ')}`)
  } finally {
    storage.close()
  }
  return { reads, failures, unackedPresent }
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
