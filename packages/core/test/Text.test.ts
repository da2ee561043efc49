import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as fc from "fast-check"
import * as Text from "../src/Text.js"

describe("Text", () => {
  it("refuses NUL and unpaired surrogates, and takes every other string, astral characters included", () => {
    for (const bad of ["\u0000", "a\u0000b", "\ud800", "x\udc00", "\udc00\ud800", "ok \ud83d"]) {
      assert.isFalse(Text.isStorable(bad), JSON.stringify(bad))
      assert.isTrue(Either.isLeft(Schema.decodeUnknownEither(Text.Storable)(bad)))
    }
    for (const good of ["", "plain", "\ud83d\ude00 emoji", "\u0001\u001f control", "tab\tand\nnewline", "\ufffd"]) {
      assert.isTrue(Text.isStorable(good), JSON.stringify(good))
    }
    fc.assert(fc.property(fc.string({ unit: "binary" }), (text) => {
      const expected = !text.includes("\u0000") && (text as unknown as { isWellFormed: () => boolean }).isWellFormed()
      return Text.isStorable(text) === expected
    }), { numRuns: 2000 })
  })

  it("refines a transforming schema on its decoded side, with the reason", () => {
    const Name = Text.storable(Schema.Trim.pipe(Schema.nonEmptyString(), Schema.maxLength(20)))
    assert.deepStrictEqual(Schema.decodeUnknownEither(Name)("  Ann  "), Either.right("Ann"))
    const refused = Schema.decodeUnknownEither(Name)(" A\u0000nn ")
    assert.isTrue(Either.isLeft(refused) && refused.left.message.includes(Text.message))
  })

  it("nonEmpty takes text as given, trimmed trims it; both bound its length and refuse what cannot be stored", () => {
    const decode = (schema: Schema.Schema<string, string>) => (input: string) =>
      Either.getOrUndefined(Schema.decodeUnknownEither(schema)(input))
    assert.strictEqual(decode(Text.nonEmpty(5))(" ab "), " ab ")
    assert.strictEqual(decode(Text.trimmed(5))(" ab "), "ab")
    for (const schema of [Text.nonEmpty(5), Text.trimmed(5)]) {
      for (const refused of ["", "abcdef", "a\u0000", "b\ud800"]) assert.isUndefined(decode(schema)(refused), JSON.stringify(refused))
    }
    assert.isUndefined(decode(Text.trimmed(5))("   "))
  })
})
