/**
 * Helpers for testing Lawful stores, for this repository's packages and for
 * users who write their own stores: run one contract suite on every backend.
 *
 * - `memory`: the store's in-memory layer;
 * - `pglite`: the store's SQL layer on an in-memory PGlite, loaded from a
 *   snapshot of a fresh database (initdb runs once per machine, not per file);
 * - `postgres`: the store's SQL layer on PostgreSQL when `TEST_DATABASE_URL`
 *   is set, in a schema of its own created for the run and dropped after.
 *
 * Needs `vitest` and `@effect/vitest` (optional peer dependencies of core).
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as PgClient from "@effect/sql-pg/PgClient"
import { assert, layer as vitestLayer } from "@effect/vitest"
import type { Vitest } from "@effect/vitest"
import { PgliteClient } from "@lawful/sql-pglite"
import { PGlite } from "@electric-sql/pglite"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Tracer from "effect/Tracer"
import { createHash, randomBytes, randomUUID } from "node:crypto"
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { createRequire } from "node:module"
import { join } from "node:path"
import { inspect } from "node:util"

/**
 * Where a suite runs.
 *
 * @since 0.1.0
 * @category models
 */
export type Backend = "memory" | "pglite" | "postgres"

/**
 * The SQL backends a package test can use directly.
 *
 * @since 0.1.0
 * @category models
 */
export type SqlBackend = Exclude<Backend, "memory">

/**
 * The database layers, each providing `SqlClient` and `PgClient`.
 *
 * @since 0.1.0
 * @category models
 */
export type Database = SqlClient.SqlClient | PgClient.PgClient

/**
 * The PostgreSQL URL of the test run, from `TEST_DATABASE_URL`.
 *
 * @since 0.1.0
 * @category config
 */
export const postgresUrl: string | undefined = process.env.TEST_DATABASE_URL || undefined

/**
 * The SQL backends available in this run: PGlite always, PostgreSQL when
 * `TEST_DATABASE_URL` is set.
 *
 * @since 0.1.0
 * @category constructors
 */
export const sqlBackends: ReadonlyArray<SqlBackend> = postgresUrl ? ["pglite", "postgres"] : ["pglite"]

// Keyed by the installed PGlite build, so an upgrade never loads an older snapshot.
const pgliteBuild = createHash("sha256")
  .update(createRequire(import.meta.url).resolve("@electric-sql/pglite"))
  .digest("hex")
  .slice(0, 16)
const snapshotPath = join(tmpdir(), `lawful-pglite-${pgliteBuild}-fresh.tar.gz`)

// A fresh database dumped once; each test file loads it instead of running initdb.
const freshSnapshot = Effect.promise(async () => {
  if (!existsSync(snapshotPath)) {
    const db = await PGlite.create()
    const dump = await db.dumpDataDir("gzip")
    await db.close()
    const partial = `${snapshotPath}.${randomUUID()}`
    writeFileSync(partial, Buffer.from(await dump.arrayBuffer()))
    renameSync(partial, snapshotPath)
  }
  return new Blob([readFileSync(snapshotPath)])
})

/**
 * An in-memory PGlite database, new for each build of the layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const pgliteLayer: Layer.Layer<Database> = Layer.unwrapEffect(
  Effect.map(freshSnapshot, (loadDataDir) => PgliteClient.layer({ loadDataDir }))
).pipe(Layer.orDie)

/**
 * PostgreSQL from `TEST_DATABASE_URL`, in a new schema dropped when the layer
 * is released. Dies when the variable is not set.
 *
 * @since 0.1.0
 * @category layers
 */
export const postgresLayer: Layer.Layer<Database> = Layer.unwrapScoped(
  Effect.gen(function*() {
    if (!postgresUrl) return yield* Effect.dieMessage("TEST_DATABASE_URL is not set")
    const schema = `lawful_test_${randomBytes(8).toString("hex")}`
    const admin = yield* Layer.build(PgClient.layer({ url: Redacted.make(postgresUrl), maxConnections: 1 }))
    const sql = admin.unsafeMap.get(SqlClient.SqlClient.key) as SqlClient.SqlClient
    yield* Effect.acquireRelease(
      sql.unsafe(`CREATE SCHEMA ${schema}`),
      () => sql.unsafe(`DROP SCHEMA ${schema} CASCADE`).pipe(Effect.orDie)
    )
    const url = new URL(postgresUrl)
    url.searchParams.set("options", `-c search_path=${schema}`)
    return PgClient.layer({ url: Redacted.make(url.toString()), maxConnections: 16 })
  })
).pipe(Layer.orDie)

/**
 * The database layer of a SQL backend.
 *
 * @since 0.1.0
 * @category layers
 */
export const databaseLayer = (backend: SqlBackend): Layer.Layer<Database> =>
  backend === "pglite" ? pgliteLayer : postgresLayer

/**
 * The layers of a store under test: the in-memory one, and the SQL one that
 * needs a database.
 *
 * @since 0.1.0
 * @category models
 */
export interface StoreLayers<ROut, E> {
  readonly memory: Layer.Layer<ROut, E>
  readonly sql: Layer.Layer<ROut, E, Database>
}

/**
 * Runs one contract suite on the memory layer, on PGlite, and on PostgreSQL
 * when `TEST_DATABASE_URL` is set. Each backend builds its layer once and
 * shares it between the suite's tests, so tests should use their own tenant.
 *
 * @since 0.1.0
 * @category constructors
 */
export const contractSuite = <ROut, E>(
  name: string,
  layers: StoreLayers<ROut, E>,
  suite: (it: Vitest.MethodsNonLive<ROut>, backend: Backend) => void,
  options: { readonly timeout?: number } = {}
): void => {
  const timeout = options.timeout ?? 120_000
  vitestLayer(layers.memory, { timeout })(`${name} (memory)`, (it) => suite(it, "memory"))
  for (const backend of sqlBackends) {
    vitestLayer(layers.sql.pipe(Layer.provide(databaseLayer(backend))), { timeout })(
      `${name} (${backend === "pglite" ? "PGlite" : "PostgreSQL"})`,
      (it) => suite(it, backend)
    )
  }
}

/**
 * Runs a suite on each SQL backend with the store layer and the database
 * itself, for tests that need raw SQL (tampering, crash recovery).
 *
 * @since 0.1.0
 * @category constructors
 */
export const sqlSuite = <ROut, E>(
  name: string,
  layer: Layer.Layer<ROut, E, Database>,
  suite: (it: Vitest.MethodsNonLive<ROut | Database>, backend: SqlBackend) => void,
  options: { readonly timeout?: number } = {}
): void => {
  const timeout = options.timeout ?? 120_000
  for (const backend of sqlBackends) {
    vitestLayer(layer.pipe(Layer.provideMerge(databaseLayer(backend))), { timeout })(
      `${name} (${backend === "pglite" ? "PGlite" : "PostgreSQL"})`,
      (it) => suite(it, backend)
    )
  }
}

/**
 * A connection of the test's own, to count what statements read: a plan that
 * scans where it should probe a key reads far more index entries, whatever
 * the time it takes. Every statement that should be counted runs through
 * `run`; `indexEntriesRead(table)` flushes this connection's statistics and
 * returns the index entries read in the table (in the current schema) so
 * far, on PostgreSQL and PGlite alike. Compare two readings around the
 * statements under test.
 *
 * @since 0.1.0
 * @category constructors
 */
export const readCounter: Effect.Effect<
  {
    readonly run: (text: string, params?: ReadonlyArray<unknown>) => Effect.Effect<ReadonlyArray<any>, SqlError>
    readonly indexEntriesRead: (table: string) => Effect.Effect<number, SqlError>
  },
  SqlError,
  SqlClient.SqlClient | Scope.Scope
> = Effect.gen(function*() {
  const connection = yield* (yield* SqlClient.SqlClient).reserve
  const run = (text: string, params: ReadonlyArray<unknown> = []) => connection.execute(text, params, undefined)
  const indexEntriesRead = (table: string) =>
    Effect.gen(function*() {
      // Pending counts are flushed when the connection next goes idle: after this statement.
      yield* run(`SELECT pg_stat_force_next_flush()`)
      const [row] = yield* run(
        `SELECT coalesce(sum(idx_tup_read), 0)::int AS n FROM pg_stat_user_indexes
         WHERE schemaname = current_schema() AND relname = $1`,
        [table]
      )
      return row.n as number
    })
  return { run, indexEntriesRead }
})

/**
 * Runs `effect` in one transaction and returns its result with the rows it
 * read from `table` by index and sequential scans (`pg_stat_xact_user_tables`:
 * the transaction's own counts, on PostgreSQL and PGlite alike), the table
 * being the one of that name in the current schema. A row fetched
 * by its address counts in neither. The statements under test must use the
 * `SqlClient` in context, so that they join the transaction.
 *
 * @since 0.1.0
 * @category constructors
 */
export const rowsReadBy = <A, E, R>(
  table: string,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<readonly [A, number], E | SqlError, R | SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => {
    const rowsRead = Effect.map(
      sql<{ n: number }>`SELECT (coalesce(idx_tup_fetch, 0) + coalesce(seq_tup_read, 0))::int AS n
        FROM pg_stat_xact_user_tables WHERE schemaname = current_schema() AND relname = ${table}`,
      ([row]) => row?.n ?? 0
    )
    return sql.withTransaction(Effect.gen(function*() {
      const before = yield* rowsRead
      const result = yield* effect
      return [result, (yield* rowsRead) - before] as const
    }))
  })

/**
 * Makes every COMMIT of a transaction that wrote a row of `table` whose
 * `column` equals `value` fail, for the scope: a deferred constraint trigger
 * (`DEFERRABLE INITIALLY DEFERRED`, `AFTER INSERT` or, with `on: "UPDATE"`,
 * `AFTER UPDATE`) raises `commit refused` at COMMIT, so the statements
 * themselves succeed and only the commit fails, as a connection lost at that
 * moment or a serialization failure would. A statement outside a
 * transaction commits alone, and fails the same way; a transaction that
 * wrote no such row commits as usual, so a test picks a value of its own (a
 * tenant id, a random name) and tests running concurrently on the same table
 * are unaffected.
 *
 * For tests on PGlite and PostgreSQL, on the `SqlClient` in context; the
 * table must exist. The trigger and its function are dropped when the scope
 * closes. `table` and `column` are written into the statement as they are;
 * `value` is quoted as a literal and compared as the column's type reads it
 * (`"true"` for a boolean). Dies if the trigger cannot be created.
 *
 * @since 0.1.0
 * @category constructors
 */
export const failCommitsOn = (options: {
  readonly table: string
  readonly column: string
  readonly value: string
  readonly on?: "INSERT" | "UPDATE"
}): Effect.Effect<void, never, SqlClient.SqlClient | Scope.Scope> =>
  Effect.flatMap(SqlClient.SqlClient, (client) => {
    const sql = client.withoutTransforms()
    const { column, table } = options
    const name = `lawful_fail_commit_${randomUUID().replaceAll("-", "")}`
    return Effect.acquireRelease(
      sql.unsafe(`
        CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'commit refused'; END $$;
        CREATE CONSTRAINT TRIGGER ${name} AFTER ${options.on ?? "INSERT"} ON ${table} DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW WHEN (NEW.${column} = ${literal(options.value)}) EXECUTE FUNCTION ${name}()`),
      () => Effect.orDie(sql.unsafe(`DROP TRIGGER ${name} ON ${table}; DROP FUNCTION ${name}()`))
    ).pipe(Effect.asVoid, Effect.orDie)
  })

const literal = (value: string) => `'${value.replaceAll("'", "''")}'`

/**
 * Makes every statement that writes a row of `table` whose `column`, read as
 * text, holds `value` (and, with `when`, for which that SQL condition holds
 * too) fail, for the scope: a `CHECK` constraint added `NOT VALID`, so the
 * rows already there stay, and an insert or update refused fails with a check
 * violation (SQLSTATE `23514`) whose diagnostics quote the row, as a real
 * refusal's do. A test picks a value of its own (a tenant id, a random name)
 * so tests running concurrently on the same table are unaffected.
 *
 * For tests on PGlite and PostgreSQL, on the `SqlClient` in context; the
 * table must exist. The constraint is dropped when the scope closes. `table`,
 * `column` and `when` are written into the statement as they are; `value` is
 * quoted as a literal and looked for in the column's text. Dies if the
 * constraint cannot be added.
 *
 * @since 0.1.0
 * @category constructors
 */
export const refuseRowsHolding = (options: {
  readonly table: string
  readonly column: string
  readonly value: string
  readonly when?: string
}): Effect.Effect<void, never, SqlClient.SqlClient | Scope.Scope> =>
  Effect.flatMap(SqlClient.SqlClient, (client) => {
    const sql = client.withoutTransforms()
    const { table } = options
    const name = `lawful_refuse_${randomUUID().replaceAll("-", "")}`
    const holds = `strpos(${options.column}::text, ${literal(options.value)}) > 0`
    const refused = options.when === undefined ? holds : `${holds} AND (${options.when})`
    return Effect.acquireRelease(
      sql.unsafe(`ALTER TABLE ${table} ADD CONSTRAINT ${name} CHECK (NOT (${refused})) NOT VALID`),
      () => Effect.orDie(sql.unsafe(`ALTER TABLE ${table} DROP CONSTRAINT ${name}`))
    ).pipe(Effect.asVoid, Effect.orDie)
  })

const loggedForms = (error: unknown) =>
  [
    ["JSON", String(JSON.stringify(error))],
    ["inspection", inspect(error, { depth: Infinity })]
  ] as const

/**
 * Everything a logger may write of an error: its JSON and its inspection
 * (`util.inspect`, every level deep), one after the other.
 *
 * @since 0.1.0
 * @category utils
 */
export const asLogged = (error: unknown): string => loggedForms(error).map(([, text]) => text).join("\n")

/**
 * The spans `effect` opens, through the tracer in place, whatever it ends
 * with: to check what a trace exporter would see (no address, no id that is
 * not one, among their attributes).
 *
 * ```ts
 * const spans = yield* spansOf(ledger.stateOf(tenant, "ann@example.com" as SubjectId))
 * assert.notInclude(spans.flatMap((span) => [...span.attributes.values()]).join(" "), "ann@example.com")
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const spansOf = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<ReadonlyArray<Tracer.Span>, never, R> =>
  Effect.gen(function*() {
    const inner = yield* Effect.tracer
    const spans: Array<Tracer.Span> = []
    const recording = Tracer.make({
      span: (...args) => {
        const span = inner.span(...args)
        spans.push(span)
        return span
      },
      context: (f, fiber) => inner.context(f, fiber)
    })
    yield* Effect.exit(Effect.withTracer(effect, recording))
    return spans
  })

/**
 * Asserts that neither the JSON nor the inspection of `error` (see
 * `asLogged`) holds any of `values`, nor PostgreSQL's `Failing row`: what a
 * store error may keep of the database's diagnostics, which quote the data
 * written. Throws vitest's `AssertionError` naming the form that quotes it.
 *
 * @since 0.1.0
 * @category utils
 */
export const assertQuotesNothing = (error: unknown, values: ReadonlyArray<string>): void => {
  for (const [form, text] of loggedForms(error)) {
    for (const value of [...values, "Failing row"]) assert.notInclude(text, value, `the ${form} of the error`)
  }
}

/**
 * The SQLSTATE codes along the chain of causes of `error`, the error's own
 * first: every `code` that is a string, of it and of each `cause` in turn.
 *
 * @since 0.1.0
 * @category utils
 */
export const sqlStatesOf = (error: unknown): ReadonlyArray<string> => {
  const codes: Array<string> = []
  for (let at = error; typeof at === "object" && at !== null; at = (at as { readonly cause?: unknown }).cause) {
    const code = (at as { readonly code?: unknown }).code
    if (typeof code === "string") codes.push(code)
  }
  return codes
}

/**
 * The text of a test between the lines `// readme:start <name>` and
 * `// readme:end <name>`, and whether it appears in one of the README's
 * `ts` code blocks: so a package's README shows its example exactly as a
 * test runs it. Both are compared line by line, each line without its
 * indentation and trailing spaces, blank lines dropped.
 *
 * Fails with a message naming what is missing: the markers in the test, or
 * the first line of the region the README does not show in that order.
 *
 * @since 0.1.0
 * @category utils
 */
export const readmeShows = (
  readme: URL,
  test: URL,
  name: string
): { readonly ok: true } | { readonly ok: false; readonly reason: string } => {
  const lines = (text: string) => text.split("\n").map((line) => line.trim()).filter((line) => line.length > 0)
  const source = readFileSync(test, "utf8").split("\n")
  const start = source.findIndex((line) => line.trim() === `// readme:start ${name}`)
  const end = source.findIndex((line, i) => i > start && line.trim() === `// readme:end ${name}`)
  if (start < 0 || end < 0) return { ok: false, reason: `no region "${name}" in ${test.pathname}` }
  const region = lines(source.slice(start + 1, end).join("\n"))
  if (region.length === 0) return { ok: false, reason: `the region "${name}" is empty` }
  const blocks = [...readFileSync(readme, "utf8").matchAll(/^```ts\n([\s\S]*?)^```/gm)].map((match) => lines(match[1]!))
  let best = { matched: -1, line: region[0]! }
  for (const block of blocks) {
    for (let from = 0; from < block.length; from++) {
      let matched = 0
      while (matched < region.length && block[from + matched] === region[matched]) matched++
      if (matched === region.length) return { ok: true }
      if (matched > best.matched) best = { matched, line: region[matched]! }
    }
  }
  const document = readme.pathname.split("/").pop()
  return { ok: false, reason: `${document} does not show this line of "${name}" where the test has it: ${best.line}` }
}
