import { assert, describe, it, layer } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as PgClient from "@effect/sql-pg/PgClient"
import { PgliteClient } from "@lawful/sql-pglite"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scheduler from "effect/Scheduler"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestServices from "effect/TestServices"
import { randomUUID } from "node:crypto"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { holdTransaction, listeningChannels } from "./session.js"

// Turns enough for a fibre that is not waiting for anything to run its statement.
const turns = Effect.repeatN(Effect.yieldNow(), 100)

// A scheduler that parks its fibre at its n-th operation, until `resume`: an interruption then
// lands at exactly that step.
const parkingAt = (n: number) => {
  let ops = 0
  let parked: Array<() => void> = []
  let parking = true
  const scheduler: Scheduler.Scheduler = {
    shouldYield: () => (++ops === n ? 0 : false),
    scheduleTask: (task, priority) => {
      if (parking) parked.push(task)
      else Scheduler.defaultScheduler.scheduleTask(task, priority)
    }
  }
  const resume = Effect.sync(() => {
    parking = false
    const tasks = parked
    parked = []
    for (const task of tasks) task()
  })
  return { scheduler, resume }
}

layer(PgliteClient.layer(), { timeout: 60_000 })("PGlite session, review 16", (it) => {
  const table = Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const name = `review16_${randomUUID().replaceAll("-", "")}`
    yield* sql.unsafe(`CREATE TABLE ${name} (tag text NOT NULL)`)
    return {
      name,
      insert: (tag: string) => sql.unsafe(`INSERT INTO ${name} VALUES ($1)`, [tag]),
      tags: Effect.map(sql.unsafe<{ tag: string }>(`SELECT tag FROM ${name} ORDER BY tag`), (rows) => rows.map((r) => r.tag))
    }
  })

  it.effect("a fibre forked in a transaction that goes on after it ends waits for the session like any other", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const { insert, tags } = yield* table
      const go = yield* Deferred.make<void>()
      const late = yield* sql.withTransaction(Effect.forkDaemon(Effect.zipRight(Deferred.await(go), insert("late"))))
      // The transaction has committed; another fibre's holds the session, then rolls back.
      const { finish, holder } = yield* holdTransaction
      yield* Deferred.succeed(go, undefined)
      yield* turns
      yield* finish
      assert.strictEqual(yield* Effect.flip(Fiber.join(holder)), "rolled back")
      yield* Fiber.join(late)
      // Had the late insert run inside the other fibre's transaction, its rollback took it.
      assert.deepStrictEqual(yield* tags, ["late"])
    }))

  it.effect("a connection from reserve kept after its scope closed does not run inside another fibre's transaction", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const { name, tags } = yield* table
      const connection = yield* Effect.scoped(sql.reserve)
      const { finish, holder } = yield* holdTransaction
      const late = yield* Effect.fork(connection.executeUnprepared(`INSERT INTO ${name} VALUES ('late')`, [], undefined))
      yield* turns
      yield* finish
      assert.strictEqual(yield* Effect.flip(Fiber.join(holder)), "rolled back")
      yield* Fiber.join(late)
      assert.deepStrictEqual(yield* tags, ["late"])
    }))

  it.effect("a listen waiting for the session can be interrupted, and leaves nothing listening", () =>
    Effect.gen(function*() {
      const pg = yield* PgClient.PgClient
      const channel = `waiting_${randomUUID().slice(0, 8)}`
      const { finish, holder } = yield* holdTransaction
      const listener = yield* pg.listen(channel).pipe(Stream.runDrain, Effect.fork)
      yield* turns
      // Returns while the transaction still holds the session.
      yield* Fiber.interrupt(listener)
      assert.isTrue(Option.isNone(yield* Fiber.poll(holder)))
      yield* finish
      assert.strictEqual(yield* Effect.flip(Fiber.join(holder)), "rolled back")
      assert.notInclude(yield* listeningChannels, channel)
    }), { timeout: 20_000 })

  it.effect("a fibre interrupted at any step of taking the session leaves it free", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const takers: ReadonlyArray<readonly [string, Effect.Effect<unknown, SqlError>]> = [
        ["statement", sql`SELECT 1`],
        ["transaction", sql.withTransaction(sql`SELECT 1`)],
        ["reserve", Effect.scoped(sql.reserve)]
      ]
      const { finish, holder } = yield* holdTransaction
      for (const waits of [false, true]) {
        // First with the session free, then with it held by another fibre's transaction.
        if (!waits) yield* finish
        if (waits) yield* Effect.flip(Fiber.join(holder))
        for (const [label, taker] of takers) {
          for (let n = 1; n <= 120; n++) {
            const blocker = waits ? yield* holdTransaction : undefined
            const park = parkingAt(n)
            const fiber = yield* Effect.fork(Effect.withScheduler(taker, park.scheduler))
            yield* Effect.repeatN(Effect.yieldNow(), 5)
            if (blocker) yield* blocker.finish
            const interrupter = yield* Effect.fork(Fiber.interrupt(fiber))
            yield* Effect.yieldNow()
            yield* park.resume
            yield* Fiber.join(interrupter)
            if (blocker) yield* Effect.flip(Fiber.join(blocker.holder))
            // A session left taken would keep this waiting for ever.
            const free = yield* TestServices.provideLive(Effect.option(Effect.timeout(sql`SELECT 2`, "10 seconds")))
            assert.isTrue(Option.isSome(free), `session left taken by a ${label} interrupted at step ${n}${waits ? " while waiting" : ""}`)
          }
        }
      }
    }), { timeout: 120_000 })

  it.effect("reserve frees the session when its scope closes, when interrupted holding it, and when interrupted waiting", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const select = (n: number) => sql<{ n: number }>`SELECT ${n}::int AS n`
      assert.deepStrictEqual(
        yield* Effect.scoped(Effect.flatMap(sql.reserve, (connection) => connection.execute("SELECT 1 AS n", [], undefined))),
        [{ n: 1 }]
      )
      assert.deepStrictEqual(yield* select(2), [{ n: 2 }])
      const reserved = yield* Deferred.make<void>()
      const holding = yield* Effect.fork(Effect.scoped(Effect.zipRight(sql.reserve, Effect.zipRight(Deferred.succeed(reserved, undefined), Effect.never))))
      yield* Deferred.await(reserved)
      yield* Fiber.interrupt(holding)
      assert.deepStrictEqual(yield* select(3), [{ n: 3 }])
      const { finish, holder } = yield* holdTransaction
      const waiting = yield* Effect.fork(Effect.scoped(sql.reserve))
      yield* turns
      yield* Fiber.interrupt(waiting)
      assert.isTrue(Option.isNone(yield* Fiber.poll(holder)))
      yield* finish
      assert.strictEqual(yield* Effect.flip(Fiber.join(holder)), "rolled back")
      assert.deepStrictEqual(yield* select(4), [{ n: 4 }])
    }))
})

describe("PGlite on disk, review 16", () => {
  it.effect("closing the layer while a statement runs lets it end, then frees the directory", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "lawful-pglite-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      const scope = yield* Scope.make()
      const sql = yield* Layer.buildWithScope(PgliteClient.layer({ dataDir: dir }), scope).pipe(
        Effect.map(Context.get(SqlClient.SqlClient))
      )
      yield* sql`CREATE TABLE kept (n int4)`
      const running = yield* Effect.fork(sql`INSERT INTO kept SELECT generate_series(1, 200000)`)
      yield* Effect.yieldNow()
      yield* Scope.close(scope, Exit.void)
      const exit = yield* Fiber.await(running)
      // It ran to its end before the database closed, or failed as a statement: never a defect.
      assert.isTrue(Exit.isSuccess(exit) || Cause.failureOption(exit.cause).pipe(Option.exists((e) => e._tag === "SqlError")))
      assert.isFalse(existsSync(join(dir, "lawful-pglite.lock")))
      const [row] = yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ n: number }>`SELECT count(*)::int AS n FROM kept`).pipe(
        Effect.provide(PgliteClient.layer({ dataDir: dir }))
      )
      assert.include([0, 200000], row!.n)
    }).pipe(Effect.scoped))
})
