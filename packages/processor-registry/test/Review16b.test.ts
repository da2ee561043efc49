// Review 16b: what it takes to use a processor. An assessment past its next review does not
// approve or reinstate one; a sub-processor of the tenants takes a new country or purpose only
// once a notice of it has run its objection period; an approved processor's failing mechanism is
// not swapped for another invalid one; an announcement can be retried; a text answer refused is
// not echoed. And, found sound and kept so: the Privacy Shield in any spelling, findings listing
// each lapse once, concurrent changes on SQL committed and logged once.
import { assert } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { contractSuite, sqlSuite } from "@lawful/core/testing"
import * as TenantId from "@lawful/core/TenantId"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as TestClock from "effect/TestClock"
import type * as Processor from "../src/Processor.js"
import { ProcessorRegistry } from "../src/ProcessorRegistry.js"
import * as ProcessorRegistryModule from "../src/ProcessorRegistry.js"
import * as TenantNotifier from "../src/TenantNotifier.js"
import * as AuditRecorder from "./AuditRecorder.js"
import {
  approvedProcessor,
  atStart,
  completeReview,
  dayOf,
  layers,
  layerSqlWithLog,
  otherServer,
  passingAnswers,
  processorInput,
  publishQuestionnaire,
  staff
} from "./fixtures.js"

// Germany, the processor's other locations and one more, each outside the EEA under the adequacy decision of
// its country (Switzerland, Japan): the transfers are lawful.
const withCountry = (processor: Processor.Processor, country: string) =>
  processorInput({
    servesTenants: processor.servesTenants,
    locations: [
      { country: "DE" },
      ...processor.locations.filter((l) => l.country !== "DE").map((l) => ({
        country: l.country as string,
        mechanism: { _tag: "Adequacy" as const }
      })),
      { country, mechanism: { _tag: "Adequacy" as const } }
    ]
  })

contractSuite("Review 16b", layers, (it) => {
  it.effect("an assessment past its next review approves no processor", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const processor = yield* registry.register(staff, processorInput())
      yield* completeReview(processor.id, { nextReviewDue: dayOf(5) })
      // Through the review day the assessment stands; from the next day it is out of date.
      yield* TestClock.adjust("6 days")
      const refused = yield* Effect.flip(registry.approve(staff, processor.id))
      assert.strictEqual(refused._tag, "ApprovalRefused")
      assert.deepStrictEqual(
        refused._tag === "ApprovalRefused" ? refused.missing.map((r) => r._tag) : [],
        ["SatisfactoryAssessment"]
      )
      assert.strictEqual((yield* registry.processor(processor.id)).status._tag, "UnderReview")
    }))

  it.effect("a suspended processor whose assessment fell due is not reinstated until assessed again", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const processor = yield* registry.register(staff, processorInput())
      yield* completeReview(processor.id, { nextReviewDue: dayOf(20) })
      yield* registry.approve(staff, processor.id)
      yield* registry.suspend(staff, processor.id, "Security incident under investigation")
      yield* TestClock.adjust("30 days")
      const refused = yield* Effect.flip(registry.approve(staff, processor.id))
      assert.strictEqual(refused._tag, "ApprovalRefused")
      assert.strictEqual((yield* registry.processor(processor.id)).status._tag, "Suspended")
      // A new assessment, decided satisfactory, reinstates it.
      const questionnaire = yield* publishQuestionnaire
      const again = yield* registry.submitAssessment(staff, processor.id, {
        questionnaireId: questionnaire.id,
        questionnaireVersion: questionnaire.version,
        answers: passingAnswers
      })
      yield* registry.decideAssessment(staff, again.id, { outcome: "satisfactory", notes: "Re-assessed" })
      const reinstated = yield* registry.approve(staff, processor.id)
      assert.strictEqual(reinstated.status._tag, "Approved")
    }))

  it.effect("an approved sub-processor of the tenants takes a new country only once a notice of it has run its period", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const tenant = yield* TenantId.make
      const processor = yield* approvedProcessor({ servesTenants: true })
      // Switzerland has an adequacy decision: the transfer is lawful, but the tenants were not told.
      const unannounced = yield* Effect.flip(registry.update(staff, processor.id, withCountry(processor, "CH")))
      assert.strictEqual(unannounced._tag, "ChangeRefused")
      assert.deepStrictEqual(
        unannounced._tag === "ChangeRefused" ? unannounced.missing.map((r) => r._tag) : [],
        ["ChangeAnnounced"]
      )
      // Announced: the tenants see the country to come, and may object for 30 days.
      const { notice } = yield* registry.announce(staff, {
        processorId: processor.id,
        locations: ["DE", "CH"],
        audience: [tenant]
      })
      assert.deepStrictEqual<ReadonlyArray<string>>(notice.locations, ["DE", "CH"])
      assert.deepStrictEqual((yield* registry.noticesFor(tenant)).map((n) => n.id), [notice.id])
      yield* TestClock.adjust("29 days")
      const early = yield* Effect.flip(registry.update(staff, processor.id, withCountry(processor, "CH")))
      assert.strictEqual(early._tag, "ChangeRefused")
      assert.deepStrictEqual(early._tag === "ChangeRefused" ? early.missing.map((r) => r._tag) : [], ["ObjectionPeriodEnded"])
      yield* TestClock.adjust("1 day")
      const changed = yield* registry.update(staff, processor.id, withCountry(processor, "CH"))
      assert.deepStrictEqual(changed.locations.map((l) => l.country), ["DE", "CH"])
      // A country the notice did not name still needs one of its own.
      const other = yield* Effect.flip(registry.update(staff, processor.id, withCountry(changed, "JP")))
      assert.strictEqual(other._tag, "ChangeRefused")
    }))

  it.effect("an approved sub-processor of the tenants takes a new purpose only once a notice of it has run its period", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const processor = yield* approvedProcessor({ servesTenants: true })
      const purposes = ["delivering email", "scanning email for spam"] as const
      const input = processorInput({ servesTenants: true, purposes })
      const unannounced = yield* Effect.flip(registry.update(staff, processor.id, input))
      assert.strictEqual(unannounced._tag, "ChangeRefused")
      const { notice } = yield* registry.announce(staff, { processorId: processor.id, purposes, audience: [yield* TenantId.make] })
      assert.deepStrictEqual<ReadonlyArray<string> | undefined>(notice.purposes, purposes)
      yield* TestClock.adjust("30 days")
      const changed = yield* registry.update(staff, processor.id, input)
      assert.deepStrictEqual<ReadonlyArray<string>>(changed.purposes, purposes)
    }))

  it.effect("a suspended sub-processor of the tenants takes on a new country only once announced, and is reinstated with it", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const processor = yield* approvedProcessor({ servesTenants: true })
      yield* registry.suspend(staff, processor.id, "Moving to a new data centre")
      // Suspended, it still holds the tenants' data: a new country is announced first (Review 18).
      const refused = yield* Effect.flip(registry.update(staff, processor.id, withCountry(processor, "CH")))
      assert.strictEqual(refused._tag, "ChangeRefused")
      assert.deepStrictEqual(refused._tag === "ChangeRefused" ? refused.missing.map((r) => r._tag) : [], ["ChangeAnnounced"])
      yield* registry.announce(staff, { processorId: processor.id, locations: ["DE", "CH"], audience: [yield* TenantId.make] })
      yield* TestClock.adjust("30 days")
      yield* registry.update(staff, processor.id, withCountry(processor, "CH"))
      assert.strictEqual((yield* registry.approve(staff, processor.id)).status._tag, "Approved")
    }))

  it.effect("an announcement retried while its notice is open publishes no second notice, and notifies again", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const outbox = yield* TenantNotifier.Outbox
      const recorder = yield* AuditRecorder.AuditRecorder
      const [a, b] = [yield* TenantId.make, yield* TenantId.make]
      const processor = yield* registry.register(staff, processorInput({ servesTenants: true }))
      const first = yield* registry.announce(staff, { processorId: processor.id, audience: [a, b] })
      yield* TestClock.adjust("1 hour")
      const retried = yield* registry.announce(staff, { processorId: processor.id, audience: [b, a] })
      assert.strictEqual(retried.notice.id, first.notice.id)
      assert.deepStrictEqual(retried.notice, first.notice)
      assert.deepStrictEqual(retried.notified, [b, a])
      assert.deepStrictEqual((yield* registry.notices(processor.id)).map((n) => n.id), [first.notice.id])
      assert.deepStrictEqual((yield* registry.noticesFor(a)).map((n) => n.id), [first.notice.id])
      assert.deepStrictEqual(
        (yield* outbox.sent).filter((s) => s.tenant === a).map((s) => s.notice.id),
        [first.notice.id, first.notice.id]
      )
      assert.deepStrictEqual(
        (yield* recorder.about(ProcessorRegistryModule.platformTenant, first.notice.id)).map((e) => e.action),
        ["processor-registry.notice.published"]
      )
      assert.strictEqual((yield* recorder.about(a, first.notice.id)).length, 1)
      // A tenant not told yet gets a notice of its own, with its full objection period.
      const c = yield* TenantId.make
      const widened = yield* registry.announce(staff, { processorId: processor.id, audience: [a, c] })
      assert.notStrictEqual(widened.notice.id, first.notice.id)
      assert.strictEqual(widened.notice.objectionDeadline.getTime() - widened.notice.publishedAt.getTime(), 30 * 86_400_000)
      // Another period, or other content, is another notice too.
      const longer = yield* registry.announce(staff, { processorId: processor.id, objectionPeriodDays: 45, audience: [a] })
      assert.notStrictEqual(longer.notice.id, first.notice.id)
      const described = yield* registry.announce(staff, { processorId: processor.id, description: "Adds spam filtering", audience: [a] })
      assert.notStrictEqual(described.notice.id, first.notice.id)
    }))

  it.effect("a text answer refused names what is expected, never the answer", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const processor = yield* registry.register(staff, processorInput())
      const questionnaire = yield* publishQuestionnaire
      const error = yield* Effect.flip(registry.submitAssessment(staff, processor.id, {
        questionnaireId: questionnaire.id,
        questionnaireVersion: questionnaire.version,
        answers: { ...passingAnswers, "sub-processors": "Ann Example\u0000, sole trader" }
      }))
      assert.strictEqual(error._tag, "InvalidInput")
      assert.notInclude(error.message, "Ann Example")
      assert.notInclude(JSON.stringify(error), "Ann Example")
    }))

  it.effect("an approved processor whose certification lapsed cannot be moved onto the Privacy Shield", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const us = (mechanism: unknown) => processorInput({ locations: [{ country: "DE" }, { country: "US", mechanism: mechanism as never }] })
      const dpf = { _tag: "DpfCertification", status: "active", certifiedOn: dayOf(-100), recertificationDue: dayOf(10) }
      const processor = yield* approvedProcessor(us(dpf))
      yield* TestClock.adjust("12 days")
      // The lapse is a finding; a change may fix it, not swap it for another invalid mechanism.
      const shield = yield* Effect.flip(registry.update(staff, processor.id, us({ _tag: "PrivacyShield" })))
      assert.strictEqual(shield._tag, "ChangeRefused")
      assert.deepStrictEqual(
        shield._tag === "ChangeRefused" ? shield.missing.map((r) => r._tag === "ValidMechanism" && r.reason) : [],
        ["privacy-shield-invalidated"]
      )
      const wrongModule = yield* Effect.flip(registry.update(staff, processor.id, us({
        _tag: "StandardContractualClauses",
        module: 3,
        signedOn: dayOf(-1),
        transferImpactAssessment: "TIA-7"
      })))
      assert.strictEqual(wrongModule._tag, "ChangeRefused")
      // Still lapsed, described otherwise: no new fault, accepted; recertified: accepted.
      yield* registry.update(staff, processor.id, { ...us(dpf), services: ["email delivery", "bounce handling"] })
      const fixed = yield* registry.update(staff, processor.id, us({ ...dpf, recertificationDue: dayOf(400) }))
      assert.deepStrictEqual((yield* registry.findings).filter((f) => f.processorId === fixed.id), [])
    }))

  // Sound, kept so.
  it.effect("the Privacy Shield, however spelt, is no mechanism a processor can be approved on", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      for (const tag of ["privacyshield", "PRIVACY_SHIELD", "Privacy Shield", "privacy-shield", "EU-US Privacy Shield"]) {
        const error = yield* Effect.flip(
          registry.register(staff, processorInput({ locations: [{ country: "US", mechanism: { _tag: tag } as never }] }))
        )
        assert.strictEqual(error._tag, "InvalidInput", tag)
      }
      const processor = yield* registry.register(
        staff,
        processorInput({ locations: [{ country: "US", mechanism: { _tag: "PrivacyShield", certifiedOn: "2019-01-01" } }] })
      )
      yield* completeReview(processor.id)
      const refused = yield* Effect.flip(registry.approve(staff, processor.id))
      assert.deepStrictEqual(
        refused._tag === "ApprovalRefused" ? refused.missing.map((r) => r._tag === "ValidMechanism" && r.reason) : [],
        ["privacy-shield-invalidated"]
      )
    }))

  it.effect("findings list each lapse once, from the day after its date", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const processor = yield* registry.register(
        staff,
        processorInput({
          locations: [{ country: "DE" }, {
            country: "US",
            mechanism: { _tag: "DpfCertification", status: "active", certifiedOn: dayOf(-100), recertificationDue: dayOf(13) }
          }]
        })
      )
      yield* completeReview(processor.id, { nextReviewDue: dayOf(11), dpa: { expiresOn: dayOf(10), reviewDue: dayOf(12) } })
      yield* registry.approve(staff, processor.id)
      const tagsOn = (offset: number) =>
        Effect.gen(function*() {
          yield* TestClock.setTime(Date.parse(`${dayOf(offset)}T12:00:00Z`))
          const findings = (yield* registry.findings).filter((f) => f.processorId === processor.id)
          return findings.map((f) => (f._tag === "ReviewOverdue" ? `${f._tag}/${f.of}` : f._tag))
        })
      assert.deepStrictEqual(yield* tagsOn(10), [])
      assert.deepStrictEqual(yield* tagsOn(11), ["DpaExpired"])
      assert.deepStrictEqual(yield* tagsOn(14), [
        "DpaExpired",
        "ReviewOverdue/dpa",
        "ReviewOverdue/assessment",
        "DpfCertificationLapsed"
      ])
    }))
})

// On SQL, the audit log on the registry's database: concurrent changes (one server's fibres, two
// servers) each commit whole with their one entry, or not at all; and notices stored before
// notices named purposes.
sqlSuite(
  "Review 16b on SQL",
  layerSqlWithLog,
  (it, backend) => {
    it.effect("concurrent changes from fibres of one server are applied in turn, each logged once in its transaction", () =>
      Effect.gen(function*() {
        yield* atStart
        const registry = yield* ProcessorRegistry
        const recorder = yield* AuditRecorder.AuditRecorder
        const processor = yield* registry.register(staff, processorInput())
        yield* Effect.all(
          [
            ...Array.from({ length: 6 }, (_, i) => registry.update(staff, processor.id, processorInput({ services: [`s${i}`] }))),
            registry.startReview(staff, processor.id)
          ],
          { concurrency: "unbounded" }
        )
        const stored = yield* registry.processor(processor.id)
        assert.strictEqual(stored.revision, 8)
        assert.strictEqual(stored.status._tag, "UnderReview")
        assert.strictEqual((yield* recorder.about(ProcessorRegistryModule.platformTenant, processor.id)).length, 8)
      }))

    it.effect("a notice stored before notices named purposes still counts for the processor's purposes", () =>
      Effect.gen(function*() {
        yield* atStart
        const sql = yield* SqlClient.SqlClient
        const registry = yield* ProcessorRegistry
        const processor = yield* approvedProcessor({ servesTenants: true })
        yield* sql`UPDATE lawful_processor_notices SET document = document - 'purposes' WHERE processor_id = ${processor.id}`
        const [notice] = yield* registry.notices(processor.id)
        assert.isUndefined(notice?.purposes)
        yield* registry.suspend(staff, processor.id, "Routine check")
        assert.strictEqual((yield* registry.approve(staff, processor.id)).status._tag, "Approved")
        // Its countries still count as they were: a new one is announced first.
        const refused = yield* Effect.flip(registry.update(staff, processor.id, withCountry(processor, "CH")))
        assert.strictEqual(refused._tag, "ChangeRefused")
      }))

    // Two servers need two sessions: PGlite is one.
    if (backend !== "postgres") return
    it.scoped("concurrent updates from two servers lose none and log each committed one once", () =>
      Effect.gen(function*() {
        yield* atStart
        const registry = yield* ProcessorRegistry
        const recorder = yield* AuditRecorder.AuditRecorder
        const other = yield* otherServer
        const processor = yield* registry.register(staff, processorInput())
        const outcomes = yield* Effect.all(
          Array.from({ length: 10 }, (_, i) =>
            Effect.either((i % 2 === 0 ? registry : other).update(staff, processor.id, processorInput({
              services: [`service ${i}`]
            })))),
          { concurrency: "unbounded" }
        )
        const committed = outcomes.filter(Either.isRight).map((outcome) => outcome.right)
        for (const outcome of outcomes.filter(Either.isLeft)) assert.strictEqual(outcome.left._tag, "RegistryStoreError")
        assert.isAbove(committed.length, 0)
        const stored = yield* registry.processor(processor.id)
        // Each committed change moved the revision once, and the last of them is what is stored.
        assert.strictEqual(stored.revision, 1 + committed.length)
        assert.deepStrictEqual(stored.services, committed.find((p) => p.revision === stored.revision)?.services)
        const updates = (yield* recorder.about(ProcessorRegistryModule.platformTenant, processor.id)).filter((e) =>
          e.action === "processor-registry.processor.updated"
        )
        assert.deepStrictEqual(
          updates.map((e) => e.details?.revision).sort(),
          committed.map((p) => p.revision).sort()
        )
        assert.isTrue(yield* recorder.verifies(ProcessorRegistryModule.platformTenant))
      }))
  }
)
