/**
 * Review 18g: work and closings of the sweep journal that are not ones, as an untyped caller of the
 * public module passes them, each with the test that failed before its fix. They are refused with
 * `RetentionStoreError`, alike on every store, quoting nothing and writing nothing.
 */
import { assert } from "@effect/vitest"
import * as TenantId from "@lawful/core/TenantId"
import { contractSuite } from "@lawful/core/testing"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { SweepJournal } from "../src/SweepJournal.js"
import { address, LOG, memoryStack, refusal, sqlStack, untyped } from "./fixtures.js"

const at = new Date("2026-01-01T00:00:00Z")
const invalidDate = new Date(Number.NaN)
// Before any time PostgreSQL keeps (4713 BC).
const beforeAnyStore = new Date(Date.UTC(-5000, 0, 1))

contractSuite("Review18g journal input", { memory: memoryStack, sql: sqlStack }, (it) => {
  // `work.every` threw on work that is no array, a defect (on SQL thrown by `record` itself, before
  // any effect); an entry with a date that is none, a count that is no non-negative integer or a key
  // whose fields are no strings died in memory (a SweepEntry made of it, after the entries before
  // it were recorded) and on SQL threw (`toISOString`), failed the statement or was recorded (a
  // negative count took from the entry).
  it.effect("the journal's record refuses work that is no array, or holds an entry that is no Work, with RetentionStoreError; nothing recorded", () =>
    Effect.gen(function*() {
      const journal = yield* SweepJournal
      const tenant = yield* TenantId.make
      const runId = yield* TenantId.make
      const good = { key: { runId, tenant, category: LOG }, cutoff: at, startedAt: at, purged: 1, partitions: 0 }
      const openOf = () =>
        Effect.map(journal.unfinished, (entries) => entries.filter((e) => e.runId === runId).map((e) => [e.tenantId, e.purged]))
      const notArrays: ReadonlyArray<readonly [string, unknown]> = [
        ["undefined", undefined],
        ["null", null],
        ["an address", address],
        ["an object", { 0: good, length: 1 }]
      ]
      for (const [what, work] of notArrays) {
        const error = yield* refusal(`work: ${what}`, () => journal.record(untyped(work)))
        assert.strictEqual(error._tag, "RetentionStoreError", what)
        assert.deepStrictEqual(yield* openOf(), [], what)
      }
      const entries: ReadonlyArray<readonly [string, unknown]> = [
        ["an address", address],
        ["no key", { ...good, key: null }],
        ["a category that is no string", { ...good, key: { ...good.key, category: 5 } }],
        ["no run id", { ...good, key: { ...good.key, runId: undefined } }],
        ["a cut-off that is an address", { ...good, cutoff: address }],
        ["an invalid cut-off", { ...good, cutoff: invalidDate }],
        ["a cut-off before 4713 BC", { ...good, cutoff: beforeAnyStore }],
        ["a start that is a number", { ...good, startedAt: at.getTime() }],
        ["a negative count", { ...good, purged: -1 }],
        ["a fractional count", { ...good, purged: 1.5 }],
        ["a count that is NaN", { ...good, purged: Number.NaN }],
        ["a count that is a string", { ...good, purged: "1" }],
        ["no partitions", { ...good, partitions: undefined }]
      ]
      for (const [what, entry] of entries) {
        const error = yield* refusal(`entry: ${what}`, () => journal.record(untyped([good, entry])))
        assert.strictEqual(error._tag, "RetentionStoreError", what)
        assert.deepStrictEqual(yield* openOf(), [], what)
      }
      yield* journal.record([good])
      assert.deepStrictEqual(yield* openOf(), [[tenant, 1]])
    }))

  // `closing.outcomes.every` threw on a closing that is no object or outcomes that are no array, a
  // defect; an outcome whose `complete` is no boolean, a time that is none or a run or category that
  // is no string died in memory (after the outcomes before it were closed and their old entries
  // forgotten) and on SQL threw, failed the statement or closed the entry (`"yes"` read as true,
  // none as NULL).
  it.effect("the journal's close refuses a closing that is no Closing (outcomes no array, an outcome none, a time none) with RetentionStoreError; nothing closed or forgotten", () =>
    Effect.gen(function*() {
      const journal = yield* SweepJournal
      const tenant = yield* TenantId.make
      const other = yield* TenantId.make
      const runId = yield* TenantId.make
      const earlier = yield* TenantId.make
      const old = new Date("2025-01-01T00:00:00Z")
      yield* journal.record([{ key: { runId: earlier, tenant, category: LOG }, cutoff: old, startedAt: old, purged: 2, partitions: 0 }])
      yield* journal.close({ runId: earlier, category: LOG, outcomes: [{ tenant, complete: true }], at: old, forgetBefore: old })
      yield* journal.record([{ key: { runId, tenant, category: LOG }, cutoff: at, startedAt: at, purged: 1, partitions: 0 }])
      const openOf = () =>
        Effect.map(journal.unfinished, (entries) => entries.filter((e) => e.runId === runId).map((e) => [e.tenantId, e.purged]))
      const lastRun = () => Effect.map(journal.last(tenant, LOG), Option.map((e) => e.runId))
      const later = new Date("2027-01-01T00:00:00Z")
      const good = { runId, category: LOG, outcomes: [{ tenant, complete: true }], at, forgetBefore: later }
      const closings: ReadonlyArray<readonly [string, unknown]> = [
        ["undefined", undefined],
        ["null", null],
        ["an address", address],
        ["outcomes undefined", { ...good, outcomes: undefined }],
        ["outcomes an address", { ...good, outcomes: address }],
        ["outcomes an object", { ...good, outcomes: { 0: good.outcomes[0], length: 1 } }],
        ["an outcome that is an address", { ...good, outcomes: [...good.outcomes, address] }],
        ["an outcome whose complete is a string", { ...good, outcomes: [...good.outcomes, { tenant: other, complete: "yes" }] }],
        ["an outcome with no complete", { ...good, outcomes: [...good.outcomes, { tenant: other }] }],
        ["a time that is an address", { ...good, at: address }],
        ["an invalid time", { ...good, at: invalidDate }],
        ["a time before 4713 BC", { ...good, at: beforeAnyStore }],
        ["no forgetBefore", { ...good, forgetBefore: undefined }],
        ["a forgetBefore that is invalid", { ...good, forgetBefore: invalidDate }],
        ["a category that is no string", { ...good, category: 5 }],
        ["no run id", { ...good, runId: null }]
      ]
      for (const [what, closing] of closings) {
        const error = yield* refusal(`closing: ${what}`, () => journal.close(untyped(closing)))
        assert.strictEqual(error._tag, "RetentionStoreError", what)
        assert.deepStrictEqual(yield* openOf(), [[tenant, 1]], what)
        assert.deepStrictEqual(yield* lastRun(), Option.some(earlier), what)
      }
      yield* journal.close({ ...good, forgetBefore: at })
      assert.deepStrictEqual(yield* openOf(), [])
      assert.deepStrictEqual(yield* lastRun(), Option.some(runId))
    }))
})
