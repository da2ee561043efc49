import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import * as Csv from "../src/Csv.js"
import * as Email from "../src/Email.js"
import * as KeyStore from "../src/KeyStore.js"
import * as MasterKey from "../src/MasterKey.js"
import * as SubjectId from "../src/SubjectId.js"
import * as SuppressionList from "../src/SuppressionList.js"
import * as TenantId from "../src/TenantId.js"
import * as Text from "../src/Text.js"
import { contractSuite } from "../src/testing.js"
import * as Uuid from "../src/Uuid.js"
import * as Vault from "../src/Vault.js"

const normalize = (input: string) => Effect.runSync(Effect.either(Email.normalize(input)))
const reasonOf = (input: string) => Either.match(normalize(input), { onLeft: (e) => e.reason, onRight: () => undefined })
const octets = (text: string) => Buffer.byteLength(text, "utf8")

describe("Review16c: Email", () => {
  it("refuses a domain written with percent escapes instead of decoding it into another domain", () => {
    for (const input of ["ann@example%2ecom", "ann@ex%41mple.com", "ann@%65xample.com"]) {
      assert.strictEqual(reasonOf(input), "domain-invalid", JSON.stringify(input))
    }
  })

  it("gives a Greek address one form however it is cased: a final sigma typed as σ, ς or Σ", () => {
    const one = normalize("οδος@example.gr")
    assert.isTrue(Either.isRight(one))
    for (const variant of ["ΟΔΟΣ@example.gr", "οδοσ@example.gr", "Οδοσ@EXAMPLE.gr"]) {
      assert.deepStrictEqual(normalize(variant), one, JSON.stringify(variant))
    }
    const dotted = normalize("ΣΟΣ.ΣΟΣ@example.gr")
    for (const variant of ["σοσ.σοσ@example.gr", "σος.σος@example.gr", "ςος.σοσ@example.gr"]) {
      assert.deepStrictEqual(normalize(variant), dotted, JSON.stringify(variant))
    }
  })

  it("maps full-width and other compatibility forms in the local part as it does in the domain", () => {
    const ascii = Either.right(Email.Email.make("ann.lee@example.com"))
    for (const variant of ["ａｎｎ.ｌｅｅ@example.com", "ＡＮＮ.ＬＥＥ@ｅｘａｍｐｌｅ.com", "ann.lee@example.com"]) {
      assert.deepStrictEqual(normalize(variant), ascii, JSON.stringify(variant))
    }
    assert.deepStrictEqual(normalize("\ufb01le@example.com"), Either.right(Email.Email.make("file@example.com")))
  })

  it.prop(
    "every case variant of an accepted address normalises to the same address, and normalising is idempotent",
    { local: FastCheck.string({ unit: FastCheck.constantFrom("a", "Σ", "σ", "ς", ".", "ο", "é", "ａ", "Ａ", "ﬁ", "µ"), minLength: 1, maxLength: 12 }) },
    ({ local }) => {
      const canonical = normalize(`${local}@example.gr`)
      if (Either.isLeft(canonical)) return
      assert.deepStrictEqual(normalize(canonical.right), canonical)
      assert.deepStrictEqual(normalize(canonical.right.toUpperCase()), canonical)
      assert.deepStrictEqual(normalize(`${local.toUpperCase()}@example.gr`), canonical)
    }
  )

  it("bounds lengths in octets as RFC 5321 and RFC 6531 do: 64 in the local part, 254 in all", () => {
    assert.isTrue(Either.isRight(normalize(`${"é".repeat(32)}@example.com`)))
    assert.strictEqual(reasonOf(`${"é".repeat(33)}@example.com`), "local-part-too-long")
    // 16 astral letters are 64 octets (and 32 UTF-16 units); 17 are 68 octets.
    assert.isTrue(Either.isRight(normalize(`${"\u{20000}".repeat(16)}@example.com`)))
    assert.strictEqual(reasonOf(`${"\u{20000}".repeat(17)}@example.com`), "local-part-too-long")
    const domain = `${"ü".repeat(40)}.${"ü".repeat(40)}.${"ü".repeat(40)}.example`
    const address = `${"a".repeat(64)}@${domain}`
    assert.isBelow(address.length, 254)
    assert.isAbove(octets(address), 254)
    assert.strictEqual(reasonOf(address), "too-long")
  })

  it("accepts local parts in scripts that write vowels as combining marks (RFC 6531), but no mark without its letter", () => {
    for (const local of ["हिन्दी", "कुमार.शर्मा", "สมชาย", "ಕನ್ನಡ"]) {
      assert.deepStrictEqual(normalize(`${local}@example.in`), Either.right(Email.Email.make(`${local}@example.in`)), local)
    }
    for (const local of ["\u093f", "a.\u0301b", "\u0301"]) assert.strictEqual(reasonOf(`${local}@example.in`), "local-part-invalid", JSON.stringify(local))
  })

  it("refuses with a reason that never echoes the address, whatever the defect", () => {
    const secret = "Zyxwv"
    for (const input of [`${secret}@example%2ecom`, `${secret.repeat(20)}é@example.com`, `\u200b${secret}@example.com`, `"${secret}"@example.com`]) {
      const result = normalize(input)
      assert.isTrue(Either.isLeft(result), JSON.stringify(input))
      if (Either.isLeft(result)) {
        assert.strictEqual(result.left._tag, "InvalidEmail")
        assert.notInclude(result.left.message.toLowerCase(), secret.toLowerCase())
      }
      const decoded = Schema.decodeUnknownEither(Email.EmailFromString)(input)
      assert.isTrue(Either.isLeft(decoded) && !decoded.left.message.toLowerCase().includes(secret.toLowerCase()))
    }
  })
})

describe("Review16c: Csv", () => {
  it("writes a record of one empty field as \"\", which no reader takes for a blank line", () => {
    assert.strictEqual(Csv.record([""]), "\"\"\r\n")
    assert.strictEqual(Csv.document(["email"], [["a"], [""], ["b"]]), "email\r\na\r\n\"\"\r\nb\r\n")
    assert.strictEqual(Csv.record(["", ""]), ",\r\n")
  })
})

describe("Review16c: Text", () => {
  it("counts lengths in UTF-16 code units, as documented, so that PostgreSQL's count of characters is never larger", () => {
    const decode = (schema: Schema.Schema<string, string>, input: string) => Either.isRight(Schema.decodeUnknownEither(schema)(input))
    for (const schema of [Text.nonEmpty(2), Text.trimmed(2)]) {
      assert.isTrue(decode(schema, "\u{1f600}"))
      assert.isFalse(decode(schema, "\u{1f600}a"))
      assert.isTrue(decode(schema, "e\u0301"))
    }
    assert.isFalse(decode(Text.trimmed(10), " \u0000 "))
    assert.isFalse(decode(Text.trimmed(10), "\ud83d "))
  })
})

describe("Review16c: Uuid", () => {
  it.effect("ids made within one millisecond sort in the order they were made, with version 7 and the RFC variant", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.UTC(2026, 0, 1))
      const ids: Array<string> = []
      for (let i = 0; i < 2000; i++) ids.push(i % 2 === 0 ? yield* TenantId.make : yield* SubjectId.make)
      assert.deepStrictEqual([...ids].sort(), ids)
      assert.strictEqual(new Set(ids).size, ids.length)
      for (const id of ids) {
        assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
        assert.strictEqual(id.slice(0, 13).replace("-", ""), Date.UTC(2026, 0, 1).toString(16).padStart(12, "0"))
      }
      const [a, b] = [Uuid.makeAt(5), Uuid.makeAt(5)]
      assert.isTrue(a < b)
    }))

  it("ids are refused in any other spelling than the one PostgreSQL returns", () => {
    for (const id of ["0190F3C4-8C1E-7D2A-9B3C-1234567890AB", "{0190f3c4-8c1e-7d2a-9b3c-1234567890ab}", "0190f3c48c1e7d2a9b3c1234567890ab", " 0190f3c4-8c1e-7d2a-9b3c-1234567890ab", "0190f3c4-8c1e-7d2a-9b3c-1234567890ab\n"]) {
      assert.isFalse(Schema.is(TenantId.TenantId)(id), JSON.stringify(id))
      assert.isFalse(Schema.is(SubjectId.SubjectId)(id), JSON.stringify(id))
    }
  })
})

const vault = <E, R>(store: Layer.Layer<KeyStore.KeyStore, E, R>) =>
  Vault.layer.pipe(Layer.provide(store), Layer.provide(MasterKey.layerRandom))

contractSuite("Review16c: SuppressionList", {
  memory: SuppressionList.layerMemory.pipe(Layer.provideMerge(vault(KeyStore.layerMemory))),
  sql: SuppressionList.layerSql.pipe(Layer.provideMerge(vault(KeyStore.layerSql)))
}, (it) => {
  it.effect("concurrent adds to a tenant never used are all kept, once each", () =>
    Effect.gen(function*() {
      const list = yield* SuppressionList.SuppressionList
      const tenant = yield* TenantId.make
      const addresses = Array.from({ length: 30 }, (_, i) => `person${i % 15}@example.com`)
      yield* Effect.forEach(addresses, (address, i) => list.add(tenant, i % 2 === 0 ? address.toUpperCase() : address, "unsubscribe"), {
        concurrency: "unbounded"
      })
      assert.strictEqual(yield* list.count(tenant), 15)
      const all = addresses.slice(0, 15).map((address) => Email.Email.make(address))
      assert.strictEqual((yield* list.suppressed(tenant, all)).size, 15)
      assert.isTrue(yield* list.remove(tenant, "PERSON3@example.com"))
      assert.isFalse(yield* list.remove(tenant, "person3@example.com"))
      assert.strictEqual(yield* list.count(tenant), 14)
    }))

  it.effect("an erasure's suppression outlives the shredding of the subject's key", () =>
    Effect.gen(function*() {
      const list = yield* SuppressionList.SuppressionList
      const v = yield* Vault.Vault
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      yield* v.seal(tenant, subject, "test.note", "kept until erased")
      yield* list.add(tenant, "forgotten@example.com", "erasure")
      yield* v.shred(tenant, subject)
      assert.deepStrictEqual(yield* list.reasonFor(tenant, "Forgotten@Example.com"), Option.some("erasure" as const))
      assert.isFalse(yield* list.remove(tenant, "forgotten@example.com"))
    }))

  it.effect("every operation refuses an invalid address with InvalidEmail, naming only the reason", () =>
    Effect.gen(function*() {
      const list = yield* SuppressionList.SuppressionList
      const tenant = yield* TenantId.make
      yield* list.add(tenant, "someone@example.com", "manual")
      for (const operation of [list.add(tenant, "Private Person@example.com", "manual"), list.reasonFor(tenant, "Private Person@example.com"), list.remove(tenant, "Private Person@example.com")]) {
        const result = yield* Effect.either(operation as Effect.Effect<unknown, Email.InvalidEmail | SuppressionList.SuppressionListError | Vault.VaultError>)
        assert.isTrue(Either.isLeft(result) && result.left._tag === "InvalidEmail" && !result.left.message.includes("Private"))
      }
      assert.strictEqual(yield* list.count(tenant), 1)
    }))
})
