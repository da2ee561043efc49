// Review 16c: the record of processing activities names every processor that holds or may
// receive personal data (engaged ones linked to no activity, terminated ones whose data is not yet
// returned or deleted); two servers recording the same objection at once give the second
// `ObjectionAlreadyRecorded`, as one after the other does, with one entry logged; and a refusal of
// free text names the field and what is expected, never the text.
import { assert } from "@effect/vitest"
import { contractSuite, sqlSuite } from "@lawful/core/testing"
import * as TenantId from "@lawful/core/TenantId"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as ProcessingRecord from "../src/ProcessingRecord.js"
import { platformTenant, ProcessorRegistry } from "../src/ProcessorRegistry.js"
import * as ProcessorRegistryModule from "../src/ProcessorRegistry.js"
import * as AuditRecorder from "./AuditRecorder.js"
import {
  approvedProcessor,
  atStart,
  dayOf,
  dpaInput,
  layers,
  layerSqlWithLog,
  otherServer,
  owner,
  processorInput,
  questionnaireInput,
  staff,
  tenantKey,
  uniqueId
} from "./fixtures.js"

// Text naming a person, too long for any free-text field of the package (500 characters at most).
const naming = "Ann Example, sole trader; ".repeat(25)

contractSuite("Review 16c", layers, (it) => {
  it.effect("the record names every processor that holds data: engaged without an activity, terminated with its data pending", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const unlinked = yield* approvedProcessor({ legalName: uniqueId("Unlinked Mail GmbH") })
      const linked = yield* approvedProcessor({ legalName: uniqueId("Linked Mail GmbH") })
      const pending = yield* approvedProcessor({ legalName: uniqueId("Pending Mail GmbH") })
      const deleted = yield* approvedProcessor({ legalName: uniqueId("Deleted Mail GmbH") })
      const candidate = yield* registry.register(staff, processorInput({ legalName: uniqueId("Candidate Mail GmbH") }))
      const activity = yield* registry.recordActivity(staff, {
        id: uniqueId("newsletters"),
        name: uniqueId("Newsletters"),
        actingAs: "controller",
        purposes: ["sending newsletters"],
        legalBasis: "consent",
        subjectCategories: ["subscribers"],
        dataCategories: ["contact.email"],
        processors: [linked.id],
        otherRecipients: []
      })
      // Terminated without a disposition: the data is pending return or deletion.
      yield* registry.terminate(staff, linked.id, { reason: "Contract ended" })
      yield* registry.terminate(staff, pending.id, { reason: "Contract ended" })
      yield* registry.terminate(staff, deleted.id, { reason: "Contract ended", dataDisposition: "deleted" })

      const record = yield* registry.record(owner)
      const csv = ProcessingRecord.toCsv(record)
      const rowsNaming = (name: string) => csv.split("\r\n").filter((line) => line.includes(name))
      assert.strictEqual(rowsNaming(unlinked.legalName).length, 1, "an engaged processor linked to no activity has its row")
      assert.strictEqual(rowsNaming(pending.legalName).length, 1, "a terminated processor whose data is pending has its row")
      const activityRows = rowsNaming(activity.name)
      assert.strictEqual(activityRows.length, 1)
      assert.include(activityRows[0], `${linked.legalName} (processor, terminated: data not yet returned or deleted)`)
      assert.deepStrictEqual(rowsNaming(deleted.legalName), [])
      assert.deepStrictEqual(rowsNaming(candidate.legalName), [])

      // In JSON: the activity's recipients, and the processors linked to no activity.
      const entry = record.asController.find((e) => e.activityId === activity.id)
      assert.deepStrictEqual(
        entry?.recipients.map((r) => [r.processorId, r.status]),
        [[linked.id, "terminated-data-pending"]]
      )
      const without = record.processorsWithoutActivity.filter((p) =>
        [unlinked.id, linked.id, pending.id, deleted.id, candidate.id].includes(p.processorId)
      )
      assert.deepStrictEqual(without.map((p) => [p.name, p.status]), [
        [unlinked.legalName, "approved"],
        [pending.legalName, "terminated-data-pending"]
      ])
      assert.deepStrictEqual(without[0]?.purposes, unlinked.purposes)
      const html = ProcessingRecord.toHtml(record)
      assert.include(html, unlinked.legalName)
      assert.include(html, pending.legalName)
      assert.notInclude(html, deleted.legalName)
      // Confirmed deleted, it leaves the record.
      yield* registry.confirmDataDisposition(staff, pending.id, "deleted")
      assert.isUndefined((yield* registry.record(owner)).processorsWithoutActivity.find((p) => p.processorId === pending.id))
    }))

  it.effect("a refusal of free text names the field and what is expected, never the text", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const processor = yield* registry.register(staff, processorInput({ servesTenants: true }))
      const us = (mechanism: unknown) =>
        processorInput({ locations: [{ country: "DE" }, { country: "US", mechanism: mechanism as never }] })
      const activity = {
        id: uniqueId("activity"),
        name: "Newsletters",
        actingAs: "controller" as const,
        purposes: ["sending newsletters"] as const,
        subjectCategories: ["subscribers"] as const,
        dataCategories: ["contact.email"] as const,
        processors: [],
        otherRecipients: []
      }
      const questionnaire = questionnaireInput(uniqueId("security"))
      const cases: ReadonlyArray<readonly [string, Effect.Effect<unknown, { readonly _tag: string; readonly message: string }>]> = [
        ["services[0]", registry.register(staff, processorInput({ services: [naming] }))],
        ["purposes[0]", registry.update(staff, processor.id, processorInput({ purposes: [naming] }))],
        ["locations[0].description", registry.register(staff, processorInput({ locations: [{ country: "DE", description: naming }] }))],
        [
          "locations[1].mechanism.transferImpactAssessment",
          registry.register(staff, us({ _tag: "StandardContractualClauses", module: 2, signedOn: dayOf(-1), transferImpactAssessment: ` ${naming}` }))
        ],
        [
          "locations[1].mechanism.justification",
          registry.register(staff, us({ _tag: "Derogation", ground: "explicit-consent", justification: `${naming} ` }))
        ],
        ["name", registry.recordActivity(staff, { ...activity, name: naming })],
        ["otherRecipients[0]", registry.recordActivity(staff, { ...activity, otherRecipients: [naming] })],
        ["retention", registry.recordActivity(staff, { ...activity, retention: naming })],
        ["dataProtectionOfficer", registry.record({ ...owner, dataProtectionOfficer: naming.repeat(10) })],
        ["measures[0].description", registry.annex({ ...owner, measures: [{ area: "Access", description: naming.repeat(10) }] })],
        ["title", registry.publishQuestionnaire(staff, { ...questionnaire, title: naming.repeat(10) })],
        ["version", registry.recordDpa(staff, processor.id, dpaInput({ version: naming }))],
        ["purposes[0]", registry.announce(staff, { processorId: processor.id, purposes: [naming], audience: [] })]
      ]
      for (const [field, operation] of cases) {
        const error = yield* Effect.flip(operation)
        assert.strictEqual(error._tag, "InvalidInput", field)
        const issues = error._tag === "InvalidInput" ? (error as ProcessorRegistryModule.InvalidInput).issues : []
        assert.isTrue(issues.some((issue) => issue.startsWith(`${field}: `)), `${field}: ${issues.join(" | ")}`)
        assert.notInclude(JSON.stringify(error), "Ann Example", field)
        assert.notInclude(error.message, "Ann Example", field)
      }
    }))
})

// A sub-processor of the tenants, and an open notice of it sent to a new tenant.
const noticeToTenant = Effect.gen(function*() {
  const registry = yield* ProcessorRegistry
  const tenant = yield* TenantId.make
  const processor = yield* approvedProcessor({ servesTenants: true })
  const { notice } = yield* registry.announce(staff, { processorId: processor.id, audience: [tenant] })
  return { tenant, notice }
})

// The audit log on the registry's database, as the server keeps it, and a second server.
sqlSuite("Review 16c on SQL", layerSqlWithLog, (it, backend) => {
  it.scoped("the same objection from two servers at once is recorded once; the other gets ObjectionAlreadyRecorded", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const recorder = yield* AuditRecorder.AuditRecorder
      const other = yield* otherServer
      const { notice, tenant } = yield* noticeToTenant
      const outcomes = yield* Effect.all(
        Array.from({ length: 6 }, (_, i) =>
          Effect.either((i % 2 === 0 ? registry : other).object(tenantKey, tenant, notice.id, { reason: `Objection ${i}` }))),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(outcomes.filter(Either.isRight).length, 1)
      for (const outcome of outcomes.filter(Either.isLeft)) assert.strictEqual(outcome.left._tag, "ObjectionAlreadyRecorded")
      assert.strictEqual((yield* registry.objections(notice.id)).length, 1)
      for (const log of [tenant, platformTenant]) {
        const recorded = (yield* recorder.about(log, notice.id)).filter((e) => e.action === "processor-registry.objection.recorded")
        assert.strictEqual(recorded.length, 1)
        assert.isTrue(yield* recorder.verifies(log))
      }
    }))

  // The race made certain: the other server records the objection between this one's checks and
  // its commit. PGlite is one session, whose transactions run one after another: no such race.
  if (backend !== "postgres") return
  it.scoped("an objection another server recorded after this one's checks is ObjectionAlreadyRecorded, its entry rolled back", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const recorder = yield* AuditRecorder.AuditRecorder
      const other = yield* otherServer
      const { notice, tenant } = yield* noticeToTenant
      // The other server's request, forked outside this one's transaction, runs when told to.
      const go = yield* Deferred.make<void>()
      const done = yield* Deferred.make<Exit.Exit<unknown, { readonly _tag: string }>>()
      yield* Deferred.await(go).pipe(
        Effect.zipRight(Effect.exit(other.object(tenantKey, tenant, notice.id, { reason: "From the other server" }))),
        Effect.flatMap((exit) => Deferred.succeed(done, exit)),
        Effect.fork
      )
      yield* recorder.beforeNextAppend(Deferred.succeed(go, undefined).pipe(Effect.zipRight(Deferred.await(done)), Effect.asVoid))
      const error = yield* Effect.flip(registry.object(tenantKey, tenant, notice.id, { reason: "From this server" }))
      assert.isTrue(Exit.isSuccess(yield* Deferred.await(done)))
      assert.strictEqual(error._tag, "ObjectionAlreadyRecorded", error.message)
      assert.deepStrictEqual((yield* registry.objections(notice.id)).map((o) => o.reason), ["From the other server"])
      for (const log of [tenant, platformTenant]) {
        const recorded = (yield* recorder.about(log, notice.id)).filter((e) => e.action === "processor-registry.objection.recorded")
        assert.strictEqual(recorded.length, 1)
        assert.isTrue(yield* recorder.verifies(log))
      }
    }))
})
