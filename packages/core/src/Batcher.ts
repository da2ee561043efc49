/**
 * Groups concurrent calls into batches: what turns many callers' single
 * writes into one multi-row statement and one commit.
 *
 * A batcher owns one fibre (in the scope that made it). Each call hands its
 * item over and waits; the fibre takes everything waiting, groups it by key
 * (for example the tenant), starts each group as one batch of at most
 * `maxBatch` items, and answers every caller with its own result. A lone call
 * runs at once, as a batch of one: batching never waits for company. Up to
 * `concurrency` batches of one key are in flight at once, so their commits
 * overlap (the database flushes them together) while the next batch fills;
 * batches are therefore not ordered with each other. Keys do not wait for
 * each other: a key with its batches in flight leaves its new items waiting
 * while other keys' items start, up to `maxInFlight` batches in all.
 *
 * A batch that fails fails each of its callers with the same error; report
 * per-item outcomes in the result type (an `Either`) when items can fail on
 * their own. A batch that dies, or whose `run` throws, gives each of its
 * callers the defect; a `key` or `weight` that throws fails its own caller
 * with the defect. Either way the batcher goes on serving the others.
 *
 * A call made inside an open SQL transaction (`sql.withTransaction` of
 * `@effect/sql`) is not batched: its item runs alone, as a batch of one, in
 * the caller's fibre, so its statements run on the transaction's connection
 * and commit or roll back with it. On the batcher's own fibre they would
 * commit apart (PostgreSQL), or wait for the transaction to end, for ever
 * (PGlite, a single session).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import type * as Scope from "effect/Scope"
import { inTransaction } from "./Database.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface BatcherOptions<I, O, E> {
  /** Runs one batch; returns one result per item, in order. */
  readonly run: (items: ReadonlyArray<I>) => Effect.Effect<ReadonlyArray<O>, E>
  /** Items with different keys never share a batch. */
  readonly key?: ((item: I) => string) | undefined
  /**
   * Most items in one batch (default 1000), counted by `weight` when given: a batch takes items
   * until their weights would pass `maxBatch`. An item heavier than `maxBatch` runs alone.
   */
  readonly maxBatch?: number | undefined
  /** How much of `maxBatch` an item takes (default 1), e.g. the rows it writes. */
  readonly weight?: ((item: I) => number) | undefined
  /** How many batches of one key run at once (default 4). */
  readonly concurrency?: number | undefined
  /** How many batches run at once in all, whatever their key (default 64). */
  readonly maxInFlight?: number | undefined
}

interface Pending<I, O, E> {
  readonly item: I
  readonly key: string
  readonly weight: number
  readonly resume: (result: Effect.Effect<O, E>) => void
}

/**
 * Makes a batcher; the returned function submits one item and waits for its
 * result. When the scope closes, every caller not yet answered is interrupted:
 * those waiting, and those whose batch was running or about to start. A call
 * made while the scope closes, or after, is interrupted at once.
 *
 * A call costs no queue and no deferred of its own: the item joins a plain
 * array and the caller suspends until its batch answers it. This matters on
 * the hot path of every resolve, where a few microseconds a call add up.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <I, O, E>(
  options: BatcherOptions<I, O, E>
): Effect.Effect<(item: I) => Effect.Effect<O, E>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const maxBatch = options.maxBatch ?? 1000
    const keyOf = options.key ?? (() => "")
    const weightOf = options.weight ?? (() => 1)
    let waiting: Array<Pending<I, O, E>> = []
    // Resumes the worker when it sleeps for want of items.
    let wake: (() => void) | undefined
    let closed = false
    // Batches started and not yet answered. A batch's fibre interrupted before its first step
    // (its fibre set closed first, as when the scope closes in parallel) never runs, so never
    // answers: the batcher's finalizer answers what is left here.
    const unanswered = new Set<ReadonlyArray<Pending<I, O, E>>>()

    const answer = (batch: ReadonlyArray<Pending<I, O, E>>, exit: Exit.Exit<ReadonlyArray<O>, E>) => {
      if (!unanswered.delete(batch)) return
      if (Exit.isSuccess(exit)) batch.forEach((pending, i) => pending.resume(Exit.succeed(exit.value[i]!)))
      else {
        const failure = Exit.failCause(exit.cause)
        batch.forEach((pending) => pending.resume(failure))
      }
    }

    // One result per item, or a defect (`options.run` throwing too).
    const run = (items: ReadonlyArray<I>) =>
      Effect.flatMap(Effect.suspend(() => options.run(items)), (results) =>
        results.length === items.length
          ? Effect.succeed(results)
          : Effect.dieMessage(`a batch of ${items.length} returned ${results.length} results`))

    const runBatch = (batch: ReadonlyArray<Pending<I, O, E>>) =>
      run(batch.map((pending) => pending.item)).pipe(
        // Interrupted with its scope, the batch still answers (interrupts) its callers.
        Effect.onExit((exit) => Effect.sync(() => answer(batch, exit)))
      )

    const perKey = options.concurrency ?? 4
    const settleTurns = 8
    const maxInFlight = options.maxInFlight ?? 64
    const active = new Map<string, number>()
    let inFlight = 0
    const mayStart = (key: string) => inFlight < maxInFlight && (active.get(key) ?? 0) < perKey

    // Sleeps (woken by a new item or a finished batch) until a waiting item's key may start a
    // batch. It takes nothing: items leave `waiting` only in the worker's own fibre, once it runs
    // again (woken from another fibre, it resumes later, and may be interrupted first).
    const awaitReady = Effect.async<void>((resume) => {
      const attempt = () => {
        if (closed || !waiting.some((pending) => mayStart(pending.key))) {
          wake = attempt
          return
        }
        wake = undefined
        resume(Effect.void)
      }
      attempt()
      return Effect.sync(() => {
        wake = undefined
      })
    })

    // A finished batch frees its place only once its callers, answered just before, have had the
    // time to submit their next items (a few turns of the scheduler: each caller's fibre, and the
    // fibres it runs in, such as `Effect.forEach`'s, resume in turn), or after `settleTurns`
    // turns when some do not come back. Their items then go together into the next batch, with
    // those that waited during this one. Freed at once, the first item to come back started a
    // batch of one and the others waited for it: eight callers made batches of 1 and 7 in turn.
    // Counting the items that waited as come back, two callers made batches of one in turn.
    const waitingOf = (key: string) => {
      let count = 0
      for (const pending of waiting) if (pending.key === key) count++
      return count
    }
    const finished = (key: string, answered: number) =>
      Effect.suspend(() => {
        const free = Effect.sync(() => {
          inFlight--
          const left = active.get(key)! - 1
          if (left === 0) active.delete(key)
          else active.set(key, left)
          wake?.()
        })
        const expected = waitingOf(key) + answered
        const settle = (turns: number): Effect.Effect<void> =>
          turns >= settleTurns || waitingOf(key) >= expected
            ? free
            : Effect.zipRight(Effect.yieldNow(), Effect.suspend(() => settle(turns + 1)))
        return settle(0)
      })

    // Takes the waiting items whose key may start a batch, groups them and counts the batches
    // as in flight; items of keys that reach their limit meanwhile wait, ahead of newer ones.
    // Nothing once the batcher is closing: its finalizer answers what waits.
    const takeBatches = () => {
      if (closed) return []
      const ready: Array<Pending<I, O, E>> = []
      const rest: Array<Pending<I, O, E>> = []
      for (const pending of waiting) (mayStart(pending.key) ? ready : rest).push(pending)
      waiting = rest
      const groups = new Map<string, Array<{ readonly items: Array<Pending<I, O, E>>; weight: number }>>()
      for (const pending of ready) {
        const batches = groups.get(pending.key) ?? []
        const last = batches[batches.length - 1]
        if (last && last.weight + pending.weight <= maxBatch) {
          last.items.push(pending)
          last.weight += pending.weight
        } else {
          batches.push({ items: [pending], weight: pending.weight })
        }
        groups.set(pending.key, batches)
      }
      const started: Array<{ readonly key: string; readonly batch: ReadonlyArray<Pending<I, O, E>> }> = []
      const later: Array<Pending<I, O, E>> = []
      for (const [key, batches] of groups) {
        for (const { items: batch } of batches) {
          if (!mayStart(key)) {
            later.push(...batch)
            continue
          }
          inFlight++
          active.set(key, (active.get(key) ?? 0) + 1)
          unanswered.add(batch)
          started.push({ key, batch })
        }
      }
      if (later.length > 0) waiting = [...later, ...waiting]
      return started
    }

    const running = yield* FiberSet.make()
    // Interruptible only while it sleeps: items it took are always started (and so answered).
    const worker = Effect.zipRight(
      Effect.interruptible(awaitReady),
      Effect.suspend(() =>
        Effect.forEach(
          takeBatches(),
          ({ batch, key }) =>
            FiberSet.run(running, Effect.interruptible(Effect.ensuring(runBatch(batch), finished(key, batch.length)))),
          { discard: true }
        )
      )
    ).pipe(Effect.forever, Effect.uninterruptible)
    const workerFiber = yield* Effect.forkScoped(worker)
    // In this order: nothing starts once the worker has stopped, batches still running answer
    // (interrupt) their callers, and every caller left is interrupted.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        closed = true
        yield* Fiber.interrupt(workerFiber)
        yield* FiberSet.clear(running)
        const left = [...waiting, ...Array.from(unanswered).flat()]
        waiting = []
        unanswered.clear()
        left.forEach((pending) => pending.resume(Effect.interrupt))
      })
    )

    const enqueue = (item: I) =>
      Effect.suspend(() => {
        // Here, so that a key or weight that throws fails its own caller, not the worker.
        const key = keyOf(item)
        const weight = weightOf(item)
        return Effect.async<O, E>((resume) => {
          if (closed) return resume(Effect.interrupt)
          waiting.push({ item, key, weight, resume })
          wake?.()
        })
      })
    // Inside the caller's transaction: alone, in the caller's fibre.
    const runAlone = (item: I) => Effect.map(run([item]), (results) => results[0]!)

    return (item: I) => Effect.flatMap(inTransaction, (joined) => joined ? runAlone(item) : enqueue(item))
  })
