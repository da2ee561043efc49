/**
 * Questionnaires: versioned sets of questions sent to a processor, and the
 * scoring rules that turn answers into a score.
 *
 * - a yes/no question scores its `weight` when the answer is the `expected` one;
 * - a choice question scores the `points` of the chosen option;
 * - a text question is read by the reviewer and scores nothing;
 * - a `critical` question answered the wrong way (or, for a choice, with
 *   fewer than the best option's points) fails the questionnaire whatever the
 *   score.
 *
 * Answers pass when they score at least `passMark` (a fraction of the points
 * available) and fail no critical question. A published version never
 * changes: a new version is a new questionnaire. Versions run from 1 to
 * 2147483647, and a question awards at most `maxQuestionPoints`.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as CoreText from "@lawful/core/Text"
import * as Schema from "effect/Schema"
import { freeText, Slug } from "./internal/text.js"

/**
 * The most points one question may award (a yes/no question's `weight`, a
 * choice option's `points`).
 *
 * @since 0.1.0
 * @category models
 */
export const maxQuestionPoints = 1_000_000

/**
 * The version of a questionnaire: a whole number from 1 to 2^31 - 1 (what
 * PostgreSQL's `integer` holds, so that every store takes the same versions).
 *
 * @since 0.1.0
 * @category models
 */
export const Version = Schema.Int.pipe(
  Schema.between(1, 2_147_483_647, { message: () => "a questionnaire version is a whole number from 1 to 2147483647" })
)

// Free text: a refusal names the field and what is expected, never the text.
const Text = freeText(2000)
const Points = Schema.Int.pipe(Schema.nonNegative())
// Points a question may award: small enough that any questionnaire's total is a safe integer.
const QuestionPoints = Schema.Int.pipe(
  Schema.between(0, maxQuestionPoints, { message: () => `points are a whole number from 0 to ${maxQuestionPoints}` })
)
const Critical = Schema.optionalWith(Schema.Boolean, { default: () => false })

/**
 * A question answered yes (`true`) or no (`false`).
 *
 * @since 0.1.0
 * @category models
 */
export const YesNoQuestion = Schema.TaggedStruct("YesNo", {
  id: Slug,
  text: Text,
  weight: QuestionPoints,
  expected: Schema.Boolean,
  critical: Critical
})

/**
 * A question answered by one option's `value`.
 *
 * @since 0.1.0
 * @category models
 */
export const ChoiceQuestion = Schema.TaggedStruct("Choice", {
  id: Slug,
  text: Text,
  options: Schema.NonEmptyArray(Schema.Struct({ value: Slug, label: Text, points: QuestionPoints })),
  critical: Critical
})

/**
 * A question answered in words, for the reviewer.
 *
 * @since 0.1.0
 * @category models
 */
export const TextQuestion = Schema.TaggedStruct("Text", {
  id: Slug,
  text: Text,
  required: Schema.Boolean
})

/**
 * A question.
 *
 * @since 0.1.0
 * @category models
 */
export const Question = Schema.Union(YesNoQuestion, ChoiceQuestion, TextQuestion)

/**
 * @since 0.1.0
 * @category models
 */
export type Question = typeof Question.Type

/**
 * A questionnaire to publish.
 *
 * @since 0.1.0
 * @category models
 */
export const QuestionnaireInput = Schema.Struct({
  id: Slug,
  version: Version,
  title: Text,
  /** The fraction of the available points that passes, from 0 to 1. */
  passMark: Schema.Number.pipe(Schema.between(0, 1)),
  questions: Schema.NonEmptyArray(Question)
}).pipe(
  Schema.filter((input) => {
    const ids = input.questions.map((question) => question.id)
    const repeated = ids.find((id, i) => ids.indexOf(id) !== i)
    if (repeated !== undefined) return `question ${repeated} appears twice`
    for (const question of input.questions) {
      if (question._tag !== "Choice") continue
      const values = question.options.map((option) => option.value)
      const value = values.find((v, i) => values.indexOf(v) !== i)
      if (value !== undefined) return `question ${question.id} offers option ${value} twice`
    }
    return true
  })
)

/**
 * @since 0.1.0
 * @category models
 */
export type QuestionnaireInput = typeof QuestionnaireInput.Type

/**
 * A published questionnaire.
 *
 * @since 0.1.0
 * @category models
 */
export class Questionnaire extends Schema.Class<Questionnaire>("@lawful/processor-registry/Questionnaire")({
  id: Slug,
  version: Version,
  title: Text,
  passMark: Schema.Number.pipe(Schema.between(0, 1)),
  questions: Schema.NonEmptyArray(Question),
  publishedAt: Schema.Date
}) {}

// A key `__proto__` (JSON.parse makes it an own member) would be lost when the answers are
// built as an object, dropped without a word; no question id starts with "_", so it names none.
const AnswerKey = CoreText.Storable.pipe(Schema.filter((key) => key !== "__proto__"))

/**
 * Answers by question id: a boolean for yes/no, an option value for a
 * choice, text for a text question.
 *
 * Refused as a whole, with what is expected: neither a text answer (which may
 * name people) nor a key (the caller's text, which may be a name or an address
 * typed in the wrong field) is quoted, nor named in the refusal's path. A key
 * `__proto__`, which no question has and an object built from the answers
 * would lose, is refused so too, never dropped.
 *
 * @since 0.1.0
 * @category models
 */
export const Answers = Schema.Record({
  key: AnswerKey,
  value: Schema.Union(Schema.Boolean, CoreText.Storable)
}).annotations({
  message: () => ({
    message: "expected answers by question id, each a yes/no (boolean) or text, " +
      "ids and text without NUL characters or unpaired surrogates",
    override: true
  })
})

/**
 * @since 0.1.0
 * @category models
 */
export type Answers = typeof Answers.Type

/**
 * What the scoring rules make of a set of answers.
 *
 * @since 0.1.0
 * @category models
 */
export const Score = Schema.Struct({
  points: Points,
  maxPoints: Points,
  /** `points / maxPoints`, or 1 when no question scores. */
  ratio: Schema.Number,
  /** The critical questions answered the wrong way. */
  criticalFailures: Schema.Array(Slug),
  passes: Schema.Boolean
})

/**
 * @since 0.1.0
 * @category models
 */
export type Score = typeof Score.Type

// The answer given to a question: an own member only (a question may be called `constructor`).
const answerTo = (answers: Answers, id: string): boolean | string | undefined =>
  Object.hasOwn(answers, id) ? answers[id] : undefined

/**
 * Checks answers against the questions: every question answered with the
 * right kind of answer (an optional text question may be left out), no
 * answer to a question that is not there. Returns the problems, if any.
 *
 * A problem names the questionnaire's own questions, never a key of the
 * answers that is not one of them: such a key is the caller's text, which may
 * be a name or an address typed in the wrong field, so the answers under
 * unknown keys are counted and the questions listed instead ("2 answers name
 * no question of security version 1 (its questions: encryption, ...)").
 *
 * @since 0.1.0
 * @category constructors
 */
export const checkAnswers = (questionnaire: Questionnaire, answers: Answers): Either.Either<Answers, ReadonlyArray<string>> => {
  const problems: Array<string> = []
  const ids = questionnaire.questions.map((question) => question.id)
  const questions = new Set(ids)
  const unknown = Object.keys(answers).filter((key) => !questions.has(key)).length
  if (unknown > 0) {
    problems.push(
      `${unknown === 1 ? "1 answer names" : `${unknown} answers name`} no question of ${questionnaire.id} version ${questionnaire.version} (its questions: ${
        ids.join(", ")
      })`
    )
  }
  for (const question of questionnaire.questions) {
    const answer = answerTo(answers, question.id)
    switch (question._tag) {
      case "YesNo":
        if (typeof answer !== "boolean") problems.push(`${question.id} needs a yes/no (boolean) answer`)
        break
      case "Choice":
        if (typeof answer !== "string" || !question.options.some((option) => option.value === answer)) {
          problems.push(
            `${question.id} needs one of: ${question.options.map((option) => option.value).join(", ")}`
          )
        }
        break
      case "Text":
        if (answer === undefined ? question.required : typeof answer !== "string" || (question.required && answer.trim() === "")) {
          problems.push(`${question.id} needs a text answer`)
        }
        break
    }
  }
  return problems.length === 0 ? Either.right(answers) : Either.left(problems)
}

/**
 * Scores answers that passed `checkAnswers`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const score = (questionnaire: Questionnaire, answers: Answers): Score => {
  let points = 0
  let maxPoints = 0
  const criticalFailures: Array<string> = []
  for (const question of questionnaire.questions) {
    const answer = answerTo(answers, question.id)
    switch (question._tag) {
      case "YesNo": {
        maxPoints += question.weight
        const right = answer === question.expected
        if (right) points += question.weight
        if (question.critical && !right) criticalFailures.push(question.id)
        break
      }
      case "Choice": {
        const best = Math.max(...question.options.map((option) => option.points))
        const chosen = question.options.find((option) => option.value === answer)?.points ?? 0
        maxPoints += best
        points += chosen
        if (question.critical && chosen < best) criticalFailures.push(question.id)
        break
      }
      case "Text":
        break
    }
  }
  const ratio = maxPoints === 0 ? 1 : points / maxPoints
  return { points, maxPoints, ratio, criticalFailures, passes: ratio >= questionnaire.passMark && criticalFailures.length === 0 }
}
