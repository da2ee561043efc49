// Review 18d: bad input to the registry's public functions. An actor no audit entry can name (not
// an object, an unknown kind, an address or unstorable text as its id, the subject, who names no
// subject here) is refused with `InvalidInput` before anything is read or written, never quoted,
// on every backend, where it died at the audit event's constructor (a defect whose message could
// quote it). `statedReasonMatches` given details that are no object, or a reason that is no text,
// matches nothing instead of dying with a TypeError. `AdequacyDecisions.layer` checks the list it is
// given: a plain object TypeScript takes for a decision, with an Invalid Date or a missing field,
// was taken unchecked (never in force, or a TypeError at the first approval).
import { assert, it } from "@effect/vitest"
import type { Actor } from "@lawful/audit-trail/AuditEvent"
import { contractSuite } from "@lawful/core/testing"
import * as TenantId from "@lawful/core/TenantId"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Layer from "effect/Layer"
import * as AdequacyDecisions from "../src/AdequacyDecisions.js"
import * as Country from "../src/Country.js"
import { ProcessorRegistry, statedReasonMatches } from "../src/ProcessorRegistry.js"
import * as AuditRecorder from "./AuditRecorder.js"
import {
  approvedProcessor,
  atStart,
  completeReview,
  dpaInput,
  layers,
  passingAnswers,
  processorInput,
  publishQuestionnaire,
  questionnaireInput,
  staff,
  uniqueId,
  vaultMemory
} from "./fixtures.js"

// What a mistaken actor may hold: a person's name and address.
const marker = "Ada Lovelace ada.lovelace@example.org"

const badActors: ReadonlyArray<readonly [string, unknown]> = [
  ["null", null],
  ["a string", marker],
  ["an address as id", { kind: "staff", id: "ada.lovelace@example.org" }],
  ["a name as kind", { kind: marker, id: "staff-1" }],
  ["no id", { kind: "staff" }],
  ["an id with NUL", { kind: "staff", id: "staff\u0000Ada Lovelace" }],
  ["an id with a lone surrogate", { kind: "api-key", id: "key-\ud800Ada Lovelace" }],
  ["an id too long", { kind: "staff", id: `${"Ada Lovelace ".repeat(20)}` }],
  ["the subject", { kind: "subject" }],
  ["the subject with an id", { kind: "subject", id: marker }]
]

const failureOf = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()

contractSuite("Review 18d", layers, (it) => {
  it.effect("an actor no audit entry can name is refused with InvalidInput, unquoted, and changes nothing", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const recorder = yield* AuditRecorder.AuditRecorder
      const tenant = yield* TenantId.make

      // Each operation in a state where it would succeed with a good actor.
      const candidate = yield* registry.register(staff, processorInput())
      const reviewed = yield* registry.register(staff, processorInput())
      yield* completeReview(reviewed.id)
      const approved = yield* approvedProcessor()
      const ending = yield* approvedProcessor()
      yield* registry.terminate(staff, ending.id, { reason: "contract ended" })
      const questionnaire = yield* publishQuestionnaire
      const submission = {
        questionnaireId: questionnaire.id,
        questionnaireVersion: questionnaire.version,
        answers: passingAnswers
      }
      const assessment = yield* registry.submitAssessment(staff, candidate.id, submission)
      const subProcessor = yield* registry.register(staff, processorInput({ servesTenants: true }))
      const { notice } = yield* registry.announce(staff, { processorId: subProcessor.id, audience: [tenant] })

      const operations: ReadonlyArray<readonly [string, (by: Actor) => Effect.Effect<unknown, unknown>]> = [
        ["register", (by) => registry.register(by, processorInput())],
        ["update", (by) => registry.update(by, candidate.id, processorInput({ legalName: "Mailhost AG" }))],
        ["startReview", (by) => registry.startReview(by, candidate.id)],
        ["approve", (by) => registry.approve(by, reviewed.id)],
        ["suspend", (by) => registry.suspend(by, approved.id, "security incident")],
        ["terminate", (by) => registry.terminate(by, candidate.id, { reason: "no longer needed" })],
        ["confirmDataDisposition", (by) => registry.confirmDataDisposition(by, ending.id, "deleted")],
        ["recordDpa", (by) => registry.recordDpa(by, candidate.id, dpaInput({ version: "2026-02" }))],
        ["publishQuestionnaire", (by) => registry.publishQuestionnaire(by, questionnaireInput(uniqueId("security")))],
        ["submitAssessment", (by) => registry.submitAssessment(by, candidate.id, submission)],
        ["decideAssessment", (by) => registry.decideAssessment(by, assessment.id, { outcome: "satisfactory", notes: "fine" })],
        ["announce", (by) => registry.announce(by, { processorId: subProcessor.id, audience: [tenant], objectionPeriodDays: 10 })],
        ["object", (by) => registry.object(by, tenant, notice.id, { reason: "we object" })],
        ["recordActivity", (by) =>
          registry.recordActivity(by, {
            id: uniqueId("activity"),
            name: "Account email",
            actingAs: "controller",
            purposes: ["account email"],
            subjectCategories: ["customers"],
            dataCategories: ["contact.email"],
            processors: [],
            otherRecipients: []
          })]
      ]

      const state = Effect.all({
        entries: Effect.map(recorder.all, (all) => all.length),
        processors: registry.processors,
        dpas: registry.dpas(candidate.id),
        assessments: registry.assessments(candidate.id),
        notices: registry.notices(),
        objections: registry.objections(notice.id),
        activities: registry.activities
      })
      const before = yield* state

      for (const [operation, call] of operations) {
        for (const [label, actor] of badActors) {
          const exit = yield* Effect.exit(Effect.suspend(() => call(actor as Actor)))
          const failure = failureOf(exit)
          assert.isTrue(
            Option.isSome(failure),
            `${operation}, ${label}: ${Exit.isFailure(exit) ? Cause.pretty(exit.cause).split("\n")[0] : "succeeded"}`
          )
          const error = (failure as Option.Some<{ _tag: string; what?: string; message: string }>).value
          assert.strictEqual(error._tag, "InvalidInput", `${operation}, ${label}`)
          assert.strictEqual(error.what, "actor", `${operation}, ${label}`)
          for (const text of ["Ada", "Lovelace", "ada.lovelace"]) {
            assert.notInclude(error.message, text, `${operation}, ${label}`)
          }
        }
      }
      assert.deepStrictEqual(yield* state, before)

      // A good actor still acts, and the log names only its kind and id.
      const extra = { kind: "staff", id: "staff-ada", name: marker } as Actor
      const started = yield* registry.startReview(extra, candidate.id)
      assert.strictEqual(started.status._tag, "UnderReview")
      const logged = (yield* recorder.all).filter((r) => r.event.resource?.id === candidate.id).map((r) => r.event)
      assert.deepStrictEqual(logged.at(-1)?.actor, { kind: "staff", id: "staff-ada" })
      assert.notInclude(JSON.stringify(logged), "Lovelace")
    }))
})

it.effect("statedReasonMatches: details that are no object, or a reason that is no text, match nothing", () =>
  Effect.gen(function*() {
    const stated = [
      { reason: "stated", reasonHmac: "ab".repeat(32) },
      { reason: "stated", reasonSha256: "ab".repeat(32) },
      { reason: "stated", reasonLength: 3, reasonSha256: "ab".repeat(32) }
    ]
    for (const details of [null, undefined, "stated", 42, ["stated"]]) {
      assert.isFalse(yield* statedReasonMatches(details as never, "abc"), String(details))
    }
    for (const details of stated) {
      for (const reason of [null, undefined, 42, { length: 3 }]) {
        assert.isFalse(yield* statedReasonMatches(details, reason as never), `${JSON.stringify(details)} ${String(reason)}`)
      }
    }
  }).pipe(Effect.provide(vaultMemory)))

it.effect("AdequacyDecisions.layer refuses a list whose decisions do not decode, and takes plain objects that do", () =>
  Effect.gen(function*() {
    const swiss = AdequacyDecisions.shipped.find((decision) => decision.id === "CH")!
    const plain = { ...swiss } as AdequacyDecisions.AdequacyDecision
    const refused: ReadonlyArray<readonly [string, unknown]> = [
      ["null", null],
      ["no list", swiss],
      ["an Invalid Date", [{ ...swiss, adoptedOn: new Date(Number.NaN) }]],
      ["a date as text", [{ ...swiss, adoptedOn: "2000-07-26" }]],
      ["no territory", [{ ...swiss, territory: undefined }]],
      ["null as a decision", [swiss, null]]
    ]
    for (const [label, decisions] of refused) {
      const exit = yield* Effect.exit(
        Layer.build(AdequacyDecisions.layer(decisions as ReadonlyArray<AdequacyDecisions.AdequacyDecision>))
      )
      const failure = failureOf(exit)
      assert.isTrue(Option.isSome(failure), `${label}: ${Exit.isFailure(exit) ? Cause.pretty(exit.cause).split("\n")[0] : "built"}`)
      assert.strictEqual((failure as Option.Some<{ _tag: string }>).value._tag, "DecisionListInvalid", label)
    }
    const taken = yield* Effect.provide(AdequacyDecisions.AdequacyDecisions, AdequacyDecisions.layer([plain]))
    assert.strictEqual(taken.length, 1)
    assert.instanceOf(taken[0], AdequacyDecisions.AdequacyDecision)
    assert.deepStrictEqual(
      Option.map(AdequacyDecisions.forCountry(taken, Country.Country.make("CH"), new Date("2026-01-15T00:00:00Z")), (d) => d.id),
      Option.some("CH")
    )
  }).pipe(Effect.scoped))
