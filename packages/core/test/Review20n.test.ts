/**
 * Review 20n: `SubjectId`, `TenantId` and `Email` refused a value that is not text with Schema's
 * own message, quoting it (`Expected string, actual {"name":"Ann Smith"}`); and the packages each
 * wrote their own way of refusing without quoting, where `Issues.refusedAsExpected` is one.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { Email } from "../src/Email.js"
import * as Issues from "../src/Issues.js"
import { SubjectId } from "../src/SubjectId.js"
import { TenantId } from "../src/TenantId.js"

const personal = "Ann Smith"
const given: ReadonlyArray<unknown> = [{ name: personal }, [personal], 42]

// The ParseError decoding `value` with `schema` gives (a failed assertion when it decodes). Its
// issue holds the value, as every ParseError's does; its message is what a caller logs.
const refusal = (schema: Schema.Schema.Any, value: unknown): ParseResult.ParseError => {
  const decoded = Schema.decodeUnknownEither(schema as Schema.Schema<unknown, unknown>)(value)
  return Either.isLeft(decoded) ? decoded.left : assert.fail("decoded")
}

describe("Review20n", () => {
  it("a subject id, a tenant id or an address that is not text is refused without quoting it", () => {
    const cases: ReadonlyArray<readonly [string, Schema.Schema.Any, string]> = [
      ["SubjectId", SubjectId, "a subject id is a lower-case UUID"],
      ["TenantId", TenantId, "a tenant id is a lower-case UUID"],
      ["Email", Email, "expected text"]
    ]
    for (const [name, schema, message] of cases) {
      for (const value of given) {
        const error = refusal(schema, value)
        assert.strictEqual(error.message, message, name)
        assert.deepStrictEqual(Issues.lines(error), [message], name)
      }
    }
    // A string that is not an id is refused as before, without quoting it.
    assert.strictEqual(refusal(SubjectId, personal).message, "a subject id is a lower-case UUID")
    assert.strictEqual(refusal(TenantId, personal).message, "a tenant id is a lower-case UUID")
    // Within a struct, the field is named.
    const refused = refusal(Schema.Struct({ subject: SubjectId }), { subject: { name: personal } })
    assert.deepStrictEqual(Issues.lines(refused), ["subject: a subject id is a lower-case UUID"])
  })

  it("refusedAsExpected refuses whatever is given with the form expected, or the message given, never the value", () => {
    const Kind = Issues.refusedAsExpected(Schema.Literal("staff", "system"))
    const kind = refusal(Kind, personal)
    assert.strictEqual(kind.message, "expected one of \"staff\" or \"system\"")
    const Name = Issues.refusedAsExpected(
      Schema.String.pipe(Schema.maxLength(3)),
      "a name of 1 to 3 characters"
    )
    for (const value of [personal, { name: personal }, 42]) {
      const error = refusal(Name, value)
      assert.strictEqual(error.message, "a name of 1 to 3 characters")
    }
    assert.strictEqual(Schema.decodeUnknownSync(Kind)("staff"), "staff")
    assert.strictEqual(Schema.decodeUnknownSync(Name)("Ann"), "Ann")
  })
})
