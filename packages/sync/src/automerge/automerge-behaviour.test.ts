// Pins the Automerge 3.5 behaviour the validator's rules exist for (and that is worth
// reporting upstream). If an upgrade changes one of these, re-read docs/architecture.md,
// "Sync and validation", before adjusting the test.
import * as A from '@automerge/automerge'
import { describe, expect, it } from 'vitest'

const a = 'aa'.repeat(16)
const m = 'bb'.repeat(16)
const encode = (fields: Record<string, unknown>) =>
  A.encodeChange({ time: 0, message: null, ...fields } as unknown as A.DecodedChange)
const first = encode({
  actor: a,
  seq: 1,
  startOp: 1,
  deps: [],
  ops: [
    { action: 'makeList', obj: '_root', key: 'l', pred: [] },
    { action: 'set', obj: `1@${a}`, elemId: '_head', insert: true, value: 'x', pred: [] },
  ],
})
const h1 = A.decodeChange(first).hash
const insert = { action: 'set', obj: `1@${a}`, elemId: '_head', insert: true, value: 'y', pred: [] }

function applyAndReload(change: A.Change): { applied: boolean; reloads: boolean } {
  const [doc] = A.applyChanges(A.init(), [first])
  let next
  try {
    ;[next] = A.applyChanges(doc, [change])
  } catch {
    return { applied: false, reloads: true }
  }
  try {
    A.load(A.save(next))
    return { applied: true, reloads: true }
  } catch {
    return { applied: true, reloads: false }
  }
}

describe('Automerge 3.5 trusts invariants it does not check', () => {
  it('applies reused op counters silently, and the saved document no longer loads', () => {
    expect(
      applyAndReload(encode({ actor: m, seq: 1, startOp: 1, deps: [h1], ops: [insert] })),
    ).toEqual({
      applied: true,
      reloads: false,
    })
  })

  it('applies a change not chained to its actor’s previous one silently, and the saved document no longer loads', () => {
    expect(
      applyAndReload(encode({ actor: a, seq: 2, startOp: 3, deps: [], ops: [insert] })),
    ).toEqual({
      applied: true,
      reloads: false,
    })
  })

  it('throws (a Rust panic or assertion) on a seq gap or an insert into a missing list', () => {
    expect(
      applyAndReload(encode({ actor: m, seq: 3, startOp: 3, deps: [h1], ops: [insert] })).applied,
    ).toBe(false)
    expect(
      applyAndReload(
        encode({ actor: m, seq: 1, startOp: 3, deps: [h1], ops: [{ ...insert, obj: `77@${m}` }] }),
      ).applied,
    ).toBe(false)
  })

  it('cannot re-encode a decoded change that holds bytes (why entries are ImmutableStrings)', () => {
    let doc = A.init<Record<string, unknown>>({ actor: a })
    doc = A.change(doc, { time: 0 }, (d) => {
      d['l'] = [new Uint8Array([1, 2, 3])]
    })
    const decoded = A.decodeChange(A.getLastLocalChange(doc)!)
    expect(Array.isArray(decoded.ops[1]!.value)).toBe(true)
    expect(() => A.encodeChange(decoded)).toThrow()
  })
})
