import { assert } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as AuditLog from "@lawful/audit-trail/AuditLog"
import * as SubjectDirectory from "@lawful/core/SubjectDirectory"
import { sqlSuite } from "@lawful/core/testing"
import * as Vault from "@lawful/core/Vault"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { ConsentLedger } from "../src/ConsentLedger.js"
import { attestation, tenantWithLists } from "./fixtures.js"
import { sql } from "./layers.js"

sqlSuite("ConsentLedger import inside a SQL transaction", sql, (it) => {
  it.effect("an import inside a transaction commits with it, or leaves nothing when it rolls back", () =>
    Effect.gen(function*() {
      const client = yield* SqlClient.SqlClient
      const ledger = yield* ConsentLedger
      const log = yield* AuditLog.AuditLog
      const vault = yield* Vault.Vault
      const directory = yield* SubjectDirectory.SubjectDirectory
      const tenant = yield* tenantWithLists
      yield* vault.prepare(tenant, 60)
      const request = (prefix: string) => ({
        attestation,
        lists: ["news"],
        actor: { kind: "api-key" as const, id: "import-key" },
        batchSize: 5,
        contacts: Array.from({ length: 23 }, (_, i) => ({ email: `${prefix}${i}@example.com` }))
      })
      const before = yield* log.size(tenant)

      const report = yield* client.withTransaction(ledger.importContacts(tenant, request("kept")))
      assert.strictEqual(report.recorded, 23)
      const size = yield* log.size(tenant)
      assert.isAbove(size, before + 23)
      assert.isTrue(Option.isSome(yield* directory.find(tenant, "kept22@example.com")))

      const failed = yield* client.withTransaction(
        Effect.zipRight(ledger.importContacts(tenant, request("gone")), Effect.fail("roll back" as const))
      ).pipe(Effect.flip)
      assert.strictEqual(failed, "roll back")
      assert.strictEqual(yield* log.size(tenant), size)
      assert.deepStrictEqual(yield* directory.find(tenant, "gone0@example.com"), Option.none())
      assert.strictEqual((yield* ledger.events(tenant, { limit: 100 })).length, 23)
    }))
})
