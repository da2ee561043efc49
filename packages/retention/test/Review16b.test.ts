/**
 * Review 16b: the sweep side (batches, partition drops, journal, archives), each defect with the
 * test that failed before its fix, and checks of what was found sound.
 */
import { assert } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import type { Actor } from "@lawful/audit-trail/AuditEvent"
import { AuditLog } from "@lawful/audit-trail/AuditLog"
import * as RetentionTarget from "@lawful/core/RetentionTarget"
import * as TenantId from "@lawful/core/TenantId"
import * as SubjectId from "@lawful/core/SubjectId"
import { contractSuite, sqlSuite } from "@lawful/core/testing"
import * as Vault from "@lawful/core/Vault"
import * as Duration from "effect/Duration"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as ArchiveStore from "../src/ArchiveStore.js"
import { LegalHolds } from "../src/LegalHold.js"
import { RetentionPolicies } from "../src/RetentionPolicy.js"
import { Sweeper } from "../src/Sweeper.js"
import {
  archiveInTestSchema,
  EVENTS,
  LOG,
  liveIds,
  memoryStack,
  midSweep,
  refuseRecords,
  REMOTE,
  RemoteRecords,
  remoteRecords,
  sqlStack,
  TestRecords,
  withArchive,
  write
} from "./fixtures.js"

const staff: Actor = { kind: "staff", id: "staff-16b" }
const hour = 60 * 60 * 1000

const receipts = (tenant: TenantId.TenantId) =>
  Effect.flatMap(AuditLog, (log) =>
    Effect.map(log.query(tenant, { actionPrefix: "retention.purged", limit: 1000 }), (page) =>
      page.entries.map((entry) => Option.getOrThrow(entry.details).value)))

// A category on a database of its own (`REMOTE`: another database of the test's backend).
const remoteStack = remoteRecords.pipe(Layer.provideMerge(sqlStack))

sqlSuite("Review16b batches on a database of their own", remoteStack, (it) => {
  // A batch of a category on another database commits before its journal record is written. When the
  // record failed, the sweep counted the batch nowhere: its records were gone, and neither the receipt
  // nor the journal (nor the receipt recovered from it) said so. A partition drop in the same case was
  // already counted in the receipt.
  it.effect("every record purged is counted in a receipt, even when the journal record of its batch fails", () =>
    Effect.gen(function*() {
      const sweeper = yield* Sweeper
      const remote = yield* RemoteRecords
      yield* TestClock.adjust(Duration.days(1))
      // One tenant alone (a batch at a time), and two purged together.
      const alone = yield* TenantId.make
      const together = [yield* TenantId.make, yield* TenantId.make] as const
      for (const tenant of [alone, ...together]) {
        for (let i = 0; i < 4; i++) yield* remote.write(tenant, 11 + i)
        yield* remote.write(tenant, 1)
      }
      for (const tenants of [[alone], together]) {
        const refused = yield* Effect.scoped(Effect.zipRight(
          refuseRecords(tenants[0]!),
          sweeper.sweep({ tenants, categories: [REMOTE] })
        ))
        assert.isTrue(refused.failures.some((f) => f.error._tag === "RetentionStoreError"), "the failed record is reported")
        const result = yield* sweeper.sweep({ tenants, categories: [REMOTE] })
        assert.deepStrictEqual(result.failures, [])
        for (const tenant of tenants) {
          assert.strictEqual(yield* remote.left(tenant), 1)
          const counted = (yield* receipts(tenant)).reduce((n, d) => n + (d.count as number), 0)
          assert.strictEqual(counted, 4, `${tenants.length === 1 ? "alone" : "together"}: the receipts count every record purged`)
        }
      }
    }))
})

contractSuite("Review16b sweeps", { memory: memoryStack, sql: sqlStack }, (it) => {
  // Checked sound: a tenant set to keep its records forever between two batches loses nothing more,
  // alone or purged together with another tenant, and its receipt counts what went before.
  it.effect("a policy set to forever mid-sweep: nothing is purged after set returned, and the receipt counts what was", () =>
    Effect.gen(function*() {
      const sweeper = yield* Sweeper
      const policies = yield* RetentionPolicies
      yield* TestClock.adjust(Duration.days(1))
      const [kept, other] = [yield* TenantId.make, yield* TenantId.make]
      for (const tenant of [kept, other]) {
        for (let i = 0; i < 7; i++) yield* write(tenant, LOG, 11 + i)
      }
      const { during, resting, result } = yield* midSweep(
        1,
        sweeper.sweep({ tenants: [kept, other], categories: [LOG] }),
        Effect.zipRight(policies.set(kept, { [LOG]: "forever" }, staff), liveIds(kept))
      )
      assert.isTrue(resting)
      assert.deepStrictEqual(result.failures, [])
      assert.deepStrictEqual(yield* liveIds(kept), during, "nothing of the tenant went after set returned")
      assert.deepStrictEqual(yield* liveIds(other), [])
      const purged = 7 - during.length
      assert.deepStrictEqual(
        (yield* receipts(kept)).map((d) => [d.count, d.complete]),
        [[purged, true]]
      )
    }))
})

contractSuite("Review16b archives", {
  memory: withArchive(memoryStack, ArchiveStore.layerMemory),
  sql: withArchive(sqlStack, archiveInTestSchema)
}, (it) => {
  // Checked sound: at the instant its period ends an archived record is kept, a millisecond later it
  // goes, and a hold on its subject keeps it past the end until released.
  it.effect("an archived record goes the millisecond after its legal period ends, not at it, and never while held", () =>
    Effect.gen(function*() {
      const archive = yield* ArchiveStore.ArchiveStore
      const policies = yield* RetentionPolicies
      const holds = yield* LegalHolds
      const sweeper = yield* Sweeper
      const seal = yield* Vault.Vault
      const tenant = yield* TenantId.make
      const [ann, bob] = [yield* SubjectId.make, yield* SubjectId.make]
      const start = Date.UTC(2041, 2, 30, 23, 30) // the night clocks change in much of Europe: UTC has no such night
      yield* TestClock.setTime(start)
      const put = (subject: SubjectId.SubjectId) =>
        Effect.flatMap(seal.seal(tenant, subject, "archive.invoice", "x"), (sealed) =>
          archive.put(tenant, { kind: "invoice", subject, sealed, archivedAt: new Date(start) }))
      const [annRecord, bobRecord] = [yield* put(ann), yield* put(bob)]
      yield* policies.set(tenant, { [ArchiveStore.targetId]: "365 days" }, staff)
      const hold = yield* holds.place(tenant, { subject: bob, reason: "audit" }, staff)
      const sweep = sweeper.sweep({ tenants: [tenant], categories: [ArchiveStore.targetId] })
      const left = Effect.map(archive.list(tenant), (records) => records.map((r) => r.archiveId).sort())

      yield* TestClock.setTime(start + 365 * 24 * hour)
      yield* sweep
      assert.deepStrictEqual(yield* left, [annRecord.archiveId, bobRecord.archiveId].sort(), "kept at the instant its period ends")
      yield* TestClock.adjust(Duration.millis(1))
      yield* sweep
      assert.deepStrictEqual(yield* left, [bobRecord.archiveId], "gone a millisecond later, unless held")
      yield* TestClock.adjust(Duration.days(30))
      yield* sweep
      assert.deepStrictEqual(yield* left, [bobRecord.archiveId], "held past its period")
      yield* holds.release(tenant, hold.holdId, staff)
      yield* sweep
      assert.deepStrictEqual(yield* left, [])
      assert.deepStrictEqual((yield* receipts(tenant)).map((d) => d.count), [0, 1, 0, 1])
    }))
})

sqlSuite("Review16b partitions", sqlStack, (it) => {
  // Checked sound: a sweep interrupted while it drops a partition (its tenants' policies and holds
  // read, in the drop's transaction) leaves every record of the day, and the next sweep drops it and
  // counts them once.
  it.effect("a sweep interrupted during a partition drop leaves the day whole; the next one drops it and counts it once", () =>
    Effect.gen(function*() {
      const sweeper = yield* Sweeper
      const records = yield* TestRecords
      const sql = yield* SqlClient.SqlClient
      const tenant = yield* TenantId.make
      yield* TestClock.setTime(Date.UTC(2036, 4, 10, 6))
      for (let i = 0; i < 4; i++) yield* write(tenant, EVENTS, 0)
      yield* TestClock.setTime(Date.UTC(2036, 4, 13, 1))
      const partition = sql<{ name: string }>`SELECT relname AS name FROM pg_class WHERE relname = 'test_events_p20360510'`
      const paused = yield* Deferred.make<void>()
      records.faults.beforePurge = (name) =>
        name === "test_events_p20360510" ? Effect.zipRight(Deferred.succeed(paused, undefined), Effect.never) : Effect.void
      const sweep = sweeper.sweep({ tenants: [tenant], categories: [EVENTS] })
      const interrupted = yield* Effect.fork(sweep)
      yield* Deferred.await(paused)
      assert.isTrue(Exit.isInterrupted(yield* Fiber.interrupt(interrupted)))
      records.faults.beforePurge = () => Effect.void
      assert.strictEqual((yield* partition).length, 1)
      assert.strictEqual((yield* liveIds(tenant)).length, 4)

      const result = yield* sweep
      assert.deepStrictEqual(result.failures, [])
      assert.deepStrictEqual(result.categories.map((c) => [c.purged, c.partitionsDropped]), [[4, 1]])
      assert.strictEqual((yield* partition).length, 0)
      assert.deepStrictEqual((yield* receipts(tenant)).map((d) => [d.count, d.partitionsDropped]), [[4, 1]])
    }).pipe(Effect.ensuring(Effect.map(TestRecords, (records) => {
      records.faults.beforePurge = () => Effect.void
    }))))
})
