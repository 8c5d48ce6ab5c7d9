import { describe, expect, it } from 'vitest'
import { VirtualWindow } from './virtual-window.ts'

const ids = (n: number, prefix = 'm') => Array.from({ length: n }, (_, i) => `${prefix}${i}`)

describe('VirtualWindow', () => {
  it('renders a bounded number of rows for 100k messages, at the top and at the bottom', () => {
    const w = new VirtualWindow(40)
    w.setKeys(ids(100_000))
    expect(w.totalHeight).toBe(4_000_000)
    const top = w.range(0, 800, 5)
    expect(top).toEqual({ start: 0, end: 26, before: 0, after: 4_000_000 - 26 * 40 })
    const bottom = w.range(w.totalHeight - 800, 800, 5)
    expect(bottom.end).toBe(100_000)
    expect(bottom.end - bottom.start).toBeLessThanOrEqual(800 / 40 + 1 + 10)
    expect(bottom.before + (bottom.end - bottom.start) * 40 + bottom.after).toBe(w.totalHeight)
  })

  it('keeps offsets consistent with measured heights (indexAt inverts offsetOf)', () => {
    const w = new VirtualWindow(50)
    w.setKeys(ids(1000))
    let seed = 7
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 200
    const heights: number[] = []
    for (let i = 0; i < 1000; i++) {
      const h = 10 + Math.round(rand())
      heights.push(h)
      w.setHeight(`m${i}`, h)
    }
    let sum = 0
    for (let i = 0; i < 1000; i++) {
      expect(w.offsetOf(i)).toBe(sum)
      expect(w.indexAt(sum)).toBe(i)
      expect(w.indexAt(sum + heights[i]! - 0.5)).toBe(i)
      sum += heights[i]!
    }
    expect(w.totalHeight).toBe(sum)
    expect(w.indexAt(sum + 1000)).toBe(999)
    expect(w.indexAt(-5)).toBe(0)
  })

  it('keeps measured heights by key across inserts, and reports the change', () => {
    const w = new VirtualWindow(20)
    w.setKeys(['a', 'b', 'c'])
    expect(w.setHeight('b', 100)).toBe(80)
    expect(w.setHeight('b', 100)).toBe(0)
    w.setKeys(['z', 'a', 'b', 'c'])
    expect(w.offsetOf(3)).toBe(20 + 20 + 100)
    expect(w.setHeight('unknown', 5)).toBe(0)
    expect(w.setHeight('a', Number.NaN)).toBe(0)
  })

  it('keeps an anchor row in place when older rows arrive above it', () => {
    const w = new VirtualWindow(30)
    w.setKeys(ids(100))
    const scrollTop = w.offsetOf(50) - 10 // m50 sits 10 px below the top of the viewport
    w.setKeys([...ids(20, 'old'), ...ids(100)])
    expect(w.anchoredScrollTop('m50', w.offsetOf(50) - scrollTop - 0)).toBe(
      w.offsetOf(70) - (30 * 50 - scrollTop),
    )
    expect(w.anchoredScrollTop('gone', 0)).toBeNull()
  })

  it('handles the empty list', () => {
    const w = new VirtualWindow()
    w.setKeys([])
    expect(w.range(0, 500)).toEqual({ start: 0, end: 0, before: 0, after: 0 })
    expect(w.indexAt(100)).toBe(0)
  })
})
