// The README's "Writing a store" example, run as the README shows it: the contract suite of a store
// that needs the Vault, on memory, PGlite and PostgreSQL.
import { it as plain } from "@effect/vitest"
import { readmeShows } from "../src/testing.js"
import * as MyStore from "./MyStore.js"

// readme:start contract-suite
import { assert } from "@effect/vitest"
import { SubjectDirectory, TenantId } from "@lawful/core"
import { contractSuite, coreMemory, coreSql } from "@lawful/core/testing"
import { Effect, Layer, Option } from "effect"

contractSuite("MyStore", {
  memory: MyStore.layerMemory.pipe(Layer.provideMerge(coreMemory)),
  sql: MyStore.layerSql.pipe(Layer.provideMerge(coreSql))
}, (it) => {
  it.effect("keeps what it is given", () =>
    Effect.gen(function*() {
      const store = yield* MyStore.MyStore
      const tenant = yield* TenantId.make
      const subject = yield* (yield* SubjectDirectory.SubjectDirectory).resolve(tenant, "ann@example.com")
      yield* store.keep(tenant, subject, "prefers letters")
      assert.deepStrictEqual(yield* store.read(tenant, subject), Option.some("prefers letters"))
    }))
})
// readme:end contract-suite

plain("the README shows the contract suite of a store as the test runs it", () => {
  assert.deepStrictEqual(
    readmeShows(new URL("../README.md", import.meta.url), new URL(import.meta.url), "contract-suite"),
    { ok: true }
  )
})
