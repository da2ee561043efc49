// Review 19f: an update that keeps a sub-processor's role reads none of its parents: its parent
// chain is committed already, and any change adding an edge to it walks through it. Another
// server's change of the parent meanwhile does not wait for the update (the role-change case,
// which still walks its chain locked shared, is Review 19e's).
import { assert } from "@effect/vitest"
import { sqlSuite } from "@lawful/core/testing"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Processor from "../src/Processor.js"
import { ProcessorRegistry } from "../src/ProcessorRegistry.js"
import { atStart, layers, layerSqlWithLog, otherAtNextAppend, otherServer, processorInput, staff } from "./fixtures.js"

const subProcessorOf = (of: Processor.ProcessorId, overrides: Partial<typeof Processor.ProcessorInput.Encoded> = {}) =>
  processorInput({ role: { _tag: "SubProcessor", of }, ...overrides })

for (const [where, layer] of [["apart", layers.sql], ["on the registry's database", layerSqlWithLog]] as const) {
  sqlSuite(`Review 19f with the audit log ${where}`, layer, (it, backend) => {
    it.scoped("an update keeping a sub-processor's role does not hold its parent: a change of the parent meanwhile does not wait", () =>
      Effect.gen(function*() {
        yield* atStart
        const registry = yield* ProcessorRegistry
        const other = yield* otherServer
        const b = yield* registry.register(staff, processorInput({ legalName: "Relay Ltd" }))
        const a = yield* registry.register(staff, subProcessorOf(b.id))
        // Once this server has checked A's update (its role unchanged, a sub-processor of B),
        // before its entry, the other server changes B's locations, on a connection of its own.
        // PGlite is one session, which this update's transaction holds: there the change goes on
        // after it.
        const changing = yield* otherAtNextAppend(
          other.update(staff, b.id, processorInput({ legalName: "Relay Ltd", locations: [{ country: "FR" }] })),
          { watch: backend === "postgres" }
        )
        const updated = yield* Effect.exit(
          registry.update(staff, a.id, subProcessorOf(b.id, { locations: [{ country: "AT" }] }))
        )
        const changed = yield* Effect.exit(Fiber.join(changing.fiber))
        if (backend === "postgres") {
          assert.isFalse(yield* changing.waited, "the change of B does not wait for A's update")
          assert.isTrue(yield* changing.ended, "the change of B is made while A's update holds its locks")
        }
        assert.isTrue(Exit.isSuccess(updated), String(updated))
        assert.isTrue(Exit.isSuccess(changed), String(changed))
        const [storedA, storedB] = [yield* registry.processor(a.id), yield* registry.processor(b.id)]
        assert.deepStrictEqual(storedA.role, { _tag: "SubProcessor", of: b.id })
        assert.deepStrictEqual(storedA.locations.map((l) => l.country), ["AT"])
        assert.deepStrictEqual(storedB.locations.map((l) => l.country), ["FR"])
      }))
  })
}
