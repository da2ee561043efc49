/**
 * Review 20m: `new AuditEvent`, the form the docs show, threw a ParseError quoting a text field that
 * was too long (purpose, resource type and id, actor id, action: `actual "Ann Smith, 12 Baker St
 * ..."`) or a value of the wrong kind given for a field; `AuditEvent.make` makes an event with
 * the typed refusal (`AuditEventInvalid`) an append gives.
 */
import { assert, describe, it } from "@effect/vitest"
import { assertQuotesNothing } from "@lawful/core/testing"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as AuditEvent from "../src/AuditEvent.js"
import { event } from "./AuditLogSuite.js"

const personal = "Ann Smith, 12 Baker St"
const long = `${personal}, `.repeat(12)
const named = { name: personal } as unknown as string

type Fields = ConstructorParameters<typeof AuditEvent.AuditEvent>[0]

const base: Fields = { actor: { kind: "staff", id: "staff-7" }, action: "notes.note.added", purpose: "notes" }

// Each event refused, by what is wrong with it.
const refused: ReadonlyArray<readonly [string, Fields]> = [
  ["purpose too long", { ...base, purpose: long }],
  ["resource type too long", { ...base, resource: { type: long, id: "n-1" } }],
  ["resource id too long", { ...base, resource: { type: "note", id: long } }],
  ["actor id too long", { ...base, actor: { kind: "staff", id: long } }],
  ["action too long", { ...base, action: `notes.${"ann_smith_baker_st".repeat(8)}` }],
  ["purpose not text", { ...base, purpose: named }],
  ["resource id not text", { ...base, resource: { type: "note", id: named } }],
  ["actor id not text", { ...base, actor: { kind: "staff", id: named } }],
  ["actor kind not one", { ...base, actor: { kind: personal as "staff", id: "staff-7" } }],
  ["action not text", { ...base, action: named }],
  ["subject not text", { ...base, subject: named as AuditEvent.AuditEvent["subject"] }]
]

const quotedOf = (label: string) => label.startsWith("action too long") ? ["ann_smith_baker_st"] : [personal]

describe("Review20m", () => {
  it("new AuditEvent refuses a field too long or of the wrong kind without quoting it", () => {
    for (const [label, fields] of refused) {
      const made = Either.try(() => new AuditEvent.AuditEvent(fields))
      assert.isTrue(Either.isLeft(made), `${label}: the event was made`)
      if (Either.isLeft(made)) {
        assertQuotesNothing(made.left, quotedOf(label))
        assert.notInclude(String((made.left as Error).message), "actual", label)
      }
    }
  })

  it.effect("AuditEvent.make fails AuditEventInvalid, quoting nothing, where new AuditEvent throws", () =>
    Effect.gen(function*() {
      for (const [label, fields] of refused) {
        const error = yield* Effect.flip(AuditEvent.make(fields))
        assert.strictEqual(error._tag, "AuditEventInvalid", label)
        assertQuotesNothing(error, quotedOf(label))
      }
      const tooLong = yield* Effect.flip(AuditEvent.make({ ...base, resource: { type: "note", id: long } }))
      assert.strictEqual(tooLong.reason, "resource.id: expected text of 1 to 200 characters")
      const made = yield* AuditEvent.make(base)
      assert.instanceOf(made, AuditEvent.AuditEvent)
      assert.deepStrictEqual(made, new AuditEvent.AuditEvent(base))
      assert.deepStrictEqual(yield* AuditEvent.make(event(4)), event(4))
    }))
})
