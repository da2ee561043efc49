import { assert } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { sqlSuite } from "@lawful/core/testing"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { randomUUID } from "node:crypto"
import { ProcessorRegistry } from "../src/ProcessorRegistry.js"
import { atStart, layers, processorInput, staff } from "./fixtures.js"

// Every commit of a transaction that inserted a processor named `legalName` fails, for the scope:
// a deferred constraint trigger raises at COMMIT.
const failCommitsOf = (legalName: string) =>
  Effect.flatMap(SqlClient.SqlClient, (client) => {
    const sql = client.withoutTransforms()
    const name = `fail_commit_${legalName.replaceAll("-", "")}`
    return Effect.acquireRelease(
      sql.unsafe(`
        CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'commit refused'; END $$;
        CREATE CONSTRAINT TRIGGER ${name} AFTER INSERT ON lawful_processors DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW WHEN (NEW.legal_name = '${legalName}') EXECUTE FUNCTION ${name}()`),
      () => Effect.orDie(sql.unsafe(`DROP TRIGGER ${name} ON lawful_processors; DROP FUNCTION ${name}()`))
    ).pipe(Effect.orDie)
  })

sqlSuite("ProcessorRegistry when a COMMIT fails", layers.sql, (it) => {
  it.effect("a registration whose commit fails fails with RegistryStoreError, not a defect, and keeps nothing", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const legalName = `p${randomUUID().replaceAll("-", "")}`
      const exit = yield* Effect.exit(
        Effect.scoped(Effect.zipRight(failCommitsOf(legalName), registry.register(staff, processorInput({ legalName }))))
      )
      assert.isTrue(Exit.isFailure(exit) && Option.isNone(Cause.dieOption(exit.cause)), "no defect")
      const error = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
      assert.isTrue(Option.isSome(error) && error.value._tag === "RegistryStoreError")
      assert.isFalse((yield* registry.processors).some((processor) => processor.legalName === legalName), "rolled back")
      // Once commits go through again, the registration does.
      const registered = yield* registry.register(staff, processorInput({ legalName }))
      assert.strictEqual(registered.legalName, legalName)
    }))
})
