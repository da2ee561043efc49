import { assert, describe, it, layer } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { PgliteClient } from "@lawful/sql-pglite"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"

// A failure with the client's typed error, never a defect.
const assertSqlError = (exit: Exit.Exit<unknown, unknown>, label: string) => {
  assert.isTrue(Exit.isFailure(exit), `${label}: succeeded`)
  if (Exit.isFailure(exit)) {
    const failure = Cause.failureOption(exit.cause)
    assert.isTrue(Option.isSome(failure), `${label}: not a typed failure: ${Cause.pretty(exit.cause)}`)
    assert.strictEqual((failure as Option.Some<{ _tag: string }>).value._tag, "SqlError", label)
  }
}

describe("PGlite options, review 18f", () => {
  it.effect("options of the wrong kind fail with a SqlError, not a defect", () =>
    Effect.gen(function*() {
      const wrong: Array<[string, unknown]> = [
        ["null options", null],
        ["a string for options", "./.lawful"],
        ["a number for dataDir", { dataDir: 123 }],
        ["null for dataDir", { dataDir: null }],
        ["an empty dataDir", { dataDir: "" }],
        ["a dataDir of no directory", { dataDir: "file://" }]
      ]
      for (const [label, options] of wrong) {
        const exit = yield* Effect.exit(
          Effect.scoped(Layer.build(PgliteClient.layer(options as PgliteClient.PgliteClientConfig)))
        )
        assertSqlError(exit, label)
      }
    }))
})

layer(PgliteClient.layer(), { timeout: 60_000 })("PGlite parameters, review 18f", (it) => {
  it.effect("a Buffer of invalid UTF-8 bound to text is refused, as on pg, and stores nothing", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const name = `review18f_${randomUUID().replaceAll("-", "")}`
      yield* sql.unsafe(`CREATE TABLE ${name} (v text NOT NULL)`)
      const exit = yield* Effect.exit(sql.unsafe(`INSERT INTO ${name} VALUES ($1)`, [Buffer.from([0x61, 0xff, 0xfe])]))
      assertSqlError(exit, "invalid UTF-8")
      const rows = yield* sql.unsafe<{ n: number }>(`SELECT count(*)::int AS n FROM ${name}`)
      assert.deepStrictEqual(rows, [{ n: 0 }])
      // Valid UTF-8 in a Buffer is text, as on pg.
      yield* sql.unsafe(`INSERT INTO ${name} VALUES ($1)`, [Buffer.from("é", "utf8")])
      assert.deepStrictEqual(yield* sql.unsafe(`SELECT v FROM ${name}`), [{ v: "é" }])
    }))
})

describe("PGlite after close, review 18f", () => {
  it.effect("a transaction or reserve after the layer closed fails with a SqlError, as on pg, not a defect", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(PgliteClient.layer(), scope)
      yield* Scope.close(scope, Exit.void)
      // Closing twice is harmless.
      yield* Scope.close(scope, Exit.void)
      const sql = yield* Effect.provide(SqlClient.SqlClient, context)
      assertSqlError(yield* Effect.exit(sql`SELECT 1`), "statement")
      assertSqlError(yield* Effect.exit(sql.withTransaction(sql`SELECT 1`)), "transaction")
      assertSqlError(
        yield* Effect.exit(Effect.scoped(Effect.flatMap(sql.reserve, (c) => c.execute("SELECT 1", [], undefined)))),
        "reserve"
      )
    }))
})
