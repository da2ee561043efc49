// Review 20: an event's purpose and its resource's id stay in the log in clear, out of reach of any
// erasure, as its actor's id does: one holding an address is refused as an actor id holding one is.
import { assert, it } from "@effect/vitest"
import * as TenantId from "@lawful/core/TenantId"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as AuditEntry from "../src/AuditEntry.js"
import { AuditLog } from "../src/AuditLog.js"
import { AuditEvent } from "../src/AuditEvent.js"
import { auditMemory } from "../src/testing.js"
import { event } from "./AuditLogSuite.js"

// Each field kept in clear, with an address in it, and the values the platform's packages record in
// it, which are made as before.
const fields = [
  {
    name: "purpose",
    holding: { purpose: "newsletter for ada.lovelace@example.org" },
    recorded: ["newsletter", "consent-management", "processor-oversight", "legal-hold", "customer-support"].map(
      (purpose) => ({ purpose })
    )
  },
  {
    name: "resource",
    holding: { resource: { type: "contact", id: "ada.lovelace@example.org" } },
    recorded: ["0192f3c4-7b1a-7c3e-9d2f-4a5b6c7d8e9f", "contacts.inactive", "security-questionnaire/2", "csv"].map(
      (id) => ({ resource: { type: "record", id } })
    )
  }
]

it.layer(auditMemory)((it) => {
  for (const field of fields) {
    it.effect(`a ${field.name} holding an email address is refused when the event is made or appended, the address nowhere`, () =>
      Effect.gen(function*() {
        const log = yield* AuditLog
        const tenant = yield* TenantId.make
        yield* log.append(tenant, event(0))
        const made = Either.try(() => event(1, field.holding))
        assert.isTrue(Either.isLeft(made), `an event with an address in its ${field.name} was made`)
        assert.notInclude(String(Either.isLeft(made) && made.left), "ada.lovelace")
        // Made without validation, or given as a plain object: refused by the log, nothing appended.
        const unchecked = new AuditEvent({ ...event(1), ...field.holding }, { disableValidation: true })
        const plain = { ...event(1), ...field.holding } as AuditEvent
        for (const given of [unchecked, plain]) {
          const refused = yield* Effect.flip(log.appendAll(tenant, [event(2), given]))
          assert.strictEqual(refused._tag, "AuditEventInvalid")
          assert.notInclude(refused.message, "ada.lovelace")
          const reason = refused._tag === "AuditEventInvalid" ? refused.reason : ""
          assert.include(reason, field.name)
          assert.include(reason, "never an email address")
          assert.notInclude(reason, "ada.lovelace")
        }
        assert.strictEqual(yield* log.size(tenant), 1)
        for (const recorded of field.recorded) {
          const made = event(3, recorded) as unknown as Record<string, unknown>
          assert.deepStrictEqual(made[field.name], (recorded as Record<string, unknown>)[field.name])
        }
      }))
  }
})

// An entry written before a rule of the event tightened (processor-registry named questionnaires
// `<id>@<version>` until this review) is read as written: it decodes, checks against its hashed
// bytes (as the log's verification checks it), and reads back as its event.
it("an entry written with a resource id holding @, before that was refused, decodes, checks and reads back", () => {
  const tenant = TenantId.TenantId.make("0192f3c4-7b1a-7c3e-9d2f-4a5b6c7d8e9f")
  const resource = { type: "questionnaire", id: "security@1" }
  const written = new AuditEvent({ ...event(0), resource }, { disableValidation: true })
  const entry = AuditEntry.make(tenant, 0, new Date("2026-01-01T00:00:00.000Z"), written)
  assert.deepStrictEqual(Option.map(AuditEntry.decodeLeaf(entry.leaf), (leaf) => leaf.resource), Option.some(resource))
  assert.deepStrictEqual(AuditEntry.check(entry, { tenant, index: 0 }), Option.none())
  assert.deepStrictEqual(AuditEntry.toEvent(entry).resource, resource)
})
