import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as Batcher from "../src/Batcher.js"

// Every fibre's exit, or `None` when one of them is still waiting a (test) second later: a hang.
const exitsOrHang = <A, E>(fibers: ReadonlyArray<Fiber.Fiber<A, E>>) =>
  Effect.gen(function*() {
    const waiting = yield* Effect.fork(Effect.timeoutOption(Effect.forEach(fibers, Fiber.await), "1 second"))
    yield* TestClock.adjust("1 second")
    return yield* Fiber.join(waiting)
  })

// Answered with its own result, or interrupted (the batcher closed): anything but a hang or another caller's result.
const answeredOrInterrupted = (exit: Exit.Exit<string, unknown>, item: string) =>
  Exit.isSuccess(exit) ? exit.value === item.toUpperCase() : Cause.isInterruptedOnly(exit.cause)

const items = Array.from({ length: 12 }, (_, i) => `${["a", "b", "c"][i % 3]}:${i}`)

// A batcher in a scope of its own (three keys, one batch of each at a time, two items a batch), its
// callers, and the scope closed after `turns` turns of the scheduler; what went wrong, if a caller,
// or a call made after the close, was never answered or got another's result.
const closeAfter = (
  turns: number,
  strategy: ExecutionStrategy.ExecutionStrategy,
  run: (items: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<string>>
) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make(strategy)
    const submit = yield* Batcher.make({ key: (item: string) => item[0]!, concurrency: 1, maxBatch: 2, run }).pipe(
      Scope.extend(scope)
    )
    const callers = yield* Effect.forEach(items, (item) => Effect.fork(submit(item)))
    for (let turn = 0; turn < turns; turn++) yield* Effect.yieldNow()
    yield* Scope.close(scope, Exit.void)
    const late = yield* Effect.fork(submit("late"))
    const exits = yield* exitsOrHang([...callers, late])
    if (Option.isNone(exits)) return "a caller hung"
    const wrong = exits.value.findIndex((exit, i) => !answeredOrInterrupted(exit, [...items, "late"][i]!))
    return wrong === -1 ? undefined : `caller ${wrong} got ${String(exits.value[wrong])}`
  })

describe("Review16: Batcher", () => {
  it.effect("closed at any moment, a batcher answers every caller (its result or an interruption), never leaves one hanging", () =>
    Effect.gen(function*() {
      const upper = (items: ReadonlyArray<string>) => items.map((item) => item.toUpperCase())
      const problems: Array<string> = []
      // A scope closed in parallel (as a layer's may be) shuts the batches' fibre set while the
      // worker may still be starting batches in it.
      for (const strategy of [ExecutionStrategy.sequential, ExecutionStrategy.parallel]) {
        for (let turns = 0; turns <= 40; turns++) {
          const moment = `closed (${strategy._tag}) after ${turns} turns`
          // Batches that end after a turn: items are taken as batches finish.
          const quick = yield* closeAfter(turns, strategy, (items) => Effect.as(Effect.yieldNow(), upper(items)))
          if (quick) problems.push(`quick batches, ${moment}: ${quick}`)
          // Batches that never end: the scope closes with each key's first batch in flight.
          const gate = yield* Deferred.make<void>()
          const stuck = yield* closeAfter(turns, strategy, (items) => Effect.as(Deferred.await(gate), upper(items)))
          if (stuck) problems.push(`batches in flight, ${moment}: ${stuck}`)
        }
      }
      assert.deepStrictEqual(problems, [])
    }))

  it.effect("a call made after the batcher's scope closed is interrupted at once", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const submit = yield* Batcher.make({ run: (items: ReadonlyArray<number>) => Effect.succeed(items) }).pipe(
        Scope.extend(scope)
      )
      assert.strictEqual(yield* submit(1), 1)
      yield* Scope.close(scope, Exit.void)
      const exits = yield* exitsOrHang([yield* Effect.fork(submit(2))])
      assert.isTrue(Option.isSome(exits), "the call hung")
      assert.isTrue(Exit.isInterrupted(exits.pipe(Option.getOrThrow)[0]!))
    }))

  it.scoped("a batch function that throws instead of returning an effect fails each of its callers with the defect, and the batcher goes on", () =>
    Effect.gen(function*() {
      const submit = yield* Batcher.make({
        run: (items: ReadonlyArray<number>) => {
          if (items.includes(13)) throw new Error("unlucky batch")
          return Effect.succeed(items.map((n) => n * 2))
        }
      })
      const exits = yield* exitsOrHang([yield* Effect.fork(submit(13))])
      assert.isTrue(Option.isSome(exits), "the caller of the throwing batch hung")
      const [exit] = Option.getOrThrow(exits)
      assert.isTrue(Exit.isFailure(exit!) && Cause.isDie(exit.cause), String(exit))
      const next = yield* exitsOrHang([yield* Effect.fork(submit(21))])
      assert.deepStrictEqual(Option.map(next, ([exit]) => exit), Option.some(Exit.succeed(42)))
    }))

  it.scoped("a key or weight function that throws for an item fails that caller alone, and the batcher goes on", () =>
    Effect.gen(function*() {
      const submit = yield* Batcher.make({
        key: (item: number) => {
          if (item === 13) throw new Error("no key")
          return String(item % 2)
        },
        weight: (item: number) => {
          if (item === 14) throw new Error("no weight")
          return 1
        },
        run: (items: ReadonlyArray<number>) => Effect.succeed(items.map((n) => n * 2))
      })
      const fibers = yield* Effect.forEach([1, 13, 14, 2, 3], (n) => Effect.fork(submit(n)))
      const exits = yield* exitsOrHang(fibers)
      assert.isTrue(Option.isSome(exits), "a caller hung")
      const [one, thirteen, fourteen, two, three] = Option.getOrThrow(exits)
      assert.isTrue(Exit.isFailure(thirteen!) && Cause.isDie(thirteen.cause), String(thirteen))
      assert.isTrue(Exit.isFailure(fourteen!) && Cause.isDie(fourteen.cause), String(fourteen))
      assert.deepStrictEqual([one, two, three], [Exit.succeed(2), Exit.succeed(4), Exit.succeed(6)])
    }))

  it.scoped("a batch that dies gives every one of its callers the defect", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const submit = yield* Batcher.make({
        run: (items: ReadonlyArray<number>) => Effect.zipRight(Deferred.await(gate), Effect.dieMessage("broken batch"))
      })
      const first = yield* Effect.fork(submit(0))
      yield* Effect.yieldNow()
      // These wait while the first batch runs, and go together into the next one.
      const rest = yield* Effect.forEach([1, 2, 3], (n) => Effect.fork(submit(n)))
      yield* Deferred.succeed(gate, undefined)
      const exits = Option.getOrThrow(yield* exitsOrHang([first, ...rest]))
      for (const exit of exits) assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause), String(exit))
    }))

  it.scoped("a caller interrupted while its batch runs leaves the batch to answer the others", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      const batches: Array<ReadonlyArray<string>> = []
      const submit = yield* Batcher.make({
        run: (items: ReadonlyArray<string>) =>
          Effect.gen(function*() {
            batches.push(items)
            if (batches.flat().length === 3) yield* Deferred.succeed(started, undefined)
            yield* Deferred.await(gate)
            return items.map((item) => item.toUpperCase())
          })
      })
      const callers = yield* Effect.forEach(["a", "b", "c"], (item) => Effect.fork(submit(item)))
      // Every item in a batch in flight, however they were grouped.
      yield* Deferred.await(started)
      assert.deepStrictEqual(batches.flat().sort(), ["a", "b", "c"])
      yield* Fiber.interrupt(callers[1]!)
      yield* Deferred.succeed(gate, undefined)
      const exits = Option.getOrThrow(yield* exitsOrHang(callers))
      assert.deepStrictEqual(exits[0], Exit.succeed("A"))
      assert.isTrue(Exit.isInterrupted(exits[1]!))
      assert.deepStrictEqual(exits[2], Exit.succeed("C"))
    }))

  it.effect.prop(
    "no batch passes maxBatch by weight (but a heavier item alone), mixes keys or runs beyond its key's concurrency",
    {
      items: FastCheck.array(FastCheck.record({ key: FastCheck.constantFrom("a", "b", "c"), weight: FastCheck.integer({ min: 1, max: 12 }) }), { maxLength: 60 }),
      maxBatch: FastCheck.integer({ min: 1, max: 10 }),
      concurrency: FastCheck.integer({ min: 1, max: 3 })
    },
    ({ concurrency, items, maxBatch }) =>
      Effect.scoped(Effect.gen(function*() {
        type Item = { readonly key: string; readonly weight: number; readonly n: number }
        const batches: Array<ReadonlyArray<Item>> = []
        const running = new Map<string, number>()
        let most = 0
        const submit = yield* Batcher.make({
          key: (item: Item) => item.key,
          weight: (item: Item) => item.weight,
          maxBatch,
          concurrency,
          run: (batch: ReadonlyArray<Item>) =>
            Effect.gen(function*() {
              batches.push(batch)
              const key = batch[0]!.key
              running.set(key, (running.get(key) ?? 0) + 1)
              most = Math.max(most, running.get(key)!)
              yield* Effect.yieldNow()
              running.set(key, running.get(key)! - 1)
              return batch.map((item) => item.n)
            })
        })
        const numbered = items.map((item, n) => ({ ...item, n }))
        const results = yield* Effect.forEach(numbered, submit, { concurrency: "unbounded" })
        assert.deepStrictEqual(results, numbered.map((item) => item.n))
        for (const batch of batches) {
          const weight = batch.reduce((sum, item) => sum + item.weight, 0)
          assert.isTrue(weight <= maxBatch || batch.length === 1, `a batch of weight ${weight}, maxBatch ${maxBatch}`)
          assert.strictEqual(new Set(batch.map((item) => item.key)).size, 1)
        }
        assert.isAtMost(most, concurrency)
      }))
  )
})
