// Review 15: defects found in review, each with the test that failed before its fix. On memory,
// PGlite and PostgreSQL.
import { assert } from "@effect/vitest"
import * as SubjectDirectory from "@lawful/core/SubjectDirectory"
import * as SuppressionList from "@lawful/core/SuppressionList"
import { contractSuite } from "@lawful/core/testing"
import type * as TenantId from "@lawful/core/TenantId"
import * as AuditLog from "@lawful/audit-trail/AuditLog"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { ConsentLedger } from "../src/ConsentLedger.js"
import { contactsOf, grant, importActor as actor, importedEvents, keyedImport, tenantWithLists } from "./fixtures.js"
import { memory, sql } from "./layers.js"

const request = keyedImport


contractSuite("Review 15", { memory, sql }, (it) => {
  it.effect("a resumed import counts a contact it recorded before, suppressed since, as alreadyRecorded", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const suppression = yield* SuppressionList.SuppressionList
      const directory = yield* SubjectDirectory.SubjectDirectory
      const tenant = yield* tenantWithLists
      const key = "nightly-sync-suppressed"
      const contacts = contactsOf(8)
      // The first attempt records rows 1 to 4, then its source fails (once they are stored).
      const failing = Stream.concat(
        Stream.fromIterable(contacts.slice(0, 4)),
        Stream.fromEffect(
          Effect.zipRight(
            ledger.events(tenant, { limit: 1000 }).pipe(Effect.repeat({ until: (events) => events.length >= 4 })),
            Effect.fail("source lost" as const)
          )
        )
      )
      assert.strictEqual(yield* Effect.flip(ledger.importContacts(tenant, request(key, failing, { batchSize: 4 }))), "source lost")
      assert.strictEqual((yield* importedEvents(tenant)).length, 4)

      // Before the retry: a recorded contact unsubscribes, and a contact never recorded is suppressed.
      yield* suppression.add(tenant, "contact1@example.com", "unsubscribe")
      yield* suppression.add(tenant, "contact6@example.com", "complaint")

      const report = yield* ledger.importContacts(tenant, request(key, contacts, { batchSize: 4 }))
      assert.deepStrictEqual(
        {
          received: report.received,
          recorded: report.recorded,
          alreadyRecorded: report.alreadyRecorded,
          suppressed: report.suppressed,
          rejections: report.rejections
        },
        { received: 8, recorded: 3, alreadyRecorded: 4, suppressed: 1, rejections: [{ row: 7, reason: "suppressed" }] }
      )
      assert.strictEqual((yield* importedEvents(tenant)).length, 7)
      // The suppressed address never recorded got no subject.
      assert.isTrue(Option.isNone(yield* directory.find(tenant, "contact6@example.com")))
    }))

  it.effect("a record whose actor id is an address fails ConsentRequestInvalid: the audit log never holds it in clear", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const directory = yield* SubjectDirectory.SubjectDirectory
      const log = yield* AuditLog.AuditLog
      const tenant = yield* tenantWithLists
      // The audit log refuses an actor id holding "@": it stays in clear for as long as the log is kept.
      for (const actor of [{ kind: "staff" as const, id: "ops.lead@example.com" }, { kind: "api-key" as const, id: "@" }]) {
        const result = yield* Effect.either(ledger.record(tenant, grant("dora@example.com", ["news"], { actor })))
        assert.deepStrictEqual(
          Either.getLeft(result).pipe(Option.map((error) => error._tag)),
          Option.some("ConsentRequestInvalid"),
          `recorded with the actor ${actor.id}`
        )
        assert.notInclude(JSON.stringify(Either.getLeft(result)), "ops.lead")
      }
      const entries = (yield* log.query(tenant, { limit: 100 })).entries
      assert.notInclude(JSON.stringify(entries), "ops.lead")
      assert.deepStrictEqual(yield* ledger.events(tenant, { limit: 10 }), [])
      assert.strictEqual(yield* log.size(tenant), 0)
      assert.isTrue(Option.isNone(yield* directory.find(tenant, "dora@example.com")))
      // An opaque id is recorded.
      yield* ledger.record(tenant, grant("dora@example.com", ["news"], { actor: { kind: "staff", id: "ops-lead" } }))
      assert.strictEqual(yield* log.size(tenant), 1)
    }))
})
