import { assert, layer } from "@effect/vitest"
import { PgliteClient } from "@lawful/sql-pglite"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as KeyStore from "../src/KeyStore.js"
import * as MasterKey from "../src/MasterKey.js"
import * as SubjectDirectory from "../src/SubjectDirectory.js"
import * as TenantId from "../src/TenantId.js"
import { contractSuite } from "../src/testing.js"
import * as Vault from "../src/Vault.js"

const withVault = <E1, R1, E2, R2>(
  directory: Layer.Layer<SubjectDirectory.SubjectDirectory, E1, R1 | Vault.Vault>,
  store: Layer.Layer<KeyStore.KeyStore, E2, R2>
) => directory.pipe(Layer.provideMerge(Vault.layer), Layer.provide(store), Layer.provide(MasterKey.layerRandom))

contractSuite("Review15: SubjectDirectory", {
  memory: withVault(SubjectDirectory.layerMemory, KeyStore.layerMemory),
  sql: withVault(SubjectDirectory.layerSql, KeyStore.layerSql)
}, (it) => {
  // `findBlindIndex` is `None` exactly while the tenant has no key: it shows a key written.
  it.effect("resolveAll with one invalid address writes nothing, not even the tenant's key", () =>
    Effect.gen(function*() {
      const directory = yield* SubjectDirectory.SubjectDirectory
      const vault = yield* Vault.Vault
      const tenant = yield* TenantId.make
      const failed = yield* Effect.flip(directory.resolveAll(tenant, ["a@example.com", "not an address"]))
      assert.strictEqual(failed._tag, "InvalidEmail")
      assert.isTrue(
        Option.isNone(yield* vault.findBlindIndex(tenant, SubjectDirectory.purpose, "a@example.com")),
        "the tenant has no key after a refused resolveAll"
      )
    }))
})

// The directory on a PGlite of the test's own, whose instance the test can reach.
const directoryOnPglite = SubjectDirectory.layerSql.pipe(
  Layer.provideMerge(Vault.layer),
  Layer.provide(KeyStore.layerSql),
  Layer.provide(MasterKey.layerRandom),
  Layer.provideMerge(PgliteClient.layer())
)

layer(directoryOnPglite, { timeout: 120_000 })("Review15: SubjectDirectory (PGlite)", (it) => {
  // A caller interrupted while its statement runs (a request that timed out, a client that went
  // away) does not undo the statement: the database commits it all the same. The subjects it
  // inserted must never be handed to other addresses.
  it.effect("a resolveAll interrupted after its insert committed gives its subjects to no other address", () =>
    Effect.gen(function*() {
      const directory = yield* SubjectDirectory.SubjectDirectory
      const { pglite } = yield* PgliteClient.PgliteClient
      const tenant = yield* TenantId.make
      yield* directory.resolve(tenant, "warm.up@example.com")

      // The insert of the next resolveAll runs and commits; its answer is held back until its
      // caller is interrupted.
      const committed = yield* Deferred.make<void>()
      let answer: () => void = () => {}
      const held = new Promise<void>((resolve) => (answer = resolve))
      const query = pglite.query.bind(pglite)
      pglite.query = async <T>(text: string, params?: Array<unknown>, options?: Parameters<typeof query>[2]) => {
        const result = await query<T>(text, params, options)
        if (text.includes("lawful_subjects_insert_or_find")) {
          pglite.query = query
          Deferred.unsafeDone(committed, Exit.void)
          await held
        }
        return result
      }
      const interrupted = yield* Effect.fork(directory.resolveAll(tenant, ["first.import@example.com"]))
      yield* Deferred.await(committed)
      yield* Fiber.interrupt(interrupted)
      answer()

      const first = yield* directory.find(tenant, "first.import@example.com")
      assert.isTrue(Option.isSome(first), "the interrupted insert committed")
      for (const email of ["second@example.com", "third@example.com"]) {
        const resolved = yield* Effect.either(directory.resolve(tenant, email))
        assert.isTrue(Either.isRight(resolved), `a new address resolves after the interruption, got ${Either.isLeft(resolved) ? resolved.left._tag : ""}`)
        assert.notStrictEqual(Either.getOrThrow(resolved), Option.getOrThrow(first), "another address gets another subject")
        assert.strictEqual(yield* directory.emailOf(tenant, Either.getOrThrow(resolved)), email)
      }
      assert.strictEqual(yield* directory.emailOf(tenant, Option.getOrThrow(first)), "first.import@example.com")
    }))
})
