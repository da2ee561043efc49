/**
 * The benchmark harness every package uses: a raw baseline and the library
 * path run back to back on the same data, several rounds, alternating which
 * goes first; medians and the ratio are printed. Never part of `pnpm test`.
 */
import { performance } from "node:perf_hooks"

export interface Side {
  readonly name: string
  /** Runs the measured work once; returns the number of operations done. */
  readonly run: () => Promise<number>
  /** Per-operation latencies (ms) of the last run, when the side records them. */
  readonly latencies?: () => ReadonlyArray<number>
}

export interface Comparison {
  readonly title: string
  readonly baseline: Side
  readonly library: Side
  readonly rounds?: number
  /** The figure the issue sets: "throughput" (higher is better) or "p50"/"p99" latency (lower is better). */
  readonly metric?: "throughput" | "p50" | "p99"
  /** The target ratio: library/baseline throughput at least this, or latency at most this. */
  readonly target?: number
}

export interface Result {
  readonly title: string
  readonly metric: "throughput" | "p50" | "p99"
  readonly baseline: number
  readonly library: number
  readonly ratio: number
  readonly target: number | undefined
  readonly met: boolean | undefined
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

export const percentile = (values: ReadonlyArray<number>, p: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN
}

const measure = async (side: Side, metric: Result["metric"]): Promise<number> => {
  const start = performance.now()
  const operations = await side.run()
  const elapsed = performance.now() - start
  if (metric === "throughput") return (operations / elapsed) * 1000
  const latencies = side.latencies?.() ?? []
  return percentile(latencies, metric === "p50" ? 50 : 99)
}

const format = (value: number, metric: Result["metric"]) =>
  metric === "throughput" ? `${Math.round(value).toLocaleString("en-US")} ops/s` : `${value.toFixed(3)} ms`

export const compare = async (comparison: Comparison): Promise<Result> => {
  const rounds = comparison.rounds ?? 5
  const metric = comparison.metric ?? "throughput"
  const baseline: Array<number> = []
  const library: Array<number> = []
  // One warm-up round of each, not counted.
  await comparison.baseline.run()
  await comparison.library.run()
  for (let round = 0; round < rounds; round++) {
    if (round % 2 === 0) {
      baseline.push(await measure(comparison.baseline, metric))
      library.push(await measure(comparison.library, metric))
    } else {
      library.push(await measure(comparison.library, metric))
      baseline.push(await measure(comparison.baseline, metric))
    }
  }
  const b = median(baseline)
  const l = median(library)
  const ratio = metric === "throughput" ? l / b : l / b
  const target = comparison.target
  const met = target === undefined ? undefined : metric === "throughput" ? ratio >= target : ratio <= target
  const verdict = target === undefined
    ? ""
    : `  (target ${metric === "throughput" ? ">=" : "<="} ${target}x: ${met ? "met" : "NOT met"})`
  process.stdout.write(
    `\n${comparison.title}\n` +
      `  baseline  ${comparison.baseline.name.padEnd(48)} ${format(b, metric)}\n` +
      `  library   ${comparison.library.name.padEnd(48)} ${format(l, metric)}\n` +
      `  ratio     ${ratio.toFixed(2)}x ${metric === "throughput" ? "of baseline throughput" : `of baseline ${metric}`}${verdict}\n`
  )
  return { title: comparison.title, metric, baseline: b, library: l, ratio, target, met }
}

/** Runs `count` operations from `clients` concurrent workers; returns count. */
export const concurrently = async (
  clients: number,
  count: number,
  operation: (worker: number, index: number) => Promise<void>,
  latencies?: Array<number>
): Promise<number> => {
  let next = 0
  await Promise.all(
    Array.from({ length: clients }, async (_, worker) => {
      while (true) {
        const index = next++
        if (index >= count) return
        const start = performance.now()
        await operation(worker, index)
        latencies?.push(performance.now() - start)
      }
    })
  )
  return count
}
