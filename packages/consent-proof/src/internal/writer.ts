/**
 * Groups concurrent writes per key (the tenant): the first write of a key
 * starts a fibre that runs what is waiting as one batch, then the writes
 * that arrived meanwhile as the next, until none is left. At most one batch
 * per key is in flight, so callers that arrive while one commits share the
 * next: batches grow with the load instead of splitting it.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"

interface Pending<I, O, E> {
  readonly item: I
  readonly done: Deferred.Deferred<O, E>
}

export const make = <I, O, E>(options: {
  readonly key: (item: I) => string
  /** Runs one batch of one key; returns one result per item, in order. */
  readonly run: (key: string, items: ReadonlyArray<I>) => Effect.Effect<ReadonlyArray<O>, E>
  readonly maxBatch: number
}): Effect.Effect<(item: I) => Effect.Effect<O, E>, never, Scope.Scope> =>
  Effect.map(Effect.scope, (scope) => {
    const lanes = new Map<string, Array<Pending<I, O, E>>>()

    const runBatch = (key: string, batch: ReadonlyArray<Pending<I, O, E>>) =>
      options.run(key, batch.map((pending) => pending.item)).pipe(
        Effect.exit,
        Effect.flatMap((exit) =>
          Effect.forEach(batch, (pending, i) => Deferred.done(pending.done, Exit.map(exit, (results) => results[i]!)), {
            discard: true
          })
        )
      )

    const drain = (key: string): Effect.Effect<void> =>
      Effect.suspend(() => {
        const waiting = lanes.get(key)!
        if (waiting.length === 0) {
          lanes.delete(key)
          return Effect.void
        }
        return Effect.zipRight(runBatch(key, waiting.splice(0, options.maxBatch)), drain(key))
      })

    return (item: I) =>
      Effect.flatMap(Deferred.make<O, E>(), (done) =>
        Effect.suspend(() => {
          const key = options.key(item)
          const lane = lanes.get(key)
          if (lane !== undefined) {
            lane.push({ item, done })
            return Deferred.await(done)
          }
          lanes.set(key, [{ item, done }])
          return Effect.zipRight(Effect.forkIn(drain(key), scope), Deferred.await(done))
        }))
  })
