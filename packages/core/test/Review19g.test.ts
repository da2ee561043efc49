/**
 * Review 19g: a store's error kept a row that failed to decode as Effect's `ParseError`, whose
 * message quotes the value read back ("Expected string, actual ..."); `Database.safeSqlError`
 * now keeps of it what `Issues.describe` tells, never the value; with the tests that failed
 * before its fix.
 */
import { assert, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Database from "../src/Database.js"
import * as KeyStore from "../src/KeyStore.js"
import { causeOf, sourceError } from "../src/PersonalDataRegistry.js"
import * as SubjectDirectory from "../src/SubjectDirectory.js"
import * as TenantId from "../src/TenantId.js"
import { asLogged, assertQuotesNothing, sqlSuite } from "../src/testing.js"
import { describeExit, tagOf } from "./RefusalFixture.js"
import { withVault } from "./SubjectDirectoryLayers.js"

const name = "Ann Private"

const refusal = (schema: Schema.Schema<any, any>, value: unknown): ParseResult.ParseError => {
  const decoded = Schema.decodeUnknownEither(schema)(value, { errors: "all" })
  if (Either.isRight(decoded)) throw new Error("the value decoded")
  return decoded.left
}

it("Database.safeSqlError keeps of a ParseError where and what form was expected, never the value", () => {
  const Row = Schema.Struct({ email: Schema.String, name: Schema.String })
  const original = refusal(Row, { email: 42, name })
  // The refusal as Effect words it quotes the value.
  assert.include(asLogged(original), "actual 42")

  const safe = Database.safeSqlError(original)
  assert.instanceOf(safe, Error)
  assert.isFalse(ParseResult.isParseError(safe), "no longer a ParseError holding the issue")
  assert.strictEqual(safe.name, "RowInvalid")
  assert.include(safe.message, "email: expected text")
  assertQuotesNothing(safe, [name, "actual 42"])
  assert.notInclude(asLogged(safe), "42")
  assert.include(asLogged(safe), "email: expected text", "JSON and inspection show where")

  // In a store's error, however it is printed.
  const storeError = new SubjectDirectory.SubjectDirectoryError({ operation: "entry", cause: safe })
  assertQuotesNothing(storeError, [name, "actual 42"])
  const pretty = Cause.pretty(Cause.fail(storeError))
  assert.notInclude(pretty, name)
  assert.notInclude(pretty, "actual 42")
})

it("Database.safeSqlError tells every issue of a ParseError at its path, nested and at the row itself", () => {
  const Row = Schema.Struct({ contact: Schema.Struct({ emails: Schema.Array(Schema.String) }), at: Schema.DateFromSelf })
  const nested = Database.safeSqlError(refusal(Row, { contact: { emails: ["a@example.com", 7] }, at: name }))
  assert.include(nested.message, "contact.emails[1]: expected text")
  assert.include(nested.message, "at: expected")
  assertQuotesNothing(nested, [name])
  const whole = Database.safeSqlError(refusal(Row, name))
  assert.include(whole.message, "expected an object")
  assertQuotesNothing(whole, [name])
})

it("a source's error keeps a ParseError for causeOf as Database.safeSqlError keeps it, its tag shown", () => {
  const failed = sourceError("contacts", "export")(refusal(Schema.Struct({ email: Schema.Number }), { email: name }))
  assert.strictEqual(failed.cause._tag, "ParseError")
  const original = causeOf(failed) as Error
  assert.strictEqual(original.name, "RowInvalid")
  assertQuotesNothing(original, [name])
})

sqlSuite("Review19g: a row that does not decode", withVault(SubjectDirectory.layerSql, KeyStore.layerSql), (it) => {
  it.effect("a store's error for a row its Schema refuses names the column, never the value read", () =>
    Effect.gen(function*() {
      const sql = (yield* SqlClient.SqlClient).withoutTransforms()
      const directory = yield* SubjectDirectory.SubjectDirectory
      const tenant = yield* TenantId.make
      const subject = yield* directory.resolve(tenant, "ann@example.com")
      // A column another tool changed: the row's `created_at` is text now, holding a name.
      yield* sql`ALTER TABLE lawful_subjects ALTER COLUMN created_at TYPE text USING created_at::text`
      yield* sql`UPDATE lawful_subjects SET created_at = ${name} WHERE tenant_id = ${tenant} AND subject_id = ${subject}`

      const exit = yield* Effect.exit(directory.entryOf(tenant, subject))
      assert.strictEqual(tagOf(exit), "SubjectDirectoryError", describeExit(exit))
      const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
      assertQuotesNothing(error, [name])
      assert.notInclude(describeExit(exit), name)
      const cause = (error as SubjectDirectory.SubjectDirectoryError).cause as Error
      assert.strictEqual(cause.name, "RowInvalid")
      assert.include(cause.message, "created_at: expected")
    }))
})
