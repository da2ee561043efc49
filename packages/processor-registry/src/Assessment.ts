/**
 * Assessments: a processor's answers to a questionnaire version, their score,
 * and the reviewer's decision with notes and the date of the next review.
 *
 * A reviewer may find passing answers unsatisfactory, but never failing answers
 * satisfactory. An unsatisfactory decision terminates the processor. The
 * decision that counts for approval is the latest one.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { Day, dayHasPassed } from "./internal/dates.js"
import { freeText } from "./internal/text.js"
import { make as uuidV7, pattern as uuidPattern } from "@lawful/core/Uuid"
import { ProcessorId } from "./Processor.js"
import { Answers, Questionnaire, Score, Version } from "./Questionnaire.js"

/**
 * The id of an assessment.
 *
 * @since 0.1.0
 * @category models
 */
export const AssessmentId = Schema.String.pipe(
  Schema.pattern(uuidPattern, { message: () => "an assessment id is a lower-case UUID" }),
  Schema.brand("@lawful/processor-registry/AssessmentId")
)

/**
 * @since 0.1.0
 * @category models
 */
export type AssessmentId = typeof AssessmentId.Type

/**
 * A new time-ordered assessment id.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeId: Effect.Effect<AssessmentId> = Effect.map(uuidV7, (id) => AssessmentId.make(id))

/**
 * The reviewer's verdict.
 *
 * @since 0.1.0
 * @category models
 */
export const Outcome = Schema.Literal("satisfactory", "unsatisfactory")

/**
 * @since 0.1.0
 * @category models
 */
export type Outcome = typeof Outcome.Type

// A reviewer's notes may name people: refused without being echoed.
const Notes = freeText(5000)

/**
 * A reviewer's decision on an assessment.
 *
 * @since 0.1.0
 * @category models
 */
export const Decision = Schema.Struct({
  outcome: Outcome,
  /** The reviewer, as the audit log names the actor. */
  reviewer: Schema.String,
  notes: Notes,
  decidedAt: Schema.Date,
  nextReviewDue: Schema.Date
})

/**
 * @since 0.1.0
 * @category models
 */
export type Decision = typeof Decision.Type

/**
 * The decision a reviewer gives. Without `nextReviewDue` (a calendar day,
 * written `YYYY-MM-DD`, see `Dpa.DpaInput`), the next review is due on the day
 * `defaultReviewIntervalDays` after the decision's; it is overdue from the
 * day after.
 *
 * @since 0.1.0
 * @category models
 */
export const DecisionInput = Schema.Struct({
  outcome: Outcome,
  notes: Notes,
  nextReviewDue: Schema.optional(Day)
})

/**
 * @since 0.1.0
 * @category models
 */
export type DecisionInput = typeof DecisionInput.Type

/**
 * Days from a decision to the next review, unless the reviewer sets a date.
 *
 * @since 0.1.0
 * @category models
 */
export const defaultReviewIntervalDays = 365

/**
 * Answers to submit for a processor. The `questionnaireId` is of the form
 * every questionnaire's id takes (lower-case letters, digits, dots, dashes
 * and underscores, at most 64): other text, which may be a name or an address
 * typed in the wrong field, is refused with what is expected, never quoted,
 * where `QuestionnaireNotFound` would name it. The answers are checked with
 * `Questionnaire.checkAnswers`, whose refusals quote no key of the answers.
 *
 * @since 0.1.0
 * @category models
 */
export const SubmissionInput = Schema.Struct({
  questionnaireId: Questionnaire.fields.id,
  questionnaireVersion: Version,
  answers: Answers
})

/**
 * @since 0.1.0
 * @category models
 */
export type SubmissionInput = typeof SubmissionInput.Type

/**
 * A processor's answers to a questionnaire, scored, and decided or not yet.
 *
 * @since 0.1.0
 * @category models
 */
export class Assessment extends Schema.Class<Assessment>("@lawful/processor-registry/Assessment")({
  id: AssessmentId,
  processorId: ProcessorId,
  questionnaireId: Schema.String,
  questionnaireVersion: Schema.Int,
  answers: Answers,
  score: Score,
  submittedAt: Schema.Date,
  decision: Schema.optional(Decision)
}) {}

/**
 * The assessment with the latest decision, if any was decided.
 *
 * @since 0.1.0
 * @category constructors
 */
export const latestDecided = (assessments: ReadonlyArray<Assessment>): Assessment | undefined =>
  assessments.reduce<Assessment | undefined>((latest, assessment) => {
    if (assessment.decision === undefined) return latest
    if (latest === undefined) return assessment
    const a = assessment.decision.decidedAt.getTime()
    const b = latest.decision!.decidedAt.getTime()
    return a > b || (a === b && assessment.submittedAt.getTime() >= latest.submittedAt.getTime()) ? assessment : latest
  }, undefined)

/**
 * Whether an assessment was decided satisfactory.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isSatisfactory = (assessment: Assessment): boolean => assessment.decision?.outcome === "satisfactory"

/**
 * Whether the next review of a decided assessment is overdue.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isReviewOverdue = (assessment: Assessment, at: Date): boolean =>
  assessment.decision !== undefined && dayHasPassed(assessment.decision.nextReviewDue, at)
