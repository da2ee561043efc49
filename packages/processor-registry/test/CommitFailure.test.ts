import { assert } from "@effect/vitest"
import { failCommitsOn, sqlSuite } from "@lawful/core/testing"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { randomUUID } from "node:crypto"
import { ProcessorRegistry } from "../src/ProcessorRegistry.js"
import { atStart, layers, processorInput, staff } from "./fixtures.js"

sqlSuite("ProcessorRegistry when a COMMIT fails", layers.sql, (it) => {
  it.effect("a registration whose commit fails fails with RegistryStoreError, not a defect, and keeps nothing", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const legalName = `p${randomUUID().replaceAll("-", "")}`
      const failing = failCommitsOn({ table: "lawful_processors", column: "legal_name", value: legalName })
      const exit = yield* Effect.exit(Effect.scoped(Effect.zipRight(failing, registry.register(staff, processorInput({ legalName })))))
      assert.isTrue(Exit.isFailure(exit) && Option.isNone(Cause.dieOption(exit.cause)), "no defect")
      const error = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
      assert.isTrue(Option.isSome(error) && error.value._tag === "RegistryStoreError")
      assert.isFalse((yield* registry.processors).some((processor) => processor.legalName === legalName), "rolled back")
      // Once commits go through again, the registration does.
      const registered = yield* registry.register(staff, processorInput({ legalName }))
      assert.strictEqual(registered.legalName, legalName)
    }))
})
