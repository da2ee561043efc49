import { assert } from "@effect/vitest"
import * as SubjectId from "@lawful/core/SubjectId"
import * as TenantId from "@lawful/core/TenantId"
import { failCommitsOn, sqlSuite } from "@lawful/core/testing"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as AuditLog from "../src/AuditLog.js"
import * as AuditStore from "../src/AuditStore.js"
import * as CheckpointPublisher from "../src/CheckpointPublisher.js"
import { event } from "./AuditLogSuite.js"

const log = AuditLog.layer.pipe(
  Layer.provide(AuditStore.layerSql),
  Layer.provide(Layer.mergeAll(AuditLog.AuditSigner.layerRandom, CheckpointPublisher.layerMemory))
)

sqlSuite("AuditLog when a COMMIT fails", log, (it) => {
  it.effect("a de-link whose commit fails fails with AuditStoreError, not a defect, and changes nothing", () =>
    Effect.gen(function*() {
      const audit = yield* AuditLog.AuditLog
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      yield* audit.appendAll(tenant, [event(0, { subject }), event(1, { subject })])
      const failing = failCommitsOn({ table: "lawful_audit_entries", column: "tenant_id", value: tenant, on: "UPDATE" })
      const exit = yield* Effect.exit(
        Effect.scoped(Effect.zipRight(failing, audit.delinkSubject(tenant, subject, { kind: "system", id: "erasure" })))
      )
      assert.isTrue(Exit.isFailure(exit) && Option.isNone(Cause.dieOption(exit.cause)), "no defect")
      const error = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
      assert.isTrue(Option.isSome(error) && error.value._tag === "AuditStoreError" && error.value.operation === "delinkSubject")
      // Rolled back: the entries are still the subject's, and no de-link entry was appended.
      assert.strictEqual(yield* audit.size(tenant), 2)
      assert.strictEqual((yield* audit.query(tenant, { subject })).entries.length, 2)
      assert.isTrue((yield* audit.verify(tenant)).ok)
      // Once commits go through again, the de-link does.
      assert.strictEqual(yield* audit.delinkSubject(tenant, subject, { kind: "system", id: "erasure" }), 2)
    }))
})
