import { assert } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Email from "../src/Email.js"
import * as KeyStore from "../src/KeyStore.js"
import * as MasterKey from "../src/MasterKey.js"
import * as SuppressionList from "../src/SuppressionList.js"
import * as TenantId from "../src/TenantId.js"
import { contractSuite, sqlSuite } from "../src/testing.js"
import * as Vault from "../src/Vault.js"

const vault = <E, R>(store: Layer.Layer<KeyStore.KeyStore, E, R>) =>
  Vault.layer.pipe(Layer.provide(store), Layer.provide(MasterKey.layerRandom))

contractSuite("SuppressionList", {
  memory: SuppressionList.layerMemory.pipe(Layer.provideMerge(vault(KeyStore.layerMemory))),
  sql: SuppressionList.layerSql.pipe(Layer.provideMerge(vault(KeyStore.layerSql)))
}, (it) => {
  it.effect("recognises an address however it is written, per tenant", () =>
    Effect.gen(function*() {
      const list = yield* SuppressionList.SuppressionList
      const [tenant, other] = yield* Effect.all([TenantId.make, TenantId.make])
      yield* list.add(tenant, " Gone@Example.com", "erasure")
      yield* list.add(tenant, "gone@example.com", "bounce")
      assert.deepStrictEqual(yield* list.reasonFor(tenant, "GONE@example.COM "), Option.some("erasure" as const))
      assert.deepStrictEqual(yield* list.reasonFor(other, "gone@example.com"), Option.none())
      assert.strictEqual(yield* list.count(tenant), 1)
      const batch = ["gone@example.com", "kept@example.com"].map((e) => Email.Email.make(e))
      assert.deepStrictEqual([...(yield* list.suppressed(tenant, batch))], ["gone@example.com"])
    }))

  it.effect("an erasure cannot be lifted; other reasons can", () =>
    Effect.gen(function*() {
      const list = yield* SuppressionList.SuppressionList
      const tenant = yield* TenantId.make
      yield* list.add(tenant, "erased@example.com", "erasure")
      yield* list.add(tenant, "left@example.com", "unsubscribe")
      assert.isFalse(yield* list.remove(tenant, "erased@example.com"))
      assert.isTrue(yield* list.remove(tenant, "left@example.com"))
      assert.deepStrictEqual(yield* list.reasonFor(tenant, "left@example.com"), Option.none())
      assert.isTrue(Option.isSome(yield* list.reasonFor(tenant, "erased@example.com")))
    }))

  it.effect("an erasure that follows another reason replaces it, and cannot be lifted", () =>
    Effect.gen(function*() {
      const list = yield* SuppressionList.SuppressionList
      const tenant = yield* TenantId.make
      yield* list.add(tenant, "first.left@example.com", "unsubscribe")
      yield* list.add(tenant, "First.Left@example.com", "erasure")
      yield* list.add(tenant, "first.left@example.com", "bounce")
      assert.deepStrictEqual(yield* list.reasonFor(tenant, "first.left@example.com"), Option.some("erasure" as const))
      assert.isFalse(yield* list.remove(tenant, "first.left@example.com"))
      assert.isTrue(Option.isSome(yield* list.reasonFor(tenant, "first.left@example.com")))
      assert.strictEqual(yield* list.count(tenant), 1)
    }))

  it.effect("an invalid address is a typed error and adds nothing", () =>
    Effect.gen(function*() {
      const list = yield* SuppressionList.SuppressionList
      const tenant = yield* TenantId.make
      const result = yield* Effect.either(list.add(tenant, "not an address", "manual"))
      assert.isTrue(Either.isLeft(result) && result.left._tag === "InvalidEmail")
      assert.strictEqual(yield* list.count(tenant), 0)
    }))
})

sqlSuite("SuppressionList storage", SuppressionList.layerSql.pipe(Layer.provideMerge(vault(KeyStore.layerSql))), (it) => {
  it.effect("stores a keyed hash, never the address, distinct from the directory's index", () =>
    Effect.gen(function*() {
      const list = yield* SuppressionList.SuppressionList
      const v = yield* Vault.Vault
      const sql = yield* SqlClient.SqlClient
      const tenant = yield* TenantId.make
      yield* list.add(tenant, "private.person@example.com", "complaint")
      const rows = yield* sql<{ address_hash: string }>`SELECT address_hash FROM lawful_suppression_list WHERE tenant_id = ${tenant}`
      assert.strictEqual(rows.length, 1)
      assert.notInclude(rows[0]!.address_hash, "private")
      assert.strictEqual(rows[0]!.address_hash, yield* v.blindIndex(tenant, "suppression", "private.person@example.com"))
      assert.notStrictEqual(rows[0]!.address_hash, yield* v.blindIndex(tenant, "subject.email", "private.person@example.com"))
    }))
})
