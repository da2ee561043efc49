// Review 19: personal data never reaches a span. Each test failed before its fix. On memory,
// PGlite and PostgreSQL.
import { assert } from "@effect/vitest"
import type { TenantId } from "@lawful/core/TenantId"
import { contractSuite, spansOf } from "@lawful/core/testing"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as ConsentExport from "../src/ConsentExport.js"
import { memory, sql } from "./layers.js"

contractSuite("Review19", { memory, sql }, (it) => {
  it.effect("a tenant argument that is not an id never reaches an export's span attributes", () =>
    Effect.gen(function*() {
      const personal = "grace.private@example.com"
      const tenant = personal as TenantId
      const spans = yield* spansOf(
        Effect.gen(function*() {
          yield* Effect.either(Stream.runDrain(ConsentExport.events(tenant, { disclose: false })))
          yield* Effect.either(Stream.runDrain(ConsentExport.csv(tenant, { disclose: false })))
          yield* Effect.either(Stream.runDrain(ConsentExport.json(tenant, { disclose: false })))
        })
      )
      const exports = spans.filter((span) => span.name.startsWith("ConsentExport."))
      assert.deepStrictEqual(exports.map((span) => span.name).sort(), [
        "ConsentExport.csv",
        "ConsentExport.events",
        "ConsentExport.json"
      ])
      const attributes = spans.flatMap((span) => [...span.attributes.values()].map(String))
      assert.notInclude(attributes.join(" "), personal)
    }))
})
