import { assert, describe, it, layer } from "@effect/vitest"
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import { PgliteClient } from "@lawful/sql-pglite"
import { PGlite } from "@electric-sql/pglite"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { spawnSync } from "node:child_process"
import { randomUUID } from "node:crypto"
import nodePg from "pg"
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { awaitListening, holdTransaction, listeningChannels } from "./session.js"

// The same scenario runs on PGlite and, when TEST_DATABASE_URL is set, on PostgreSQL in a
// fresh schema. Each scenario asserts its expected values and returns what it observed, so
// the two backends are also compared with each other.

const migrations = Migrator.fromRecord({
  "0001_items": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`CREATE TABLE items (
      tenant_id text NOT NULL,
      id int4 NOT NULL,
      name text NOT NULL,
      amount int8 NOT NULL,
      price numeric(12, 2) NOT NULL,
      at timestamptz NOT NULL,
      payload jsonb,
      raw bytea,
      tags text[] NOT NULL DEFAULT '{}',
      active boolean NOT NULL DEFAULT true,
      PRIMARY KEY (tenant_id, id)
    )`),
  "0002_events": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`CREATE TABLE events (tenant_id text NOT NULL, n int4 NOT NULL, PRIMARY KEY (tenant_id, n))`),
  "0003_mood": Effect.flatMap(SqlClient.SqlClient, (sql) => sql`CREATE TYPE mood AS ENUM ('happy', 'sad')`)
})

const migrate = Migrator.make({})({ loader: migrations, table: "lawful_sqltest_migrations" })

const scenario = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const pg = yield* PgClient.PgClient
  const tenant = randomUUID()
  const at = new Date("2026-03-01T10:20:30.123Z")

  const inserted = yield* sql<{ id: number; amount: string }>`INSERT INTO items ${
    sql.insert([
      { tenant_id: tenant, id: 1, name: "one", amount: 9007199254740993n, price: "12.50", at, payload: pg.json({ a: [1, "x", null] }), raw: Buffer.from([0, 1, 254, 255]), tags: ["a", "b"] },
      { tenant_id: tenant, id: 2, name: "two", amount: 2, price: "0.99", at, payload: null, raw: null, tags: [] },
      { tenant_id: tenant, id: 3, name: "three", amount: -3, price: "100", at, payload: pg.json({ nested: { ok: true } }), raw: null, tags: ["c"] }
    ])
  } RETURNING id, amount`
  assert.deepStrictEqual(inserted.map((r) => [r.id, r.amount]), [[1, "9007199254740993"], [2, "2"], [3, "-3"]])

  const [count] = yield* sql<{ count: string; total: string; small: number }>`
    SELECT count(*) AS count, sum(amount) AS total, count(*)::int AS small FROM items WHERE tenant_id = ${tenant}`
  assert.deepStrictEqual(count, { count: "3", total: "9007199254740992", small: 3 })

  const rows = yield* sql`SELECT * FROM items WHERE tenant_id = ${tenant} AND ${sql.in("id", [1, 3])} ORDER BY id`
  assert.strictEqual(rows.length, 2)
  const first = rows[0]!
  assert.instanceOf(first.at, Date)
  assert.strictEqual((first.at as Date).toISOString(), at.toISOString())
  assert.deepStrictEqual(first.payload, { a: [1, "x", null] })
  assert.isTrue(Buffer.isBuffer(first.raw))
  assert.deepStrictEqual([...(first.raw as Buffer)], [0, 1, 254, 255])
  assert.deepStrictEqual(first.tags, ["a", "b"])
  assert.strictEqual(first.price, "12.50")
  assert.strictEqual(first.active, true)

  const updated = yield* sql`UPDATE items SET ${sql.update({ name: "uno", active: false })}
    WHERE tenant_id = ${tenant} AND id = 1 RETURNING name, active`
  assert.deepStrictEqual(updated, [{ name: "uno", active: false }])

  const types = yield* sql`SELECT
    ${9007199254740993n}::int8 AS big,
    ${at}::timestamptz AS ts,
    ${JSON.stringify({ k: "v" })}::jsonb AS doc,
    '2026-01-02'::date AS day,
    ARRAY[1, 2]::int8[] AS bigs,
    ARRAY[1, 2]::int4[] AS ints,
    NULL::text AS nothing,
    '1 day 02:03:04'::interval AS span,
    ARRAY[1.5, 2]::numeric[] AS nums,
    ARRAY['2026-01-02'::date, NULL] AS days,
    7::int2 AS small,
    2.5::float4 AS single,
    'happy'::mood AS mood,
    ARRAY['happy', 'sad']::mood[] AS moods`
  const row = types[0]!
  assert.strictEqual(row.big, "9007199254740993")
  assert.strictEqual((row.ts as Date).toISOString(), at.toISOString())
  assert.deepStrictEqual(row.doc, { k: "v" })
  assert.deepStrictEqual(row.bigs, ["1", "2"])
  assert.deepStrictEqual(row.ints, [1, 2])
  assert.strictEqual(row.nothing, null)
  // As pg's own parsers read them: an interval as pg's interval object, numeric[] as numbers
  // (numeric alone stays a string), and a type of the program's own, or an array of it, as text.
  const span = row.span as { days?: number; hours?: number; minutes?: number; seconds?: number }
  assert.notStrictEqual(typeof span, "string")
  assert.deepStrictEqual([span.days, span.hours, span.minutes, span.seconds], [1, 2, 3, 4])
  assert.deepStrictEqual(row.nums, [1.5, 2])
  assert.instanceOf((row.days as Array<Date>)[0], Date)
  assert.strictEqual((row.days as Array<Date | null>)[1], null)
  assert.strictEqual(row.small, 7)
  assert.strictEqual(row.single, 2.5)
  assert.strictEqual(row.mood, "happy")
  assert.strictEqual(row.moods, "{happy,sad}")

  // Parameters go as pg sends them: an object as JSON text, a Date as pg writes it, and an
  // array as an array literal, which jsonb refuses on both.
  const when = new Date("2026-01-02T03:04:05.678Z")
  const [sent] = yield* sql<{ doc: string; when: string; list: string }>`SELECT
    ${{ a: [1, "x"] } as unknown as string}::text AS doc, ${when}::text AS when, ${[1, "two", null] as unknown as string}::text AS list`
  assert.deepStrictEqual(sent, {
    doc: JSON.stringify({ a: [1, "x"] }),
    when: (nodePg as unknown as { utils: { prepareValue: (value: unknown) => string } }).utils.prepareValue(when),
    list: `{"1","two",NULL}`
  })
  const arrayAsJson = yield* Effect.flip(sql`SELECT ${[1, 2] as unknown as string}::jsonb AS doc`)
  assert.strictEqual(arrayAsJson._tag, "SqlError")

  const values = yield* sql`SELECT id, name FROM items WHERE tenant_id = ${tenant} ORDER BY id`.values
  assert.deepStrictEqual(values, [[1, "uno"], [2, "two"], [3, "three"]])

  return {
    inserted,
    count,
    sent,
    rows: rows.map((r) => ({ ...r, tenant_id: "t", raw: r.raw ? [...(r.raw as Buffer)] : null })),
    updated,
    types,
    values
  }
})

// Rows of `events` under a tenant of their own: `insert(n)` one, `numbers` those committed, in order.
const numberedEvents = Effect.map(SqlClient.SqlClient, (sql) => {
  const tenant = randomUUID()
  return {
    tenant,
    insert: (n: number) => sql`INSERT INTO events ${sql.insert({ tenant_id: tenant, n })}`,
    numbers: Effect.map(
      sql<{ n: number }>`SELECT n FROM events WHERE tenant_id = ${tenant} ORDER BY n`,
      (rows) => rows.map((r) => r.n)
    )
  }
})

const transactions = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const { insert, numbers, tenant } = yield* numberedEvents

  // An inner transaction that fails rolls back to its savepoint; the outer one commits.
  yield* sql.withTransaction(
    Effect.gen(function*() {
      yield* insert(1)
      yield* sql.withTransaction(Effect.zipRight(insert(2), Effect.fail("inner" as const))).pipe(
        Effect.catchAll(() => Effect.void)
      )
      yield* sql.withTransaction(insert(3))
    })
  )
  assert.deepStrictEqual(yield* numbers, [1, 3])

  // A failing transaction leaves nothing behind.
  const failed = yield* sql.withTransaction(Effect.zipRight(insert(4), Effect.fail("outer" as const))).pipe(Effect.flip)
  assert.strictEqual(failed, "outer")
  assert.deepStrictEqual(yield* numbers, [1, 3])

  // A statement from another fiber never sees, nor joins, an open transaction.
  const inserted = yield* Deferred.make<void>()
  const proceed = yield* Deferred.make<void>()
  const writer = yield* sql.withTransaction(
    Effect.gen(function*() {
      yield* insert(5)
      yield* Deferred.succeed(inserted, undefined)
      yield* Deferred.await(proceed)
      return yield* Effect.fail("abort" as const)
    })
  ).pipe(Effect.fork)
  yield* Deferred.await(inserted)
  const reader = yield* Effect.fork(numbers)
  const independentWrite = yield* Effect.fork(insert(6))
  yield* Effect.yieldNow()
  yield* Deferred.succeed(proceed, undefined)
  assert.strictEqual(yield* Effect.flip(Fiber.join(writer)), "abort")
  // The reader never sees the open transaction's row; the independent write may or may not
  // have committed before it read (on PostgreSQL it can; on PGlite it waits for the session).
  const seenByReader = yield* Fiber.join(reader)
  assert.notInclude(seenByReader, 5)
  assert.includeMembers(seenByReader, [1, 3])
  yield* Fiber.join(independentWrite)
  assert.deepStrictEqual(yield* numbers, [1, 3, 6])

  // An interrupted transaction rolls back and frees the session for the fibre waiting on it;
  // so does one that dies.
  const opened = yield* Deferred.make<void>()
  const interrupted = yield* sql.withTransaction(
    Effect.zipRight(insert(7), Effect.zipRight(Deferred.succeed(opened, undefined), Effect.never))
  ).pipe(Effect.fork)
  yield* Deferred.await(opened)
  const waiting = yield* Effect.fork(insert(8))
  yield* Fiber.interrupt(interrupted)
  yield* Fiber.join(waiting)
  const died = yield* sql.withTransaction(Effect.zipRight(insert(9), Effect.die("boom"))).pipe(Effect.exit)
  assert.isTrue(died._tag === "Failure")
  assert.deepStrictEqual(yield* numbers, [1, 3, 6, 8])

  // Many concurrent transactions each see exactly their own writes.
  const seen = yield* Effect.forEach(
    Array.from({ length: 40 }, (_, i) => 100 + i),
    (n) =>
      sql.withTransaction(
        Effect.zipRight(insert(n), sql<{ c: number }>`SELECT count(*)::int AS c FROM events WHERE tenant_id = ${tenant} AND n = ${n}`)
      ),
    { concurrency: "unbounded" }
  )
  assert.isTrue(seen.every((rows) => rows[0]!.c === 1))
  assert.strictEqual((yield* numbers).length, 44)

  // Streams deliver every row in order.
  const streamed = yield* sql<{ n: number }>`SELECT generate_series(1, 1000) AS n`.stream.pipe(Stream.runCollect)
  assert.strictEqual(Chunk.size(streamed), 1000)
  assert.strictEqual(Chunk.unsafeGet(streamed, 999).n, 1000)
  return yield* numbers
})

// What an interruption, a failure or a fork leaves behind: each time, the transaction rolls back
// (or back to its savepoint) and the next statement finds no transaction open.
const interruptions = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const { insert, numbers } = yield* numberedEvents
  const noTransactionOpen = Effect.map(
    sql<{ xid: string | null }>`SELECT pg_current_xact_id_if_assigned()::text AS xid`,
    ([row]) => assert.isNull(row!.xid)
  )

  // A statement that fails inside nested savepoints rolls back to the innermost; each level
  // above goes on and commits.
  yield* sql.withTransaction(
    Effect.gen(function*() {
      yield* insert(1)
      yield* sql.withTransaction(
        Effect.gen(function*() {
          yield* insert(2)
          const failed = yield* Effect.flip(sql.withTransaction(Effect.zipRight(insert(3), sql`SELECT 1 / 0`)))
          assert.strictEqual(failed._tag, "SqlError")
          assert.strictEqual((failed as { cause?: { code?: string } }).cause?.code, "22012")
          yield* insert(4)
        })
      )
      // A failed statement outside any savepoint of its own takes its level with it.
      const failed = yield* Effect.flip(sql.withTransaction(Effect.zipRight(insert(5), insert(5))))
      assert.strictEqual(failed._tag, "SqlError")
      yield* insert(6)
    })
  )
  assert.deepStrictEqual(yield* numbers, [1, 2, 4, 6])
  yield* noTransactionOpen

  // A transaction interrupted while its statement runs rolls back.
  const inserted = yield* Deferred.make<void>()
  const busy = yield* sql.withTransaction(
    Effect.gen(function*() {
      yield* insert(7)
      yield* Deferred.succeed(inserted, undefined)
      return yield* sql`SELECT count(*) FROM generate_series(1, 3000000)`
    })
  ).pipe(Effect.fork)
  yield* Deferred.await(inserted)
  yield* Fiber.interrupt(busy)
  yield* noTransactionOpen
  assert.deepStrictEqual(yield* numbers, [1, 2, 4, 6])

  // A transaction in a fibre forked inside a transaction joins it (as a savepoint), and is
  // undone with it.
  const forked = yield* sql.withTransaction(
    Effect.gen(function*() {
      yield* insert(8)
      const child = yield* Effect.fork(sql.withTransaction(Effect.zipRight(insert(9), numbers)))
      const seen = yield* Fiber.join(child)
      return yield* Effect.fail({ seen })
    })
  ).pipe(Effect.flip)
  assert.deepStrictEqual(forked, { seen: [1, 2, 4, 6, 8, 9] })
  assert.deepStrictEqual(yield* numbers, [1, 2, 4, 6])
  yield* noTransactionOpen

  // A stream that fails, or whose reader stops early, frees what it held.
  const failing = sql<{ q: number }>`SELECT 1 / (500 - n) AS q FROM generate_series(1, 1000) AS n`.stream
  const streamError = yield* Effect.flip(Stream.runDrain(failing))
  assert.strictEqual(streamError._tag, "SqlError")
  const firstFive = yield* sql<{ n: number }>`SELECT generate_series(1, 1000) AS n`.stream.pipe(Stream.take(5), Stream.runCollect)
  assert.deepStrictEqual(Chunk.toArray(firstFive).map((r) => r.n), [1, 2, 3, 4, 5])
  const inTransaction = yield* sql.withTransaction(Effect.zipRight(insert(10), Stream.runDrain(failing))).pipe(Effect.flip)
  assert.strictEqual(inTransaction._tag, "SqlError")
  yield* noTransactionOpen
  assert.deepStrictEqual(yield* numbers, [1, 2, 4, 6])
  yield* sql.withTransaction(insert(11))
  return yield* numbers
})

const contract = <E>(name: string, client: Layer.Layer<SqlClient.SqlClient | PgClient.PgClient, E>) =>
  layer(Layer.effectDiscard(migrate).pipe(Layer.provideMerge(client)), { timeout: 120_000 })(name, (it) => {
    it.effect("runs migrations once, recorded in the package's own table", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const again = yield* migrate
        assert.deepStrictEqual(again, [])
        const recorded = yield* sql<{ name: string }>`SELECT name FROM lawful_sqltest_migrations ORDER BY migration_id`
        assert.deepStrictEqual(recorded.map((r) => r.name), ["items", "events", "mood"])
      }))

    it.effect("a parser the program registers with pg applies", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const money = 790
        const original = nodePg.types.getTypeParser(money, "text")
        nodePg.types.setTypeParser(money, "text", (value: string) => `parsed ${value}`)
        yield* Effect.addFinalizer(() => Effect.sync(() => nodePg.types.setTypeParser(money, "text", original)))
        const [row] = yield* sql<{ price: string }>`SELECT 1.5::money AS price`
        assert.strictEqual(row!.price, "parsed $1.50")
      }).pipe(Effect.scoped))

    // (The server's own message may still quote the value it could not read, on both.)
    it.effect("a failed statement's error carries none of its parameters", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const secret = "person.secret@example.com"
        const error = yield* Effect.flip(sql`INSERT INTO events (tenant_id, n) VALUES (${secret}, ${"not a number"})`)
        assert.strictEqual(error._tag, "SqlError")
        const seen = JSON.stringify(error) + String(error) + JSON.stringify(error.cause)
        assert.isFalse(seen.includes(secret))
        assert.strictEqual((error.cause as { code?: string }).code, "22P02")
      }))

    it.effect("several statements in one string run through .raw as on pg", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const table = `raw_${randomUUID().replaceAll("-", "")}`
        const results = (yield* sql.unsafe(
          `CREATE TABLE ${table} (n int4); INSERT INTO ${table} VALUES (1), (2); SELECT n FROM ${table} ORDER BY n`
        ).raw) as unknown as ReadonlyArray<{ command: string; rowCount: number | null; rows: ReadonlyArray<unknown> }>
        assert.deepStrictEqual(
          results.map((r) => [r.command, r.command === "CREATE" ? null : r.rowCount, r.rows]),
          [["CREATE", null, []], ["INSERT", 2, []], ["SELECT", 2, [{ n: 1 }, { n: 2 }]]]
        )
        const single = (yield* sql.unsafe(`SELECT count(*) AS c FROM ${table}`).raw) as unknown as { rows: unknown }
        assert.deepStrictEqual(single.rows, [{ c: "2" }])
      }))

    it.effect("several statements in one string run through .values as on pg", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const table = `values_${randomUUID().replaceAll("-", "")}`
        const values = yield* sql.unsafe(
          `CREATE TABLE ${table} (n int4); INSERT INTO ${table} VALUES (1), (2); SELECT n FROM ${table} ORDER BY n`
        ).values
        // Every statement runs; @effect/sql-pg reads the rows of one result from pg's list of
        // results, and gives undefined (use .raw for each statement's rows).
        assert.isUndefined(values)
        assert.deepStrictEqual(yield* sql.unsafe(`SELECT n FROM ${table} ORDER BY n`).values, [[1], [2]])
        assert.deepStrictEqual(yield* sql.unsafe(`SELECT n FROM ${table} ORDER BY n;;`).values, [[1], [2]])
        // With parameters a string holds one statement, on both: nothing runs.
        const withParameters = yield* Effect.flip(sql.unsafe(`INSERT INTO ${table} VALUES ($1); SELECT 1`, [3]).values)
        assert.strictEqual((withParameters.cause as { code?: string }).code, "42601")
        assert.deepStrictEqual(yield* sql.unsafe(`SELECT count(*)::int AS c FROM ${table}`).values, [[2]])
      }))

    it.effect("a notification with an empty payload is not delivered, as on pg", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const pg = yield* PgClient.PgClient
        const channel = `empty_${randomUUID()}`
        const first = yield* pg.listen(channel).pipe(Stream.runHead, Effect.fork)
        // Until the stream listens (on PostgreSQL, on a connection of its own), rounds of an
        // empty payload, no payload, then one: each round is delivered whole or not at all.
        const round = sql.withTransaction(
          Effect.all([
            sql`SELECT pg_notify(${channel}, '')`,
            sql.unsafe(`NOTIFY ${nodePg.escapeIdentifier(channel)}`),
            sql`SELECT pg_notify(${channel}, 'after')`
          ])
        )
        const notifier = yield* Effect.fork(Effect.forever(Effect.zipRight(round, Effect.yieldNow())))
        const received = yield* Fiber.join(first)
        yield* Fiber.interrupt(notifier)
        assert.deepStrictEqual(received, Option.some("after"))
      }))

    it.effect("statements, types and JSON behave as on pg", () =>
      scenario.pipe(Effect.tap((observed) => results.set(`${name}:scenario`, observed))))

    it.effect("transactions, savepoints, isolation and streams", () =>
      transactions.pipe(Effect.tap((observed) => results.set(`${name}:transactions`, observed))))

    it.effect("interruptions, failures and forks inside transactions and streams leave the session clean", () =>
      interruptions.pipe(Effect.tap((observed) => results.set(`${name}:interruptions`, observed))))
  })

const results = new Map<string, unknown>()

contract("PGlite in memory", PgliteClient.layer())

const databaseUrl = process.env.TEST_DATABASE_URL
if (databaseUrl) {
  const schema = `lawful_sqltest_${randomUUID().replaceAll("-", "")}`
  const admin = PgClient.layer({ url: Redacted.make(databaseUrl) })
  const schemaLayer = Layer.scopedDiscard(
    Effect.acquireRelease(
      Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`CREATE SCHEMA ${schema}`)),
      () => Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`DROP SCHEMA ${schema} CASCADE`)).pipe(Effect.orDie)
    )
  ).pipe(Layer.provide(admin))
  const url = new URL(databaseUrl)
  url.searchParams.set("options", `-c search_path=${schema}`)
  contract("PostgreSQL", PgClient.layer({ url: Redacted.make(url.toString()) }).pipe(Layer.provide(schemaLayer)))

  describe("PGlite and PostgreSQL", () => {
    it("return the same values for the same statements", () => {
      for (const key of ["scenario", "transactions", "interruptions"]) {
        assert.deepStrictEqual(results.get(`PGlite in memory:${key}`), results.get(`PostgreSQL:${key}`))
      }
    })
  })
}

// The lock a layer holds on its directory while open.
const lockFile = "lawful-pglite.lock"

describe("PGlite on disk", () => {
  it.effect("persists across reopening the same directory", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "lawful-pglite-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      const write = Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql`CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')`)
      const read = Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ v: string }>`SELECT v FROM kept`)
      yield* write.pipe(Effect.provide(PgliteClient.layer({ dataDir: dir })))
      const rows = yield* read.pipe(Effect.provide(PgliteClient.layer({ dataDir: dir })))
      assert.deepStrictEqual(rows, [{ v: "still here" }])
      // A type of the program's own that exists when PGlite starts (which then parses arrays of
      // it) still reads as text, as in pg.
      yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql`CREATE TYPE mood AS ENUM ('happy', 'sad')`).pipe(
        Effect.provide(PgliteClient.layer({ dataDir: dir }))
      )
      const moods = yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ moods: unknown }>`SELECT ARRAY['happy', 'sad']::mood[] AS moods`).pipe(
        Effect.provide(PgliteClient.layer({ dataDir: dir }))
      )
      assert.deepStrictEqual(moods, [{ moods: "{happy,sad}" }])
    }).pipe(Effect.scoped))

  it.effect("a directory is used by one layer at a time, and created with its parents", () =>
    Effect.gen(function*() {
      const root = mkdtempSync(join(tmpdir(), "lawful-pglite-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(root, { recursive: true, force: true })))
      const dir = join(root, "not", "yet")
      const count = Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ n: number }>`SELECT count(*)::int AS n FROM kept`)
      yield* Effect.gen(function*() {
        const first = yield* Layer.build(PgliteClient.layer({ dataDir: dir })).pipe(Effect.map(Context.get(SqlClient.SqlClient)))
        yield* first`CREATE TABLE kept (v int4); INSERT INTO kept VALUES (1)`
        const second = yield* Effect.flip(count.pipe(Effect.provide(PgliteClient.layer({ dataDir: dir }))))
        assert.strictEqual(second._tag, "SqlError")
        assert.include(second.message, dir)
        // The refused layer took nothing from the open one, which goes on.
        yield* first`INSERT INTO kept VALUES (2)`
      }).pipe(Effect.scoped)
      // Once the first layer is closed, the directory opens again with all it wrote.
      assert.deepStrictEqual(yield* count.pipe(Effect.provide(PgliteClient.layer({ dataDir: dir }))), [{ n: 2 }])
    }).pipe(Effect.scoped))

  it.effect("a lock left by a process that is gone does not keep the directory closed", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "lawful-pglite-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      const gone = spawnSync(process.execPath, ["-e", ""]).pid
      writeFileSync(join(dir, lockFile), String(gone))
      const rows = yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ n: number }>`SELECT 1 AS n`).pipe(
        Effect.provide(PgliteClient.layer({ dataDir: dir }))
      )
      assert.deepStrictEqual(rows, [{ n: 1 }])
      assert.isFalse(existsSync(join(dir, lockFile)))
    }).pipe(Effect.scoped))

  it.effect("a dump of a directory, lock and all, loads into another directory", () =>
    Effect.gen(function*() {
      const root = mkdtempSync(join(tmpdir(), "lawful-pglite-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(root, { recursive: true, force: true })))
      const source = join(root, "source")
      const read = Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ v: string }>`SELECT v FROM kept`)
      // A dump made while this package's lock is held (a directory and a file), and one made by
      // an earlier version, whose lock was a file alone.
      const current = yield* Effect.gen(function*() {
        const client = yield* Layer.build(PgliteClient.layer({ dataDir: source })).pipe(Effect.map(Context.get(PgliteClient.PgliteClient)))
        yield* client`CREATE TABLE kept (v text); INSERT INTO kept VALUES ('dumped')`
        return yield* Effect.promise(() => client.pglite.dumpDataDir("none"))
      }).pipe(Effect.scoped)
      const earlier = yield* Effect.acquireUseRelease(
        Effect.promise(() => PGlite.create({ dataDir: source })),
        (db) =>
          Effect.promise(() => {
            writeFileSync(join(source, lockFile), String(process.pid))
            return db.dumpDataDir("none")
          }),
        (db) => Effect.promise(() => db.close())
      )
      for (const [name, dump] of [["current", current], ["earlier", earlier]] as const) {
        const target = join(root, name)
        const rows = yield* read.pipe(Effect.provide(PgliteClient.layer({ dataDir: target, loadDataDir: dump })))
        assert.deepStrictEqual(rows, [{ v: "dumped" }], name)
        // Closed, it leaves no lock behind, and opens again.
        assert.isFalse(existsSync(join(target, lockFile)), name)
        assert.deepStrictEqual(yield* read.pipe(Effect.provide(PgliteClient.layer({ dataDir: target }))), [{ v: "dumped" }])
      }
    }).pipe(Effect.scoped))

  it.effect("a lock naming this process's id, left by an earlier process with that id, is taken over", () =>
    Effect.gen(function*() {
      // A container's server killed and restarted runs as the same process id.
      const dir = mkdtempSync(join(tmpdir(), "lawful-pglite-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      writeFileSync(join(dir, lockFile), String(process.pid))
      const rows = yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ n: number }>`SELECT 1 AS n`).pipe(
        Effect.provide(PgliteClient.layer({ dataDir: dir }))
      )
      assert.deepStrictEqual(rows, [{ n: 1 }])
      // While this process holds it, a second client here is still refused.
      const second = yield* Effect.scoped(Effect.gen(function*() {
        yield* Layer.build(PgliteClient.layer({ dataDir: dir }))
        return yield* Effect.either(Layer.build(PgliteClient.layer({ dataDir: dir })))
      }))
      assert.isTrue(second._tag === "Left")
    }).pipe(Effect.scoped))
})

// PGlite's one session, shared by everything: what waits for it, and what must not run inside
// another fibre's transaction.
layer(PgliteClient.layer(), { timeout: 60_000 })("PGlite session", (it) => {
  it.effect("a transaction waiting for the session can be interrupted", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const { finish, holder } = yield* holdTransaction
      const started = yield* Deferred.make<void>()
      const waiting = yield* Effect.zipRight(Deferred.succeed(started, undefined), sql.withTransaction(sql`SELECT 1`)).pipe(
        Effect.fork
      )
      yield* Deferred.await(started)
      yield* Effect.yieldNow()
      // Returns while the other transaction still holds the session.
      yield* Fiber.interrupt(waiting)
      assert.isTrue(Option.isNone(yield* Fiber.poll(holder)))
      yield* finish
      assert.strictEqual(yield* Effect.flip(Fiber.join(holder)), "rolled back")
      // The interrupted fibre left the session free behind it.
      assert.deepStrictEqual(yield* sql.withTransaction(sql`SELECT 2 AS n`), [{ n: 2 }])
    }))

  it.effect("a fibre running statements back to back leaves the session to the others in turn", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const busy = yield* Effect.forever(sql`SELECT 1`).pipe(Effect.fork)
      const busyTransactions = yield* Effect.forever(sql.withTransaction(sql`SELECT 1`)).pipe(Effect.fork)
      yield* Effect.yieldNow()
      assert.deepStrictEqual(yield* sql`SELECT 2 AS n`, [{ n: 2 }])
      assert.deepStrictEqual(yield* sql.withTransaction(sql`SELECT 3 AS n`), [{ n: 3 }])
      yield* Fiber.interrupt(busy)
      yield* Fiber.interrupt(busyTransactions)
    }))

  it.effect("notify inside a transaction is delivered at its commit", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const pg = yield* PgClient.PgClient
      const channel = `in_tx_${randomUUID().slice(0, 8)}`
      const received = yield* pg.listen(channel).pipe(Stream.take(1), Stream.runCollect, Effect.fork)
      yield* awaitListening(channel)
      yield* sql.withTransaction(pg.notify(channel, "committed"))
      assert.deepStrictEqual(Chunk.toArray(yield* Fiber.join(received)), ["committed"])
    }))

  it.effect("listen takes channel names as pg does: exact, quoted", () =>
    Effect.gen(function*() {
      const pg = yield* PgClient.PgClient
      for (const channel of [`Mixed_${randomUUID().slice(0, 8)}`, `with-dash ${randomUUID().slice(0, 8)}`, `q"uote`]) {
        const received = yield* pg.listen(channel).pipe(Stream.take(1), Stream.runCollect, Effect.fork)
        yield* awaitListening(channel)
        yield* pg.notify(channel, channel)
        assert.deepStrictEqual(Chunk.toArray(yield* Fiber.join(received)), [channel])
        // The stream's end stops listening.
        assert.isFalse((yield* listeningChannels).includes(channel))
      }
    }))

  it.effect("listen does not run inside another fibre's transaction", () =>
    Effect.gen(function*() {
      const pg = yield* PgClient.PgClient
      const { finish, holder } = yield* holdTransaction
      const channel = `rolled_${randomUUID().slice(0, 8)}`
      const received = yield* pg.listen(channel).pipe(Stream.take(1), Stream.runCollect, Effect.fork)
      // Turns enough for the stream to start and send its LISTEN, were it not waiting.
      yield* Effect.repeatN(Effect.yieldNow(), 100)
      yield* finish
      assert.strictEqual(yield* Effect.flip(Fiber.join(holder)), "rolled back")
      // Were LISTEN part of the transaction, its rollback would have undone it: this never returns.
      yield* awaitListening(channel)
      yield* pg.notify(channel, "heard")
      assert.deepStrictEqual(Chunk.toArray(yield* Fiber.join(received)), ["heard"])
    }))
})
