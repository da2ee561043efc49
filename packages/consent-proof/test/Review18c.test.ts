// Review 18c: bad input gets a typed error and changes nothing, on every store alike. Each test
// failed before its fix. On memory, PGlite and PostgreSQL.
import { assert } from "@effect/vitest"
import * as AuditLog from "@lawful/audit-trail/AuditLog"
import type { SubjectId } from "@lawful/core/SubjectId"
import { contractSuite, spansOf } from "@lawful/core/testing"
import * as Effect from "effect/Effect"
import * as ConsentImport from "../src/ConsentImport.js"
import { ConsentLedger } from "../src/ConsentLedger.js"
import * as ConsentLists from "../src/ConsentLists.js"
import { assertNothingRecorded } from "./ConsentLedgerSuite.js"
import { attestation, auditor, failureTag, grant, importActor, tenantWithLists, withdraw } from "./fixtures.js"
import { memory, sql } from "./layers.js"

contractSuite("Review18c", { memory, sql }, (it) => {
  it.effect("an import whose request or contacts are no iterable or stream fails ConsentRequestInvalid and writes nothing", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      const base = { attestation, lists: ["news"], actor: importActor }
      const requests: ReadonlyArray<readonly [string, unknown]> = [
        ["contacts null", { ...base, contacts: null }],
        ["contacts missing", base],
        ["contacts a number", { ...base, contacts: 42 }],
        ["contacts a plain object", { ...base, contacts: { email: "ada@example.com" } }],
        ["contacts null, keyed", { ...base, contacts: null, idempotencyKey: "import-1" }],
        ["request null", null],
        ["request a string", "ada@example.com"]
      ]
      for (const [label, request] of requests) {
        const tag = yield* failureTag(ledger.importContacts(tenant, request as ConsentImport.ImportRequest), label)
        assert.strictEqual(tag, "ConsentRequestInvalid", label)
      }
      // Nothing started: no audit entry, no event, and the key is free for a good import.
      assert.strictEqual(yield* (yield* AuditLog.AuditLog).size(tenant), 0)
      assert.deepStrictEqual(yield* ledger.events(tenant, { limit: 10 }), [])
      const report = yield* ledger.importContacts(tenant, { ...base, idempotencyKey: "import-1", contacts: [{ email: "ada@example.com" }] })
      assert.strictEqual(report.recorded, 1)
    }))

  it.effect("an export disclosure whose format is not a format name fails ConsentRequestInvalid: no defect, no address in the audit log", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const log = yield* AuditLog.AuditLog
      const tenant = yield* tenantWithLists
      const formats: ReadonlyArray<unknown> = ["", "csv\u0000", "csv\ud800", "x".repeat(201), 42, null, "ada@example.com", "Ada Lovelace"]
      for (const format of formats) {
        const label = `format ${JSON.stringify(format)?.slice(0, 30)}`
        const tag = yield* failureTag(ledger.exportDisclosure(tenant, { actor: auditor, format: format as string }), label)
        assert.strictEqual(tag, "ConsentRequestInvalid", label)
      }
      const tag = yield* failureTag(ledger.exportDisclosure(tenant, null as never), "request null")
      assert.strictEqual(tag, "ConsentRequestInvalid")
      assert.strictEqual(yield* log.size(tenant), 0)
      // The formats of this package, and names of the same shape, are taken.
      for (const format of ["csv", "json", "events", "personal-data-source", "crm-sync.v2"]) {
        yield* ledger.exportDisclosure(tenant, { actor: auditor, format })
      }
      assert.strictEqual(yield* log.size(tenant), 5)
    }))

  it.effect("a user agent with a lone surrogate or a NUL is refused, never recorded as another string", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      const email = "dora.private@example.com"
      for (const userAgent of ["Agent \ud800/1", "Agent \udfff/1", "Agent\u0000/1"]) {
        const tag = yield* failureTag(ledger.record(tenant, grant(email, ["news"], { userAgent })), userAgent)
        assert.strictEqual(tag, "ConsentRequestInvalid")
        const withdrawal = yield* failureTag(ledger.record(tenant, withdraw(email, ["news"], { userAgent })), userAgent)
        assert.strictEqual(withdrawal, "ConsentRequestInvalid")
      }
      yield* assertNothingRecorded(tenant, email)

      const report = yield* ledger.importContacts(tenant, {
        attestation,
        lists: ["news"],
        actor: importActor,
        contacts: [
          { email: "one@example.com", userAgent: "Agent \ud800/1" },
          { email: "two@example.com", userAgent: "Agent\u0000/1" },
          { email: "three@example.com", userAgent: "Agent \ud83d\ude00/1" }
        ]
      })
      assert.strictEqual(report.recorded, 1)
      assert.strictEqual(report.invalidUserAgent, 2)
      assert.deepStrictEqual(report.rejections, [{ row: 1, reason: "invalid-user-agent" }, { row: 2, reason: "invalid-user-agent" }])
      // A well-formed pair (an emoji) is kept exactly.
      const [recorded] = yield* ledger.events(tenant, { limit: 10 })
      assert.strictEqual((yield* ledger.disclose(recorded!, { actor: auditor })).userAgent?.value, "Agent \ud83d\ude00/1")
    }))

  it.effect("a subject id that is not a lower-case UUID has no events on every store: no store error, no other spelling's data", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      const recorded = yield* ledger.record(tenant, grant("eve@example.com", ["news"]))
      const subject = recorded.event.subject
      const upper = subject.toUpperCase() as SubjectId
      for (const id of [upper, "not-a-uuid" as SubjectId, `${subject}\u0000` as SubjectId, "" as SubjectId]) {
        const label = JSON.stringify(id)
        assert.deepStrictEqual(yield* ledger.stateOf(tenant, id), [], label)
        assert.deepStrictEqual(yield* ledger.stateAt(tenant, id, new Date()), [], label)
        assert.isFalse(yield* ledger.mayReceiveMarketing(tenant, id, "news"), label)
        assert.deepStrictEqual(yield* ledger.events(tenant, { subject: id, limit: 10 }), [], label)
        assert.strictEqual(yield* ledger.erase(tenant, id), 0, label)
      }
      // The subject, named by its id, is whole.
      assert.isTrue(yield* ledger.mayReceiveMarketing(tenant, subject, "news"))
      assert.strictEqual((yield* ledger.events(tenant, { subject, limit: 10 })).length, 1)
    }))

  it.effect("a subject or list argument that is not an id never reaches a span's attributes", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const lists = yield* ConsentLists.ConsentLists
      const tenant = yield* tenantWithLists
      const personal = "grace.private@example.com"
      const spans = yield* spansOf(
        Effect.gen(function*() {
          const subject = personal as SubjectId
          yield* ledger.stateOf(tenant, subject)
          yield* ledger.stateAt(tenant, subject, new Date())
          yield* ledger.mayReceiveMarketing(tenant, subject, "news")
          yield* ledger.erase(tenant, subject)
          yield* Effect.either(lists.declare(tenant, { id: personal, name: "n", purpose: "p", doubleOptIn: false } as never))
        })
      )
      const attributes = spans.flatMap((span) => [...span.attributes.values()].map(String))
      assert.isAbove(spans.length, 4)
      assert.notInclude(attributes.join(" "), personal)
    }))

  it.effect("a list declared from a malformed value fails ConsentListInvalid and declares nothing; the tenant's lists stay readable", () =>
    Effect.gen(function*() {
      const declared = yield* ConsentLists.ConsentLists
      const tenant = yield* tenantWithLists
      const before = yield* declared.all(tenant)
      const malformed: ReadonlyArray<unknown> = [
        { id: "Weekly Digest", name: "Weekly", purpose: "News", doubleOptIn: false },
        { id: "weekly", name: "Weekly\u0000", purpose: "News", doubleOptIn: false },
        { id: "weekly", name: "Weekly", purpose: "News \ud800", doubleOptIn: false },
        { id: "weekly", name: "", purpose: "News", doubleOptIn: false },
        { id: "weekly", name: "Weekly", purpose: "News", doubleOptIn: "yes" },
        { id: "weekly", name: "Weekly", purpose: "News" },
        { id: "ada@example.com", name: "Weekly", purpose: "News", doubleOptIn: false },
        null,
        ["weekly"]
      ]
      for (const list of malformed) {
        const error = yield* Effect.flip(declared.declare(tenant, list as ConsentLists.ConsentList))
        assert.strictEqual(error._tag, "ConsentListInvalid", JSON.stringify(list))
        assert.notInclude(error.message, "ada@example.com")
        assert.notInclude(JSON.stringify(error), "ada@example.com")
      }
      assert.deepStrictEqual(yield* declared.all(tenant), before)
      // A declaration as a plain object with valid fields is taken, as the class.
      yield* declared.declare(tenant, { id: "weekly", name: "Weekly", purpose: "News", doubleOptIn: false } as never)
      const [weekly] = yield* declared.require(tenant, ["weekly"])
      assert.isTrue(weekly instanceof ConsentLists.ConsentList)
      assert.strictEqual(weekly!.name, "Weekly")
    }))
})
