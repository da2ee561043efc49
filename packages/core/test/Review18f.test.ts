/**
 * Review 18f: input an untyped caller sends that the registry, the directory and the suppression
 * list did not check, each with the test that failed before its fix.
 */
import { assert, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Email from "../src/Email.js"
import * as KeyStore from "../src/KeyStore.js"
import * as PersonalDataRegistry from "../src/PersonalDataRegistry.js"
import * as SubjectDirectory from "../src/SubjectDirectory.js"
import * as SubjectId from "../src/SubjectId.js"
import * as SuppressionList from "../src/SuppressionList.js"
import * as TenantId from "../src/TenantId.js"
import { contractSuite, sqlSuite } from "../src/testing.js"
import * as Vault from "../src/Vault.js"
import { address, describeExit, exitOf, leaks, notIds, tagOf } from "./RefusalFixture.js"
import { withVault } from "./SubjectDirectoryLayers.js"

const suppressionOn = <E, R>(store: Layer.Layer<KeyStore.KeyStore, E, R>) =>
  SuppressionList.layerSql.pipe(Layer.provideMerge(withVault(SubjectDirectory.layerSql, store)))

// The registry ran every source with whatever `changes` was: a source reading its fields threw or
// died (reported as its failure), one ignoring them answered, and the report said "succeeded".
it.effect("rectifyAll refuses changes that are no object of fields with IdInvalid (changes) before any source runs, never quoting them", () =>
  Effect.gen(function*() {
    const registry = yield* PersonalDataRegistry.make
    const calls: Array<string> = []
    yield* registry.register({
      name: "spy",
      description: "counts its calls",
      categories: ["contact.email"],
      purposes: ["test"],
      export: () => Effect.sync(() => (calls.push("export"), { records: [] })),
      erase: () => Effect.sync(() => (calls.push("erase"), { erased: 0 })),
      rectify: () => Effect.sync(() => (calls.push("rectify"), { rectified: 0 }))
    })
    const [tenant, subject] = yield* Effect.all([TenantId.make, SubjectId.make])
    for (const changes of [null, undefined, address, 42, true, [address], ["email", address]]) {
      const exit = yield* exitOf(() => registry.rectifyAll(tenant, subject, changes as unknown as PersonalDataRegistry.Changes))
      assert.strictEqual(tagOf(exit), "IdInvalid", `${JSON.stringify(changes)}: ${describeExit(exit)}`)
      if (Exit.isFailure(exit) && Cause.isFailType(exit.cause)) {
        assert.strictEqual((exit.cause.error as PersonalDataRegistry.IdInvalid).id, "changes")
        assert.notInclude(exit.cause.error.message, "lower-case UUID")
      }
      assert.isFalse(leaks(exit), JSON.stringify(changes))
    }
    assert.deepStrictEqual(calls, [], "no source ran")
    const report = yield* registry.rectifyAll(tenant, subject, { email: "new@example.com" })
    assert.isTrue(report.allSucceeded)
    assert.deepStrictEqual(calls, ["rectify"])
  }).pipe(Effect.scoped))

contractSuite("Review18f: SubjectDirectory and SuppressionList", {
  memory: SuppressionList.layerMemory.pipe(Layer.provideMerge(withVault(SubjectDirectory.layerMemory, KeyStore.layerMemory))),
  sql: suppressionOn(KeyStore.layerSql)
}, (it) => {
  // resolveAll(badTenant, []) answered [] where resolveAll(badTenant, [address]) failed with the
  // Vault's KeyStoreError; a list that is no array, or with an invalid address, failed on the list
  // (SubjectDirectoryError, InvalidEmail) before the tenant was looked at.
  it.effect("resolveAll refuses a tenant that is not one first, whatever the list, as it does with addresses", () =>
    Effect.gen(function*() {
      const directory = yield* SubjectDirectory.SubjectDirectory
      const tenant = yield* TenantId.make
      for (const given of notIds(tenant)) {
        const bad = given as TenantId.TenantId
        const lists: ReadonlyArray<unknown> = [[], ["kept@example.com"], ["not an address"], null, address]
        for (const list of lists) {
          const exit = yield* exitOf(() => directory.resolveAll(bad, list as ReadonlyArray<string>))
          const what = `${JSON.stringify(given)} with ${JSON.stringify(list)}`
          assert.strictEqual(tagOf(exit), "KeyStoreError", `${what}: ${describeExit(exit)}`)
          assert.isFalse(leaks(exit), what)
        }
      }
      assert.deepStrictEqual(yield* directory.resolveAll(tenant, []), [])
    }))

  // A value that is not a string was hashed as its text (null as "null", an object by its
  // `toString`, which could name a suppressed address), and a symbol or an object without a
  // prototype threw in the hash: a defect.
  it.effect("suppressed refuses a list holding a value that is not a string with SuppressionListError, never quoting it", () =>
    Effect.gen(function*() {
      const list = yield* SuppressionList.SuppressionList
      const [tenant, fresh] = yield* Effect.all([TenantId.make, TenantId.make])
      yield* list.add(tenant, address, "bounce")
      const posing = { toString: () => address }
      const lists: ReadonlyArray<ReadonlyArray<unknown>> = [
        [null, 42],
        [address, posing],
        [Symbol("x")],
        [Object.create(null)],
        [address, undefined]
      ]
      for (const target of [tenant, fresh]) {
        for (const given of lists) {
          const exit = yield* exitOf(() => list.suppressed(target, given as ReadonlyArray<Email.Email>))
          assert.strictEqual(tagOf(exit), "SuppressionListError", `${String(given.length)} values: ${describeExit(exit)}`)
          assert.isFalse(leaks(exit))
        }
      }
      assert.deepStrictEqual([...(yield* list.suppressed(tenant, [Email.Email.make(address)]))], [address])
    }))
})

sqlSuite("Review18f: suppression rows of an earlier version", suppressionOn(KeyStore.layerSql), (it) => {
  // Before reasons were checked, `add` stored any reason it was given on SQL; `reasonFor` returned
  // it as a `Reason` ("spam", "Erasure"), which no caller's switch over `Reason` expects.
  it.effect("a stored reason outside Reason reads as manual: a suppression that remove lifts and an erasure replaces", () =>
    Effect.gen(function*() {
      const list = yield* SuppressionList.SuppressionList
      const vault = yield* Vault.Vault
      const sql = yield* SqlClient.SqlClient
      const tenant = yield* TenantId.make
      const stored = ["spam@example.com", "upper@example.com", "lifted@example.com"] as const
      for (const [email, reason] of [[stored[0], "spam"], [stored[1], "Erasure"], [stored[2], ""]] as const) {
        const hash = yield* vault.blindIndex(tenant, SuppressionList.domain, email)
        yield* sql`INSERT INTO lawful_suppression_list (tenant_id, address_hash, reason, created_at)
                   VALUES (${tenant}, ${hash}, ${reason}, now())`
      }
      for (const email of stored) {
        assert.deepStrictEqual(yield* list.reasonFor(tenant, email), Option.some("manual" as const), email)
      }
      assert.strictEqual((yield* list.suppressed(tenant, stored.map((e) => Email.Email.make(e)))).size, 3)
      assert.isTrue(yield* list.remove(tenant, stored[2]))
      assert.deepStrictEqual(yield* list.reasonFor(tenant, stored[2]), Option.none())
      yield* list.add(tenant, stored[1], "erasure")
      assert.deepStrictEqual(yield* list.reasonFor(tenant, stored[1]), Option.some("erasure" as const))
    }))
})
