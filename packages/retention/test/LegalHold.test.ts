import { assert, describe, it } from "@effect/vitest"
import { AuditLog } from "@lawful/audit-trail/AuditLog"
import type { Actor } from "@lawful/audit-trail/AuditEvent"
import type { RetentionTarget } from "@lawful/core/RetentionTarget"
import * as SubjectId from "@lawful/core/SubjectId"
import * as TenantId from "@lawful/core/TenantId"
import { contractSuite } from "@lawful/core/testing"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { LegalHold, LegalHolds, scopeOf } from "../src/LegalHold.js"
import { EVENTS, LOG, PREVIEW, memoryStack, sqlStack } from "./fixtures.js"

const counsel: Actor = { kind: "staff", id: "counsel-1" }

contractSuite("LegalHolds", { memory: memoryStack, sql: sqlStack }, (it) => {
  it.effect("places holds with their reason and author, lists them, and releases them", () =>
    Effect.gen(function*() {
      const holds = yield* LegalHolds
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      const whole = yield* holds.place(tenant, { reason: "  Litigation 2026-17  " }, counsel)
      yield* TestClock.adjust("1 hour")
      const narrow = yield* holds.place(tenant, { subject, category: PREVIEW, reason: "Regulator inquiry" }, counsel)
      assert.strictEqual(whole.reason, "Litigation 2026-17")
      assert.deepStrictEqual(whole.placedBy, counsel)
      assert.isTrue(whole.active)
      assert.deepStrictEqual((yield* holds.active(tenant)).map((h) => h.holdId), [whole.holdId, narrow.holdId])
      const fetched = yield* holds.get(tenant, narrow.holdId)
      assert.strictEqual(fetched.subjectId, subject)
      assert.strictEqual(fetched.category, PREVIEW)

      yield* TestClock.adjust("1 hour")
      const released = yield* holds.release(tenant, whole.holdId, { kind: "staff", id: "counsel-2" })
      assert.isFalse(released.active)
      assert.deepStrictEqual(released.releasedBy, { kind: "staff", id: "counsel-2" })
      assert.strictEqual(released.releasedAt?.getTime(), 2 * 60 * 60 * 1000)
      // Releasing again changes nothing.
      const again = yield* holds.release(tenant, whole.holdId, counsel)
      assert.deepStrictEqual(again.releasedBy, { kind: "staff", id: "counsel-2" })
      assert.deepStrictEqual((yield* holds.active(tenant)).map((h) => h.holdId), [narrow.holdId])
      assert.strictEqual((yield* holds.list(tenant)).length, 2)
      assert.strictEqual((yield* holds.list(yield* TenantId.make)).length, 0)
    }))

  it.effect("a hold id is found and released whatever the case of its hex digits, on every store", () =>
    Effect.gen(function*() {
      const holds = yield* LegalHolds
      const tenant = yield* TenantId.make
      const hold = yield* holds.place(tenant, { reason: "Litigation 2026-18" }, counsel)
      const shouted = hold.holdId.toUpperCase()
      assert.strictEqual((yield* holds.get(tenant, shouted)).holdId, hold.holdId)
      const released = yield* holds.release(tenant, shouted, counsel)
      assert.isFalse(released.active)
      assert.strictEqual(released.holdId, hold.holdId)
      assert.deepStrictEqual(yield* holds.active(tenant), [])
    }))

  it.effect("withActiveOf reads the holds in force of many tenants, as activeOf does, for the effect it runs", () =>
    Effect.gen(function*() {
      const holds = yield* LegalHolds
      const [a, b, none] = yield* Effect.all([TenantId.make, TenantId.make, TenantId.make])
      const first = yield* holds.place(a, { reason: "Case 1" }, counsel)
      const released = yield* holds.place(a, { category: PREVIEW, reason: "Case 2" }, counsel)
      yield* holds.release(a, released.holdId, counsel)
      const other = yield* holds.place(b, { subject: yield* SubjectId.make, reason: "Case 3" }, counsel)
      const seen = yield* holds.withActiveOf([a, b, none], (active) =>
        Effect.succeed([...active].map(([tenant, held]) => [tenant, held.map((h) => h.holdId)])))
      assert.deepStrictEqual(seen, [[a, [first.holdId]], [b, [other.holdId]], [none, []]])
      assert.deepStrictEqual(
        seen,
        [...(yield* holds.activeOf([a, b, none]))].map(([tenant, held]) => [tenant, held.map((h) => h.holdId)])
      )
    }))

  it.effect("holds placed at one instant list by id on every store", () =>
    Effect.gen(function*() {
      const holds = yield* LegalHolds
      const tenant = yield* TenantId.make
      const placed = yield* Effect.forEach([1, 2, 3, 4, 5], (n) => holds.place(tenant, { reason: `Case ${n}` }, counsel))
      const byId = placed.map((h) => h.holdId).sort()
      assert.deepStrictEqual((yield* holds.list(tenant)).map((h) => h.holdId), byId)
      assert.deepStrictEqual((yield* holds.active(tenant)).map((h) => h.holdId), byId)
    }))

  it.effect("every placement and release is audited, without the free-text reason", () =>
    Effect.gen(function*() {
      const holds = yield* LegalHolds
      const log = yield* AuditLog
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      const hold = yield* holds.place(tenant, { subject, reason: "Case of Ann Example" }, counsel)
      yield* holds.release(tenant, hold.holdId, counsel)
      const entries = (yield* log.query(tenant, { actionPrefix: "retention.hold." })).entries
      assert.deepStrictEqual(entries.map((e) => e.action), ["retention.hold.placed", "retention.hold.released"])
      for (const entry of entries) {
        assert.deepStrictEqual(Option.map(entry.subject, (s) => s.id), Option.some(subject))
        assert.deepStrictEqual(entry.resource, { type: "legal-hold", id: hold.holdId })
        assert.notInclude(JSON.stringify(Option.getOrNull(entry.details)), "Ann")
      }
    }))

  it.effect("refuses holds without a reason or on unknown categories, and unknown ids", () =>
    Effect.gen(function*() {
      const holds = yield* LegalHolds
      const tenant = yield* TenantId.make
      const blank = yield* Effect.either(holds.place(tenant, { reason: "   " }, counsel))
      assert.isTrue(Either.isLeft(blank) && blank.left._tag === "LegalHoldInvalid")
      for (const unstorable of ["case\u0000 42", "case \ud800"]) {
        const refused = yield* Effect.either(holds.place(tenant, { reason: unstorable }, counsel))
        assert.isTrue(Either.isLeft(refused) && refused.left._tag === "LegalHoldInvalid", JSON.stringify(unstorable))
      }
      assert.deepStrictEqual(yield* holds.list(tenant), [])
      const unknown = yield* Effect.either(holds.place(tenant, { category: "test.nothing", reason: "x" }, counsel))
      assert.isTrue(Either.isLeft(unknown) && unknown.left._tag === "RetentionCategoryNotFound")
      const missing = yield* Effect.either(holds.release(tenant, "0190f3c4-8c1e-7d2a-9b3c-1234567890ab", counsel))
      assert.isTrue(Either.isLeft(missing) && missing.left._tag === "LegalHoldNotFound")
      const garbage = yield* Effect.either(holds.get(tenant, "not-an-id"))
      assert.isTrue(Either.isLeft(garbage) && garbage.left._tag === "LegalHoldNotFound")
      // Another tenant's hold is not found either.
      const other = yield* holds.place(yield* TenantId.make, { reason: "elsewhere" }, counsel)
      const foreign = yield* Effect.either(holds.release(tenant, other.holdId, counsel))
      assert.isTrue(Either.isLeft(foreign) && foreign.left._tag === "LegalHoldNotFound")
      assert.deepStrictEqual(yield* holds.list(tenant), [])
    }))

  it.effect("a hold placed or released by an actor no audit entry can name is a typed error and changes nothing", () =>
    Effect.gen(function*() {
      const holds = yield* LegalHolds
      const tenant = yield* TenantId.make
      const nobody = { kind: "staff", id: "" } as const
      const failure = (exit: Exit.Exit<unknown, { readonly _tag: string }>) =>
        Exit.isFailure(exit) ? Option.map(Cause.failureOption(exit.cause), (error) => error._tag) : Option.none()
      const placed = yield* Effect.exit(holds.place(tenant, { reason: "Case 9" }, nobody))
      assert.deepStrictEqual(failure(placed), Option.some("AuditEventInvalid"), String(placed))
      assert.deepStrictEqual(yield* holds.list(tenant), [])
      const hold = yield* holds.place(tenant, { reason: "Case 9" }, counsel)
      const released = yield* Effect.exit(holds.release(tenant, hold.holdId, nobody))
      assert.deepStrictEqual(failure(released), Option.some("AuditEventInvalid"), String(released))
      assert.isTrue((yield* holds.get(tenant, hold.holdId)).active)
    }))
})

describe("scopeOf", () => {
  const targets = [{ id: LOG }, { id: PREVIEW, parent: LOG }, { id: EVENTS }] as unknown as ReadonlyArray<RetentionTarget>
  const tenant = TenantId.TenantId.make("0190f3c4-8c1e-7d2a-9b3c-1234567890ab")
  const subject = SubjectId.SubjectId.make("0190f3c4-8c1e-7d2a-9b3c-1234567890ac")
  const hold = (fields: { subjectId?: SubjectId.SubjectId; category?: string; released?: boolean }) =>
    new LegalHold({
      holdId: "0190f3c4-8c1e-7d2a-9b3c-1234567890ad",
      tenantId: tenant,
      ...(fields.subjectId ? { subjectId: fields.subjectId } : {}),
      ...(fields.category ? { category: fields.category } : {}),
      reason: "r",
      placedAt: new Date(0),
      placedBy: counsel,
      ...(fields.released ? { releasedAt: new Date(1), releasedBy: counsel } : {})
    })

  it("a tenant hold keeps everything; a released one nothing", () => {
    assert.isTrue(scopeOf([hold({})], EVENTS, targets).whole)
    assert.isFalse(scopeOf([hold({ released: true })], EVENTS, targets).whole)
  })

  it("a category hold keeps its category and its parents, not its siblings or children", () => {
    assert.isTrue(scopeOf([hold({ category: PREVIEW })], PREVIEW, targets).whole)
    assert.isTrue(scopeOf([hold({ category: PREVIEW })], LOG, targets).whole)
    assert.isFalse(scopeOf([hold({ category: LOG })], PREVIEW, targets).whole)
    assert.isFalse(scopeOf([hold({ category: PREVIEW })], EVENTS, targets).whole)
  })

  it("a subject hold keeps that subject's records only", () => {
    const scope = scopeOf([hold({ subjectId: subject, category: PREVIEW })], LOG, targets)
    assert.isFalse(scope.whole)
    assert.deepStrictEqual([...scope.subjects], [subject])
    assert.strictEqual(scopeOf([hold({ subjectId: subject, category: PREVIEW })], EVENTS, targets).subjects.size, 0)
  })
})
