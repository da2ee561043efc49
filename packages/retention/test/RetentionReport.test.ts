import { assert } from "@effect/vitest"
import type { Actor } from "@lawful/audit-trail/AuditEvent"
import * as SubjectId from "@lawful/core/SubjectId"
import * as TenantId from "@lawful/core/TenantId"
import { contractSuite } from "@lawful/core/testing"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { LegalHolds } from "../src/LegalHold.js"
import { RetentionPolicies } from "../src/RetentionPolicy.js"
import { RetentionReport } from "../src/RetentionReport.js"
import { Sweeper } from "../src/Sweeper.js"
import { EVENTS, LOG, PREVIEW, TestRecords, memoryStack, recordId, sqlStack } from "./fixtures.js"
import type { Category } from "./fixtures.js"

const hour = 60 * 60 * 1000
const staff: Actor = { kind: "staff", id: "staff-1" }

contractSuite("RetentionReport", { memory: memoryStack, sql: sqlStack }, (it) => {
  it.effect("per category: policy, bounds, oldest record and its age, next purge, held records, last sweep", () =>
    Effect.gen(function*() {
      const records = yield* TestRecords
      const report = yield* RetentionReport
      const policies = yield* RetentionPolicies
      const holds = yield* LegalHolds
      const sweeper = yield* Sweeper
      const tenant = yield* TenantId.make
      const held = yield* SubjectId.make
      const start = Date.UTC(2031, 2, 1)
      yield* TestClock.setTime(start)
      const write = (category: Category, hoursAgo: number, subject?: SubjectId.SubjectId) =>
        records.write(tenant, { id: recordId(), category, subject, at: start - hoursAgo * hour })
      yield* write(LOG, 30, held)
      yield* write(LOG, 20)
      yield* write(LOG, 2)
      yield* write(PREVIEW, 3)
      yield* policies.set(tenant, { [LOG]: "24 hours" }, staff)
      yield* holds.place(tenant, { subject: held, reason: "case" }, staff)

      const before = new Map((yield* report.report(tenant)).map((r) => [r.category, r]))
      const log = before.get(LOG)!
      assert.strictEqual(log.policy.source, "tenant")
      assert.strictEqual(Duration.toHours(log.policy.period), 24)
      assert.strictEqual(Duration.toHours(log.bounds.maximum), 48)
      assert.isTrue(log.bounds.allowForever)
      assert.deepStrictEqual(log.oldestRecordAt, Option.some(new Date(start - 30 * hour)))
      assert.deepStrictEqual(Option.map(log.oldestRecordAge, Duration.toHours), Option.some(30))
      // The oldest unheld record (20 h old) expires 4 h from now.
      assert.deepStrictEqual(log.nextPurgeAt, Option.some(new Date(start + 4 * hour)))
      assert.deepStrictEqual([log.expired, log.held, log.activeHolds], [0, 1, 1])
      assert.isTrue(Option.isNone(log.lastPurge))
      const preview = before.get(PREVIEW)!
      assert.strictEqual(preview.parent, LOG)
      assert.strictEqual(preview.policy.source, "platform")
      assert.deepStrictEqual(preview.nextPurgeAt, Option.some(new Date(start + 2 * hour)))
      const events = before.get(EVENTS)!
      assert.isTrue(Option.isNone(events.oldestRecordAt))
      assert.isTrue(Option.isNone(events.nextPurgeAt))

      yield* TestClock.adjust(Duration.hours(5))
      const due = (yield* report.report(tenant)).find((r) => r.category === LOG)!
      assert.deepStrictEqual([due.expired, due.held], [1, 1])
      yield* sweeper.sweep({ tenants: [tenant] })
      const after = (yield* report.report(tenant)).find((r) => r.category === LOG)!
      assert.deepStrictEqual([after.expired, after.held], [0, 1])
      assert.deepStrictEqual(Option.map(after.lastPurge, (s) => [s.purged, s.complete]), Option.some([1, true]))
      // The held record is the oldest, but the next purge is that of the 2-hour-old record.
      assert.deepStrictEqual(after.nextPurgeAt, Option.some(new Date(start - 2 * hour + 24 * hour)))
    }))
})
