// Review 18: an objection another server has under way when an approval is checked stops the
// approval (the approval waits for it), and one begun after the check waits for the approval and
// is a finding (on SQL in Review19.test.ts); a suspended
// processor of tenants' data takes on a country or purpose only as an approved one does; a
// `__proto__` key among a questionnaire's answers is refused, not dropped;
// a notice stored for no tenant while there were tenants to tell (by an earlier version)
// announces nothing.
import * as SqlClient from "@effect/sql/SqlClient"
import { assert } from "@effect/vitest"
import * as Database from "@lawful/core/Database"
import { contractSuite, sqlSuite } from "@lawful/core/testing"
import * as TenantId from "@lawful/core/TenantId"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as ChangeNotice from "../src/ChangeNotice.js"
import { sqlStore } from "../src/internal/sqlStore.js"
import { ProcessorRegistry } from "../src/ProcessorRegistry.js"
import * as ProcessorRegistryModule from "../src/ProcessorRegistry.js"
import * as AuditRecorder from "./AuditRecorder.js"
import {
  announcedAndDue,
  approvedProcessor,
  atStart,
  clockAt,
  completeReview,
  layers,
  layerSqlWithLog,
  objectionHeldOpen,
  passingAnswers,
  processorInput,
  publishQuestionnaire,
  staff,
  tenantKey,
  waitsFor
} from "./fixtures.js"

contractSuite("Review 18", layers, (it, backend) => {
  it.effect("a suspended processor of tenants' data takes on no country or purpose its tenants were not told of", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const processor = yield* approvedProcessor({ servesTenants: true })
      yield* registry.suspend(staff, processor.id, "security incident under investigation")
      const purposes = ["delivering email", "engagement analytics"] as const
      const refused = yield* Effect.flip(registry.update(staff, processor.id, processorInput({ servesTenants: true, purposes })))
      assert.strictEqual(refused._tag, "ChangeRefused")
      assert.deepStrictEqual(refused._tag === "ChangeRefused" ? refused.missing.map((r) => r._tag) : [], ["ChangeAnnounced"])
      const country = processorInput({
        servesTenants: true,
        locations: [{ country: "DE" }, { country: "CH", mechanism: { _tag: "Adequacy" } }]
      })
      assert.strictEqual((yield* Effect.flip(registry.update(staff, processor.id, country)))._tag, "ChangeRefused")
      assert.deepStrictEqual((yield* registry.processor(processor.id)).purposes, ["delivering email"])

      // Announced, and the period run without objection: taken on while suspended, then reinstated.
      yield* registry.announce(staff, { processorId: processor.id, purposes, audience: [yield* TenantId.make] })
      yield* TestClock.adjust("30 days")
      const changed = yield* registry.update(staff, processor.id, processorInput({ servesTenants: true, purposes }))
      assert.deepStrictEqual<ReadonlyArray<string>>(changed.purposes, purposes)
      assert.strictEqual(changed.status._tag, "Suspended")
      assert.strictEqual((yield* registry.approve(staff, processor.id)).status._tag, "Approved")
    }))

  it.effect("a suspended processor of tenants' data takes on no purpose only a notice tenants objected to named", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const tenant = yield* TenantId.make
      const processor = yield* approvedProcessor({ servesTenants: true })
      const purposes = ["delivering email", "engagement analytics"] as const
      const { notice } = yield* registry.announce(staff, { processorId: processor.id, purposes, audience: [tenant] })
      yield* registry.object(tenantKey, tenant, notice.id, { reason: "not for our contacts" })
      yield* TestClock.adjust("30 days")
      yield* registry.suspend(staff, processor.id, "security incident under investigation")
      const refused = yield* Effect.flip(registry.update(staff, processor.id, processorInput({ servesTenants: true, purposes })))
      assert.strictEqual(refused._tag, "ChangeRefused")
      assert.deepStrictEqual(
        refused._tag === "ChangeRefused" ? refused.missing : [],
        [{ _tag: "ObjectionUnresolved", noticeId: notice.id, objections: 1 }]
      )
    }))

  it.effect("a __proto__ key among the answers is refused as a whole, not quoted, never dropped", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const processor = yield* registry.register(staff, processorInput())
      const questionnaire = yield* publishQuestionnaire
      for (const extra of ['"__proto__": true', '"__proto__": "a text answer"']) {
        const answers = JSON.parse(`{${JSON.stringify(passingAnswers).slice(1, -1)}, ${extra}}`)
        assert.isTrue(Object.hasOwn(answers, "__proto__"))
        const refused = yield* Effect.flip(registry.submitAssessment(staff, processor.id, {
          questionnaireId: questionnaire.id,
          questionnaireVersion: questionnaire.version,
          answers
        }))
        assert.strictEqual(refused._tag, "InvalidInput")
        const message = refused._tag === "InvalidInput" ? refused.message : ""
        // Refused as a whole, as answers that do not decode are.
        assert.include(message, "answers: expected answers by question id")
        assert.notInclude(message, "proto")
        assert.notInclude(message, "a text answer")
      }
      assert.deepStrictEqual(yield* registry.assessments(processor.id), [])
    }))

  // In memory changes are made one at a time (the registry's lock, and the store's transactions),
  // so an objection comes before an approval's check or after its commit, never in between.
  if (backend === "memory") {
    it.effect("in memory the registry's lock has an objection wait for an approval under way, and it is a finding once recorded", () =>
      Effect.gen(function*() {
        yield* atStart
        const registry = yield* ProcessorRegistry
        const recorder = yield* AuditRecorder.AuditRecorder
        const tenant = yield* TenantId.make
        const { notice, processor } = yield* announcedAndDue(tenant)
        // The approval is held between its check and its commit until the test releases it.
        const held = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        yield* recorder.beforeNextAppend(Effect.zipRight(Deferred.succeed(held, undefined), Deferred.await(release)))
        const approving = yield* Effect.fork(registry.approve(staff, processor.id))
        yield* Deferred.await(held)
        const objecting = yield* Effect.fork(
          registry.object(tenantKey, tenant, notice.id, { reason: "not for our contacts" }).pipe(
            Effect.withClock(clockAt(notice.objectionDeadline.getTime() - 60_000))
          )
        )
        // Time enough for the objection to be recorded, were it not waiting: each store round trip
        // in memory yields once, and recording one takes a handful.
        yield* Effect.repeatN(Effect.yieldNow(), 100)
        assert.isTrue(Option.isNone(yield* Fiber.poll(objecting)), "the objection waits for the approval")
        yield* Deferred.succeed(release, undefined)
        assert.strictEqual((yield* Fiber.join(approving)).status._tag, "Approved")
        yield* Fiber.join(objecting)
        // Logged in that order: the approval, then the objection.
        const logged = (yield* recorder.all)
          .filter((r) => r.tenant === ProcessorRegistryModule.platformTenant)
          .filter((r) => r.event.resource?.id === processor.id || r.event.resource?.id === notice.id)
          .map((r) => r.event.action)
        assert.deepStrictEqual(logged.slice(-2), ["processor-registry.processor.approved", "processor-registry.objection.recorded"])
        const findings = (yield* registry.findings).filter((f) => f.processorId === processor.id)
        assert.deepStrictEqual(findings.map((f) => f._tag), ["ObjectionUnresolved"])
      }))
  }
})

sqlSuite("Review 18 on SQL", layerSqlWithLog, (it, backend) => {
  it.effect("a notice an earlier version stored for no tenant, when tenants had been told before, announces nothing", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const tenant = yield* TenantId.make
      // Tenants have been told of a change: there are tenants to tell.
      const told = yield* registry.register(staff, processorInput({ servesTenants: true }))
      yield* registry.announce(staff, { processorId: told.id, audience: [tenant] })
      const processor = yield* registry.register(staff, processorInput({ servesTenants: true }))
      yield* completeReview(processor.id)
      yield* TestClock.adjust("1 minute")
      // Written as an earlier version, without the empty-audience rule, stored it.
      const store = yield* sqlStore((operation) => (cause) => ({ operation, cause }))
      const at = new Date(yield* Clock.currentTimeMillis)
      const hollow = new ChangeNotice.ChangeNotice({
        id: yield* ChangeNotice.makeId,
        kind: "addition",
        processorId: processor.id,
        processorName: processor.legalName,
        services: processor.services,
        locations: processor.locations.map((l) => l.country),
        purposes: processor.purposes,
        description: "added",
        publishedAt: at,
        objectionDeadline: new Date(at.getTime() + 30 * 24 * 60 * 60 * 1000)
      })
      yield* store.commit([{ _tag: "InsertNotice", notice: hollow, audience: [] }])
      yield* TestClock.adjust("30 days")
      const refused = yield* Effect.flip(registry.approve(staff, processor.id))
      assert.strictEqual(refused._tag, "ApprovalRefused")
      assert.deepStrictEqual(refused._tag === "ApprovalRefused" ? refused.missing.map((r) => r._tag) : [], ["ChangeAnnounced"])
      // Announced to the tenants, it is approved.
      yield* registry.announce(staff, { processorId: processor.id, audience: [tenant] })
      yield* TestClock.adjust("30 days")
      assert.strictEqual((yield* registry.approve(staff, processor.id)).status._tag, "Approved")
    }))

  // Two servers need two sessions: PGlite is one, and runs one transaction at a time.
  if (backend !== "postgres") return
  it.scoped("an approval committing while another server's objection is under way waits for it, and is refused", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const sql = yield* SqlClient.SqlClient
      // Another server, its audit log elsewhere (in memory): its entries take no lock of this
      // server's log, so what the approval can wait for is the processor's row alone.
      const other = yield* Layer.build(
        Layer.fresh(ProcessorRegistryModule.layerSql).pipe(Layer.provide(AuditRecorder.layer))
      ).pipe(Effect.map(Context.get(ProcessorRegistry)))
      const tenant = yield* TenantId.make
      const { notice, processor } = yield* announcedAndDue(tenant)
      // The other server records the objection in a transaction the test holds open: the row is
      // written, not committed, and the processor's row share-locked.
      const objection = yield* objectionHeldOpen(other, tenant, notice)
      // The approval finds no objection (none is committed), and commits.
      const approving = yield* Effect.fork(registry.approve(staff, processor.id))
      const waited = yield* waitsFor(sql, approving, objection.holder)
      yield* objection.commit
      const outcome = yield* Effect.either(Fiber.join(approving))
      assert.isTrue(waited, "the approval's commit waits for the objection's transaction")
      assert.isTrue(Either.isLeft(outcome), "the approval is refused")
      assert.deepStrictEqual(
        Either.isLeft(outcome) && outcome.left._tag === "ApprovalRefused" ? outcome.left.missing : [],
        [{ _tag: "ObjectionUnresolved", noticeId: notice.id, objections: 1 }]
      )
      assert.strictEqual((yield* registry.processor(processor.id)).status._tag, "UnderReview")
      assert.strictEqual((yield* registry.objections(notice.id)).length, 1)
    }))
})
