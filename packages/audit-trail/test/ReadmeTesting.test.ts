// The README's "Testing a store that records" example, run as the README shows it: the contract
// suite of a store that needs the Vault and the audit trail, on memory, PGlite and PostgreSQL.
import { it as plain } from "@effect/vitest"
import { readmeShows } from "@lawful/core/testing"
import * as MyStore from "./fixtures/MyStore.js"

// readme:start testing
import { assert } from "@effect/vitest"
import { AuditLog } from "@lawful/audit-trail"
import { auditMemory, auditSql } from "@lawful/audit-trail/testing"
import { SubjectDirectory, TenantId } from "@lawful/core"
import { contractSuite, coreMemory, coreSql } from "@lawful/core/testing"
import { Effect, Layer, Option } from "effect"

contractSuite("MyStore", {
  memory: MyStore.layerMemory.pipe(Layer.provideMerge(Layer.merge(coreMemory, auditMemory))),
  sql: MyStore.layerSql.pipe(Layer.provideMerge(Layer.merge(coreSql, auditSql)))
}, (it) => {
  it.effect("keeps what it is given, and records that it did", () =>
    Effect.gen(function*() {
      const store = yield* MyStore.MyStore
      const log = yield* AuditLog.AuditLog
      const tenant = yield* TenantId.make
      const subject = yield* (yield* SubjectDirectory.SubjectDirectory).resolve(tenant, "ann@example.com")
      yield* store.keep(tenant, subject, "prefers letters")
      assert.deepStrictEqual(yield* store.read(tenant, subject), Option.some("prefers letters"))
      const { entries } = yield* log.query(tenant, { subject })
      assert.deepStrictEqual(entries.map((entry) => entry.action), ["note.kept"])
    }))
})
// readme:end testing

plain("the README shows the contract suite of a store that records as the test runs it", () => {
  assert.deepStrictEqual(
    readmeShows(new URL("../README.md", import.meta.url), new URL(import.meta.url), "testing"),
    { ok: true }
  )
})
