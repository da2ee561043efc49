// Review 17b: the refusals of the questionnaire and assessment paths never quote what the caller
// typed where an id belongs (an answer's key, a questionnaire's id, an assessment's id), which may
// be a name or an address put in the wrong field.
import { assert } from "@effect/vitest"
import { contractSuite } from "@lawful/core/testing"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { ProcessorRegistry } from "../src/ProcessorRegistry.js"
import { atStart, layers, passingAnswers, processorInput, publishQuestionnaire, questionnaireInput, staff, uniqueId } from "./fixtures.js"

// What a caller may have typed where an id belongs: an address, a name.
const address = "zoe.marker@example.org"
const name = "zoe.marker"

// The refusal as a caller, a log and a trace would show it: message, JSON and printed cause.
const shown = (exit: Exit.Exit<unknown, unknown>) => {
  if (Exit.isSuccess(exit)) return { tag: "success", text: "" }
  const error = Cause.squash(exit.cause) as { readonly _tag?: string; readonly message?: string }
  return { tag: error._tag ?? "defect", text: [error.message, JSON.stringify(error), Cause.pretty(exit.cause)].join("\n") }
}

contractSuite("Review 17b", layers, (it) => {
  it.effect("an answer under a key that is no question is refused without quoting the key", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const processor = yield* registry.register(staff, processorInput())
      const questionnaire = yield* publishQuestionnaire
      const submit = (answers: Record<string, unknown>) =>
        Effect.exit(registry.submitAssessment(staff, processor.id, {
          questionnaireId: questionnaire.id,
          questionnaireVersion: questionnaire.version,
          answers: answers as never
        }))
      const cases: ReadonlyArray<readonly [string, Record<string, unknown>]> = [
        ["an address as a key", { ...passingAnswers, [address]: true }],
        ["an address as a key, with text", { ...passingAnswers, [address]: "yes" }],
        ["an id-shaped name as a key", { ...passingAnswers, [name]: true }],
        ["an address as a key, with an answer of the wrong type", { ...passingAnswers, [address]: 42 }],
        ["an address as a key, with an object", { ...passingAnswers, [address]: { note: "x" } }],
        ["an address with a NUL as a key", { ...passingAnswers, [`${address}\u0000`]: true }],
        ["an address as the only answer", { [address]: true }]
      ]
      const quoting: Array<string> = []
      for (const [label, answers] of cases) {
        const { tag, text } = shown(yield* submit(answers))
        assert.strictEqual(tag, "InvalidInput", `${label}: ${text}`)
        if (text.includes(name)) quoting.push(`${label}: ${text.split("\n")[0]}`)
      }
      assert.deepStrictEqual(quoting, [])

      // The refusal still says what is wrong: how many answers name no question, and the questions.
      const two = yield* Effect.flip(registry.submitAssessment(staff, processor.id, {
        questionnaireId: questionnaire.id,
        questionnaireVersion: questionnaire.version,
        answers: { ...passingAnswers, [address]: true, [name]: "x" }
      }))
      assert.strictEqual(two._tag, "InvalidInput")
      assert.deepStrictEqual(two._tag === "InvalidInput" && two.issues, [
        `2 answers name no question of ${questionnaire.id} version 1 (its questions: encryption-at-rest, iso27001, breach-notice, sub-processors)`
      ])
      // An answer of the wrong type is refused with the answers as a whole, not under its key.
      const wrongType = yield* Effect.flip(registry.submitAssessment(staff, processor.id, {
        questionnaireId: questionnaire.id,
        questionnaireVersion: questionnaire.version,
        answers: { ...passingAnswers, [address]: 42 } as never
      }))
      assert.deepStrictEqual(wrongType._tag === "InvalidInput" && wrongType.issues, [
        "answers: expected answers by question id, each a yes/no (boolean) or text, ids and text without NUL characters or unpaired surrogates"
      ])
      assert.deepStrictEqual(yield* registry.assessments(processor.id), [])
    }))

  it.effect("a questionnaire or assessment named by text that is no id is refused without quoting it", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const processor = yield* registry.register(staff, processorInput())
      const questionnaire = yield* publishQuestionnaire
      const cases: ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown>]> = [
        ["submitAssessment: questionnaireId", registry.submitAssessment(staff, processor.id, {
          questionnaireId: address,
          questionnaireVersion: 1,
          answers: passingAnswers
        })],
        ["submitAssessment: questionnaireId, a version not published", registry.submitAssessment(staff, processor.id, {
          questionnaireId: address,
          questionnaireVersion: 7,
          answers: passingAnswers
        })],
        ["publishQuestionnaire: id", registry.publishQuestionnaire(staff, { ...questionnaireInput(address) })],
        ["publishQuestionnaire: a question's id", registry.publishQuestionnaire(staff, {
          ...questionnaireInput(uniqueId("q")),
          questions: [{ _tag: "Text", id: address, text: "Anything else?", required: false }]
        })],
        ["publishQuestionnaire: an option's value", registry.publishQuestionnaire(staff, {
          ...questionnaireInput(uniqueId("q")),
          questions: [{ _tag: "Choice", id: "c", text: "C", options: [{ value: address, label: "A", points: 1 }] }]
        })]
      ]
      const quoting: Array<string> = []
      for (const [label, operation] of cases) {
        const { tag, text } = shown(yield* Effect.exit(operation))
        assert.notStrictEqual(tag, "success", label)
        if (text.includes(name)) quoting.push(`${label} (${tag}): ${text.split("\n")[0]}`)
      }
      assert.deepStrictEqual(quoting, [])
      assert.deepStrictEqual(yield* registry.assessments(processor.id), [])
      assert.deepStrictEqual(yield* registry.questionnaire(questionnaire.id), questionnaire)
    }))

  it.effect("an optional question left unanswered is unanswered, whatever its id", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const processor = yield* registry.register(staff, processorInput())
      // `constructor` is an id of the form, and a member every object inherits.
      const questionnaire = yield* registry.publishQuestionnaire(staff, {
        ...questionnaireInput(uniqueId("plain")),
        questions: [
          { _tag: "YesNo", id: "encryption", text: "Is data encrypted at rest?", weight: 1, expected: true },
          { _tag: "Text", id: "constructor", text: "Anything to add?", required: false }
        ]
      })
      const assessment = yield* registry.submitAssessment(staff, processor.id, {
        questionnaireId: questionnaire.id,
        questionnaireVersion: questionnaire.version,
        answers: { encryption: true }
      })
      assert.deepStrictEqual(assessment.answers, { encryption: true })
      assert.isTrue(assessment.score.passes)
    }))
})
