// Review 17: a refusal of a value of the wrong type (no object where one is expected, no list
// where a list is, a number for a string...) names the field and the expected form, never the
// value; an Art. 49 derogation approves no processor; the DPA annex lists a terminated
// sub-processor while it still holds the tenants' data; a notice that told no tenant, when there
// were tenants to tell, announces nothing; a tenant's objection stands in the way of engaging
// the sub-processor.
import { assert, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { contractSuite, sqlSuite } from "@lawful/core/testing"
import * as TenantId from "@lawful/core/TenantId"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as TestClock from "effect/TestClock"
import * as DpaAnnex from "../src/DpaAnnex.js"
import { ProcessorRegistry } from "../src/ProcessorRegistry.js"
import {
  approvedProcessor,
  atStart,
  completeReview,
  dayOf,
  dpaInput,
  layers,
  owner,
  passingAnswers,
  processorInput,
  publishQuestionnaire,
  questionnaireInput,
  staff,
  tenantKey,
  uniqueId
} from "./fixtures.js"

// What a caller may have put in the wrong field: a person's name and address.
const marker = "Zoe Marker zoe.marker@example.org"

it.layer(layers.memory)("Review 17 (memory)", (it) => {
  it.effect("a value of the wrong type is refused with its field and expected form, never the value", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const tenant = yield* TenantId.make
      const processor = yield* registry.register(staff, processorInput({ servesTenants: true }))
      const engaged = yield* approvedProcessor()
      const questionnaire = yield* publishQuestionnaire
      const assessment = yield* registry.submitAssessment(staff, processor.id, {
        questionnaireId: questionnaire.id,
        questionnaireVersion: questionnaire.version,
        answers: passingAnswers
      })
      const { notice } = yield* registry.announce(staff, { processorId: processor.id, audience: [tenant] })
      const activity = {
        id: uniqueId("activity"),
        name: "Newsletters",
        actingAs: "controller",
        purposes: ["sending newsletters"],
        subjectCategories: ["subscribers"],
        dataCategories: ["contact.email"],
        processors: [],
        otherRecipients: []
      }
      const wrong = (value: Record<string, unknown>) => value as never
      const us = (mechanism: unknown) => processorInput({ locations: [{ country: "DE" }, { country: "US", mechanism: mechanism as never }] })
      const cases: ReadonlyArray<readonly [string, Effect.Effect<unknown, { readonly _tag: string; readonly message: string }>]> = [
        ["register: input", registry.register(staff, marker as never)],
        ["register: contact", registry.register(staff, wrong({ ...processorInput(), contact: marker }))],
        ["register: contact.name", registry.register(staff, wrong({ ...processorInput(), contact: { name: [marker] } }))],
        ["register: role", registry.register(staff, wrong({ ...processorInput(), role: marker }))],
        ["register: role._tag", registry.register(staff, wrong({ ...processorInput(), role: { _tag: marker } }))],
        ["register: servesTenants", registry.register(staff, wrong({ ...processorInput(), servesTenants: marker }))],
        ["register: locations", registry.register(staff, wrong({ ...processorInput(), locations: marker }))],
        ["register: locations[0]", registry.register(staff, wrong({ ...processorInput(), locations: [marker] }))],
        ["register: locations[0].country", registry.register(staff, wrong({ ...processorInput(), locations: [{ country: marker }] }))],
        ["register: mechanism", registry.register(staff, us(marker))],
        ["register: mechanism._tag", registry.register(staff, us({ _tag: marker }))],
        ["register: mechanism.ground", registry.register(staff, us({ _tag: "Derogation", ground: marker, justification: "x" }))],
        ["register: mechanism.module", registry.register(staff, us({ _tag: "StandardContractualClauses", module: marker, signedOn: dayOf(-1), transferImpactAssessment: "TIA" }))],
        ["register: mechanism.signedOn", registry.register(staff, us({ _tag: "StandardContractualClauses", module: 3, signedOn: { day: marker }, transferImpactAssessment: "TIA" }))],
        ["register: a member not allowed", registry.register(staff, wrong({ ...processorInput(), note: marker }))],
        ["register: a member named by the caller", registry.register(staff, wrong({ ...processorInput(), [marker]: true }))],
        ["register: contact's member named by the caller", registry.register(staff, wrong({ ...processorInput(), contact: { name: "Privacy", [marker]: 1 } }))],
        ["update: input", registry.update(staff, processor.id, marker as never)],
        ["update: contact.email", registry.update(staff, processor.id, wrong({ ...processorInput(), contact: { name: "Privacy", email: { value: marker } } }))],
        ["suspend: reason", registry.suspend(staff, engaged.id, { reason: marker } as never)],
        ["terminate: input", registry.terminate(staff, engaged.id, marker as never)],
        ["terminate: dataDisposition", registry.terminate(staff, engaged.id, wrong({ reason: "Contract ended", dataDisposition: marker }))],
        ["confirmDataDisposition", registry.confirmDataDisposition(staff, engaged.id, marker as never)],
        ["recordDpa: input", registry.recordDpa(staff, processor.id, marker as never)],
        ["recordDpa: parties", registry.recordDpa(staff, processor.id, wrong({ ...dpaInput(), parties: marker }))],
        ["recordDpa: signedOn", registry.recordDpa(staff, processor.id, wrong({ ...dpaInput(), signedOn: [marker] }))],
        ["recordDpa: documentSha256", registry.recordDpa(staff, processor.id, wrong({ ...dpaInput(), documentSha256: marker }))],
        ["publishQuestionnaire: input", registry.publishQuestionnaire(staff, marker as never)],
        ["publishQuestionnaire: questions", registry.publishQuestionnaire(staff, wrong({ ...questionnaireInput(uniqueId("q")), questions: marker }))],
        ["publishQuestionnaire: questions[0]", registry.publishQuestionnaire(staff, wrong({ ...questionnaireInput(uniqueId("q")), questions: [marker] }))],
        ["publishQuestionnaire: passMark", registry.publishQuestionnaire(staff, wrong({ ...questionnaireInput(uniqueId("q")), passMark: marker }))],
        ["submitAssessment: input", registry.submitAssessment(staff, processor.id, marker as never)],
        ["submitAssessment: answers", registry.submitAssessment(staff, processor.id, wrong({ questionnaireId: questionnaire.id, questionnaireVersion: 1, answers: marker }))],
        ["submitAssessment: questionnaireVersion", registry.submitAssessment(staff, processor.id, wrong({ questionnaireId: questionnaire.id, questionnaireVersion: marker, answers: passingAnswers }))],
        ["decideAssessment: input", registry.decideAssessment(staff, assessment.id, marker as never)],
        ["decideAssessment: outcome", registry.decideAssessment(staff, assessment.id, wrong({ outcome: marker, notes: "ok" }))],
        ["decideAssessment: nextReviewDue", registry.decideAssessment(staff, assessment.id, wrong({ outcome: "satisfactory", notes: "ok", nextReviewDue: [marker] }))],
        ["announce: input", registry.announce(staff, marker as never)],
        ["announce: audience", registry.announce(staff, wrong({ processorId: processor.id, audience: marker }))],
        ["announce: audience[0]", registry.announce(staff, wrong({ processorId: processor.id, audience: [marker] }))],
        ["announce: locations", registry.announce(staff, wrong({ processorId: processor.id, locations: marker, audience: [] }))],
        ["announce: processorId", registry.announce(staff, wrong({ processorId: marker, audience: [] }))],
        ["announce: objectionPeriodDays", registry.announce(staff, wrong({ processorId: processor.id, objectionPeriodDays: marker, audience: [] }))],
        ["object: input", registry.object(tenantKey, tenant, notice.id, marker as never)],
        ["object: reason", registry.object(tenantKey, tenant, notice.id, wrong({ reason: { text: marker } }))],
        ["recordActivity: input", registry.recordActivity(staff, marker as never)],
        ["recordActivity: actingAs", registry.recordActivity(staff, wrong({ ...activity, actingAs: marker }))],
        ["recordActivity: legalBasis", registry.recordActivity(staff, wrong({ ...activity, legalBasis: marker }))],
        ["recordActivity: processors", registry.recordActivity(staff, wrong({ ...activity, processors: marker }))],
        ["recordActivity: processors[0]", registry.recordActivity(staff, wrong({ ...activity, processors: [marker] }))],
        ["record: input", registry.record(marker as never)],
        ["record: measures", registry.record(wrong({ ...owner, measures: marker }))],
        ["record: measures[0]", registry.record(wrong({ ...owner, measures: [marker] }))],
        ["annex: input", registry.annex(marker as never)],
        ["annex: measures", registry.annex(wrong({ ...owner, measures: { area: marker } }))]
      ]
      const quoting: Array<string> = []
      for (const [name, operation] of cases) {
        const exit = yield* Effect.exit(operation)
        assert.isTrue(Exit.isFailure(exit), name)
        if (Exit.isSuccess(exit)) continue
        const error = Cause.squash(exit.cause) as { readonly _tag: string; readonly message: string }
        assert.strictEqual(error._tag, "InvalidInput", `${name}: ${error.message}`)
        const shown = [error.message, JSON.stringify(error), Cause.pretty(exit.cause)]
        if (shown.some((text) => text.includes("Zoe Marker"))) quoting.push(`${name}: ${error.message}`)
        else assert.isTrue((error as unknown as { issues: ReadonlyArray<string> }).issues.length > 0, name)
      }
      assert.deepStrictEqual(quoting, [])
    }))
})

// Brazil, under an Art. 49 derogation: a ground of the list, and its justification.
const brazil = (ground: string) => ({
  country: "BR",
  description: "support desk",
  mechanism: { _tag: "Derogation" as const, ground: ground as "explicit-consent", justification: "customers asked for it" }
})
// Brazil under the 2021 SCCs, module 2: the platform's own data.
const brazilScc = {
  country: "BR",
  description: "support desk",
  mechanism: { _tag: "StandardContractualClauses" as const, module: 2 as const, signedOn: dayOf(-30), transferImpactAssessment: "TIA-BR" }
}

contractSuite("Review 17", layers, (it) => {
  it.effect("an Art. 49 derogation approves no processor: derogations are for occasional transfers, not a processor's", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      for (const ground of ["explicit-consent", "contract-with-subject", "compelling-legitimate-interests"]) {
        const processor = yield* registry.register(staff, processorInput({ locations: [{ country: "DE" }, brazil(ground)] }))
        yield* completeReview(processor.id)
        const error = yield* Effect.flip(registry.approve(staff, processor.id))
        assert.strictEqual(error._tag, "ApprovalRefused", ground)
        if (error._tag !== "ApprovalRefused") continue
        assert.deepStrictEqual(
          error.missing.map((r) => r._tag === "ValidMechanism" ? [r.country, r.reason] : [r._tag]),
          [["BR", "derogation-not-for-processors"]]
        )
        assert.include(error.message, "occasional", ground)
        assert.deepStrictEqual(
          (yield* registry.requirements(processor.id)).map((r) => r._tag === "ValidMechanism" ? r.reason : r._tag),
          ["derogation-not-for-processors"]
        )
      }
      // An approved processor is not moved onto one either.
      const approved = yield* approvedProcessor({ locations: [{ country: "DE" }, brazilScc] })
      const refused = yield* Effect.flip(
        registry.update(staff, approved.id, processorInput({ locations: [{ country: "DE" }, brazil("explicit-consent")] }))
      )
      assert.strictEqual(refused._tag, "ChangeRefused")
    }))
})

contractSuite("Review 17 annex", layers, (it) => {
  it.effect("the DPA annex lists a terminated sub-processor, marked so, until its data is returned or deleted", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const pending = yield* approvedProcessor({ servesTenants: true, legalName: uniqueId("Pending Mail GmbH") })
      const deleted = yield* approvedProcessor({ servesTenants: true, legalName: uniqueId("Deleted Mail GmbH") })
      yield* registry.terminate(staff, pending.id, { reason: "Contract ended" })
      yield* registry.terminate(staff, deleted.id, { reason: "Contract ended", dataDisposition: "deleted" })

      const annex = yield* registry.annex(owner)
      const listed = annex.subProcessors.filter((sub) => [pending.id, deleted.id].includes(sub.processorId))
      assert.deepStrictEqual(listed.map((sub) => [sub.name, sub.status]), [[pending.legalName, "terminated-data-pending"]])
      const status = (yield* registry.processor(pending.id)).status
      const terminatedOn = status._tag === "Terminated" ? status.since : undefined
      assert.strictEqual(listed[0]?.statusSince.getTime(), terminatedOn?.getTime())
      const marked = `terminated on ${terminatedOn?.toISOString().slice(0, 10)}, data not yet returned or deleted`
      const row = DpaAnnex.toMarkdown(annex).split("\n").find((line) => line.includes(pending.legalName))
      assert.include(row, marked)
      assert.include(DpaAnnex.toHtml(annex), marked)
      assert.notInclude(DpaAnnex.toMarkdown(annex), deleted.legalName)

      // Confirmed deleted, it leaves the annex.
      yield* registry.confirmDataDisposition(staff, pending.id, "deleted")
      assert.isUndefined((yield* registry.annex(owner)).subProcessors.find((sub) => sub.processorId === pending.id))
    }))
})

contractSuite("Review 17 notices", layers, (it) => {
  it.effect("a notice to no tenant, when tenants have been told of changes before, is refused and approves nothing", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const tenant = yield* TenantId.make
      // A tenant is told of a first sub-processor: the registry knows there are tenants to tell.
      const first = yield* registry.register(staff, processorInput({ servesTenants: true }))
      yield* registry.announce(staff, { processorId: first.id, audience: [tenant] })
      const processor = yield* registry.register(staff, processorInput({ servesTenants: true }))
      yield* completeReview(processor.id)
      const refused = yield* Effect.flip(registry.announce(staff, { processorId: processor.id, audience: [] }))
      assert.strictEqual(refused._tag, "InvalidInput")
      assert.include(refused.message, "audience: names no tenant")
      assert.deepStrictEqual(yield* registry.notices(processor.id), [])
      yield* TestClock.adjust("30 days")
      const error = yield* Effect.flip(registry.approve(staff, processor.id))
      assert.strictEqual(error._tag, "ApprovalRefused")
      if (error._tag === "ApprovalRefused") assert.deepStrictEqual(error.missing.map((r) => r._tag), ["ChangeAnnounced"])
      // Told to the tenants, it is approved once that notice's period has run.
      yield* registry.announce(staff, { processorId: processor.id, audience: [tenant] })
      yield* TestClock.adjust("30 days")
      assert.strictEqual((yield* registry.approve(staff, processor.id)).status._tag, "Approved")
    }))
})

contractSuite("Review 17 objections", layers, (it) => {
  it.effect("a notice a tenant objected to approves no processor; one announced again, without objection, does", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const [objecting, other] = [yield* TenantId.make, yield* TenantId.make]
      const processor = yield* registry.register(staff, processorInput({ servesTenants: true }))
      yield* completeReview(processor.id)
      const { notice } = yield* registry.announce(staff, { processorId: processor.id, audience: [objecting, other] })
      yield* registry.object(tenantKey, objecting, notice.id, { reason: "Our customers' data may not go to this provider" })
      yield* TestClock.adjust("30 days")
      const error = yield* Effect.flip(registry.approve(staff, processor.id))
      assert.strictEqual(error._tag, "ApprovalRefused")
      if (error._tag !== "ApprovalRefused") return
      assert.deepStrictEqual(error.missing, [{ _tag: "ObjectionUnresolved", noticeId: notice.id, objections: 1 }])
      assert.include(error.message, `tenants objected to notice ${notice.id}`)
      assert.notInclude(error.message, "customers' data")
      // The objection resolved (here, the tenant has left), the change is announced again.
      yield* registry.announce(staff, { processorId: processor.id, audience: [other] })
      yield* TestClock.adjust("30 days")
      assert.strictEqual((yield* registry.approve(staff, processor.id)).status._tag, "Approved")
    }))

  it.effect("an approved sub-processor does not take on a country a tenant objected to", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const tenant = yield* TenantId.make
      const processor = yield* approvedProcessor({ servesTenants: true })
      const { notice } = yield* registry.announce(staff, { processorId: processor.id, locations: ["DE", "CH"], audience: [tenant] })
      yield* registry.object(tenantKey, tenant, notice.id, { reason: "Not outside the EU" })
      yield* TestClock.adjust("30 days")
      const error = yield* Effect.flip(
        registry.update(staff, processor.id, processorInput({ servesTenants: true, locations: [{ country: "DE" }, { country: "CH", mechanism: { _tag: "Adequacy" } }] }))
      )
      assert.strictEqual(error._tag, "ChangeRefused")
      if (error._tag === "ChangeRefused") assert.deepStrictEqual(error.missing.map((r) => r._tag), ["ObjectionUnresolved"])
    }))
})

it.effect("with no tenant ever told of a change (none to tell), a notice to no tenant announces the processor", () =>
  Effect.gen(function*() {
    yield* atStart
    const registry = yield* ProcessorRegistry
    const processor = yield* registry.register(staff, processorInput({ servesTenants: true }))
    yield* completeReview(processor.id)
    yield* registry.announce(staff, { processorId: processor.id, audience: [] })
    yield* TestClock.adjust("30 days")
    assert.strictEqual((yield* registry.approve(staff, processor.id)).status._tag, "Approved")
  }).pipe(Effect.provide(layers.memory)))

// A processor approved on a derogation by an earlier version: it reads, and its transfer is flagged.
sqlSuite("Review 17 storage", layers.sql, (it) => {
  it.effect("a processor stored with a derogation reads, and the transfer is a finding and invalid in the record", () =>
    Effect.gen(function*() {
      yield* atStart
      const sql = yield* SqlClient.SqlClient
      const registry = yield* ProcessorRegistry
      const approved = yield* approvedProcessor({ legalName: uniqueId("Support Desk Ltda"), locations: [{ country: "DE" }, brazilScc] })
      yield* sql`UPDATE lawful_processors
        SET document = jsonb_set(document, '{locations,1,mechanism}', ${JSON.stringify(brazil("explicit-consent").mechanism)}::jsonb)
        WHERE processor_id = ${approved.id}`
      const stored = yield* registry.processor(approved.id)
      assert.strictEqual(stored.status._tag, "Approved")
      assert.strictEqual(stored.locations[1]?.mechanism?._tag, "Derogation")
      const findings = (yield* registry.findings).filter((f) => f.processorId === approved.id)
      assert.deepStrictEqual(
        findings.map((f) => f._tag === "TransferMechanismInvalid" ? [f._tag, f.country, f.reason] : [f._tag]),
        [["TransferMechanismInvalid", "BR", "derogation-not-for-processors"]]
      )
      const record = yield* registry.record(owner)
      const transfer = record.processorsWithoutActivity.find((p) => p.processorId === approved.id)?.transfers[0]
      assert.strictEqual(transfer?.country, "BR")
      assert.isFalse(transfer?.valid)
      assert.include(transfer?.mechanism, "Art. 49(1)(a)")
    }))
})
