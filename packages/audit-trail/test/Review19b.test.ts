// Review 19b: an `AuditStoreError` kept the database's error whole, and a logger writing it as JSON
// or with `util.inspect` wrote what PostgreSQL's diagnostics quote of the data (`Failing row
// contains (...)`, an actor's id, an entry's details). It keeps what `Database.safeSqlError` keeps:
// the SQLSTATE code and the names of what failed. Each test failed before its fix. On PGlite and
// PostgreSQL.
import { assert } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SubjectId from "@lawful/core/SubjectId"
import * as TenantId from "@lawful/core/TenantId"
import { sqlSuite } from "@lawful/core/testing"
import * as Effect from "effect/Effect"
import { inspect } from "node:util"
import * as AuditLog from "../src/AuditLog.js"
import * as AuditStore from "../src/AuditStore.js"
import type { AuditStoreError } from "../src/AuditTrail.js"
import { event } from "./AuditLogSuite.js"
import { logOver } from "./fixtures/stores.js"

const personal = "grace.private@example.com"
const staffId = "staff-hopper-7731"
const checkViolation = "23514"

// A constraint on `table` that refuses the rows of `tenant` for which `refused` holds, on this
// tenant's rows only (`NOT VALID`: the rows already there stay), dropped when the test ends.
const refuseRows = (table: string, tenant: TenantId.TenantId, refused: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const name = `review19b_${tenant.replaceAll("-", "")}`
    yield* Effect.acquireRelease(
      sql.unsafe(`ALTER TABLE ${table} ADD CONSTRAINT ${name} CHECK (tenant_id <> '${tenant}' OR NOT (${refused})) NOT VALID`),
      () => sql.unsafe(`ALTER TABLE ${table} DROP CONSTRAINT ${name}`).pipe(Effect.orDie)
    )
  })

// Everything a logger may write of an error, and the codes of its cause chain.
const written = (error: unknown) => `${JSON.stringify(error)}\n${inspect(error, { depth: 10 })}`
const codesOf = (error: unknown): Array<unknown> => {
  const codes: Array<unknown> = []
  for (let cause = error; typeof cause === "object" && cause !== null; cause = (cause as { cause?: unknown }).cause) {
    if ("code" in cause) codes.push(cause.code)
  }
  return codes
}

const assertSafe = (error: AuditStoreError, quoted: ReadonlyArray<string>) => {
  assert.strictEqual(error._tag, "AuditStoreError")
  const text = written(error)
  assert.notInclude(text, "Failing row")
  for (const value of quoted) assert.notInclude(text, value)
  assert.include(codesOf(error), checkViolation)
  assert.include(text, checkViolation)
}

sqlSuite("Review19b", logOver(AuditStore.layerSql), (it) => {
  it.scoped("an append the database refuses fails with an error that quotes none of the entry", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog.AuditLog
      const tenant = yield* TenantId.make
      yield* refuseRows("lawful_audit_entries", tenant, "true")
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
      yield* refuseRows("lawful_audit_entries", tenant, "subject_id IS NULL AND actor_kind = 'staff'")
      const error = yield* Effect.flip(log.delinkSubject(tenant, subject, { kind: "system", id: "erasure" }))
      assert.strictEqual(error._tag, "AuditStoreError")
      assertSafe(error as AuditStoreError, [personal, staffId, tenant, subject])
      assert.strictEqual(yield* log.size(tenant), 1)
    }))
})
