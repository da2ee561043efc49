/**
 * Review 16c: the policy and hold side (periods, defaults, concurrent changes, holds' scope and
 * release), each defect with the test that failed before its fix, and checks of what was found
 * sound.
 */
import { assert } from "@effect/vitest"
import type { Actor } from "@lawful/audit-trail/AuditEvent"
import { AuditLog } from "@lawful/audit-trail/AuditLog"
import * as RetentionTarget from "@lawful/core/RetentionTarget"
import * as SubjectId from "@lawful/core/SubjectId"
import * as TenantId from "@lawful/core/TenantId"
import { contractSuite } from "@lawful/core/testing"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { LegalHolds } from "../src/LegalHold.js"
import type { PolicyChanges } from "../src/RetentionPolicy.js"
import { RetentionPolicies } from "../src/RetentionPolicy.js"
import { Sweeper } from "../src/Sweeper.js"
import { emptyTarget, EVENTS, LOG, PREVIEW, memoryStack, recordId, sqlStack, TestRecords, write } from "./fixtures.js"

const staff: Actor = { kind: "staff", id: "staff-16c" }

const entries = (tenant: TenantId.TenantId, prefix: string) =>
  Effect.flatMap(AuditLog, (log) =>
    Effect.map(log.query(tenant, { actionPrefix: prefix, limit: 1000 }), (page) => page.entries))

const detailsOf = (entry: { readonly details: Option.Option<{ readonly value: unknown }> }) =>
  Option.getOrNull(Option.map(entry.details, (d) => d.value))

const inForce = (tenant: TenantId.TenantId) =>
  Effect.flatMap(RetentionPolicies, (policies) =>
    Effect.map(policies.all(tenant), (all) =>
      Object.fromEntries(all.filter((p) => p.category.startsWith("test.")).map((p) => [p.category, describe(p.period)]))))

const describe = (period: Duration.Duration) => Duration.isFinite(period) ? Duration.format(period) : "forever"

contractSuite("Review16c policies", { memory: memoryStack, sql: sqlStack }, (it) => {
  // A period given as a number of units whose milliseconds overflow a double became
  // `Duration.infinity`: in a category that allows forever, "1000…000 days" (309 digits) was kept
  // forever, though the module promises `over-bound` for every finite period longer than a store
  // keeps. A tuple or a decimal count of micros that large threw a RangeError inside `set`: a
  // defect, not a typed refusal.
  it.effect("a period too large to count is refused as over-bound, never kept forever nor a defect, on every store", () =>
    Effect.gen(function*() {
      const policies = yield* RetentionPolicies
      const tenant = yield* TenantId.make
      const huge = "1" + "0".repeat(308)
      const inputs: ReadonlyArray<PolicyChanges[string]> = [
        `${huge} days` as Duration.DurationInput,
        `${huge} weeks` as Duration.DurationInput,
        `${huge}0.5 micros` as Duration.DurationInput,
        `${huge}0 millis` as Duration.DurationInput,
        [1e300, 0],
        [0, 1e300]
      ]
      for (const input of inputs) {
        const result = yield* Effect.exit(policies.set(tenant, { [LOG]: input }, staff))
        const shown = Array.isArray(input) ? JSON.stringify(input) : String(input).slice(0, 12) + "…" + String(input).slice(-10)
        assert.isTrue(Exit.isFailure(result), `${shown}: accepted, ${Exit.isSuccess(result) ? describe(result.value[0]!.period) : ""}`)
        assert.isTrue(
          Exit.isFailure(result) && result.cause._tag === "Fail" && result.cause.error._tag === "RetentionPolicyInvalid" &&
            result.cause.error.reason === "over-bound",
          `${shown}: ${Exit.isFailure(result) ? String(result.cause) : ""}`
        )
      }
      // Forever is said as such, and still accepted where allowed.
      const [forever] = yield* policies.set(tenant, { [LOG]: "forever" }, staff)
      assert.isTrue(forever!.keepsForever)
      assert.strictEqual((yield* entries(tenant, "retention.policy.")).length, 1, "only the accepted change is audited")
    }))

  // Checked sound: zero, negative, NaN, fractional, mixed units and ISO durations.
  it.effect("period inputs: zero where the minimum allows; negative, NaN, mixed units and ISO durations refused alike", () =>
    Effect.gen(function*() {
      const policies = yield* RetentionPolicies
      const tenant = yield* TenantId.make
      const cases: ReadonlyArray<readonly [PolicyChanges, string]> = [
        [{ [EVENTS]: 0 }, "below-minimum"],
        [{ [EVENTS]: "0 days" }, "below-minimum"],
        [{ [LOG]: -1 }, "negative"],
        [{ [LOG]: "-0.5 hours" }, "negative"],
        [{ [LOG]: -1n }, "negative"],
        [{ [LOG]: [-1, 0] }, "negative"],
        [{ [LOG]: NaN }, "not-a-period"],
        [{ [LOG]: [NaN, 0] }, "not-a-period"],
        [{ [LOG]: "NaN days" as Duration.DurationInput }, "not-a-period"],
        [{ [LOG]: "1 day 2 hours" as Duration.DurationInput }, "not-a-period"],
        [{ [LOG]: "PT12H" as Duration.DurationInput }, "not-a-period"],
        [{ [LOG]: "P1D" as Duration.DurationInput }, "not-a-period"],
        [{ [LOG]: "1e3 hours" as Duration.DurationInput }, "not-a-period"],
        [{ [LOG]: "0.0000001 days" }, "not-a-period"]
      ]
      for (const [changes, reason] of cases) {
        const result = yield* Effect.either(policies.set(tenant, changes, staff))
        assert.isTrue(
          Either.isLeft(result) && result.left._tag === "RetentionPolicyInvalid" && result.left.reason === reason,
          `${String(Object.values(changes)[0])}: ${Either.isLeft(result) ? result.left.message : "accepted"}`
        )
      }
      assert.deepStrictEqual(yield* inForce(tenant), { [LOG]: "10h", [PREVIEW]: "5h", [EVENTS]: "2d" })
      assert.strictEqual((yield* entries(tenant, "retention.policy.")).length, 0)
      // Zero is a period where the category's minimum allows it, and fractions of larger units too.
      yield* policies.set(tenant, { [PREVIEW]: 0, [LOG]: "1.5 days" }, staff)
      assert.deepStrictEqual(yield* inForce(tenant), { [LOG]: "1d 12h", [PREVIEW]: "0", [EVENTS]: "2d" })
    }))

  // Checked sound: a return to the default deletes the override and is audited like any change.
  it.effect("a return to the default is audited with the category, old and new periods and the actor, and nothing else", () =>
    Effect.gen(function*() {
      const policies = yield* RetentionPolicies
      const tenant = yield* TenantId.make
      yield* policies.set(tenant, { [LOG]: "30 hours" }, staff)
      const [back] = yield* policies.set(tenant, { [LOG]: "default" }, { kind: "staff", id: "staff-16c-2" })
      assert.deepStrictEqual([back!.source, describe(back!.period), back!.setBy], ["platform", "10h", undefined])
      const changed = yield* entries(tenant, "retention.policy.")
      assert.deepStrictEqual(changed.map(detailsOf), [
        { category: LOG, period: "1d 6h", previous: "10h", source: "tenant" },
        { category: LOG, period: "10h", previous: "1d 6h", source: "platform" }
      ])
      assert.deepStrictEqual(changed.map((e) => e.actor), [staff, { kind: "staff", id: "staff-16c-2" }])
      assert.deepStrictEqual(changed.map((e) => e.resource), [
        { type: "retention-category", id: LOG },
        { type: "retention-category", id: LOG }
      ])
      assert.isTrue(changed.every((e) => Option.isNone(e.subject)))
    }))

  // Checked sound: a category registered after the service started (another package's layer) is
  // refused before, and can be set once registered; its stored period comes back with it.
  it.effect("a category registered only later is refused until then, and nothing is saved", () =>
    Effect.gen(function*() {
      const policies = yield* RetentionPolicies
      const registry = yield* RetentionTarget.RetentionTargets
      const tenant = yield* TenantId.make
      const id = `review16c.late-${recordId()}`
      const before = yield* Effect.either(policies.set(tenant, { [id]: "2 hours" }, staff))
      assert.isTrue(Either.isLeft(before) && before.left._tag === "RetentionCategoryNotFound")
      const reset = yield* Effect.either(policies.set(tenant, { [id]: "default" }, staff))
      assert.isTrue(Either.isLeft(reset) && reset.left._tag === "RetentionCategoryNotFound")
      const late = emptyTarget(id)
      yield* Effect.scoped(Effect.gen(function*() {
        yield* Effect.orDie(registry.register(late))
        assert.strictEqual(describe((yield* policies.get(tenant, id)).period), "10h", "nothing was saved before")
        yield* policies.set(tenant, { [id]: "2 hours" }, staff)
      }))
      assert.isTrue(Either.isLeft(yield* Effect.either(policies.get(tenant, id))))
      yield* Effect.scoped(Effect.gen(function*() {
        yield* Effect.orDie(registry.register(late))
        assert.strictEqual(describe((yield* policies.get(tenant, id)).period), "2h")
      }))
    }))

  // Checked sound: concurrent changes of one tenant (fibres; on PostgreSQL, two connections) are
  // validated one after the other, none is lost, and each accepted one is audited once.
  it.effect("concurrent changes: none lost, each audited once, a parent and its child never broken", () =>
    Effect.gen(function*() {
      const policies = yield* RetentionPolicies
      for (let round = 0; round < 3; round++) {
        const tenant = yield* TenantId.make
        const results = yield* Effect.all([
          Effect.either(policies.set(tenant, { [PREVIEW]: "9 hours" }, staff)),
          Effect.either(policies.set(tenant, { [LOG]: "6 hours" }, staff)),
          Effect.either(policies.set(tenant, { [EVENTS]: "3 days" }, staff))
        ], { concurrency: "unbounded" })
        const accepted = results.filter(Either.isRight)
        assert.strictEqual(accepted.length, 2, "the events change, and one of the log and the preview")
        const now = yield* inForce(tenant)
        assert.strictEqual(now[EVENTS], "3d", "no lost update")
        assert.isTrue(now[PREVIEW] === "9h" ? now[LOG] === "10h" : now[LOG] === "6h" && now[PREVIEW] === "5h", JSON.stringify(now))
        assert.deepStrictEqual(
          (yield* entries(tenant, "retention.policy.")).map((e) => (detailsOf(e) as { category: string }).category).sort(),
          accepted.map((r) => r.right[0]!.category).sort()
        )
      }
    }))
})

const liveIds = (tenant: TenantId.TenantId) =>
  Effect.flatMap(TestRecords, (records) => Effect.map(records.live(tenant), (live) => live.map((r) => r.id).sort((a, b) => a - b)))

contractSuite("Review16c holds", { memory: memoryStack, sql: sqlStack }, (it) => {
  // Two releases of one hold at once both found it active and both appended
  // `retention.hold.released`: the log named two releases of one hold.
  it.effect("two concurrent releases of one hold release it once and append one entry", () =>
    Effect.gen(function*() {
      const holds = yield* LegalHolds
      for (let round = 0; round < 3; round++) {
        const tenant = yield* TenantId.make
        const hold = yield* holds.place(tenant, { reason: "Case 16c" }, staff)
        const released = yield* Effect.all([
          holds.release(tenant, hold.holdId, { kind: "staff", id: "first" }),
          holds.release(tenant, hold.holdId, { kind: "staff", id: "second" })
        ], { concurrency: "unbounded" })
        assert.isTrue(released.every((h) => !h.active))
        assert.deepStrictEqual(released[0]!.releasedBy, released[1]!.releasedBy, "both see the one release")
        const logged = yield* entries(tenant, "retention.hold.released")
        assert.strictEqual(logged.length, 1, "one release, one entry")
        assert.deepStrictEqual(logged[0]!.actor, released[0]!.releasedBy)
      }
    }))

  // A subject id is a lower-case UUID. `place` built the hold with whatever it was given, and the
  // hold's schema threw: a ParseError defect, not a typed refusal, whose message quoted the value
  // ("Expected undefined, actual \"ann@example.com\"").
  it.effect("a hold on a subject id that is not one is refused alike on every store, without quoting it", () =>
    Effect.gen(function*() {
      const holds = yield* LegalHolds
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      for (const given of ["ann@example.com", subject.toUpperCase(), ""]) {
        const result = yield* Effect.either(holds.place(tenant, { subject: given as SubjectId.SubjectId, reason: "Case 16c" }, staff))
        assert.isTrue(Either.isLeft(result) && result.left._tag === "LegalHoldInvalid", `${given}: ${Either.isLeft(result) ? result.left._tag : "placed"}`)
        const error = Either.isLeft(result) ? result.left : undefined
        if (given !== "") assert.notInclude(JSON.stringify(error) + error?.message, given.slice(0, 8))
      }
      assert.deepStrictEqual(yield* holds.list(tenant), [])
      assert.strictEqual((yield* entries(tenant, "retention.hold.")).length, 0)
    }))

  // Checked sound: unknown, foreign and released holds.
  it.effect("releasing an unknown or another tenant's hold is LegalHoldNotFound; a released one is returned as is; neither is audited", () =>
    Effect.gen(function*() {
      const holds = yield* LegalHolds
      const [tenant, other] = [yield* TenantId.make, yield* TenantId.make]
      const hold = yield* holds.place(tenant, { reason: "Case 16c" }, staff)
      const foreign = yield* holds.place(other, { reason: "Case 16c" }, staff)
      for (const id of ["0190f3c4-8c1e-7d2a-9b3c-1234567890ab", foreign.holdId, "not-an-id"]) {
        const result = yield* Effect.either(holds.release(tenant, id, staff))
        assert.isTrue(Either.isLeft(result) && result.left._tag === "LegalHoldNotFound", id)
      }
      assert.isTrue((yield* holds.get(other, foreign.holdId)).active)
      const first = yield* holds.release(tenant, hold.holdId, staff)
      yield* TestClock.adjust(Duration.hours(1))
      const again = yield* holds.release(tenant, hold.holdId, { kind: "staff", id: "later" })
      assert.deepStrictEqual([again.releasedAt, again.releasedBy], [first.releasedAt, first.releasedBy])
      assert.deepStrictEqual((yield* entries(tenant, "retention.hold.")).map((e) => e.action), [
        "retention.hold.placed",
        "retention.hold.released"
      ])
      assert.deepStrictEqual((yield* entries(other, "retention.hold.")).map((e) => e.action), ["retention.hold.placed"])
    }))

  // Checked sound: what a hold keeps, in a real sweep.
  it.effect("a subject hold keeps the subject's records in every category; a tenant's holds keep nothing of another tenant", () =>
    Effect.gen(function*() {
      const holds = yield* LegalHolds
      const sweeper = yield* Sweeper
      yield* TestClock.setTime(Date.UTC(2037, 0, 10, 12))
      const [tenant, other] = [yield* TenantId.make, yield* TenantId.make]
      const [ann, bob] = [yield* SubjectId.make, yield* SubjectId.make]
      const ids: Record<string, number> = {}
      for (const t of [tenant, other]) {
        const key = t === tenant ? "t" : "o"
        for (const [category, age] of [[LOG, 11], [PREVIEW, 6], [EVENTS, 72]] as const) {
          ids[`${key}.${category}.ann`] = yield* write(t, category, age, ann)
          ids[`${key}.${category}.bob`] = yield* write(t, category, age, bob)
        }
      }
      // Ann held in every category, and the whole log held, in `tenant`; Bob (a subject of
      // `other`) named in a hold of `tenant` keeps nothing of `other`'s.
      yield* holds.place(tenant, { subject: ann, reason: "Case of Ann" }, staff)
      yield* holds.place(tenant, { category: LOG, reason: "Case 16c" }, staff)
      yield* holds.place(tenant, { subject: bob, category: EVENTS, reason: "Case 16c" }, staff)
      const result = yield* sweeper.sweep({ tenants: [tenant, other] })
      assert.deepStrictEqual(result.failures, [])
      assert.deepStrictEqual(
        yield* liveIds(tenant),
        [ids[`t.${LOG}.ann`]!, ids[`t.${LOG}.bob`]!, ids[`t.${PREVIEW}.ann`]!, ids[`t.${EVENTS}.ann`]!, ids[`t.${EVENTS}.bob`]!]
          .sort((a, b) => a - b)
      )
      assert.deepStrictEqual(yield* liveIds(other), [])
      // Holds are listed per tenant, oldest first, and the free-text reason is not in the log.
      assert.strictEqual((yield* holds.list(tenant)).length, 3)
      assert.deepStrictEqual(yield* holds.list(other), [])
      assert.notInclude(JSON.stringify((yield* entries(tenant, "retention.")).map((e) => [detailsOf(e), e.resource])), "Ann")
    }))
})
