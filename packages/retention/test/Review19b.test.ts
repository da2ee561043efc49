/**
 * Review 19b: a statement of a retention store that the database refuses fails with the store's
 * error keeping what `Database.safeSqlError` keeps of the driver's error (the SQLSTATE code, the
 * names of what failed), never what PostgreSQL quotes of the row (`Failing row contains (...)`)
 * nor the statement. Each test failed before the fix: `JSON.stringify` and `util.inspect` of the
 * error printed the driver's `detail`, holding the value written.
 */
import { assert } from "@effect/vitest"
import type { Actor } from "@lawful/audit-trail/AuditEvent"
import * as SubjectId from "@lawful/core/SubjectId"
import * as TenantId from "@lawful/core/TenantId"
import { assertQuotesNothing, refuseRowsHolding, sqlStatesOf, sqlSuite } from "@lawful/core/testing"
import * as Vault from "@lawful/core/Vault"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { randomUUID } from "node:crypto"
import * as ArchiveStore from "../src/ArchiveStore.js"
import { LegalHolds } from "../src/LegalHold.js"
import { RetentionPolicies } from "../src/RetentionPolicy.js"
import { SweepJournal } from "../src/SweepJournal.js"
import { archiveInTestSchema, LOG, sqlStack, withArchive } from "./fixtures.js"

const staff: Actor = { kind: "staff", id: "staff-1" }

// A value of the test's own, to look for in the error.
const valueOfTest = () => `v${randomUUID().replaceAll("-", "")}`

/**
 * The error `attempt` fails with, asserting it is the store's error, that neither its JSON nor
 * its inspection quotes `value` or the failing row, and that its causes still name the check
 * violation's SQLSTATE.
 */
const refusedQuotingNothing = (tag: string, value: string, attempt: Effect.Effect<unknown, unknown>) =>
  Effect.map(Effect.exit(attempt), (exit) => {
    const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
    assert.isTrue(Option.isSome(failure), `a failure: ${Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "accepted"}`)
    const error = Option.getOrThrow(failure)
    assert.strictEqual((error as { readonly _tag?: unknown })._tag, tag)
    assertQuotesNothing(error, [value])
    assert.include(sqlStatesOf(error), "23514", "the check violation's SQLSTATE")
  })

sqlSuite("Review19b store errors quote no data", withArchive(sqlStack, archiveInTestSchema), (it) => {
  it.scoped("a hold the database refuses fails with RetentionStoreError quoting neither its reason nor the row", () =>
    Effect.gen(function*() {
      const holds = yield* LegalHolds
      const tenant = yield* TenantId.make
      const reason = valueOfTest()
      yield* refuseRowsHolding({ table: "lawful_retention_holds", column: "reason", value: reason })
      yield* refusedQuotingNothing("RetentionStoreError", reason, holds.place(tenant, { reason }, staff))
    }))

  it.scoped("a policy the database refuses fails with RetentionStoreError quoting neither who set it nor the row", () =>
    Effect.gen(function*() {
      const policies = yield* RetentionPolicies
      const tenant = yield* TenantId.make
      const by = `staff-${valueOfTest()}`
      yield* refuseRowsHolding({ table: "lawful_retention_policies", column: "set_by", value: by })
      yield* refusedQuotingNothing(
        "RetentionStoreError",
        by,
        policies.set(tenant, { [LOG]: Duration.hours(7) }, { kind: "staff", id: by })
      )
    }))

  it.scoped("a journal record the database refuses fails with RetentionStoreError quoting neither its category nor the row", () =>
    Effect.gen(function*() {
      const journal = yield* SweepJournal
      const tenant = yield* TenantId.make
      const category = valueOfTest()
      const at = new Date("2026-01-01T00:00:00Z")
      yield* refuseRowsHolding({ table: "lawful_retention_sweeps", column: "category", value: category })
      yield* refusedQuotingNothing(
        "RetentionStoreError",
        category,
        journal.record([{ key: { runId: randomUUID(), tenant, category }, cutoff: at, startedAt: at, purged: 1, partitions: 0 }])
      )
    }))

  it.scoped("an archive put the database refuses fails with ArchiveStoreError quoting neither its kind nor the row", () =>
    Effect.gen(function*() {
      const archive = yield* ArchiveStore.ArchiveStore
      const seal = yield* Vault.Vault
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      const kind = valueOfTest()
      const sealed = yield* seal.seal(tenant, subject, "archive.invoice", "Invoice 1")
      yield* refuseRowsHolding({ table: "archives", column: "kind", value: kind })
      yield* refusedQuotingNothing("ArchiveStoreError", kind, archive.put(tenant, { kind, subject, sealed }))
    }))
})
