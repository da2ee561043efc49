import { assert } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as KeyStore from "../src/KeyStore.js"
import * as MasterKey from "../src/MasterKey.js"
import * as SubjectDirectory from "../src/SubjectDirectory.js"
import * as TenantId from "../src/TenantId.js"
import { contractSuite, sqlSuite } from "../src/testing.js"
import * as Vault from "../src/Vault.js"
import { idOf, type Key, opens, sealFor, vaultOn, wrappedBy as wrappedByIn } from "./RotationFixture.js"
import { withVault } from "./SubjectDirectoryLayers.js"

// Addresses whose sealed value the directory stores damaged (its tag altered), as a damaged
// ciphertext in a row would be: the blind index is right, the sealed value does not open.
const damaged = new Set<string>()

const damagingSeals = Layer.effect(
  Vault.Vault,
  Effect.map(Vault.Vault, (vault) =>
    Vault.Vault.of({
      ...vault,
      sealAll: (tenant, items) =>
        Effect.map(vault.sealAll(tenant, items), (sealed) =>
          sealed.map((value, i) => {
            if (!damaged.has(String(items[i]!.plaintext))) return value
            const copy = Uint8Array.from(value)
            copy[copy.length - 1] = copy[copy.length - 1]! ^ 0xff
            return Vault.Sealed.make(copy)
          }))
    }))
)

const directoryLayers = {
  memory: withVault(SubjectDirectory.layerMemory.pipe(Layer.provide(damagingSeals)), KeyStore.layerMemory),
  sql: withVault(SubjectDirectory.layerSql.pipe(Layer.provide(damagingSeals)), KeyStore.layerSql)
}

contractSuite("Review18: changeEmail over a stored address that does not open", directoryLayers, (it) => {
  it.effect("a change to the same address re-seals a stored address that does not open, and answers true", () =>
    Effect.gen(function*() {
      const directory = yield* SubjectDirectory.SubjectDirectory
      const tenant = yield* TenantId.make
      damaged.add("rita@example.com")
      const subject = yield* directory.resolve(tenant, "rita@example.com")
      // emailOf keeps failing as it does on such a row.
      assert.strictEqual((yield* Effect.flip(directory.emailOf(tenant, subject)))._tag, "SealedValueInvalid")

      assert.isTrue(yield* directory.changeEmail(tenant, subject, " RITA@example.com"))
      assert.strictEqual(yield* directory.emailOf(tenant, subject), "rita@example.com")
      assert.deepStrictEqual(yield* directory.find(tenant, "rita@example.com"), Option.some(subject))
      // Readable now: the same address again changes nothing.
      assert.isFalse(yield* directory.changeEmail(tenant, subject, "rita@example.com"))
    }))

  it.effect("the directory's source rectifies an unreadable address with the same one", () =>
    Effect.gen(function*() {
      const directory = yield* SubjectDirectory.SubjectDirectory
      const tenant = yield* TenantId.make
      damaged.add("saul@example.com")
      const subject = yield* directory.resolve(tenant, "saul@example.com")
      const source = SubjectDirectory.makeSource(directory)
      assert.deepStrictEqual(yield* source.rectify(tenant, subject, { email: "Saul@Example.com" }), { rectified: 1 })
      assert.deepStrictEqual(yield* source.export(tenant, subject), {
        records: [{
          category: "contact.email",
          fields: { email: "saul@example.com" },
          recordedAt: (yield* directory.entryOf(tenant, subject)).createdAt.toISOString()
        }]
      })
    }))

  it.effect("of two concurrent changes to the same address over an unreadable one, one re-seals it, the other finds it done", () =>
    Effect.gen(function*() {
      const directory = yield* SubjectDirectory.SubjectDirectory
      const tenant = yield* TenantId.make
      damaged.add("tina@example.com")
      const subject = yield* directory.resolve(tenant, "tina@example.com")
      const answers = yield* Effect.all([
        directory.changeEmail(tenant, subject, "tina@example.com"),
        directory.changeEmail(tenant, subject, "TINA@example.com")
      ], { concurrency: "unbounded" })
      assert.deepStrictEqual([...answers].sort(), [false, true])
      assert.strictEqual(yield* directory.emailOf(tenant, subject), "tina@example.com")
    }))

  it.effect("a shredded subject's same address still answers false, writing nothing", () =>
    Effect.gen(function*() {
      const directory = yield* SubjectDirectory.SubjectDirectory
      const vault = yield* Vault.Vault
      const tenant = yield* TenantId.make
      const subject = yield* directory.resolve(tenant, "ugo@example.com")
      yield* vault.shred(tenant, subject)
      assert.isFalse(yield* directory.changeEmail(tenant, subject, "ugo@example.com"))
      assert.strictEqual((yield* Effect.flip(directory.emailOf(tenant, subject)))._tag, "SubjectShredded")
    }))
})

// Rotation reads every tenant key of the store: this suite has a store of its own.
const rotationFixture = Effect.gen(function*() {
  const store = yield* KeyStore.KeyStore
  const vaultWith = (...keys: [Key, ...Array<Key>]) => vaultOn(store, {}, ...keys)
  const wrappedBy = (tenant: TenantId.TenantId) => wrappedByIn(store, tenant)
  return { store, vaultWith, sealFor, opens, wrappedBy }
})

contractSuite("Review18: a master key retired by a completed rotation", { memory: KeyStore.layerMemory, sql: KeyStore.layerSql }, (it) => {
  it.scoped("a rotation back to a key a completed rotation retired fails naming the key id, and re-wraps nothing", () =>
    Effect.gen(function*() {
      const { opens, sealFor, vaultWith, wrappedBy } = yield* rotationFixture
      const [keyA, keyB] = [MasterKey.generate(), MasterKey.generate()]
      const old = yield* vaultWith(keyA)
      const tenants = yield* Effect.all([TenantId.make, TenantId.make, TenantId.make])
      const written = yield* Effect.forEach(tenants, (tenant) => sealFor(old, tenant))

      assert.deepStrictEqual(yield* (yield* vaultWith(keyB, keyA)).rotateMasterKey, { rewrapped: 3, skipped: [] })

      // Later, a host with an old configuration: the keys swapped.
      const swapped = yield* vaultWith(keyA, keyB)
      const refused = yield* Effect.either(swapped.rotateMasterKey)
      assert.isTrue(Either.isLeft(refused), "the rotation back to the retired key fails")
      if (Either.isLeft(refused)) {
        const error = refused.left as { readonly _tag: string; readonly keyId?: string; readonly message: string }
        assert.strictEqual(error._tag, "MasterKeyRetired")
        assert.strictEqual(error.keyId, idOf(keyA))
        assert.include(error.message, idOf(keyA))
        assert.notInclude(error.message, Redacted.value(keyA))
      }
      for (const tenant of tenants) assert.strictEqual(yield* wrappedBy(tenant), idOf(keyB))
      const current = yield* vaultWith(keyB)
      for (const one of written) assert.isTrue(yield* opens(current, one))
      // Run again, it fails again; the current key's own rotation still runs.
      assert.isTrue(Either.isLeft(yield* Effect.either(swapped.rotateMasterKey)))
      assert.deepStrictEqual(yield* (yield* vaultWith(keyB, keyA)).rotateMasterKey, { rewrapped: 0, skipped: [] })
    }))
})

contractSuite("Review18: a rotation that did not complete", { memory: KeyStore.layerMemory, sql: KeyStore.layerSql }, (it) => {
  it.scoped("a rotation that did not complete retires nothing: going back to the old key stays possible", () =>
    Effect.gen(function*() {
      const { sealFor, store, vaultWith, wrappedBy } = yield* rotationFixture
      const [keyA, keyB, unknown] = [MasterKey.generate(), MasterKey.generate(), MasterKey.generate()]
      const [first, second] = yield* Effect.all([TenantId.make, TenantId.make])
      yield* sealFor(yield* vaultWith(keyA), first!)
      // Wrapped by a key the rotation is not given: it stays skipped, and the rotation incomplete.
      yield* sealFor(yield* vaultWith(unknown), second!)

      const forward = yield* (yield* vaultWith(keyB, keyA)).rotateMasterKey
      assert.deepStrictEqual(forward, { rewrapped: 1, skipped: [{ tenantId: second!, reason: "unknown-master-key" }] })
      const back = yield* (yield* vaultWith(keyA, keyB)).rotateMasterKey
      assert.deepStrictEqual(back, { rewrapped: 1, skipped: [{ tenantId: second!, reason: "unknown-master-key" }] })
      assert.strictEqual(yield* wrappedBy(first!), idOf(keyA))
      assert.isFalse(yield* store.isMasterKeyRetired(idOf(keyA)))
      assert.isFalse(yield* store.isMasterKeyRetired(idOf(keyB)))
    }))
})

sqlSuite("Review18: retired master keys in storage", KeyStore.layerSql, (it) => {
  it.scoped("a completed rotation records the previous key's id, never the key", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const { sealFor, vaultWith } = yield* rotationFixture
      const [keyA, keyB] = [MasterKey.generate(), MasterKey.generate()]
      yield* sealFor(yield* vaultWith(keyA), yield* TenantId.make)
      yield* (yield* vaultWith(keyB, keyA)).rotateMasterKey
      const rows = yield* sql<{ key_id: string }>`SELECT key_id FROM lawful_vault_retired_master_keys`
      assert.deepStrictEqual(rows.map((row) => row.key_id), [idOf(keyA)])
    }))
})
