import { assert } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as AuditLog from "@lawful/audit-trail/AuditLog"
import * as SubjectDirectory from "@lawful/core/SubjectDirectory"
import { sqlSuite } from "@lawful/core/testing"
import * as Vault from "@lawful/core/Vault"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { ConsentLedger } from "../src/ConsentLedger.js"
import { attestation, confirm, grant, tenantWithLists } from "./fixtures.js"
import { sql } from "./layers.js"

// Before records joined the caller's transaction, they waited for ever on PGlite: fail rather than hang.
const within = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.timeoutFail(effect, { duration: "30 seconds", onTimeout: () => new Error("waited for the transaction to end") })

// The services the tests use, and a tenant with lists whose keys, and `subjects` new subjects'
// keys, are made before the transaction: none is made inside one.
const prepared = (subjects: number) =>
  Effect.gen(function*() {
    const tenant = yield* tenantWithLists
    yield* Effect.flatMap(Vault.Vault, (vault) => vault.prepare(tenant, subjects))
    return {
      client: yield* SqlClient.SqlClient,
      ledger: yield* ConsentLedger,
      log: yield* AuditLog.AuditLog,
      directory: yield* SubjectDirectory.SubjectDirectory,
      tenant
    }
  })

sqlSuite("ConsentLedger inside a SQL transaction", sql, (it) => {
  it.effect("a record joins the caller's transaction: event, audit entry and subject commit or roll back with it", () =>
    Effect.gen(function*() {
      const { client, directory, ledger, log, tenant } = yield* prepared(4)
      const before = yield* log.size(tenant)

      const kept = yield* within(client.withTransaction(Effect.gen(function*() {
        const granted = yield* ledger.record(tenant, grant("kept@example.com", ["offers"]))
        const confirmed = yield* ledger.record(tenant, confirm("kept@example.com", ["offers"]))
        return [granted, confirmed] as const
      })))
      assert.strictEqual(yield* log.size(tenant), before + 2)
      const subject = kept[0].event.subject
      assert.deepStrictEqual(yield* directory.find(tenant, "kept@example.com"), Option.some(subject))
      assert.deepStrictEqual((yield* ledger.events(tenant, { subject, limit: 100 })).map((e) => e.event.id), kept.map((r) => r.event.id))
      assert.isTrue(yield* ledger.mayReceiveMarketing(tenant, subject, "offers"))

      const failed = yield* within(client.withTransaction(Effect.gen(function*() {
        yield* ledger.record(tenant, grant("gone@example.com", ["news"]))
        yield* ledger.record(tenant, grant("kept@example.com", ["news"]))
        return yield* Effect.fail("roll back" as const)
      })).pipe(Effect.flip))
      assert.strictEqual(failed, "roll back")
      assert.strictEqual(yield* log.size(tenant), before + 2)
      assert.deepStrictEqual(yield* directory.find(tenant, "gone@example.com"), Option.none())
      assert.strictEqual((yield* ledger.events(tenant, { limit: 100 })).length, 2)
      assert.isFalse(yield* ledger.mayReceiveMarketing(tenant, subject, "news"))

      // Outside a transaction, records go on as before, from the index the rollback left free.
      const after = yield* ledger.record(tenant, grant("gone@example.com", ["news"]))
      assert.strictEqual(after.auditIndex, before + 2)
    }))

  it.effect("an import inside a transaction commits with it, or leaves nothing when it rolls back", () =>
    Effect.gen(function*() {
      const { client, directory, ledger, log, tenant } = yield* prepared(60)
      const request = (prefix: string) => ({
        attestation,
        lists: ["news"],
        actor: { kind: "api-key" as const, id: "import-key" },
        batchSize: 5,
        contacts: Array.from({ length: 23 }, (_, i) => ({ email: `${prefix}${i}@example.com` }))
      })
      const before = yield* log.size(tenant)

      const report = yield* within(client.withTransaction(ledger.importContacts(tenant, request("kept"))))
      assert.strictEqual(report.recorded, 23)
      const size = yield* log.size(tenant)
      assert.isAbove(size, before + 23)
      assert.isTrue(Option.isSome(yield* directory.find(tenant, "kept22@example.com")))

      const failed = yield* within(client.withTransaction(
        Effect.zipRight(ledger.importContacts(tenant, request("gone")), Effect.fail("roll back" as const))
      )).pipe(Effect.flip)
      assert.strictEqual(failed, "roll back")
      assert.strictEqual(yield* log.size(tenant), size)
      assert.deepStrictEqual(yield* directory.find(tenant, "gone0@example.com"), Option.none())
      assert.strictEqual((yield* ledger.events(tenant, { limit: 100 })).length, 23)
    }))
})
