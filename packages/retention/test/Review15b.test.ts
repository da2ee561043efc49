/**
 * Review 15b: defects found in review, each with the test that failed before its fix.
 */
import { assert, describe, layer } from "@effect/vitest"
import type { Vitest } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Statement from "@effect/sql/Statement"
import * as PgClient from "@effect/sql-pg/PgClient"
import type { Actor } from "@lawful/audit-trail/AuditEvent"
import * as AuditStore from "@lawful/audit-trail/AuditStore"
import { AuditTrail } from "@lawful/audit-trail/AuditTrail"
import * as RetentionTarget from "@lawful/core/RetentionTarget"
import * as TenantId from "@lawful/core/TenantId"
import * as Vault from "@lawful/core/Vault"
import { contractSuite, pgliteLayer, postgresUrl, sqlSuite } from "@lawful/core/testing"
import type { Backend } from "@lawful/core/testing"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Str from "effect/String"
import * as TestServices from "effect/TestServices"
import { randomBytes } from "node:crypto"
import * as ArchiveStore from "../src/ArchiveStore.js"
import { LegalHolds } from "../src/LegalHold.js"
import * as Retention from "../src/Retention.js"
import { RetentionPolicies } from "../src/RetentionPolicy.js"
import { SweepJournal } from "../src/SweepJournal.js"
import { Sweeper } from "../src/Sweeper.js"
import {
  AuditGate,
  auditOver,
  batchSize,
  gatedStacks,
  LOG,
  PREVIEW,
  recordId,
  recordsSql,
  refuseRecords,
  sqlStack,
  TestRecords
} from "./fixtures.js"

const staff: Actor = { kind: "staff", id: "staff-15b" }
const hour = 60 * 60 * 1000

// Until `fiber` is done or waits for the change whose entry is held back: on PostgreSQL, until it
// waits for the advisory lock the change holds (a sweep's read of policies and holds takes it
// shared); in memory and on PGlite, where a fibre that does not wait is done within a few turns of
// the scheduler (a PGlite statement completes without a turn of the event loop), for at most 1000
// turns. A sweep that reads the change before its entry is in is done by then.
const untilDoneOrWaiting = (backend: Backend, fiber: Fiber.Fiber<unknown, unknown>) =>
  Effect.gen(function*() {
    const sql = yield* Effect.serviceOption(SqlClient.SqlClient)
    if (backend === "postgres" && Option.isSome(sql)) {
      const waiting = sql.value<{ n: number }>`SELECT count(*)::int AS n FROM pg_locks
        WHERE locktype = 'advisory' AND NOT granted
          AND objid::bigint = (hashtext('lawful_retention_holds/' || current_schema())::bigint & 4294967295)`
      yield* Effect.zipWith(waiting, Fiber.poll(fiber), ([row], done) => row!.n > 0 || Option.isSome(done)).pipe(
        Effect.repeat({ until: (stop) => stop })
      )
      return
    }
    for (let i = 0; i < 1000 && Option.isNone(yield* Fiber.poll(fiber)); i++) yield* Effect.yieldNow()
  })

const stacks = gatedStacks("retention.policy.changed")

contractSuite("Review15b policies", {
  memory: stacks.memory,
  // The database itself, for the test's look at PostgreSQL's locks.
  sql: stacks.sql.pipe(Layer.provideMerge(Layer.effect(SqlClient.SqlClient, SqlClient.SqlClient)))
}, (it, backend) => {
  // The change was saved before its audit entry, and undone when the entry failed: a sweep in
  // between purged under the shorter policy, which as far as the caller and the log know was never set.
  it.effect("a policy change whose audit entry fails never lets a sweep purge what the old policy keeps", () =>
    Effect.gen(function*() {
      const policies = yield* RetentionPolicies
      const sweeper = yield* Sweeper
      const records = yield* TestRecords
      const gate = yield* AuditGate
      const tenant = yield* TenantId.make
      const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
      // Kept by the tenant's two days, expired under the hour the failed change asks for.
      yield* policies.set(tenant, { [LOG]: "2 days" }, staff)
      const id = recordId()
      yield* records.write(tenant, { id, category: LOG, subject: undefined, at: now - 20 * hour })
      const reached = yield* Deferred.make<void>()
      const go = yield* Deferred.make<void>()
      gate.armed = { reached, go }
      const setting = yield* Effect.fork(Effect.either(policies.set(tenant, { [LOG]: "1 hours", [PREVIEW]: "1 hours" }, staff)))
      yield* Deferred.await(reached)
      // A sweep while the change's audit entry is being appended.
      const sweeping = yield* Effect.fork(sweeper.sweep({ tenants: [tenant], categories: [LOG] }))
      yield* untilDoneOrWaiting(backend, sweeping)
      yield* Deferred.succeed(go, undefined)
      const set = yield* Fiber.join(setting)
      const swept = yield* Fiber.join(sweeping)
      assert.isTrue(Either.isLeft(set) && set.left._tag === "AuditStoreError", String(Either.isLeft(set) ? set.left : "set"))
      assert.deepStrictEqual(swept.failures, [])
      assert.deepStrictEqual(
        swept.categories.map((c) => c.purged),
        [0],
        "the sweep purged nothing the old policy keeps"
      )
      assert.deepStrictEqual((yield* records.live(tenant)).map((r) => r.id), [id])
      const kept = yield* policies.get(tenant, LOG)
      assert.deepStrictEqual(
        [kept.source, Duration.toHours(kept.period)],
        ["tenant", 48],
        "the failed change leaves the old policy"
      )
    }))
})

// The archive in the database's current schema (on PostgreSQL the test run's own, dropped after it),
// registered as a category beside the test ones.
const archiveStack = ArchiveStore.registerTarget().pipe(
  Layer.orDie,
  Layer.provideMerge(Layer.unwrapEffect(
    Effect.map(
      Effect.flatMap(SqlClient.SqlClient, (sql) => sql.withoutTransforms()<{ schema: string }>`SELECT current_schema() AS schema`),
      ([row]) => ArchiveStore.layerSql({ schema: row!.schema })
    )
  ).pipe(Layer.orDie)),
  Layer.provideMerge(sqlStack)
)

// PostgreSQL from `TEST_DATABASE_URL` in a schema of its own, through a client with naming
// transforms (camelCase in the application, snake_case in the database), as an application may have.
const postgresWithTransforms: Layer.Layer<SqlClient.SqlClient> = Layer.unwrapScoped(
  Effect.gen(function*() {
    if (!postgresUrl) return yield* Effect.dieMessage("TEST_DATABASE_URL is not set")
    const schema = `lawful_test_${randomBytes(8).toString("hex")}`
    const admin = Context.get(
      yield* Layer.build(PgClient.layer({ url: Redacted.make(postgresUrl), maxConnections: 1 })),
      SqlClient.SqlClient
    )
    yield* Effect.acquireRelease(
      admin.unsafe(`CREATE SCHEMA ${schema}`),
      () => admin.unsafe(`DROP SCHEMA ${schema} CASCADE`).pipe(Effect.orDie)
    )
    const url = new URL(postgresUrl)
    url.searchParams.set("options", `-c search_path=${schema}`)
    return PgClient.layer({
      url: Redacted.make(url.toString()),
      maxConnections: 8,
      transformQueryNames: Str.camelToSnake,
      transformResultNames: Str.snakeToCamel
    })
  })
).pipe(Layer.orDie)

const archiveSuite = (it: Vitest.MethodsNonLive<Layer.Layer.Success<typeof archiveStack> | SqlClient.SqlClient>) => {
  // `makeSql` gave its table's storage the client without transforms: with naming transforms that is
  // another object than the journal's client, so its batches lost their transaction with the journal's
  // record (and with the read of holds and policies that `place` and `set` wait for).
  it.effect("archive batches commit with their journal record, whatever the client's naming transforms", () =>
    Effect.gen(function*() {
      const archive = yield* ArchiveStore.ArchiveStore
      const policies = yield* RetentionPolicies
      const sweeper = yield* Sweeper
      const journal = yield* SweepJournal
      const tenant = yield* TenantId.make
      const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
      yield* policies.set(tenant, { [ArchiveStore.targetId]: "1 days" }, staff)
      for (let n = 0; n < 4; n++) {
        yield* archive.put(tenant, { kind: "invoice", sealed: Vault.Sealed.make(new Uint8Array([n])), archivedAt: new Date(now - 48 * hour - n) })
      }
      const kept = yield* archive.put(tenant, { kind: "invoice", sealed: Vault.Sealed.make(new Uint8Array([9])) })
      const sweep = sweeper.sweep({ tenants: [tenant], categories: [ArchiveStore.targetId] })

      const refused = yield* Effect.scoped(Effect.zipRight(refuseRecords(tenant), sweep))
      assert.deepStrictEqual(refused.failures.map((f) => [f.tenant, f.error._tag]), [[tenant, "RetentionStoreError"]])
      assert.strictEqual((yield* archive.list(tenant)).length, 5, "a batch whose journal record fails leaves every archived record")

      const result = yield* sweep
      assert.deepStrictEqual(result.failures, [])
      assert.deepStrictEqual((yield* archive.list(tenant)).map((r) => r.archiveId), [kept.archiveId])
      assert.isTrue(journal.joins(archive.storage.client), "the archive's batches run in the journal's transaction")
    }))
}

sqlSuite("Review15b archives", archiveStack, (it) => archiveSuite(it))

if (postgresUrl) {
  describe("Review15b archives (PostgreSQL, a client with naming transforms)", () => {
    layer(archiveStack.pipe(Layer.provideMerge(postgresWithTransforms)), { timeout: 120_000 })((it) => {
      it.effect("the client has naming transforms", () =>
        Effect.map(SqlClient.SqlClient, (sql) => assert.notStrictEqual(sql.withoutTransforms(), sql)))
      archiveSuite(it)
    })
  })
}

// An audit trail that sends a notification (`PgClient.notify`) as it appends. Inside a change's
// transaction on PGlite, one session, the notification joins that transaction when its connection is
// the client's own; it takes the session otherwise, which the transaction holds until it ends.
const notifyingAudit = Layer.effect(
  AuditTrail,
  Effect.gen(function*() {
    const real = yield* AuditTrail
    const pg = yield* PgClient.PgClient
    const notify = pg.notify("lawful_review15b", "appended").pipe(Effect.orDie)
    return AuditTrail.of({
      append: (tenant, event) => Effect.zipRight(notify, real.append(tenant, event)),
      appendAll: (tenant, events) => Effect.zipRight(notify, real.appendAll(tenant, events))
    })
  })
)

const notifyingStack = Layer.mergeAll(Retention.layerSql({ batchSize }).pipe(Layer.provide(notifyingAudit)), recordsSql).pipe(
  Layer.provideMerge(RetentionTarget.layer),
  Layer.provideMerge(auditOver(AuditStore.layerSql))
)

// Within at most 20 seconds of real time: a change whose append waits for its own transaction never ends.
const promptly = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  TestServices.provideLive(Effect.timeoutFail(effect, { duration: "20 seconds", onTimeout: () => "never ended" as const }))

// On PGlite only: `@effect/sql-pg` sends a notification on a connection of its pool, never in a
// transaction (and as a statement PostgreSQL does not take, `NOTIFY` with a parameter).
describe("Review15b an audit trail that notifies as it appends (PGlite)", () => {
  layer(notifyingStack.pipe(Layer.provideMerge(pgliteLayer)), { timeout: 120_000 })((it) => {
    // Watching whether the append wrote in the change's transaction, the store handed it a stand-in for
    // the transaction's connection, which PGlite did not take for its own: the notification waited for
    // the session the transaction held, and the change never ended.
    it.effect("a hold, its release and a policy change end when their audit entry's append notifies", () =>
      Effect.gen(function*() {
        const holds = yield* LegalHolds
        const policies = yield* RetentionPolicies
        const tenant = yield* TenantId.make
        const hold = yield* promptly(holds.place(tenant, { reason: "Litigation 15b" }, staff))
        const released = yield* promptly(holds.release(tenant, hold.holdId, staff))
        assert.isDefined(released.releasedAt)
        // A statement transformer of the application's still sees every statement, the append's too.
        const seen: Array<string> = []
        const [policy] = yield* promptly(policies.set(tenant, { [LOG]: "2 days" }, staff)).pipe(
          Statement.withTransformer((statement) =>
            Effect.sync(() => {
              seen.push(statement.compile()[0])
              return statement
            })
          )
        )
        assert.strictEqual(Duration.toHours(policy!.period), 48)
        assert.isTrue(seen.some((text) => text.includes("lawful_audit_append")), "the append's statements went through it")
      }))
  })
})
