/**
 * Review 18f: a tenant that is not one, given to a policy read and to the sweep journal's writes,
 * each with the test that failed before its fix.
 */
import { assert } from "@effect/vitest"
import * as TenantId from "@lawful/core/TenantId"
import { contractSuite } from "@lawful/core/testing"
import * as Effect from "effect/Effect"
import { RetentionPolicies } from "../src/RetentionPolicy.js"
import { SweepJournal } from "../src/SweepJournal.js"
import { address, LOG, memoryStack, refusal, sqlStack, untyped } from "./fixtures.js"

contractSuite("Review18f tenants", { memory: memoryStack, sql: sqlStack }, (it) => {
  // `get` of a tenant that is not one failed with RetentionCategoryNotFound saying "No retention
  // category test.log is registered": a category that is registered.
  it.effect("get of a tenant that is not one fails with a RetentionCategoryNotFound that says so, quoting neither", () =>
    Effect.gen(function*() {
      const policies = yield* RetentionPolicies
      const tenant = yield* TenantId.make
      for (const [what, other] of [["an address", address], ["an upper-case UUID", tenant.toUpperCase()], ["null", null]] as const) {
        const error = yield* refusal(what, () => policies.get(untyped(other), LOG))
        assert.strictEqual(error._tag, "RetentionCategoryNotFound", what)
        assert.strictEqual((error as { tenantId?: string }).tenantId, "", what)
        assert.notInclude(error.message, "is registered", what)
        assert.include(error.message, "not a tenant id", what)
        assert.notInclude(error.message, tenant.toUpperCase(), what)
      }
      const unknown = yield* refusal("an unknown category", () => policies.get(tenant, "test.unknown"))
      assert.strictEqual(unknown.message, "No retention category test.unknown is registered")
      assert.strictEqual((yield* policies.get(tenant, LOG)).category, LOG)
    }))

  // `record` and `close` took any tenant: in memory a SweepEntry made of it died (a defect); on SQL
  // an address failed the statement with a SqlError quoting it, and an upper-case UUID recorded or
  // closed the entries of the tenant PostgreSQL reads it as.
  it.effect("the journal's record and close refuse a tenant that is not one with RetentionStoreError, never quoting it, and change nothing", () =>
    Effect.gen(function*() {
      const journal = yield* SweepJournal
      const tenant = yield* TenantId.make
      const runId = yield* TenantId.make
      const at = new Date("2026-01-01T00:00:00Z")
      const work = (t: TenantId.TenantId) => ({ key: { runId, tenant: t, category: LOG }, cutoff: at, startedAt: at, purged: 1, partitions: 0 })
      const closing = (t: TenantId.TenantId) => ({ runId, category: LOG, outcomes: [{ tenant: t, complete: true }], at, forgetBefore: at })
      const openOf = () =>
        Effect.map(journal.unfinished, (entries) => entries.filter((e) => e.runId === runId).map((e) => [e.tenantId, e.purged]))
      for (const [what, other] of [["an address", address], ["an upper-case UUID", tenant.toUpperCase()], ["null", null]] as const) {
        const given = untyped<TenantId.TenantId>(other)
        const recorded = yield* refusal(`record: ${what}`, () => journal.record([work(tenant), work(given)]))
        assert.strictEqual(recorded._tag, "RetentionStoreError", what)
        assert.deepStrictEqual(yield* openOf(), [], `record: ${what}`)
      }
      yield* journal.record([work(tenant)])
      for (const [what, other] of [["an address", address], ["an upper-case UUID", tenant.toUpperCase()], ["null", null]] as const) {
        const closed = yield* refusal(`close: ${what}`, () => journal.close(closing(untyped(other))))
        assert.strictEqual(closed._tag, "RetentionStoreError", what)
        assert.deepStrictEqual(yield* openOf(), [[tenant, 1]], `close: ${what}`)
      }
      yield* journal.close(closing(tenant))
      assert.deepStrictEqual(yield* openOf(), [])
    }))
})
