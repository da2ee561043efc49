/**
 * Review 17b: batches and drops of a category on another database, run inside the sweep journal's
 * transaction.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert } from "@effect/vitest"
import { AuditLog } from "@lawful/audit-trail/AuditLog"
import * as RetentionTarget from "@lawful/core/RetentionTarget"
import * as TenantId from "@lawful/core/TenantId"
import { sqlSuite } from "@lawful/core/testing"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { RetentionStoreError } from "../src/RetentionPolicy.js"
import * as Sweeper from "../src/Sweeper.js"
import { SweepJournal } from "../src/SweepJournal.js"
import { batchSize, otherDatabase, sqlStack } from "./fixtures.js"

const hour = 60 * 60 * 1000
const BARE = "test.bare"
const DAYS = "test.bare-days"
type Where = "main" | "other"

/**
 * `BARE` (a plain table with a time index) and `DAYS` (a table partitioned by day), built with
 * `sqlTable` on the client of a second database and NOT wrapped in `Database.outsideTransactionAll`,
 * with tables of the same names on the main database (the journal's). `purging` runs as each batch
 * and each drop starts.
 */
class BareRecords extends Context.Tag("test/retention/BareRecords")<BareRecords, {
  readonly write: (where: Where, category: typeof BARE | typeof DAYS, tenant: TenantId.TenantId, hoursAgo: number) => Effect.Effect<void>
  readonly left: (where: Where, category: typeof BARE | typeof DAYS, tenant: TenantId.TenantId) => Effect.Effect<number>
  purging: Effect.Effect<void>
}>() {}

let nextId = 1

const bareRecords: Layer.Layer<BareRecords, never, RetentionTarget.RetentionTargets | SqlClient.SqlClient> = Layer.scoped(
  BareRecords,
  Effect.gen(function*() {
    const main = yield* SqlClient.SqlClient
    const other = Context.get(yield* otherDatabase, SqlClient.SqlClient)
    const clients = { main: main.withoutTransforms(), other: other.withoutTransforms() }
    for (const sql of Object.values(clients)) {
      yield* sql`CREATE TABLE IF NOT EXISTS test_bare (
        tenant_id uuid NOT NULL, id bigint NOT NULL, recorded_at timestamptz NOT NULL, PRIMARY KEY (tenant_id, id))`
      yield* sql`CREATE INDEX IF NOT EXISTS test_bare_time ON test_bare (recorded_at)`
      yield* sql`CREATE TABLE IF NOT EXISTS test_bare_days (
        tenant_id uuid NOT NULL, id bigint NOT NULL, recorded_at timestamptz NOT NULL,
        PRIMARY KEY (tenant_id, id, recorded_at)) PARTITION BY RANGE (recorded_at)`
      yield* sql`CREATE INDEX IF NOT EXISTS test_bare_days_time ON test_bare_days (tenant_id, recorded_at)`
    }
    const onOther = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) => Effect.provideService(effect, SqlClient.SqlClient, other)
    const bare = yield* onOther(RetentionTarget.sqlTable(BARE, { table: "test_bare", time: "recorded_at" }))
    const days = yield* onOther(RetentionTarget.sqlTable(DAYS, { table: "test_bare_days", time: "recorded_at", dayPartitions: true }))
    const records: Context.Tag.Service<BareRecords> = {
      write: (where, category, tenant, hoursAgo) =>
        Effect.gen(function*() {
          const sql = clients[where]
          const at = new Date((yield* Effect.clockWith((clock) => clock.currentTimeMillis)) - hoursAgo * hour)
          if (category === BARE) {
            return yield* sql`INSERT INTO test_bare (tenant_id, id, recorded_at) VALUES (${tenant}, ${nextId++}, ${at})`
          }
          yield* Effect.provideService(RetentionTarget.ensureDayPartitions("test_bare_days", at, at), SqlClient.SqlClient, sql)
          yield* sql`INSERT INTO test_bare_days (tenant_id, id, recorded_at) VALUES (${tenant}, ${nextId++}, ${at})`
        }).pipe(Effect.asVoid, Effect.orDie),
      left: (where, category, tenant) =>
        clients[where]<{ n: number }>`SELECT count(*)::int AS n FROM ${clients[where](category === BARE ? "test_bare" : "test_bare_days")}
          WHERE tenant_id = ${tenant}`.pipe(Effect.map(([row]) => row!.n), Effect.orDie),
      purging: Effect.void
    }
    const hooked = <A, E>(purge: Effect.Effect<A, E>) => Effect.zipRight(Effect.suspend(() => records.purging), purge)
    const declared = {
      action: "delete",
      allowForever: false,
      defaultPeriod: Duration.hours(10),
      maxPeriod: Duration.hours(48),
      linksSubjects: false
    } as const
    const registry = yield* RetentionTarget.RetentionTargets
    yield* registry.register({
      ...bare,
      ...declared,
      id: BARE,
      description: "records on another database, its statements not kept out of a caller's transaction",
      purgeBatch: (tenant, batch) => hooked(bare.purgeBatch(tenant, batch)),
      purgeTenants: (tenants, batch) => hooked(bare.purgeTenants!(tenants, batch))
    })
    yield* registry.register({
      ...days,
      ...declared,
      id: DAYS,
      description: "records partitioned by day on another database, as BARE",
      partitions: { ...days.partitions!, dropIfOnly: (partition, tenants) => hooked(days.partitions!.dropIfOnly(partition, tenants)) }
    })
    return records
  }).pipe(Effect.orDie)
)

const receipts = (tenant: TenantId.TenantId) =>
  Effect.flatMap(AuditLog, (log) =>
    Effect.map(log.query(tenant, { actionPrefix: "retention.purged", limit: 1000 }), (page) =>
      page.entries.map((entry) => Option.getOrThrow(entry.details).value)))

sqlSuite("Review17b a category on another database, its storage not wrapped", bareRecords.pipe(Layer.provideMerge(sqlStack)), (it) => {
  // The batches of a category on another database run inside the journal's transaction, whose
  // connection `@effect/sql` hands to every client: a target on its own client that did not keep
  // its statements out of it (`Database.outsideTransaction`) purged the journal's database instead,
  // here a table of the same name. The sweeper now keeps them out itself.
  it.effect("a batch of a target on its own client purges its own database, alone or with other tenants", () =>
    Effect.gen(function*() {
      const sweeper = yield* Sweeper.Sweeper
      const records = yield* BareRecords
      yield* TestClock.adjust(Duration.days(1))
      const alone = yield* TenantId.make
      const together = [yield* TenantId.make, yield* TenantId.make] as const
      for (const tenant of [alone, ...together]) {
        for (const where of ["main", "other"] as const) {
          for (let i = 0; i < 4; i++) yield* records.write(where, BARE, tenant, 11 + i)
          yield* records.write(where, BARE, tenant, 1)
        }
      }
      for (const tenants of [[alone], together]) {
        const result = yield* sweeper.sweep({ tenants, categories: [BARE] })
        assert.deepStrictEqual(result.failures, [])
        for (const tenant of tenants) {
          assert.strictEqual(yield* records.left("other", BARE, tenant), 1, "the expired records go from the target's database")
          assert.strictEqual(yield* records.left("main", BARE, tenant), 5, "and nothing from the journal's")
          assert.deepStrictEqual((yield* receipts(tenant)).map((details) => details.count), [4])
        }
      }
    }))

  it.effect("a partition of a target on its own client is dropped on its own database", () =>
    Effect.gen(function*() {
      const sweeper = yield* Sweeper.Sweeper
      const records = yield* BareRecords
      yield* TestClock.adjust(Duration.days(3))
      const tenant = yield* TenantId.make
      for (const where of ["main", "other"] as const) {
        yield* records.write(where, DAYS, tenant, 72)
        yield* records.write(where, DAYS, tenant, 72)
        yield* records.write(where, DAYS, tenant, 1)
      }
      const result = yield* sweeper.sweep({ tenants: [tenant], categories: [DAYS] })
      assert.deepStrictEqual(result.failures, [])
      assert.strictEqual(yield* records.left("other", DAYS, tenant), 1, "the expired partition goes from the target's database")
      assert.strictEqual(yield* records.left("main", DAYS, tenant), 3, "and nothing from the journal's")
      assert.deepStrictEqual(
        (yield* receipts(tenant)).map((details) => [details.count, details.partitionsDropped]),
        [[2, 1]]
      )
    }))
})

/**
 * The sweeper over the journal in context, whose `owning` fails once, armed, after a transaction
 * in which `purged` was set (by the target, as its batch or drop starts): as if the journal's
 * transaction around a purge on another database failed to commit once the purge had.
 */
const failingAfterPurge = (purge: { armed: boolean; purged: boolean }) =>
  Sweeper.make({ batchSize }).pipe(
    Effect.updateService(SweepJournal, (journal) =>
      SweepJournal.of({
        ...journal,
        owning: (runId) => (effect) =>
          journal.owning(runId)(Effect.zipLeft(
            Effect.zipRight(Effect.sync(() => void (purge.purged = false)), effect),
            Effect.suspend(() => {
              if (!purge.armed || !purge.purged) return Effect.void
              purge.armed = false
              return Effect.fail(new RetentionStoreError({ operation: "commit", cause: "injected" }))
            })
          ))
      }))
  )

sqlSuite("Review17b the journal's transaction fails after a purge elsewhere", bareRecords.pipe(Layer.provideMerge(sqlStack)), (it) => {
  // Only here do the records purged by a batch or a drop whose journal transaction failed count:
  // committed on their own database, they are gone all the same.
  it.effect("a batch committed elsewhere counts in the receipt when the journal's transaction around it fails", () =>
    Effect.gen(function*() {
      const records = yield* BareRecords
      const purge = { armed: false, purged: false }
      const sweeper = yield* failingAfterPurge(purge)
      records.purging = Effect.sync(() => void (purge.purged = true))
      yield* TestClock.adjust(Duration.days(1))
      const alone = yield* TenantId.make
      const together = [yield* TenantId.make, yield* TenantId.make] as const
      for (const tenant of [alone, ...together]) {
        for (let i = 0; i < 4; i++) yield* records.write("other", BARE, tenant, 11 + i)
        yield* records.write("other", BARE, tenant, 1)
      }
      // Alone, a batch of 3 of its 4 expired records; together, a batch of the 3 oldest of both.
      for (const tenants of [[alone], together]) {
        purge.armed = true
        const failed = yield* sweeper.sweep({ tenants, categories: [BARE] })
        assert.isFalse(purge.armed, "the journal's transaction around the batch failed")
        assert.deepStrictEqual(
          failed.failures.map(({ category, error, tenant }) => [category, tenant, error._tag]),
          tenants.map((tenant) => [BARE, tenant, "RetentionStoreError"])
        )
        const left = yield* Effect.forEach(tenants, (tenant) => records.left("other", BARE, tenant))
        const purged = tenants.map((tenant, i) => failed.categories.find((c) => c.tenantId === tenant)!.purged + left[i]!)
        assert.deepStrictEqual(purged, tenants.map(() => 5), "the receipt counts what the batch purged")
        assert.strictEqual(left.reduce((n, l) => n + l, 0), tenants.length * 5 - 3)
        for (const [i, tenant] of tenants.entries()) {
          assert.deepStrictEqual(
            (yield* receipts(tenant)).map((details) => [details.count, details.complete]),
            [[5 - left[i]!, false]]
          )
        }

        const after = yield* sweeper.sweep({ tenants, categories: [BARE] })
        assert.deepStrictEqual(after.failures, [])
        for (const tenant of tenants) {
          assert.strictEqual(yield* records.left("other", BARE, tenant), 1)
          const counted = (yield* receipts(tenant)).reduce((n, details) => n + (details.count as number), 0)
          assert.strictEqual(counted, 4, "every record purged is counted once")
        }
      }
    }).pipe(Effect.ensuring(Effect.map(BareRecords, (records) => {
      records.purging = Effect.void
    }))))

  it.effect("a partition dropped elsewhere counts in the receipt when the journal's transaction around it fails", () =>
    Effect.gen(function*() {
      const records = yield* BareRecords
      const purge = { armed: true, purged: false }
      const sweeper = yield* failingAfterPurge(purge)
      records.purging = Effect.sync(() => void (purge.purged = true))
      yield* TestClock.adjust(Duration.days(3))
      const tenant = yield* TenantId.make
      yield* records.write("other", DAYS, tenant, 72)
      yield* records.write("other", DAYS, tenant, 72)
      yield* records.write("other", DAYS, tenant, 1)
      const failed = yield* sweeper.sweep({ tenants: [tenant], categories: [DAYS] })
      assert.isFalse(purge.armed, "the journal's transaction around the drop failed")
      assert.deepStrictEqual(failed.failures.map(({ category, error, tenant }) => [category, tenant, error._tag]), [
        [DAYS, undefined, "RetentionStoreError"]
      ])
      assert.strictEqual(yield* records.left("other", DAYS, tenant), 1, "the partition is dropped")
      assert.deepStrictEqual(
        failed.categories.map((c) => [c.tenantId, c.purged, c.partitionsDropped]),
        [[tenant, 2, 1]]
      )
      assert.deepStrictEqual(
        (yield* receipts(tenant)).map((details) => [details.count, details.partitionsDropped]),
        [[2, 1]],
        "the receipt counts the drop"
      )
    }).pipe(Effect.ensuring(Effect.map(BareRecords, (records) => {
      records.purging = Effect.void
    }))))
})
