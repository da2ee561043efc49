import { PGlite } from "@electric-sql/pglite"
import * as Reactivity from "@effect/experimental/Reactivity"
import { assert, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { PgliteClient } from "@lawful/sql-pglite"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "lawful-pglite-18g-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

// The rows of `notes` as a new client over the directory reads them.
const persisted = (dir: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ body: string }>`SELECT body FROM notes ORDER BY body`).pipe(
    Effect.map((rows) => rows.map((row) => row.body)),
    Effect.provide(PgliteClient.layer({ dataDir: dir }))
  )

describe("PGlite closed under a transaction, review 18g", () => {
  it.effect("a transaction open when the layer closes finishes first, and what it committed is kept", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(PgliteClient.layer({ dataDir: dir }), scope)
      const sql = yield* Effect.provide(SqlClient.SqlClient, context)
      yield* sql`CREATE TABLE notes (body text)`
      const opened = yield* Deferred.make<void>()
      const go = yield* Deferred.make<void>()
      const transaction = yield* Effect.fork(sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO notes VALUES ('first')`
        yield* Deferred.succeed(opened, undefined)
        yield* Deferred.await(go)
        yield* sql`INSERT INTO notes VALUES ('second')`
      })))
      yield* Deferred.await(opened)
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      // The close has begun and waits for something outside this fibre.
      yield* Fiber.status(closing).pipe(
        Effect.zipLeft(Effect.yieldNow()),
        Effect.repeat({ until: (status) => status._tag === "Suspended", times: 1000 })
      )
      yield* Deferred.succeed(go, undefined)
      const exit = yield* Fiber.await(transaction)
      yield* Fiber.join(closing)
      assert.isTrue(Exit.isSuccess(exit), Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "")
      assert.deepStrictEqual(yield* persisted(dir), ["first", "second"])
    }).pipe(Effect.scoped), { timeout: 60_000 })

  it.effect("a transaction whose instance its owner closes fails with a SqlError, not a defect, and keeps nothing", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const db = yield* Effect.promise(() => PGlite.create({ dataDir: dir }))
      const sql = yield* PgliteClient.fromPglite(db).pipe(Effect.provide(Reactivity.layer))
      yield* sql`CREATE TABLE notes (body text)`
      const opened = yield* Deferred.make<void>()
      const go = yield* Deferred.make<void>()
      const transaction = yield* Effect.fork(sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO notes VALUES ('outer')`
        // A savepoint: its ROLLBACK TO SAVEPOINT meets the closed instance first.
        yield* sql.withTransaction(Effect.gen(function*() {
          yield* sql`INSERT INTO notes VALUES ('inner')`
          yield* Deferred.succeed(opened, undefined)
          yield* Deferred.await(go)
          yield* sql`INSERT INTO notes VALUES ('after close')`
        }))
      })))
      yield* Deferred.await(opened)
      yield* Effect.promise(() => db.close())
      yield* Deferred.succeed(go, undefined)
      const exit = yield* Fiber.await(transaction)
      assert.isTrue(Exit.isFailure(exit), "the transaction succeeded")
      if (Exit.isFailure(exit)) {
        const failure = Cause.failureOption(exit.cause)
        assert.isTrue(Option.isSome(failure), `not a typed failure: ${Cause.pretty(exit.cause)}`)
        assert.strictEqual((failure as Option.Some<{ _tag: string }>).value._tag, "SqlError")
      }
      // A closed PGlite holds no transaction: nothing written after BEGIN was persisted.
      assert.deepStrictEqual(yield* persisted(dir), [])
    }).pipe(Effect.scoped), { timeout: 60_000 })
})
