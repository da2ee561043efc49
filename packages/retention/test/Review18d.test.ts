/**
 * Review 18d: tenants and categories that are not ones, as an untyped caller sends them, each with
 * the test that failed before its fix. A change is refused with its typed error, a read finds
 * nothing; neither quotes what was given, reaches a store, nor writes anything.
 */
import { assert } from "@effect/vitest"
import type { Actor } from "@lawful/audit-trail/AuditEvent"
import { AuditLog } from "@lawful/audit-trail/AuditLog"
import * as TenantId from "@lawful/core/TenantId"
import { contractSuite } from "@lawful/core/testing"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { LegalHolds } from "../src/LegalHold.js"
import { RetentionPolicies } from "../src/RetentionPolicy.js"
import { RetentionReport } from "../src/RetentionReport.js"
import { Sweeper } from "../src/Sweeper.js"
import { SweepJournal } from "../src/SweepJournal.js"
import { address, answer, liveIds, LOG, memoryStack, refusal, spanAttributes, sqlStack, untyped, write } from "./fixtures.js"

const staff: Actor = { kind: "staff", id: "staff-18d" }

contractSuite("Review18d tenants", { memory: memoryStack, sql: sqlStack }, (it) => {
  // In memory the change was stored under whatever was given; on SQL an address failed the
  // statement (a RetentionStoreError whose SqlError quoted it), and a UUID in upper case changed the
  // policy of the tenant PostgreSQL reads it as.
  it.effect("a policy change for a tenant that is not one is refused with RetentionPolicyInvalid (not-a-tenant); nothing set, nothing logged", () =>
    Effect.gen(function*() {
      const policies = yield* RetentionPolicies
      const log = yield* AuditLog
      const tenant = yield* TenantId.make
      const given: ReadonlyArray<readonly [string, unknown]> = [
        ["an address", address],
        ["an upper-case UUID", tenant.toUpperCase()],
        ["null", null],
        ["a number", 42]
      ]
      for (const [what, other] of given) {
        const error = yield* refusal(what, () => policies.set(untyped(other), { [LOG]: "20 hours" }, staff))
        assert.strictEqual(error._tag, "RetentionPolicyInvalid", what)
        assert.strictEqual((error as { reason?: string }).reason, "not-a-tenant", what)
      }
      assert.isTrue((yield* policies.all(tenant)).every((policy) => policy.source === "platform"))
      assert.strictEqual(yield* log.size(tenant), 0)
      // Given as it should be, the change is made.
      yield* policies.set(tenant, { [LOG]: "20 hours" }, staff)
      assert.strictEqual((yield* policies.get(tenant, LOG)).source, "tenant")
    }))

  // On SQL each of these failed its statement with a RetentionStoreError whose SqlError quoted the
  // tenant given, and a UUID in upper case read the tenant PostgreSQL reads it as; in memory they
  // answered, `all` and the report with policies naming what was given as their tenant.
  it.effect("reads of a tenant that is not one find nothing, alike on every store", () =>
    Effect.gen(function*() {
      const policies = yield* RetentionPolicies
      const holds = yield* LegalHolds
      const report = yield* RetentionReport
      const journal = yield* SweepJournal
      const sweeper = yield* Sweeper
      const tenant = yield* TenantId.make
      yield* write(tenant, LOG, 30)
      yield* policies.set(tenant, { [LOG]: "20 hours" }, staff)
      yield* sweeper.sweep({ tenants: [tenant], categories: [LOG] })
      assert.isTrue(Option.isSome(yield* journal.last(tenant, LOG)))
      const held = yield* holds.place(tenant, { reason: "Case 18d, still" }, staff)

      for (const [what, other] of [["an address", address], ["an upper-case UUID", tenant.toUpperCase()]] as const) {
        const given = untyped<TenantId.TenantId>(other)
        assert.deepStrictEqual(yield* answer(`all: ${what}`, () => policies.all(given)), [], what)
        const notFound = yield* refusal(`get: ${what}`, () => policies.get(given, LOG))
        assert.strictEqual(notFound._tag, "RetentionCategoryNotFound", what)
        const inForce = yield* answer(`allOf: ${what}`, () => policies.allOf([tenant, given]))
        assert.strictEqual(inForce.get(tenant)?.length, 3, what)
        assert.deepStrictEqual(inForce.get(given), [], what)
        const inForceWith = yield* answer(`withAllOf: ${what}`, () => policies.withAllOf([tenant, given], Effect.succeed))
        assert.strictEqual(inForceWith.get(tenant)?.length, 3, what)
        assert.deepStrictEqual(inForceWith.get(given), [], what)
        for (
          const [name, read] of [
            ["activeOf", () => holds.activeOf([tenant, given])],
            ["withActiveOf", () => holds.withActiveOf([tenant, given], Effect.succeed)]
          ] as const
        ) {
          const active = yield* answer(`${name}: ${what}`, read)
          assert.deepStrictEqual(active.get(tenant)?.map((h) => h.holdId), [held.holdId], `${name}: ${what}`)
          assert.deepStrictEqual(active.get(given), [], `${name}: ${what}`)
        }
        assert.deepStrictEqual(yield* answer(`list: ${what}`, () => holds.list(given)), [], what)
        assert.deepStrictEqual(yield* answer(`active: ${what}`, () => holds.active(given)), [], what)
        assert.deepStrictEqual(yield* answer(`report: ${what}`, () => report.report(given)), [], what)
        assert.isTrue(Option.isNone(yield* answer(`last: ${what}`, () => journal.last(given, LOG))), what)
      }
    }))

  // The operations' spans named the tenant given, whatever it was: an address went to the traces.
  it.effect("spans do not name a tenant that is not one", () =>
    Effect.gen(function*() {
      const policies = yield* RetentionPolicies
      const holds = yield* LegalHolds
      const report = yield* RetentionReport
      const tenant = yield* TenantId.make
      const hold = yield* holds.place(tenant, { reason: "Case 18d" }, staff)
      const given = untyped<TenantId.TenantId>(address)
      const operations: ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown>]> = [
        ["set", policies.set(given, { [LOG]: "20 hours" }, staff)],
        ["all", policies.all(given)],
        ["place", holds.place(given, { reason: "Case 18d" }, staff)],
        ["release", holds.release(given, hold.holdId, staff)],
        ["report", report.report(given)]
      ]
      for (const [what, operation] of operations) {
        assert.notInclude(yield* spanAttributes(operation), address, what)
      }
      // A tenant id is still named.
      assert.include(yield* spanAttributes(policies.all(tenant)), tenant)
    }))

  // `activeOf(null)` died reading its length; a string was read as an array (in memory its
  // characters, on SQL a malformed array literal whose error quoted it).
  it.effect("tenants that are no array find nothing: an empty map", () =>
    Effect.gen(function*() {
      const policies = yield* RetentionPolicies
      const holds = yield* LegalHolds
      const tenant = yield* TenantId.make
      yield* holds.place(tenant, { reason: "Case 18d" }, staff)
      for (const [what, given] of [["null", null], ["undefined", undefined], ["a string", address], ["a tenant id", tenant]] as const) {
        const tenants = untyped<ReadonlyArray<TenantId.TenantId>>(given)
        const reads: ReadonlyArray<readonly [string, () => Effect.Effect<ReadonlyMap<TenantId.TenantId, unknown>, unknown>]> = [
          ["activeOf", () => holds.activeOf(tenants)],
          ["activeOf with a page", () => holds.activeOf(tenants, { limit: 10 })],
          ["withActiveOf", () => holds.withActiveOf(tenants, Effect.succeed)],
          ["allOf", () => policies.allOf(tenants)],
          ["withAllOf", () => policies.withAllOf(tenants, Effect.succeed)]
        ]
        for (const [name, read] of reads) {
          const found = yield* answer(`${name}: ${what}`, read)
          assert.strictEqual(found.size, 0, `${name}: ${what}`)
        }
      }
    }))
})

contractSuite("Review18d sweeps", { memory: memoryStack, sql: sqlStack }, (it) => {
  // A category id that is not registered (a typo) was passed over: the sweep purged nothing of it
  // and said nothing.
  it.effect("a category that is not registered is refused with SweepOptionsInvalid, counted, not quoted; nothing purged, nothing logged", () =>
    Effect.gen(function*() {
      const sweeper = yield* Sweeper
      const log = yield* AuditLog
      const tenant = yield* TenantId.make
      const id = yield* write(tenant, LOG, 20)
      const given: ReadonlyArray<readonly [string, ReadonlyArray<string>, number]> = [
        ["a typo", ["test.lgo"], 1],
        ["a typo beside a category", [LOG, "test.lgo"], 1],
        ["an address", [address], 1],
        ["two", ["test.lgo", address, LOG], 2]
      ]
      for (const [what, categories, unknown] of given) {
        for (
          const attempt of [
            () => sweeper.sweep({ tenants: [tenant], categories }),
            () => sweeper.dryRun({ tenants: [tenant], categories })
          ]
        ) {
          const error = yield* refusal(what, attempt)
          assert.strictEqual(error._tag, "SweepOptionsInvalid", what)
          assert.notInclude(error.message, "test.lgo", what)
          assert.include(error.message, `${unknown} `, what)
        }
      }
      assert.deepStrictEqual(yield* liveIds(tenant), [id])
      assert.strictEqual(yield* log.size(tenant), 0)
      // Registered, the record goes.
      yield* sweeper.sweep({ tenants: [tenant], categories: [LOG] })
      assert.deepStrictEqual(yield* liveIds(tenant), [])
    }))
})
