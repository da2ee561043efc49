// Fixtures for tests of PGlite's one session: a transaction holding it, and LISTEN seen from SQL.
import { assert } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"

// A transaction that holds the session until `finish`, then rolls back.
export const holdTransaction = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const opened = yield* Deferred.make<void>()
  const finish = yield* Deferred.make<void>()
  const holder = yield* sql.withTransaction(
    Effect.zipRight(Deferred.succeed(opened, undefined), Effect.zipRight(Deferred.await(finish), Effect.fail("rolled back" as const)))
  ).pipe(Effect.fork)
  yield* Deferred.await(opened)
  return { finish: Deferred.succeed(finish, undefined), holder }
})

export const listeningChannels = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => sql<{ channel: string }>`SELECT pg_listening_channels() AS channel`
).pipe(Effect.map((rows) => rows.map((r) => r.channel)))

// A stream's LISTEN runs when the stream starts, in its own fibre: wait until it has (a few
// statements at most; a LISTEN that never takes effect fails here).
export const awaitListening = (channel: string) =>
  listeningChannels.pipe(
    Effect.repeat({ until: (channels) => channels.includes(channel), times: 200 }),
    Effect.map((channels) => assert.include(channels, channel))
  )
