import { assert } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as KeyStore from "../src/KeyStore.js"
import * as MasterKey from "../src/MasterKey.js"
import * as SubjectId from "../src/SubjectId.js"
import * as TenantId from "../src/TenantId.js"
import { sqlSuite } from "../src/testing.js"
import * as Vault from "../src/Vault.js"

const vault = Vault.layer.pipe(Layer.provideMerge(KeyStore.layerSql), Layer.provideMerge(MasterKey.layerRandom))

// Another Vault over the same key store and master key: nothing in memory, as after a restart.
const restarted = Effect.provide(Vault.Vault, Vault.layer)

sqlSuite("Vault inside a SQL transaction", vault, (it) => {
  it.scoped("creates no key in a transaction, which could roll it back after the Vault sealed with it", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const vault = yield* Vault.Vault
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      // The tenant's key and the subject's would both be new.
      const refused = yield* sql.withTransaction(vault.seal(tenant, subject, "test.field", "203.0.113.7")).pipe(Effect.flip)
      assert.strictEqual(refused._tag, "KeyStoreError")
      assert.include(String(refused.cause), "not created inside a transaction")
      // Outside, the keys are created and stored: another Vault, with nothing in memory, opens it.
      const sealed = yield* vault.seal(tenant, subject, "test.field", "203.0.113.7")
      const other = yield* restarted
      assert.strictEqual(yield* other.openString(tenant, subject, "test.field", sealed), "203.0.113.7")
    }))

  it.scoped("seals in a transaction for subjects made before it, and hands out subjects made ahead", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const vault = yield* Vault.Vault
      const tenant = yield* TenantId.make
      const known = yield* vault.newSubject(tenant) // the tenant's key, and a pool of subjects ahead
      const [sealed, ahead] = yield* sql.withTransaction(Effect.gen(function*() {
        const sealed = yield* vault.seal(tenant, known, "test.field", "kept")
        return [sealed, yield* vault.newSubjects(tenant, 3)] as const
      }))
      const other = yield* restarted
      assert.strictEqual(yield* other.openString(tenant, known, "test.field", sealed), "kept")
      // With nothing in memory, the keys that exist are read inside a transaction, not created.
      const [again, many] = yield* sql.withTransaction(Effect.all([
        other.seal(tenant, known, "test.field", "again"),
        other.sealAll(tenant, ahead.map((subject) => ({ subject, purpose: "test.field", plaintext: "many" })))
      ]))
      assert.strictEqual(yield* vault.openString(tenant, known, "test.field", again), "again")
      for (const [i, subject] of ahead.entries()) {
        assert.strictEqual(yield* vault.openString(tenant, subject, "test.field", many[i]!), "many")
      }
      for (const subject of ahead) {
        const value = yield* other.seal(tenant, subject, "test.field", subject)
        assert.strictEqual(yield* vault.openString(tenant, subject, "test.field", value), subject)
      }
    }))

  it.scoped("asked for more subjects than are made ahead, inside a transaction, fails at once rather than waiting", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const vault = yield* Vault.Vault
      const tenant = yield* TenantId.make
      yield* vault.newSubject(tenant)
      const refused = yield* sql.withTransaction(vault.newSubjects(tenant, 500)).pipe(
        Effect.flip,
        Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new Error("waited for a refill") })
      )
      assert.strictEqual(refused._tag, "KeyStoreError")
      assert.strictEqual((yield* vault.newSubjects(tenant, 500)).length, 500)
    }))

  it.scoped("prepare inside a transaction reads the keys that exist and creates none", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const vault = yield* Vault.Vault
      const tenant = yield* TenantId.make
      const refused = yield* sql.withTransaction(vault.prepare(tenant, 1)).pipe(
        Effect.flip,
        Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new Error("waited for the transaction to end") })
      )
      assert.propertyVal(refused, "_tag", "KeyStoreError")
      yield* vault.prepare(tenant, 2)
      yield* sql.withTransaction(vault.prepare(tenant, 2))
      for (const wrong of [-1, 1.5, Number.NaN]) {
        const exit = yield* Effect.exit(vault.prepare(tenant, wrong))
        assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause), `prepare(${wrong}) should be a defect`)
      }
    }))
})
