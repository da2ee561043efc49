import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as fc from "fast-check"
import * as Questionnaire from "../src/Questionnaire.js"
import { questionnaireInput } from "./fixtures.js"

const make = (input: unknown) =>
  new Questionnaire.Questionnaire({
    ...Schema.decodeUnknownSync(Questionnaire.QuestionnaireInput)(input),
    publishedAt: new Date(0)
  })

const questionnaire = make(questionnaireInput("security"))

describe("Questionnaire", () => {
  it("scores answers by the rules: weights, option points, critical questions", () => {
    const score = (answers: Questionnaire.Answers) => Questionnaire.score(questionnaire, answers)
    assert.deepStrictEqual(score({ "encryption-at-rest": true, iso27001: true, "breach-notice": "24h", "sub-processors": "x" }), {
      points: 8,
      maxPoints: 8,
      ratio: 1,
      criticalFailures: [],
      passes: true
    })
    const late = score({ "encryption-at-rest": true, iso27001: false, "breach-notice": "later", "sub-processors": "x" })
    assert.deepStrictEqual([late.points, late.passes], [3, false])
    const critical = score({ "encryption-at-rest": false, iso27001: true, "breach-notice": "24h", "sub-processors": "x" })
    assert.deepStrictEqual([critical.ratio, critical.criticalFailures, critical.passes], [5 / 8, ["encryption-at-rest"], false])
  })

  it("a critical choice fails below its best option; text alone scores 1", () => {
    const strict = make({
      id: "strict",
      version: 1,
      title: "Strict",
      passMark: 0,
      questions: [{
        _tag: "Choice",
        id: "hosting",
        text: "Where is data hosted?",
        critical: true,
        options: [{ value: "eu", label: "EU", points: 1 }, { value: "other", label: "Elsewhere", points: 0 }]
      }]
    })
    assert.isFalse(Questionnaire.score(strict, { hosting: "other" }).passes)
    assert.isTrue(Questionnaire.score(strict, { hosting: "eu" }).passes)
    const textOnly = make({ id: "t", version: 1, title: "T", passMark: 1, questions: [{ _tag: "Text", id: "q", text: "Q", required: false }] })
    assert.deepStrictEqual(Questionnaire.score(textOnly, {}), { points: 0, maxPoints: 0, ratio: 1, criticalFailures: [], passes: true })
    assert.isTrue(Either.isRight(Questionnaire.checkAnswers(textOnly, {})))
  })

  it("passes exactly when the ratio reaches the pass mark and no critical question fails", () => {
    fc.assert(fc.property(
      fc.boolean(),
      fc.boolean(),
      fc.constantFrom("24h", "72h", "later"),
      (encryption, iso, breach) => {
        const score = Questionnaire.score(questionnaire, {
          "encryption-at-rest": encryption,
          iso27001: iso,
          "breach-notice": breach,
          "sub-processors": "none"
        })
        assert.isTrue(score.ratio >= 0 && score.ratio <= 1)
        assert.strictEqual(score.passes, score.ratio >= 0.7 && encryption)
      }
    ))
  })

  it("refuses malformed questionnaires", () => {
    assert.throws(() => make({ ...questionnaireInput("x"), passMark: 1.5 }))
    assert.throws(() => make({ ...questionnaireInput("x"), version: 0 }))
    assert.throws(() => make({ ...questionnaireInput("Has Spaces") }))
    assert.throws(() =>
      make({
        ...questionnaireInput("x"),
        questions: [{
          _tag: "Choice",
          id: "c",
          text: "C",
          options: [{ value: "a", label: "A", points: 1 }, { value: "a", label: "A again", points: 0 }]
        }]
      })
    )
  })
})
