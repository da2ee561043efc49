/**
 * The databases of Lawful's tests, and core's services over them, without
 * vitest: for contract suites (`@lawful/core/testing` re-exports all of it),
 * and for scripts and benchmarks, which cannot import vitest.
 *
 * - `pgliteLayer`: an in-memory PGlite, loaded from a snapshot of a fresh
 *   database (initdb runs once per machine, not per build);
 * - `postgresLayer`: PostgreSQL from `TEST_DATABASE_URL`, in a schema of its
 *   own created for the layer and dropped after;
 * - `coreMemory` / `coreSql`: the Vault (keys in memory or on the database in
 *   context, a random master key), the subject directory, the suppression
 *   list and the two registries, for a store that needs them;
 * - `readCounter`, `rowsReadBy`, `failCommitsOn`, `refuseRowsHolding`: what
 *   statements read, and commits or rows refused for a scope.
 *
 * ```ts
 * import { pgliteLayer } from "@lawful/core/testing/database"
 *
 * Effect.runPromise(program.pipe(Effect.provide(pgliteLayer)))
 * ```
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as PgClient from "@effect/sql-pg/PgClient"
import { PgliteClient } from "@lawful/sql-pglite"
import { PGlite } from "@electric-sql/pglite"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { createHash, randomBytes, randomUUID } from "node:crypto"
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { createRequire } from "node:module"
import { join } from "node:path"
import * as KeyStore from "../KeyStore.js"
import * as MasterKey from "../MasterKey.js"
import type * as Migrations from "../Migrations.js"
import * as PersonalDataRegistry from "../PersonalDataRegistry.js"
import * as RetentionTarget from "../RetentionTarget.js"
import * as SubjectDirectory from "../SubjectDirectory.js"
import * as SuppressionList from "../SuppressionList.js"
import * as Vault from "../Vault.js"

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

/**
 * What `coreMemory` and `coreSql` provide: the Vault, the subject directory,
 * the suppression list, the personal-data registry and the retention targets.
 *
 * @since 0.1.0
 * @category models
 */
export type CoreServices =
  | Vault.Vault
  | SubjectDirectory.SubjectDirectory
  | SuppressionList.SuppressionList
  | PersonalDataRegistry.PersonalDataRegistry
  | RetentionTarget.RetentionTargets

/**
 * Core's services for a store under test, in memory: the Vault, its keys in
 * the memory key store under a random master key, the directory and the
 * suppression list over it, and empty registries (a store registers its
 * sources, and `SubjectDirectory.personalDataSource` if it wants the
 * directory's). New for each build of the layer.
 *
 * ```ts
 * contractSuite("MyStore", {
 *   memory: MyStore.layerMemory.pipe(Layer.provideMerge(coreMemory)),
 *   sql: MyStore.layerSql.pipe(Layer.provideMerge(coreSql))
 * }, (it) => { ... })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const coreMemory: Layer.Layer<CoreServices, KeyStore.KeyStoreError | KeyStore.MasterKeyRetired> = Layer
  .mergeAll(SubjectDirectory.layerMemory, SuppressionList.layerMemory).pipe(
    Layer.provideMerge(Vault.layer),
    Layer.provide(Layer.merge(KeyStore.layerMemory, MasterKey.layerRandom)),
    Layer.merge(Layer.merge(PersonalDataRegistry.layer, RetentionTarget.layer))
  )

/**
 * `coreMemory` on the database in context: the Vault's keys in the SQL key
 * store, the directory and the suppression list in their SQL tables, all on
 * the `SqlClient` that `contractSuite` gives the store's SQL layer (PGlite,
 * PostgreSQL), so the store and core share one database, as in production.
 *
 * @since 0.1.0
 * @category layers
 */
export const coreSql: Layer.Layer<
  CoreServices,
  KeyStore.KeyStoreError | KeyStore.MasterKeyRetired | Migrations.MigrationFailed,
  SqlClient.SqlClient
> = Layer.mergeAll(SubjectDirectory.layerSql, SuppressionList.layerSql).pipe(
  Layer.provideMerge(Vault.layer),
  Layer.provide(Layer.merge(KeyStore.layerSql, MasterKey.layerRandom)),
  Layer.merge(Layer.merge(PersonalDataRegistry.layer, RetentionTarget.layer))
)
