import { assert, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { existsSync } from "node:fs"
import * as Database from "../src/Database.js"
import * as Startup from "../src/Startup.js"
import { postgresUrl } from "../src/testing.js"

const readUrl = (url: string) =>
  Effect.runSyncExit(
    Database.databaseUrl.pipe(
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["DATABASE_URL", url]])))
    )
  )

// Forms `pg` connects with: a host name, or a Unix-socket directory given as the `host`
// parameter or percent-encoded in the host part.
const accepted = [
  "postgres://user:password@localhost:5432/lawful",
  "postgresql://user@db.internal/lawful",
  "postgres://user@[::1]:5432/lawful",
  "postgres:///lawful?host=/var/run/postgresql",
  "postgresql://user@%2Fvar%2Frun%2Fpostgresql/lawful",
  "postgres://user@localhost/lawful?host=/tmp",
  "postgres://postgres@/lawful?host=/tmp/pgdev&port=55432",
  "postgres://user:secret@%2Ftmp%2Fpgdev:55432/lawful",
  "postgres://user@localhost/lawful?host=db.internal&port=6432"
]

const refused = [
  "mysql://localhost/db",
  "localhost:5432",
  "postgres://",
  // No host at all: `pg` would try localhost over TCP, not a socket as libpq does.
  "postgres:///lawful",
  "postgres://user:secret@/lawful",
  "postgres://user@localhost/lawful?host=",
  "postgres://user@localhost/lawful?port=abc",
  "postgres://user@localhost/lawful?port=70000",
  "postgres://user@localhost:99999/lawful",
  "/var/run/postgresql lawful",
  "socket://user@/var/run/postgresql?db=lawful"
]

describe("DATABASE_URL", () => {
  for (const url of accepted) {
    it(`accepts ${url}`, () => {
      const exit = readUrl(url)
      assert.isTrue(Exit.isSuccess(exit), `refused: ${Exit.isFailure(exit) ? Startup.describeFailure(exit.cause) : ""}`)
      assert.deepStrictEqual(Exit.isSuccess(exit) ? Option.map(exit.value, Redacted.value) : undefined, Option.some(url))
    })
  }

  for (const url of refused) {
    it(`refuses ${url} in one line naming the variable and both forms, without echoing it`, () => {
      const exit = readUrl(url)
      assert.isTrue(Exit.isFailure(exit))
      const line = Exit.isFailure(exit) ? Startup.describeFailure(exit.cause) : ""
      assert.include(line, "DATABASE_URL")
      assert.include(line, "postgres://user:password@localhost:5432/lawful")
      assert.include(line, "?host=/var/run/postgresql")
      assert.notInclude(line, "secret")
      assert.notInclude(line, "\n")
    })
  }
})

describe("Database.layerPostgres on a database it cannot reach", () => {
  // A failure the caller can handle (a defect could carry the URL), described in one line.
  const failure = (url: string) =>
    Effect.gen(function*() {
      const exit = yield* Layer.build(Database.layerPostgres(Redacted.make(url))).pipe(Effect.scoped, Effect.exit)
      assert.isTrue(Exit.isFailure(exit) && Option.isSome(Cause.failureOption(exit.cause)), "a typed failure")
      if (Exit.isSuccess(exit)) return assert.fail("connected")
      const line = Startup.describeFailure(exit.cause)
      assert.include(line, "Cannot open the database at")
      assert.notInclude(line, "hunter2")
      assert.notInclude(line, "\n")
      const error = Option.getOrThrow(Cause.failureOption(exit.cause))
      return { error, line }
    })

  it.effect("a socket directory is named with the socket file and the database, never the password", () =>
    Effect.gen(function*() {
      const missing = "/nonexistent/lawful-socket-dir"
      for (
        const [url, target] of [
          [`postgres://lawful:hunter2@/lawful?host=${missing}&port=5999`, `${missing}/.s.PGSQL.5999, database lawful`],
          [`postgresql://lawful:hunter2@%2Fnonexistent%2Flawful-socket-dir/lawful`, `${missing}/.s.PGSQL.5432, database lawful`],
          [`postgres://lawful:hunter2@localhost/lawful?host=${missing}`, `${missing}/.s.PGSQL.5432, database lawful`],
          [`postgres://lawful@/lawful?host=${missing}&password=hunter2`, `${missing}/.s.PGSQL.5432, database lawful`]
        ] as const
      ) {
        const { error, line } = yield* failure(url)
        assert.strictEqual(error._tag, "DatabaseUnavailable")
        assert.strictEqual(error.target, `unix socket ${target}`)
        assert.include(line, target)
      }
    }))

  it.effect("a port given as a parameter is the port named", () =>
    Effect.gen(function*() {
      // Port 1 on loopback: nothing listens there, the connection is refused at once.
      const { error } = yield* failure("postgres://lawful:hunter2@127.0.0.1/lawful?port=1")
      assert.strictEqual(error.target, "127.0.0.1:1/lawful")
    }))
})

// Only when TEST_DATABASE_URL is a server on this machine and its socket is found: in
// TEST_POSTGRES_SOCKET_DIR (CI sets it), or where servers usually put it.
const socketUrl = (() => {
  if (!postgresUrl) return undefined
  const url = new URL(postgresUrl)
  if (!["127.0.0.1", "localhost", "[::1]"].includes(url.hostname)) return undefined
  const port = url.port || "5432"
  const candidates = [process.env.TEST_POSTGRES_SOCKET_DIR, "/tmp/pgdev", "/var/run/postgresql", "/tmp"]
  const directory = candidates.filter((dir) => dir !== undefined && dir !== "").find((dir) => existsSync(`${dir}/.s.PGSQL.${port}`))
  if (directory === undefined) return undefined
  const auth = url.username ? `${url.username}${url.password ? `:${url.password}` : ""}@` : ""
  return `postgres://${auth}${encodeURIComponent(directory)}:${port}${url.pathname}`
})()

describe.runIf(socketUrl !== undefined)("Database over a Unix socket", () => {
  it.effect("connects with the socket directory as the host parameter and percent-encoded as the host", () =>
    Effect.gen(function*() {
      const encoded = new URL(socketUrl!)
      const directory = decodeURIComponent(encoded.hostname)
      const auth = encoded.username ? `${encoded.username}${encoded.password ? `:${encoded.password}` : ""}@` : ""
      const asParameter = `postgres://${auth}${encoded.pathname}?host=${directory}&port=${encoded.port}`
      for (const url of [socketUrl!, asParameter]) {
        assert.isTrue(Exit.isSuccess(readUrl(url)), url)
        const rows = yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ socket: boolean }>`
          SELECT inet_server_addr() IS NULL AS socket`).pipe(
          Effect.provide(Database.layer),
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["DATABASE_URL", url]])))
        )
        // A connection over a Unix socket has no server address.
        assert.deepStrictEqual(rows, [{ socket: true }])
      }
    }))
})
