// Review 19b: a `ConsentStoreError` or `ConsentListsError` kept the database's error whole, and a
// logger writing it as JSON or with `util.inspect` wrote what PostgreSQL's diagnostics quote of the
// data (`Failing row contains (...)`: a subject's id, a list's name). It keeps what
// `Database.safeSqlError` keeps: the SQLSTATE code and the names of what failed. Each test failed
// before its fix. On PGlite and PostgreSQL.
import { assert } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as TenantId from "@lawful/core/TenantId"
import { sqlSuite } from "@lawful/core/testing"
import * as Effect from "effect/Effect"
import { inspect } from "node:util"
import { ConsentLedger } from "../src/ConsentLedger.js"
import * as ConsentLists from "../src/ConsentLists.js"
import { failureOf, grant, tenantWithLists } from "./fixtures.js"
import { sql } from "./layers.js"

const checkViolation = "23514"

// A constraint on `table` that refuses every new row of `tenant` (`NOT VALID`: the rows already
// there stay), dropped when the test ends.
const refuseRowsOf = (table: string, tenant: TenantId.TenantId) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const name = `review19b_${tenant.replaceAll("-", "")}`
    yield* Effect.acquireRelease(
      sql.unsafe(`ALTER TABLE ${table} ADD CONSTRAINT ${name} CHECK (tenant_id <> '${tenant}') NOT VALID`),
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

const assertSafe = (error: { readonly _tag: string }, tag: string, quoted: ReadonlyArray<string>) => {
  assert.strictEqual(error._tag, tag)
  const text = written(error)
  assert.notInclude(text, "Failing row")
  for (const value of quoted) assert.notInclude(text, value)
  assert.include(codesOf(error), checkViolation)
  assert.include(text, checkViolation)
}

sqlSuite("Review19b", sql, (it) => {
  it.scoped("an event the database refuses fails the record with an error that quotes none of the event", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      const recorded = yield* ledger.record(tenant, grant("grace.private@example.com", ["news"]))
      yield* refuseRowsOf("lawful_consent_events", tenant)
      const error = yield* failureOf(ledger.record(tenant, grant("grace.private@example.com", ["news"])), "record")
      assertSafe(error, "ConsentStoreError", [tenant, recorded.event.subject])
    }))

  it.scoped("a list the database refuses fails the declaration with an error that quotes none of the list", () =>
    Effect.gen(function*() {
      const lists = yield* ConsentLists.ConsentLists
      const tenant = yield* TenantId.make
      const name = "Grace Hopper's private circle"
      const purpose = "Letters to grace.private@example.com"
      yield* refuseRowsOf("lawful_consent_lists", tenant)
      const list = new ConsentLists.ConsentList({ id: ConsentLists.ListId.make("circle-7731"), name, purpose, doubleOptIn: false })
      const error = yield* failureOf(lists.declare(tenant, list), "declare")
      assertSafe(error, "ConsentListsError", [tenant, name, purpose, "circle-7731"])
    }))
})
