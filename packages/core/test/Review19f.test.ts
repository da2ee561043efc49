/**
 * Review 19f: a master-key rotation run inside an outer transaction held its re-wraps' and its
 * retirement's locks until the outer commit, and on PostgreSQL could deadlock with a rotation of
 * another process; with the test that failed before its fix.
 */
import { assert, describe, layer } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as KeyStore from "../src/KeyStore.js"
import * as MasterKey from "../src/MasterKey.js"
import * as TenantId from "../src/TenantId.js"
import { pgliteLayer, sqlSuite } from "../src/testing.js"
import type * as Vault from "../src/Vault.js"
import { idOf, opens, sealFor, vaultOn, wrappedBy } from "./RotationFixture.js"

// The rotation run inside a transaction of the key store's database fails with `KeyStoreError` at
// `operation`, saying why.
const refusedInTransaction = (rotating: Vault.Vault["Type"], operation: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const refused = yield* Effect.flip(sql.withTransaction(rotating.rotateMasterKey))
    assert.strictEqual(refused._tag, "KeyStoreError")
    assert.strictEqual(refused._tag === "KeyStoreError" ? refused.operation : undefined, operation)
    assert.include(String(refused.cause), "not inside a transaction")
  })

// A rotation reads every tenant key of the store and retires keys for the whole store: each case
// has a suite, so a store, of its own.
sqlSuite("Review19f: a rotation inside a transaction, with tenant keys to re-wrap", KeyStore.layerSql, (it) => {
  it.scoped("fails with KeyStoreError at its first re-wrap, changing nothing; outside any transaction it rotates", () =>
    Effect.gen(function*() {
      const store = yield* KeyStore.KeyStore
      const [keyA, keyB] = [MasterKey.generate(), MasterKey.generate()]
      const written = yield* sealFor(yield* vaultOn(store, {}, keyA), yield* TenantId.make)
      const rotating = yield* vaultOn(store, {}, keyB, keyA)

      yield* refusedInTransaction(rotating, "replaceTenantKey")
      assert.strictEqual(yield* wrappedBy(store, written.tenant), idOf(keyA), "the tenant key is not re-wrapped")
      assert.isFalse(yield* store.isMasterKeyRetired(idOf(keyA)), "the previous key is not retired")

      assert.deepStrictEqual(yield* rotating.rotateMasterKey, { rewrapped: 1, skipped: [] })
      assert.strictEqual(yield* wrappedBy(store, written.tenant), idOf(keyB))
      assert.isTrue(yield* store.isMasterKeyRetired(idOf(keyA)))
      assert.isTrue(yield* opens(yield* vaultOn(store, {}, keyB), written))
    }))
})

sqlSuite("Review19f: a rotation inside a transaction, with only the retirement left", KeyStore.layerSql, (it) => {
  it.scoped("fails with KeyStoreError at its retirement, retiring nothing; outside any transaction it retires", () =>
    Effect.gen(function*() {
      const store = yield* KeyStore.KeyStore
      const [keyA, keyB] = [MasterKey.generate(), MasterKey.generate()]
      // Every tenant key is wrapped by the current key already: nothing to re-wrap, keyA to retire.
      const rotating = yield* vaultOn(store, {}, keyB, keyA)
      const written = yield* sealFor(rotating, yield* TenantId.make)

      yield* refusedInTransaction(rotating, "retireMasterKeys")
      assert.isFalse(yield* store.isMasterKeyRetired(idOf(keyA)), "the previous key is not retired")

      assert.deepStrictEqual(yield* rotating.rotateMasterKey, { rewrapped: 0, skipped: [] })
      assert.isTrue(yield* store.isMasterKeyRetired(idOf(keyA)))
      assert.isTrue(yield* opens(rotating, written))
    }))
})

// The keys in a database of their own (a second PGlite), a transaction open on the main one.
describe("Review19f: a rotation on KeyStore.layerClient inside a transaction of the main database", () => {
  layer(Layer.merge(KeyStore.layerClient(pgliteLayer).pipe(Layer.orDie), pgliteLayer), { timeout: 120_000 })((it) => {
    it.scoped("rotates: the key store's statements leave the caller's transaction out", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const store = yield* KeyStore.KeyStore
        const [keyA, keyB] = [MasterKey.generate(), MasterKey.generate()]
        const written = yield* sealFor(yield* vaultOn(store, {}, keyA), yield* TenantId.make)
        const rotating = yield* vaultOn(store, {}, keyB, keyA)

        assert.deepStrictEqual(yield* sql.withTransaction(rotating.rotateMasterKey), { rewrapped: 1, skipped: [] })
        assert.strictEqual(yield* wrappedBy(store, written.tenant), idOf(keyB))
        assert.isTrue(yield* store.isMasterKeyRetired(idOf(keyA)))
      }))
  })
})
