import { createHash } from 'node:crypto'
import type { StorageKey } from '@automerge/automerge-repo/slim'

/**
 * The crash test's workload, shared by the child that writes and the parent that checks:
 * every chunk's bytes follow from its round and index, so the parent needs nothing from
 * the child but the keys it acknowledged. Round ids share prefixes (r1, r10, r100) on
 * purpose: pruning r1 must not touch r10.
 */
export function crashKey(round: number, index: number): StorageKey {
  return [`r${round}`, 'incremental', String(index)]
}

/** 7 in 8 chunks are incremental-sized (64 B – 8 KiB), 1 in 8 snapshot-sized (64 – 512 KiB). */
export function crashChunk(round: number, index: number): Uint8Array {
  const seed = createHash('sha256').update(`${round}:${index}`).digest()
  const big = seed[0]! % 8 === 0
  const span = big ? 448 * 1024 : 8 * 1024 - 64
  const size = (big ? 64 * 1024 : 64) + (seed.readUInt32BE(1) % span)
  const out = new Uint8Array(size)
  let x = seed.readUInt32BE(5) || 1
  for (let i = 0; i < size; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}
