import { assert } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as KeyStore from "../src/KeyStore.js"
import * as MasterKey from "../src/MasterKey.js"
import * as SubjectDirectory from "../src/SubjectDirectory.js"
import * as TenantId from "../src/TenantId.js"
import { pgliteLayer, sqlSuite } from "../src/testing.js"
import * as Vault from "../src/Vault.js"

const layer = SubjectDirectory.layerSql.pipe(
  Layer.provideMerge(Vault.layerWith({ subjectPoolSize: 4 })),
  Layer.provide(KeyStore.layerSql),
  Layer.provide(MasterKey.layerRandom)
)

// Without the fix these waited for ever on PGlite: fail rather than hang.
const within = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.timeoutFail(effect, { duration: "30 seconds", onTimeout: () => new Error("waited for the transaction to end") })

sqlSuite("SubjectDirectory inside a SQL transaction", layer, (it) => {
  it.scoped("resolve joins the caller's transaction: its subject commits with it, and a rollback leaves none", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const vault = yield* Vault.Vault
      const directory = yield* SubjectDirectory.SubjectDirectory
      const tenant = yield* TenantId.make
      yield* vault.prepare(tenant, 8)

      const [kept, again, other] = yield* within(sql.withTransaction(Effect.all([
        directory.resolve(tenant, "kept@example.com"),
        directory.resolve(tenant, " Kept@Example.com "),
        directory.resolve(tenant, "other@example.com")
      ])))
      assert.strictEqual(again, kept)
      assert.notStrictEqual(other, kept)
      assert.deepStrictEqual(yield* directory.find(tenant, "kept@example.com"), Option.some(kept))
      assert.strictEqual(yield* directory.emailOf(tenant, other), "other@example.com")

      const rolledBack = yield* within(sql.withTransaction(Effect.gen(function*() {
        const subject = yield* directory.resolve(tenant, "gone@example.com")
        // Seen inside the transaction, by the statement's own connection.
        assert.deepStrictEqual(yield* directory.find(tenant, "gone@example.com"), Option.some(subject))
        return yield* Effect.fail("roll back" as const)
      })).pipe(Effect.flip))
      assert.strictEqual(rolledBack, "roll back")
      assert.deepStrictEqual(yield* directory.find(tenant, "gone@example.com"), Option.none())
      // Made again outside, it is a new subject, whose address opens.
      const made = yield* directory.resolve(tenant, "gone@example.com")
      assert.strictEqual(yield* directory.emailOf(tenant, made), "gone@example.com")
    }))

  it.scoped("without keys made before it, a transaction's first resolve fails at once, and a prepared one succeeds", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const vault = yield* Vault.Vault
      const directory = yield* SubjectDirectory.SubjectDirectory
      const tenant = yield* TenantId.make
      const refused = yield* within(sql.withTransaction(directory.resolve(tenant, "first@example.com"))).pipe(Effect.flip)
      assert.propertyVal(refused, "_tag", "KeyStoreError")
      assert.deepStrictEqual(yield* directory.find(tenant, "first@example.com"), Option.none())
      yield* vault.prepare(tenant, 10)
      // More subjects than the pool's size of 4, all made ahead by `prepare`.
      const addresses = Array.from({ length: 10 }, (_, i) => `reader${i}@example.com`)
      const subjects = yield* within(sql.withTransaction(
        Effect.forEach(addresses, (address) => directory.resolve(tenant, address))
      ))
      assert.strictEqual(new Set(subjects).size, 10)
      for (const [i, address] of addresses.entries()) {
        assert.deepStrictEqual(yield* directory.find(tenant, address), Option.some(subjects[i]!))
      }
    }))

  it.scoped("changeEmail refused with EmailAlreadyInUse leaves the caller's transaction usable, as in memory", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const vault = yield* Vault.Vault
      const directory = yield* SubjectDirectory.SubjectDirectory
      const tenant = yield* TenantId.make
      yield* vault.prepare(tenant, 2)
      const [taken, mover] = yield* directory.resolveAll(tenant, ["taken@example.com", "mover@example.com"])
      const [refused, found, changed] = yield* within(sql.withTransaction(Effect.all([
        Effect.flip(directory.changeEmail(tenant, mover!, "TAKEN@example.com")),
        directory.find(tenant, "taken@example.com"),
        Effect.as(directory.changeEmail(tenant, mover!, "moved@example.com"), "changed")
      ])))
      assert.propertyVal(refused, "_tag", "EmailAlreadyInUse")
      assert.deepStrictEqual(found, Option.some(taken!))
      assert.strictEqual(changed, "changed")
      assert.strictEqual(yield* directory.emailOf(tenant, mover!), "moved@example.com")
      assert.strictEqual(yield* directory.emailOf(tenant, taken!), "taken@example.com")
    }))
})

// Another Vault over the same key store and master key: nothing in memory, as after a restart.
const restarted = Effect.provide(Vault.Vault, Vault.layer)

const rolledBackThenUsed = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const directory = yield* SubjectDirectory.SubjectDirectory
  const tenant = yield* TenantId.make
  // A tenant never used: its first write, and reads, in a transaction that rolls back.
  let made: Either.Either<unknown, { readonly _tag: string }> | undefined
  yield* within(sql.withTransaction(Effect.gen(function*() {
    yield* directory.find(tenant, "rolled@example.com")
    made = yield* Effect.either(directory.resolve(tenant, "rolled@example.com"))
    return yield* Effect.fail("roll back" as const)
  })).pipe(Effect.flip))
  // Outside, this Vault writes with the tenant key it holds, if it kept one from the transaction.
  const subject = yield* directory.resolve(tenant, "rolled@example.com")
  const other = yield* restarted
  const otherDirectory = yield* Effect.provideService(SubjectDirectory.layerSql.pipe(Layer.build), Vault.Vault, other).pipe(
    Effect.map((context) => Context.get(context, SubjectDirectory.SubjectDirectory))
  )
  return { made: made!, subject, tenant, other, otherDirectory }
})

const keysBeside = (keys: Layer.Layer<KeyStore.KeyStore, unknown, SqlClient.SqlClient>) =>
  SubjectDirectory.layerSql.pipe(
    Layer.provideMerge(Vault.layerWith({ subjectPoolSize: 4 })),
    Layer.provideMerge(keys),
    Layer.provideMerge(MasterKey.layerRandom),
    Layer.orDie
  )

sqlSuite("A transaction that rolls back, on a tenant never used", keysBeside(KeyStore.layerSql), (it) => {
  it.scoped("leaves the Vault no tenant key the key store lacks: a restarted Vault finds what it wrote after", () =>
    Effect.gen(function*() {
      const { made, other, otherDirectory, subject, tenant } = yield* rolledBackThenUsed
      assert.deepStrictEqual(yield* otherDirectory.find(tenant, "rolled@example.com"), Option.some(subject))
      assert.strictEqual(yield* otherDirectory.emailOf(tenant, subject), "rolled@example.com")
      assert.strictEqual(
        yield* other.blindIndex(tenant, SubjectDirectory.purpose, "rolled@example.com"),
        yield* (yield* Vault.Vault).blindIndex(tenant, SubjectDirectory.purpose, "rolled@example.com")
      )
      // Because keys are not created in the caller's transaction: the write was refused.
      assert.isTrue(Either.isLeft(made) && made.left._tag === "KeyStoreError")
    }))
})

sqlSuite(
  "A transaction that rolls back, on a tenant never used, keys in a database of their own",
  keysBeside(Layer.unwrapEffect(Effect.succeed(KeyStore.layerClient(pgliteLayer)))),
  (it) => {
    it.scoped("keeps the keys it made there: a restarted Vault finds what was written after", () =>
      Effect.gen(function*() {
        const { made, other, otherDirectory, subject, tenant } = yield* rolledBackThenUsed
        // The keys' database commits apart: the write was made, then rolled back with the transaction.
        assert.isTrue(Either.isRight(made))
        assert.deepStrictEqual(yield* otherDirectory.find(tenant, "rolled@example.com"), Option.some(subject))
        assert.strictEqual(yield* otherDirectory.emailOf(tenant, subject), "rolled@example.com")
        assert.strictEqual(
          yield* other.blindIndex(tenant, SubjectDirectory.purpose, "rolled@example.com"),
          yield* (yield* Vault.Vault).blindIndex(tenant, SubjectDirectory.purpose, "rolled@example.com")
        )
      }))
  }
)
