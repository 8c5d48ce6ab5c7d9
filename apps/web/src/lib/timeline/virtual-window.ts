// The timeline's windowing, as pure logic: which rows to put in the DOM for a scroll
// position, and where they sit. Rows have different heights (a one-liner, a long
// markdown message); unmeasured rows count with an estimate, measured ones with their
// real height. Offsets live in a Fenwick tree, so a scroll or a measurement costs
// O(log n) — a 100k-message channel scrolls to its first message with only the rows
// in view (plus an overscan) in the DOM.

export interface WindowRange {
  /** First row index to render (inclusive). */
  start: number
  /** Last row index to render (exclusive). */
  end: number
  /** Space above the first rendered row (px). */
  before: number
  /** Space below the last rendered row (px). */
  after: number
}

export class VirtualWindow {
  #keys: string[] = []
  #index = new Map<string, number>()
  /** Heights by key: survive inserts and reorders. */
  readonly #measured = new Map<string, number>()
  #heights: Float64Array = new Float64Array(0)
  #tree: Float64Array = new Float64Array(1)
  readonly estimate: number

  constructor(estimate = 48) {
    if (!(estimate > 0)) throw new RangeError('estimate must be positive')
    this.estimate = estimate
  }

  get count(): number {
    return this.#keys.length
  }

  /** The rows, in order (message ids). Heights measured before are kept by key. */
  setKeys(keys: readonly string[]): void {
    this.#keys = [...keys]
    this.#index = new Map(this.#keys.map((k, i) => [k, i]))
    const n = this.#keys.length
    this.#heights = new Float64Array(n)
    for (let i = 0; i < n; i++)
      this.#heights[i] = this.#measured.get(this.#keys[i]!) ?? this.estimate
    // O(n) Fenwick build.
    const tree = new Float64Array(n + 1)
    for (let i = 1; i <= n; i++) {
      tree[i]! += this.#heights[i - 1]!
      const j = i + (i & -i)
      if (j <= n) tree[j]! += tree[i]!
    }
    this.#tree = tree
  }

  keyAt(index: number): string | undefined {
    return this.#keys[index]
  }

  indexOf(key: string): number {
    return this.#index.get(key) ?? -1
  }

  heightAt(index: number): number {
    return this.#heights[index] ?? 0
  }

  /** Records a row's real height; returns how much it changed (0 if it did not). */
  setHeight(key: string, height: number): number {
    if (!(height >= 0) || !Number.isFinite(height)) return 0
    this.#measured.set(key, height)
    const i = this.#index.get(key)
    if (i === undefined) return 0
    const delta = height - this.#heights[i]!
    if (delta === 0) return 0
    this.#heights[i] = height
    for (let j = i + 1; j < this.#tree.length; j += j & -j) this.#tree[j]! += delta
    return delta
  }

  /** Distance from the top of the list to the top of row `index` (index = count: total). */
  offsetOf(index: number): number {
    let sum = 0
    for (let j = Math.min(Math.max(index, 0), this.count); j > 0; j -= j & -j) sum += this.#tree[j]!
    return sum
  }

  get totalHeight(): number {
    return this.offsetOf(this.count)
  }

  /** The row under `offset` px from the top (clamped to the rows that exist). */
  indexAt(offset: number): number {
    const n = this.count
    if (n === 0) return 0
    if (offset <= 0) return 0
    // Fenwick descent: the largest prefix whose sum is <= offset.
    let pos = 0
    let rest = offset
    let step = 1
    while (step * 2 <= n) step *= 2
    for (; step > 0; step >>= 1) {
      const next = pos + step
      if (next <= n && this.#tree[next]! <= rest) {
        pos = next
        rest -= this.#tree[next]!
      }
    }
    return Math.min(pos, n - 1)
  }

  /** The rows to render for a viewport at `scrollTop` of `height` px, with `overscan` rows around. */
  range(scrollTop: number, height: number, overscan = 6): WindowRange {
    const n = this.count
    if (n === 0) return { start: 0, end: 0, before: 0, after: 0 }
    const first = this.indexAt(scrollTop)
    const last = this.indexAt(scrollTop + Math.max(height, 0))
    const start = Math.max(0, first - overscan)
    const end = Math.min(n, last + 1 + overscan)
    const before = this.offsetOf(start)
    return { start, end, before, after: this.totalHeight - this.offsetOf(end) }
  }

  /**
   * Where to scroll so `key`'s row stays where it was on screen after the rows changed
   * (older messages arriving above, heights measured): the anchor's new offset minus its
   * distance from the viewport's top before.
   */
  anchoredScrollTop(key: string, distanceFromTop: number): number | null {
    const i = this.indexOf(key)
    return i < 0 ? null : Math.max(0, this.offsetOf(i) - distanceFromTop)
  }
}
