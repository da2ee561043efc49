import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as AuditEvent from "../src/AuditEvent.js"

// A name put in an event's details, beside a value that is not JSON: the refusal must not quote it.
const name = "Ann Smith ann.smith@example.com"
const base = { actor: { kind: "system", id: "job" }, action: "consent.recorded" } as const

// Every way a refusal is shown: its message, its JSON, a printed cause, Effect's array formatter.
const shown = (error: ParseResult.ParseError): ReadonlyArray<readonly [string, string]> => [
  ["message", error.message],
  ["string", String(error)],
  ["JSON", JSON.stringify(error)],
  ["cause", Cause.pretty(Cause.fail(error))],
  ["issues", JSON.stringify(ParseResult.ArrayFormatter.formatErrorSync(error))]
]

const refusal = (details: unknown): ParseResult.ParseError => {
  const decoded = Schema.decodeUnknownEither(AuditEvent.AuditEvent)({ ...base, details })
  if (Either.isRight(decoded)) throw new Error("decoded")
  return decoded.left
}

describe("AuditEvent.Details", () => {
  it("refuses details that are not JSON without quoting them: a Date beside a name", () => {
    const error = refusal({ name, when: new Date(0) })
    for (const [how, text] of shown(error)) assert.notInclude(text, "Ann", how)
    assert.include(error.message, "holds an object that is not plain (a Date, a Map, a class instance), which is not JSON")
    // Made by the constructor, the same refusal is thrown.
    try {
      new AuditEvent.AuditEvent({ ...base, details: { name, when: new Date(0) } as never })
      assert.fail("made")
    } catch (thrown) {
      assert.notInclude(String(thrown), "Ann")
      assert.notInclude(JSON.stringify(thrown), "Ann")
    }
  })

  it("refuses details that are not an object without quoting them", () => {
    for (const details of [name, [name], 7]) {
      const error = refusal(details)
      for (const [how, text] of shown(error)) assert.notInclude(text, "Ann", how)
      assert.include(error.message, "a JSON object")
    }
  })

  it("takes JSON details as before", () => {
    const details = { count: 2, ids: ["a", "b"], nested: { ok: true, none: null } }
    const decoded = Schema.decodeUnknownSync(AuditEvent.AuditEvent)({ ...base, details })
    assert.deepStrictEqual(decoded.details, details)
  })
})

describe("AuditEvent", () => {
  it("refuses an optional member given a value of the wrong form without quoting it", () => {
    const given = [
      { subject: name },
      { purpose: `${name}\u0000` },
      { resource: { type: "contact", id: `${name}\u0000` } },
      { legalBasis: name }
    ]
    for (const extra of given) {
      const decoded = Schema.decodeUnknownEither(AuditEvent.AuditEvent)({ ...base, ...extra })
      assert.isTrue(Either.isLeft(decoded), Object.keys(extra)[0])
      if (Either.isLeft(decoded)) for (const [how, text] of shown(decoded.left)) assert.notInclude(text, "Ann", `${Object.keys(extra)[0]}: ${how}`)
    }
  })

  it("takes an optional member left out or undefined, as before", () => {
    const left = Schema.decodeUnknownSync(AuditEvent.AuditEvent)(base)
    const undefinedMembers = Schema.decodeUnknownSync(AuditEvent.AuditEvent)({
      ...base,
      purpose: undefined,
      legalBasis: undefined,
      subject: undefined,
      resource: undefined,
      details: undefined
    })
    assert.deepStrictEqual(Object.keys(left).sort(), ["action", "actor"])
    assert.isUndefined(undefinedMembers.details)
    assert.strictEqual(new AuditEvent.AuditEvent({ ...base, legalBasis: "consent", details: undefined }).legalBasis, "consent")
  })
})
