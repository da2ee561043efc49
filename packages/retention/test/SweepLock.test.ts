/**
 * A sweep that loses its lock mid-sweep (the PostgreSQL connection holding the advisory lock dies)
 * while another process takes the lock over and recovers its open journal entries.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, layer } from "@effect/vitest"
import { AuditLog } from "@lawful/audit-trail/AuditLog"
import * as TenantId from "@lawful/core/TenantId"
import { postgresLayer, postgresUrl, sqlSuite } from "@lawful/core/testing"
import * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as Sweeper from "../src/Sweeper.js"
import * as SweepJournal from "../src/SweepJournal.js"
import { batchSize, LOG, midSweep, recordId, REMOTE, RemoteRecords, remoteRecords, sqlStack, TestRecords } from "./fixtures.js"

const hour = 60 * 60 * 1000

const write = (tenant: TenantId.TenantId, hoursAgo: number) =>
  Effect.gen(function*() {
    const records = yield* TestRecords
    const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
    yield* records.write(tenant, { id: recordId(), category: LOG, subject: undefined, at: now - hoursAgo * hour })
  })

const receipts = (tenant: TenantId.TenantId) =>
  Effect.flatMap(AuditLog, (log) =>
    Effect.map(log.query(tenant, { actionPrefix: "retention.purged", limit: 1000 }), (page) =>
      page.entries.map((entry) => Option.getOrThrow(entry.details).value)))

// Another process's sweeper: the same database, a journal (and so a lock) of its own.
const otherProcess = Sweeper.make({ batchSize }).pipe(Effect.provide(SweepJournal.layerSql), Effect.orDie)

// The backend holding this schema's sweep lock (`pg_try_advisory_lock` of a bigint: its high half
// in `classid`, its low half in `objid`), terminated as a server restart of it or a network cut would.
const terminateLockHolder = Effect.gen(function*() {
  const sql = (yield* SqlClient.SqlClient).withoutTransforms()
  const holders = yield* sql<{ pid: number }>`
    WITH k AS (SELECT hashtext('lawful_retention_sweep/' || current_schema())::bigint AS key)
    SELECT l.pid FROM pg_locks l, k
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.classid::bigint = ((k.key >> 32) & 4294967295) AND l.objid::bigint = (k.key & 4294967295)`
  assert.strictEqual(holders.length, 1, "one backend holds the sweep lock")
  const [terminated] = yield* sql<{ done: boolean }>`SELECT pg_terminate_backend(${holders[0]!.pid}, 10000) AS done`
  assert.isTrue(terminated!.done)
}).pipe(Effect.orDie)

// The backends waiting for a row lock on the sweep lease: a sweep taking the lock over, waiting for
// the transactions of the run it takes over from.
const takingOver = Effect.gen(function*() {
  const sql = (yield* SqlClient.SqlClient).withoutTransforms()
  const [row] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'
      AND query LIKE '%lawful_retention_sweep_lease%'`
  return row!.n
}).pipe(Effect.orDie)

// This process's sweeper and another's, a day on; a tenant with seven records past the log's
// 10 hours and one recent, and another tenant, with no records yet.
const sweepersADayOn = Effect.gen(function*() {
  const first = yield* Sweeper.Sweeper
  const second = yield* otherProcess
  yield* TestClock.adjust(Duration.days(1))
  const tenant = yield* TenantId.make
  const other = yield* TenantId.make
  for (let i = 0; i < 7; i++) yield* write(tenant, 11 + i)
  yield* write(tenant, 1)
  return { first, other, second, tenant }
})

sqlSuite("Sweeper lock lost mid-sweep", sqlStack, (it, backend) => {
  // On PostgreSQL the lock's connection dies; PGlite is one session in one process, its lock is
  // in-process and cannot be lost so, but a second sweeper on it (a journal of its own) takes the
  // journal over the same way.
  it.effect("a sweep whose lock was lost stops with SweepLockLost, and each journal entry gets one receipt", () =>
    Effect.gen(function*() {
      const { first, other, second, tenant } = yield* sweepersADayOn
      for (let i = 0; i < 2; i++) yield* write(other, 11 + i)

      // The first sweep rests after its first batch (3 records, committed and journalled); its lock
      // connection dies, and the other process sweeps another tenant: it takes the lock and
      // recovers the first sweep's open entry.
      const { during, result } = yield* midSweep(
        1,
        Effect.exit(first.sweep({ tenants: [tenant], categories: [LOG] })),
        Effect.zipRight(
          backend === "postgres" ? terminateLockHolder : Effect.void,
          second.sweep({ tenants: [other], categories: [LOG] })
        )
      )
      assert.deepStrictEqual(during.failures, [])
      assert.deepStrictEqual(during.recovered.map((entry) => [entry.tenantId, entry.purged]), [[tenant, 3]])
      assertLockLost(result)
      yield* checkReceipts(second, tenant)
    }))

  // The lock connection answering before a batch is not enough: it may die just after, and another
  // sweep take over while the batch runs. The batch's transaction holds the lease, so the sweep
  // taking over waits for its commit and recovers it, counted.
  if (backend === "postgres") {
    it.effect("a sweep taking over while a batch runs waits for it, and its receipt counts it", () =>
      Effect.gen(function*() {
        const records = yield* TestRecords
        const { first, other, second, tenant } = yield* sweepersADayOn
        yield* write(other, 11)

        // The first sweep's second batch, in its transaction, waits at the gate.
        const reached = yield* Deferred.make<void>()
        const go = yield* Deferred.make<void>()
        let batches = 0
        records.faults.beforePurge = (partition) =>
          partition === undefined && ++batches === 2
            ? Effect.zipRight(Deferred.succeed(reached, undefined), Deferred.await(go))
            : Effect.void
        const sweeping = yield* Effect.fork(Effect.exit(first.sweep({ tenants: [tenant], categories: [LOG] })))
        yield* Deferred.await(reached)
        yield* terminateLockHolder
        const taking = yield* Effect.fork(second.sweep({ tenants: [other], categories: [LOG] }))
        let waiting = 0
        for (let i = 0; i < 10_000 && waiting === 0; i++) waiting = yield* takingOver
        assert.strictEqual(waiting, 1, "the other sweep waits for the batch in progress")
        yield* Deferred.succeed(go, undefined)
        const during = yield* Fiber.join(taking)
        records.faults.beforePurge = () => Effect.void
        assert.deepStrictEqual(during.recovered.map((entry) => [entry.tenantId, entry.purged]), [[tenant, 6]])
        assertLockLost(yield* Fiber.join(sweeping))
        yield* checkReceipts(second, tenant)
      }))
  }
})

const assertLockLost = (result: Exit.Exit<Sweeper.SweepResult, unknown>) =>
  assert.isTrue(
    Exit.isFailure(result) && Option.getOrUndefined(Cause.failureOption(result.cause)) instanceof SweepJournal.SweepLockLost,
    `the first sweep fails with SweepLockLost: ${String(result)}`
  )

// The first sweep's entry has one receipt, the recovered one; the next sweep purges the rest: every
// record expired is purged and counted once.
const checkReceipts = (sweeper: Context.Tag.Service<typeof Sweeper.Sweeper>, tenant: TenantId.TenantId) =>
  Effect.gen(function*() {
    const after = yield* sweeper.sweep({ tenants: [tenant], categories: [LOG] })
    assert.deepStrictEqual(after.failures, [])
    const written = yield* receipts(tenant)
    const runs = written.map((details) => details.runId as string)
    assert.strictEqual(new Set(runs).size, runs.length, `one receipt per run: ${JSON.stringify(written)}`)
    assert.strictEqual(written.reduce((n, details) => n + (details.count as number), 0), 7, "every record counted once")
    const live = yield* Effect.flatMap(TestRecords, (records) => records.live(tenant))
    assert.strictEqual(live.length, 1, "the expired records are purged, the recent one kept")
  })

// A category on a database of its own, and the test categories on the main one.
const withRemote = remoteRecords.pipe(Layer.provideMerge(sqlStack))

// On PostgreSQL only, where the lock's connection can die during a batch (on PGlite, one session, the
// batch holds the session, and a sweep taking over waits for it in any case).
if (postgresUrl) {
  layer(withRemote.pipe(Layer.provideMerge(postgresLayer)), { timeout: 120_000 })(
    "Sweeper lock lost mid-sweep, a category on a database of its own (PostgreSQL)",
    (it) => {
  // A batch of a category on another database used to run after a check of the lease, outside any
  // transaction of the journal's database: its connection could die and another sweep take over
  // while the batch ran, and the batch then committed after the takeover. Its record failed, so its
  // records were gone and no receipt counted them. The batch now runs in the journal's transaction
  // that checked the lease (locking its row), so the sweep taking over waits for it, as it waits
  // for a batch on the journal's database, and recovers it counted.
    it.effect("a batch on another database that started before a takeover commits before it, and is counted once", () =>
      Effect.gen(function*() {
        const remote = yield* RemoteRecords
        const first = yield* Sweeper.Sweeper
        const second = yield* otherProcess
        yield* TestClock.adjust(Duration.days(1))
        const tenant = yield* TenantId.make
        const other = yield* TenantId.make
        for (let i = 0; i < 7; i++) yield* remote.write(tenant, 11 + i)
        yield* remote.write(tenant, 1)
        yield* remote.write(other, 11)

        // The first sweep's second batch waits at the gate, before it deletes anything.
        const reached = yield* Deferred.make<void>()
        const go = yield* Deferred.make<void>()
        let batches = 0
        remote.beforeBatch = Effect.suspend(() =>
          ++batches === 2 ? Effect.zipRight(Deferred.succeed(reached, undefined), Deferred.await(go)) : Effect.void
        )
        const sweeping = yield* Effect.fork(Effect.exit(first.sweep({ tenants: [tenant], categories: [REMOTE] })))
        yield* Deferred.await(reached)
        yield* terminateLockHolder
        const taking = yield* Effect.fork(second.sweep({ tenants: [other], categories: [REMOTE] }))
        // Until the other sweep waits for the batch in progress, or is done without waiting.
        for (let i = 0; i < 10_000 && (yield* takingOver) === 0 && Option.isNone(yield* Fiber.poll(taking)); i++) {
          yield* Effect.yieldNow()
        }
        yield* Deferred.succeed(go, undefined)
        const during = yield* Fiber.join(taking)
        remote.beforeBatch = Effect.void
        assertLockLost(yield* Fiber.join(sweeping))

        const after = yield* second.sweep({ tenants: [tenant], categories: [REMOTE] })
        assert.deepStrictEqual(after.failures, [])
        assert.strictEqual(yield* remote.left(tenant), 1, "the expired records are purged, the recent one kept")
        const written = yield* receipts(tenant)
        assert.strictEqual(
          written.reduce((n, details) => n + (details.count as number), 0),
          7,
          `every record purged is counted once: ${JSON.stringify(written)}`
        )
        assert.deepStrictEqual(during.recovered.map((entry) => [entry.tenantId, entry.purged]), [[tenant, 6]])
      }).pipe(Effect.ensuring(Effect.map(RemoteRecords, (remote) => {
        remote.beforeBatch = Effect.void
      }))))
    }
  )
}
