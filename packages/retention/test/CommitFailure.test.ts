import { assert } from "@effect/vitest"
import * as TenantId from "@lawful/core/TenantId"
import { failCommitsOn, sqlSuite } from "@lawful/core/testing"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { randomUUID } from "node:crypto"
import * as SweepJournal from "../src/SweepJournal.js"

sqlSuite("SweepJournal when a COMMIT fails", SweepJournal.layerSql, (it) => {
  it.effect("a record in a transaction whose commit fails fails with RetentionStoreError, not a defect, and keeps nothing", () =>
    Effect.scoped(Effect.gen(function*() {
      const journal = yield* SweepJournal.SweepJournal
      const tenant = yield* TenantId.make
      const runId = randomUUID()
      assert.isTrue(yield* journal.lock(runId))
      const at = new Date(Date.UTC(2026, 0, 1))
      const record = journal.owning(runId)(
        journal.record([{ key: { runId, tenant, category: "test.records" }, cutoff: at, startedAt: at, purged: 3, partitions: 0 }])
      )
      const failing = failCommitsOn({ table: "lawful_retention_sweeps", column: "tenant_id", value: tenant })
      const exit = yield* Effect.exit(Effect.scoped(Effect.zipRight(failing, record)))
      assert.isTrue(Exit.isFailure(exit) && Option.isNone(Cause.dieOption(exit.cause)), "no defect")
      const error = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
      assert.isTrue(Option.isSome(error) && error.value._tag === "RetentionStoreError")
      assert.isFalse((yield* journal.unfinished).some((entry) => entry.tenantId === tenant), "rolled back")
      // Once commits go through again, the record does.
      yield* record
      assert.isTrue((yield* journal.unfinished).some((entry) => entry.tenantId === tenant))
    })))
})
