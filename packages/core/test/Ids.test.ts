import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import * as SubjectId from "../src/SubjectId.js"
import * as TenantId from "../src/TenantId.js"

describe("ids", () => {
  it.effect("are version-7 UUIDs ordered by the Clock's time", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.UTC(2026, 0, 1))
      const first = yield* TenantId.make
      yield* TestClock.adjust("1 millis")
      const second = yield* TenantId.make
      assert.match(first, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
      assert.isTrue(first < second)
      assert.strictEqual(first.slice(0, 13).replace("-", ""), Date.UTC(2026, 0, 1).toString(16).padStart(12, "0"))
    }))

  it("decode only lower-case UUIDs", () => {
    assert.isTrue(Schema.is(SubjectId.SubjectId)("0190f3c4-8c1e-7d2a-9b3c-1234567890ab"))
    assert.isFalse(Schema.is(SubjectId.SubjectId)("0190F3C4-8C1E-7D2A-9B3C-1234567890AB"))
    assert.isFalse(Schema.is(TenantId.TenantId)("ann@example.com"))
    assert.isFalse(Schema.is(TenantId.TenantId)(""))
  })

  it.effect("subject ids are unique even within one millisecond", () =>
    Effect.gen(function*() {
      const ids = yield* Effect.all(Array.from({ length: 1000 }, () => SubjectId.make))
      assert.strictEqual(new Set(ids).size, 1000)
    }))
})
