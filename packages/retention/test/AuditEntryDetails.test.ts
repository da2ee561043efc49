import { assert } from "@effect/vitest"
import type { Actor } from "@lawful/audit-trail/AuditEvent"
import { AuditEvent } from "@lawful/audit-trail/AuditEvent"
import { AuditLog } from "@lawful/audit-trail/AuditLog"
import * as SubjectId from "@lawful/core/SubjectId"
import * as TenantId from "@lawful/core/TenantId"
import { contractSuite } from "@lawful/core/testing"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as AuditEntryDetails from "../src/AuditEntryDetails.js"
import { LegalHolds } from "../src/LegalHold.js"
import { RetentionPolicies } from "../src/RetentionPolicy.js"
import { RetentionReport } from "../src/RetentionReport.js"
import { Sweeper } from "../src/Sweeper.js"
import { memoryStack, sqlStack } from "./fixtures.js"

const staff: Actor = { kind: "staff", id: "staff-1" }
const category = AuditEntryDetails.targetId

const recorded = (n: number, subject?: SubjectId.SubjectId) =>
  new AuditEvent({
    actor: { kind: "api-key", id: "key-1" },
    action: "consent.recorded",
    ...(subject !== undefined ? { subject } : {}),
    details: { list: "news", n }
  })

const withDetails = <E, R>(stack: Layer.Layer<any, E, R>) =>
  AuditEntryDetails.registerTarget().pipe(Layer.orDie, Layer.provideMerge(stack))

contractSuite("AuditEntryDetails", { memory: withDetails(memoryStack), sql: withDetails(sqlStack) }, (it) => {
  it.effect("redacts the details of entries past their period; the log still verifies", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog
      const sweeper = yield* Sweeper
      const policies = yield* RetentionPolicies
      const tenant = yield* TenantId.make
      yield* log.appendAll(tenant, [recorded(1), recorded(2), recorded(3)])
      yield* TestClock.adjust(Duration.days(10))
      yield* log.append(tenant, recorded(4))
      yield* policies.set(tenant, { [category]: "5 days" }, staff)
      const dry = yield* sweeper.dryRun({ tenants: [tenant], categories: [category] })
      assert.strictEqual(dry.categories[0]!.purged, 3)
      const result = yield* sweeper.sweep({ tenants: [tenant], categories: [category] })
      assert.strictEqual(result.categories[0]!.purged, 3)
      const entries = (yield* log.query(tenant, { actionPrefix: "consent." })).entries
      assert.deepStrictEqual(entries.map((e) => Option.isSome(e.details)), [false, false, false, true])
      assert.isTrue((yield* log.verify(tenant)).ok)
      const receipt = (yield* log.query(tenant, { actionPrefix: "retention.purged" })).entries[0]!
      assert.strictEqual(Option.getOrThrow(receipt.details).value.count, 3)
      assert.strictEqual((yield* sweeper.dryRun({ tenants: [tenant], categories: [category] })).categories[0]!.purged, 0)
    }))

  it.effect("a held subject's entries keep their details, other subjects' are redacted on time, and the held ones after the release", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog
      const sweeper = yield* Sweeper
      const policies = yield* RetentionPolicies
      const holds = yield* LegalHolds
      const reports = yield* RetentionReport
      const tenant = yield* TenantId.make
      const [held, free] = yield* Effect.all([SubjectId.make, SubjectId.make])
      const start = yield* Clock.currentTimeMillis
      yield* log.append(tenant, recorded(1, free))
      yield* TestClock.adjust(Duration.hours(1))
      yield* log.append(tenant, recorded(2, held))
      yield* TestClock.adjust(Duration.hours(1))
      yield* log.append(tenant, recorded(3, free))
      yield* TestClock.adjust(Duration.days(10))
      yield* policies.set(tenant, { [category]: "5 days" }, staff)
      const hold = yield* holds.place(tenant, { subject: held, reason: "case" }, staff)
      assert.strictEqual((yield* sweeper.dryRun({ tenants: [tenant], categories: [category] })).categories[0]!.purged, 2)
      const result = yield* sweeper.sweep({ tenants: [tenant], categories: [category] })
      assert.strictEqual(result.categories[0]!.purged, 2)
      const details = () =>
        Effect.map(log.query(tenant, { actionPrefix: "consent." }), (page) => page.entries.map((e) => Option.isSome(e.details)))
      assert.deepStrictEqual(yield* details(), [false, true, false])
      assert.strictEqual((yield* sweeper.dryRun({ tenants: [tenant], categories: [category] })).categories[0]!.purged, 0)
      // The held entry is the oldest with details, and held; the next purge is that of the
      // entries written since (the policy, the hold, the receipts).
      const audit = (yield* reports.report(tenant)).find((r) => r.category === category)!
      assert.deepStrictEqual(audit.oldestRecordAt, Option.some(new Date(start + Duration.toMillis(Duration.hours(1)))))
      const now = yield* Clock.currentTimeMillis
      assert.deepStrictEqual(audit.nextPurgeAt, Option.some(new Date(now + Duration.toMillis(Duration.days(5)))))
      assert.deepStrictEqual([audit.expired, audit.held], [0, 1])
      yield* holds.release(tenant, hold.holdId, staff)
      assert.strictEqual((yield* sweeper.dryRun({ tenants: [tenant], categories: [category] })).categories[0]!.purged, 1)
      const released = yield* sweeper.sweep({ tenants: [tenant], categories: [category] })
      assert.strictEqual(released.categories[0]!.purged, 1)
      assert.deepStrictEqual(yield* details(), [false, false, false])
      const report = yield* Effect.flatMap(AuditLog, (l) => l.verify(tenant))
      assert.isTrue(report.ok)
    }))

  it.effect("a period reaching back before any date a store holds keeps every entry and fails nothing, on every store", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog
      const sweeper = yield* Sweeper
      const policies = yield* RetentionPolicies
      const report = yield* RetentionReport
      const tenant = yield* TenantId.make
      yield* TestClock.setTime(Date.UTC(2030, 0, 1))
      yield* log.append(tenant, recorded(1))
      // About 19,000 years: allowed, the category having no bound; its cut-off is before 4713 BC.
      yield* policies.set(tenant, { [category]: "1000000 weeks" }, staff)
      const dry = yield* sweeper.dryRun({ tenants: [tenant], categories: [category] })
      assert.deepStrictEqual(dry.failures.map((f) => f.error.message), [])
      const result = yield* sweeper.sweep({ tenants: [tenant], categories: [category] })
      assert.deepStrictEqual(result.failures.map((f) => f.error.message), [])
      assert.deepStrictEqual(result.categories.map((c) => [c.purged, c.complete]), [[0, true]])
      const details = (yield* report.report(tenant)).find((r) => r.category === category)!
      assert.strictEqual(details.expired, 0)
      const entries = (yield* log.query(tenant, { actionPrefix: "consent." })).entries
      assert.isTrue(Option.isSome(entries[0]!.details))
    }))

  it.effect("a long hold on one subject does not keep the details of the tenant's other subjects past their period", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog
      const sweeper = yield* Sweeper
      const policies = yield* RetentionPolicies
      const holds = yield* LegalHolds
      const tenant = yield* TenantId.make
      const [held, a, b] = yield* Effect.all([SubjectId.make, SubjectId.make, SubjectId.make])
      // Twelve entries an hour apart, the held subject's every fourth from the first, over batches of three.
      for (let i = 0; i < 12; i++) {
        yield* log.append(tenant, recorded(i, i % 4 === 0 ? held : i % 4 === 1 ? a : i % 4 === 2 ? b : undefined))
        yield* TestClock.adjust(Duration.hours(1))
      }
      yield* TestClock.adjust(Duration.days(10))
      yield* policies.set(tenant, { [category]: "5 days" }, staff)
      const hold = yield* holds.place(tenant, { subject: held, reason: "case" }, staff)
      const details = () =>
        Effect.map(log.query(tenant, { actionPrefix: "consent." }), (page) => page.entries.map((e) => Option.isSome(e.details)))
      const keptForHeld = Array.from({ length: 12 }, (_, i) => i % 4 === 0)
      for (let day = 0; day < 30; day++) {
        yield* TestClock.adjust(Duration.days(1))
        yield* log.append(tenant, recorded(100 + day, a))
        yield* sweeper.sweep({ tenants: [tenant], categories: [category] })
        // The held subject's entries stay; each day's entry is redacted once more than five days old.
        const expected = [...keptForHeld, ...Array.from({ length: day + 1 }, (_, d) => day - d <= 5)]
        assert.deepStrictEqual(yield* details(), expected)
      }
      assert.strictEqual((yield* sweeper.dryRun({ tenants: [tenant], categories: [category] })).categories[0]!.purged, 0)
      yield* holds.release(tenant, hold.holdId, staff)
      // The held subject's three, and the entry of the hold's placement, which is about the subject.
      assert.strictEqual((yield* sweeper.dryRun({ tenants: [tenant], categories: [category] })).categories[0]!.purged, 4)
      assert.strictEqual((yield* sweeper.sweep({ tenants: [tenant], categories: [category] })).categories[0]!.purged, 4)
      assert.isTrue((yield* details()).slice(0, 12).every((kept) => !kept))
      assert.isTrue((yield* log.verify(tenant)).ok)
    }))
})
