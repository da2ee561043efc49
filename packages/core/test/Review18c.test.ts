import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Email from "../src/Email.js"
import * as KeyStore from "../src/KeyStore.js"
import * as SubjectDirectory from "../src/SubjectDirectory.js"
import * as SubjectId from "../src/SubjectId.js"
import * as SuppressionList from "../src/SuppressionList.js"
import * as TenantId from "../src/TenantId.js"
import { contractSuite } from "../src/testing.js"
import * as Vault from "../src/Vault.js"
import { address, leaks, tagOf } from "./RefusalFixture.js"
import { withVault } from "./SubjectDirectoryLayers.js"

// Values an untyped caller may send where an address is expected.
const notText: ReadonlyArray<unknown> = [null, undefined, 42, {}, ["ann@example.com"], new Date(0)]

describe("Review18c: Email", () => {
  it("normalize refuses a value that is not text with InvalidEmail, never throwing", () => {
    for (const value of notText) {
      const result = Effect.runSyncExit(Effect.either(Effect.suspend(() => Email.normalize(value as string))))
      assert.isTrue(Exit.isSuccess(result), `${String(value)}: ${Exit.isFailure(result) ? Cause.pretty(result.cause) : ""}`)
      if (Exit.isSuccess(result)) {
        assert.isTrue(Either.isLeft(result.value) && result.value.left.reason === "not-text", String(value))
      }
    }
  })
})

contractSuite("Review18c: SubjectDirectory and SuppressionList", {
  memory: SuppressionList.layerMemory.pipe(Layer.provideMerge(withVault(SubjectDirectory.layerMemory, KeyStore.layerMemory))),
  sql: SuppressionList.layerSql.pipe(Layer.provideMerge(withVault(SubjectDirectory.layerSql, KeyStore.layerSql)))
}, (it) => {
  it.effect("a value that is not text where an address goes is InvalidEmail on every operation, and nothing is written", () =>
    Effect.gen(function*() {
      const directory = yield* SubjectDirectory.SubjectDirectory
      const list = yield* SuppressionList.SuppressionList
      const vault = yield* Vault.Vault
      const tenant = yield* TenantId.make
      const fresh = yield* TenantId.make
      const subject = yield* directory.resolve(tenant, "kept@example.com")
      for (const value of notText) {
        const email = value as string
        const calls: ReadonlyArray<Effect.Effect<unknown, unknown>> = [
          directory.resolve(fresh, email),
          directory.resolveAll(fresh, ["bob@example.com", email]),
          directory.find(fresh, email),
          directory.changeEmail(tenant, subject, email),
          list.add(fresh, email, "manual"),
          list.reasonFor(fresh, email),
          list.remove(fresh, email)
        ]
        for (const call of calls) {
          const exit = yield* Effect.exit(call)
          assert.strictEqual(tagOf(exit), "InvalidEmail", `${String(value)}: ${Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""}`)
        }
      }
      assert.deepStrictEqual(yield* directory.emailOf(tenant, subject), Email.Email.make("kept@example.com"))
      assert.isTrue(Option.isNone(yield* vault.findBlindIndex(fresh, "probe", "x")), "no key made for a tenant never used")
      assert.strictEqual(yield* list.count(fresh), 0)
    }))

  it.effect("a subject id that is not one (an address, upper case) is refused alike on every backend, never quoted, and nothing changes", () =>
    Effect.gen(function*() {
      const directory = yield* SubjectDirectory.SubjectDirectory
      const tenant = yield* TenantId.make
      const subject = yield* directory.resolve(tenant, "kept@example.com")
      for (const given of [address, subject.toUpperCase(), "", `${subject}\0`]) {
        const id = given as SubjectId.SubjectId
        for (const call of [directory.entryOf(tenant, id), directory.emailOf(tenant, id), directory.changeEmail(tenant, id, "new@example.com")] as ReadonlyArray<Effect.Effect<unknown, unknown>>) {
          const exit = yield* Effect.exit(call)
          assert.strictEqual(tagOf(exit), "SubjectNotFound", JSON.stringify(given))
          assert.isFalse(leaks(exit))
        }
        assert.isFalse(yield* directory.forget(tenant, id))
        const elsewhere = yield* Effect.exit(directory.entryOf(address as TenantId.TenantId, subject))
        assert.strictEqual(tagOf(elsewhere), "SubjectNotFound")
        assert.isFalse(leaks(elsewhere))
        assert.isFalse(yield* directory.forget(address as TenantId.TenantId, subject))
      }
      assert.deepStrictEqual(yield* directory.emailOf(tenant, subject), Email.Email.make("kept@example.com"))
      assert.deepStrictEqual(yield* directory.find(tenant, "new@example.com"), Option.none())
    }))

  it.effect("the Vault refuses an id that is not one with KeyStoreError on every backend, never quoting it, and writes nothing", () =>
    Effect.gen(function*() {
      const vault = yield* Vault.Vault
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      const sealed = yield* vault.seal(tenant, subject, "probe", "kept")
      const badTenant = address as TenantId.TenantId
      for (const given of [address, subject.toUpperCase(), "", `${subject}\0`]) {
        const badSubject = given as SubjectId.SubjectId
        const upperTenant = tenant.toUpperCase() as TenantId.TenantId
        const calls: ReadonlyArray<Effect.Effect<unknown, unknown>> = [
          vault.seal(tenant, badSubject, "probe", "x"),
          vault.seal(badTenant, subject, "probe", "x"),
          vault.seal(upperTenant, subject, "probe", "x"),
          vault.sealAll(tenant, [{ subject, purpose: "probe", plaintext: "x" }, { subject: badSubject, purpose: "probe", plaintext: "x" }]),
          vault.open(tenant, badSubject, "probe", sealed),
          vault.openString(upperTenant, subject, "probe", sealed),
          vault.openAll(tenant, [{ subject: badSubject, purpose: "probe", sealed }]),
          vault.shred(tenant, badSubject),
          vault.shred(badTenant, subject),
          vault.isShredded(tenant, badSubject),
          vault.shreddedAmong(tenant, [subject, badSubject]),
          vault.newSubjects(badTenant, 1),
          vault.prepare(badTenant, 1),
          vault.blindIndex(badTenant, "probe", "x"),
          vault.findBlindIndex(badTenant, "probe", "x"),
          vault.erasures(badTenant),
          vault.reapplyErasures([{ tenantId: tenant, subjectId: badSubject, shreddedAt: new Date(0) } as KeyStore.Erasure])
        ]
        for (const [i, call] of calls.entries()) {
          const exit = yield* Effect.exit(call)
          assert.strictEqual(tagOf(exit), "KeyStoreError", `call ${i} with ${JSON.stringify(given)}: ${Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "succeeded"}`)
          assert.isFalse(leaks(exit), `call ${i}`)
        }
      }
      assert.strictEqual(yield* vault.openString(tenant, subject, "probe", sealed), "kept")
      assert.isFalse(yield* vault.isShredded(tenant, subject))
      assert.deepStrictEqual(yield* vault.erasures(tenant), [])
    }))
})
