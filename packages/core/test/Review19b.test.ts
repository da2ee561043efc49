/**
 * Review 19b: a storage error carried the database's diagnostics whole (the failing row, a value
 * quoted), and the key store sent ids that are not ids to the database; each with the test that
 * failed before its fix.
 */
import { assert, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { inspect } from "node:util"
import * as Database from "../src/Database.js"
import * as KeyStore from "../src/KeyStore.js"
import * as Migrations from "../src/Migrations.js"
import { sqlTable } from "../src/RetentionTarget.js"
import * as SubjectId from "../src/SubjectId.js"
import * as TenantId from "../src/TenantId.js"
import { asLogged, assertQuotesNothing, contractSuite, refuseRowsHolding, spansOf, sqlStatesOf, sqlSuite } from "../src/testing.js"
import { address, describeExit, exitOf, leaks, notArrays, notIds, tagOf } from "./RefusalFixture.js"

const exposes = (exit: Exit.Exit<unknown, unknown>) =>
  leaks(exit) || (Exit.isFailure(exit) && asLogged(Cause.squash(exit.cause)).includes(address))
const causeOf = (error: unknown) => (error as { readonly cause?: unknown }).cause as Record<string, unknown>

// A driver's error as node-postgres (pg-protocol's DatabaseError) and PGlite build it, every field set.
const driverError = (code: string, message: string) =>
  Object.assign(new Error(message), {
    name: "error",
    length: 180,
    severity: "ERROR",
    code,
    detail: `Failing row contains (1, ${address}, null).`,
    hint: `Perhaps you meant ${address}.`,
    position: "42",
    internalPosition: "7",
    internalQuery: `SELECT '${address}'`,
    where: `unnamed portal parameter $2 = '${address}'`,
    schema: "public",
    table: "msgs",
    column: "preview",
    dataType: "text",
    constraint: "msgs_preview_check",
    file: "execMain.c",
    line: "2006",
    routine: "ExecConstraints",
    query: `INSERT INTO msgs VALUES ('${address}')`,
    params: [address]
  })

it("Database.safeSqlError keeps of a driver's error only what diagnoses without data", () => {
  const notNull = driverError("23502", `null value in column "preview" of relation "msgs" violates not-null constraint`)
  const original = new SqlError({ cause: notNull, message: "Failed to execute statement" })
  const safe = Database.safeSqlError(original)

  assert.instanceOf(safe, SqlError)
  assert.strictEqual(safe._tag, "SqlError")
  assert.strictEqual(safe.message, "Failed to execute statement")
  const cause = causeOf(safe)
  assert.instanceOf(cause, Error)
  assert.deepStrictEqual(
    Object.fromEntries(["code", "severity", "schema", "table", "column", "constraint", "dataType", "routine"].map((key) => [key, cause[key]])),
    {
      code: "23502",
      severity: "ERROR",
      schema: "public",
      table: "msgs",
      column: "preview",
      constraint: "msgs_preview_check",
      dataType: "text",
      routine: "ExecConstraints"
    }
  )
  assert.strictEqual(cause.message, notNull.message)
  for (const dropped of ["detail", "hint", "position", "internalPosition", "internalQuery", "where", "file", "line", "query", "params", "length"]) {
    assert.isFalse(dropped in cause, dropped)
  }
  assert.notInclude(asLogged(safe), address)
  assert.include(asLogged(safe), "23502")
  assert.include(JSON.stringify(safe), "violates not-null constraint")
  // The driver's error itself is left as it was.
  assert.strictEqual(notNull.detail, `Failing row contains (1, ${address}, null).`)
})

it("Database.safeSqlError replaces the message of a data exception (SQLSTATE class 22), which may quote a value, by one naming its code", () => {
  const invalid = driverError("22P02", `invalid input syntax for type uuid: "${address}"`)
  const safe = Database.safeSqlError(new SqlError({ cause: invalid, message: "Failed to execute statement" }))
  const cause = causeOf(safe)
  assert.strictEqual(cause.code, "22P02")
  assert.notInclude(String(cause.message), address)
  assert.include(String(cause.message), "22P02")
  assert.notInclude(String(cause.stack), address)
  assert.notInclude(asLogged(safe), address)
  assert.notInclude(asLogged(safe), "invalid input syntax")
})

it("Database.safeSqlError leaves out the message a trigger or function raised (SQLSTATE class P0): its text is the raiser's own", () => {
  for (const code of ["P0001", "P0002"]) {
    const raised = driverError(code, `cannot archive ${address}`)
    const safe = Database.safeSqlError(new SqlError({ cause: raised, message: "Failed to execute statement" }))
    const cause = causeOf(safe)
    assert.strictEqual(cause.code, code)
    assert.include(String(cause.message), code)
    assert.notInclude(asLogged(safe), address)
  }
  // Any code a PL/pgSQL RAISE gave, a unique violation's too: its routine says who wrote the text.
  const raisedUnique = Object.assign(driverError("23505", `duplicate ${address}`), { routine: "exec_stmt_raise" })
  const safe = Database.safeSqlError(new SqlError({ cause: raisedUnique, message: "Failed to execute statement" }))
  assert.strictEqual(causeOf(safe).code, "23505")
  assert.notInclude(asLogged(safe), address)
  // PostgreSQL's own unique violation keeps its message, which names the constraint only.
  const own = Object.assign(driverError("23505", "duplicate key value violates unique constraint \"k\""), { routine: "_bt_check_unique" })
  assert.include(asLogged(Database.safeSqlError(new SqlError({ cause: own, message: "m" }))), "violates unique constraint")
})

it("Database.safeSqlError passes anything but a SqlError unchanged, and a safe SqlError stays as safe", () => {
  const others: ReadonlyArray<unknown> = [new Error(address), address, undefined, null, { _tag: "ParseError", message: address }]
  for (const other of others) assert.strictEqual(Database.safeSqlError(other), other)
  const safe = Database.safeSqlError(new SqlError({ cause: driverError("23505", "duplicate key value violates unique constraint \"k\""), message: "m" }))
  assert.deepStrictEqual(JSON.parse(JSON.stringify(Database.safeSqlError(safe))), JSON.parse(JSON.stringify(safe)))
  // A SqlError without a driver's error, or with text as its cause, keeps nothing of it.
  assert.strictEqual(Database.safeSqlError(new SqlError({ message: "m" })).message, "m")
  assert.notInclude(asLogged(Database.safeSqlError(new SqlError({ cause: address, message: "m" }))), address)
})

sqlSuite("Review19b: a driver's errors", Layer.empty, (it) => {
  it.effect("Database.safeSqlError of the errors the driver gives keeps their code and drops the values they quote", () =>
    Effect.gen(function*() {
      const sql = (yield* SqlClient.SqlClient).withoutTransforms()
      const invalid = yield* Effect.flip(sql`SELECT ${address}::uuid`)
      assert.include(inspect(invalid, { depth: Infinity }), address)
      const safeInvalid = Database.safeSqlError(invalid)
      assert.strictEqual(causeOf(safeInvalid).code, "22P02")
      assert.notInclude(asLogged(safeInvalid), address)

      yield* sql`CREATE TABLE review19b_addresses (address text PRIMARY KEY)`
      yield* sql`INSERT INTO review19b_addresses VALUES (${address})`
      const duplicate = yield* Effect.flip(sql`INSERT INTO review19b_addresses VALUES (${address})`)
      assert.include(asLogged(duplicate), address)
      const safeDuplicate = Database.safeSqlError(duplicate)
      assert.strictEqual(causeOf(safeDuplicate).code, "23505")
      assert.strictEqual(causeOf(safeDuplicate).constraint, "review19b_addresses_pkey")
      assert.notInclude(asLogged(safeDuplicate), address)
    }))
})

// `sqlTable` with `redact` sets columns to NULL: on a column NOT NULL or under a CHECK, PostgreSQL
// refuses with the failing row (the person's address and text) in the error's `detail`, which
// JSON and `util.inspect` of the RetentionTargetError printed.
sqlSuite("Review19b: a redaction the table refuses", Layer.empty, (it) => {
  it.effect("the RetentionTargetError of a redaction refused by NOT NULL or CHECK shows its code, and no part of the row", () =>
    Effect.gen(function*() {
      const sql = (yield* SqlClient.SqlClient).withoutTransforms()
      const tenant = yield* TenantId.make
      const preview = "Dear Ann, your diagnosis"
      const cases = [
        { table: "review19b_not_null", column: "preview text NOT NULL", code: "23502" },
        { table: "review19b_check", column: "preview text CHECK (preview IS NOT NULL)", code: "23514" }
      ]
      for (const { code, column, table } of cases) {
        yield* sql.unsafe(
          `CREATE TABLE ${table} (tenant_id uuid NOT NULL, id serial, sent_at timestamptz NOT NULL, recipient text, ${column}, PRIMARY KEY (tenant_id, id))`
        )
        yield* sql`INSERT INTO ${sql(table)} (tenant_id, sent_at, recipient, preview) VALUES (${tenant}, '2000-01-01', ${address}, ${preview})`
        const storage = yield* sqlTable("mailer.preview", { table, time: "sent_at", redact: ["preview"] })
        const exit = yield* Effect.exit(storage.purgeBatch(tenant, { cutoff: new Date(), excludeSubjects: new Set(), limit: 10 }))
        assert.strictEqual(tagOf(exit), "RetentionTargetError", describeExit(exit))
        const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
        assertQuotesNothing(error, [address, preview])
        for (const part of [address, preview, "Failing row"]) {
          assert.notInclude(Cause.pretty(Exit.isFailure(exit) ? exit.cause : Cause.empty), part)
        }
        assert.strictEqual(causeOf(causeOf(error)).code, code)
        assert.include(JSON.stringify(error), code)
      }
    }))
})

// A migration over rows a person's data is in: its statement refused (a defect of the Migrator,
// `MigrationError`) or its COMMIT refused (`MigrationFailed`), with the row in `detail`.
sqlSuite("Review19b: a migration the data refuses", Layer.empty, (it) => {
  it.effect("a migration refused by a row, at its statement or at COMMIT, fails showing the code and no part of the row", () =>
    Effect.gen(function*() {
      const sql = (yield* SqlClient.SqlClient).withoutTransforms()
      yield* sql`CREATE TABLE review19b_people (address text)`
      yield* sql`INSERT INTO review19b_people VALUES (${address})`
      yield* sql`CREATE TABLE review19b_twice (address text)`
      yield* sql`INSERT INTO review19b_twice VALUES (${address}), (${address})`
      const cases = [
        {
          packageName: "review19b-statement",
          code: "23505",
          migration: sql`ALTER TABLE review19b_twice ADD CONSTRAINT review19b_once UNIQUE (address)`
        },
        {
          packageName: "review19b-commit",
          code: "23505",
          migration: sql.unsafe(`
            ALTER TABLE review19b_people ADD CONSTRAINT review19b_unique UNIQUE (address) DEFERRABLE INITIALLY DEFERRED;
            INSERT INTO review19b_people SELECT address FROM review19b_people`)
        }
      ]
      for (const { code, migration, packageName } of cases) {
        const exit = yield* Effect.exit(Migrations.run(packageName, { "0001_refused": migration }))
        assert.isTrue(Exit.isFailure(exit))
        const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
        assert.notInclude(asLogged(error), address, packageName)
        assert.include(asLogged(error), code, packageName)
      }
    }))
})

const stores = { memory: KeyStore.layerMemory, sql: KeyStore.layerSql }
const key = (wrappedBy: string): KeyStore.WrappedKey => ({ wrappedBy, ciphertext: new Uint8Array([1, 2, 3]) })

// The SQL store bound subjects as `::uuid[]` unchecked (the database's refusal quoting an address
// given), took an upper-case id as the lower-case one and wrote under it, where the memory store
// kept it apart; an address went through as any other key.
contractSuite("Review19b: the key store and ids that are not ids", stores, (it) => {
  it.effect("subjectKeys with an address fails with KeyStoreError, quoting nothing", () =>
    Effect.gen(function*() {
      const store = yield* KeyStore.KeyStore
      const tenant = yield* TenantId.make
      const exit = yield* exitOf(() => store.subjectKeys(tenant, [address as SubjectId.SubjectId]))
      assert.strictEqual(tagOf(exit), "KeyStoreError", describeExit(exit))
      assert.isFalse(exposes(exit), describeExit(exit))
    }))

  it.effect("every key-store operation refuses a tenant or subject id that is not one with KeyStoreError, writing nothing", () =>
    Effect.gen(function*() {
      const store = yield* KeyStore.KeyStore
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      const at = new Date("2030-01-01T00:00:00Z")
      for (const value of [...notIds(tenant), ...notIds(subject)]) {
        const bad = value as TenantId.TenantId & SubjectId.SubjectId
        const calls: ReadonlyArray<readonly [string, () => Effect.Effect<unknown, KeyStore.KeyStoreError | KeyStore.MasterKeyRetired>]> = [
          ["tenantKey", () => store.tenantKey(bad)],
          ["createTenantKey", () => store.createTenantKey(bad, key("k1"))],
          ["tenantKeysNotWrappedBy", () => store.tenantKeysNotWrappedBy("k1", 10, bad)],
          ["replaceTenantKey", () => store.replaceTenantKey(bad, key("k1"), key("k2"))],
          ["subjectKey", () => store.subjectKey(bad, subject)],
          ["subjectKey", () => store.subjectKey(tenant, bad)],
          ["subjectKeys", () => store.subjectKeys(bad, [subject])],
          ["subjectKeys", () => store.subjectKeys(tenant, [subject, bad])],
          ["createSubjectKey", () => store.createSubjectKey(bad, subject, key("k1"))],
          ["createSubjectKey", () => store.createSubjectKey(tenant, bad, key("k1"))],
          ["createSubjectKeys", () => store.createSubjectKeys(bad, [[subject, key("k1")]])],
          ["createSubjectKeys", () => store.createSubjectKeys(tenant, [[subject, key("k1")], [bad, key("k1")]])],
          ["shred", () => store.shred(bad, subject, at)],
          ["shred", () => store.shred(tenant, bad, at)],
          ["erasures", () => store.erasures(bad, { limit: 10 })],
          ["erasures", () => store.erasures(tenant, { after: { tenantId: tenant, subjectId: bad, shreddedAt: at } as KeyStore.Erasure, limit: 10 })]
        ]
        for (const [operation, call] of calls) {
          const exit = yield* exitOf(call)
          assert.strictEqual(tagOf(exit), "KeyStoreError", `${operation}(${inspect(value)}): ${describeExit(exit)}`)
          const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
          assert.strictEqual(Option.isSome(failure) && (failure.value as KeyStore.KeyStoreError).operation, operation)
          if (typeof value === "string" && value.length > 0) {
            assert.isFalse(asLogged(Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined).includes(value), operation)
          }
        }
      }
      // Nothing was written, under the ids as given or as PostgreSQL would read them.
      assert.isTrue(Option.isNone(yield* store.tenantKey(tenant)))
      assert.isTrue(Option.isNone(yield* store.subjectKey(tenant, subject)))
      assert.deepStrictEqual(yield* store.erasures(tenant, { limit: 10 }), [])
    }))

  it.effect("subjectKeys and createSubjectKeys refuse a list that is not an array with KeyStoreError, writing nothing", () =>
    Effect.gen(function*() {
      const store = yield* KeyStore.KeyStore
      const tenant = yield* TenantId.make
      for (const value of notArrays) {
        for (
          const call of [
            () => store.subjectKeys(tenant, value as ReadonlyArray<SubjectId.SubjectId>),
            () => store.createSubjectKeys(tenant, value as ReadonlyArray<readonly [SubjectId.SubjectId, KeyStore.WrappedKey]>)
          ]
        ) {
          const exit = yield* exitOf(call)
          assert.strictEqual(tagOf(exit), "KeyStoreError", describeExit(exit))
          assert.isFalse(exposes(exit), describeExit(exit))
        }
      }
    }))
})

// The helpers of `testing` the Review19b tests of every package share: what a logger writes of an
// error, the SQLSTATE codes of its causes, and a table refusing the rows holding a value.
it("assertQuotesNothing fails on a value or a failing row in the JSON or, at any depth, in the inspection of an error", () => {
  const nested = (depth: number, last: object): object => depth === 0 ? last : { cause: nested(depth - 1, last) }
  const jsonOnly = { detail: address, [inspect.custom]: () => "an error" }
  const inspectionOnly = { detail: address, toJSON: () => ({}) }
  const deepInInspection = { toJSON: () => ({}), cause: nested(12, { detail: address }) }
  for (const error of [jsonOnly, inspectionOnly, deepInInspection, driverError("23514", "refused")]) {
    assert.throws(() => assertQuotesNothing(error, [address]), address)
  }
  assert.include(asLogged(deepInInspection), address)
  assert.throws(() => assertQuotesNothing({ detail: "Failing row contains (1)." }, []), "Failing row")
  assert.doesNotThrow(() => assertQuotesNothing(Database.safeSqlError(new SqlError({ cause: driverError("23514", "refused"), message: "m" })), [address]))
  assert.doesNotThrow(() => assertQuotesNothing(undefined, [address]))
})

it("sqlStatesOf lists the SQLSTATE codes along an error's causes, the error's own first", () => {
  const storeError = { _tag: "StoreError", cause: new SqlError({ cause: driverError("23514", "refused"), message: "m" }) }
  assert.deepStrictEqual(sqlStatesOf(storeError), ["23514"])
  assert.deepStrictEqual(sqlStatesOf(Database.safeSqlError(storeError.cause)), ["23514"])
  assert.deepStrictEqual(sqlStatesOf({ code: "P0001", cause: { message: "m", cause: { code: "23505", cause: address } } }), ["P0001", "23505"])
  assert.deepStrictEqual(sqlStatesOf({ code: 42, cause: { code: undefined } }), [])
  assert.deepStrictEqual(sqlStatesOf(undefined), [])
})

sqlSuite("Review19b: refuseRowsHolding", Layer.empty, (it) => {
  it.effect("refuseRowsHolding refuses, for its scope, the new rows whose column holds the value (and meet `when`), and no other", () =>
    Effect.gen(function*() {
      const sql = (yield* SqlClient.SqlClient).withoutTransforms()
      const tenant = yield* TenantId.make
      const other = yield* TenantId.make
      const value = "O'Hara-7731"
      yield* sql`CREATE TABLE review19b_refused (tenant_id uuid NOT NULL, note text)`
      yield* sql`INSERT INTO review19b_refused VALUES (${tenant}, ${value})`
      const insert = (t: string, note: string | null) =>
        Effect.exit(sql`INSERT INTO review19b_refused VALUES (${t}, ${note})`).pipe(
          Effect.map((exit) => Exit.isSuccess(exit) ? "written" : sqlStatesOf(Cause.squash(exit.cause)).join())
        )
      const constraints = sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_constraint WHERE conrelid = 'review19b_refused'::regclass AND contype = 'c'`
      yield* Effect.scoped(Effect.gen(function*() {
        yield* refuseRowsHolding({ table: "review19b_refused", column: "note", value })
        assert.deepStrictEqual(
          [yield* insert(tenant, value), yield* insert(other, `to ${value}.`), yield* insert(tenant, "O'Hara"), yield* insert(tenant, null)],
          ["23514", "23514", "written", "written"]
        )
        yield* refuseRowsHolding({ table: "review19b_refused", column: "tenant_id", value: tenant, when: "note IS NULL" })
        assert.deepStrictEqual(
          [yield* insert(tenant, null), yield* insert(tenant, "kept"), yield* insert(other, null)],
          ["23514", "written", "written"]
        )
        assert.strictEqual((yield* constraints)[0]!.n, 2)
      }))
      assert.strictEqual((yield* constraints)[0]!.n, 0)
      assert.deepStrictEqual([yield* insert(tenant, value), yield* insert(tenant, null)], ["written", "written"])
    }))
})

it.effect("spansOf gives the spans an effect opens, nested ones too, whether it succeeds or fails", () =>
  Effect.gen(function*() {
    const failing = Effect.fail("refused").pipe(
      Effect.withSpan("inner", { attributes: { kind: "check" } }),
      Effect.withSpan("outer")
    )
    const spans = yield* spansOf(failing)
    assert.deepStrictEqual(spans.map((span) => span.name).sort(), ["inner", "outer"])
    assert.strictEqual(spans.find((span) => span.name === "inner")?.attributes.get("kind"), "check")
    assert.deepStrictEqual(yield* spansOf(Effect.void), [])
  }))
