// Review 19c: every change of a processor locks its row first, in its transaction, whatever it
// serves, before it appends to the platform's audit log (whose state row an append locks until
// commit, with the log on the registry's database): two changes, or a change and an objection,
// take the row and the log in the same order and wait for each other instead of deadlocking.
import { assert } from "@effect/vitest"
import { sqlSuite } from "@lawful/core/testing"
import * as TenantId from "@lawful/core/TenantId"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { ProcessorRegistry } from "../src/ProcessorRegistry.js"
import {
  actionsAbout,
  approvedProcessor,
  atStart,
  clockAt,
  layerSqlWithLog,
  otherAtNextAppend,
  otherServer,
  processorInput,
  staff,
  tenantKey
} from "./fixtures.js"

// The registry's audit log is on its database, as the server keeps them: an append holds the
// log's state row until the change commits. Two servers need two sessions at once to wait for each
// other: on PostgreSQL the test checks that the second waits; PGlite is one session, which runs
// one transaction at a time, so there the outcome alone is checked.
sqlSuite("Review 19c with the audit log on the registry's database", layerSqlWithLog, (it, backend) => {
  it.scoped("a change making a processor serve tenants and another server's suspension of it wait for each other, not deadlock", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const other = yield* otherServer
      // Approved while serving tenants (announced, no objection), then serving none: it may serve
      // them again without a new notice.
      const served = yield* approvedProcessor({ servesTenants: true })
      const processor = yield* registry.update(staff, served.id, processorInput({ servesTenants: false }))
      assert.isFalse(processor.servesTenants)
      // This server makes it serve tenants again; once checked, before its entry, the other
      // server suspends it (having read that it serves none), on a connection of its own.
      const suspending = yield* otherAtNextAppend(
        other.suspend(staff, processor.id, "security incident under investigation"),
        { watch: backend === "postgres" }
      )
      const updated = yield* Effect.exit(registry.update(staff, processor.id, processorInput({ servesTenants: true })))
      const suspended = yield* Effect.exit(Fiber.join(suspending.fiber))
      assert.isTrue(Exit.isSuccess(updated), String(updated))
      assert.isTrue(Exit.isSuccess(suspended), String(suspended))
      if (backend === "postgres") assert.isTrue(yield* suspending.waited, "the suspension waits for the change")
      // The suspension was made on the changed processor, after it.
      const now = yield* registry.processor(processor.id)
      assert.strictEqual(now.status._tag, "Suspended")
      assert.isTrue(now.servesTenants)
      assert.deepStrictEqual((yield* actionsAbout(processor.id)).slice(-2), [
        "processor-registry.processor.updated",
        "processor-registry.processor.suspended"
      ])
    }))

  it.scoped("an objection to a notice of a processor serving no tenant now and another server's change of it wait for each other", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const other = yield* otherServer
      const tenant = yield* TenantId.make
      // A notice still open, of a processor that has since stopped serving tenants.
      const served = yield* approvedProcessor({ servesTenants: true })
      const purposes = ["delivering email", "engagement analytics"] as const
      const { notice } = yield* registry.announce(staff, { processorId: served.id, purposes, audience: [tenant] })
      const processor = yield* registry.update(staff, served.id, processorInput({ servesTenants: false }))
      // The tenant objects on this server; once checked, before its entries, the other server
      // suspends the processor (having read that it serves none), on a connection of its own.
      const suspending = yield* otherAtNextAppend(
        other.suspend(staff, processor.id, "security incident under investigation"),
        { watch: backend === "postgres" }
      )
      const objected = yield* Effect.exit(
        registry.object(tenantKey, tenant, notice.id, { reason: "not for our contacts" }).pipe(
          Effect.withClock(clockAt(notice.objectionDeadline.getTime() - 60_000))
        )
      )
      const suspended = yield* Effect.exit(Fiber.join(suspending.fiber))
      assert.isTrue(Exit.isSuccess(objected), String(objected))
      assert.isTrue(Exit.isSuccess(suspended), String(suspended))
      if (backend === "postgres") assert.isTrue(yield* suspending.waited, "the suspension waits for the objection")
      assert.strictEqual((yield* registry.objections(notice.id)).length, 1)
      assert.strictEqual((yield* registry.processor(processor.id)).status._tag, "Suspended")
    }))
})
