import { assert } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { randomUUID } from "node:crypto"
import { withTransaction } from "../src/Database.js"
import { failCommitsOn, sqlSuite } from "../src/testing.js"

// A table of the test's own whose every insert of a refused row is refused at COMMIT, for the scope.
const refusingTable = Effect.gen(function*() {
  const sql = (yield* SqlClient.SqlClient).withoutTransforms()
  const table = `commit_failure_${randomUUID().replaceAll("-", "")}`
  yield* sql.unsafe(`CREATE TABLE ${table} (id int PRIMARY KEY, refused boolean NOT NULL DEFAULT false)`)
  yield* failCommitsOn({ table, column: "refused", value: "true" })
  const insert = (id: number, refused: boolean) => sql.unsafe(`INSERT INTO ${table} (id, refused) VALUES ($1, $2)`, [id, refused])
  const ids = Effect.map(sql.unsafe<{ id: number }>(`SELECT id FROM ${table} ORDER BY id`), (rows) => rows.map((row) => row.id))
  return { sql, insert, ids }
})

const failure = <A, E>(exit: Exit.Exit<A, E>): Option.Option<E> =>
  Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()

const defect = <A, E>(exit: Exit.Exit<A, E>): Option.Option<unknown> =>
  Exit.isFailure(exit) ? Cause.dieOption(exit.cause) : Option.none()

// The defect as the body raised it (Effect wraps a defect in a proxy that names the span it died in).
const diedWith = <A, E>(exit: Exit.Exit<A, E>, died: SqlError): boolean =>
  Option.match(defect(exit), {
    onNone: () => false,
    onSome: (value) => value instanceof SqlError && value.message === died.message && value.cause === died.cause
  })

sqlSuite("Database.withTransaction", Layer.empty, (it) => {
  it.scoped("a COMMIT that fails is a failure with its SqlError, not a defect, and nothing is kept", () =>
    Effect.gen(function*() {
      const { insert, ids, sql } = yield* refusingTable
      const exit = yield* Effect.exit(withTransaction(sql)(insert(1, true)))
      assert.isTrue(Option.isNone(defect(exit)), "no defect")
      const error = failure(exit)
      assert.isTrue(Option.isSome(error) && error.value instanceof SqlError, "fails with a SqlError")
      assert.deepStrictEqual(yield* ids, [])
      // The session is usable after it.
      yield* withTransaction(sql)(insert(2, false))
      assert.deepStrictEqual(yield* ids, [2])
    }))

  it.scoped("a body that dies with a SqlError still dies, and rolls back", () =>
    Effect.gen(function*() {
      const { insert, ids, sql } = yield* refusingTable
      const died = new SqlError({ cause: "a bug", message: "the body died" })
      const exit = yield* Effect.exit(withTransaction(sql)(Effect.zipRight(insert(1, false), Effect.die(died))))
      assert.isTrue(diedWith(exit, died), "dies with the body's SqlError")
      assert.isTrue(Option.isNone(failure(exit)))
      assert.deepStrictEqual(yield* ids, [])
    }))

  it.scoped("a body that fails with a SqlError fails with it, and rolls back", () =>
    Effect.gen(function*() {
      const { insert, ids, sql } = yield* refusingTable
      const exit = yield* Effect.exit(withTransaction(sql)(Effect.zipRight(insert(1, false), insert(1, false))))
      assert.isTrue(Option.isSome(failure(exit)) && Option.getOrThrow(failure(exit)) instanceof SqlError)
      assert.isTrue(Option.isNone(defect(exit)))
      assert.deepStrictEqual(yield* ids, [])
    }))

  it.scoped("nested, it rolls back to its savepoint as before, and the outer COMMIT's failure is one failure", () =>
    Effect.gen(function*() {
      const { insert, ids, sql } = yield* refusingTable
      const inner = yield* withTransaction(sql)(
        Effect.gen(function*() {
          yield* insert(1, false)
          const nested = yield* Effect.exit(withTransaction(sql)(Effect.zipRight(insert(2, false), Effect.fail("undone" as const))))
          assert.deepStrictEqual(failure(nested), Option.some("undone" as const))
          yield* withTransaction(sql)(insert(3, false))
          return "committed"
        })
      )
      assert.strictEqual(inner, "committed")
      assert.deepStrictEqual(yield* ids, [1, 3])

      const exit = yield* Effect.exit(withTransaction(sql)(withTransaction(sql)(insert(4, true))))
      assert.isTrue(Option.isNone(defect(exit)), "no defect")
      assert.isTrue(Option.isSome(failure(exit)) && Option.getOrThrow(failure(exit)) instanceof SqlError)
      assert.deepStrictEqual(yield* ids, [1, 3])
    }))

  it.scoped("a nested body that dies with a SqlError still dies through the outer transaction", () =>
    Effect.gen(function*() {
      const { insert, ids, sql } = yield* refusingTable
      const died = new SqlError({ cause: "a bug", message: "the body died" })
      const exit = yield* Effect.exit(withTransaction(sql)(withTransaction(sql)(Effect.zipRight(insert(1, false), Effect.die(died)))))
      assert.isTrue(diedWith(exit, died), "dies with the body's SqlError")
      assert.deepStrictEqual(yield* ids, [])
    }))
})
