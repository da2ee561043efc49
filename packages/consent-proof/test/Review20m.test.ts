/**
 * Review 20m: a language tag of the right form but too long, an import id that is not a UUID, were
 * refused by Schema's own messages, which quote the value: in the ParseError `new ConsentEvent`
 * throws, or any decoding with Schema's own functions.
 */
import { assert, describe, it } from "@effect/vitest"
import { assertQuotesNothing } from "@lawful/core/testing"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as ConsentEvent from "../src/ConsentEvent.js"

const personal = "AnnSmith-Baker-Street"

describe("Review20m", () => {
  it("a language too long or not text, an import id not a UUID, is refused without being quoted", () => {
    const cases: ReadonlyArray<readonly [Schema.Schema.AnyNoContext, unknown]> = [
      [ConsentEvent.Language, `${personal}-${"abcdefgh-".repeat(4)}x`],
      [ConsentEvent.Language, { name: personal }],
      [ConsentEvent.Source, { type: "import", importId: personal, attestation: "0".repeat(64) }]
    ]
    for (const [schema, given] of cases) {
      const refused = Schema.decodeUnknownEither(schema)(given)
      assert.isTrue(Either.isLeft(refused))
      if (Either.isLeft(refused)) {
        assertQuotesNothing(refused.left, [personal])
        // (Source's other members refuse the tag "import" as Schema does, naming it: not the caller's text.)
        if (schema !== ConsentEvent.Source) assert.notInclude(refused.left.message, "actual")
      }
    }
  })
})
