// Review 19b: a change the database refuses fails with RegistryStoreError keeping what
// `Database.safeSqlError` keeps of the driver's error (the SQLSTATE code, the names of what
// failed), never what PostgreSQL quotes of the row (`Failing row contains (...)`, a trigger's
// detail) nor the statement. Each test failed before the fix: `JSON.stringify` and `util.inspect`
// of the error printed the driver's `detail`, holding the value written.
import * as SqlClient from "@effect/sql/SqlClient"
import { assert } from "@effect/vitest"
import { assertQuotesNothing, refuseRowsHolding, sqlStatesOf, sqlSuite } from "@lawful/core/testing"
import * as TenantId from "@lawful/core/TenantId"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { randomUUID } from "node:crypto"
import { ProcessorRegistry } from "../src/ProcessorRegistry.js"
import { announcedAndDue, atStart, clockAt, layers, processorInput, staff, tenantKey } from "./fixtures.js"

// A value of the test's own, to look for in the error.
const valueOfTest = () => `v${randomUUID().replaceAll("-", "")}`

// A deferred trigger failing the COMMIT of a transaction that wrote a processor named `value`,
// quoting the name in its detail and hint; dropped when the scope closes (the tests of a backend
// share its database).
const refuseCommitsNaming = (value: string) =>
  Effect.flatMap(SqlClient.SqlClient, (client) => {
    const sql = client.withoutTransforms()
    const name = `lawful_refuse_commit_${randomUUID().replaceAll("-", "")}`
    return Effect.acquireRelease(
      sql.unsafe(`CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
         RAISE EXCEPTION 'commit refused' USING DETAIL = 'named ' || NEW.legal_name, HINT = NEW.legal_name;
       END $$;
       CREATE CONSTRAINT TRIGGER ${name} AFTER INSERT ON lawful_processors DEFERRABLE INITIALLY DEFERRED
       FOR EACH ROW WHEN (NEW.legal_name = '${value}') EXECUTE FUNCTION ${name}()`),
      () => Effect.orDie(sql.unsafe(`DROP TRIGGER ${name} ON lawful_processors; DROP FUNCTION ${name}()`))
    ).pipe(Effect.asVoid, Effect.orDie)
  })

/**
 * Asserts that `attempt` fails with RegistryStoreError whose JSON and inspection quote neither
 * `value` nor a failing row, its causes still naming the SQLSTATE `code`.
 */
const refusedQuotingNothing = (value: string, code: string, attempt: Effect.Effect<unknown, unknown>) =>
  Effect.map(Effect.exit(attempt), (exit) => {
    const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
    assert.isTrue(Option.isSome(failure), `a failure: ${Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "accepted"}`)
    const error = Option.getOrThrow(failure)
    assert.strictEqual((error as { readonly _tag?: unknown })._tag, "RegistryStoreError")
    assertQuotesNothing(error, [value])
    assert.include(sqlStatesOf(error), code, "the SQLSTATE")
  })

sqlSuite("Review 19b registry errors quote no data", layers.sql, (it) => {
  it.scoped("a registration the database refuses fails with RegistryStoreError quoting neither the name nor the row", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const legalName = valueOfTest()
      yield* refuseRowsHolding({ table: "lawful_processors", column: "legal_name", value: legalName })
      yield* refusedQuotingNothing(legalName, "23514", registry.register(staff, processorInput({ legalName })))
    }))

  it.scoped("a registration whose COMMIT the database refuses fails with RegistryStoreError quoting not the name", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const legalName = valueOfTest()
      yield* refuseCommitsNaming(legalName)
      yield* refusedQuotingNothing(legalName, "P0001", registry.register(staff, processorInput({ legalName })))
    }))

  it.scoped("an objection the database refuses fails with RegistryStoreError quoting neither its reason nor the row", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const tenant = yield* TenantId.make
      const { notice } = yield* announcedAndDue(tenant)
      const reason = valueOfTest()
      yield* refuseRowsHolding({ table: "lawful_processor_objections", column: "reason", value: reason })
      yield* refusedQuotingNothing(
        reason,
        "23514",
        registry.object(tenantKey, tenant, notice.id, { reason }).pipe(
          Effect.withClock(clockAt(notice.objectionDeadline.getTime() - 60_000))
        )
      )
    }))
})
