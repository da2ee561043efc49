/**
 * Review 20m: an activity id or a questionnaire id of the right letters but too long was refused by
 * Schema's own message, which quotes it (`Expected a string at most 64 character(s) long, actual
 * "..."`): in the ParseError `new ProcessingActivity` or `new Questionnaire` throws, or any decoding
 * with Schema's own functions.
 */
import { assert, describe, it } from "@effect/vitest"
import { assertQuotesNothing } from "@lawful/core/testing"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as ProcessingActivity from "../src/ProcessingActivity.js"
import * as Questionnaire from "../src/Questionnaire.js"

const tooLong = "ann.smith.baker.street.london".repeat(3)

describe("Review20m", () => {
  it("an activity id or questionnaire id too long, or not text, is refused without being quoted", () => {
    const QuestionnaireId = Questionnaire.Questionnaire.fields.id
    for (const schema of [ProcessingActivity.ActivityId, QuestionnaireId] as ReadonlyArray<Schema.Schema<string, string>>) {
      for (const given of [tooLong, { name: tooLong }]) {
        const refused = Schema.decodeUnknownEither(schema)(given)
        assert.isTrue(Either.isLeft(refused))
        if (Either.isLeft(refused)) {
          assertQuotesNothing(refused.left, [tooLong])
          assert.notInclude(refused.left.message, "actual")
        }
      }
    }
  })
})
