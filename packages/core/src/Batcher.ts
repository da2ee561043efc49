/**
 * Groups concurrent calls into batches: what turns many callers' single
 * writes into one multi-row statement and one commit.
 *
 * A batcher owns one fibre (in the scope that made it). Each call hands its
 * item over and waits; the fibre takes everything waiting, groups it by key
 * (for example the tenant), starts each group as one batch of at most
 * `maxBatch` items, and answers every caller with its own result. A lone call
 * runs at once, as a batch of one: batching never waits for company. Up to
 * `concurrency` batches are in flight at once, so their commits overlap (the
 * database flushes them together) while the next batch fills; batches are
 * therefore not ordered with each other.
 *
 * A batch that fails fails each of its callers with the same error; report
 * per-item outcomes in the result type (an `Either`) when items can fail on
 * their own.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import type * as Scope from "effect/Scope"

/**
 * @since 0.1.0
 * @category models
 */
export interface BatcherOptions<I, O, E> {
  /** Runs one batch; returns one result per item, in order. */
  readonly run: (items: ReadonlyArray<I>) => Effect.Effect<ReadonlyArray<O>, E>
  /** Items with different keys never share a batch. */
  readonly key?: ((item: I) => string) | undefined
  /** Most items in one batch (default 1000). */
  readonly maxBatch?: number | undefined
  /** How many batches run at once (default 4). */
  readonly concurrency?: number | undefined
}

interface Pending<I, O, E> {
  readonly item: I
  readonly resume: (result: Effect.Effect<O, E>) => void
}

/**
 * Makes a batcher; the returned function submits one item and waits for its
 * result. When the scope closes, callers still waiting are interrupted.
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
    let waiting: Array<Pending<I, O, E>> = []
    // Resumes the worker when it sleeps for want of items.
    let wake: (() => void) | undefined
    let closed = false

    const answer = (batch: ReadonlyArray<Pending<I, O, E>>, exit: Exit.Exit<ReadonlyArray<O>, E>) => {
      if (Exit.isSuccess(exit)) batch.forEach((pending, i) => pending.resume(Exit.succeed(exit.value[i]!)))
      else {
        const failure = Exit.failCause(exit.cause)
        batch.forEach((pending) => pending.resume(failure))
      }
    }

    const runBatch = (batch: ReadonlyArray<Pending<I, O, E>>) =>
      options.run(batch.map((pending) => pending.item)).pipe(
        Effect.flatMap((results) =>
          results.length === batch.length
            ? Effect.succeed(results)
            : Effect.dieMessage(`a batch of ${batch.length} returned ${results.length} results`)
        ),
        // Interrupted with its scope, the batch still answers (interrupts) its callers.
        Effect.onExit((exit) => Effect.sync(() => answer(batch, exit)))
      )

    const takeAll = Effect.async<Array<Pending<I, O, E>>>((resume) => {
      const take = () => {
        wake = undefined
        const all = waiting
        waiting = []
        resume(Effect.succeed(all))
      }
      if (waiting.length > 0) take()
      else wake = take
      return Effect.sync(() => {
        wake = undefined
      })
    })

    const inFlight = yield* Effect.makeSemaphore(options.concurrency ?? 4)
    const running = yield* FiberSet.make()
    const worker = Effect.gen(function*() {
      const all = yield* takeAll
      const groups = new Map<string, Array<Array<Pending<I, O, E>>>>()
      for (const pending of all) {
        const key = keyOf(pending.item)
        const batches = groups.get(key) ?? []
        const last = batches[batches.length - 1]
        if (last && last.length < maxBatch) last.push(pending)
        else batches.push([pending])
        groups.set(key, batches)
      }
      for (const batches of groups.values()) {
        for (const batch of batches) {
          yield* inFlight.take(1)
          yield* FiberSet.run(running, Effect.ensuring(runBatch(batch), inFlight.release(1)))
        }
      }
    }).pipe(Effect.forever, Effect.interruptible)
    yield* Effect.forkScoped(worker)
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        closed = true
        const left = waiting
        waiting = []
        left.forEach((pending) => pending.resume(Effect.interrupt))
      })
    )

    return (item: I) =>
      Effect.async<O, E>((resume) => {
        if (closed) return resume(Effect.interrupt)
        waiting.push({ item, resume })
        wake?.()
      })
  })
