import { assert, describe, it } from "@effect/vitest"
import * as TenantId from "@lawful/core/TenantId"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as fc from "fast-check"
import { createHash } from "node:crypto"
import * as AuditEntry from "../src/AuditEntry.js"
import { AuditEvent, Details } from "../src/AuditEvent.js"
import type { Json } from "../src/AuditEvent.js"
import { event } from "./AuditLogSuite.js"
import { leafHash } from "./reference.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

describe("AuditEntry", () => {
  it.effect("decodeLeaf accepts exactly the canonical bytes of a leaf", () =>
    Effect.gen(function*() {
      const tenant = yield* TenantId.make
      const entry = AuditEntry.make(tenant, 7, new Date(Date.UTC(2026, 0, 1)), event(7))
      const leaf = Option.getOrThrow(AuditEntry.decodeLeaf(entry.leaf))
      assert.strictEqual(leaf.index, 7)
      assert.strictEqual(leaf.tenant, tenant)
      assert.deepStrictEqual(AuditEntry.encodeLeaf(leaf), entry.leaf)

      const text = decoder.decode(entry.leaf)
      const variants: Array<[string, Uint8Array]> = [
        ["a byte order mark before", Uint8Array.of(0xef, 0xbb, 0xbf, ...entry.leaf)],
        ["a space before", encoder.encode(` ${text}`)],
        ["a newline after", encoder.encode(`${text}\n`)],
        ["the index as 7.0", encoder.encode(text.replace(`"index":7`, `"index":7.0`))],
        ["the index as 7e0", encoder.encode(text.replace(`"index":7`, `"index":7e0`))],
        ["the index twice", encoder.encode(text.replace(`"index":7`, `"index":8,"index":7`))],
        ["an escaped letter", encoder.encode(text.replace(`"action"`, `"\\u0061ction"`))],
        ["an extra member", encoder.encode(text.replace(`"index":7`, `"index":7,"j":1`))]
      ]
      for (const [label, bytes] of variants) {
        assert.isTrue(Option.isNone(AuditEntry.decodeLeaf(bytes)), label)
      }
    }))

  // The append path writes a leaf's text member by member, keeping the members that the entry
  // before it had; each leaf must still be the generic canonical form of its document, whatever
  // the order of entries, and its hash and commitments must be those computed here from scratch.
  it("builds every leaf in canonical form, whatever the entries before it", () => {
    const tenants = [TenantId.make, TenantId.make].map((make) => Effect.runSync(make))
    const subjects = ["0190b3a0-0000-7000-8000-000000000001", "0190b3a0-0000-7000-8000-000000000002"]
    const text = fc.constantFrom("a", "b", "a\"b", "\u00e9", "x\u2028y", "tab\tx")
    const eventArbitrary = fc.record({
      actor: fc.oneof(
        fc.record({ kind: fc.constantFrom("system" as const, "api-key" as const, "staff" as const), id: text }),
        fc.constant({ kind: "subject" as const })
      ),
      action: fc.constantFrom("consent.recorded", "subject.erased", "a.b"),
      purpose: fc.option(text, { nil: undefined }),
      legalBasis: fc.option(fc.constantFrom("consent" as const, "contract" as const), { nil: undefined }),
      subject: fc.option(fc.constantFrom(...subjects), { nil: undefined }),
      resource: fc.option(fc.record({ type: text, id: text }), { nil: undefined }),
      details: fc.option(fc.dictionary(text, fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>), { nil: undefined })
    })
    const step = fc.record({
      tenant: fc.constantFrom(...tenants),
      index: fc.nat({ max: 5 }),
      time: fc.constantFrom(0, 1, 86_400_000),
      event: eventArbitrary
    })
    fc.assert(fc.property(fc.array(step, { minLength: 1, maxLength: 12 }), (steps) => {
      for (const { event: fields, index, tenant, time } of steps) {
        const defined = Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined))
        const event = Schema.decodeUnknownSync(AuditEvent)(defined)
        const entry = AuditEntry.make(tenant, index, new Date(Date.UTC(2026, 0, 1) + time), event)
        const leaf = Option.getOrThrow(AuditEntry.decodeLeaf(entry.leaf))
        assert.deepStrictEqual(AuditEntry.encodeLeaf(leaf), entry.leaf)
        assert.deepStrictEqual(entry.leafHash, leafHash(entry.leaf))
        assert.strictEqual(leaf.tenant, tenant)
        assert.strictEqual(leaf.index, index)
        assert.strictEqual(leaf.action, event.action)
        assert.deepStrictEqual(leaf.actor, event.actor)
        assert.strictEqual(leaf.purpose, event.purpose)
        assert.strictEqual(leaf.legalBasis, event.legalBasis)
        assert.deepStrictEqual(leaf.resource, event.resource)
        assert.strictEqual(leaf.subject === undefined, event.subject === undefined)
        assert.strictEqual(leaf.details === undefined, event.details === undefined)
        if (Option.isSome(entry.details)) {
          const salt = Buffer.from(entry.details.value.salt).toString("hex")
          const expected = createHash("sha256")
            .update(`lawful/audit/v1/details\0${salt}\0${referenceCanonical(entry.details.value.value)}`)
            .digest("hex")
          assert.strictEqual(leaf.details, expected)
        }
        assert.isTrue(Option.isNone(AuditEntry.check(entry, { tenant, index })))
      }
    }), { numRuns: 300 })
  })

  it("refuses details with a hole in an array, which the database would store as null", () => {
    // eslint-disable-next-line no-sparse-arrays
    const holed = [1, , 2]
    assert.isTrue(Either.isLeft(Schema.decodeUnknownEither(Details)({ list: holed })))
    assert.isTrue(Either.isLeft(Schema.decodeUnknownEither(Details)({ list: [1, undefined] })))
    assert.isTrue(Either.isRight(Schema.decodeUnknownEither(Details)({ list: [1, null, 2] })))
  })
})

// RFC 8785 for the values the tests give: members sorted by UTF-16 code units, as written
// independently of the library's encoder.
const referenceCanonical = (value: Json): string => {
  if (Array.isArray(value)) return `[${value.map(referenceCanonical).join(",")}]`
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${referenceCanonical(item as Json)}`).join(",")}}`
  }
  return JSON.stringify(value)
}
