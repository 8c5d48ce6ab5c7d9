import * as A from '@automerge/automerge'
import { describe, expect, it } from 'vitest'
import { automergeChunkValidator, isWellFormedAutomergeData } from './automerge-chunks.ts'

function sample() {
  let doc = A.from<{ title: string; entries: string[] }>({ title: 'hello', entries: [] })
  const heads = A.getHeads(doc)
  doc = A.change(doc, (d) => {
    d.entries.push('x'.repeat(3000))
  })
  doc = A.change(doc, (d) => {
    d.entries.push('y')
  })
  return { snapshot: A.save(doc), incremental: A.saveSince(doc, heads) }
}

describe('isWellFormedAutomergeData', () => {
  it('accepts what Automerge writes: documents, change runs, nothing', () => {
    const { snapshot, incremental } = sample()
    expect(isWellFormedAutomergeData(snapshot)).toBe(true)
    expect(isWellFormedAutomergeData(incremental)).toBe(true)
    const both = new Uint8Array([...snapshot, ...incremental])
    expect(isWellFormedAutomergeData(both)).toBe(true)
    expect(isWellFormedAutomergeData(new Uint8Array(0))).toBe(true)
  })

  it('refuses a flipped byte, a truncation, trailing bytes and garbage', () => {
    const { snapshot, incremental } = sample()
    for (const good of [snapshot, incremental]) {
      for (const at of [0, 5, 8, 12, good.length >> 1, good.length - 1]) {
        const bad = good.slice()
        bad[at]! ^= 0x01
        expect(isWellFormedAutomergeData(bad), `flip at ${at}`).toBe(false)
      }
      expect(isWellFormedAutomergeData(good.subarray(0, good.length - 1))).toBe(false)
      expect(isWellFormedAutomergeData(new Uint8Array([...good, 0]))).toBe(false)
    }
    expect(isWellFormedAutomergeData(new TextEncoder().encode('not automerge'))).toBe(false)
  })

  it('checks only document keys', () => {
    const junk = Uint8Array.of(1, 2, 3)
    expect(automergeChunkValidator(['doc', 'incremental', 'h'], junk)).toBe(false)
    expect(automergeChunkValidator(['doc', 'snapshot', 'h'], junk)).toBe(false)
    expect(automergeChunkValidator(['doc', 'sync-state', 'peer'], junk)).toBe(true)
    expect(automergeChunkValidator(['storage-adapter-id'], junk)).toBe(true)
  })
})
