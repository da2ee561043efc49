// Review 20: an event's purpose and its resource's id stay in the log in clear, out of reach of any
// erasure, as its actor's id does: one holding an address is refused as an actor id holding one is.
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

// A resource's id stays in the log in clear as the purpose does: one holding an address is refused
// the same three ways, without quoting it.
it.layer(auditMemory)((it) => {
  it.effect("a resource id holding an email address is refused when the event is made or appended, the address nowhere", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog
      const tenant = yield* TenantId.make
      yield* log.append(tenant, event(0))
      const resource = { type: "contact", id: "ada.lovelace@example.org" }
      const made = Either.try(() => event(1, { resource }))
      assert.isTrue(Either.isLeft(made), "an event with an address as its resource id was made")
      assert.notInclude(String(Either.isLeft(made) && made.left), "ada.lovelace")
      const unchecked = new AuditEvent({ ...event(1), resource }, { disableValidation: true })
      const plain = { ...event(1), resource } as AuditEvent
      for (const given of [unchecked, plain]) {
        const refused = yield* Effect.flip(log.appendAll(tenant, [event(2), given]))
        assert.strictEqual(refused._tag, "AuditEventInvalid")
        const reason = refused._tag === "AuditEventInvalid" ? refused.reason : ""
        assert.include(reason, "resource")
        assert.include(reason, "never an email address")
        assert.notInclude(reason, "ada.lovelace")
        assert.notInclude(refused.message, "ada.lovelace")
      }
      assert.strictEqual(yield* log.size(tenant), 1)
      // The resource ids the platform's packages record are ids and names, made as before.
      for (const id of ["0192f3c4-7b1a-7c3e-9d2f-4a5b6c7d8e9f", "contacts.inactive", "security-questionnaire/2", "csv"]) {
        assert.strictEqual(event(3, { resource: { type: "record", id } }).resource?.id, id)
      }
    }))
})
