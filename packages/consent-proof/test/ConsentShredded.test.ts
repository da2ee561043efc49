import { assert } from "@effect/vitest"
import * as AuditLog from "@lawful/audit-trail/AuditLog"
import type { SubjectId } from "@lawful/core/SubjectId"
import { contractSuite } from "@lawful/core/testing"
import type { TenantId } from "@lawful/core/TenantId"
import * as Vault from "@lawful/core/Vault"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Stream from "effect/Stream"
import * as Chunk from "effect/Chunk"
import { ConsentLedger } from "../src/ConsentLedger.js"
import type { RecordRequest } from "../src/ConsentLedger.js"
import * as ConsentState from "../src/ConsentState.js"
import { confirm, grant, tenantWithLists, withdraw } from "./fixtures.js"
import { memory, sql } from "./layers.js"

const statusOf = (states: ReadonlyArray<ConsentState.ListState>) =>
  Object.fromEntries(states.map((state) => [state.list, state.status]))

/** A request naming its subject by id, with or without IP address and user agent. */
const byId = (
  make: (email: string, lists: ReadonlyArray<string>, extra?: Partial<RecordRequest>) => RecordRequest,
  subject: SubjectId,
  lists: ReadonlyArray<string>,
  fields: "with fields" | "without fields"
): RecordRequest =>
  make("unused@example.com", lists, {
    email: undefined,
    subject,
    ...(fields === "with fields"
      ? { ip: "192.0.2.44", userAgent: "Shredded-Agent/1.0" }
      : { ip: undefined, userAgent: undefined })
  })

/** A subject granted on news, pending on offers, then shredded. */
const shreddedSubject = (tenant: TenantId, email: string) =>
  Effect.gen(function*() {
    const ledger = yield* ConsentLedger
    const granted = yield* ledger.record(tenant, grant(email, ["news", "offers"]))
    yield* (yield* Vault.Vault).shred(tenant, granted.event.subject)
    return granted.event.subject
  })

contractSuite("ConsentLedger and shredded subjects", { memory, sql }, (it) => {
  it.effect("a grant or confirmation for a shredded subject fails SubjectShredded, with or without IP and user agent, and writes nothing", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const log = yield* AuditLog.AuditLog
      const tenant = yield* tenantWithLists
      const subject = yield* shreddedSubject(tenant, "shredded.one@example.com")
      const events = (yield* ledger.events(tenant, { limit: 100 })).length
      const size = yield* log.size(tenant)
      const states = yield* ledger.stateOf(tenant, subject)
      for (const fields of ["with fields", "without fields"] as const) {
        for (const request of [byId(grant, subject, ["news", "events.local"], fields), byId(confirm, subject, ["offers"], fields)]) {
          const result = yield* Effect.either(ledger.record(tenant, request))
          assert.isTrue(Either.isLeft(result), `${request.kind} ${fields}`)
          if (Either.isLeft(result)) {
            assert.strictEqual(result.left._tag, "SubjectShredded", `${request.kind} ${fields}`)
            assert.notInclude(JSON.stringify(result.left), "192.0.2.44")
          }
        }
      }
      assert.strictEqual((yield* ledger.events(tenant, { limit: 100 })).length, events)
      assert.strictEqual(yield* log.size(tenant), size)
      assert.deepStrictEqual(yield* ledger.stateOf(tenant, subject), states)
      assert.deepStrictEqual(
        Chunk.toReadonlyArray(yield* Stream.runCollect(ledger.recipients(tenant, "news"))),
        [subject],
        "the grant made before the shred is the only one"
      )
    }))

  it.effect("a withdrawal for a shredded subject is recorded, without the IP address and user agent it cannot seal", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      const subject = yield* shreddedSubject(tenant, "shredded.two@example.com")
      const withFields = yield* ledger.record(tenant, byId(withdraw, subject, ["news"], "with fields"))
      assert.strictEqual(withFields.event.kind, "withdrawn")
      assert.isUndefined(withFields.event.ip)
      assert.isUndefined(withFields.event.userAgent)
      assert.isUndefined(withFields.ipSealed)
      assert.isUndefined(withFields.userAgentSealed)
      const without = yield* ledger.record(tenant, byId(withdraw, subject, ["offers"], "without fields"))
      assert.deepStrictEqual(statusOf(yield* ledger.stateOf(tenant, subject)), { news: "withdrawn", offers: "withdrawn" })
      const stored = yield* ledger.events(tenant, { subject, limit: 10 })
      assert.deepStrictEqual(stored.map((s) => s.event.id).slice(1), [withFields.event.id, without.event.id])
      assert.isFalse(new TextDecoder().decode(stored[1]!.bytes).includes("192.0.2.44"))
    }))

  it.effect("in one batch, the shredded subject is refused and the live subjects are recorded", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const log = yield* AuditLog.AuditLog
      const tenant = yield* tenantWithLists
      const shredded = yield* shreddedSubject(tenant, "shredded.three@example.com")
      const live = (yield* ledger.record(tenant, grant("live.three@example.com", ["offers"]))).event.subject
      const size = yield* log.size(tenant)
      const requests: ReadonlyArray<RecordRequest> = [
        byId(grant, shredded, ["events.local"], "without fields"),
        byId(grant, live, ["news"], "without fields"),
        grant("new.three@example.com", ["news"]),
        byId(grant, shredded, ["events.local"], "with fields"),
        byId(grant, live, ["events.local"], "with fields"),
        byId(withdraw, shredded, ["news"], "with fields")
      ]
      const results = yield* Effect.forEach(requests, (request) => Effect.either(ledger.record(tenant, request)), {
        concurrency: "unbounded"
      })
      const tags = results.map((result) => (Either.isLeft(result) ? result.left._tag : "recorded"))
      assert.deepStrictEqual(tags, ["SubjectShredded", "recorded", "recorded", "SubjectShredded", "recorded", "recorded"])
      assert.strictEqual(yield* log.size(tenant), size + 4)
      assert.deepStrictEqual(statusOf(yield* ledger.stateOf(tenant, live)), { "events.local": "pending", news: "granted", offers: "pending" })
      assert.deepStrictEqual(statusOf(yield* ledger.stateOf(tenant, shredded)), { news: "withdrawn", offers: "pending" })
      const recorded = results.flatMap((result) => (Either.isRight(result) ? [result.right] : []))
      assert.strictEqual((yield* ledger.disclose(recorded[2]!, { actor: { kind: "system", id: "test" } })).ip?.value, "192.0.2.44")
    }))
})
