// Review 17c: an id given as a parameter (a processor's, an assessment's, a notice's, a tenant's, a
// questionnaire's id or version) is checked against its schema before any store sees it. What a
// caller typed there may be a name or an address put in the wrong field: it is refused alike on
// every backend, with the method's own typed refusal, never quoted, and nothing is written.
import { assert } from "@effect/vitest"
import * as TenantId from "@lawful/core/TenantId"
import { contractSuite } from "@lawful/core/testing"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { ProcessorRegistry } from "../src/ProcessorRegistry.js"
import * as AuditRecorder from "./AuditRecorder.js"
import {
  atStart,
  dpaInput,
  layers,
  passingAnswers,
  processorInput,
  publishQuestionnaire,
  staff,
  tenantKey
} from "./fixtures.js"

const marker = "zoe.marker"
// What a caller may have passed where an id belongs: an address as text, or inside an object.
const malformed: ReadonlyArray<readonly [string, unknown]> = [
  ["an address", `${marker}@example.org`],
  ["an object holding an address", { email: `${marker}@example.org` }]
]

// The outcome as a caller, a log and a trace would show it: its tag, and its message, JSON and
// printed cause.
const shown = (exit: Exit.Exit<unknown, unknown>) => {
  if (Exit.isSuccess(exit)) return { tag: "success", text: "" }
  const error = Cause.squash(exit.cause) as { readonly _tag?: string; readonly message?: string }
  return {
    tag: Cause.isFailType(exit.cause) ? error._tag ?? "failure" : "defect",
    text: [error.message, JSON.stringify(error), Cause.pretty(exit.cause)].join("\n")
  }
}

contractSuite("Review 17c", layers, (it) => {
  it.effect("an id parameter that is no id is refused with the method's refusal on every backend, unquoted, writing nothing", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const recorder = yield* AuditRecorder.AuditRecorder
      // Records of every kind, which a malformed id must not reach.
      const processor = yield* registry.register(staff, processorInput({ servesTenants: true }))
      const questionnaire = yield* publishQuestionnaire
      const assessment = yield* registry.submitAssessment(staff, processor.id, {
        questionnaireId: questionnaire.id,
        questionnaireVersion: questionnaire.version,
        answers: passingAnswers
      })
      const tenant = yield* TenantId.make
      const { notice } = yield* registry.announce(staff, { processorId: processor.id, audience: [tenant] })

      const state = Effect.all({
        entries: Effect.map(recorder.all, (all) => all.length),
        processors: registry.processors,
        dpas: registry.dpas(processor.id),
        assessments: registry.assessments(processor.id),
        questionnaire: registry.questionnaire(questionnaire.id),
        notices: registry.notices(),
        received: registry.noticesFor(tenant),
        objections: registry.objections(notice.id),
        activities: registry.activities
      })
      const before = yield* state

      for (const [label, value] of malformed) {
        const id = value as never
        const cases: ReadonlyArray<readonly [string, string, Effect.Effect<unknown, unknown>]> = [
          ["update", "InvalidInput", registry.update(staff, id, processorInput())],
          ["processor", "ProcessorNotFound", registry.processor(id)],
          ["requirements", "ProcessorNotFound", registry.requirements(id)],
          ["startReview", "ProcessorNotFound", registry.startReview(staff, id)],
          ["approve", "ProcessorNotFound", registry.approve(staff, id)],
          ["suspend", "InvalidInput", registry.suspend(staff, id, "Under investigation")],
          ["terminate", "InvalidInput", registry.terminate(staff, id, { reason: "Contract ended" })],
          ["confirmDataDisposition", "InvalidInput", registry.confirmDataDisposition(staff, id, "deleted")],
          ["recordDpa", "InvalidInput", registry.recordDpa(staff, id, dpaInput())],
          ["dpas", "InvalidInput", registry.dpas(id)],
          ["questionnaire", "QuestionnaireNotFound", registry.questionnaire(id)],
          ["questionnaire with a version", "QuestionnaireNotFound", registry.questionnaire(id, 1)],
          ["questionnaire: the version", "QuestionnaireNotFound", registry.questionnaire(questionnaire.id, id)],
          ["submitAssessment", "InvalidInput", registry.submitAssessment(staff, id, {
            questionnaireId: questionnaire.id,
            questionnaireVersion: questionnaire.version,
            answers: passingAnswers
          })],
          ["decideAssessment", "InvalidInput", registry.decideAssessment(staff, id, {
            outcome: "unsatisfactory",
            notes: "Encryption at rest is missing"
          })],
          ["assessments", "InvalidInput", registry.assessments(id)],
          ["notices", "InvalidInput", registry.notices(id)],
          ["noticesFor", "InvalidInput", registry.noticesFor(id)],
          ["object: the tenant", "InvalidInput", registry.object(tenantKey, id, notice.id, { reason: "Not yet" })],
          ["object: the notice", "InvalidInput", registry.object(tenantKey, tenant, id, { reason: "Not yet" })],
          ["objections", "InvalidInput", registry.objections(id)]
        ]
        const outcomes: Array<readonly [string, string]> = []
        const quoting: Array<string> = []
        for (const [method, , operation] of cases) {
          const { tag, text } = shown(yield* Effect.exit(operation))
          outcomes.push([method, tag])
          if (text.includes(marker)) quoting.push(`${method} (${tag}): ${text.split("\n")[0]}`)
        }
        assert.deepStrictEqual(
          { outcomes, quoting },
          { outcomes: cases.map(([method, tag]) => [method, tag] as const), quoting: [] },
          label
        )
      }

      // The refusal says what is expected where the id was.
      const messages = yield* Effect.forEach(malformed, ([, value]) =>
        Effect.map(
          Effect.flip(registry.decideAssessment(staff, value as never, { outcome: "satisfactory", notes: "Fine" })),
          (error) => error.message
        ))
      assert.deepStrictEqual(messages, [
        "Invalid assessment id: an assessment id is a lower-case UUID",
        "Invalid assessment id: expected text"
      ])
      assert.strictEqual(
        (yield* Effect.flip(registry.approve(staff, malformed[0]![1] as never))).message,
        "No processor is registered under the id given, which is not a processor id (a lower-case UUID)"
      )

      // Nothing was written: no entry, no change to any record.
      assert.deepStrictEqual(yield* state, before)
      // The records are there to be reached by their own ids.
      assert.strictEqual((yield* registry.processor(processor.id)).id, processor.id)
      assert.isTrue((yield* registry.assessments(processor.id)).some((a) => a.id === assessment.id))
    }))

  it.effect("a well-formed id of no record is refused by the method's NotFound, which names it", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const processorId = "0198c0de-0000-7000-8000-000000000001" as never
      const noticeId = "0198c0de-0000-7000-8000-000000000002" as never
      const missing = yield* Effect.flip(registry.processor(processorId))
      assert.strictEqual(missing._tag, "ProcessorNotFound")
      assert.strictEqual(missing.message, `No processor ${processorId} is registered`)
      const questionnaire = yield* Effect.flip(registry.questionnaire("no-such-questionnaire", 2))
      assert.strictEqual(questionnaire.message, "No questionnaire no-such-questionnaire version 2 is published")
      const tenant = yield* TenantId.make
      const notice = yield* Effect.flip(registry.object(tenantKey, tenant, noticeId, { reason: "Not yet" }))
      assert.strictEqual(notice._tag, "NoticeNotFound")
      assert.deepStrictEqual(yield* registry.dpas(processorId), [])
      assert.deepStrictEqual(yield* registry.noticesFor(tenant), [])
    }))
})
