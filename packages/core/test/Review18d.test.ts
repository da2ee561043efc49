import { assert } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
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
import { contractSuite } from "../src/testing.js"
import * as Vault from "../src/Vault.js"
import { address, describeExit, exitOf, leaks, notArrays, notIds, recordingTracer, seenIn, tagOf } from "./RefusalFixture.js"
import type { RecordedSpan } from "./RefusalFixture.js"
import { withVault } from "./SubjectDirectoryLayers.js"

contractSuite("Review18d: SuppressionList, SubjectDirectory and the Vault", {
  memory: SuppressionList.layerMemory.pipe(Layer.provideMerge(withVault(SubjectDirectory.layerMemory, KeyStore.layerMemory))),
  sql: SuppressionList.layerSql.pipe(Layer.provideMerge(withVault(SubjectDirectory.layerSql, KeyStore.layerSql)))
}, (it) => {
  it.effect("the suppression list refuses a tenant id that is not one with SuppressionListError on every method, never quoting it, and nothing changes", () =>
    Effect.gen(function*() {
      const list = yield* SuppressionList.SuppressionList
      const tenant = yield* TenantId.make
      yield* list.add(tenant, "kept@example.com", "bounce")
      for (const given of notIds(tenant)) {
        const bad = given as TenantId.TenantId
        const calls: ReadonlyArray<() => Effect.Effect<unknown, unknown>> = [
          () => list.add(bad, "kept@example.com", "erasure"),
          () => list.reasonFor(bad, "kept@example.com"),
          () => list.suppressed(bad, [Email.Email.make("kept@example.com")]),
          () => list.suppressed(bad, []),
          () => list.remove(bad, "kept@example.com"),
          () => list.count(bad)
        ]
        for (const [i, call] of calls.entries()) {
          const exit = yield* exitOf(call)
          assert.strictEqual(tagOf(exit), "SuppressionListError", `call ${i} with ${JSON.stringify(given)}: ${describeExit(exit)}`)
          assert.isFalse(leaks(exit), `call ${i}`)
        }
      }
      assert.deepStrictEqual(yield* list.reasonFor(tenant, "kept@example.com"), Option.some("bounce" as const))
      assert.strictEqual(yield* list.count(tenant), 1)
    }))

  it.effect("the suppression list refuses a reason outside Reason with SuppressionListError, and stores nothing", () =>
    Effect.gen(function*() {
      const list = yield* SuppressionList.SuppressionList
      const vault = yield* Vault.Vault
      const tenant = yield* TenantId.make
      const fresh = yield* TenantId.make
      yield* list.add(tenant, "kept@example.com", "unsubscribe")
      for (const reason of ["spam", "Erasure", "", null, undefined, 42]) {
        for (const [target, email] of [[tenant, "new@example.com"], [tenant, "kept@example.com"], [fresh, "new@example.com"]] as const) {
          const exit = yield* exitOf(() => list.add(target, email, reason as SuppressionList.Reason))
          assert.strictEqual(tagOf(exit), "SuppressionListError", `${JSON.stringify(reason)}: ${describeExit(exit)}`)
        }
      }
      assert.deepStrictEqual(yield* list.reasonFor(tenant, "new@example.com"), Option.none())
      assert.deepStrictEqual(yield* list.reasonFor(tenant, "kept@example.com"), Option.some("unsubscribe" as const))
      assert.strictEqual(yield* list.count(tenant), 1)
      assert.strictEqual(yield* list.count(fresh), 0)
      assert.isTrue(Option.isNone(yield* vault.findBlindIndex(fresh, "probe", "x")), "no key made for a tenant never used")
    }))

  it.effect("a list that is not an array fails with the operation's own error instead of throwing, and writes nothing", () =>
    Effect.gen(function*() {
      const list = yield* SuppressionList.SuppressionList
      const directory = yield* SubjectDirectory.SubjectDirectory
      const vault = yield* Vault.Vault
      const fresh = yield* TenantId.make
      for (const given of notArrays) {
        const calls: ReadonlyArray<readonly [string, () => Effect.Effect<unknown, unknown>]> = [
          ["SubjectDirectoryError", () => directory.resolveAll(fresh, given as ReadonlyArray<string>)],
          ["KeyStoreError", () => vault.sealAll(fresh, given as Parameters<typeof vault.sealAll>[1])],
          ["KeyStoreError", () => vault.openAll(fresh, given as Parameters<typeof vault.openAll>[1])],
          ["KeyStoreError", () => vault.shreddedAmong(fresh, given as ReadonlyArray<SubjectId.SubjectId>)],
          ["KeyStoreError", () => vault.reapplyErasures(given as Iterable<KeyStore.Erasure>)],
          ["SuppressionListError", () => list.suppressed(fresh, given as ReadonlyArray<Email.Email>)]
        ]
        for (const [i, [tag, call]] of calls.entries()) {
          const exit = yield* exitOf(call)
          assert.strictEqual(tagOf(exit), tag, `call ${i} with ${JSON.stringify(given)}: ${describeExit(exit)}`)
          assert.isFalse(leaks(exit), `call ${i}`)
        }
      }
      assert.isTrue(Option.isNone(yield* vault.findBlindIndex(fresh, "probe", "x")), "no key made for a tenant never used")
    }))

  it.effect("releaseSubjects of something that is not a list gives nothing back, and the pool still hands out subjects", () =>
    Effect.gen(function*() {
      const vault = yield* Vault.Vault
      const tenant = yield* TenantId.make
      const [subject] = yield* vault.newSubjects(tenant, 1)
      for (const given of notArrays) {
        const exit = yield* exitOf(() => vault.releaseSubjects(tenant, given as Iterable<SubjectId.SubjectId>))
        assert.strictEqual(tagOf(exit), "success", `${JSON.stringify(given)}: ${describeExit(exit)}`)
      }
      yield* vault.releaseSubjects(tenant, [subject!])
      assert.deepStrictEqual(yield* vault.newSubjects(tenant, 1), [subject!])
    }))

  it.effect("newSubjects and prepare given a count that is not one die naming its kind, never quoting it, in no span either", () =>
    Effect.gen(function*() {
      const vault = yield* Vault.Vault
      const tenant = yield* TenantId.make
      const spans: Array<RecordedSpan> = []
      for (const given of [address, -1, Number.NaN, 2.5, null, {}, [address]]) {
        const count = given as number
        const calls: ReadonlyArray<() => Effect.Effect<unknown, unknown>> = [
          () => vault.newSubjects(tenant, count),
          () => vault.prepare(tenant, count)
        ]
        for (const [i, call] of calls.entries()) {
          const exit = yield* exitOf(call).pipe(Effect.withTracer(recordingTracer(spans)))
          assert.strictEqual(tagOf(exit), "defect", `call ${i} with ${JSON.stringify(given)}: ${describeExit(exit)}`)
          assert.isFalse(leaks(exit), `call ${i}: ${describeExit(exit)}`)
        }
      }
      assert.include(spans.map((span) => span.name), "Vault.prepare")
      for (const span of spans) assert.notInclude(seenIn(span), address, span.name)
      assert.strictEqual((yield* vault.newSubjects(tenant, 1)).length, 1)
    }))

  it.effect("seal refuses a plaintext that is neither text nor bytes with KeyStoreError, making no key", () =>
    Effect.gen(function*() {
      const vault = yield* Vault.Vault
      const tenant = yield* TenantId.make
      const fresh = yield* TenantId.make
      const subject = yield* SubjectId.make
      const sealed = yield* vault.seal(tenant, subject, "probe", "kept")
      for (const plaintext of [null, undefined, 42, {}, [1, 2], new Uint16Array(2)]) {
        const given = plaintext as string
        const calls: ReadonlyArray<() => Effect.Effect<unknown, unknown>> = [
          () => vault.seal(tenant, subject, "probe", given),
          () => vault.seal(fresh, subject, "probe", given),
          () => vault.sealAll(tenant, [{ subject, purpose: "probe", plaintext: "x" }, { subject, purpose: "probe", plaintext: given }]),
          () => vault.sealAll(fresh, [{ subject, purpose: "probe", plaintext: given }])
        ]
        for (const [i, call] of calls.entries()) {
          const exit = yield* exitOf(call)
          assert.strictEqual(tagOf(exit), "KeyStoreError", `call ${i} with ${String(plaintext)}: ${describeExit(exit)}`)
        }
      }
      assert.isTrue(Option.isNone(yield* vault.findBlindIndex(fresh, "probe", "x")), "no key made for a tenant never used")
      assert.strictEqual(yield* vault.openString(tenant, subject, "probe", sealed), "kept")
    }))

  it.effect("open refuses a sealed value that is not bytes as SealedValueInvalid (malformed), on a subject with a key or without", () =>
    Effect.gen(function*() {
      const vault = yield* Vault.Vault
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      const unknown = yield* SubjectId.make
      const sealed = yield* vault.seal(tenant, subject, "probe", "kept")
      const text = `\u0001${"x".repeat(40)}`
      for (const value of [null, undefined, 42, {}, Array.from(sealed), text, new Uint16Array(sealed)]) {
        const given = value as Uint8Array
        for (const who of [subject, unknown]) {
          const calls: ReadonlyArray<() => Effect.Effect<unknown, unknown>> = [
            () => vault.open(tenant, who, "probe", given),
            () => vault.openString(tenant, who, "probe", given)
          ]
          for (const call of calls) {
            const exit = yield* exitOf(call)
            assert.strictEqual(tagOf(exit), "SealedValueInvalid", `${typeof value}: ${describeExit(exit)}`)
            if (Exit.isFailure(exit) && Cause.isFailType(exit.cause)) {
              assert.strictEqual((exit.cause.error as Vault.SealedValueInvalid).reason, "malformed")
            }
          }
        }
        const all = yield* vault.openAll(tenant, [{ subject, purpose: "probe", sealed: given }, { subject, purpose: "probe", sealed }])
        assert.isTrue(Either.isLeft(all[0]!) && all[0].left._tag === "SealedValueInvalid" && all[0].left.reason === "malformed")
        assert.isTrue(Either.isRight(all[1]!))
      }
      assert.strictEqual(yield* vault.openString(tenant, subject, "probe", sealed), "kept")
    }))
})

// A source that records what reaches it, for the registry's checks.
const spySource = (calls: Array<string>): PersonalDataRegistry.PersonalDataSource => ({
  name: "spy",
  description: "records the calls it receives",
  categories: ["spy.field"],
  purposes: ["testing"],
  export: () => Effect.sync(() => void calls.push("export")).pipe(Effect.as({ records: [] })),
  erase: () => Effect.sync(() => void calls.push("erase")).pipe(Effect.as({ erased: 0 })),
  rectify: () => Effect.sync(() => void calls.push("rectify")).pipe(Effect.as({ rectified: 0 }))
})

// What reached the spy source: a list of each build of the layer, as the suites of the backends may run at once.
class SpyCalls extends Context.Tag("Review18d/SpyCalls")<SpyCalls, Array<string>>() {}

const registryWith = <E1, R1, E2, R2>(
  directory: Layer.Layer<SubjectDirectory.SubjectDirectory, E1, R1 | Vault.Vault>,
  store: Layer.Layer<KeyStore.KeyStore, E2, R2>
) =>
  Layer.mergeAll(SubjectDirectory.personalDataSource, PersonalDataRegistry.register(Effect.map(SpyCalls, spySource))).pipe(
    Layer.provideMerge(PersonalDataRegistry.layer),
    Layer.provideMerge(Layer.sync(SpyCalls, (): Array<string> => [])),
    Layer.provideMerge(withVault(directory, store))
  )

contractSuite("Review18d: PersonalDataRegistry", {
  memory: registryWith(SubjectDirectory.layerMemory, KeyStore.layerMemory),
  sql: registryWith(SubjectDirectory.layerSql, KeyStore.layerSql)
}, (it) => {
  it.effect("exportAll, eraseAll and rectifyAll refuse a tenant or subject id that is not one with IdInvalid before any source runs, never quoting it", () =>
    Effect.gen(function*() {
      const registry = yield* PersonalDataRegistry.PersonalDataRegistry
      const registryCalls = yield* SpyCalls
      const directory = yield* SubjectDirectory.SubjectDirectory
      const tenant = yield* TenantId.make
      const subject = yield* directory.resolve(tenant, "kept@example.com")
      const before = registryCalls.length
      const cases = [
        ...notIds(tenant).map((given) => [given, subject, "tenant"] as const),
        ...notIds(subject).map((given) => [tenant, given, "subject"] as const)
      ]
      for (const [t, s, which] of cases) {
        const badTenant = t as TenantId.TenantId
        const badSubject = s as SubjectId.SubjectId
        const calls: ReadonlyArray<() => Effect.Effect<unknown, unknown>> = [
          () => registry.exportAll(badTenant, badSubject),
          () => registry.eraseAll(badTenant, badSubject),
          () => registry.rectifyAll(badTenant, badSubject, { email: "new@example.com" })
        ]
        for (const [i, call] of calls.entries()) {
          const exit = yield* exitOf(call)
          assert.strictEqual(tagOf(exit), "IdInvalid", `call ${i} with ${JSON.stringify([t, s])}: ${describeExit(exit)}`)
          if (Exit.isFailure(exit) && Cause.isFailType(exit.cause)) {
            assert.strictEqual((exit.cause.error as PersonalDataRegistry.IdInvalid).id, which)
          }
          assert.isFalse(leaks(exit), `call ${i}`)
        }
      }
      assert.deepStrictEqual(registryCalls.slice(before), [], "no source ran")
      assert.deepStrictEqual(yield* directory.emailOf(tenant, subject), Email.Email.make("kept@example.com"))
      const report = yield* registry.exportAll(tenant, subject)
      assert.isTrue(report.allSucceeded)
      assert.deepStrictEqual(registryCalls.slice(before), ["export"])
    }))
})
