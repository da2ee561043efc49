/**
 * Review 19: a master key a completed rotation retired kept wrapping new tenant keys, in a process
 * that started on it or was running when it was retired; each with the test that failed before
 * its fix.
 */
import { assert } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as KeyStore from "../src/KeyStore.js"
import * as MasterKey from "../src/MasterKey.js"
import * as SubjectId from "../src/SubjectId.js"
import * as TenantId from "../src/TenantId.js"
import { contractSuite } from "../src/testing.js"
import * as Vault from "../src/Vault.js"
import { lineOf } from "./fixtures.js"
import { idOf, type Key, opens, sealFor, vaultOn } from "./RotationFixture.js"

// Rotation reads every tenant key of the store, and retires keys for the whole store: each suite
// has a store of its own. The store counts the reads of whether a master key is retired.
const fixture = Effect.gen(function*() {
  const inner = yield* KeyStore.KeyStore
  let retiredReads = 0
  const store = KeyStore.KeyStore.of({
    ...inner,
    isMasterKeyRetired: (keyId) => Effect.zipRight(Effect.sync(() => retiredReads++), inner.isMasterKeyRetired(keyId))
  })
  const vaultWith = (...keys: [Key, ...Array<Key>]) => vaultOn(store, {}, ...keys)
  // Completes a rotation from `from` to `to`, which retires `from`.
  const rotate = (to: Key, from: Key) =>
    Effect.flatMap(vaultWith(to, from), (vault) => vault.rotateMasterKey).pipe(
      Effect.tap((result) => assert.deepStrictEqual(result.skipped, []))
    )
  // Vault.layer over this store, its master keys from the environment as start-up reads them.
  const startWith = (env: Record<string, string>) =>
    Layer.build(Vault.layer.pipe(Layer.provide(MasterKey.layerConfig), Layer.provide(Layer.succeed(KeyStore.KeyStore, store)))).pipe(
      Effect.scoped,
      Effect.exit,
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
    )
  return { store, vaultWith, rotate, startWith, retiredReads: () => retiredReads }
})

const stores = { memory: KeyStore.layerMemory, sql: KeyStore.layerSql }

contractSuite("Review19: start-up on a retired master key", stores, (it) => {
  it.scoped("building the Vault layer on a master key a completed rotation retired fails with one line naming LAWFUL_MASTER_KEY, never the key", () =>
    Effect.gen(function*() {
      const { rotate, startWith, vaultWith } = yield* fixture
      const [keyA, keyB] = [MasterKey.generate(), MasterKey.generate()]
      yield* sealFor(yield* vaultWith(keyA), yield* TenantId.make)
      yield* rotate(keyB, keyA)

      // A host left on the old configuration, the new key as previous or not at all.
      for (
        const env of [
          { LAWFUL_MASTER_KEY: Redacted.value(keyA), LAWFUL_MASTER_KEY_PREVIOUS: Redacted.value(keyB) },
          { LAWFUL_MASTER_KEY: Redacted.value(keyA) }
        ]
      ) {
        const exit = yield* startWith(env)
        const line = lineOf(exit)
        const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
        assert.strictEqual(Option.isSome(failure) && (failure.value as { readonly _tag?: string })._tag, "MasterKeyRetired")
        assert.include(line, "LAWFUL_MASTER_KEY")
        assert.include(line, "the key in service")
        assert.include(line, idOf(keyA))
        assert.notInclude(line, Redacted.value(keyA))
        assert.notInclude(line, Redacted.value(keyB))
        assert.notInclude(line, "\n")
      }
      // The key in service starts, with the retired one as previous too.
      assert.isTrue(Exit.isSuccess(yield* startWith({ LAWFUL_MASTER_KEY: Redacted.value(keyB) })))
      assert.isTrue(
        Exit.isSuccess(yield* startWith({ LAWFUL_MASTER_KEY: Redacted.value(keyB), LAWFUL_MASTER_KEY_PREVIOUS: Redacted.value(keyA) }))
      )
    }))
})

contractSuite("Review19: a Vault running when its master key is retired", stores, (it) => {
  it.scoped("a Vault built before the retirement makes no new tenant key under the retired key, writing nothing; existing tenants still seal and open", () =>
    Effect.gen(function*() {
      const { retiredReads, rotate, store, vaultWith } = yield* fixture
      const [keyA, keyB] = [MasterKey.generate(), MasterKey.generate()]
      // Another process, still on the old key, built (and started) before the rotation.
      const old = yield* vaultWith(keyA, keyB)
      const coldOld = yield* vaultWith(keyA, keyB)
      const existing = yield* sealFor(old, yield* TenantId.make)
      yield* rotate(keyB, keyA)

      const fresh = yield* TenantId.make
      const subject = yield* SubjectId.make
      const writes = {
        seal: old.seal(fresh, subject, "p", "secret"),
        sealAll: old.sealAll(fresh, [{ subject, purpose: "p", plaintext: "secret" }]),
        newSubject: old.newSubject(fresh),
        newSubjects: old.newSubjects(fresh, 2),
        prepare: old.prepare(fresh),
        blindIndex: old.blindIndex(fresh, "email", "ann@example.com")
      }
      for (const [name, write] of Object.entries(writes)) {
        const outcome = yield* Effect.either(write as Effect.Effect<unknown, { readonly _tag: string }>)
        assert.isTrue(Either.isLeft(outcome), `${name} makes no tenant key under the retired master key`)
        if (Either.isLeft(outcome)) {
          const error = outcome.left as { readonly _tag: string; readonly keyId?: string; readonly message: string }
          assert.strictEqual(error._tag, "MasterKeyRetired", name)
          assert.strictEqual(error.keyId, idOf(keyA), name)
          assert.notInclude(error.message, Redacted.value(keyA), name)
        }
      }
      assert.deepStrictEqual(yield* store.tenantKey(fresh), Option.none())
      assert.deepStrictEqual(yield* store.subjectKey(fresh, subject), Option.none())

      // Existing tenants: opened and sealed for, from the cache and from the store alike.
      for (const vault of [old, coldOld]) {
        assert.isTrue(yield* opens(vault, existing))
        assert.isTrue(yield* opens(vault, yield* sealFor(vault, existing.tenant)))
      }
      // The key in service makes the new tenant's key.
      assert.isTrue(yield* opens(yield* vaultWith(keyB), yield* sealFor(yield* vaultWith(keyB), fresh)))
      assert.isAbove(retiredReads(), 0)
    }))
})

contractSuite("Review19: the check of a new tenant key", stores, (it) => {
  // Review 19d: the key store answers whether the master key is retired in the insert's own step
  // (the read before it, a statement apart, let a retirement come between): no separate read.
  it.scoped("a new tenant key costs no separate read of whether the master key is retired, the key store checks it as it inserts; an existing tenant's seal and open none", () =>
    Effect.gen(function*() {
      const { retiredReads, vaultWith } = yield* fixture
      const key = MasterKey.generate()
      const existing = yield* sealFor(yield* vaultWith(key), yield* TenantId.make)

      // A process new to the tenant: its keys are read from the store, not cached.
      const vault = yield* vaultWith(key)
      const before = retiredReads()
      assert.isTrue(yield* opens(vault, existing))
      assert.isTrue(yield* opens(vault, yield* sealFor(vault, existing.tenant)))
      yield* vault.newSubjects(existing.tenant, 10)
      assert.strictEqual(retiredReads() - before, 0, "no read on an existing tenant")

      const fresh = yield* TenantId.make
      assert.isTrue(yield* opens(vault, yield* sealFor(vault, fresh)))
      assert.isTrue(yield* opens(vault, yield* sealFor(vault, fresh)))
      assert.strictEqual(retiredReads() - before, 0, "no separate read for the new tenant's key")
    }))
})
