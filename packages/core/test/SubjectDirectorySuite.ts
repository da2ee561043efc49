import { assert } from "@effect/vitest"
import type { Vitest } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Email from "../src/Email.js"
import * as SubjectId from "../src/SubjectId.js"
import { SubjectDirectory } from "../src/SubjectDirectory.js"
import * as TenantId from "../src/TenantId.js"
import type { Backend } from "../src/testing.js"
import { Vault } from "../src/Vault.js"
import { recordingTracer } from "./RefusalFixture.js"
import type { RecordedSpan } from "./RefusalFixture.js"

const isValid = (input: string) => Option.isSome(Schema.decodeOption(Email.EmailFromString)(input))

// Addresses the `Email` rule accepts.
const validAddress = FastCheck.emailAddress().filter(isValid)

const whitespace = FastCheck.string({
  unit: FastCheck.constantFrom(" ", "\t", "\n", "\r\n", "\u00a0", "\u2003", "\u3000", "\ufeff"),
  maxLength: 4
})

interface Variant {
  readonly upper: ReadonlyArray<boolean>
  readonly before: string
  readonly after: string
}

/** The same address as a person might type it: random case, surrounding whitespace. */
const variant: FastCheck.Arbitrary<Variant> = FastCheck.record({
  upper: FastCheck.array(FastCheck.boolean(), { minLength: 1, maxLength: 16 }),
  before: whitespace,
  after: whitespace
})

const typed = (address: string, { after, before, upper }: Variant) =>
  before + [...address].map((char, i) => (upper[i % upper.length] ? char.toUpperCase() : char)).join("") + after

/** The subject directory's guarantees, on whatever store backs it. */
export const suite = (it: Vitest.MethodsNonLive<SubjectDirectory | Vault>, backend: Backend) => {
  it.effect("resolve creates a subject once; find and emailOf return it", () =>
    Effect.gen(function*() {
      const directory = yield* SubjectDirectory
      const tenant = yield* TenantId.make
      assert.isTrue(Option.isNone(yield* directory.find(tenant, "ann@example.com")))

      const subject = yield* directory.resolve(tenant, "ann@example.com")
      assert.strictEqual(yield* directory.resolve(tenant, "ann@example.com"), subject)
      assert.deepStrictEqual(yield* directory.find(tenant, "ann@example.com"), Option.some(subject))
      assert.strictEqual(yield* directory.emailOf(tenant, subject), "ann@example.com")

      const other = yield* directory.resolve(tenant, "bob@example.com")
      assert.notStrictEqual(other, subject)
      const entry = yield* directory.entryOf(tenant, other)
      assert.strictEqual(entry.subjectId, other)
      assert.strictEqual(entry.email, "bob@example.com")
    }))

  it.effect.prop(
    "case and whitespace variants of an address resolve to one subject",
    { address: validAddress, variants: FastCheck.array(variant, { minLength: 2, maxLength: 4 }) },
    ({ address, variants }) =>
      Effect.gen(function*() {
        const directory = yield* SubjectDirectory
        const tenant = yield* TenantId.make
        const normal = yield* Email.normalize(address)
        const subject = yield* directory.resolve(tenant, typed(address, variants[0]!))
        for (const v of variants) {
          assert.strictEqual(yield* directory.resolve(tenant, typed(address, v)), subject)
          assert.deepStrictEqual(yield* directory.find(tenant, typed(address, v)), Option.some(subject))
        }
        assert.strictEqual(yield* directory.emailOf(tenant, subject), normal)
      }),
    { fastCheck: { numRuns: backend === "memory" ? 100 : 25 } }
  )

  it.effect("the same address in two tenants gives two subjects and two blind indexes", () =>
    Effect.gen(function*() {
      const directory = yield* SubjectDirectory
      const vault = yield* Vault
      const [a, b] = yield* Effect.all([TenantId.make, TenantId.make])
      const inA = yield* directory.resolve(a, "Carla@Example.com")
      const inB = yield* directory.resolve(b, "carla@example.com")
      assert.notStrictEqual(inA, inB)
      assert.notStrictEqual(yield* vault.blindIndex(a, "subject.email", "carla@example.com"), yield* vault.blindIndex(b, "subject.email", "carla@example.com"))

      // Each tenant sees only its own subject.
      assert.deepStrictEqual(yield* directory.find(a, "carla@example.com"), Option.some(inA))
      assert.deepStrictEqual(yield* directory.find(b, "carla@example.com"), Option.some(inB))
      const crossed = yield* Effect.flip(directory.emailOf(b, inA))
      assert.strictEqual(crossed._tag, "SubjectNotFound")
      assert.isFalse(yield* directory.forget(b, inA))
      assert.strictEqual(yield* directory.emailOf(a, inA), "carla@example.com")
    }))

  it.effect("after forget, find is empty and emailOf fails with SubjectNotFound", () =>
    Effect.gen(function*() {
      const directory = yield* SubjectDirectory
      const tenant = yield* TenantId.make
      const subject = yield* directory.resolve(tenant, "dora@example.com")
      const neighbour = yield* directory.resolve(tenant, "dora@example.org")

      assert.isTrue(yield* directory.forget(tenant, subject))
      assert.isTrue(Option.isNone(yield* directory.find(tenant, "dora@example.com")))
      const error = yield* Effect.flip(directory.emailOf(tenant, subject))
      assert.strictEqual(error._tag, "SubjectNotFound")
      assert.strictEqual(error._tag === "SubjectNotFound" && error.subjectId, subject)

      // Idempotent, and no other subject is touched.
      assert.isFalse(yield* directory.forget(tenant, subject))
      assert.strictEqual(yield* directory.emailOf(tenant, neighbour), "dora@example.org")

      // The address can come back, as a new subject.
      const again = yield* directory.resolve(tenant, "dora@example.com")
      assert.notStrictEqual(again, subject)
    }))

  it.effect("concurrent resolves of one address give one subject", () =>
    Effect.gen(function*() {
      const directory = yield* SubjectDirectory
      const tenant = yield* TenantId.make
      const spellings = ["eve@example.com", "EVE@example.com", " Eve@Example.COM ", "eve@EXAMPLE.com\n"]
      const subjects = yield* Effect.forEach(
        Array.from({ length: 20 }, (_, i) => spellings[i % spellings.length]!),
        (email) => directory.resolve(tenant, email),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(new Set(subjects).size, 1)
      assert.deepStrictEqual(yield* directory.find(tenant, "eve@example.com"), Option.some(subjects[0]!))
      assert.strictEqual(yield* directory.emailOf(tenant, subjects[0]!), "eve@example.com")
    }))

  it.effect("concurrent resolves of different addresses give different subjects", () =>
    Effect.gen(function*() {
      const directory = yield* SubjectDirectory
      const tenant = yield* TenantId.make
      const addresses = Array.from({ length: 20 }, (_, i) => `person.${i}@example.com`)
      const subjects = yield* Effect.forEach(addresses, (email) => directory.resolve(tenant, email), {
        concurrency: "unbounded"
      })
      assert.strictEqual(new Set(subjects).size, 20)
      const emails = yield* Effect.forEach(subjects, (subject) => directory.emailOf(tenant, subject))
      assert.deepStrictEqual(emails, addresses)
    }))

  it.effect("resolveAll answers in order, agrees with resolve, and creates each new address once", () =>
    Effect.gen(function*() {
      const directory = yield* SubjectDirectory
      const vault = yield* Vault
      const tenant = yield* TenantId.make
      const known = yield* directory.resolve(tenant, "known@example.com")
      // More than one statement's worth, with case variants, repeats and a known address.
      const inputs = [
        ...Array.from({ length: 1100 }, (_, i) => `person${i}@example.com`),
        "PERSON7@example.com",
        " known@Example.com ",
        "person1099@example.com"
      ]
      const subjects = yield* directory.resolveAll(tenant, inputs)
      assert.strictEqual(subjects.length, inputs.length)
      assert.strictEqual(subjects[1100], subjects[7])
      assert.strictEqual(subjects[1101], known)
      assert.strictEqual(subjects[1102], subjects[1099])
      assert.strictEqual(new Set(subjects).size, 1101)
      for (const i of [0, 999, 1000, 1099]) {
        assert.strictEqual(yield* directory.resolve(tenant, `person${i}@example.com`), subjects[i])
        assert.strictEqual(yield* directory.emailOf(tenant, subjects[i]!), `person${i}@example.com`)
      }
      // The subjects made ahead for addresses that were known went back to the pool: the
      // next new subjects come from it, and none of them is already in the directory.
      const again = yield* directory.resolveAll(tenant, inputs)
      assert.deepStrictEqual(again, subjects)
      const fresh = yield* vault.newSubjects(tenant, 50)
      for (const subject of fresh) {
        const entry = yield* Effect.flip(directory.entryOf(tenant, subject))
        assert.strictEqual(entry._tag, "SubjectNotFound")
      }
    }))

  it.effect("resolveAll with one invalid address fails with InvalidEmail and creates nothing", () =>
    Effect.gen(function*() {
      const directory = yield* SubjectDirectory
      const tenant = yield* TenantId.make
      const failed = yield* Effect.flip(directory.resolveAll(tenant, ["a@example.com", "not an address", "b@example.com"]))
      assert.strictEqual(failed._tag, "InvalidEmail")
      assert.notInclude(failed.message, "not an address")
      assert.isTrue(Option.isNone(yield* directory.find(tenant, "a@example.com")))
      assert.isTrue(Option.isNone(yield* directory.find(tenant, "b@example.com")))
    }))

  it.effect("an invalid address fails with InvalidEmail and creates no subject", () =>
    Effect.gen(function*() {
      const directory = yield* SubjectDirectory
      const tenant = yield* TenantId.make
      for (const [input, reason] of [
        ["", "empty"],
        ["   ", "empty"],
        ["no-at-sign.example.com", "missing-at"],
        ["two words@example.com", "contains-whitespace"],
        ["a@b@example.com", "several-at"],
        ["someone@localhost", "domain-invalid"]
      ] as const) {
        const resolved = yield* Effect.flip(directory.resolve(tenant, input))
        assert.strictEqual(resolved._tag, "InvalidEmail")
        assert.strictEqual(resolved._tag === "InvalidEmail" && resolved.reason, reason)
        const found = yield* Effect.flip(directory.find(tenant, input))
        assert.strictEqual(found._tag, "InvalidEmail")
      }
      assert.isTrue(Option.isNone(yield* directory.find(tenant, "two.words@example.com")))
    }))

  it.effect("emailOf after the subject's key is shredded fails with SubjectShredded", () =>
    Effect.gen(function*() {
      const directory = yield* SubjectDirectory
      const vault = yield* Vault
      const tenant = yield* TenantId.make
      const subject = yield* directory.resolve(tenant, "fred@example.com")
      const other = yield* directory.resolve(tenant, "gina@example.com")
      yield* vault.shred(tenant, subject)

      const error = yield* Effect.flip(directory.emailOf(tenant, subject))
      assert.strictEqual(error._tag, "SubjectShredded")
      const change = yield* Effect.flip(directory.changeEmail(tenant, subject, "fred@example.org"))
      assert.strictEqual(change._tag, "SubjectShredded")
      assert.strictEqual(yield* directory.emailOf(tenant, other), "gina@example.com")
    }))

  it.effect("changeEmail re-seals and re-indexes the address", () =>
    Effect.gen(function*() {
      const directory = yield* SubjectDirectory
      const tenant = yield* TenantId.make
      const subject = yield* directory.resolve(tenant, "hugo@example.com")
      const other = yield* directory.resolve(tenant, "ida@example.com")

      yield* directory.changeEmail(tenant, subject, "  Hugo.New@Example.com ")
      assert.strictEqual(yield* directory.emailOf(tenant, subject), "hugo.new@example.com")
      assert.deepStrictEqual(yield* directory.find(tenant, "hugo.new@example.com"), Option.some(subject))
      assert.isTrue(Option.isNone(yield* directory.find(tenant, "hugo@example.com")))
      assert.strictEqual(yield* directory.resolve(tenant, "HUGO.NEW@example.com"), subject)

      // Its own address again is no conflict.
      yield* directory.changeEmail(tenant, subject, "hugo.new@example.com")
      assert.strictEqual(yield* directory.emailOf(tenant, subject), "hugo.new@example.com")

      const taken = yield* Effect.flip(directory.changeEmail(tenant, subject, "IDA@example.com"))
      assert.strictEqual(taken._tag, "EmailAlreadyInUse")
      assert.strictEqual(yield* directory.emailOf(tenant, subject), "hugo.new@example.com")
      assert.strictEqual(yield* directory.emailOf(tenant, other), "ida@example.com")
      assert.deepStrictEqual(yield* directory.find(tenant, "ida@example.com"), Option.some(other))

      const invalid = yield* Effect.flip(directory.changeEmail(tenant, subject, "not an address"))
      assert.strictEqual(invalid._tag, "InvalidEmail")
      const unknown = yield* Effect.flip(directory.changeEmail(tenant, yield* SubjectId.make, "jon@example.com"))
      assert.strictEqual(unknown._tag, "SubjectNotFound")
      assert.isTrue(Option.isNone(yield* directory.find(tenant, "jon@example.com")))
    }))

  it.effect("no error message or span carries the address", () =>
    Effect.gen(function*() {
      const directory = yield* SubjectDirectory
      const vault = yield* Vault
      const tenant = yield* TenantId.make
      const secret = "zq.private.4711"
      const address = `${secret}@example.com`
      const spans: Array<RecordedSpan> = []

      const errors = yield* Effect.gen(function*() {
        const subject = yield* directory.resolve(tenant, ` ${address.toUpperCase()} `)
        yield* directory.resolve(tenant, address)
        yield* directory.find(tenant, address)
        yield* directory.emailOf(tenant, subject)
        const other = yield* directory.resolve(tenant, `other.${secret}@example.com`)
        const failures: Array<{ readonly _tag: string; readonly message: string }> = [
          yield* Effect.flip(directory.resolve(tenant, `${secret} @example.com`)),
          yield* Effect.flip(directory.find(tenant, `${secret}@@example.com`)),
          yield* Effect.flip(directory.changeEmail(tenant, other, address)),
          yield* Effect.flip(directory.changeEmail(tenant, other, `${secret}@example..com`))
        ]
        yield* vault.shred(tenant, other)
        failures.push(yield* Effect.flip(directory.emailOf(tenant, other)))
        yield* directory.forget(tenant, subject)
        failures.push(yield* Effect.flip(directory.emailOf(tenant, subject)))
        return failures
      }).pipe(Effect.withTracer(recordingTracer(spans)))

      assert.deepStrictEqual(errors.map((e) => e._tag), [
        "InvalidEmail",
        "InvalidEmail",
        "EmailAlreadyInUse",
        "InvalidEmail",
        "SubjectShredded",
        "SubjectNotFound"
      ])
      for (const error of errors) {
        assert.notInclude(error.message.toLowerCase(), secret)
        assert.notInclude(JSON.stringify(error).toLowerCase(), secret)
        assert.notInclude(String(error).toLowerCase(), secret)
      }
      assert.includeMembers(spans.map((s) => s.name), [
        "SubjectDirectory.resolve",
        "SubjectDirectory.find",
        "SubjectDirectory.emailOf",
        "SubjectDirectory.changeEmail",
        "SubjectDirectory.forget"
      ])
      for (const span of spans) {
        const seen = [
          span.name,
          ...[...span.attributes].map(([key, value]) => `${key}=${JSON.stringify(value)}`),
          span.exit && Exit.isFailure(span.exit) ? Cause.pretty(span.exit.cause) : ""
        ].join("\n").toLowerCase()
        assert.notInclude(seen, secret, `span ${span.name}`)
      }
    }))
}
