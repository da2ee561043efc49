import { assert, describe, it } from "@effect/vitest"
import { AuditLog } from "@lawful/audit-trail/AuditLog"
import { AuditStoreError, AuditTrail } from "@lawful/audit-trail/AuditTrail"
import type { Actor } from "@lawful/audit-trail/AuditEvent"
import * as RetentionTarget from "@lawful/core/RetentionTarget"
import * as TenantId from "@lawful/core/TenantId"
import { contractSuite } from "@lawful/core/testing"
import * as Duration from "effect/Duration"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as RetentionPolicy from "../src/RetentionPolicy.js"
import { RetentionPolicies } from "../src/RetentionPolicy.js"
import { EVENTS, LOG, PREVIEW, memoryStack, sqlStack } from "./fixtures.js"

const staff: Actor = { kind: "staff", id: "staff-7" }

const periods = (policies: ReadonlyArray<RetentionPolicy.Policy>) =>
  Object.fromEntries(policies.filter((p) => p.category.startsWith("test.")).map((p) => [p.category, Duration.format(p.period)]))

contractSuite("RetentionPolicies", { memory: memoryStack, sql: sqlStack }, (it) => {
  it.effect("platform defaults until a tenant sets its own; changes are audited; default restores", () =>
    Effect.gen(function*() {
      const policies = yield* RetentionPolicies
      const log = yield* AuditLog
      const tenant = yield* TenantId.make
      assert.deepStrictEqual(periods(yield* policies.all(tenant)), { [LOG]: "10h", [PREVIEW]: "5h", [EVENTS]: "2d" })
      const changed = yield* policies.set(tenant, { [LOG]: "30 hours", [PREVIEW]: Duration.hours(2) }, staff)
      assert.deepStrictEqual(changed.map((p) => [p.category, p.source, Duration.format(p.period)]), [
        [LOG, "tenant", "1d 6h"],
        [PREVIEW, "tenant", "2h"]
      ])
      const preview = yield* policies.get(tenant, PREVIEW)
      assert.deepStrictEqual(preview.setBy, staff)
      assert.isTrue(preview.setAt instanceof Date)
      const events = (yield* log.query(tenant, { actionPrefix: "retention.policy." })).entries
      assert.deepStrictEqual(
        events.map((e) => Option.map(e.details, (d) => d.value)),
        [
          Option.some({ category: LOG, period: "1d 6h", previous: "10h", source: "tenant" }),
          Option.some({ category: PREVIEW, period: "2h", previous: "5h", source: "tenant" })
        ]
      )
      assert.deepStrictEqual(events.map((e) => e.actor), [staff, staff])
      yield* policies.set(tenant, { [PREVIEW]: "default" }, staff)
      const back = yield* policies.get(tenant, PREVIEW)
      assert.strictEqual(back.source, "platform")
      assert.strictEqual(Duration.format(back.period), "5h")
      // Another tenant is untouched.
      assert.deepStrictEqual(periods(yield* policies.all(yield* TenantId.make)), { [LOG]: "10h", [PREVIEW]: "5h", [EVENTS]: "2d" })
    }))

  it.effect("invalid policies are typed errors and change nothing", () =>
    Effect.gen(function*() {
      const policies = yield* RetentionPolicies
      const log = yield* AuditLog
      const tenant = yield* TenantId.make
      yield* policies.set(tenant, { [LOG]: "20 hours" }, staff)
      const before = periods(yield* policies.all(tenant))
      const cases: ReadonlyArray<readonly [RetentionPolicy.PolicyChanges, RetentionPolicy.InvalidReason]> = [
        [{ [LOG]: "-1 days" }, "negative"],
        [{ [LOG]: -5 }, "negative"],
        [{ [LOG]: "soon" as Duration.DurationInput }, "not-a-period"],
        [{ [LOG]: "49 hours" }, "over-bound"],
        [{ [EVENTS]: "30 minutes" }, "below-minimum"],
        [{ [PREVIEW]: "forever" }, "forever-not-allowed"],
        [{ [PREVIEW]: "21 hours" }, "outlives-parent"],
        [{ [LOG]: "4 hours" }, "outlives-parent"],
        // Valid on its own, refused with the rest: all or nothing.
        [{ [EVENTS]: "3 days", [LOG]: "49 hours" }, "over-bound"]
      ]
      for (const [changes, reason] of cases) {
        const result = yield* Effect.either(policies.set(tenant, changes, staff))
        assert.isTrue(Either.isLeft(result), JSON.stringify(changes))
        const error = (result as Either.Left<{ _tag: string; reason?: string }, unknown>).left
        assert.strictEqual(error._tag, "RetentionPolicyInvalid")
        assert.strictEqual(error.reason, reason, JSON.stringify(changes))
      }
      const unknown = yield* Effect.either(policies.set(tenant, { "test.nothing": "1 hours" }, staff))
      assert.isTrue(Either.isLeft(unknown) && unknown.left._tag === "RetentionCategoryNotFound")
      assert.deepStrictEqual(periods(yield* policies.all(tenant)), before)
      assert.strictEqual((yield* log.query(tenant, { actionPrefix: "retention.policy." })).entries.length, 1)
      // Shortening a parent below its child works when both change together.
      yield* policies.set(tenant, { [LOG]: "4 hours", [PREVIEW]: "3 hours" }, staff)
      assert.deepStrictEqual(periods(yield* policies.all(tenant)), { [LOG]: "4h", [PREVIEW]: "3h", [EVENTS]: "2d" })
      yield* policies.set(tenant, { [LOG]: "forever" }, staff)
      assert.isTrue((yield* policies.get(tenant, LOG)).keepsForever)
    }))

  it.effect("a period that is not a whole number of milliseconds is refused alike on every store", () =>
    Effect.gen(function*() {
      const policies = yield* RetentionPolicies
      const tenant = yield* TenantId.make
      for (const period of ["1.5 millis", "1 nanos", Duration.millis(0.5), 2.25] as const) {
        const result = yield* Effect.either(policies.set(tenant, { [PREVIEW]: period }, staff))
        assert.isTrue(Either.isLeft(result), String(period))
        const error = (result as Either.Left<{ _tag: string; reason?: string }, unknown>).left
        assert.strictEqual(error._tag, "RetentionPolicyInvalid", String(period))
        assert.strictEqual(error.reason, "not-a-period", String(period))
      }
      assert.deepStrictEqual(periods(yield* policies.all(tenant)), { [LOG]: "10h", [PREVIEW]: "5h", [EVENTS]: "2d" })
    }))

  it.effect("a change by an actor no audit entry can name is a typed error and changes nothing", () =>
    Effect.gen(function*() {
      const policies = yield* RetentionPolicies
      const log = yield* AuditLog
      const tenant = yield* TenantId.make
      for (const actor of [{ kind: "staff", id: "" }, { kind: "staff", id: "x".repeat(201) }] as const) {
        const result = yield* Effect.exit(policies.set(tenant, { [LOG]: "20 hours" }, actor))
        assert.isTrue(Exit.isFailure(result) && Option.isSome(Cause.failureOption(result.cause)), String(result))
        const error = Option.getOrThrow(Cause.failureOption((result as Exit.Failure<unknown, { _tag: string }>).cause))
        assert.strictEqual(error._tag, "AuditEventInvalid")
      }
      assert.deepStrictEqual(periods(yield* policies.all(tenant)), { [LOG]: "10h", [PREVIEW]: "5h", [EVENTS]: "2d" })
      assert.strictEqual((yield* log.query(tenant, { actionPrefix: "retention.policy." })).entries.length, 0)
    }))

  it.effect("concurrent changes to a parent and its child are validated one after the other", () =>
    Effect.gen(function*() {
      const policies = yield* RetentionPolicies
      const tenant = yield* TenantId.make
      // Each is valid against the defaults (log 10 h, preview 5 h); together they are not.
      const [raiseChild, lowerParent] = yield* Effect.all([
        Effect.either(policies.set(tenant, { [PREVIEW]: "9 hours" }, staff)),
        Effect.either(policies.set(tenant, { [LOG]: "6 hours" }, staff))
      ], { concurrency: "unbounded" })
      assert.strictEqual([raiseChild, lowerParent].filter(Either.isRight).length, 1)
      const inForce = yield* policies.all(tenant)
      const log = inForce.find((p) => p.category === LOG)!
      const preview = inForce.find((p) => p.category === PREVIEW)!
      assert.isTrue(Duration.lessThanOrEqualTo(preview.period, log.period))
    }))
})

const failingAudit = Layer.succeed(AuditTrail, {
  append: () => Effect.fail(new AuditStoreError({ operation: "append", cause: "unreachable" })),
  appendAll: () => Effect.fail(new AuditStoreError({ operation: "appendAll", cause: "unreachable" }))
})

const target = (id: string, overrides: Partial<RetentionTarget.RetentionTarget> = {}): RetentionTarget.RetentionTarget => ({
  id,
  description: id,
  action: "delete",
  allowForever: false,
  defaultPeriod: Duration.days(30),
  maxPeriod: Duration.days(90),
  linksSubjects: false,
  tenants: Effect.succeed([]),
  purgeBatch: () => Effect.succeed({ purged: 0, more: false }),
  count: () => Effect.succeed(0),
  oldest: () => Effect.succeed(Option.none()),
  ...overrides
})

describe("RetentionPolicies", () => {
  it.effect("a change whose audit entry cannot be appended is not made", () =>
    Effect.gen(function*() {
      const policies = yield* RetentionPolicies
      const tenant = yield* TenantId.make
      const result = yield* Effect.either(policies.set(tenant, { "mailer.transactional-log": "60 days" }, staff))
      assert.isTrue(Either.isLeft(result) && result.left._tag === "AuditStoreError")
      const policy = yield* policies.get(tenant, "mailer.transactional-log")
      assert.strictEqual(policy.source, "platform")
      assert.strictEqual(Duration.toDays(policy.period), 30)
    }).pipe(
      Effect.provide(
        RetentionPolicy.layerMemory.pipe(
          Layer.provideMerge(RetentionTarget.register(target("mailer.transactional-log"))),
          Layer.provideMerge(RetentionTarget.layer),
          Layer.provide(failingAudit)
        )
      )
    ))

  it("stored periods are clamped to today's bounds, and children to their parents", () => {
    const tenant = TenantId.TenantId.make("0190f3c4-8c1e-7d2a-9b3c-1234567890ab")
    const targets = [
      target("a.log", { defaultPeriod: Duration.days(30), maxPeriod: Duration.days(60) }),
      target("a.preview", { parent: "a.log", defaultPeriod: Duration.days(7), maxPeriod: Duration.days(60) }),
      target("a.archive", { minPeriod: Duration.days(10), defaultPeriod: Duration.days(20), maxPeriod: Duration.days(40) })
    ]
    const stored = (days: number | "forever"): RetentionPolicy.Override => ({
      period: days === "forever" ? Duration.infinity : Duration.days(days),
      setAt: new Date(0),
      setBy: staff
    })
    const resolved = RetentionPolicy.resolve(tenant, targets, new Map([
      ["a.log", stored(20)],
      ["a.preview", stored(50)],
      ["a.archive", stored("forever")]
    ]))
    assert.strictEqual(Duration.toDays(resolved.get("a.log")!.period), 20)
    assert.strictEqual(Duration.toDays(resolved.get("a.preview")!.period), 20)
    assert.strictEqual(Duration.toDays(resolved.get("a.archive")!.period), 40)
    const low = RetentionPolicy.resolve(tenant, targets, new Map([["a.archive", stored(1)]]))
    assert.strictEqual(Duration.toDays(low.get("a.archive")!.period), 10)
  })
})
