import { assert } from "@effect/vitest"
import type { Actor } from "@lawful/audit-trail/AuditEvent"
import { AuditEvent } from "@lawful/audit-trail/AuditEvent"
import { AuditLog } from "@lawful/audit-trail/AuditLog"
import * as SubjectId from "@lawful/core/SubjectId"
import * as TenantId from "@lawful/core/TenantId"
import { contractSuite } from "@lawful/core/testing"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as AuditEntryDetails from "../src/AuditEntryDetails.js"
import { LegalHolds } from "../src/LegalHold.js"
import { RetentionPolicies } from "../src/RetentionPolicy.js"
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

  it.effect("a held subject's entries keep their details, and later ones wait for the release", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog
      const sweeper = yield* Sweeper
      const policies = yield* RetentionPolicies
      const holds = yield* LegalHolds
      const tenant = yield* TenantId.make
      const [held, free] = yield* Effect.all([SubjectId.make, SubjectId.make])
      yield* log.append(tenant, recorded(1, free))
      yield* TestClock.adjust(Duration.hours(1))
      yield* log.append(tenant, recorded(2, held))
      yield* TestClock.adjust(Duration.hours(1))
      yield* log.append(tenant, recorded(3, free))
      yield* TestClock.adjust(Duration.days(10))
      yield* policies.set(tenant, { [category]: "5 days" }, staff)
      const hold = yield* holds.place(tenant, { subject: held, reason: "case" }, staff)
      const result = yield* sweeper.sweep({ tenants: [tenant], categories: [category] })
      assert.strictEqual(result.categories[0]!.purged, 1)
      const details = () =>
        Effect.map(log.query(tenant, { actionPrefix: "consent." }), (page) => page.entries.map((e) => Option.isSome(e.details)))
      assert.deepStrictEqual(yield* details(), [false, true, true])
      yield* holds.release(tenant, hold.holdId, staff)
      yield* sweeper.sweep({ tenants: [tenant], categories: [category] })
      assert.deepStrictEqual(yield* details(), [false, false, false])
      const report = yield* Effect.flatMap(AuditLog, (l) => l.verify(tenant))
      assert.isTrue(report.ok)
    }))
})
