import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Either from "effect/Either"
import * as Context from "effect/Context"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Batcher from "../src/Batcher.js"

describe("Batcher", () => {
  it.scoped("groups concurrent calls by key into batches of at most maxBatch, answering each caller", () =>
    Effect.gen(function*() {
      const batches: Array<ReadonlyArray<string>> = []
      const submit = yield* Batcher.make({
        key: (item: string) => item.split(":")[0]!,
        maxBatch: 5,
        run: (items: ReadonlyArray<string>) =>
          Effect.sync(() => {
            batches.push(items)
            return items.map((item) => item.toUpperCase())
          })
      })
      const items = Array.from({ length: 24 }, (_, i) => `${i % 2 === 0 ? "a" : "b"}:${i}`)
      const results = yield* Effect.forEach(items, submit, { concurrency: "unbounded" })
      assert.deepStrictEqual(results, items.map((item) => item.toUpperCase()))
      assert.isTrue(batches.every((batch) => batch.length <= 5))
      assert.isTrue(batches.every((batch) => new Set(batch.map((item) => item[0])).size === 1))
      assert.isBelow(batches.length, items.length)
      assert.deepStrictEqual(batches.flat().sort(), [...items].sort())
    }))

  it.scoped("counts maxBatch by weight when given: a batch never passes it, a heavier item runs alone", () =>
    Effect.gen(function*() {
      const batches: Array<ReadonlyArray<number>> = []
      const submit = yield* Batcher.make({
        maxBatch: 10,
        weight: (item: number) => item,
        run: (items: ReadonlyArray<number>) =>
          Effect.sync(() => {
            batches.push(items)
            return items.map((item) => item * 2)
          })
      })
      const items = [3, 4, 5, 2, 12, 1, 6, 4, 9, 1, 1, 30, 2]
      const results = yield* Effect.forEach(items, submit, { concurrency: "unbounded" })
      assert.deepStrictEqual(results, items.map((item) => item * 2))
      for (const batch of batches) {
        const weight = batch.reduce((sum, item) => sum + item, 0)
        assert.isTrue(weight <= 10 || batch.length === 1, `batch ${batch} weighs ${weight}`)
      }
      assert.deepStrictEqual(batches.flat().sort((a, b) => a - b), [...items].sort((a, b) => a - b))
      assert.isBelow(batches.length, items.length)
    }))

  // `callers` callers, each submitting its next item once answered (as request handlers do), 400
  // items in all, one batch at a time; the size of each batch.
  const loopingCallers = (callers: number) =>
    Effect.gen(function*() {
      const sizes: Array<number> = []
      const submit = yield* Batcher.make({
        concurrency: 1,
        run: (items: ReadonlyArray<number>) =>
          // A batch's work takes a turn of the event loop, as a statement does.
          Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve))).pipe(
            Effect.as(items),
            Effect.tap(() => Effect.sync(() => sizes.push(items.length)))
          )
      })
      yield* Effect.forEach(Array.from({ length: 400 }, (_, i) => i), submit, { concurrency: callers, discard: true })
      return sizes
    })

  it.scoped("callers that submit again as soon as they are answered go into one batch, not one alone and the rest after it", () =>
    Effect.gen(function*() {
      const sizes = yield* loopingCallers(8)
      // Batches of one and seven in turn made 100 batches; full ones make 50, give or take the first.
      assert.isAtMost(sizes.length, 52, JSON.stringify(sizes.slice(0, 12)))
    }))

  it.scoped("an answered caller joins the items that waited during its batch, not the batch after them", () =>
    Effect.gen(function*() {
      // Two callers: while one's item is written, the other's waits. Freed as soon as an item
      // waited, every batch held one item, and two callers went no faster than one; the answered
      // caller's next item now goes with the one that waited.
      const sizes = yield* loopingCallers(2)
      assert.isAtMost(sizes.length, 202, JSON.stringify(sizes.slice(0, 12)))
    }))

  it.scoped("a key with its batches in flight does not hold up other keys, and never runs more than its limit", () =>
    Effect.gen(function*() {
      const release = yield* Deferred.make<void>()
      const running = new Map<string, number>()
      let most = 0
      const submit = yield* Batcher.make({
        concurrency: 1,
        key: (item: string) => item.split(":")[0]!,
        run: (items: ReadonlyArray<string>) =>
          Effect.gen(function*() {
            const key = items[0]!.split(":")[0]!
            running.set(key, (running.get(key) ?? 0) + 1)
            most = Math.max(most, running.get(key)!)
            if (key === "slow") yield* Deferred.await(release)
            yield* Effect.yieldNow()
            running.set(key, running.get(key)! - 1)
            return items.map((item) => item.toUpperCase())
          })
      })
      // The slow key's first batch blocks; its later items wait behind it.
      const slow = yield* Effect.fork(Effect.forEach(["slow:1", "slow:2", "slow:3"], submit, { concurrency: "unbounded" }))
      yield* Effect.yieldNow()
      // Meanwhile another key's calls, even in several rounds, are answered.
      for (let round = 0; round < 3; round++) {
        const fast = yield* Effect.forEach([`fast:${round}a`, `fast:${round}b`], submit, { concurrency: "unbounded" })
        assert.deepStrictEqual(fast, [`FAST:${round}A`, `FAST:${round}B`])
      }
      assert.isNull(slow.unsafePoll())
      yield* Deferred.succeed(release, undefined)
      assert.deepStrictEqual(yield* Fiber.join(slow), ["SLOW:1", "SLOW:2", "SLOW:3"])
      assert.strictEqual(most, 1)
    }))

  it.scoped("a failing batch fails each of its callers, and later batches still run", () =>
    Effect.gen(function*() {
      const submit = yield* Batcher.make({
        run: (items: ReadonlyArray<number>) =>
          items.includes(13) ? Effect.fail("unlucky" as const) : Effect.succeed(items.map((n) => n * 2))
      })
      const failed = yield* Effect.either(submit(13))
      assert.deepStrictEqual(failed, Either.left("unlucky"))
      assert.strictEqual(yield* submit(21), 42)
    }))

  it.scoped("a call inside a SQL transaction runs alone, in the caller's fibre, where the transaction's connection is", () =>
    Effect.gen(function*() {
      class Caller extends Context.Tag("test/Caller")<Caller, string>() {}
      const batches: Array<ReadonlyArray<string>> = []
      const submit = yield* Batcher.make({
        run: (items: ReadonlyArray<string>) =>
          Effect.map(Effect.serviceOption(Caller), (caller) => {
            batches.push(items)
            return items.map((item) => `${item} by ${caller._tag === "Some" ? caller.value : "the batcher"}`)
          })
      })
      // What `sql.withTransaction` leaves in the fibre's context (the connection is not used here).
      const inTransaction = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        Effect.provideService(effect, SqlClient.TransactionConnection, [{} as Context.Tag.Service<typeof SqlClient.TransactionConnection>[0], 0])
      const results = yield* Effect.all([
        inTransaction(submit("a")).pipe(Effect.provideService(Caller, "tx-1")),
        inTransaction(submit("b")).pipe(Effect.provideService(Caller, "tx-2")),
        submit("c").pipe(Effect.provideService(Caller, "outside")),
        submit("d").pipe(Effect.provideService(Caller, "outside"))
      ], { concurrency: "unbounded" })
      assert.deepStrictEqual(results, ["a by tx-1", "b by tx-2", "c by the batcher", "d by the batcher"])
      assert.deepStrictEqual(batches.filter((batch) => batch.includes("a") || batch.includes("b")), [["a"], ["b"]])
    }))
})
