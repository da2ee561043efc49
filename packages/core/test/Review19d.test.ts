/**
 * Review 19d: a new tenant key could land under a master key a rotation had just retired (the
 * check and the insert were two statements, and the retirement looked at no tenant key), and a
 * personal-data source's SQL error kept the database's diagnostics whole for `causeOf`; each with
 * the test that failed before its fix.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as KeyStore from "../src/KeyStore.js"
import * as MasterKey from "../src/MasterKey.js"
import * as PersonalDataRegistry from "../src/PersonalDataRegistry.js"
import * as SubjectId from "../src/SubjectId.js"
import * as TenantId from "../src/TenantId.js"
import { assertQuotesNothing, contractSuite, postgresLayer, postgresUrl, sqlSuite } from "../src/testing.js"
import { address, describeExit, tagOf } from "./RefusalFixture.js"
import { idOf, type Key, opens, retirementDuringHeldCall, sealFor, vaultOn, wrappedBy, type Written } from "./RotationFixture.js"

const stores = { memory: KeyStore.layerMemory, sql: KeyStore.layerSql }
const keyWrappedBy = (key: Key): KeyStore.WrappedKey => ({ wrappedBy: idOf(key), ciphertext: new Uint8Array(60).fill(3) })
const now = new Date("2024-01-01T00:00:00Z")

// Retirement looks at every tenant key of the store: each suite has a store of its own, and each
// test master keys of its own.
contractSuite("Review19d: the key store answers for retired master keys", stores, (it) => {
  it.effect("a tenant key wrapped by a retired master key is refused by the key store itself, nothing written", () =>
    Effect.gen(function*() {
      const store = yield* KeyStore.KeyStore
      const [retired, current] = [MasterKey.generate(), MasterKey.generate()]
      assert.isTrue(yield* store.retireMasterKeys([idOf(retired)], idOf(current), now))

      const tenant = yield* TenantId.make
      const exit = yield* Effect.exit(store.createTenantKey(tenant, keyWrappedBy(retired)))
      assert.strictEqual(tagOf(exit), "MasterKeyRetired", describeExit(exit))
      const error = Exit.isFailure(exit) ? (exit.cause as { readonly error?: { readonly keyId?: string } }).error : undefined
      assert.strictEqual(error?.keyId, idOf(retired))
      assert.deepStrictEqual(yield* store.tenantKey(tenant), Option.none())

      // The key in service wraps it.
      assert.strictEqual((yield* store.createTenantKey(tenant, keyWrappedBy(current))).wrappedBy, idOf(current))
    }))

  it.effect("retireMasterKeys refuses, recording nothing, while a tenant key is wrapped by a key it retires", () =>
    Effect.gen(function*() {
      const store = yield* KeyStore.KeyStore
      const [old, current] = [MasterKey.generate(), MasterKey.generate()]
      const tenant = yield* TenantId.make
      const stored = yield* store.createTenantKey(tenant, keyWrappedBy(old))

      assert.isFalse(yield* store.retireMasterKeys([idOf(old)], idOf(current), now))
      assert.isFalse(yield* store.isMasterKeyRetired(idOf(old)))
      // Re-wrapped, nothing holds the retirement back.
      assert.isTrue(yield* store.replaceTenantKey(tenant, stored, keyWrappedBy(current)))
      assert.isTrue(yield* store.retireMasterKeys([idOf(old)], idOf(current), now))
      assert.isTrue(yield* store.isMasterKeyRetired(idOf(old)))
    }))
})

contractSuite("Review19d: a tenant key made between a rotation's last pass and its retirement", stores, (it) => {
  it.scoped("the rotation re-wraps a tenant key made under the old key after its last pass read, then retires the old key", () =>
    Effect.gen(function*() {
      const inner = yield* KeyStore.KeyStore
      const [keyA, keyB] = [MasterKey.generate(), MasterKey.generate()]
      const old = yield* vaultOn(inner, {}, keyA)
      const existing = yield* sealFor(old, yield* TenantId.make)
      // A process still on the old key makes a new tenant's key once the rotation's pass has read
      // the tenant keys, just before the rotation retires the old key.
      const late = yield* TenantId.make
      let made: Written | undefined
      let retirements = 0
      const store = KeyStore.KeyStore.of({
        ...inner,
        retireMasterKeys: (keyIds, current, at) =>
          Effect.gen(function*() {
            if (retirements++ === 0) made = yield* Effect.orDie(sealFor(old, late))
            return yield* inner.retireMasterKeys(keyIds, current, at)
          })
      })

      const result = yield* (yield* vaultOn(store, {}, keyB, keyA)).rotateMasterKey
      assert.deepStrictEqual(result, { rewrapped: 2, skipped: [] })
      assert.isDefined(made)
      assert.strictEqual(yield* wrappedBy(inner, late), idOf(keyB), "the late tenant's key is re-wrapped, not left under the retired key")
      assert.isTrue(yield* inner.isMasterKeyRetired(idOf(keyA)))
      const current = yield* vaultOn(inner, {}, keyB)
      assert.isTrue(yield* opens(current, existing))
      assert.isTrue(yield* opens(current, made!))
    }))
})

describe("Review19d: a rotation held back by its retirement", () => {
  it.scoped("a rotation whose retirement keeps being refused ends with a KeyStoreError, retiring nothing, instead of passing for ever", () =>
    Effect.gen(function*() {
      // A store of its own: no other test's tenant keys, which a rotation would skip.
      const inner = yield* Effect.provide(KeyStore.KeyStore, KeyStore.layerMemory)
      const [keyA, keyB] = [MasterKey.generate(), MasterKey.generate()]
      yield* sealFor(yield* vaultOn(inner, {}, keyA), yield* TenantId.make)
      // A process on the old key making a tenant after every pass (or a store that always refuses).
      let refusals = 0
      const store = KeyStore.KeyStore.of({
        ...inner,
        retireMasterKeys: () => Effect.sync(() => (refusals++, false))
      })
      const error = yield* Effect.flip((yield* vaultOn(store, {}, keyB, keyA)).rotateMasterKey)
      assert.strictEqual(error._tag, "KeyStoreError")
      assert.isAbove(refusals, 1)
      assert.isBelow(refusals, 100)
      assert.isFalse(yield* inner.isMasterKeyRetired(idOf(keyA)))
    }))
})

// Several connections at once: PostgreSQL only (PGlite runs one statement at a time).
if (postgresUrl) {
  layer(KeyStore.layerSql.pipe(Layer.provideMerge(postgresLayer)), { timeout: 120_000 })(
    "Review19d: a tenant key's creation and a retirement at once (PostgreSQL)",
    (it) => {
      it.scoped("a retirement waits for a tenant key's creation under way, then refuses to retire the key that wraps it", () =>
        Effect.gen(function*() {
          const store = yield* KeyStore.KeyStore
          const [old, current] = [MasterKey.generate(), MasterKey.generate()]
          const tenant = yield* TenantId.make

          // A transaction of another connection holds the tenant's row, uncommitted: the
          // creation's insert waits for it, inside the creation's own transaction. The retirement,
          // started while the creation is under way, waits for it, or answers at once without it.
          const { called, retired, waited } = yield* retirementDuringHeldCall({
            hold: "INSERT INTO lawful_vault_tenant_keys (tenant_id, wrapped_by, ciphertext) VALUES ($1, 'holder', '\\x00')",
            tenant,
            call: store.createTenantKey(tenant, keyWrappedBy(old)),
            retire: store.retireMasterKeys([idOf(old)], idOf(current), now)
          })
          assert.isTrue(waited, "the retirement waited for the creation under way")
          assert.strictEqual(called.wrappedBy, idOf(old))
          assert.isFalse(retired, "the retirement refuses: a tenant key is wrapped by the key it retires")
          assert.isFalse(yield* store.isMasterKeyRetired(idOf(old)))
          assert.strictEqual(yield* wrappedBy(store, tenant), idOf(old))
        }))
    }
  )
}

// A personal-data source on SQL whose erasure a NOT NULL or CHECK column refuses: PostgreSQL
// puts the failing row (the person's address and text) in the error's `detail`.
sqlSuite("Review19d: a personal-data source's SQL error", PersonalDataRegistry.layer, (it) => {
  it.scoped("a source's SQL error, refused by NOT NULL or CHECK, holds no part of the row: neither its PersonalDataSourceError nor causeOf", () =>
    Effect.gen(function*() {
      const sql = (yield* SqlClient.SqlClient).withoutTransforms()
      const registry = yield* PersonalDataRegistry.PersonalDataRegistry
      const note = "Dear Ann, your diagnosis"
      const cases = [
        { table: "review19d_not_null", column: "note text NOT NULL", code: "23502" },
        { table: "review19d_check", column: "note text CHECK (note IS NOT NULL)", code: "23514" }
      ]
      for (const { code, column, table } of cases) {
        yield* sql.unsafe(`CREATE TABLE ${table} (tenant_id uuid NOT NULL, subject_id uuid NOT NULL, email text, ${column})`)
        const name = `notes-${code}`
        yield* registry.register({
          name,
          description: "notes about a contact",
          categories: ["notes"],
          purposes: ["testing"],
          export: () => Effect.succeed({ records: [] }),
          // Erasure by redaction, which the column refuses.
          erase: (tenant, subject) =>
            sql`UPDATE ${sql(table)} SET note = NULL WHERE tenant_id = ${tenant} AND subject_id = ${subject}`.pipe(
              Effect.as({ erased: 1 }),
              Effect.mapError(PersonalDataRegistry.sourceError(name, "erase"))
            ),
          rectify: () => Effect.succeed({ rectified: 0 })
        })
        const [tenant, subject] = [yield* TenantId.make, yield* SubjectId.make]
        yield* sql`INSERT INTO ${sql(table)} VALUES (${tenant}, ${subject}, ${address}, ${note})`

        const report = yield* registry.eraseAll(tenant, subject)
        const failure = report.failures.find((f) => f.source === name)
        assert.isDefined(failure, `${name} failed`)
        const error = failure!.error
        const cause = PersonalDataRegistry.causeOf(error) as { readonly _tag?: string; readonly cause?: { readonly code?: string } }
        assert.strictEqual(cause._tag, "SqlError")
        assert.strictEqual(cause.cause?.code, code)
        for (const value of [error, cause]) assertQuotesNothing(value, [address, note])
      }
    }))
})
