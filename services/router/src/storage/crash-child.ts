// The process the crash test SIGKILLs: it saves chunks forever and prints a line after each
// save() resolves, so a printed "ok" is a real acknowledgement.
// Usage: node crash-child.ts <db path> <round> <rounds kept> [--ack-before-save]
// (--ack-before-save is a deliberately broken writer, to show the crash test catches lost acks.)
import { writeSync } from 'node:fs'
import { crashChunk, crashKey } from './crash-workload.ts'
import { SqliteStorageAdapter } from './sqlite-adapter.ts'

const [path, roundArg, keepArg, flag] = process.argv.slice(2)
const ackBeforeSave = flag === '--ack-before-save'
if (!path || !roundArg || !keepArg) throw new Error('usage: crash-child.ts <db> <round> <keep>')
const round = Number(roundArg)
const keep = Number(keepArg)

const storage = new SqliteStorageAdapter({ path })
// writeSync: the line is in the pipe before the next save starts, and if the parent is gone
// the write throws EPIPE and this process ends instead of writing forever as an orphan.
const say = (line: string) => writeSync(1, `${line}\n`)
say('ready')
// Two old rounds: the second catches one whose pruning an earlier kill interrupted.
for (const old of [round - keep, round - keep - 1]) {
  if (old < 0) continue
  await storage.removeRange([`r${old}`])
  say(`pruned ${old}`)
}
for (let i = 0; ; i++) {
  const data = crashChunk(round, i)
  say(`begin ${i} ${data.byteLength}`)
  if (ackBeforeSave) say(`ok ${i}`)
  await storage.save(crashKey(round, i), data)
  if (!ackBeforeSave) say(`ok ${i}`)
}
