import { assert } from "@effect/vitest"
import type { Vitest } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import * as SubjectId from "../src/SubjectId.js"
import * as TenantId from "../src/TenantId.js"
import { Vault } from "../src/Vault.js"

const bytes = FastCheck.uint8Array({ minLength: 0, maxLength: 512 })
const purpose = FastCheck.stringMatching(/^[a-z]{1,12}(\.[a-z]{1,12}){0,2}$/)

const ids = Effect.all([TenantId.make, SubjectId.make])

/** The Vault's guarantees, on whatever KeyStore backs it. */
export const suite = (it: Vitest.MethodsNonLive<Vault>) => {
  it.effect.prop("open(seal(x)) = x for arbitrary bytes", { data: bytes, purpose }, ({ data, purpose }) =>
    Effect.gen(function*() {
      const vault = yield* Vault
      const [tenant, subject] = yield* ids
      const sealed = yield* vault.seal(tenant, subject, purpose, data)
      assert.strictEqual(sealed.length, data.length + 29)
      assert.deepStrictEqual([...(yield* vault.open(tenant, subject, purpose, sealed))], [...data])
    }), { fastCheck: { numRuns: 50 } })

  it.effect("sealing twice gives different ciphertexts (fresh nonce)", () =>
    Effect.gen(function*() {
      const vault = yield* Vault
      const [tenant, subject] = yield* ids
      const a = yield* vault.seal(tenant, subject, "p", "same")
      const b = yield* vault.seal(tenant, subject, "p", "same")
      assert.notDeepEqual([...a.subarray(1, 13)], [...b.subarray(1, 13)])
      assert.strictEqual(yield* vault.openString(tenant, subject, "p", a), "same")
    }))

  it.effect.prop(
    "any flipped bit of version, nonce, ciphertext or tag fails",
    { data: FastCheck.uint8Array({ minLength: 1, maxLength: 64 }), position: FastCheck.nat(), bit: FastCheck.integer({ min: 0, max: 7 }) },
    ({ bit, data, position }) =>
      Effect.gen(function*() {
        const vault = yield* Vault
        const [tenant, subject] = yield* ids
        const sealed = yield* vault.seal(tenant, subject, "field", data)
        const tampered = Uint8Array.from(sealed)
        const index = position % tampered.length
        tampered[index] = tampered[index]! ^ (1 << bit)
        const result = yield* Effect.either(vault.open(tenant, subject, "field", tampered))
        assert.isTrue(Either.isLeft(result))
        assert.strictEqual(Either.isLeft(result) && result.left._tag, "SealedValueInvalid")
      }),
    { fastCheck: { numRuns: 60 } }
  )

  it.effect("every single-bit change of one sealed value fails", () =>
    Effect.gen(function*() {
      const vault = yield* Vault
      const [tenant, subject] = yield* ids
      const sealed = yield* vault.seal(tenant, subject, "field", "a field of thirty-two characters")
      for (let index = 0; index < sealed.length; index++) {
        for (let bit = 0; bit < 8; bit++) {
          const tampered = Uint8Array.from(sealed)
          tampered[index] = tampered[index]! ^ (1 << bit)
          assert.isTrue(Either.isLeft(yield* Effect.either(vault.open(tenant, subject, "field", tampered))))
        }
      }
      assert.isTrue(Either.isLeft(yield* Effect.either(vault.open(tenant, subject, "field", sealed.subarray(0, 28)))))
      assert.isTrue(Either.isLeft(yield* Effect.either(vault.open(tenant, subject, "field", sealed.subarray(0, sealed.length - 1)))))
    }))

  it.effect.prop("a ciphertext opened under another subject, tenant or purpose fails", { data: bytes }, ({ data }) =>
    Effect.gen(function*() {
      const vault = yield* Vault
      const [tenant, subject] = yield* ids
      const [otherTenant, otherSubject] = yield* ids
      const sealed = yield* vault.seal(tenant, subject, "contact.email", data)
      yield* vault.seal(tenant, otherSubject, "contact.email", data)
      yield* vault.seal(otherTenant, subject, "contact.email", data)
      const attempts = [
        vault.open(tenant, otherSubject, "contact.email", sealed),
        vault.open(otherTenant, subject, "contact.email", sealed),
        vault.open(tenant, subject, "consent.ip", sealed),
        vault.open(otherTenant, otherSubject, "contact.email", sealed)
      ]
      for (const attempt of attempts) {
        const result = yield* Effect.either(attempt)
        assert.isTrue(Either.isLeft(result) && result.left._tag === "SealedValueInvalid")
      }
    }), { fastCheck: { numRuns: 20 } })

  it.effect.prop(
    "after shred, every ciphertext of that subject fails and every other subject's still opens",
    { values: FastCheck.array(FastCheck.string({ maxLength: 40 }), { minLength: 1, maxLength: 6 }), victim: FastCheck.nat() },
    ({ values, victim }) =>
      Effect.gen(function*() {
        const vault = yield* Vault
        const tenant = yield* TenantId.make
        const subjects = yield* Effect.all(Array.from({ length: 4 }, () => SubjectId.make))
        const sealed = yield* Effect.forEach(subjects, (subject) =>
          Effect.forEach(values, (value) => Effect.map(vault.seal(tenant, subject, "note", value), (s) => [value, s] as const)))
        const shredded = victim % subjects.length
        yield* vault.shred(tenant, subjects[shredded]!)
        assert.isTrue(yield* vault.isShredded(tenant, subjects[shredded]!))
        // One read names the shredded among live subjects and one that never had a key.
        const never = yield* SubjectId.make
        assert.deepStrictEqual([...yield* vault.shreddedAmong(tenant, [...subjects, never, subjects[shredded]!])], [
          subjects[shredded]!
        ])
        for (const [index, subject] of subjects.entries()) {
          for (const [value, ciphertext] of sealed[index]!) {
            const result = yield* Effect.either(vault.openString(tenant, subject, "note", ciphertext))
            if (index === shredded) {
              assert.isTrue(Either.isLeft(result) && result.left._tag === "SubjectShredded")
            } else {
              assert.deepStrictEqual(result, Either.right(value))
            }
          }
        }
        const again = yield* Effect.either(vault.seal(tenant, subjects[shredded]!, "note", "new"))
        assert.isTrue(Either.isLeft(again) && again.left._tag === "SubjectShredded")
      }),
    { fastCheck: { numRuns: 15 } }
  )

  it.effect("shred is idempotent and enters the erasure ledger once", () =>
    Effect.gen(function*() {
      const vault = yield* Vault
      const [tenant, subject] = yield* ids
      const neverSealed = yield* SubjectId.make
      yield* vault.seal(tenant, subject, "p", "x")
      yield* vault.shred(tenant, subject)
      yield* vault.shred(tenant, subject)
      yield* vault.shred(tenant, neverSealed)
      const ledger = yield* vault.erasures(tenant)
      assert.deepStrictEqual(ledger.map((e) => e.subjectId).sort(), [subject, neverSealed].sort())
      assert.strictEqual(yield* vault.reapplyErasures(ledger), 0)
      const sealAfter = yield* Effect.either(vault.seal(tenant, neverSealed, "p", "x"))
      assert.isTrue(Either.isLeft(sealAfter) && sealAfter.left._tag === "SubjectShredded")
    }))

  it.effect("blind indexes are deterministic within a tenant and domain, and differ across tenants and domains", () =>
    Effect.gen(function*() {
      const vault = yield* Vault
      const [tenant] = yield* ids
      const [other] = yield* ids
      const a = yield* vault.blindIndex(tenant, "test", "ann@example.com")
      assert.match(a, /^[0-9a-f]{64}$/)
      assert.strictEqual(yield* vault.blindIndex(tenant, "test", "ann@example.com"), a)
      assert.notStrictEqual(yield* vault.blindIndex(tenant, "test", "bob@example.com"), a)
      assert.notStrictEqual(yield* vault.blindIndex(other, "test", "ann@example.com"), a)
      assert.notStrictEqual(yield* vault.blindIndex(tenant, "suppression", "ann@example.com"), a)
    }))

  // The index is of `domain \0 value`: a domain holding a NUL gave another domain's index
  // (`"subject.email\0x", "y"` that of `"subject.email", "x\0y"`), and one holding an unpaired
  // surrogate, encoded as U+FFFD, that of the domain holding U+FFFD.
  it.effect("a blind-index domain that is not NUL-free well-formed text is refused, before any key is read or made", () =>
    Effect.gen(function*() {
      const vault = yield* Vault
      const [tenant] = yield* ids
      for (const domain of ["subject.email\0x", "\0", "a\uD800", "a\uDC00b", null, 42]) {
        const made = yield* Effect.either(Effect.suspend(() => vault.blindIndex(tenant, domain as string, "y")))
        assert.isTrue(Either.isLeft(made) && made.left._tag === "KeyStoreError", `blindIndex, domain ${JSON.stringify(domain)}`)
        const found = yield* Effect.either(Effect.suspend(() => vault.findBlindIndex(tenant, domain as string, "y")))
        assert.isTrue(Either.isLeft(found) && found.left._tag === "KeyStoreError", `findBlindIndex, domain ${JSON.stringify(domain)}`)
      }
      // No key was made for the tenant: a lookup finds that it has indexed nothing.
      assert.deepStrictEqual(yield* vault.findBlindIndex(tenant, "subject.email", "x\0y"), Option.none())
      assert.notStrictEqual(
        yield* vault.blindIndex(tenant, "subject.email", "x\0y"),
        yield* vault.blindIndex(tenant, "subject.email\uFFFD", "y")
      )
    }))

  it.effect("concurrent first seals of one subject agree on one key", () =>
    Effect.gen(function*() {
      const vault = yield* Vault
      const [tenant, subject] = yield* ids
      const sealed = yield* Effect.forEach(
        Array.from({ length: 20 }, (_, i) => `value ${i}`),
        (value) => vault.seal(tenant, subject, "p", value),
        { concurrency: "unbounded" }
      )
      const opened = yield* Effect.forEach(sealed, (s) => vault.openString(tenant, subject, "p", s))
      assert.deepStrictEqual(opened, Array.from({ length: 20 }, (_, i) => `value ${i}`))
    }))

  it.effect("newSubjects hands out many at once; released subjects are handed out again, never twice at once", () =>
    Effect.gen(function*() {
      const vault = yield* Vault
      const tenant = yield* TenantId.make
      const first = yield* vault.newSubjects(tenant, 300)
      assert.strictEqual(new Set(first).size, 300)
      const sealed = yield* vault.seal(tenant, first[0]!, "p", "kept")
      yield* vault.releaseSubjects(tenant, first.slice(1, 11))
      const next = yield* vault.newSubjects(tenant, 20)
      assert.strictEqual(new Set(next).size, 20)
      // The ten released come back first; the rest are new; none is the one kept.
      assert.sameMembers(next.slice(0, 10), first.slice(1, 11))
      assert.notInclude(next, first[0])
      assert.isTrue(next.slice(10).every((subject) => !first.includes(subject)))
      // A released subject's key still opens what it sealed, and seals again.
      assert.strictEqual(yield* vault.openString(tenant, first[0]!, "p", sealed), "kept")
      const again = yield* vault.seal(tenant, next[0]!, "p", "reused")
      assert.strictEqual(yield* vault.openString(tenant, next[0]!, "p", again), "reused")
    }))

  it.effect("newSubject hands out distinct subjects whose keys already exist, and sealAll seals for many at once", () =>
    Effect.gen(function*() {
      const vault = yield* Vault
      const tenant = yield* TenantId.make
      const subjects = yield* Effect.all(Array.from({ length: 150 }, () => vault.newSubject(tenant)), { concurrency: 10 })
      assert.strictEqual(new Set(subjects).size, 150)
      const others = yield* Effect.all(Array.from({ length: 3 }, () => SubjectId.make))
      const sealed = yield* vault.sealAll(tenant, [...subjects, ...others].map((subject, i) => ({ subject, purpose: "p", plaintext: `v${i}` })))
      const opened = yield* Effect.forEach([...subjects, ...others], (subject, i) => vault.openString(tenant, subject, "p", sealed[i]!))
      assert.deepStrictEqual(opened, [...subjects, ...others].map((_, i) => `v${i}`))
      yield* vault.shred(tenant, others[0]!)
      const refused = yield* Effect.either(vault.sealAll(tenant, [{ subject: others[0]!, purpose: "p", plaintext: "x" }]))
      assert.isTrue(Either.isLeft(refused) && refused.left._tag === "SubjectShredded")
    }))
}
