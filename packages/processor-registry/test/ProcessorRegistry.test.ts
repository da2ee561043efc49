import { assert, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as TenantId from "@lawful/core/TenantId"
import * as Vault from "@lawful/core/Vault"
import { contractSuite, sqlSuite } from "@lawful/core/testing"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import { createHash } from "node:crypto"
import { platformTenant, ProcessorRegistry } from "../src/ProcessorRegistry.js"
import * as ProcessorRegistryModule from "../src/ProcessorRegistry.js"
import * as AuditRecorder from "./AuditRecorder.js"
import {
  approvedProcessor,
  atStart,
  completeReview,
  dayOf,
  dpaInput,
  failingAnswers,
  layers,
  layerSqlWithLog,
  otherAtNextAppend,
  otherServer,
  processorInput,
  publishQuestionnaire,
  staff,
  tenantKey,
  vaultMemory
} from "./fixtures.js"
import { suite } from "./ProcessorRegistrySuite.js"

contractSuite("ProcessorRegistry", layers, suite)

// What the SQL layer leaves in its tables.
sqlSuite("ProcessorRegistry storage", layers.sql, (it) => {
  it.effect("the registry's tables are platform-wide; notices received and objections lead with tenant_id", () =>
    Effect.gen(function*() {
      yield* atStart
      const sql = yield* SqlClient.SqlClient
      const registry = yield* ProcessorRegistry
      const tenant = yield* TenantId.make
      const processor = yield* registry.register(staff, processorInput({ servesTenants: true }))
      const { notice } = yield* registry.announce(staff, { processorId: processor.id, audience: [tenant] })
      yield* registry.object(tenantKey, tenant, notice.id, { reason: "We need to review this first" })

      const keys = yield* sql<{ table_name: string; column_name: string }>`
        SELECT c.relname AS table_name, a.attname AS column_name
        FROM pg_index i
        JOIN pg_class c ON c.oid = i.indrelid
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0]
        WHERE i.indisprimary AND c.relname IN ('lawful_processor_notice_recipients', 'lawful_processor_objections')
        ORDER BY c.relname`
      assert.deepStrictEqual(keys.map((k) => [k.table_name, k.column_name]), [
        ["lawful_processor_notice_recipients", "tenant_id"],
        ["lawful_processor_objections", "tenant_id"]
      ])
      const rows = yield* sql<{ tenant_id: string; reason: string }>`
        SELECT tenant_id, reason FROM lawful_processor_objections WHERE tenant_id = ${tenant}`
      assert.deepStrictEqual(rows.map((r) => [r.tenant_id, r.reason]), [[tenant, "We need to review this first"]])
      const migrations = yield* sql<{ name: string }>`SELECT name FROM lawful_processor_registry_migrations`
      assert.deepStrictEqual(migrations.map((m) => m.name), ["registry", "notice_recipients_by_notice"])
      // The platform's log id is no id `TenantId.make` gives.
      assert.notStrictEqual(tenant, platformTenant)
    }))

  it.effect("a commit that meets a concurrent change writes none of its changes", () =>
    Effect.gen(function*() {
      yield* atStart
      const sql = yield* SqlClient.SqlClient
      const registry = yield* ProcessorRegistry
      const approved = yield* approvedProcessor()
      const questionnaire = yield* publishQuestionnaire
      const assessment = yield* registry.submitAssessment(staff, approved.id, {
        questionnaireId: questionnaire.id,
        questionnaireVersion: 1,
        answers: failingAnswers
      })
      // Another replica changes the processor meanwhile.
      yield* sql`UPDATE lawful_processors SET revision = revision + 1 WHERE processor_id = ${approved.id}`
      const error = yield* Effect.flip(registry.decideAssessment(staff, assessment.id, { outcome: "unsatisfactory", notes: "no" }))
      assert.strictEqual(error._tag, "RegistryStoreError")
      assert.include(String(error._tag === "RegistryStoreError" && error.cause), "changed concurrently")
      assert.isUndefined((yield* registry.assessments(approved.id)).find((a) => a.id === assessment.id)?.decision)
      assert.strictEqual((yield* registry.processor(approved.id)).status._tag, "Approved")
    }))
})

it.effect("an entry written before reasons were keyed (`reasonSha256`) still checks against its reason", () =>
  Effect.gen(function*() {
    const reason = "Contract ended after John Doe's complaint"
    const legacy = {
      from: "Suspended",
      reason: "stated",
      reasonSha256: createHash("sha256").update(reason, "utf8").digest("hex"),
      reasonLength: reason.length
    }
    assert.isTrue(yield* ProcessorRegistryModule.statedReasonMatches(legacy, reason))
    assert.isFalse(yield* ProcessorRegistryModule.statedReasonMatches(legacy, `${reason}!`))
    assert.isFalse(yield* ProcessorRegistryModule.statedReasonMatches({ ...legacy, reasonLength: 3 }, reason))
    assert.isFalse(yield* ProcessorRegistryModule.statedReasonMatches({ reason: "assessment-unsatisfactory" }, reason))
  }).pipe(Effect.provide(vaultMemory)))

// The registry with its audit log on the same database, as the server keeps them: a change and
// its entries commit, or roll back, together.
sqlSuite(
  "ProcessorRegistry with its audit log on its database",
  layerSqlWithLog,
  (it, backend) => {
  it.effect("a stated reason's digest is made under the platform's key, made outside the change's transaction", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const vault = yield* Vault.Vault
      const recorder = yield* AuditRecorder.AuditRecorder
      // The platform has no key yet: the first reason makes it, which the key store refuses inside a transaction.
      assert.isTrue(Option.isNone(yield* vault.findBlindIndex(platformTenant, ProcessorRegistryModule.reasonDomain, "x")))
      const processor = yield* approvedProcessor()
      const reason = "Suspended while Ann Example's complaint is examined"
      yield* registry.suspend(staff, processor.id, reason)
      const [entry] = (yield* recorder.about(platformTenant, processor.id)).filter((e) =>
        e.action === "processor-registry.processor.suspended"
      )
      assert.strictEqual(entry?.details?.reasonHmac, yield* vault.blindIndex(platformTenant, ProcessorRegistryModule.reasonDomain, reason))
      assert.isTrue(yield* ProcessorRegistryModule.statedReasonMatches(entry?.details ?? {}, reason))
    }))

  it.effect("a change that fails at its commit leaves no entry in the log", () =>
    Effect.gen(function*() {
      yield* atStart
      const sql = yield* SqlClient.SqlClient
      const registry = yield* ProcessorRegistry
      const recorder = yield* AuditRecorder.AuditRecorder
      const processor = yield* registry.register(staff, processorInput())
      // Once the review has been checked, the row changes under it.
      yield* recorder.beforeNextAppend(
        Effect.orDie(sql`UPDATE lawful_processors SET revision = revision + 1 WHERE processor_id = ${processor.id}`)
      )
      const error = yield* Effect.flip(registry.startReview(staff, processor.id))
      assert.strictEqual(error._tag, "RegistryStoreError")
      assert.strictEqual((yield* registry.processor(processor.id)).status._tag, "Candidate")
      assert.deepStrictEqual(
        (yield* recorder.about(platformTenant, processor.id)).map((e) => e.action),
        ["processor-registry.processor.registered"]
      )
      assert.isTrue(yield* recorder.verifies(platformTenant))
    }))

  // Two servers need two sessions: PGlite is one.
  if (backend !== "postgres") return
  // The approval holds the processor's row from before its check to its commit, whatever the
  // processor serves: a DPA another server records meanwhile waits for it, then is judged as a
  // change of the approved processor, on the DPAs the approval committed with.
  it.scoped("a DPA another server records between an approval's check and its commit waits for it, then is judged on it", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const recorder = yield* AuditRecorder.AuditRecorder
      const other = yield* otherServer
      const processor = yield* registry.register(staff, processorInput())
      yield* completeReview(processor.id, { dpa: { version: "2026-01", signedOn: dayOf(-5) } })
      // Once the approval has found every requirement met, the other server starts recording a
      // newer DPA, already expired (it would be the current one), on a connection of its own.
      const recording = yield* otherAtNextAppend(
        other.recordDpa(staff, processor.id, dpaInput({ version: "2026-02", signedOn: dayOf(-3), expiresOn: dayOf(-2) })),
        { watch: true }
      )
      const approved = yield* registry.approve(staff, processor.id)
      const refused = yield* Effect.flip(Fiber.join(recording.fiber))
      assert.isTrue(yield* recording.waited, "the DPA waits for the approval")
      assert.strictEqual(approved.status._tag, "Approved")
      // The DPA would leave the approved processor without one in force: refused, not stored.
      assert.strictEqual(refused._tag, "ChangeRefused")
      assert.deepStrictEqual(refused._tag === "ChangeRefused" ? refused.missing.map((r) => r._tag) : [], ["SignedDpa"])
      assert.deepStrictEqual((yield* registry.dpas(processor.id)).map((d) => d.version), ["2026-01"])
      assert.deepStrictEqual(yield* registry.requirements(processor.id), [])
      // The log tells what was stored: one approval, one DPA.
      const logged = (yield* recorder.all).filter((r) =>
        r.tenant === platformTenant &&
        (r.event.resource?.id === processor.id || r.event.details?.processorId === processor.id)
      ).map((r) => r.event.action)
      assert.strictEqual(logged.filter((action) => action === "processor-registry.processor.approved").length, 1)
      assert.strictEqual(logged.filter((action) => action === "processor-registry.dpa.recorded").length, 1)
    }))
  }
)
