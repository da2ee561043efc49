// Review 19: a change judged on a processor's objections (an approval, a change to an engaged
// processor of tenants' data) reads them after locking the processor's row, in its transaction:
// an objection committed before is seen, one under way is waited for and seen, and one begun
// after waits for the change to commit and is judged as any later objection is (a finding). The
// change is checked once and appended to the audit log once: with the log apart from the
// registry's database, no entry is left for a change that was not made.
import * as SqlClient from "@effect/sql/SqlClient"
import { assert } from "@effect/vitest"
import { sqlSuite } from "@lawful/core/testing"
import * as TenantId from "@lawful/core/TenantId"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/TestClock"
import { platformTenant, ProcessorRegistry } from "../src/ProcessorRegistry.js"
import * as AuditRecorder from "./AuditRecorder.js"
import {
  actionsAbout,
  announcedAndDue,
  approvedProcessor,
  atStart,
  clockAt,
  layers,
  layerSqlWithLog,
  objectionHeldOpen,
  otherAtNextAppend,
  otherServer,
  processorInput,
  staff,
  tenantKey,
  waitsFor
} from "./fixtures.js"

const purposes = ["delivering email", "engagement analytics"] as const

// The registry on SQL with its audit log apart (in memory: an entry appended is kept whatever
// becomes of the registry's transaction), and on the registry's database (entries commit with the
// change, and an append holds the log until then), as the server keeps it.
for (const [where, layer] of [["apart", layers.sql], ["on the registry's database", layerSqlWithLog]] as const) {
  sqlSuite(`Review 19 with the audit log ${where}`, layer, (it, backend) => {
    it.scoped("an objection begun between an approval's check and its commit waits for it, then is a finding", () =>
      Effect.gen(function*() {
        yield* atStart
        const registry = yield* ProcessorRegistry
        const recorder = yield* AuditRecorder.AuditRecorder
        const other = yield* otherServer
        const tenant = yield* TenantId.make
        const { notice, processor } = yield* announcedAndDue(tenant)
        // The other server's objection, forked outside the approval's transaction, on a connection of
        // its own.
        // Once the approval has been checked, before its entry is appended, the objection starts.
        // On PostgreSQL the approval goes on once the objection waits for its session's lock of the
        // processor's row (or is done, which fails the test). PGlite is one session, which the
        // approval's transaction holds: the objection waits for it whatever the registry locks, so
        // there only the outcome below is checked.
        const objecting = yield* otherAtNextAppend(
          other.object(tenantKey, tenant, notice.id, { reason: "not for our contacts" }).pipe(
            Effect.withClock(clockAt(notice.objectionDeadline.getTime() - 60_000))
          ),
          { watch: backend === "postgres" }
        )
        const approved = yield* Effect.exit(registry.approve(staff, processor.id))
        const objected = yield* Effect.exit(Fiber.join(objecting.fiber))
        if (backend === "postgres") assert.isTrue(yield* objecting.waited, "the objection waits for the approval")
        assert.isTrue(Exit.isSuccess(approved) && approved.value.status._tag === "Approved", String(approved))
        assert.isTrue(Exit.isSuccess(objected), String(objected))
        assert.strictEqual((yield* registry.objections(notice.id)).length, 1)
        // Logged once each, in the order they were made.
        const logged = (yield* recorder.all)
          .filter((r) => r.tenant === platformTenant)
          .filter((r) => r.event.resource?.id === processor.id || r.event.resource?.id === notice.id)
          .map((r) => r.event.action)
        assert.deepStrictEqual(logged.slice(-2), ["processor-registry.processor.approved", "processor-registry.objection.recorded"])
        assert.strictEqual(logged.filter((action) => action === "processor-registry.processor.approved").length, 1)
        const findings = (yield* registry.findings).filter((f) => f.processorId === processor.id)
        assert.deepStrictEqual(findings.map((f) => f._tag), ["ObjectionUnresolved"])
      }))

    // Two servers need two sessions at once: PGlite is one, and runs one transaction at a time.
    if (backend !== "postgres") return

    it.scoped("an approval meeting an objection under way is refused on it, and leaves no entry in the log", () =>
      Effect.gen(function*() {
        yield* atStart
        const registry = yield* ProcessorRegistry
        const sql = yield* SqlClient.SqlClient
        const tenant = yield* TenantId.make
        const { notice, processor } = yield* announcedAndDue(tenant)
        const objection = yield* objectionHeldOpen(yield* otherServer, tenant, notice)
        const approving = yield* Effect.fork(registry.approve(staff, processor.id))
        const waited = yield* waitsFor(sql, approving, objection.holder)
        yield* objection.commit
        const outcome = yield* Effect.either(Fiber.join(approving))
        assert.isTrue(waited, "the approval waits for the objection's transaction")
        assert.deepStrictEqual(
          Either.isLeft(outcome) && outcome.left._tag === "ApprovalRefused" ? outcome.left.missing : [],
          [{ _tag: "ObjectionUnresolved", noticeId: notice.id, objections: 1 }]
        )
        assert.strictEqual((yield* registry.processor(processor.id)).status._tag, "UnderReview")
        assert.notInclude(yield* actionsAbout(processor.id), "processor-registry.processor.approved")
      }))

    it.scoped("a change to an approved processor meeting an objection under way is refused on it, and leaves no entry", () =>
      Effect.gen(function*() {
        yield* atStart
        const registry = yield* ProcessorRegistry
        const sql = yield* SqlClient.SqlClient
        const tenant = yield* TenantId.make
        const processor = yield* approvedProcessor({ servesTenants: true })
        const { notice } = yield* registry.announce(staff, { processorId: processor.id, purposes, audience: [tenant] })
        yield* TestClock.adjust("30 days")
        const objection = yield* objectionHeldOpen(yield* otherServer, tenant, notice)
        const updating = yield* Effect.fork(registry.update(staff, processor.id, processorInput({ servesTenants: true, purposes })))
        const waited = yield* waitsFor(sql, updating, objection.holder)
        yield* objection.commit
        const outcome = yield* Effect.either(Fiber.join(updating))
        assert.isTrue(waited, "the change waits for the objection's transaction")
        assert.deepStrictEqual(
          Either.isLeft(outcome) && outcome.left._tag === "ChangeRefused" ? outcome.left.missing : [],
          [{ _tag: "ObjectionUnresolved", noticeId: notice.id, objections: 1 }]
        )
        assert.deepStrictEqual((yield* registry.processor(processor.id)).purposes, ["delivering email"])
        assert.notInclude(yield* actionsAbout(processor.id), "processor-registry.processor.updated")
      }))
  })
}
