/**
 * `pnpm bench [filter]`: runs every `packages/<name>/bench/*.bench.ts` (or those whose
 * path contains the filter), each printing its figures beside a raw baseline, then a summary.
 */
import { readdirSync } from "node:fs"
import { join, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import pg from "pg"
import type { Result } from "./harness.js"
import { startPostgres } from "./postgres.js"
import type { Postgres } from "./postgres.js"

export interface BenchContext {
  /** The PostgreSQL of this file: on the throw-away cluster, a database of its own. */
  readonly postgres: () => Promise<Postgres>
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

// On the throw-away cluster each file runs in a database of its own, dropped after it: the
// library's tables do not carry the rows of the files before (100,000s of subjects and keys
// after the consent benchmarks), nor their vacuum and checkpoint, which the raw baselines, on
// tables of their own, never paid for. A database given by URL is used as it is.
const onCluster = async (cluster: Postgres, statements: ReadonlyArray<string>) => {
  const admin = new pg.Client({ connectionString: cluster.url })
  await admin.connect()
  try {
    for (const statement of statements) await admin.query(statement)
  } finally {
    await admin.end()
  }
}

const fileDatabase = async (cluster: Postgres, name: string) => {
  await onCluster(cluster, [`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`, `CREATE DATABASE ${name}`])
  const url = new URL(cluster.url)
  url.pathname = `/${name}`
  return { url: url.toString(), drop: () => onCluster(cluster, [`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`]) }
}

const results: Array<Result> = []
try {
  for (const [i, file] of files.entries()) {
    process.stdout.write(`\n== ${file.slice(root.length + 1)}\n`)
    let database: Promise<{ readonly url: string; readonly drop: () => Promise<void> }> | undefined
    const context: BenchContext = {
      postgres: async () => {
        postgres ??= startPostgres()
        if (!postgres.throwAway) return postgres
        database ??= fileDatabase(postgres, `lawful_bench_${i}`)
        return { ...postgres, url: (await database).url }
      }
    }
    const module = await import(pathToFileURL(file).href) as { default: (context: BenchContext) => Promise<ReadonlyArray<Result>> }
    try {
      results.push(...await module.default(context))
    } finally {
      if (database !== undefined) await (await database).drop()
    }
  }
} finally {
  postgres?.stop()
}

process.stdout.write("\nSummary\n")
for (const result of results) {
  const verdict = result.met === undefined ? "" : result.met ? "  met" : "  NOT met"
  process.stdout.write(`  ${result.ratio.toFixed(2)}x  ${result.title}${verdict}\n`)
}
