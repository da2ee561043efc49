// Review 19h: the audit log and proof bundles write a Schema's refusal with core's `Issues.lines`:
// each issue at its path, one at the value itself led by the name of that value ("the bundle").
import { assert, it } from "@effect/vitest"
import * as TenantId from "@lawful/core/TenantId"
import * as Effect from "effect/Effect"
import { AuditLog } from "../src/AuditLog.js"
import * as ProofBundle from "../src/ProofBundle.js"
import { auditMemory } from "../src/testing.js"

it.layer(auditMemory)((it) => {
  it.effect("an event that is not an AuditEvent is refused by where and what is wrong, never the value", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog
      const tenant = yield* TenantId.make
      const refused = yield* Effect.flip(
        log.append(tenant, { actor: { kind: "system", id: "job" }, action: ["Zoe Marker"] } as never)
      )
      assert.strictEqual(refused._tag, "AuditEventInvalid")
      const reason = refused._tag === "AuditEventInvalid" ? refused.reason : ""
      assert.strictEqual(reason, "action: expected text")
      assert.notInclude(reason, "Zoe")
    }))
})

it.effect("a bundle that does not decode is refused by where and what, its own issues led by \"the bundle\"", () =>
  Effect.gen(function*() {
    const refused = yield* Effect.flip(ProofBundle.decode("Zoe Marker"))
    assert.match(refused.reason, /^malformed bundle: the bundle: expected /)
    assert.notInclude(refused.reason, "Zoe")
  }))
