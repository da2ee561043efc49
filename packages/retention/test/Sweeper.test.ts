import { assert, describe, layer } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import type { Actor } from "@lawful/audit-trail/AuditEvent"
import { AuditLog } from "@lawful/audit-trail/AuditLog"
import * as RetentionTarget from "@lawful/core/RetentionTarget"
import * as SubjectId from "@lawful/core/SubjectId"
import * as TenantId from "@lawful/core/TenantId"
import { contractSuite, postgresLayer, postgresUrl, sqlSuite } from "@lawful/core/testing"
import type { Backend, SqlBackend } from "@lawful/core/testing"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as TestClock from "effect/TestClock"
import { randomUUID } from "node:crypto"
import { LegalHolds } from "../src/LegalHold.js"
import { RetentionPolicies } from "../src/RetentionPolicy.js"
import * as Sweeper from "../src/Sweeper.js"
import * as SweepJournal from "../src/SweepJournal.js"
import * as AuditStore from "@lawful/audit-trail/AuditStore"
import * as Retention from "../src/Retention.js"
import { EVENTS, LOG, PREVIEW, TestRecords, auditOver, batchSize, liveIds, memoryStack, midSweep, recordsMemory, recordsSql, refuseRecords, sqlStack, write } from "./fixtures.js"

const hour = 60 * 60 * 1000
const staff: Actor = { kind: "staff", id: "staff-1" }

const receipts = (tenant: TenantId.TenantId) =>
  Effect.flatMap(AuditLog, (log) =>
    Effect.map(log.query(tenant, { actionPrefix: "retention.purged", limit: 1000 }), (page) => page.entries))

const detailsOf = (entry: { readonly details: Option.Option<{ readonly value: Record<string, unknown> }> }) =>
  Option.getOrThrow(entry.details).value

// Pauses the first batch of a sweep, or the drop of the partition named, as it starts: its tenants'
// policies and holds read (on SQL in its transaction), nothing purged yet.
const pauseFirstPurge = (partition?: string) =>
  Effect.gen(function*() {
    const records = yield* TestRecords
    const paused = yield* Deferred.make<void>()
    const go = yield* Deferred.make<void>()
    let first = true
    records.faults.beforePurge = (starting) => {
      if (!first || starting !== partition) return Effect.void
      first = false
      return Effect.zipRight(Deferred.succeed(paused, undefined), Deferred.await(go))
    }
    return { paused, go }
  })

const unpause = Effect.map(TestRecords, (records) => {
  records.faults.beforePurge = () => Effect.void
})

// Until `fiber` waits for the batch or drop in progress, or is done. On PostgreSQL, until it waits for
// the advisory lock that the batch's read of policies and holds took; on PGlite, one session, every
// statement outside the batch's transaction waits for it to end.
const untilWaiting = (backend: SqlBackend, fiber: Fiber.Fiber<unknown, unknown>) =>
  Effect.gen(function*() {
    if (backend === "pglite") return
    const sql = yield* SqlClient.SqlClient
    const waiting = sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_locks
      WHERE locktype = 'advisory' AND NOT granted
        AND objid::bigint = (hashtext('lawful_retention_holds/' || current_schema())::bigint & 4294967295)`
    yield* Effect.zipWith(waiting, Fiber.poll(fiber), ([row], done) => row!.n > 0 || Option.isSome(done)).pipe(
      Effect.repeat({ until: (stop) => stop })
    )
  })

// In memory nothing else waits: a fibre that does not wait is done within a few turns of the scheduler.
const afterTurns = (fiber: Fiber.Fiber<unknown, unknown>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 100 && Option.isNone(yield* Fiber.poll(fiber)); i++) yield* Effect.yieldNow()
  })

// Lengthens the tenant's policy while the first batch of its sweep waits, the old policy read: `set`
// returns once that batch is done (it purged under the old policy), and no record the new policy
// keeps goes after `set` returned.
const policyLengthenedDuringBatch = <E, R>(
  backend: Backend,
  waitingFor: (fiber: Fiber.Fiber<unknown, unknown>) => Effect.Effect<void, E, R>
) =>
  Effect.gen(function*() {
    const sweeper = yield* Sweeper.Sweeper
    const policies = yield* RetentionPolicies
    const tenant = yield* TenantId.make
    yield* TestClock.adjust(Duration.days(1))
    for (let i = 0; i < 7; i++) yield* write(tenant, LOG, 11 + i)
    const { go, paused } = yield* pauseFirstPurge()
    const sweep = yield* Effect.fork(sweeper.sweep({ tenants: [tenant], categories: [LOG] }))
    yield* Deferred.await(paused)
    // Two days keep every record.
    const setting = yield* Effect.fork(Effect.zipRight(policies.set(tenant, { [LOG]: "2 days" }, staff), liveIds(tenant)))
    yield* waitingFor(setting)
    assert.isTrue(Option.isNone(yield* Fiber.poll(setting)), "set waits for the batch in progress")
    yield* Deferred.succeed(go, undefined)
    const leftWhenSet = yield* Fiber.join(setting)
    const result = yield* Fiber.join(sweep)
    assert.deepStrictEqual(result.failures, [])
    // The batch took the three oldest records under the old policy. On PostgreSQL `set`, queued first,
    // commits before the next batch reads the policies; on PGlite and in memory the sweep's next
    // batches may go first, under the old policy too, and before `set` returned.
    if (backend === "postgres") assert.strictEqual(leftWhenSet.length, 4)
    else assert.isAtMost(leftWhenSet.length, 4)
    assert.sameMembers([...yield* liveIds(tenant)], [...leftWhenSet])
  }).pipe(Effect.ensuring(unpause))

contractSuite("Sweeper", { memory: memoryStack, sql: sqlStack }, (it, backend) => {
  it.effect("purges what outlived its policy, keeps the rest, and appends one receipt per category and run", () =>
    Effect.gen(function*() {
      const sweeper = yield* Sweeper.Sweeper
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      yield* TestClock.adjust(Duration.days(3))
      const oldLog = yield* write(tenant, LOG, 11, subject)
      const freshLog = yield* write(tenant, LOG, 9, subject)
      const oldPreview = yield* write(tenant, PREVIEW, 6, subject)
      const freshPreview = yield* write(tenant, PREVIEW, 4)
      const oldEvent = yield* write(tenant, EVENTS, 49)
      const result = yield* sweeper.sweep({ tenants: [tenant] })
      assert.deepStrictEqual(result.failures, [])
      assert.deepStrictEqual(
        result.categories.map((c) => [c.category, c.purged]),
        [[LOG, 1], [PREVIEW, 1], [EVENTS, 1]]
      )
      const live = yield* liveIds(tenant)
      assert.includeMembers(live, [freshLog, freshPreview])
      for (const gone of [oldLog, oldPreview, oldEvent]) assert.notInclude(live, gone)

      const entries = yield* receipts(tenant)
      assert.strictEqual(entries.length, 3)
      const at = result.at.getTime()
      assert.deepStrictEqual(entries.map((e) => detailsOf(e)), [
        {
          category: LOG, count: 1, cutoff: new Date(at - 10 * hour).toISOString(), runId: result.runId, action: "delete",
          period: "10h", partitionsDropped: 0, heldWhole: false, heldSubjects: 0, complete: true
        },
        {
          category: PREVIEW, count: 1, cutoff: new Date(at - 5 * hour).toISOString(), runId: result.runId,
          action: "redact", period: "5h", partitionsDropped: 0, heldWhole: false, heldSubjects: 0, complete: true
        },
        {
          category: EVENTS, count: 1, cutoff: new Date(at - 48 * hour).toISOString(), runId: result.runId,
          action: "delete", period: "2d", heldWhole: false, heldSubjects: 0, complete: true,
          // On SQL the event's whole day has expired: its partition is dropped.
          partitionsDropped: backend === "memory" ? 0 : 1
        }
      ])
      for (const entry of entries) {
        assert.isTrue(Option.isNone(entry.subject), "a receipt names no subject")
        assert.deepStrictEqual(entry.actor, Sweeper.systemActor)
        assert.strictEqual(entry.resource?.type, "retention-category")
      }
      // Idempotent: the next run purges nothing and says so.
      const again = yield* sweeper.sweep({ tenants: [tenant] })
      assert.deepStrictEqual(again.categories.map((c) => c.purged), [0, 0, 0])
      assert.strictEqual((yield* receipts(tenant)).length, 6)
    }))

  it.effect("a policy change applies to records already stored", () =>
    Effect.gen(function*() {
      const sweeper = yield* Sweeper.Sweeper
      const policies = yield* RetentionPolicies
      const tenant = yield* TenantId.make
      yield* TestClock.adjust(Duration.days(1))
      const log = yield* write(tenant, LOG, 3)
      yield* sweeper.sweep({ tenants: [tenant] })
      assert.include(yield* liveIds(tenant), log)
      yield* policies.set(tenant, { [LOG]: "2 hours", [PREVIEW]: "1 hours" }, staff)
      yield* sweeper.sweep({ tenants: [tenant] })
      assert.notInclude(yield* liveIds(tenant), log)
    }))

  it.effect("held records stay until the hold is released, and a dry run counts them", () =>
    Effect.gen(function*() {
      const sweeper = yield* Sweeper.Sweeper
      const holds = yield* LegalHolds
      const tenant = yield* TenantId.make
      const [held, free] = yield* Effect.all([SubjectId.make, SubjectId.make])
      yield* TestClock.adjust(Duration.days(1))
      const heldLog = yield* write(tenant, LOG, 12, held)
      const freeLog = yield* write(tenant, LOG, 12, free)
      const anonymousLog = yield* write(tenant, LOG, 12)
      const preview = yield* write(tenant, PREVIEW, 12, free)
      const subjectHold = yield* holds.place(tenant, { subject: held, reason: "case 1" }, staff)
      const categoryHold = yield* holds.place(tenant, { category: PREVIEW, reason: "case 2" }, staff)

      const dry = yield* sweeper.dryRun({ tenants: [tenant] })
      const byCategory = new Map(dry.categories.map((c) => [c.category, c]))
      // The preview hold keeps the preview and, as its parent, the log.
      assert.deepStrictEqual([byCategory.get(LOG)!.purged, byCategory.get(LOG)!.held], [0, 3])
      assert.deepStrictEqual([byCategory.get(PREVIEW)!.purged, byCategory.get(PREVIEW)!.held], [0, 1])
      assert.isTrue(byCategory.get(LOG)!.heldWhole)
      assert.strictEqual((yield* liveIds(tenant)).length, 4, "a dry run changes nothing")
      assert.strictEqual((yield* receipts(tenant)).length, 0, "a dry run appends no receipt")

      yield* sweeper.sweep({ tenants: [tenant] })
      assert.includeMembers(yield* liveIds(tenant), [heldLog, freeLog, anonymousLog, preview])

      yield* holds.release(tenant, categoryHold.holdId, staff)
      const dryAfter = yield* sweeper.dryRun({ tenants: [tenant] })
      const log = dryAfter.categories.find((c) => c.category === LOG)!
      assert.deepStrictEqual([log.purged, log.held], [2, 1])
      yield* sweeper.sweep({ tenants: [tenant] })
      assert.deepStrictEqual((yield* liveIds(tenant)).sort(), [heldLog])

      yield* holds.release(tenant, subjectHold.holdId, staff)
      yield* sweeper.sweep({ tenants: [tenant] })
      assert.deepStrictEqual(yield* liveIds(tenant), [])
    }))

  it.effect("categories kept forever are never swept nor receipted", () =>
    Effect.gen(function*() {
      const sweeper = yield* Sweeper.Sweeper
      const policies = yield* RetentionPolicies
      const tenant = yield* TenantId.make
      yield* policies.set(tenant, { [LOG]: "forever" }, staff)
      yield* TestClock.adjust(Duration.days(400))
      const log = yield* write(tenant, LOG, 24 * 365)
      const result = yield* sweeper.sweep({ tenants: [tenant], categories: [LOG] })
      const swept = result.categories.find((c) => c.category === LOG)!
      assert.strictEqual(swept.cutoff, undefined)
      assert.include(yield* liveIds(tenant), log)
      assert.strictEqual((yield* receipts(tenant)).length, 0)
    }))

  it.effect("a sweep killed halfway is resumed: its receipt is recovered, and the next sweep finishes", () =>
    Effect.gen(function*() {
      const sweeper = yield* Sweeper.Sweeper
      const records = yield* TestRecords
      const tenant = yield* TenantId.make
      yield* TestClock.adjust(Duration.days(1))
      for (let i = 0; i < 10; i++) yield* write(tenant, LOG, 11 + i)
      const keep = yield* write(tenant, LOG, 1)
      const reached = yield* Deferred.make<void>()
      let batches = 0
      records.faults.afterBatch = Effect.suspend(() =>
        ++batches === 2 ? Effect.zipRight(Deferred.succeed(reached, undefined), Effect.never) : Effect.void
      )
      const fiber = yield* Effect.fork(sweeper.sweep({ tenants: [tenant], categories: [LOG] }))
      yield* Deferred.await(reached)
      yield* Fiber.interrupt(fiber)
      records.faults.afterBatch = Effect.void
      // The first batch of three was committed and journalled. The second, killed before its
      // record: on SQL, its transaction also holds the record, and both are undone; in memory it
      // stays purged, unrecorded.
      const undone = backend !== "memory"
      assert.strictEqual((yield* liveIds(tenant)).length, undone ? 8 : 5)

      const next = yield* sweeper.sweep({ tenants: [tenant], categories: [LOG] })
      assert.strictEqual(next.recovered.length, 1)
      assert.deepStrictEqual(yield* liveIds(tenant), [keep])
      const entries = (yield* receipts(tenant)).map(detailsOf)
      assert.deepStrictEqual(entries.map((d) => [d.count, d.complete, d.recovered]), [
        [3, false, true],
        [undone ? 7 : 4, true, undefined]
      ])
    }))

  it.effect("tenants purged a batch each in turn keep their own policy, holds and receipt", () =>
    Effect.gen(function*() {
      const sweeper = yield* Sweeper.Sweeper
      const policies = yield* RetentionPolicies
      const holds = yield* LegalHolds
      const [a, b, c] = yield* Effect.all([TenantId.make, TenantId.make, TenantId.make])
      const held = yield* SubjectId.make
      yield* TestClock.adjust(Duration.days(1))
      // a: seven expired logs (three batches) and a fresh one; b: a longer policy keeps two of
      // its four; c: a hold on one subject keeps two of its five.
      for (let i = 0; i < 7; i++) yield* write(a, LOG, 11 + i)
      const aFresh = yield* write(a, LOG, 1)
      yield* policies.set(b, { [LOG]: "13 hours" }, staff)
      for (const hoursAgo of [11, 12, 14, 15]) yield* write(b, LOG, hoursAgo)
      const bKept = (yield* liveIds(b)).slice(0, 2)
      const cHeld = [yield* write(c, LOG, 11, held), yield* write(c, LOG, 12, held)]
      for (let i = 0; i < 3; i++) yield* write(c, LOG, 13 + i)
      yield* holds.place(c, { subject: held, reason: "case 3" }, staff)

      const result = yield* sweeper.sweep({ tenants: [a, b, c], categories: [LOG] })
      assert.deepStrictEqual(result.failures, [])
      assert.deepStrictEqual(
        result.categories.map((swept) => [swept.tenantId, swept.purged, swept.complete]),
        [[a, 7, true], [b, 2, true], [c, 3, true]]
      )
      assert.deepStrictEqual(yield* liveIds(a), [aFresh])
      assert.deepStrictEqual(yield* liveIds(b), bKept)
      assert.deepStrictEqual(yield* liveIds(c), cHeld)
      for (const [tenant, count] of [[a, 7], [b, 2], [c, 3]] as const) {
        const entries = (yield* receipts(tenant)).map(detailsOf)
        assert.deepStrictEqual(entries.map((d) => [d.count, d.runId, d.complete]), [[count, result.runId, true]])
      }
    }))

  it.effect("tenants purged together: one with nothing left leaves the group", () =>
    Effect.gen(function*() {
      const sweeper = yield* Sweeper.Sweeper
      const records = yield* TestRecords
      const [a, b] = yield* Effect.all([TenantId.make, TenantId.make])
      yield* TestClock.adjust(Duration.days(1))
      yield* write(a, LOG, 11)
      for (let i = 0; i < 7; i++) yield* write(b, LOG, 11 + i)
      records.faults.batches = 0
      const result = yield* sweeper.sweep({ tenants: [a, b], categories: [LOG] })
      assert.deepStrictEqual(result.failures, [])
      assert.deepStrictEqual(result.categories.map((c) => [c.tenantId, c.purged]).sort(), [[a, 1], [b, 7]].sort())
      assert.deepStrictEqual([...(yield* liveIds(a)), ...(yield* liveIds(b))], [])
      // Batches of 3, four in all: in turns a {1}, b {3}, {3}, {1}; together (these tables have no
      // time index: one tenant at a time) a {1}, which leaves, then b {3}, {3}, {1}. Kept in the
      // group, a would be asked again and again.
      assert.strictEqual(records.faults.batches, 4)
    }))

  it.effect("a sweep of several tenants killed halfway is resumed: each tenant's receipt is recovered", () =>
    Effect.gen(function*() {
      const sweeper = yield* Sweeper.Sweeper
      const records = yield* TestRecords
      const [a, b] = yield* Effect.all([TenantId.make, TenantId.make])
      yield* TestClock.adjust(Duration.days(1))
      for (const tenant of [a, b]) for (let i = 0; i < 5; i++) yield* write(tenant, LOG, 11 + i)
      const reached = yield* Deferred.make<void>()
      let batches = 0
      // Killed in the fourth batch (committed, not journalled), whether the tenants take turns
      // (a 3, b 3, a 2) or go together one after the other (a 3, a 2, b 3): a's five and b's three
      // records are journalled.
      records.faults.afterBatch = Effect.suspend(() =>
        ++batches === 4 ? Effect.zipRight(Deferred.succeed(reached, undefined), Effect.never) : Effect.void
      )
      const fiber = yield* Effect.fork(sweeper.sweep({ tenants: [a, b], categories: [LOG] }))
      yield* Deferred.await(reached)
      yield* Fiber.interrupt(fiber)
      records.faults.afterBatch = Effect.void

      const next = yield* sweeper.sweep({ tenants: [a, b], categories: [LOG] })
      assert.deepStrictEqual(next.recovered.map((entry) => [entry.tenantId, entry.purged]).sort(), [[a, 5], [b, 3]].sort())
      assert.deepStrictEqual(next.failures, [])
      for (const tenant of [a, b]) {
        assert.deepStrictEqual(yield* liveIds(tenant), [])
        const entries = (yield* receipts(tenant)).map(detailsOf)
        assert.deepStrictEqual(entries.map((d) => [d.recovered, d.complete]), [[true, false], [undefined, true]])
        assert.strictEqual(entries[1]!.runId, next.runId)
      }
      assert.strictEqual((yield* sweeper.sweep({ tenants: [a, b], categories: [LOG] })).recovered.length, 0)
    }))

  it.effect("a failing category is reported and does not stop the others", () =>
    Effect.scoped(Effect.gen(function*() {
      const sweeper = yield* Sweeper.Sweeper
      const registry = yield* RetentionTarget.RetentionTargets
      const tenant = yield* TenantId.make
      yield* registry.register({
        id: "test.broken",
        description: "always fails",
        action: "delete",
        allowForever: false,
        defaultPeriod: Duration.hours(1),
        maxPeriod: Duration.hours(2),
        linksSubjects: false,
        tenants: Effect.succeed([tenant]),
        purgeBatch: () => Effect.fail(new RetentionTarget.RetentionTargetError({ target: "test.broken", operation: "purge", cause: "down" })),
        count: () => Effect.succeed(0),
        oldest: () => Effect.succeed(Option.none())
      })
      yield* TestClock.adjust(Duration.days(1))
      const old = yield* write(tenant, EVENTS, 50)
      const result = yield* sweeper.sweep({ tenants: [tenant] })
      assert.deepStrictEqual(result.failures.map((f) => [f.category, f.error._tag]), [["test.broken", "RetentionTargetError"]])
      assert.notInclude(yield* liveIds(tenant), old)
      const broken = (yield* receipts(tenant)).map(detailsOf).find((d) => d.category === "test.broken")!
      assert.deepStrictEqual([broken.count, broken.complete], [0, false])
    })))

  it.effect("only one sweep runs at a time", () =>
    Effect.gen(function*() {
      const sweeper = yield* Sweeper.Sweeper
      const records = yield* TestRecords
      const tenant = yield* TenantId.make
      yield* TestClock.adjust(Duration.days(1))
      yield* write(tenant, LOG, 20)
      const reached = yield* Deferred.make<void>()
      const go = yield* Deferred.make<void>()
      records.faults.afterBatch = Effect.zipRight(Deferred.succeed(reached, undefined), Deferred.await(go))
      const first = yield* Effect.fork(sweeper.sweep({ tenants: [tenant] }))
      yield* Deferred.await(reached)
      // Started while the first holds the lock, a second sweep fails, and a dry run, which takes
      // no lock, succeeds. (On PGlite, one session, their reads wait for the transaction of the
      // batch the first is paused in: they finish once it goes on.)
      const second = yield* Effect.fork(Effect.either(sweeper.sweep({ tenants: [tenant] })))
      const dry = yield* Effect.fork(sweeper.dryRun({ tenants: [tenant] }))
      if (backend !== "pglite") yield* Effect.all([Fiber.await(second), Fiber.await(dry)])
      else yield* Effect.yieldNow()
      records.faults.afterBatch = Effect.void
      yield* Deferred.succeed(go, undefined)
      yield* Fiber.join(first)
      const refused = yield* Fiber.join(second)
      assert.isTrue(Either.isLeft(refused) && refused.left._tag === "SweepAlreadyRunning")
      yield* Fiber.join(dry)
      yield* sweeper.sweep({ tenants: [tenant] })
    }))

})

contractSuite("Sweeper with holds and policies changed mid-sweep", { memory: memoryStack, sql: sqlStack }, (it, backend) => {
  it.effect("a hold on the tenant placed mid-sweep: no batch or partition drop after it returned purges a record of the tenant", () =>
    Effect.gen(function*() {
      const sweeper = yield* Sweeper.Sweeper
      const holds = yield* LegalHolds
      const tenant = yield* TenantId.make
      yield* TestClock.setTime(Date.UTC(2033, 3, 10, 6))
      const events = [yield* write(tenant, EVENTS, 0), yield* write(tenant, EVENTS, 0)]
      yield* TestClock.setTime(Date.UTC(2033, 3, 13, 1)) // the day 2033-04-10 has expired whole
      const logs: Array<number> = []
      for (let i = 0; i < 7; i++) logs.push(yield* write(tenant, LOG, 11 + i))

      const { during, result, resting } = yield* midSweep(
        1,
        sweeper.sweep({ tenants: [tenant] }),
        Effect.zipRight(holds.place(tenant, { reason: "case 5" }, staff), liveIds(tenant))
      )
      assert.isTrue(resting)
      assert.deepStrictEqual(result.failures, [])
      // The first batch took the three oldest logs; nothing went after the hold was placed.
      assert.sameMembers([...during], [...logs.slice(0, 4), ...events])
      assert.sameMembers([...yield* liveIds(tenant)], [...during])
      assert.deepStrictEqual(result.categories.map((c) => [c.category, c.purged, c.partitionsDropped]), [
        [LOG, 3, 0],
        [PREVIEW, 0, 0],
        [EVENTS, 0, 0]
      ])
      const log = (yield* receipts(tenant)).map(detailsOf).find((d) => d.category === LOG)!
      assert.deepStrictEqual([log.count, log.heldWhole, log.complete], [3, true, true])
    }))

  it.effect("a hold on a subject placed mid-sweep keeps that subject's records, in batches and partitions", () =>
    Effect.gen(function*() {
      const sweeper = yield* Sweeper.Sweeper
      const holds = yield* LegalHolds
      const tenant = yield* TenantId.make
      const [held, other] = yield* Effect.all([SubjectId.make, SubjectId.make])
      yield* TestClock.setTime(Date.UTC(2033, 4, 10, 6))
      const heldEvent = yield* write(tenant, EVENTS, 0, held)
      for (let i = 0; i < 2; i++) yield* write(tenant, EVENTS, 0, other)
      yield* TestClock.setTime(Date.UTC(2033, 4, 13, 1))
      // Oldest first: three of the other subject go in the first batch, then the hold.
      for (const hoursAgo of [18, 17, 16, 15, 14]) yield* write(tenant, LOG, hoursAgo, other)
      const heldLogs = [yield* write(tenant, LOG, 13, held), yield* write(tenant, LOG, 12, held)]
      yield* write(tenant, LOG, 11)

      const { during, result, resting } = yield* midSweep(
        1,
        sweeper.sweep({ tenants: [tenant] }),
        Effect.zipRight(holds.place(tenant, { subject: held, reason: "case 6" }, staff), liveIds(tenant))
      )
      assert.isTrue(resting)
      assert.deepStrictEqual(result.failures, [])
      assert.includeMembers([...during], [...heldLogs, heldEvent])
      assert.sameMembers([...yield* liveIds(tenant)], [...heldLogs, heldEvent])
      // The day holds a held record: it is not dropped, its other records are purged one by one.
      assert.deepStrictEqual(result.categories.map((c) => [c.category, c.purged, c.partitionsDropped]), [
        [LOG, 6, 0],
        [PREVIEW, 0, 0],
        [EVENTS, 2, 0]
      ])
    }))

  it.effect("a hold on a category placed mid-sweep keeps that category and its parent", () =>
    Effect.gen(function*() {
      const sweeper = yield* Sweeper.Sweeper
      const holds = yield* LegalHolds
      const tenant = yield* TenantId.make
      yield* TestClock.setTime(Date.UTC(2033, 5, 10, 6))
      for (let i = 0; i < 2; i++) yield* write(tenant, EVENTS, 0)
      yield* TestClock.setTime(Date.UTC(2033, 5, 13, 1))
      const logs: Array<number> = []
      for (let i = 0; i < 7; i++) logs.push(yield* write(tenant, LOG, 11 + i))
      const previews = [yield* write(tenant, PREVIEW, 6), yield* write(tenant, PREVIEW, 7)]

      const { during, result, resting } = yield* midSweep(
        1,
        sweeper.sweep({ tenants: [tenant] }),
        Effect.zipRight(holds.place(tenant, { category: PREVIEW, reason: "case 7" }, staff), liveIds(tenant))
      )
      assert.isTrue(resting)
      assert.deepStrictEqual(result.failures, [])
      assert.includeMembers([...during], [...logs.slice(0, 4), ...previews])
      // The previews and, as their parent, the logs stay; the events, not held, go (their day whole).
      assert.sameMembers([...yield* liveIds(tenant)], [...logs.slice(0, 4), ...previews])
      assert.deepStrictEqual(result.categories.map((c) => [c.category, c.purged, c.partitionsDropped]), [
        [LOG, 3, 0],
        [PREVIEW, 0, 0],
        [EVENTS, 2, backend === "memory" ? 0 : 1]
      ])
    }))

  it.effect("a policy lengthened mid-sweep: the batches and drops after it use the new cut-off", () =>
    Effect.gen(function*() {
      const sweeper = yield* Sweeper.Sweeper
      const policies = yield* RetentionPolicies
      const tenant = yield* TenantId.make
      yield* TestClock.setTime(Date.UTC(2033, 6, 10, 6))
      const events = [yield* write(tenant, EVENTS, 0), yield* write(tenant, EVENTS, 0)]
      yield* TestClock.setTime(Date.UTC(2033, 6, 13, 1))
      const logs: Array<number> = []
      for (let i = 0; i < 7; i++) logs.push(yield* write(tenant, LOG, 11 + i))

      // The first batch takes the logs of 17, 16 and 15 hours; then the logs are kept 13.5 hours
      // and the events 4 days (the events' day, 67 hours old, is no longer expired).
      const { result, resting } = yield* midSweep(
        1,
        sweeper.sweep({ tenants: [tenant] }),
        policies.set(tenant, { [LOG]: "810 minutes", [EVENTS]: "4 days" }, staff)
      )
      assert.isTrue(resting)
      assert.deepStrictEqual(result.failures, [])
      assert.sameMembers([...yield* liveIds(tenant)], [...logs.slice(0, 3), ...events])
      assert.deepStrictEqual(result.categories.map((c) => [c.category, c.purged, c.partitionsDropped]), [
        [LOG, 4, 0],
        [PREVIEW, 0, 0],
        [EVENTS, 0, 0]
      ])
      // The receipt names the cut-off the purge ended with.
      const log = (yield* receipts(tenant)).map(detailsOf).find((d) => d.category === LOG)!
      assert.deepStrictEqual([log.count, log.cutoff, log.period], [
        4,
        new Date(result.at.getTime() - 13.5 * hour).toISOString(),
        "13h 30m"
      ])
    }))

  it.effect("tenants purged together: a tenant held mid-sweep stops, one with a held subject goes on without its records", () =>
    Effect.gen(function*() {
      const sweeper = yield* Sweeper.Sweeper
      const holds = yield* LegalHolds
      const [a, b, c] = yield* Effect.all([TenantId.make, TenantId.make, TenantId.make])
      const held = yield* SubjectId.make
      yield* TestClock.adjust(Duration.days(1))
      // a's three oldest go in the first batch, whether the tenants go together or take turns.
      for (let i = 0; i < 5; i++) yield* write(a, LOG, 11 + i)
      for (const hoursAgo of [11.5, 12.5]) yield* write(b, LOG, hoursAgo)
      const bHeld = [yield* write(b, LOG, 13.5, held), yield* write(b, LOG, 14.5, held)]
      yield* write(b, LOG, 15.5)
      const cAll: Array<number> = []
      for (let i = 0; i < 4; i++) cAll.push(yield* write(c, LOG, 11.25 + i))

      const { result, resting } = yield* midSweep(
        1,
        sweeper.sweep({ tenants: [a, b, c], categories: [LOG] }),
        Effect.all([
          holds.place(b, { subject: held, reason: "case 8" }, staff),
          holds.place(c, { category: LOG, reason: "case 9" }, staff)
        ])
      )
      assert.isTrue(resting)
      assert.deepStrictEqual(result.failures, [])
      assert.deepStrictEqual(yield* liveIds(a), [])
      assert.sameMembers([...yield* liveIds(b)], bHeld)
      assert.sameMembers([...yield* liveIds(c)], cAll)
      assert.deepStrictEqual(result.categories.map((s) => [s.tenantId, s.purged]), [[a, 5], [b, 3], [c, 0]])
    }))
})

sqlSuite("Sweeper with a time index", sqlStack, (it) => {
  it.effect("tenants purged together through a time index lose every expired record, each batch going on from the last", () =>
    Effect.gen(function*() {
      const sweeper = yield* Sweeper.Sweeper
      const policies = yield* RetentionPolicies
      // An index on the time column: purgeTenants goes by time, each batch from where the last stopped.
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE INDEX test_records_at ON test_records (recorded_at)`
      yield* Effect.gen(function*() {
        const [a, b, c, forever] = yield* Effect.all([TenantId.make, TenantId.make, TenantId.make, TenantId.make])
        yield* TestClock.adjust(Duration.days(1))
        yield* policies.set(b, { [LOG]: "13 hours" }, staff)
        yield* policies.set(forever, { [LOG]: "forever" }, staff)
        // Interleaved in time: a, c and the tenant keeping everything from 11 hours back, b from
        // 11.5 hours back (expired from 13 hours back only).
        const kept = { b: [] as Array<number>, forever: [] as Array<number> }
        for (let i = 0; i < 7; i++) {
          yield* write(a, LOG, 11 + i)
          yield* write(c, LOG, 11.25 + i)
          kept.forever.push(yield* write(forever, LOG, 11.75 + i))
          const id = yield* write(b, LOG, 11.5 + i)
          if (11.5 + i < 13) kept.b.push(id)
        }
        const result = yield* sweeper.sweep({ categories: [LOG], tenants: [a, b, c, forever] })
        assert.deepStrictEqual(result.failures, [])
        const purged = new Map(result.categories.map((sweep) => [sweep.tenantId, sweep.purged]))
        assert.deepStrictEqual([purged.get(a), purged.get(b), purged.get(c), purged.get(forever)], [7, 5, 7, 0])
        assert.deepStrictEqual(yield* liveIds(a), [])
        assert.deepStrictEqual(yield* liveIds(c), [])
        assert.sameMembers([...yield* liveIds(b)], kept.b)
        assert.sameMembers([...yield* liveIds(forever)], kept.forever)
        for (const tenant of [a, b, c]) {
          const [receipt] = (yield* receipts(tenant)).map(detailsOf)
          assert.strictEqual(receipt!.count, purged.get(tenant))
        }
      }).pipe(Effect.ensuring(Effect.orDie(sql`DROP INDEX test_records_at`)))
    }))
})

sqlSuite("Sweeper purges on the journal's database", sqlStack, (it, backend) => {
  it.effect("a hold placed while a batch runs returns once that batch has committed, and nothing it covers goes after", () =>
    Effect.gen(function*() {
      const sweeper = yield* Sweeper.Sweeper
      const holds = yield* LegalHolds
      const records = yield* TestRecords
      const sql = yield* SqlClient.SqlClient
      const tenant = yield* TenantId.make
      yield* TestClock.adjust(Duration.days(1))
      for (let i = 0; i < 7; i++) yield* write(tenant, LOG, 11 + i)
      const paused = yield* Deferred.make<void>()
      const go = yield* Deferred.make<void>()
      let first = true
      // The first batch waits, purged and not yet committed.
      records.faults.afterBatch = Effect.suspend(() => {
        if (!first) return Effect.void
        first = false
        return Effect.zipRight(Deferred.succeed(paused, undefined), Deferred.await(go))
      })
      const sweep = yield* Effect.fork(sweeper.sweep({ tenants: [tenant], categories: [LOG] }))
      yield* Deferred.await(paused)
      const placing = yield* Effect.fork(Effect.zipRight(holds.place(tenant, { reason: "case 10" }, staff), liveIds(tenant)))
      if (backend === "postgres") {
        // Until the hold waits for the lock of the batch's read, or has been placed. (On PGlite, one
        // session, every statement outside the batch's transaction waits for it to end.)
        const waiting = sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_locks
          WHERE locktype = 'advisory' AND NOT granted
            AND objid::bigint = (hashtext('lawful_retention_holds/' || current_schema())::bigint & 4294967295)`
        yield* Effect.zipWith(waiting, Fiber.poll(placing), ([row], done) => row!.n > 0 || Option.isSome(done)).pipe(
          Effect.repeat({ until: (stop) => stop })
        )
      }
      assert.isTrue(Option.isNone(yield* Fiber.poll(placing)), "the hold waits for the batch in progress")
      yield* Deferred.succeed(go, undefined)
      const leftWhenPlaced = yield* Fiber.join(placing)
      const result = yield* Fiber.join(sweep)
      assert.deepStrictEqual(result.failures, [])
      // On PostgreSQL the hold, queued first, is placed before the next batch reads the holds; on
      // PGlite it waits for a turn of the session, which the sweep's next batches may take first.
      if (backend === "postgres") assert.strictEqual(leftWhenPlaced.length, 4)
      assert.sameMembers([...yield* liveIds(tenant)], [...leftWhenPlaced])
    }).pipe(Effect.ensuring(Effect.map(TestRecords, (records) => {
      records.faults.afterBatch = Effect.void
    }))))

  it.effect("a policy lengthened while a batch runs: set returns once that batch has committed, and nothing the new policy keeps goes after", () =>
    policyLengthenedDuringBatch(backend, (fiber) => untilWaiting(backend, fiber)))

  it.effect("a batch whose journal record fails is undone with it: nothing is purged unrecorded", () =>
    Effect.gen(function*() {
      const sweeper = yield* Sweeper.Sweeper
      const tenant = yield* TenantId.make
      yield* TestClock.adjust(Duration.days(1))
      for (let i = 0; i < 4; i++) yield* write(tenant, LOG, 11 + i)
      const kept = yield* write(tenant, LOG, 1)
      const all = yield* liveIds(tenant)

      const refused = yield* Effect.scoped(Effect.zipRight(refuseRecords(tenant), sweeper.sweep({ tenants: [tenant], categories: [LOG] })))
      assert.deepStrictEqual(refused.failures.map((f) => [f.tenant, f.error._tag]), [[tenant, "RetentionStoreError"]])
      assert.deepStrictEqual(yield* liveIds(tenant), all)

      const result = yield* sweeper.sweep({ tenants: [tenant], categories: [LOG] })
      assert.deepStrictEqual(result.failures, [])
      assert.deepStrictEqual(yield* liveIds(tenant), [kept])
      const counted = (yield* receipts(tenant)).map(detailsOf).reduce((n, d) => n + (d.count as number), 0)
      assert.strictEqual(counted, 4)
    }))

  it.effect("a partition whose journal record fails is not dropped: the drop and its record commit together", () =>
    Effect.gen(function*() {
      const sweeper = yield* Sweeper.Sweeper
      const sql = yield* SqlClient.SqlClient
      const tenant = yield* TenantId.make
      yield* TestClock.setTime(Date.UTC(2032, 2, 10, 6))
      for (let i = 0; i < 3; i++) yield* write(tenant, EVENTS, 0)
      yield* TestClock.setTime(Date.UTC(2032, 2, 13, 1))
      const partition = sql<{ name: string }>`SELECT relname AS name FROM pg_class WHERE relname = 'test_events_p20320310'`

      const refused = yield* Effect.scoped(Effect.zipRight(refuseRecords(tenant), sweeper.sweep({ tenants: [tenant], categories: [EVENTS] })))
      assert.isAtLeast(refused.failures.length, 1)
      assert.strictEqual((yield* partition).length, 1)
      assert.strictEqual((yield* liveIds(tenant)).length, 3)

      const result = yield* sweeper.sweep({ tenants: [tenant], categories: [EVENTS] })
      assert.deepStrictEqual(result.failures, [])
      assert.deepStrictEqual(result.categories.map((c) => [c.purged, c.partitionsDropped]), [[3, 1]])
      assert.strictEqual((yield* partition).length, 0)
      const receipt = (yield* receipts(tenant)).map(detailsOf).at(-1)!
      assert.deepStrictEqual([receipt.count, receipt.partitionsDropped, receipt.complete], [3, 1, true])
    }))
})

sqlSuite("Sweeper on partitioned categories", sqlStack, (it, backend) => {
  it.effect("drops a whole day partition when every record in it is expired and none is held", () =>
    Effect.gen(function*() {
      const sweeper = yield* Sweeper.Sweeper
      const holds = yield* LegalHolds
      const sql = yield* SqlClient.SqlClient
      const tenant = yield* TenantId.make
      // Days of their own: 2030-01-10 and 2030-01-11 (UTC).
      yield* TestClock.setTime(Date.UTC(2030, 0, 10, 6))
      for (let i = 0; i < 5; i++) yield* write(tenant, EVENTS, 0)
      yield* TestClock.setTime(Date.UTC(2030, 0, 11, 6))
      const nextDay = yield* write(tenant, EVENTS, 0)
      yield* TestClock.setTime(Date.UTC(2030, 0, 13, 1))
      const partitions = () =>
        Effect.map(
          sql<{ name: string }>`SELECT relname AS name FROM pg_class WHERE relname LIKE 'test_events_p2030011%' AND relkind = 'r' ORDER BY 1`,
          (rows) => rows.map((r) => r.name)
        )
      assert.deepStrictEqual(yield* partitions(), ["test_events_p20300110", "test_events_p20300111"])

      // A hold on one subject of the tenant keeps the partition: its rows are purged one by one.
      const hold = yield* holds.place(tenant, { subject: yield* SubjectId.make, reason: "r" }, staff)
      const held = yield* sweeper.sweep({ tenants: [tenant], categories: [EVENTS] })
      assert.deepStrictEqual(held.categories.map((c) => [c.purged, c.partitionsDropped]), [[5, 0]])
      assert.deepStrictEqual(yield* partitions(), ["test_events_p20300110", "test_events_p20300111"])
      yield* holds.release(tenant, hold.holdId, staff)

      yield* write(tenant, EVENTS, 60) // back into 2030-01-10
      const result = yield* sweeper.sweep({ tenants: [tenant], categories: [EVENTS] })
      assert.deepStrictEqual(result.categories.map((c) => [c.purged, c.partitionsDropped]), [[1, 1]])
      assert.deepStrictEqual(yield* partitions(), ["test_events_p20300111"])
      assert.deepStrictEqual(yield* liveIds(tenant), [nextDay])
      const receipt = (yield* receipts(tenant)).map(detailsOf).at(-1)!
      assert.deepStrictEqual([receipt.count, receipt.partitionsDropped], [1, 1])
    }))

  it.effect("a policy lengthened while a partition is dropped: set returns once the drop has committed, and no partition the new policy keeps goes after", () =>
    Effect.gen(function*() {
      const sweeper = yield* Sweeper.Sweeper
      const policies = yield* RetentionPolicies
      const tenant = yield* TenantId.make
      yield* TestClock.setTime(Date.UTC(2034, 1, 10, 6))
      for (let i = 0; i < 2; i++) yield* write(tenant, EVENTS, 0)
      yield* TestClock.setTime(Date.UTC(2034, 1, 13, 1)) // 67 hours later: the day has expired whole (48 hours)
      // Other tests' days may have expired too: the drop of this one waits.
      const { go, paused } = yield* pauseFirstPurge("test_events_p20340210")
      const sweep = yield* Effect.fork(sweeper.sweep({ tenants: [tenant], categories: [EVENTS] }))
      yield* Deferred.await(paused)
      // Four days keep the day.
      const setting = yield* Effect.fork(Effect.zipRight(policies.set(tenant, { [EVENTS]: "4 days" }, staff), liveIds(tenant)))
      yield* untilWaiting(backend, setting)
      assert.isTrue(Option.isNone(yield* Fiber.poll(setting)), "set waits for the drop in progress")
      yield* Deferred.succeed(go, undefined)
      const leftWhenSet = yield* Fiber.join(setting)
      const result = yield* Fiber.join(sweep)
      assert.deepStrictEqual(result.failures, [])
      // The drop, planned under the old policy, committed before set returned.
      assert.deepStrictEqual(leftWhenSet, [])
      assert.deepStrictEqual(result.categories.map((c) => [c.purged, c.partitionsDropped]), [[2, 1]])
      assert.deepStrictEqual(yield* liveIds(tenant), [])
    }).pipe(Effect.ensuring(unpause)))

  it.effect("drops the expired day, purges the tenant's other expired records in batches, and counts both", () =>
    Effect.gen(function*() {
      const sweeper = yield* Sweeper.Sweeper
      const tenant = yield* TenantId.make
      // Days of their own: 2031-02-10 goes whole; of 2031-02-11, what is before the cut-off.
      yield* TestClock.setTime(Date.UTC(2031, 1, 10, 6))
      for (let i = 0; i < 4; i++) yield* write(tenant, EVENTS, 0)
      yield* TestClock.setTime(Date.UTC(2031, 1, 11, 6))
      for (let i = 0; i < 5; i++) yield* write(tenant, EVENTS, 0)
      const kept = yield* write(tenant, EVENTS, -14)
      yield* TestClock.setTime(Date.UTC(2031, 1, 13, 12)) // cut-off (48 h): 2031-02-11 12:00
      const result = yield* sweeper.sweep({ tenants: [tenant], categories: [EVENTS] })
      assert.deepStrictEqual(result.failures, [])
      assert.deepStrictEqual(result.categories.map((c) => [c.purged, c.partitionsDropped]), [[9, 1]])
      assert.deepStrictEqual(yield* liveIds(tenant), [kept])
      const receipt = (yield* receipts(tenant)).map(detailsOf).at(-1)!
      assert.deepStrictEqual([receipt.count, receipt.partitionsDropped, receipt.complete], [9, 1, true])
    }))
})

describe("Sweeper in memory", () => {
  layer(memoryStack)((it) => {
    it.effect("a hold placed while a batch runs returns once that batch is done, and nothing it covers goes after", () =>
      Effect.gen(function*() {
        const sweeper = yield* Sweeper.Sweeper
        const holds = yield* LegalHolds
        const records = yield* TestRecords
        const tenant = yield* TenantId.make
        yield* TestClock.adjust(Duration.days(1))
        for (let i = 0; i < 7; i++) yield* write(tenant, LOG, 11 + i)
        const paused = yield* Deferred.make<void>()
        const go = yield* Deferred.make<void>()
        let first = true
        records.faults.afterBatch = Effect.suspend(() => {
          if (!first) return Effect.void
          first = false
          return Effect.zipRight(Deferred.succeed(paused, undefined), Deferred.await(go))
        })
        const sweep = yield* Effect.fork(sweeper.sweep({ tenants: [tenant], categories: [LOG] }))
        yield* Deferred.await(paused)
        const placing = yield* Effect.fork(Effect.zipRight(holds.place(tenant, { reason: "case 11" }, staff), liveIds(tenant)))
        // Time enough for a hold that did not wait to be placed: in memory nothing else waits.
        for (let i = 0; i < 100; i++) yield* Effect.yieldNow()
        assert.isTrue(Option.isNone(yield* Fiber.poll(placing)), "the hold waits for the batch in progress")
        yield* Deferred.succeed(go, undefined)
        const leftWhenPlaced = yield* Fiber.join(placing)
        const result = yield* Fiber.join(sweep)
        assert.deepStrictEqual(result.failures, [])
        assert.isAtMost(leftWhenPlaced.length, 4)
        assert.sameMembers([...yield* liveIds(tenant)], [...leftWhenPlaced])
      }).pipe(Effect.ensuring(Effect.map(TestRecords, (records) => {
        records.faults.afterBatch = Effect.void
      }))))

    it.effect("a policy lengthened while a batch runs: set returns once that batch is done, and nothing the new policy keeps goes after", () =>
      policyLengthenedDuringBatch("memory", afterTurns))
  })
})

describe("Sweeper.schedule", () => {
  layer(memoryStack)((it) => {
    it.effect("sweeps every tenant on the schedule", () =>
      Effect.gen(function*() {
        const [a, b] = yield* Effect.all([TenantId.make, TenantId.make])
        yield* TestClock.adjust(Duration.days(1))
        const first = yield* write(a, LOG, 9)
        const second = yield* write(b, LOG, 9)
        yield* Effect.forkScoped(Sweeper.schedule(Schedule.spaced(Duration.hours(1))))
        yield* TestClock.adjust(Duration.minutes(1))
        assert.include(yield* liveIds(a), first)
        yield* TestClock.adjust(Duration.hours(1))
        yield* TestClock.adjust(Duration.hours(1))
        assert.notInclude(yield* liveIds(a), first)
        assert.notInclude(yield* liveIds(b), second)
        assert.isAtLeast((yield* receipts(a)).length, 2)
      }).pipe(Effect.scoped))
  })
})

// Retention with options of its own, the test categories and an audit log, as `memoryStack` and `sqlStack`.
const withOptions = (options: Sweeper.SweeperOptions) => ({
  memory: Layer.mergeAll(Retention.layerMemory(options), recordsMemory).pipe(
    Layer.provideMerge(RetentionTarget.layer),
    Layer.provideMerge(auditOver(AuditStore.layerMemory))
  ),
  sql: Layer.mergeAll(Retention.layerSql(options), recordsSql).pipe(
    Layer.provideMerge(RetentionTarget.layer),
    Layer.provideMerge(auditOver(AuditStore.layerSql))
  )
})

contractSuite("Sweeper with a journal kept forever", withOptions({ batchSize, journalRetention: Duration.infinity }), (it) => {
  it.effect("closes its entries and keeps them: nothing is recovered, no receipt repeated", () =>
    Effect.gen(function*() {
      const sweeper = yield* Sweeper.Sweeper
      const journal = yield* SweepJournal.SweepJournal
      const tenant = yield* TenantId.make
      yield* TestClock.adjust(Duration.days(1))
      yield* write(tenant, LOG, 11)
      const first = yield* sweeper.sweep({ tenants: [tenant] })
      assert.deepStrictEqual(first.failures.map((f) => f.error.message), [])
      assert.strictEqual((yield* journal.unfinished).length, 0)
      const second = yield* sweeper.sweep({ tenants: [tenant] })
      assert.deepStrictEqual(second.recovered, [])
      assert.strictEqual((yield* receipts(tenant)).filter((e) => detailsOf(e).count === 1).length, 1)
      assert.isTrue(Option.isSome(yield* journal.last(tenant, LOG)))
    }))
})

contractSuite("Sweeper with a batch size that is no number", withOptions({ batchSize: Number.NaN }), (it) => {
  it.effect("purges in batches of the default size, alike on every store", () =>
    Effect.gen(function*() {
      const sweeper = yield* Sweeper.Sweeper
      const tenant = yield* TenantId.make
      yield* TestClock.adjust(Duration.days(1))
      yield* write(tenant, LOG, 11)
      const fresh = yield* write(tenant, LOG, 9)
      const result = yield* sweeper.sweep({ tenants: [tenant], categories: [LOG] })
      assert.deepStrictEqual(result.failures.map((f) => f.error.message), [])
      assert.deepStrictEqual(result.categories.map((c) => c.purged), [1])
      assert.deepStrictEqual(yield* liveIds(tenant), [fresh])
    }))
})

describe("Sweeper.schedule when a sweep dies", () => {
  let calls = 0
  const dyingOnce = Layer.succeed(Sweeper.Sweeper, Sweeper.Sweeper.of({
    sweep: () =>
      Effect.suspend(() =>
        calls++ === 0
          ? Effect.die(new Error("a category's storage threw"))
          : Effect.succeed({ runId: "r", at: new Date(0), dryRun: false, categories: [], recovered: [], failures: [] })
      ),
    dryRun: () => Effect.die("unused")
  }))
  layer(dyingOnce)((it) => {
    it.effect("a sweep that dies is logged, and the next one runs on time", () =>
      Effect.gen(function*() {
        yield* Effect.forkScoped(Sweeper.schedule(Schedule.spaced(Duration.hours(1))))
        yield* TestClock.adjust(Duration.minutes(1))
        assert.strictEqual(calls, 1)
        yield* TestClock.adjust(Duration.hours(1))
        yield* TestClock.adjust(Duration.hours(1))
        assert.strictEqual(calls, 3)
      }).pipe(Effect.scoped))
  })
})

// Two processes on one PostgreSQL schema: two journals over two connection pools.
if (postgresUrl) {
  const baseUrl = postgresUrl
  class SecondJournal extends Context.Tag("test/SecondJournal")<
    SecondJournal,
    Context.Tag.Service<typeof SweepJournal.SweepJournal>
  >() {}
  const twoProcesses = Layer.unwrapScoped(
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const [row] = yield* sql<{ search_path: string }>`SHOW search_path`
      const url = new URL(baseUrl)
      url.searchParams.set("options", `-c search_path=${row!.search_path}`)
      const second = Layer.effect(SecondJournal, SweepJournal.SweepJournal).pipe(
        Layer.provide(SweepJournal.layerSql),
        Layer.provide(PgClient.layer({ url: Redacted.make(url.toString()) })),
        Layer.orDie
      )
      return Layer.merge(SweepJournal.layerSql, second)
    })
  ).pipe(Layer.provideMerge(postgresLayer), Layer.orDie)

  describe("SweepJournal lock across processes (PostgreSQL)", () => {
    layer(twoProcesses, { timeout: 120_000 })((it) => {
      it.effect("one process sweeps at a time; the lock is free once the holder's scope ends", () =>
        Effect.gen(function*() {
          const first = yield* SweepJournal.SweepJournal
          const second = yield* SecondJournal
          const held = yield* Effect.scoped(Effect.gen(function*() {
            assert.isTrue(yield* first.lock(randomUUID()))
            return yield* Effect.scoped(second.lock(randomUUID()))
          }))
          assert.isFalse(held)
          assert.isTrue(yield* Effect.scoped(second.lock(randomUUID())))
          assert.isTrue(yield* Effect.scoped(first.lock(randomUUID())))
        }))
    })
  })
}
