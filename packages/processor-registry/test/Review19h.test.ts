// Review 19h: a refused member inside a list is named as core's `Issues.where` writes its path, as
// the audit log and consent-proof name theirs (`locations[1].country`), not with a dot before its
// index (`locations.1.country`).
import { assert, it } from "@effect/vitest"
import { contractSuite } from "@lawful/core/testing"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as AdequacyDecisions from "../src/AdequacyDecisions.js"
import { ProcessorRegistry } from "../src/ProcessorRegistry.js"
import { layers, processorInput, staff } from "./fixtures.js"

contractSuite("Review 19h", layers, (it) => {
  it.effect("InvalidInput names a refused member inside a list by its index in brackets", () =>
    Effect.gen(function*() {
      const registry = yield* ProcessorRegistry
      const error = yield* Effect.flip(
        registry.register(staff, processorInput({ locations: [{ country: "DE" }, { country: "XX" }] }))
      )
      assert.strictEqual(error._tag, "InvalidInput")
      const issues = error._tag === "InvalidInput" ? error.issues : []
      assert.deepStrictEqual(issues, [
        "locations[1].country: an upper-case ISO 3166-1 alpha-2 country code (e.g. \"DE\", \"US\")"
      ])
      assert.include(error.message, "locations[1].country: ")
    }))
})

it.effect("DecisionListInvalid names a refused decision of the list by its index in brackets", () =>
  Effect.gen(function*() {
    const [first, second] = AdequacyDecisions.shipped
    const error = yield* Effect.flip(
      Layer.build(AdequacyDecisions.layer([first!, { ...second!, adoptedOn: new Date(Number.NaN) }]))
    ).pipe(Effect.scoped)
    assert.strictEqual(error._tag, "DecisionListInvalid")
    assert.deepStrictEqual(error.issues.map((issue) => issue.slice(0, issue.indexOf(":"))), ["[1].adoptedOn"])
  }))
