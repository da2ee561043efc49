import { assert } from "@effect/vitest"
import * as TenantId from "@lawful/core/TenantId"
import { failCommitsOn, sqlSuite } from "@lawful/core/testing"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { randomUUID } from "node:crypto"
import * as ConsentStore from "../src/ConsentStore.js"

sqlSuite("ConsentStore when a COMMIT fails", ConsentStore.layerSql, (it) => {
  it.effect("a claim whose commit fails fails with ConsentStoreError, not a defect, and saves nothing", () =>
    Effect.gen(function*() {
      const store = yield* ConsentStore.ConsentStore
      const tenant = yield* TenantId.make
      const now = new Date(Date.UTC(2026, 0, 1))
      const record: ConsentStore.ImportRecord = {
        importId: randomUUID(),
        attestation: { source: "test" },
        attestationHash: "0".repeat(64),
        startedAt: now,
        report: Option.none()
      }
      const claim: ConsentStore.ImportClaim = {
        keyHash: "1".repeat(64),
        optionsHash: "2".repeat(64),
        token: randomUUID(),
        now,
        until: new Date(now.getTime() + 60_000)
      }
      const failing = failCommitsOn({ table: "lawful_consent_imports", column: "tenant_id", value: tenant })
      const exit = yield* Effect.exit(Effect.scoped(Effect.zipRight(failing, store.claimImport(tenant, record, claim))))
      assert.isTrue(Exit.isFailure(exit) && Option.isNone(Cause.dieOption(exit.cause)), "no defect")
      const error = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
      assert.isTrue(Option.isSome(error) && error.value._tag === "ConsentStoreError" && error.value.operation === "claimImport")
      assert.isTrue(Option.isNone(yield* store.importOf(tenant, record.importId)), "rolled back")
      // Once commits go through again, the claim does.
      assert.strictEqual((yield* store.claimImport(tenant, record, claim))._tag, "Started")
    }))
})
