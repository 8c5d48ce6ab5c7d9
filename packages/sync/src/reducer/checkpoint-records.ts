import type { Did } from '@hearth/identity'
import type { EventId } from '../events/schema.ts'
import {
  intColumn,
  InvalidCheckpointError,
  RefTable,
  refReader,
  stringColumn,
} from './checkpoint.ts'
import type { MessageRecord } from './content.ts'
import type { Lww, Ord } from './types.ts'

// The two big record sets of a reducer checkpoint, as columns and rows instead of tagged
// plain objects: the canonical order (one id and one depth per ordered event) and the message
// records (repeated DIDs, keys and channel ids listed once; a record's position is its own
// entry in the order, not a copy). At 100k events this is most of a checkpoint.

/**
 * The canonical order as one column beside the event ids: each event's depth, or -1 for an
 * event not ordered (waiting for parents, or another space's). An Ord's id is its key.
 */
export function encodeOrder(ids: readonly string[], ords: ReadonlyMap<EventId, Ord>): number[] {
  const depths = ids.map((id) => ords.get(id as EventId)?.depth ?? -1)
  let ordered = 0
  for (const d of depths) if (d !== -1) ordered++
  if (ordered !== ords.size) throw new TypeError('an ordered event is not among the events')
  for (const [id, ord] of ords) if (ord.id !== id) throw new TypeError(`order ${id}: another id`)
  return depths
}

export function decodeOrder(value: unknown, ids: readonly string[], into: Map<EventId, Ord>): void {
  const depths = intColumn(value, 'order', ids.length)
  for (let i = 0; i < ids.length; i++) {
    const depth = depths[i]!
    if (depth === -1) continue
    if (depth < 0) throw new InvalidCheckpointError('order: bad depth')
    const id = ids[i]! as EventId
    into.set(id, { depth, id })
  }
}

const KEY_CHANGED = 1
const REDACTED = 2

export function encodeMessageRecords(
  messages: ReadonlyMap<EventId, MessageRecord>,
  indexOf: ReadonlyMap<string, number>,
): {
  refs: string[]
  rows: unknown[][]
} {
  const table = new RefTable()
  const ref = (v: string | null) => table.ref(v)
  const rows: unknown[][] = []
  for (const m of messages.values()) {
    const reactions: unknown[] = []
    for (const [k, op] of m.reactionOps)
      reactions.push([k, op.value ? 1 : 0, op.at.depth, op.at.id])
    const index = indexOf.get(m.id)
    if (index === undefined) throw new TypeError(`message ${m.id} is not among the events`)
    rows.push([
      index,
      ref(m.author),
      ref(m.key),
      (m.keyChanged ? KEY_CHANGED : 0) | (m.redacted ? REDACTED : 0),
      ref(m.channel),
      ref(m.thread),
      ref(m.replyTo),
      m.original,
      m.edit ? [m.edit.value, m.edit.at.depth, m.edit.at.id] : 0,
      m.moved ? [ref(m.moved.value.to), ref(m.moved.value.by), m.moved.at.depth, m.moved.at.id] : 0,
      reactions.length > 0 ? reactions : 0,
      m.ts,
      m.at.depth,
    ])
  }
  return { refs: table.refs, rows }
}

export function decodeMessageRecords(
  value: unknown,
  ids: readonly string[],
  ords: ReadonlyMap<EventId, Ord>,
  into: Map<EventId, MessageRecord>,
): void {
  const v = value as { refs?: unknown; rows?: unknown } | null
  if (typeof v !== 'object' || v === null || !Array.isArray(v.rows))
    throw new InvalidCheckpointError('messages: not a record')
  const { req, opt } = refReader(stringColumn(v.refs, 'messages refs'), 'messages')
  const bad = () => new InvalidCheckpointError('messages: bad row')
  const ord = (depth: unknown, id: unknown): Ord => {
    if (typeof depth !== 'number' || !Number.isSafeInteger(depth) || typeof id !== 'string')
      throw bad()
    return { depth, id: id as EventId }
  }
  const lww = <T>(cell: unknown, n: number, read: (values: unknown[]) => T): Lww<T> | null => {
    if (cell === 0) return null
    if (!Array.isArray(cell) || cell.length !== n + 2) throw bad()
    return { value: read(cell.slice(0, n)), at: ord(cell[n], cell[n + 1]) }
  }
  for (const row of v.rows as unknown[]) {
    if (!Array.isArray(row) || row.length !== 13) throw bad()
    const [
      index,
      author,
      key,
      flags,
      channel,
      thread,
      replyTo,
      original,
      edit,
      moved,
      r,
      ts,
      depth,
    ] = row
    const id = typeof index === 'number' ? ids[index] : undefined
    if (
      id === undefined ||
      into.has(id as EventId) ||
      typeof flags !== 'number' ||
      typeof original !== 'string' ||
      typeof ts !== 'number'
    )
      throw bad()
    // A message record sits at its own event's place in the order.
    const at = ords.get(id as EventId)
    if (!at || at.depth !== depth) throw new InvalidCheckpointError('messages: not in the order')
    const reactionOps = new Map<string, Lww<boolean>>()
    if (r !== 0) {
      if (!Array.isArray(r)) throw bad()
      for (const op of r) {
        if (!Array.isArray(op) || op.length !== 4 || typeof op[0] !== 'string') throw bad()
        reactionOps.set(op[0], { value: op[1] === 1, at: ord(op[2], op[3]) })
      }
    }
    into.set(id as EventId, {
      id: id as EventId,
      at,
      author: req(author) as Did,
      key: req(key),
      keyChanged: (flags & KEY_CHANGED) !== 0,
      channel: opt(channel) as EventId | null,
      thread: opt(thread) as EventId | null,
      replyTo: opt(replyTo) as EventId | null,
      original,
      edit: lww(edit, 1, ([text]) => {
        if (typeof text !== 'string') throw bad()
        return text
      }),
      redacted: (flags & REDACTED) !== 0,
      moved: lww(moved, 2, ([to, by]) => ({ to: req(to) as EventId, by: req(by) as Did })),
      reactionOps,
      ts,
    })
  }
}
