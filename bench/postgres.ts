/**
 * The PostgreSQL the benchmarks run on: BENCH_DATABASE_URL (or TEST_DATABASE_URL)
 * when set; otherwise a throw-away cluster of the machine's PostgreSQL 15 on a
 * loopback port, stopped when the run ends.
 */
import { execFileSync } from "node:child_process"
import { chownSync, existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const bin = "/usr/lib/postgresql/15/bin"

export interface Postgres {
  readonly url: string
  /** A throw-away cluster, where each benchmark file gets a database of its own. */
  readonly throwAway: boolean
  readonly stop: () => void
}

export const startPostgres = (): Postgres => {
  const given = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL
  if (given) return { url: given, throwAway: false, stop: () => {} }
  if (!existsSync(`${bin}/initdb`)) {
    throw new Error("Set BENCH_DATABASE_URL, or install PostgreSQL 15 (apt-get install -y postgresql)")
  }
  const dir = mkdtempSync(join(tmpdir(), "lawful-bench-pg-"))
  const asPostgres = process.getuid?.() === 0 ? ["runuser", "-u", "postgres", "--"] : []
  if (asPostgres.length > 0) chownSync(dir, Number(execFileSync("id", ["-u", "postgres"]).toString().trim()), 0)
  const port = 56000 + Math.floor(Math.random() * 1000)
  const run = (command: string, args: ReadonlyArray<string>) =>
    execFileSync(asPostgres[0] ?? command, [...asPostgres.slice(1), ...(asPostgres.length ? [command] : []), ...args], {
      stdio: "ignore"
    })
  run(`${bin}/initdb`, ["-D", `${dir}/data`, "-U", "postgres", "-A", "trust", "-E", "UTF8"])
  run(`${bin}/pg_ctl`, [
    "-D", `${dir}/data`, "-l", `${dir}/log`, "-w",
    "-o", `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=100`,
    "start"
  ])
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    throwAway: true,
    stop: () => {
      try {
        run(`${bin}/pg_ctl`, ["-D", `${dir}/data`, "-m", "fast", "stop"])
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }
  }
}
