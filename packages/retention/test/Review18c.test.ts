/**
 * Review 18c: bad input, as an untyped caller sends it, each with the test that failed before its
 * fix. Bad input gets a typed error that quotes nothing given, and changes nothing.
 */
import { assert } from "@effect/vitest"
import type { Actor } from "@lawful/audit-trail/AuditEvent"
import { AuditLog } from "@lawful/audit-trail/AuditLog"
import * as TenantId from "@lawful/core/TenantId"
import { contractSuite } from "@lawful/core/testing"
import * as Effect from "effect/Effect"
import * as LegalHold from "../src/LegalHold.js"
import { RetentionPolicies } from "../src/RetentionPolicy.js"
import type { PolicyChanges } from "../src/RetentionPolicy.js"
import { Sweeper } from "../src/Sweeper.js"
import { address, liveIds, LOG, memoryStack, refusal, sqlStack, untyped, write } from "./fixtures.js"

const staff: Actor = { kind: "staff", id: "staff-18c" }

contractSuite("Review18c holds", { memory: memoryStack, sql: sqlStack }, (it) => {
  // A request that is no object, or a reason that is no string, died reading `.trim` of it; a tenant
  // that is not a `TenantId` died in the hold's constructor, its ParseError quoting the tenant given.
  it.effect("a hold request, a reason or a tenant that is not one is refused with LegalHoldInvalid; nothing placed, nothing logged", () =>
    Effect.gen(function*() {
      const holds = yield* LegalHold.LegalHolds
      const log = yield* AuditLog
      const tenant = yield* TenantId.make
      const requests: ReadonlyArray<readonly [string, unknown]> = [
        ["no request", null],
        ["undefined", undefined],
        ["a string", address],
        ["an array", [address]],
        ["no reason", {}],
        ["a numeric reason", { reason: 42 }],
        ["a null reason", { reason: null }],
        ["an array reason", { reason: [address] }]
      ]
      for (const [what, request] of requests) {
        const error = yield* refusal(what, () => holds.place(tenant, untyped(request), staff))
        assert.strictEqual(error._tag, "LegalHoldInvalid", what)
      }
      const tenants: ReadonlyArray<readonly [string, string]> = [["an address", address], ["an upper-case UUID", tenant.toUpperCase()]]
      for (const [what, other] of tenants) {
        const error = yield* refusal(what, () => holds.place(untyped(other), { reason: "Case 18c" }, staff))
        assert.strictEqual(error._tag, "LegalHoldInvalid", what)
      }
      assert.deepStrictEqual(yield* holds.list(tenant), [])
      assert.strictEqual(yield* log.size(tenant), 0)
    }))

  // `get` and `release` of an id that is no string died reading `.toLowerCase` of it; of a tenant
  // that is not one, they quoted it (in memory) or failed the statement (on SQL), its error quoting it.
  it.effect("a hold id that is no string, or a tenant that is not one, is LegalHoldNotFound quoting neither; nothing released", () =>
    Effect.gen(function*() {
      const holds = yield* LegalHold.LegalHolds
      const log = yield* AuditLog
      const tenant = yield* TenantId.make
      const hold = yield* holds.place(tenant, { reason: "Case 18c" }, staff)
      const before = yield* log.size(tenant)
      for (const id of [null, undefined, 42, { holdId: hold.holdId }, [hold.holdId]]) {
        const what = JSON.stringify(id) ?? "undefined"
        for (const attempt of [() => holds.get(tenant, untyped(id)), () => holds.release(tenant, untyped(id), staff)]) {
          const error = yield* refusal(what, attempt)
          assert.strictEqual(error._tag, "LegalHoldNotFound", what)
          assert.strictEqual((error as LegalHold.LegalHoldNotFound).holdId, "", what)
        }
      }
      // A tenant that is not one is not quoted either.
      for (const attempt of [() => holds.get(untyped(address), hold.holdId), () => holds.release(untyped(address), hold.holdId, staff)]) {
        const error = yield* refusal("a tenant that is an address", attempt)
        assert.strictEqual(error._tag, "LegalHoldNotFound")
      }
      assert.isTrue((yield* holds.get(tenant, hold.holdId)).active)
      assert.strictEqual(yield* log.size(tenant), before)
    }))

  // A page that is null, or one whose `after` is null, threw as the call was made, before any effect.
  it.effect("a page, or the hold it starts after, that is no object is refused with LegalHoldPageInvalid", () =>
    Effect.gen(function*() {
      const holds = yield* LegalHold.LegalHolds
      const tenant = yield* TenantId.make
      yield* holds.place(tenant, { reason: "Case 18c" }, staff)
      for (const [what, page] of [["null", null], ["a string", address], ["after null", { after: null }], ["after a string", { after: address }]] as const) {
        for (
          const attempt of [
            () => holds.list(tenant, untyped(page)),
            () => holds.active(tenant, untyped(page)),
            () => holds.activeOf([tenant], untyped(page))
          ]
        ) {
          const error = yield* refusal(what, attempt)
          assert.strictEqual(error._tag, "LegalHoldPageInvalid", what)
        }
      }
    }))
})

contractSuite("Review18c policies", { memory: memoryStack, sql: sqlStack }, (it) => {
  // Changes that are null or undefined died in `Object.keys`; a string's characters, or an array's
  // indices, were taken for categories.
  it.effect("changes that are no record of periods are refused with RetentionPolicyInvalid; nothing set, nothing logged", () =>
    Effect.gen(function*() {
      const policies = yield* RetentionPolicies
      const log = yield* AuditLog
      const tenant = yield* TenantId.make
      for (const [what, changes] of [["null", null], ["undefined", undefined], ["a string", address], ["an array", ["1 hours"]], ["a number", 42]] as const) {
        const error = yield* refusal(what, () => policies.set(tenant, untyped<PolicyChanges>(changes), staff))
        assert.strictEqual(error._tag, "RetentionPolicyInvalid", what)
      }
      assert.isTrue((yield* policies.all(tenant)).every((policy) => policy.source === "platform"))
      assert.strictEqual(yield* log.size(tenant), 0)
    }))

  // A pair of seconds and nanoseconds that are no numbers was refused as `over-bound`, "longer than
  // any store keeps": `Duration.decode` threw on it, and the throw was taken for an overflow.
  it.effect("a pair that is not of numbers is not-a-period, not over-bound", () =>
    Effect.gen(function*() {
      const policies = yield* RetentionPolicies
      const tenant = yield* TenantId.make
      for (const pair of [["1", "2"], [1, "2"], [null, 0], [1, undefined]]) {
        const error = yield* refusal(JSON.stringify(pair), () => policies.set(tenant, { [LOG]: untyped(pair) }, staff))
        assert.strictEqual(error._tag, "RetentionPolicyInvalid")
        assert.strictEqual((error as { reason?: string }).reason, "not-a-period", JSON.stringify(pair))
      }
    }))
})

contractSuite("Review18c sweeps", { memory: memoryStack, sql: sqlStack }, (it) => {
  // `dryRun: "true"` (any value but `true`) ran a real sweep, purging; `tenants` or `categories`
  // given as a string were read character by character (`categories: "test.log"` swept every
  // category whose id is part of it); a tenant that is not one failed the SQL reads, their errors
  // quoting it, and was ignored in memory.
  it.effect("sweep options that are not ones are refused with SweepOptionsInvalid, quoting nothing; nothing purged, nothing logged", () =>
    Effect.gen(function*() {
      const sweeper = yield* Sweeper
      const log = yield* AuditLog
      const tenant = yield* TenantId.make
      const id = yield* write(tenant, LOG, 20)
      const options: ReadonlyArray<readonly [string, unknown]> = [
        ["null", null],
        ["a string", address],
        ["dryRun as a string", { dryRun: "true", tenants: [tenant] }],
        ["dryRun as a number", { dryRun: 1, tenants: [tenant] }],
        ["tenants as a string", { tenants: tenant }],
        ["a tenant that is an address", { tenants: [tenant, address] }],
        ["a tenant in upper case", { tenants: [tenant.toUpperCase()] }],
        ["categories as a string", { categories: LOG, tenants: [tenant] }],
        ["a category that is no string", { categories: [42], tenants: [tenant] }]
      ]
      for (const [what, given] of options) {
        for (const attempt of [() => sweeper.sweep(untyped(given)), () => sweeper.dryRun(untyped(given))]) {
          const error = yield* refusal(what, attempt)
          assert.strictEqual(error._tag, "SweepOptionsInvalid", what)
        }
      }
      assert.deepStrictEqual(yield* liveIds(tenant), [id])
      assert.strictEqual(yield* log.size(tenant), 0)
      // Given as they should be, the record goes.
      yield* sweeper.sweep({ tenants: [tenant], categories: [LOG] })
      assert.deepStrictEqual(yield* liveIds(tenant), [])
    }))
})
