/**
 * Review 19e: a rotation's re-wrap could land a tenant key under a master key another process had
 * just retired (`replaceTenantKey` neither checked the retired keys nor waited for a retirement),
 * and a rotation whose retirements kept being refused ended with a `KeyStoreError` where its
 * current key had been retired; each with the test that failed before its fix.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as KeyStore from "../src/KeyStore.js"
import * as MasterKey from "../src/MasterKey.js"
import * as TenantId from "../src/TenantId.js"
import { contractSuite, postgresLayer, postgresUrl } from "../src/testing.js"
import { describeExit, tagOf } from "./RefusalFixture.js"
import { idOf, type Key, opens, retirementDuringHeldCall, sealFor, vaultOn, wrappedBy } from "./RotationFixture.js"

const stores = { memory: KeyStore.layerMemory, sql: KeyStore.layerSql }
const keyWrappedBy = (key: Key, fill = 3): KeyStore.WrappedKey => ({
  wrappedBy: idOf(key),
  ciphertext: new Uint8Array(60).fill(fill)
})
const now = new Date("2024-01-01T00:00:00Z")
const keyIdOf = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) ? (exit.cause as { readonly error?: { readonly keyId?: string } }).error?.keyId : undefined

contractSuite("Review19e: the key store re-wraps no tenant key under a retired master key", stores, (it) => {
  it.effect("replaceTenantKey to a retired master key fails with MasterKeyRetired, nothing written", () =>
    Effect.gen(function*() {
      const store = yield* KeyStore.KeyStore
      const [retired, old, current] = [MasterKey.generate(), MasterKey.generate(), MasterKey.generate()]
      assert.isTrue(yield* store.retireMasterKeys([idOf(retired)], idOf(current), now))
      const tenant = yield* TenantId.make
      const stored = yield* store.createTenantKey(tenant, keyWrappedBy(old))

      const exit = yield* Effect.exit(store.replaceTenantKey(tenant, stored, keyWrappedBy(retired, 7)))
      assert.strictEqual(tagOf(exit), "MasterKeyRetired", describeExit(exit))
      assert.strictEqual(keyIdOf(exit), idOf(retired))
      assert.deepStrictEqual(yield* store.tenantKey(tenant), Option.some(stored), "the stored key is unchanged")

      // The key in service takes it.
      assert.isTrue(yield* store.replaceTenantKey(tenant, stored, keyWrappedBy(current, 7)))
      assert.strictEqual(yield* wrappedBy(store, tenant), idOf(current))
    }))
})

// Process B still has the keys swapped (its current key K1, the key in service K2 as previous);
// process A, on K2, completes its rotation, which retires K1, at B's page `page`: before B's
// first page is read, between its read and its re-wraps; or before its second page is read, after
// B re-wrapped the first tenant under K1 (which A re-wraps back). Rotation reads every tenant key
// of the store and retires keys for the whole store: each case has a suite, so a store, of its own.
for (const page of [1, 2]) {
  contractSuite(`Review19e: a rotation whose current key another process retires at its page ${page}`, stores, (it) => {
    it.scoped("leaves no tenant key wrapped by the retired key, and fails with MasterKeyRetired", () =>
      Effect.gen(function*() {
        const inner = yield* KeyStore.KeyStore
        const [key1, key2] = [MasterKey.generate(), MasterKey.generate()]
        const processA = yield* vaultOn(inner, {}, key2, key1)
        const written = [yield* sealFor(processA, yield* TenantId.make), yield* sealFor(processA, yield* TenantId.make)]

        let reads = 0
        let resultOfA: unknown
        const store = KeyStore.KeyStore.of({
          ...inner,
          tenantKeysNotWrappedBy: (keyId, limit, after) =>
            Effect.gen(function*() {
              if (++reads === page) resultOfA = yield* Effect.orDie(processA.rotateMasterKey)
              return yield* inner.tenantKeysNotWrappedBy(keyId, limit, after)
            })
        })
        const processB = yield* vaultOn(store, { rotationPageSize: 1 }, key1, key2)
        const exit = yield* Effect.exit(processB.rotateMasterKey)

        assert.deepStrictEqual(resultOfA, { rewrapped: page - 1, skipped: [] }, "A's run completed")
        assert.isTrue(yield* inner.isMasterKeyRetired(idOf(key1)))
        for (const { tenant } of written) {
          assert.strictEqual(yield* wrappedBy(inner, tenant), idOf(key2), "no tenant key is wrapped by the retired key")
        }
        assert.strictEqual(tagOf(exit), "MasterKeyRetired", describeExit(exit))
        assert.strictEqual(keyIdOf(exit), idOf(key1))
        const inService = yield* vaultOn(inner, {}, key2)
        for (const secret of written) assert.isTrue(yield* opens(inService, secret))
      }))
  })
}

describe("Review19e: a rotation whose retirement is refused because its current key was retired", () => {
  it.scoped("ends with MasterKeyRetired, not the KeyStoreError of retirements refused, whichever refusal saw the key retired", () =>
    Effect.gen(function*() {
      // How many refusals a run takes before it gives up, from a case never retired.
      let givesUpAfter: number | undefined
      for (let retiredAtCall = 1; retiredAtCall <= 16; retiredAtCall++) {
        // A store of its own for each case: a rotation reads every tenant key of the store.
        const inner = yield* Effect.provide(KeyStore.KeyStore, KeyStore.layerMemory)
        const [keyA, keyB, keyC] = [MasterKey.generate(), MasterKey.generate(), MasterKey.generate()]
        yield* sealFor(yield* vaultOn(inner, {}, keyA), yield* TenantId.make)
        // Another process, on a newer key, completes a rotation that retires B's current key.
        const processC = yield* vaultOn(inner, {}, keyC, keyB, keyA)
        // B's retirements are refused (a process on an old key making tenant keys, say); at call
        // `retiredAtCall`, because C retired B's current key just before.
        let calls = 0
        const store = KeyStore.KeyStore.of({
          ...inner,
          retireMasterKeys: () =>
            Effect.gen(function*() {
              if (++calls === retiredAtCall) {
                assert.deepStrictEqual((yield* Effect.orDie(processC.rotateMasterKey)).skipped, [])
              }
              return false
            })
        })
        const exit = yield* Effect.exit((yield* vaultOn(store, {}, keyB, keyA)).rotateMasterKey)
        if (calls >= retiredAtCall) {
          assert.strictEqual(tagOf(exit), "MasterKeyRetired", `retired at call ${retiredAtCall}: ${describeExit(exit)}`)
          assert.strictEqual(keyIdOf(exit), idOf(keyB))
        } else {
          assert.strictEqual(tagOf(exit), "KeyStoreError", `never retired: ${describeExit(exit)}`)
          givesUpAfter = calls
        }
      }
      // So the case retired at the refusal the run gives up after was among those above.
      assert.isDefined(givesUpAfter, "a run ends on refusals alone")
      assert.isAbove(givesUpAfter!, 1)
    }))
})

// Several connections at once: PostgreSQL only (PGlite runs one statement at a time).
if (postgresUrl) {
  layer(KeyStore.layerSql.pipe(Layer.provideMerge(postgresLayer)), { timeout: 120_000 })(
    "Review19e: a tenant key's re-wrap and a retirement at once (PostgreSQL)",
    (it) => {
      it.scoped("a retirement waits for a re-wrap under way, then refuses to retire the key that wraps it now", () =>
        Effect.gen(function*() {
          const store = yield* KeyStore.KeyStore
          const [old, next, other] = [MasterKey.generate(), MasterKey.generate(), MasterKey.generate()]
          const tenant = yield* TenantId.make
          const stored = yield* store.createTenantKey(tenant, keyWrappedBy(old))

          // A transaction of another connection holds the tenant's row: the re-wrap's update waits
          // for it, inside the re-wrap's own transaction. The retirement of the key the re-wrap
          // wraps with, started while it is under way, waits for it, or answers at once without it.
          const { called, retired, waited } = yield* retirementDuringHeldCall({
            hold: "SELECT 1 FROM lawful_vault_tenant_keys WHERE tenant_id = $1 FOR UPDATE",
            tenant,
            call: store.replaceTenantKey(tenant, stored, keyWrappedBy(next, 7)),
            retire: store.retireMasterKeys([idOf(next)], idOf(other), now)
          })
          assert.isTrue(waited, "the retirement waited for the re-wrap under way")
          assert.isTrue(called)
          assert.isFalse(retired, "the retirement refuses: a tenant key is wrapped by the key it retires")
          assert.isFalse(yield* store.isMasterKeyRetired(idOf(next)))
          assert.strictEqual(yield* wrappedBy(store, tenant), idOf(next))
        }))
    }
  )
}
