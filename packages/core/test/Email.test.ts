import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Schema from "effect/Schema"
import * as Email from "../src/Email.js"

const normalize = (input: string) => Effect.runSync(Effect.either(Email.normalize(input)))

describe("Email", () => {
  it("trims surrounding whitespace and lower-cases the whole address", () => {
    assert.deepStrictEqual(normalize("  Ann.Lee+News@Example.COM \n"), Either.right(Email.Email.make("ann.lee+news@example.com")))
    assert.deepStrictEqual(normalize("\tBOB@EXAMPLE.org"), Either.right(Email.Email.make("bob@example.org")))
  })

  it("keeps dots and +tags", () => {
    assert.deepStrictEqual(normalize("a.b.c+tag@example.com"), Either.right(Email.Email.make("a.b.c+tag@example.com")))
  })

  it("accepts internationalised addresses in NFC form", () => {
    const decomposed = "jose\u0301@example.com"
    assert.deepStrictEqual(normalize(decomposed), Either.right(Email.Email.make("jos\u00e9@example.com")))
    assert.isTrue(Either.isRight(normalize("user@bücher.example")))
  })

  it("gives a domain its one IDNA form: an A-label, full-width letters, an ideographic dot or an invisible character give the domain they stand for", () => {
    const unicode = normalize("ann@bücher.example")
    assert.deepStrictEqual(unicode, Either.right(Email.Email.make("ann@bücher.example")))
    for (const variant of ["ann@xn--bcher-kva.example", "ann@bü\u00adcher.example", "ann@ｂüｃｈｅｒ.example", "ann@bücher\u3002example"]) {
      assert.deepStrictEqual(normalize(variant), unicode, JSON.stringify(variant))
    }
    const ascii = Either.right(Email.Email.make("ann@example.com"))
    for (const variant of ["ann@example.com\u200b", "ann@ｅｘａｍｐｌｅ.com", "ann@exam\u00adple.com"]) {
      assert.deepStrictEqual(normalize(variant), ascii, JSON.stringify(variant))
    }
  })

  const refused: ReadonlyArray<readonly [string, Email.InvalidEmailReason]> = [
    ["", "empty"],
    ["   ", "empty"],
    ["plainaddress", "missing-at"],
    ["a@b@example.com", "several-at"],
    ["ann lee@example.com", "contains-whitespace"],
    ["@example.com", "local-part-empty"],
    [`${"a".repeat(65)}@example.com`, "local-part-too-long"],
    [".ann@example.com", "local-part-invalid"],
    ["ann..lee@example.com", "local-part-invalid"],
    ["ann.@example.com", "local-part-invalid"],
    ["\"ann\"@example.com", "local-part-invalid"],
    ["ann@localhost", "domain-invalid"],
    ["ann@-example.com", "domain-invalid"],
    ["ann@example..com", "domain-invalid"],
    ["ann@XN--a.com", "domain-invalid"],
    ["ann@[192.0.2.1]", "domain-invalid"],
    ["ann@192.0.2.1", "domain-invalid"],
    [`ann@${"a".repeat(250)}.com`, "too-long"]
  ]
  for (const [input, reason] of refused) {
    it(`refuses ${JSON.stringify(input.slice(0, 30))} as ${reason}`, () => {
      const result = normalize(input)
      assert.isTrue(Either.isLeft(result))
      if (Either.isLeft(result)) {
        assert.strictEqual(result.left._tag, "InvalidEmail")
        assert.strictEqual(result.left.reason, reason)
      }
    })
  }

  it("never puts the address in the error or the decoding message", () => {
    const secret = "secret person@example.com"
    const result = normalize(secret)
    assert.isTrue(Either.isLeft(result) && !result.left.message.includes("secret"))
    const decoded = Schema.decodeUnknownEither(Email.EmailFromString)(secret)
    assert.isTrue(Either.isLeft(decoded) && !decoded.left.message.includes("secret"))
  })

  it.prop(
    "case and surrounding-whitespace variants normalise to one address",
    {
      local: FastCheck.stringMatching(/^[a-zA-Z0-9_+-]{1,20}(\.[a-zA-Z0-9_+-]{1,10}){0,2}$/),
      // Not a label starting "xn--": that is an IDNA A-label, and most such strings are not
      // valid Punycode (refused as domain-invalid, tested above).
      domain: FastCheck.stringMatching(/^[a-zA-Z][a-zA-Z0-9-]{0,15}[a-zA-Z0-9]\.[a-zA-Z]{2,6}$/).filter(
        (domain) => !/^xn--/i.test(domain)
      ),
      padding: FastCheck.constantFrom("", " ", "\t", "\n ", "\u00a0")
    },
    ({ domain, local, padding }) => {
      const address = `${local}@${domain}`
      const canonical = normalize(address)
      assert.isTrue(Either.isRight(canonical))
      assert.deepStrictEqual(normalize(`${padding}${address.toUpperCase()}${padding}`), canonical)
      assert.deepStrictEqual(normalize(address.toLowerCase()), canonical)
      // Normalising is idempotent.
      if (Either.isRight(canonical)) assert.deepStrictEqual(normalize(canonical.right), canonical)
    }
  )
})
