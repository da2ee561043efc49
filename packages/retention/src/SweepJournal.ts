/**
 * The sweep journal: what each sweep did to each tenant's category, batch by
 * batch, and the lock that lets one process sweep at a time.
 *
 * A sweep records each batch it purges (and each partition it drops) in an
 * entry per tenant, category and run (`record`), appends its audit receipts,
 * then closes the entries (`close`). An entry left open was cut short (the
 * process died, a receipt could not be appended): the next sweep appends its
 * receipt with what it recorded, marked incomplete, and closes it. Closing
 * also forgets the tenant's entries older than the journal's retention.
 *
 * Each batch a sweep purges, and each partition it drops, runs with its
 * record in a transaction of the journal's that checked the lease (`owning`).
 * A target whose storage is on the journal's database (its `client` is the
 * journal's: `joins`) purges in that transaction: the purge and its record
 * commit together or not at all, and a receipt recovered after a crash counts
 * everything purged. A target on another database commits its batch on its
 * own database inside that transaction, and the record follows in it: a
 * sweep taking the lock over waits for both. The count of a batch committed there just before
 * that transaction was lost (a crash, its connection cut) is what a receipt
 * can miss.
 *
 * On SQL, journal writes commit asynchronously (`synchronous_commit = off`),
 * so a sweep does not wait for a WAL flush per batch, and so do the batches
 * recorded in the same transaction. They survive the process; a crash of the
 * database server itself may undo the last of them, each purge with its
 * record (its records are then purged again by the next sweep), or lose a
 * `close`, and a receipt then repeats one already appended. A receipt, whose
 * commit is synchronous, is never lost, nor is any purge it reports (its
 * commit flushes the log up to it).
 *
 * `lock` takes the sweep lock for a scope: an in-process flag, and on
 * PostgreSQL a session advisory lock (`pg_try_advisory_lock`, keyed by the
 * schema) held on a connection reserved for the scope, so a process that dies
 * releases it with its connection. PGlite is embedded in one process: the
 * in-process flag is its whole lock.
 *
 * The lock can be lost while a sweep runs: the connection holding it dies (a
 * restart of its backend, `pg_terminate_backend`, a network cut) and another
 * process takes it. So the lock is also a lease with a fencing token: taking
 * it makes the run the journal's owner (on SQL, in
 * `lawful_retention_sweep_lease`, written on the lock's own connection once
 * the lock is held), and every write of the run checks, in its transaction,
 * that the run still owns the journal (`owning`), failing with
 * `SweepLockLost` otherwise. On SQL the check locks the owner's row
 * (`FOR SHARE`) until the transaction ends, and a sweep taking the lock over
 * waits for those transactions before it reads the open entries: whatever
 * the timing, a write of the run that lost the lock either committed before
 * the new owner read the journal, or fails and commits nothing. On
 * PostgreSQL the check also finds the lock's connection alive, so a
 * run whose lock connection died stops at its next write even when no other
 * sweep has taken over.
 *
 * Backends: `layerMemory`, and `layerSql` on `lawful_retention_sweeps`.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlConnection from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import * as Database from "@lawful/core/Database"
import type * as Migrations from "@lawful/core/Migrations"
import { is as isTenantId, TenantId } from "@lawful/core/TenantId"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { isStorableTime } from "./internal/encoding.js"
import { migrate } from "./internal/migrations.js"
import { RetentionStoreError } from "./RetentionPolicy.js"

/**
 * What one sweep did to one tenant's category.
 *
 * @since 0.1.0
 * @category models
 */
export class SweepEntry extends Schema.Class<SweepEntry>("@lawful/retention/SweepJournal/SweepEntry")({
  runId: Schema.String,
  tenantId: TenantId,
  category: Schema.String,
  cutoff: Schema.DateFromSelf,
  startedAt: Schema.DateFromSelf,
  purged: Schema.NonNegativeInt,
  partitions: Schema.NonNegativeInt,
  finishedAt: Schema.optional(Schema.DateFromSelf),
  complete: Schema.optional(Schema.Boolean)
}) {}

/**
 * An entry's key.
 *
 * @since 0.1.0
 * @category models
 */
export interface EntryKey {
  readonly runId: string
  readonly tenant: TenantId
  readonly category: string
}

/**
 * Work a sweep committed for one tenant's category.
 *
 * @since 0.1.0
 * @category models
 */
export interface Work {
  readonly key: EntryKey
  readonly cutoff: Date
  readonly startedAt: Date
  readonly purged: number
  readonly partitions: number
}

/**
 * The end of a run's work on one category.
 *
 * @since 0.1.0
 * @category models
 */
export interface Closing {
  readonly runId: string
  readonly category: string
  /** The tenants whose entries close, and whether their purge completed. */
  readonly outcomes: ReadonlyArray<{ readonly tenant: TenantId; readonly complete: boolean }>
  readonly at: Date
  /** Finished entries of these tenants' category that started before this are forgotten. */
  readonly forgetBefore: Date
}

/**
 * The sweep lost its lock mid-sweep (on PostgreSQL, the connection holding
 * it died) and may have been taken over by another: it stopped before
 * writing anything more. What it committed is in the journal, and the sweep
 * holding the lock recovers it.
 *
 * @since 0.1.0
 * @category errors
 */
export class SweepLockLost extends Schema.TaggedError<SweepLockLost>()("SweepLockLost", {
  runId: Schema.String
}) {
  override get message(): string {
    return `Retention sweep ${this.runId} lost its lock and stopped; the next sweep recovers its work`
  }
}

/**
 * @since 0.1.0
 * @category services
 */
export class SweepJournal extends Context.Tag("@lawful/retention/SweepJournal")<SweepJournal, {
  /**
   * Takes the sweep lock for the scope and makes the run the journal's owner; false when another
   * sweep holds the lock.
   */
  readonly lock: (runId: string) => Effect.Effect<boolean, RetentionStoreError, Scope.Scope>
  /**
   * Fails with `SweepLockLost` unless the run still holds the lock and owns the journal. In a
   * transaction on the journal's client, a sweep taking the lock over waits for that transaction to
   * end.
   *
   * @internal The check `owning` opens its transaction with; the sweeper calls `owning`, never this
   * alone. Kept in the interface, so a journal of one's own that provides it still compiles.
   */
  readonly fence: (runId: string) => Effect.Effect<void, SweepLockLost | RetentionStoreError>
  /**
   * Runs `effect` in a transaction on the journal's client that `fence(runId)` opens: its writes
   * (a journal statement, a receipt appended by an audit log on the same database) commit only if
   * the run still owns the journal, and before any sweep taking the lock over reads the journal.
   */
  readonly owning: (
    runId: string
  ) => <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<A, E | SweepLockLost | RetentionStoreError>
  /**
   * Adds committed work to open entries, opening those that are new: one statement. An entry
   * keeps the earliest cut-off of its work (a policy lengthened mid-sweep moves it back). Work
   * that is no array, or holds an entry of a tenant that is not a `TenantId` (a lower-case UUID) or
   * of another shape than `Work` (an invalid time or one before 4713 BC, a count that is no
   * non-negative integer), fails the call with `RetentionStoreError`, never quoting it, and nothing
   * is recorded, on every store; so does `close`.
   */
  readonly record: (work: ReadonlyArray<Work>) => Effect.Effect<void, RetentionStoreError>
  /**
   * Whether the journal's transactions run on `client` (a target's): true when it is the journal's
   * SQL client. A purge of that target run in `owning` joins the journal's transaction, and commits
   * or rolls back as one with the `record` of what it purged, so a crash cannot leave a purge
   * committed and unrecorded. False when the target's storage is elsewhere (or names no client),
   * and for the journal in memory: the purge then commits on its own, and its record follows it.
   */
  readonly joins: (client: SqlClient.SqlClient | undefined) => boolean
  /**
   * Closes a run's entries of one category: one statement. A closing of another shape than
   * `Closing` (outcomes that are no array, a tenant among them that is not a `TenantId`, a
   * `complete` that is no boolean, an invalid time or one before 4713 BC) fails the call with
   * `RetentionStoreError`, never quoting it, and nothing closes nor is forgotten.
   */
  readonly close: (closing: Closing) => Effect.Effect<void, RetentionStoreError>
  /** Entries left open by sweeps that were cut short, in every tenant. */
  readonly unfinished: Effect.Effect<ReadonlyArray<SweepEntry>, RetentionStoreError>
  /**
   * The latest finished entry of a tenant's category: its last sweep that purged something. None
   * for a tenant that is not a `TenantId` (a lower-case UUID), on every store, without reading it.
   */
  readonly last: (tenant: TenantId, category: string) => Effect.Effect<Option.Option<SweepEntry>, RetentionStoreError>
}>() {}

const localLock = (flag: Ref.Ref<boolean>) =>
  Effect.acquireRelease(
    Ref.modify(flag, (held) => [!held, true] as const),
    (taken) => taken ? Ref.set(flag, false) : Effect.void
  )

type Service = Context.Tag.Service<typeof SweepJournal>

// A tenant of a write that is not a `TenantId`, refused before any store, never quoted.
const notATenant = (operation: string) =>
  Effect.fail(new RetentionStoreError({ operation, cause: new Error("a tenant id given is not a lower-case UUID") }))

// Work or a closing of another shape, refused before any store, never quoted.
const notOfShape = (operation: string, shape: string) =>
  Effect.fail(new RetentionStoreError({ operation, cause: new Error(shape) }))
const workShape =
  "the work given is not an array of Work: keys of strings, times a store keeps, counts that are non-negative integers"
const closingShape =
  "the closing given is not a Closing: strings, times a store keeps, outcomes an array of a tenant and a boolean each"

const isCount = (value: unknown, most: number): value is number =>
  Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) <= most
// SQL keeps a batch's count as a bigint, its partitions as an integer.
const mostPartitions = 2 ** 31 - 1

// Typeof tests only: the sweeper records every batch through this.
const isWork = (w: Work): boolean =>
  typeof w.key.category === "string" && typeof w.key.runId === "string" && isStorableTime(w.cutoff) &&
  isStorableTime(w.startedAt) && isCount(w.purged, Number.MAX_SAFE_INTEGER) && isCount(w.partitions, mostPartitions)

const checkRecord = (journal: Service, given: ReadonlyArray<Work>) => {
  if (!Array.isArray(given)) return notOfShape("record", workShape)
  for (const w of given) {
    if (!isTenantId(w?.key?.tenant)) return notATenant("record")
    if (!isWork(w)) return notOfShape("record", workShape)
  }
  return journal.record(given)
}

const checkClose = (journal: Service, given: Closing) => {
  if (
    typeof given !== "object" || given === null || !Array.isArray(given.outcomes) ||
    typeof given.runId !== "string" || typeof given.category !== "string" || !isStorableTime(given.at) ||
    !isStorableTime(given.forgetBefore)
  ) return notOfShape("close", closingShape)
  for (const o of given.outcomes) {
    if (!isTenantId(o?.tenant)) return notATenant("close")
    if (typeof o.complete !== "boolean") return notOfShape("close", closingShape)
  }
  return journal.close(given)
}

/**
 * A layer's journal behind the checks of what it is given, in one place for every store: a
 * tenant that is not a `TenantId` has no entry for `last`; `record` and `close` refuse work or a
 * closing of another shape than their types' (no array, an entry with a tenant that is not a
 * `TenantId`, a field of another type, an invalid time or one before 4713 BC, a count that is no
 * non-negative integer) with `RetentionStoreError`, the whole call: nothing recorded, nothing
 * closed or forgotten. What they refuse reaches no store (on SQL an address for a tenant failed the
 * statement, its error quoting it, an upper-case UUID read, recorded or closed the tenant's entries,
 * and work or a closing of another shape threw, or was written: a negative count, `"yes"` as
 * complete; in memory it threw or died after writing the entries before it).
 */
const checked = (journal: Service): Service =>
  SweepJournal.of({
    ...journal,
    record: (work) => checkRecord(journal, work),
    close: (closing) => checkClose(journal, closing),
    last: (tenant, category) => isTenantId(tenant) ? journal.last(tenant, category) : Effect.succeed(Option.none())
  })

const entryKey = (key: EntryKey) => `${key.tenant}/${key.category}/${key.runId}`

/**
 * A journal in memory, for tests and programs without a database; its lock
 * is this process's alone.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<SweepJournal> = Layer.effect(
  SweepJournal,
  Effect.gen(function*() {
    const flag = yield* Ref.make(false)
    // The run holding the lock: in memory the lock cannot be lost, the check is the same as on SQL.
    let owner: string | undefined
    const fence = (runId: string) => Effect.suspend(() => owner === runId ? Effect.void : new SweepLockLost({ runId }))
    const entries = new Map<string, SweepEntry>()
    const ofCategory = (tenant: TenantId, category: string) =>
      [...entries.values()].filter((e) => e.tenantId === tenant && e.category === category)
    const record = (work: ReadonlyArray<Work>) =>
      Effect.sync(() => {
        for (const { cutoff, key, partitions, purged, startedAt } of work) {
          const entry = entries.get(entryKey(key))
          if (entry === undefined) {
            entries.set(
              entryKey(key),
              new SweepEntry({ runId: key.runId, tenantId: key.tenant, category: key.category, cutoff, startedAt, purged, partitions })
            )
          } else if (entry.finishedAt === undefined) {
            entries.set(
              entryKey(key),
              new SweepEntry({
                ...entry,
                cutoff: cutoff < entry.cutoff ? cutoff : entry.cutoff,
                purged: entry.purged + purged,
                partitions: entry.partitions + partitions
              })
            )
          }
        }
      })

    return checked({
      lock: (runId) =>
        Effect.tap(localLock(flag), (taken) =>
          taken
            ? Effect.zipRight(
              Effect.sync(() => void (owner = runId)),
              Effect.addFinalizer(() => Effect.sync(() => void (owner = owner === runId ? undefined : owner)))
            )
            : Effect.void),
      fence,
      owning: (runId) => (effect) => Effect.zipRight(fence(runId), effect),
      record,
      joins: () => false,
      close: ({ at, category, forgetBefore, outcomes, runId }) =>
        Effect.sync(() => {
          for (const { complete, tenant } of outcomes) {
            const entry = entries.get(entryKey({ runId, tenant, category }))
            if (entry && entry.finishedAt === undefined) {
              entries.set(entryKey({ runId, tenant, category }), new SweepEntry({ ...entry, finishedAt: at, complete }))
            }
            for (const old of ofCategory(tenant, category)) {
              if (old.finishedAt !== undefined && old.startedAt < forgetBefore) {
                entries.delete(entryKey({ runId: old.runId, tenant, category }))
              }
            }
          }
        }),
      unfinished: Effect.sync(() => [...entries.values()].filter((e) => e.finishedAt === undefined)),
      last: (tenant, category) =>
        Effect.sync(() =>
          Option.fromNullable(
            ofCategory(tenant, category)
              .filter((e) => e.finishedAt !== undefined)
              .reduce<SweepEntry | undefined>(
                (latest, e) => latest === undefined || e.startedAt >= latest.startedAt ? e : latest,
                undefined
              )
          )
        )
    })
  })
)

const EntryRow = Schema.Struct({
  run_id: Schema.String,
  tenant_id: TenantId,
  category: Schema.String,
  cutoff: Schema.DateFromSelf,
  started_at: Schema.DateFromSelf,
  purged: Schema.Union(Schema.Number, Schema.NumberFromString),
  partitions: Schema.Number,
  finished_at: Schema.NullOr(Schema.DateFromSelf),
  complete: Schema.NullOr(Schema.Boolean)
})

const decodeEntryRows = Schema.decodeUnknown(Schema.Array(EntryRow))

const toEntry = (row: typeof EntryRow.Type) =>
  new SweepEntry({
    runId: row.run_id,
    tenantId: row.tenant_id,
    category: row.category,
    cutoff: row.cutoff,
    startedAt: row.started_at,
    purged: row.purged,
    partitions: row.partitions,
    ...(row.finished_at !== null ? { finishedAt: row.finished_at } : {}),
    ...(row.complete !== null ? { complete: row.complete } : {})
  })

const entryColumns = "run_id, tenant_id, category, cutoff, started_at, purged, partitions, finished_at, complete"

/**
 * The journal on SQL (PostgreSQL or PGlite), in `lawful_retention_sweeps`,
 * migrated on start-up. Its lock is a session advisory lock, so one process
 * per database schema sweeps at a time.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSql: Layer.Layer<SweepJournal, Migrations.MigrationFailed, SqlClient.SqlClient> = Layer.effect(
  SweepJournal,
  Effect.gen(function*() {
    const client = yield* SqlClient.SqlClient
    const sql = client.withoutTransforms()
    yield* migrate(sql)
    // PGlite (`@lawful/sql-pglite`, which exposes its instance as `pglite`) is one session in one
    // process: the in-process lock is the whole lock, and a reserved connection would hold its only session.
    const embedded = typeof (client as { readonly pglite?: unknown }).pglite === "object"
    const flag = yield* Ref.make(false)
    const fail = (operation: string) => (cause: unknown) =>
      new RetentionStoreError({ operation, cause: Database.safeSqlError(cause) })
    const rows = (statement: Effect.Effect<ReadonlyArray<unknown>, unknown>) =>
      Effect.map(Effect.flatMap(statement, decodeEntryRows), (decoded) => decoded.map(toEntry))
    const lockKey = "hashtext('lawful_retention_sweep/' || current_schema())"
    // Joined into a statement, makes its transaction commit without waiting for the WAL flush.
    const asynchronous = sql`(SELECT set_config('synchronous_commit', 'off', true)) AS async_commit`

    const record = (work: ReadonlyArray<Work>) =>
      work.length === 0 ? Effect.void : sql`
        INSERT INTO lawful_retention_sweeps (tenant_id, category, run_id, cutoff, started_at, purged, partitions)
        SELECT t, c, r, cutoff, started, purged, partitions
        FROM ${asynchronous}, jsonb_to_recordset(${JSON.stringify(work.map((w) => ({
          t: w.key.tenant,
          c: w.key.category,
          r: w.key.runId,
          cutoff: w.cutoff.toISOString(),
          started: w.startedAt.toISOString(),
          purged: w.purged,
          partitions: w.partitions
        })))}::jsonb) AS x(t uuid, c text, r uuid, cutoff timestamptz, started timestamptz, purged bigint, partitions integer)
        ON CONFLICT (tenant_id, category, run_id) DO UPDATE
          SET purged = lawful_retention_sweeps.purged + EXCLUDED.purged,
              partitions = lawful_retention_sweeps.partitions + EXCLUDED.partitions,
              cutoff = LEAST(lawful_retention_sweeps.cutoff, EXCLUDED.cutoff)
          WHERE lawful_retention_sweeps.finished_at IS NULL`.pipe(Effect.asVoid, Effect.mapError(fail("record")))

    // Makes the run the journal's owner. It waits for the transactions of the previous owner that
    // checked their ownership (`fence`): those commit before, and fail after.
    const takeOver = `INSERT INTO lawful_retention_sweep_lease (id, run_id) VALUES (true, $1)
      ON CONFLICT (id) DO UPDATE SET run_id = EXCLUDED.run_id`

    // The run holding the lock, and on PostgreSQL the connection holding it.
    let owner: { readonly runId: string; readonly connection?: SqlConnection.Connection } | undefined

    // The advisory lock belongs to a session: take and release it on one reserved connection. The
    // run takes the journal over on that connection while it holds the lock: a sweep that takes the
    // lock later (once this connection is gone) takes the journal over after it.
    const advisoryLock = (runId: string) =>
      Effect.gen(function*() {
        const connection = yield* sql.reserve
        const [row] = yield* connection.execute(`SELECT pg_try_advisory_lock(${lockKey}) AS locked`, [], undefined)
        if (row?.locked !== true) return undefined
        yield* Effect.addFinalizer(() =>
          connection.execute(`SELECT pg_advisory_unlock(${lockKey})`, [], undefined).pipe(Effect.ignore)
        )
        yield* connection.execute(takeOver, [runId], undefined)
        return connection
      })

    const lost = (runId: string) => () => new SweepLockLost({ runId })
    const fence = (runId: string) =>
      Effect.gen(function*() {
        const held = owner
        if (held === undefined || held.runId !== runId) return yield* new SweepLockLost({ runId })
        // The lock's connection answers: it still holds the lock (a dead one does not answer).
        if (held.connection !== undefined) {
          yield* held.connection.execute("SELECT 1", [], undefined).pipe(Effect.mapError(lost(runId)))
        }
        const [row] = yield* sql<{ run_id: string }>`SELECT run_id FROM lawful_retention_sweep_lease FOR SHARE`.pipe(
          Effect.mapError(fail("fence"))
        )
        if (row?.run_id !== runId) return yield* new SweepLockLost({ runId })
      })
    const inTransaction = <A, E>(effect: Effect.Effect<A, E>) =>
      Database.withTransaction(sql)(effect).pipe(
        Effect.catchIf((error): error is SqlError => error instanceof SqlError, (error) => Effect.fail(fail("transaction")(error)))
      )

    return checked({
      lock: (runId) =>
        Effect.gen(function*() {
          if (!(yield* localLock(flag))) return false
          if (embedded) {
            yield* sql.unsafe(takeOver, [runId])
            owner = { runId }
          } else {
            const connection = yield* advisoryLock(runId)
            if (connection === undefined) return false
            owner = { runId, connection }
          }
          yield* Effect.addFinalizer(() => Effect.sync(() => void (owner = owner?.runId === runId ? undefined : owner)))
          return true
        }).pipe(Effect.mapError(fail("lock"))),
      fence,
      owning: (runId) => (effect) => inTransaction(Effect.zipRight(fence(runId), effect)),
      record,
      // On the journal's client, the purge's statements join the transaction `owning` opens. Its
      // commit is then asynchronous too (the record's `synchronous_commit = off` is the
      // transaction's): a crash of the database server may undo a purge and its record together,
      // never one alone.
      joins: (on) => on === client,
      close: ({ at, category, forgetBefore, outcomes, runId }) =>
        outcomes.length === 0 ? Effect.void : sql`
          WITH closed AS (
            UPDATE lawful_retention_sweeps s SET finished_at = ${at}, complete = x.complete
            FROM ${asynchronous}, jsonb_to_recordset(
              ${JSON.stringify(outcomes.map((o) => ({ t: o.tenant, complete: o.complete })))}::jsonb
            ) AS x(t uuid, complete boolean)
            WHERE s.tenant_id = x.t AND s.category = ${category} AND s.run_id = ${runId} AND s.finished_at IS NULL
            RETURNING 1
          ), forgotten AS (
            DELETE FROM lawful_retention_sweeps
            WHERE tenant_id = ANY(${outcomes.map((o) => o.tenant)}::uuid[]) AND category = ${category}
              AND started_at < ${forgetBefore} AND finished_at IS NOT NULL
            RETURNING 1
          )
          SELECT (SELECT count(*) FROM closed) AS closed, (SELECT count(*) FROM forgotten) AS forgotten`.pipe(
          Effect.asVoid,
          Effect.mapError(fail("close"))
        ),
      // Across tenants, through the small partial index of open entries: recovery is platform work.
      unfinished: rows(sql`SELECT ${sql.literal(entryColumns)} FROM lawful_retention_sweeps
        WHERE finished_at IS NULL ORDER BY started_at`).pipe(Effect.mapError(fail("unfinished"))),
      last: (tenant, category) =>
        rows(sql`SELECT ${sql.literal(entryColumns)} FROM lawful_retention_sweeps
          WHERE tenant_id = ${tenant} AND category = ${category} AND finished_at IS NOT NULL
          ORDER BY started_at DESC LIMIT 1`).pipe(
          Effect.map((found) => Option.fromNullable(found[0])),
          Effect.mapError(fail("last"))
        )
    })
  })
)
