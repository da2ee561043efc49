// Review 20: an event's purpose stays in the log in clear, out of reach of any erasure, as its
// actor's id does: a purpose holding an address is refused as an actor id holding one is.
import { assert, it } from "@effect/vitest"
import * as TenantId from "@lawful/core/TenantId"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { AuditLog } from "../src/AuditLog.js"
import { AuditEvent } from "../src/AuditEvent.js"
import { auditMemory } from "../src/testing.js"
import { event } from "./AuditLogSuite.js"

it.layer(auditMemory)((it) => {
  it.effect("a purpose holding an email address is refused when the event is made or appended, the address nowhere", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog
      const tenant = yield* TenantId.make
      yield* log.append(tenant, event(0))
      const purpose = "newsletter for ada.lovelace@example.org"
      const made = Either.try(() => event(1, { purpose }))
      assert.isTrue(Either.isLeft(made), "an event with an address as its purpose was made")
      assert.notInclude(String(Either.isLeft(made) && made.left), "ada.lovelace")
      // Made without validation, or given as a plain object: refused by the log, nothing appended.
      const unchecked = new AuditEvent({ ...event(1), purpose }, { disableValidation: true })
      const plain = { ...event(1), purpose } as AuditEvent
      for (const given of [unchecked, plain]) {
        const refused = yield* Effect.flip(log.appendAll(tenant, [event(2), given]))
        assert.strictEqual(refused._tag, "AuditEventInvalid")
        assert.notInclude(refused.message, "ada.lovelace")
        const reason = refused._tag === "AuditEventInvalid" ? refused.reason : ""
        assert.include(reason, "purpose")
        assert.include(reason, "never an email address")
        assert.notInclude(reason, "ada.lovelace")
      }
      assert.strictEqual(yield* log.size(tenant), 1)
      // The purposes the platform's packages record are names, and are made as before.
      for (const name of ["newsletter", "consent-management", "processor-oversight", "legal-hold", "customer-support"]) {
        assert.strictEqual(event(3, { purpose: name }).purpose, name)
      }
    }))
})
