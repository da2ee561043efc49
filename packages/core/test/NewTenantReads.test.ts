import { assert } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Email from "../src/Email.js"
import * as KeyStore from "../src/KeyStore.js"
import * as MasterKey from "../src/MasterKey.js"
import * as SubjectDirectory from "../src/SubjectDirectory.js"
import * as SubjectId from "../src/SubjectId.js"
import * as SuppressionList from "../src/SuppressionList.js"
import * as TenantId from "../src/TenantId.js"
import type { Database } from "../src/testing.js"
import { contractSuite } from "../src/testing.js"
import * as Vault from "../src/Vault.js"

const stores = <E1, R1, E2, R2, E3, R3>(
  directory: Layer.Layer<SubjectDirectory.SubjectDirectory, E1, R1 | Vault.Vault>,
  suppression: Layer.Layer<SuppressionList.SuppressionList, E2, R2 | Vault.Vault>,
  keys: Layer.Layer<KeyStore.KeyStore, E3, R3>
) =>
  Layer.mergeAll(directory, suppression).pipe(
    Layer.provideMerge(Vault.layer),
    Layer.provideMerge(keys),
    Layer.provide(MasterKey.layerRandom)
  )

const layers = {
  memory: stores(SubjectDirectory.layerMemory, SuppressionList.layerMemory, KeyStore.layerMemory),
  // The database too, so that a test can open a transaction on it.
  sql: stores(SubjectDirectory.layerSql, SuppressionList.layerSql, KeyStore.layerSql).pipe(
    Layer.provideMerge(Layer.context<Database>())
  )
}

// An error as its tag and reason: errors made inside a span carry it, and compare unequal.
const describe = (error: { readonly _tag: string; readonly reason?: string }): string =>
  error.reason === undefined ? error._tag : `${error._tag}: ${error.reason}`

// Every read of core that a tenant's key answers: what each gives on a tenant never used.
const reads = (tenant: TenantId.TenantId, sealedElsewhere: Uint8Array) =>
  Effect.gen(function*() {
    const directory = yield* SubjectDirectory.SubjectDirectory
    const list = yield* SuppressionList.SuppressionList
    const vault = yield* Vault.Vault
    const someone = yield* SubjectId.make
    const address = "nobody@example.com"
    const tagOf = <E extends { readonly _tag: string }>(effect: Effect.Effect<unknown, E>) =>
      Effect.map(Effect.flip(effect), (error) => error._tag)
    return {
      find: yield* directory.find(tenant, address),
      emailOf: yield* tagOf(directory.emailOf(tenant, someone)),
      entryOf: yield* tagOf(directory.entryOf(tenant, someone)),
      changeEmail: yield* tagOf(directory.changeEmail(tenant, someone, address)),
      reasonFor: yield* list.reasonFor(tenant, address),
      suppressed: [...yield* list.suppressed(tenant, [Email.Email.make(address), Email.Email.make("other@example.com")])],
      removed: yield* list.remove(tenant, address),
      count: yield* list.count(tenant),
      open: yield* Effect.map(Effect.flip(vault.open(tenant, someone, "test.field", sealedElsewhere)), describe),
      openAll: (yield* vault.openAll(tenant, [{ subject: someone, purpose: "test.field", sealed: sealedElsewhere }]))
        .map(Either.match({ onLeft: describe, onRight: () => "opened" })),
      isShredded: yield* vault.isShredded(tenant, someone),
      shreddedAmong: [...yield* vault.shreddedAmong(tenant, [someone])]
    }
  })

const expected = {
  find: Option.none(),
  emailOf: "SubjectNotFound",
  entryOf: "SubjectNotFound",
  changeEmail: "SubjectNotFound",
  reasonFor: Option.none(),
  suppressed: [],
  removed: false,
  count: 0,
  open: "SealedValueInvalid: authentication-failed",
  openAll: ["SealedValueInvalid: authentication-failed"],
  isShredded: false,
  shreddedAmong: []
}

// A value sealed for a subject of another tenant: it cannot open in a tenant never used.
const sealedElsewhere = Effect.gen(function*() {
  const vault = yield* Vault.Vault
  const tenant = yield* TenantId.make
  const subject = yield* vault.newSubject(tenant)
  return yield* vault.seal(tenant, subject, "test.field", "203.0.113.7")
})

const tenantKeyOf = (tenant: TenantId.TenantId) => Effect.flatMap(KeyStore.KeyStore, (keys) => keys.tenantKey(tenant))

// Inside a transaction of the database when the backend has one; as it is on memory.
const inTransaction = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(
    Effect.serviceOption(SqlClient.SqlClient),
    Option.match({ onNone: () => effect, onSome: (sql) => sql.withTransaction(effect) })
  )

contractSuite("Reads on a tenant never used", layers, (it) => {
  it.effect("answer that nothing is there, and create no key", () =>
    Effect.gen(function*() {
      const elsewhere = yield* sealedElsewhere
      const tenant = yield* TenantId.make
      assert.deepStrictEqual(yield* reads(tenant, elsewhere), expected)
      assert.deepStrictEqual(yield* tenantKeyOf(tenant), Option.none())
    }))

  it.effect("answer the same inside a transaction, and create no key", () =>
    Effect.gen(function*() {
      const elsewhere = yield* sealedElsewhere
      const tenant = yield* TenantId.make
      assert.deepStrictEqual(yield* inTransaction(reads(tenant, elsewhere)), expected)
      assert.deepStrictEqual(yield* tenantKeyOf(tenant), Option.none())
    }))

  it.effect("a subject shredded before its tenant had a key is shredded, not unknown", () =>
    Effect.gen(function*() {
      const vault = yield* Vault.Vault
      const elsewhere = yield* sealedElsewhere
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      yield* vault.shred(tenant, subject)
      const [open, openAll] = yield* inTransaction(Effect.all([
        Effect.flip(vault.open(tenant, subject, "test.field", elsewhere)),
        vault.openAll(tenant, [{ subject, purpose: "test.field", sealed: elsewhere }])
      ]))
      assert.strictEqual(open._tag, "SubjectShredded")
      assert.deepStrictEqual(openAll.map((outcome) => Either.isLeft(outcome) ? outcome.left._tag : "opened"), [
        "SubjectShredded"
      ])
      assert.deepStrictEqual(yield* tenantKeyOf(tenant), Option.none())
    }))

  it.effect("after the first write, the same reads find what it wrote, inside a transaction too", () =>
    Effect.gen(function*() {
      const directory = yield* SubjectDirectory.SubjectDirectory
      const list = yield* SuppressionList.SuppressionList
      const tenant = yield* TenantId.make
      assert.deepStrictEqual(yield* directory.find(tenant, "first@example.com"), Option.none())
      const subject = yield* directory.resolve(tenant, "First@example.com")
      yield* list.add(tenant, "first@example.com", "bounce")
      assert.isTrue(Option.isSome(yield* tenantKeyOf(tenant)))
      const [found, email, reason, suppressed] = yield* inTransaction(Effect.all([
        directory.find(tenant, "first@example.com"),
        directory.emailOf(tenant, subject),
        list.reasonFor(tenant, "first@example.com"),
        list.suppressed(tenant, [Email.Email.make("first@example.com")])
      ]))
      assert.deepStrictEqual(found, Option.some(subject))
      assert.strictEqual(email, "first@example.com")
      assert.deepStrictEqual(reason, Option.some("bounce" as const))
      assert.deepStrictEqual([...suppressed], ["first@example.com"])
    }))
})
