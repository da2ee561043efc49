/**
 * Review 16: defects found in review, each with the test that failed before its fix.
 */
import { assert } from "@effect/vitest"
import type { Actor } from "@lawful/audit-trail/AuditEvent"
import { AuditLog } from "@lawful/audit-trail/AuditLog"
import * as RetentionTarget from "@lawful/core/RetentionTarget"
import * as TenantId from "@lawful/core/TenantId"
import { contractSuite } from "@lawful/core/testing"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import { LegalHolds } from "../src/LegalHold.js"
import { RetentionPolicies } from "../src/RetentionPolicy.js"
import { AuditGate, emptyTarget, gatedStacks, memoryStack, sqlStack } from "./fixtures.js"

const staff: Actor = { kind: "staff", id: "staff-16" }

contractSuite("Review16 holds", gatedStacks("retention.hold.placed"), (it) => {
  // The hold was saved (committed, on SQL), then its entry appended: a process that stopped in
  // between left a hold in force that the audit log never names.
  it.effect("a hold is never in force without its audit entry: an interrupted or failed append leaves no hold", () =>
    Effect.gen(function*() {
      const holds = yield* LegalHolds
      const log = yield* AuditLog
      const gate = yield* AuditGate
      const tenant = yield* TenantId.make
      const placedEntries = Effect.map(
        log.query(tenant, { actionPrefix: "retention.hold." }),
        (page) => page.entries.length
      )

      // The process stops while the entry is being appended.
      const reached = yield* Deferred.make<void>()
      gate.armed = { reached, go: yield* Deferred.make<void>() }
      const placing = yield* Effect.fork(holds.place(tenant, { reason: "Case 16" }, staff))
      yield* Deferred.await(reached)
      yield* Fiber.interrupt(placing)
      assert.deepStrictEqual((yield* holds.list(tenant)).map((h) => h.holdId), [], "no hold without its entry")
      assert.strictEqual(yield* placedEntries, 0)

      // The append fails.
      const failing = { reached: yield* Deferred.make<void>(), go: yield* Deferred.make<void>() }
      gate.armed = failing
      const failed = yield* Effect.fork(Effect.either(holds.place(tenant, { reason: "Case 16" }, staff)))
      yield* Deferred.await(failing.reached)
      yield* Deferred.succeed(failing.go, undefined)
      const result = yield* Fiber.join(failed)
      assert.isTrue(Either.isLeft(result) && result.left._tag === "AuditStoreError", String(result))
      assert.deepStrictEqual(yield* holds.list(tenant), [], "a failed append leaves no hold")
      assert.strictEqual(yield* placedEntries, 0)

      // And a hold whose entry is appended is in force, with its entry.
      const hold = yield* holds.place(tenant, { reason: "Case 16" }, staff)
      assert.deepStrictEqual((yield* holds.active(tenant)).map((h) => h.holdId), [hold.holdId])
      assert.strictEqual(yield* placedEntries, 1)
    }))
})

// A category and its child with no records, registered under ids of their own for the test's scope.
const pair = (
  prefix: string,
  parent: Partial<RetentionTarget.RetentionTarget>,
  child: Partial<RetentionTarget.RetentionTarget>
) => {
  const log = `${prefix}.log`
  const preview = `${prefix}.preview`
  return {
    log,
    preview,
    register: Effect.flatMap(RetentionTarget.RetentionTargets, (registry) =>
      Effect.zipRight(
        registry.register(emptyTarget(log, parent)),
        registry.register(emptyTarget(preview, { defaultPeriod: Duration.hours(5), maxPeriod: Duration.hours(24), ...child, parent: log }))
      )).pipe(Effect.orDie)
  }
}

const hours = (period: Duration.Duration) => Duration.isFinite(period) ? Duration.toHours(period) : "forever"

contractSuite("Review16 policies", { memory: memoryStack, sql: sqlStack }, (it) => {
  // `validate` compared a child with its parent's stored period: a parent stored at 40 hours (or
  // forever), which today's bound of 12 hours clamps, let its child be set above the 12 hours in
  // force, where it was silently clamped back.
  it.effect("a child is refused above its parent's period in force, not compared with a stored one that bounds clamp", () =>
    Effect.gen(function*() {
      const policies = yield* RetentionPolicies
      for (const [prefix, stored] of [["review16.max", "40 hours"], ["review16.forever", "forever"]] as const) {
        const tenant = yield* TenantId.make
        const before = pair(prefix, { allowForever: true }, {})
        yield* Effect.scoped(Effect.zipRight(before.register, policies.set(tenant, { [before.log]: stored }, staff)))
        // A deployment tightens the parent's bound: it keeps 12 hours at most, never forever.
        const after = pair(prefix, { maxPeriod: Duration.hours(12) }, {})
        yield* Effect.scoped(Effect.gen(function*() {
          yield* after.register
          assert.strictEqual(hours((yield* policies.get(tenant, after.log)).period), 12)
          const result = yield* Effect.either(policies.set(tenant, { [after.preview]: "20 hours" }, staff))
          assert.isTrue(
            Either.isLeft(result) && result.left._tag === "RetentionPolicyInvalid" && result.left.reason === "outlives-parent",
            `${prefix}: ${Either.isLeft(result) ? result.left : `accepted, in force ${hours(result.right[0]!.period)} hours`}`
          )
          const preview = yield* policies.get(tenant, after.preview)
          assert.deepStrictEqual([preview.source, hours(preview.period)], ["platform", 5], "the refused change changes nothing")
          // Within the period in force, it is accepted.
          const [set] = yield* policies.set(tenant, { [after.preview]: "12 hours" }, staff)
          assert.strictEqual(hours(set!.period), 12)
        }))
      }
    }))

  // `validate` compared a parent with its child's stored period: a child stored at 20 hours, which
  // today's bound of 6 hours clamps, refused a parent of 8 hours that keeps the child's 6.
  it.effect("a parent is accepted above its child's period in force, whatever the stored one that bounds clamp", () =>
    Effect.gen(function*() {
      const policies = yield* RetentionPolicies
      const tenant = yield* TenantId.make
      const before = pair("review16.child", {}, {})
      yield* Effect.scoped(Effect.zipRight(
        before.register,
        policies.set(tenant, { [before.log]: "40 hours", [before.preview]: "20 hours" }, staff)
      ))
      // A deployment tightens the child's bound to 6 hours.
      const after = pair("review16.child", {}, { maxPeriod: Duration.hours(6) })
      yield* Effect.scoped(Effect.gen(function*() {
        yield* after.register
        assert.strictEqual(hours((yield* policies.get(tenant, after.preview)).period), 6)
        const result = yield* Effect.either(policies.set(tenant, { [after.log]: "8 hours" }, staff))
        assert.isTrue(Either.isRight(result), String(Either.isLeft(result) ? result.left : "accepted"))
        const inForce = yield* Effect.all([policies.get(tenant, after.log), policies.get(tenant, after.preview)])
        assert.deepStrictEqual(inForce.map((p) => hours(p.period)), [8, 6])
        // Below the child's period in force, it is refused.
        const below = yield* Effect.either(policies.set(tenant, { [after.log]: "5 hours" }, staff))
        assert.isTrue(
          Either.isLeft(below) && below.left._tag === "RetentionPolicyInvalid" && below.left.reason === "outlives-parent",
          String(Either.isLeft(below) ? below.left : "accepted")
        )
        assert.strictEqual(hours((yield* policies.get(tenant, after.log)).period), 8)
      }))
    }))
})
