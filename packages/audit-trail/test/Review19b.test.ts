// Review 19b: an `AuditStoreError` kept the database's error whole, and a logger writing it as JSON
// or with `util.inspect` wrote what PostgreSQL's diagnostics quote of the data (`Failing row
// contains (...)`, an actor's id, an entry's details). It keeps what `Database.safeSqlError` keeps:
// the SQLSTATE code and the names of what failed. Each test failed before its fix. On PGlite and
// PostgreSQL.
import { assert } from "@effect/vitest"
import * as SubjectId from "@lawful/core/SubjectId"
import * as TenantId from "@lawful/core/TenantId"
import { asLogged, assertQuotesNothing, refuseRowsHolding, sqlStatesOf, sqlSuite } from "@lawful/core/testing"
import * as Effect from "effect/Effect"
import * as AuditLog from "../src/AuditLog.js"
import type { AuditStoreError } from "../src/AuditTrail.js"
import { auditSql } from "../src/testing.js"
import { event } from "./AuditLogSuite.js"

const personal = "grace.private@example.com"
const staffId = "staff-hopper-7731"
const checkViolation = "23514"

const assertSafe = (error: AuditStoreError, quoted: ReadonlyArray<string>) => {
  assert.strictEqual(error._tag, "AuditStoreError")
  assertQuotesNothing(error, quoted)
  assert.include(sqlStatesOf(error), checkViolation)
  assert.include(asLogged(error), checkViolation)
}

sqlSuite("Review19b", auditSql, (it) => {
  it.scoped("an append the database refuses fails with an error that quotes none of the entry", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog.AuditLog
      const tenant = yield* TenantId.make
      yield* refuseRowsHolding({ table: "lawful_audit_entries", column: "tenant_id", value: tenant })
      const error = yield* Effect.flip(log.append(tenant, event(0, { actor: { kind: "staff", id: staffId }, details: { email: personal } })))
      assert.strictEqual(error._tag, "AuditStoreError")
      assertSafe(error as AuditStoreError, [personal, staffId, tenant])
    }))

  it.scoped("a de-link the database refuses fails with an error that quotes none of the entries", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog.AuditLog
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      yield* log.append(tenant, event(0, { subject, actor: { kind: "staff", id: staffId }, details: { email: personal } }))
      yield* refuseRowsHolding({
        table: "lawful_audit_entries",
        column: "tenant_id",
        value: tenant,
        when: "subject_id IS NULL AND actor_kind = 'staff'"
      })
      const error = yield* Effect.flip(log.delinkSubject(tenant, subject, { kind: "system", id: "erasure" }))
      assert.strictEqual(error._tag, "AuditStoreError")
      assertSafe(error as AuditStoreError, [personal, staffId, tenant, subject])
      assert.strictEqual(yield* log.size(tenant), 1)
    }))
})
