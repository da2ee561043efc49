// Review 18e: the registry hands the actor it is given to the audit event as it is; the event takes
// its kind and id only, so a member the actor carries besides them (an email address) never
// reaches a log, the platform's or a tenant's, on any backend.
import { assert } from "@effect/vitest"
import type { Actor } from "@lawful/audit-trail/AuditEvent"
import { contractSuite } from "@lawful/core/testing"
import * as TenantId from "@lawful/core/TenantId"
import * as Effect from "effect/Effect"
import { ProcessorRegistry } from "../src/ProcessorRegistry.js"
import * as AuditRecorder from "./AuditRecorder.js"
import { atStart, layers, processorInput, staff, tenantKey } from "./fixtures.js"

const withEmail = (actor: Actor): Actor => Object.assign({}, actor, { email: "ada.lovelace@staff.example" })

contractSuite("Review 18e", layers, (it) => {
  it.effect("an actor given with an email is logged as its kind and id only", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const recorder = yield* AuditRecorder.AuditRecorder
      const tenant = yield* TenantId.make
      const processor = yield* registry.register(withEmail(staff), processorInput({ servesTenants: true }))
      const { notice } = yield* registry.announce(withEmail(staff), { processorId: processor.id, audience: [tenant] })
      yield* registry.object(withEmail(tenantKey), tenant, notice.id, { reason: "not for our contacts" })

      const logged = (yield* recorder.all).filter((r) => r.event.resource?.id === processor.id || r.event.resource?.id === notice.id)
      assert.deepStrictEqual(
        logged.map((r) => [r.tenant === tenant ? "tenant" : "platform", r.event.action, r.event.actor]),
        [
          ["platform", "processor-registry.processor.registered", { kind: "staff", id: "staff-ada" }],
          ["platform", "processor-registry.notice.published", { kind: "staff", id: "staff-ada" }],
          ["platform", "processor-registry.objection.recorded", { kind: "api-key", id: "key-1" }],
          ["tenant", "processor-registry.notice.received", { kind: "staff", id: "staff-ada" }],
          ["tenant", "processor-registry.objection.recorded", { kind: "api-key", id: "key-1" }]
        ]
      )
      assert.notInclude(JSON.stringify(logged), "staff.example")
    }))
})
