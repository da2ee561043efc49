/**
 * `pnpm bench [filter]`: runs every `packages/<name>/bench/*.bench.ts` (or those whose
 * path contains the filter), each printing its figures beside a raw baseline, then a summary.
 */
import { readdirSync } from "node:fs"
import { join, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import type { Result } from "./harness.js"
import { startPostgres } from "./postgres.js"
import type { Postgres } from "./postgres.js"

export interface BenchContext {
  readonly postgres: () => Postgres
}

const root = resolve(import.meta.dirname, "..")
const filter = process.argv[2]
const files = readdirSync(join(root, "packages"), { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .flatMap((entry) => {
    const dir = join(root, "packages", entry.name, "bench")
    try {
      return readdirSync(dir).filter((file) => file.endsWith(".bench.ts")).map((file) => join(dir, file))
    } catch {
      return []
    }
  })
  .filter((file) => filter === undefined || file.includes(filter))

let postgres: Postgres | undefined
const context: BenchContext = {
  postgres: () => (postgres ??= startPostgres())
}

const results: Array<Result> = []
try {
  for (const file of files) {
    process.stdout.write(`\n== ${file.slice(root.length + 1)}\n`)
    const module = await import(pathToFileURL(file).href) as { default: (context: BenchContext) => Promise<ReadonlyArray<Result>> }
    results.push(...await module.default(context))
  }
} finally {
  postgres?.stop()
}

process.stdout.write("\nSummary\n")
for (const result of results) {
  const verdict = result.met === undefined ? "" : result.met ? "  met" : "  NOT met"
  process.stdout.write(`  ${result.ratio.toFixed(2)}x  ${result.title}${verdict}\n`)
}
