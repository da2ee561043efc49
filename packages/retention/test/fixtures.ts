/**
 * Test categories over real records: a map in memory, tables on SQL.
 *
 * - `test.log`: deleted; 10 h by default, at most 48 h, forever allowed.
 * - `test.preview`: child of the log, redacted; 5 h, at most 24 h.
 * - `test.events`: deleted, at least 1 h, 48 h by default, at most 10 days;
 *   on SQL a table partitioned by day, so whole days are dropped.
 *
 * `faults.failAfter` makes purges fail after that many successful batches.
 */
import { assert } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as AuditStore from "@lawful/audit-trail/AuditStore"
import { AuditStoreError, AuditTrail } from "@lawful/audit-trail/AuditTrail"
import type { AuditEventInvalid } from "@lawful/audit-trail/AuditTrail"
import { auditMemory, auditOver, auditSql } from "@lawful/audit-trail/testing"
import * as Database from "@lawful/core/Database"
import * as KeyStore from "@lawful/core/KeyStore"
import * as MasterKey from "@lawful/core/MasterKey"
import * as RetentionTarget from "@lawful/core/RetentionTarget"
import type { SubjectId } from "@lawful/core/SubjectId"
import type { TenantId } from "@lawful/core/TenantId"
import { databaseLayer, failCommitsOn, spansOf } from "@lawful/core/testing"
import type { Database as TestDatabase } from "@lawful/core/testing"
import * as Vault from "@lawful/core/Vault"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as ArchiveStore from "../src/ArchiveStore.js"
import * as Retention from "../src/Retention.js"

export const LOG = "test.log"
export const PREVIEW = "test.preview"
export const EVENTS = "test.events"
export const categories = [LOG, PREVIEW, EVENTS] as const
export type Category = typeof categories[number]

export interface Declared {
  readonly action: "delete" | "redact"
  readonly allowForever: boolean
  readonly defaultPeriod: Duration.Duration
  readonly minPeriod: Duration.Duration
  readonly maxPeriod: Duration.Duration
  readonly parent?: Category
}

export const declared: Record<Category, Declared> = {
  [LOG]: {
    action: "delete",
    allowForever: true,
    defaultPeriod: Duration.hours(10),
    minPeriod: Duration.zero,
    maxPeriod: Duration.hours(48)
  },
  [PREVIEW]: {
    action: "redact",
    allowForever: false,
    defaultPeriod: Duration.hours(5),
    minPeriod: Duration.zero,
    maxPeriod: Duration.hours(24),
    parent: LOG
  },
  [EVENTS]: {
    action: "delete",
    allowForever: false,
    defaultPeriod: Duration.hours(48),
    minPeriod: Duration.hours(1),
    maxPeriod: Duration.days(10)
  }
}

export interface StoredRecord {
  readonly id: number
  readonly category: Category
  readonly subject: SubjectId | undefined
  readonly at: number
}

export interface Faults {
  /** Purges fail once this many batches succeeded (counted from when it is set). */
  failAfter: number | undefined
  batches: number
  /** Called after each successful batch. */
  afterBatch: Effect.Effect<void>
  /**
   * Called as each batch (with no partition) and each drop (with the partition's name) starts: its
   * tenants' policies and holds are read.
   */
  beforePurge: (partition?: string) => Effect.Effect<void>
}

export class TestRecords extends Context.Tag("test/TestRecords")<TestRecords, {
  readonly write: (tenant: TenantId, record: StoredRecord) => Effect.Effect<void>
  /** The records not yet purged (a redacted preview is purged). */
  readonly live: (tenant: TenantId) => Effect.Effect<ReadonlyArray<StoredRecord>>
  readonly faults: Faults
}>() {}

const newFaults = (): Faults => ({ failAfter: undefined, batches: 0, afterBatch: Effect.void, beforePurge: () => Effect.void })

const withFaults = (id: string, faults: Faults, storage: RetentionTarget.TargetStorage): RetentionTarget.TargetStorage => {
  // Every purge statement, of one tenant or of several, counts as a batch and can be made to fail.
  const faulty = <A>(purge: Effect.Effect<A, RetentionTarget.RetentionTargetError>) =>
    Effect.suspend(() => {
      if (faults.failAfter !== undefined && faults.batches >= faults.failAfter) {
        return Effect.fail(new RetentionTarget.RetentionTargetError({ target: id, operation: "purge", cause: "injected" }))
      }
      return Effect.zipRight(faults.beforePurge(), purge).pipe(
        Effect.tap(() => Effect.sync(() => faults.batches++)),
        Effect.tap(() => faults.afterBatch)
      )
    })
  const { partitions, purgeTenants } = storage
  return {
    ...storage,
    purgeBatch: (tenant, batch) => faulty(storage.purgeBatch(tenant, batch)),
    purgeTenants: purgeTenants === undefined ? undefined : (tenants, batch) => faulty(purgeTenants(tenants, batch)),
    partitions: partitions === undefined ? undefined : {
      ...partitions,
      dropIfOnly: (partition, tenants) =>
        Effect.zipRight(faults.beforePurge(partition.name), partitions.dropIfOnly(partition, tenants))
    }
  }
}

const toTarget = (id: Category, storage: RetentionTarget.TargetStorage): RetentionTarget.RetentionTarget => {
  const { parent, ...declaration } = declared[id]
  return {
    ...storage,
    ...declaration,
    ...(parent !== undefined ? { parent } : {}),
    id,
    description: `${id}, for tests`,
    linksSubjects: true
  }
}

const registerAll = (targets: ReadonlyArray<RetentionTarget.RetentionTarget>) =>
  Effect.flatMap(RetentionTarget.RetentionTargets, (registry) =>
    Effect.forEach(targets, (target) => registry.register(target), { discard: true })).pipe(Effect.orDie)

/** The test categories over a map, registered for the life of the layer. */
export const recordsMemory: Layer.Layer<TestRecords, never, RetentionTarget.RetentionTargets> = Layer.scoped(
  TestRecords,
  Effect.gen(function*() {
    const faults = newFaults()
    const records = new Map<string, StoredRecord & { readonly tenant: TenantId; purged: boolean }>()
    const selected = (tenant: TenantId, category: Category, selection: { cutoff?: Date; excludeSubjects: ReadonlySet<SubjectId> }) =>
      [...records.values()]
        .filter((r) =>
          r.tenant === tenant && r.category === category && !r.purged &&
          (selection.cutoff === undefined || r.at < selection.cutoff.getTime()) &&
          (r.subject === undefined || !selection.excludeSubjects.has(r.subject))
        )
        .sort((a, b) => a.at - b.at)
    const storage = (category: Category): RetentionTarget.TargetStorage => ({
      tenants: Effect.sync(() => [...new Set([...records.values()].filter((r) => r.category === category).map((r) => r.tenant))]),
      purgeBatch: (tenant, batch) =>
        Effect.sync(() => {
          const chosen = selected(tenant, category, batch).slice(0, batch.limit)
          for (const record of chosen) {
            if (declared[category].action === "redact") record.purged = true
            else records.delete(`${tenant}/${record.id}`)
          }
          return { purged: chosen.length, more: chosen.length >= batch.limit }
        }),
      count: (tenant, selection) => Effect.sync(() => selected(tenant, category, selection).length),
      oldest: (tenant, { excludeSubjects }) =>
        Effect.sync(() => Option.fromNullable(selected(tenant, category, { excludeSubjects })[0]).pipe(Option.map((r) => new Date(r.at))))
    })
    yield* registerAll(categories.map((id) => toTarget(id, withFaults(id, faults, storage(id)))))
    return TestRecords.of({
      write: (tenant, record) => Effect.sync(() => void records.set(`${tenant}/${record.id}`, { ...record, tenant, purged: false })),
      live: (tenant) =>
        Effect.sync(() =>
          [...records.values()]
            .filter((r) => r.tenant === tenant && !r.purged)
            .map(({ at, category, id, subject }) => ({ id, category, subject, at }))
            .sort((a, b) => a.id - b.id)
        ),
      faults
    })
  })
)

/** The test categories over two tables (events partitioned by day), registered for the life of the layer. */
export const recordsSql: Layer.Layer<TestRecords, never, RetentionTarget.RetentionTargets | SqlClient.SqlClient> = Layer.scoped(
  TestRecords,
  Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const faults = newFaults()
    yield* sql`CREATE TABLE IF NOT EXISTS test_records (
      tenant_id uuid NOT NULL, id bigint NOT NULL, category text NOT NULL, subject_id uuid,
      recorded_at timestamptz NOT NULL, body text, PRIMARY KEY (tenant_id, id))`.pipe(Effect.orDie)
    yield* sql`CREATE INDEX IF NOT EXISTS test_records_time ON test_records (tenant_id, recorded_at)`.pipe(Effect.orDie)
    yield* sql`CREATE TABLE IF NOT EXISTS test_events (
      tenant_id uuid NOT NULL, id bigint NOT NULL, subject_id uuid, recorded_at timestamptz NOT NULL,
      PRIMARY KEY (tenant_id, id, recorded_at)) PARTITION BY RANGE (recorded_at)`.pipe(Effect.orDie)
    yield* sql`CREATE INDEX IF NOT EXISTS test_events_time ON test_events (tenant_id, recorded_at)`.pipe(Effect.orDie)
    const log = yield* RetentionTarget.sqlTable(LOG, {
      table: "test_records", time: "recorded_at", subject: "subject_id", match: { category: LOG }
    })
    const preview = yield* RetentionTarget.sqlTable(PREVIEW, {
      table: "test_records", time: "recorded_at", subject: "subject_id", match: { category: PREVIEW },
      redact: ["body"]
    })
    const events = yield* RetentionTarget.sqlTable(EVENTS, {
      table: "test_events", time: "recorded_at", subject: "subject_id", dayPartitions: true
    })
    yield* registerAll([
      toTarget(LOG, withFaults(LOG, faults, log)),
      toTarget(PREVIEW, withFaults(PREVIEW, faults, preview)),
      toTarget(EVENTS, withFaults(EVENTS, faults, events))
    ])
    return TestRecords.of({
      write: (tenant, record) =>
        (record.category === EVENTS
          ? RetentionTarget.ensureDayPartitions("test_events", new Date(record.at), new Date(record.at)).pipe(
            Effect.provideService(SqlClient.SqlClient, sql),
            Effect.zipRight(sql`INSERT INTO test_events (tenant_id, id, subject_id, recorded_at)
              VALUES (${tenant}, ${record.id}, ${record.subject ?? null}, ${new Date(record.at)})`)
          )
          : sql`INSERT INTO test_records (tenant_id, id, category, subject_id, recorded_at, body)
              VALUES (${tenant}, ${record.id}, ${record.category}, ${record.subject ?? null}, ${new Date(record.at)}, 'text')`)
          .pipe(Effect.asVoid, Effect.orDie),
      live: (tenant) =>
        sql<{ id: string | number; category: Category; subject_id: SubjectId | null; recorded_at: Date }>`
          SELECT id, category, subject_id, recorded_at FROM test_records
          WHERE tenant_id = ${tenant} AND (category <> ${PREVIEW} OR body IS NOT NULL)
          UNION ALL
          SELECT id, ${EVENTS} AS category, subject_id, recorded_at FROM test_events WHERE tenant_id = ${tenant}
          ORDER BY id`.pipe(
          Effect.map((rows) =>
            rows.map((row) => ({
              id: Number(row.id),
              category: row.category,
              subject: row.subject_id ?? undefined,
              at: row.recorded_at.getTime()
            }))
          ),
          Effect.orDie
        ),
      faults
    })
  })
)

/** A full audit log (with its store exposed, for `AuditEntryDetails`) over the store given. */
export { auditOver }

export const batchSize = 3

/** Retention, the test categories and an audit log, in memory. */
export const memoryStack = Layer.mergeAll(Retention.layerMemory({ batchSize }), recordsMemory).pipe(
  Layer.provideMerge(RetentionTarget.layer),
  Layer.provideMerge(auditMemory)
)

/** Retention, the test categories and an audit log, on the SQL database provided. */
export const sqlStack = Layer.mergeAll(Retention.layerSql({ batchSize }), recordsSql).pipe(
  Layer.provideMerge(RetentionTarget.layer),
  Layer.provideMerge(auditSql)
)

/** On PostgreSQL, the archive's schema is the test run's own, dropped after it. */
export const archiveInTestSchema = Layer.unwrapEffect(
  Effect.map(
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ schema: string }>`SELECT current_schema() AS schema`),
    ([row]) => ArchiveStore.layerSql({ schema: row!.schema })
  )
).pipe(Layer.orDie)

const vault = Vault.layer.pipe(Layer.provide(KeyStore.layerMemory), Layer.provide(MasterKey.layerRandom))

/** `stack` with `archive` registered as a retention target, and a Vault (keys in memory) to seal records. */
export const withArchive = <E, R>(stack: Layer.Layer<any, E, R>, archive: Layer.Layer<ArchiveStore.ArchiveStore, never, any>) =>
  ArchiveStore.registerTarget().pipe(Layer.orDie, Layer.provideMerge(archive), Layer.provideMerge(stack), Layer.merge(vault))

/**
 * `memoryStack` and `sqlStack` whose retention services append through `gatedAudit(action)`, with
 * the `AuditGate` (unarmed) in context.
 */
export const gatedStacks = (action: string) => {
  const gate = Layer.sync(AuditGate, () => ({ armed: undefined }))
  return {
    memory: Layer.mergeAll(Retention.layerMemory({ batchSize }).pipe(Layer.provide(gatedAudit(action))), recordsMemory).pipe(
      Layer.provideMerge(gate),
      Layer.provideMerge(RetentionTarget.layer),
      Layer.provideMerge(auditMemory)
    ),
    sql: Layer.mergeAll(Retention.layerSql({ batchSize }).pipe(Layer.provide(gatedAudit(action))), recordsSql).pipe(
      Layer.provideMerge(gate),
      Layer.provideMerge(RetentionTarget.layer),
      Layer.provideMerge(auditSql)
    )
  }
}

let nextId = 1
/** A fresh record id, unique within the test process. */
export const recordId = () => nextId++

const hour = 60 * 60 * 1000

/** Writes a record of `category`, made `hoursAgo` hours before now, under a fresh id; returns the id. */
export const write = (tenant: TenantId, category: Category, hoursAgo: number, subject?: SubjectId) =>
  Effect.gen(function*() {
    const records = yield* TestRecords
    const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
    const id = recordId()
    yield* records.write(tenant, { id, category, subject, at: now - hoursAgo * hour })
    return id
  })

/** The ids of the tenant's records not yet purged. */
export const liveIds = (tenant: TenantId) =>
  Effect.flatMap(TestRecords, (records) => Effect.map(records.live(tenant), (live) => live.map((r) => r.id)))

/**
 * A category `id` with no records: deleted, 10 hours by default, 48 hours at most, never forever;
 * `declared` overrides any of it.
 */
export const emptyTarget = (
  id: string,
  declared: Partial<RetentionTarget.RetentionTarget> = {}
): RetentionTarget.RetentionTarget => ({
  id,
  description: id,
  action: "delete",
  allowForever: false,
  defaultPeriod: Duration.hours(10),
  maxPeriod: Duration.hours(48),
  linksSubjects: false,
  tenants: Effect.succeed([]),
  purgeBatch: () => Effect.succeed({ purged: 0, more: false }),
  count: () => Effect.succeed(0),
  oldest: () => Effect.succeed(Option.none()),
  ...declared
})

/**
 * Runs `sweep`, and `meanwhile` while the sweep rests after its `k`-th batch: that batch is
 * committed and journalled, and no batch runs. The `k`-th batch moves the clock a millisecond, so
 * the sweeper, which paces its batches, rests until the clock moves again; `meanwhile` then runs,
 * and the clock moves on. A sweep with no rest after its `k`-th batch runs to its end first
 * (`resting` is then false).
 */
export const midSweep = <S, E1, R1, A, E2, R2>(
  k: number,
  sweep: Effect.Effect<S, E1, R1>,
  meanwhile: Effect.Effect<A, E2, R2>
) =>
  Effect.gen(function*() {
    const records = yield* TestRecords
    let batches = 0
    records.faults.afterBatch = Effect.suspend(() => ++batches === k ? TestClock.adjust(Duration.millis(1)) : Effect.void)
    const asleep = Chunk.size(yield* TestClock.sleeps())
    const fiber = yield* Effect.fork(sweep)
    const resting = yield* Effect.zipWith(
      TestClock.sleeps(),
      Fiber.poll(fiber),
      (sleeps, done) => Chunk.size(sleeps) > asleep ? true : Option.isSome(done) ? false : undefined
    ).pipe(Effect.zipLeft(Effect.yieldNow()), Effect.repeat({ until: (state) => state !== undefined }))
    const during = yield* meanwhile
    yield* TestClock.adjust(Duration.millis(1))
    const result = yield* Fiber.join(fiber)
    return { result, during, resting: resting === true }
  }).pipe(Effect.ensuring(Effect.map(TestRecords, (records) => {
    records.faults.afterBatch = Effect.void
  })))

/**
 * The gate of `gatedAudit`: armed, the next append of an entry of its action completes `reached`,
 * waits for `go`, then fails (or, with `then: "append"`, appends as usual); it disarms itself.
 */
export class AuditGate extends Context.Tag("test/retention/AuditGate")<AuditGate, {
  armed: {
    readonly reached: Deferred.Deferred<void>
    readonly go: Deferred.Deferred<void>
    readonly then?: "fail" | "append"
  } | undefined
}>() {}

/** The audit trail with an `AuditGate` on the appends of entries of `action`. */
export const gatedAudit = (action: string) =>
  Layer.effect(
    AuditTrail,
    Effect.gen(function*() {
      const real = yield* AuditTrail
      const gate = yield* AuditGate
      const held = <A>(events: ReadonlyArray<{ readonly action: string }>, append: Effect.Effect<A, AuditStoreError | AuditEventInvalid>) => {
        const armed = gate.armed
        if (armed === undefined || !events.some((event) => event.action === action)) return append
        gate.armed = undefined
        return Deferred.succeed(armed.reached, undefined).pipe(
          Effect.zipRight(Deferred.await(armed.go)),
          Effect.zipRight(armed.then === "append" ? append : Effect.fail(new AuditStoreError({ operation: "append", cause: "injected" })))
        )
      }
      return AuditTrail.of({
        append: (tenant, event) => Effect.suspend(() => held([event], real.append(tenant, event))),
        appendAll: (tenant, events) => Effect.suspend(() => held(events, real.appendAll(tenant, events)))
      })
    })
  )

/**
 * Makes the sweep journal refuse to record work of `tenant` (a trigger on its table) for the scope:
 * every `record` that names the tenant fails.
 */
export const refuseRecords = (tenant: TenantId) =>
  Effect.flatMap(SqlClient.SqlClient, (client) => {
    const sql = client.withoutTransforms()
    const name = `refuse_${tenant.replaceAll("-", "")}`
    return Effect.acquireRelease(
      sql.unsafe(`
        CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$;
        CREATE TRIGGER ${name} BEFORE INSERT ON lawful_retention_sweeps FOR EACH ROW
        WHEN (NEW.tenant_id = '${tenant}') EXECUTE FUNCTION ${name}()`),
      () => Effect.orDie(sql.unsafe(`DROP TRIGGER ${name} ON lawful_retention_sweeps; DROP FUNCTION ${name}()`))
    )
  })

/**
 * A second database of the backend of the `SqlClient` in context, for the scope: another PGlite, or
 * another schema with a pool of its own on PostgreSQL. Its transactions and connections are apart
 * from those of the database in context, as those of an archive or a log on a URL of its own are.
 */
export const otherDatabase: Effect.Effect<Context.Context<TestDatabase>, never, SqlClient.SqlClient | Scope.Scope> =
  Effect.gen(function*() {
    const main = yield* SqlClient.SqlClient
    const embedded = typeof (main as { readonly pglite?: unknown }).pglite === "object"
    return yield* Layer.build(databaseLayer(embedded ? "pglite" : "postgres"))
  })

/**
 * The records of `REMOTE`, a category on a database of its own: a second database of the test's
 * backend (another PGlite, or another schema with a pool of its own on PostgreSQL), so that its
 * batches commit apart from the sweep journal's transactions, as an archive on
 * `ARCHIVE_DATABASE_URL` does. Its storage keeps its statements out of a caller's transaction
 * (`Database.outsideTransactionAll`), as core asks of a target on a client of its own, and names
 * its own client. Its table has a time index, so tenants are purged together (`purgeTenants`).
 * `beforeBatch` runs as each batch starts, before it deletes anything.
 */
export class RemoteRecords extends Context.Tag("test/retention/RemoteRecords")<RemoteRecords, {
  readonly write: (tenant: TenantId, hoursAgo: number) => Effect.Effect<void>
  readonly left: (tenant: TenantId) => Effect.Effect<number>
  beforeBatch: Effect.Effect<void>
}>() {}

export const REMOTE = "test.remote"

let nextRemote = 1

/** `REMOTE` registered, on a second database of the backend of the `SqlClient` in context. */
export const remoteRecords: Layer.Layer<RemoteRecords, never, RetentionTarget.RetentionTargets | SqlClient.SqlClient> =
  Layer.scoped(
    RemoteRecords,
    Effect.gen(function*() {
      const client = Context.get(yield* otherDatabase, SqlClient.SqlClient)
      const sql = client.withoutTransforms()
      yield* sql`CREATE TABLE IF NOT EXISTS test_remote (
        tenant_id uuid NOT NULL, id bigint NOT NULL, recorded_at timestamptz NOT NULL, PRIMARY KEY (tenant_id, id))`
      yield* sql`CREATE INDEX IF NOT EXISTS test_remote_tenant_time ON test_remote (tenant_id, recorded_at)`
      yield* sql`CREATE INDEX IF NOT EXISTS test_remote_time ON test_remote (recorded_at)`
      const storage = yield* RetentionTarget.sqlTable(REMOTE, { table: "test_remote", time: "recorded_at" }).pipe(
        Effect.provideService(SqlClient.SqlClient, client)
      )
      const remote: Context.Tag.Service<RemoteRecords> = {
        write: (tenant, hoursAgo) =>
          Effect.flatMap(Effect.clockWith((clock) => clock.currentTimeMillis), (now) =>
            sql`INSERT INTO test_remote (tenant_id, id, recorded_at)
              VALUES (${tenant}, ${nextRemote++}, ${new Date(now - hoursAgo * hour)})`).pipe(Effect.asVoid, Effect.orDie),
        left: (tenant) =>
          sql<{ n: number }>`SELECT count(*)::int AS n FROM test_remote WHERE tenant_id = ${tenant}`.pipe(
            Effect.map(([row]) => row!.n),
            Effect.orDie
          ),
        beforeBatch: Effect.void
      }
      const gated = <A, E>(purge: Effect.Effect<A, E>) => Effect.zipRight(Effect.suspend(() => remote.beforeBatch), purge)
      const gatedStorage: RetentionTarget.TargetStorage = {
        ...storage,
        purgeBatch: (tenant, batch) => gated(storage.purgeBatch(tenant, batch)),
        purgeTenants: (tenants, batch) => gated(storage.purgeTenants!(tenants, batch))
      }
      yield* registerAll([{
        ...Database.outsideTransactionAll(gatedStorage),
        id: REMOTE,
        description: "records on a database of their own, for tests",
        action: "delete",
        allowForever: false,
        defaultPeriod: Duration.hours(10),
        maxPeriod: Duration.hours(48),
        linksSubjects: false
      }])
      return remote
    }).pipe(Effect.orDie)
  )

/**
 * A full audit log (`auditOver`) on a second database of the backend of the `SqlClient` in context
 * (another PGlite, or another schema with a pool of its own on PostgreSQL), its store keeping its
 * statements out of a caller's transaction (`Database.outsideTransactionAll`), as a log on a
 * database of its own must: its entries commit apart from the retention stores' transactions.
 */
export const auditElsewhere = Layer.unwrapScoped(
  Effect.gen(function*() {
    const database = yield* otherDatabase
    const store = Layer.effect(AuditStore.AuditStore, Effect.map(AuditStore.AuditStore, Database.outsideTransactionAll)).pipe(
      Layer.provide(AuditStore.layerSql),
      Layer.provide(Layer.succeedContext(database)),
      Layer.orDie
    )
    return auditOver(store)
  })
)

/** `sqlStack` with its audit log on a database of its own (`auditElsewhere`). */
export const sqlStackAuditElsewhere = Layer.mergeAll(Retention.layerSql({ batchSize }), recordsSql).pipe(
  Layer.provideMerge(RetentionTarget.layer),
  Layer.provideMerge(auditElsewhere)
)

/**
 * Makes every commit of a transaction that wrote a row of `tenant` in `table` fail (core's
 * `failCommitsOn`: a deferred constraint trigger, which raises at COMMIT; on `UPDATE` only, with
 * `on: "UPDATE"`), for the scope.
 */
export const failCommitsOf = (
  tenant: TenantId,
  table: "lawful_retention_policies" | "lawful_retention_holds",
  on: "INSERT" | "UPDATE" = "INSERT"
) => failCommitsOn({ table, column: "tenant_id", value: tenant, on })

/** Bad input: an address, put where an id goes. No error may quote it. */
export const address = "ann.example@example.com"

/** A value as an untyped caller passes it. */
export const untyped = <A>(value: unknown): A => value as A

/** How `attempt` ends, built inside the effect: a throw is a defect, not a test that stops. */
const exitOf = <A>(attempt: () => Effect.Effect<A, unknown>) => Effect.exit(Effect.suspend(attempt))

/**
 * The error `attempt` fails with (built inside, so a throw is a defect), asserting it is a failure,
 * not a success nor a defect, and that it quotes no `address`.
 */
export const refusal = (what: string, attempt: () => Effect.Effect<unknown, unknown>) =>
  Effect.map(exitOf(attempt), (exit) => {
    const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
    assert.isTrue(Option.isSome(failure), `${what}: ${Exit.isSuccess(exit) ? "accepted" : Cause.pretty(exit.cause)}`)
    const error = Option.getOrThrow(failure) as { readonly _tag: string; readonly message: string }
    assert.notInclude(JSON.stringify(error) + error.message, address, what)
    return error
  })

/** What `attempt` succeeds with (built inside, so a throw is a defect); a failure fails the test. */
export const answer = <A>(what: string, attempt: () => Effect.Effect<A, unknown>) =>
  Effect.map(exitOf(attempt), (exit) => {
    assert.isTrue(Exit.isSuccess(exit), `${what}: ${Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""}`)
    return (exit as Exit.Success<A, unknown>).value
  })

/** The names and attributes of the spans `effect` opens (whatever it ends with), as JSON. */
export const spanAttributes = (effect: Effect.Effect<unknown, unknown>) =>
  Effect.map(spansOf(effect), (spans) => {
    assert.isAbove(spans.length, 0)
    return JSON.stringify(spans.map((span) => [span.name, [...span.attributes]]))
  })
