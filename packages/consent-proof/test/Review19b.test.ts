// Review 19b: a `ConsentStoreError` or `ConsentListsError` kept the database's error whole, and a
// logger writing it as JSON or with `util.inspect` wrote what PostgreSQL's diagnostics quote of the
// data (`Failing row contains (...)`: a subject's id, a list's name). It keeps what
// `Database.safeSqlError` keeps: the SQLSTATE code and the names of what failed. Each test failed
// before its fix. On PGlite and PostgreSQL.
import { assert } from "@effect/vitest"
import * as TenantId from "@lawful/core/TenantId"
import { asLogged, assertQuotesNothing, refuseRowsHolding, sqlStatesOf, sqlSuite } from "@lawful/core/testing"
import * as Effect from "effect/Effect"
import { ConsentLedger } from "../src/ConsentLedger.js"
import * as ConsentLists from "../src/ConsentLists.js"
import { failureOf, grant, tenantWithLists } from "./fixtures.js"
import { sql } from "./layers.js"

const checkViolation = "23514"

const assertSafe = (error: { readonly _tag: string }, tag: string, quoted: ReadonlyArray<string>) => {
  assert.strictEqual(error._tag, tag)
  assertQuotesNothing(error, quoted)
  assert.include(sqlStatesOf(error), checkViolation)
  assert.include(asLogged(error), checkViolation)
}

sqlSuite("Review19b", sql, (it) => {
  it.scoped("an event the database refuses fails the record with an error that quotes none of the event", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      const recorded = yield* ledger.record(tenant, grant("grace.private@example.com", ["news"]))
      yield* refuseRowsHolding({ table: "lawful_consent_events", column: "tenant_id", value: tenant })
      const error = yield* failureOf(ledger.record(tenant, grant("grace.private@example.com", ["news"])), "record")
      assertSafe(error, "ConsentStoreError", [tenant, recorded.event.subject])
    }))

  it.scoped("a list the database refuses fails the declaration with an error that quotes none of the list", () =>
    Effect.gen(function*() {
      const lists = yield* ConsentLists.ConsentLists
      const tenant = yield* TenantId.make
      const name = "Grace Hopper's private circle"
      const purpose = "Letters to grace.private@example.com"
      yield* refuseRowsHolding({ table: "lawful_consent_lists", column: "tenant_id", value: tenant })
      const list = new ConsentLists.ConsentList({ id: ConsentLists.ListId.make("circle-7731"), name, purpose, doubleOptIn: false })
      const error = yield* failureOf(lists.declare(tenant, list), "declare")
      assertSafe(error, "ConsentListsError", [tenant, name, purpose, "circle-7731"])
    }))
})
