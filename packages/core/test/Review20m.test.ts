/**
 * Review 20m: a Schema class with a `Text` field, made with `new` or decoded with Schema's own
 * functions, threw a ParseError quoting the text when it was too long, empty or untrimmed (the
 * default messages of `maxLength`, `minLength` and `Trimmed`: `Expected ..., actual "Ann Smith ..."`).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as Issues from "../src/Issues.js"
import * as Text from "../src/Text.js"
import { assertQuotesNothing } from "../src/testing.js"

class Note extends Schema.Class<Note>("Review20m/Note")({
  title: Text.nonEmpty(20),
  body: Text.trimmed(20)
}) {}

const personal = "Ann Smith, 12 Baker St"
const long = `${personal}, `.repeat(3)

// The error `f` throws (a failed assertion when it throws none).
const thrown = (f: () => unknown): unknown => {
  try {
    f()
  } catch (error) {
    return error
  }
  return assert.fail("nothing was thrown")
}

const assertQuotesNone = (error: unknown, values: ReadonlyArray<string>) => {
  assertQuotesNothing(error, values)
  assert.notInclude(String((error as Error).message), "actual", String((error as Error).message))
}

describe("Review20m", () => {
  it("new refuses text too long, empty or untrimmed without quoting it", () => {
    const cases: ReadonlyArray<readonly [string, { title: string; body: string }]> = [
      ["title too long", { title: long, body: "ok" }],
      ["body too long", { title: "ok", body: long }],
      ["title empty", { title: "", body: "ok" }],
      ["body empty", { title: "ok", body: "" }],
      ["body untrimmed", { title: "ok", body: ` ${personal} ` }],
      ["title not text", { title: { name: personal } as unknown as string, body: "ok" }]
    ]
    for (const [label, fields] of cases) {
      const error = thrown(() => new Note(fields))
      assert.instanceOf(error, Error, label)
      assertQuotesNone(error, [personal])
    }
  })

  it("Schema's own decoding of a Text field refuses without quoting, and says what is expected", () => {
    for (const schema of [Text.nonEmpty(20), Text.trimmed(20)]) {
      const refused = Schema.decodeUnknownEither(schema)(long)
      assert.isTrue(Either.isLeft(refused))
      if (Either.isLeft(refused)) {
        assertQuotesNone(refused.left, [personal])
        assert.include(refused.left.message, "text of 1 to 20 characters")
      }
    }
  })

  it("Issues describes a Text field too long or empty by what is expected", () => {
    for (const title of [long, ""]) {
      const refused = Schema.decodeUnknownEither(Note)({ title, body: "ok" })
      assert.isTrue(Either.isLeft(refused))
      if (Either.isLeft(refused)) assert.deepStrictEqual(Issues.lines(refused.left), ["title: expected text of 1 to 20 characters"])
    }
    const untrimmed = Schema.validateEither(Schema.Struct(Note.fields))({ title: "ok", body: " ok " })
    assert.isTrue(Either.isLeft(untrimmed))
    if (Either.isLeft(untrimmed)) assert.deepStrictEqual(Issues.lines(untrimmed.left), ["body: expected text without leading or trailing whitespace"])
  })
})
