import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
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
})
