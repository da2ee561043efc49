import { assert } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as TenantId from "@lawful/core/TenantId"
import { sqlSuite } from "@lawful/core/testing"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { randomUUID } from "node:crypto"
import * as SweepJournal from "../src/SweepJournal.js"

// Every commit of a transaction that opened a journal entry of `tenant` fails, for the scope: a
// deferred constraint trigger raises at COMMIT.
const failCommitsOf = (tenant: TenantId.TenantId) =>
  Effect.flatMap(SqlClient.SqlClient, (client) => {
    const sql = client.withoutTransforms()
    const name = `fail_commit_s${tenant.replaceAll("-", "")}`
    return Effect.acquireRelease(
      sql.unsafe(`
        CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'commit refused'; END $$;
        CREATE CONSTRAINT TRIGGER ${name} AFTER INSERT ON lawful_retention_sweeps DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW WHEN (NEW.tenant_id = '${tenant}') EXECUTE FUNCTION ${name}()`),
      () => Effect.orDie(sql.unsafe(`DROP TRIGGER ${name} ON lawful_retention_sweeps; DROP FUNCTION ${name}()`))
    ).pipe(Effect.orDie)
  })

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
      const exit = yield* Effect.exit(Effect.scoped(Effect.zipRight(failCommitsOf(tenant), record)))
      assert.isTrue(Exit.isFailure(exit) && Option.isNone(Cause.dieOption(exit.cause)), "no defect")
      const error = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
      assert.isTrue(Option.isSome(error) && error.value._tag === "RetentionStoreError")
      assert.isFalse((yield* journal.unfinished).some((entry) => entry.tenantId === tenant), "rolled back")
      // Once commits go through again, the record does.
      yield* record
      assert.isTrue((yield* journal.unfinished).some((entry) => entry.tenantId === tenant))
    })))
})
