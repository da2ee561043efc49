// Review 16c: lists, notices, imports (rows and the report's counts) and the projection, on
// memory, PGlite and PostgreSQL. Checks found sound stay as tests; a defect's test failed
// before its fix.
import { assert } from "@effect/vitest"
import * as AuditLog from "@lawful/audit-trail/AuditLog"
import * as SubjectDirectory from "@lawful/core/SubjectDirectory"
import * as SuppressionList from "@lawful/core/SuppressionList"
import { contractSuite } from "@lawful/core/testing"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as ConsentImport from "../src/ConsentImport.js"
import * as ConsentLedger from "../src/ConsentLedger.js"
import * as ConsentLists from "../src/ConsentLists.js"
import * as ConsentNotice from "../src/ConsentNotice.js"
import * as ConsentProof from "../src/ConsentProof.js"
import type * as ConsentState from "../src/ConsentState.js"
import { assertNothingRecorded } from "./ConsentLedgerSuite.js"
import { attestation, grant, importActor, notice, tenantWithLists, withdraw } from "./fixtures.js"
import { memory, sql } from "./layers.js"

const statusOf = (states: ReadonlyArray<ConsentState.ListState>) =>
  Object.fromEntries(states.map((state) => [state.list, state.status]))

const tagOf = <A>(result: Either.Either<A, { readonly _tag: string }>) => (Either.isRight(result) ? "recorded" : result.left._tag)

/** Every count of a report but the rejections, which must add up to `received`. */
const refusedCount = (report: ConsentImport.ImportReport) =>
  report.suppressed + report.invalidEmail + report.invalidIp + report.invalidConsentedAt + report.invalidUserAgent +
  report.outsideAttestedPeriod + report.duplicates + report.withdrawn

const at = (iso: string) => TestClock.setTime(new Date(iso).getTime())

contractSuite("Review 16c", { memory, sql }, (it) => {
  it.effect("a grant for an undeclared list or another tenant's list fails UnknownList and records nothing", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger.ConsentLedger
      const declared = yield* ConsentLists.ConsentLists
      const other = yield* tenantWithLists
      yield* declared.declare(
        other,
        new ConsentLists.ConsentList({ id: ConsentLists.ListId.make("vip"), name: "VIP", purpose: "VIP offers", doubleOptIn: false })
      )
      const tenant = yield* tenantWithLists
      const email = "lists@example.com"
      // Declared by the other tenant only, undeclared anywhere, and a declared id spelt in capitals.
      for (const listIds of [["vip"], ["news", "vip"], ["nowhere"], ["NEWS"]]) {
        const result = yield* Effect.either(ledger.record(tenant, grant(email, listIds)))
        assert.strictEqual(tagOf(result), "UnknownList", listIds.join(","))
      }
      // Warm the other tenant's cache, then ask again from this one.
      yield* ledger.record(other, grant(email, ["vip"]))
      assert.strictEqual(tagOf(yield* Effect.either(ledger.record(tenant, grant(email, ["vip"])))), "UnknownList")
      const imported = yield* Effect.either(
        ledger.importContacts(tenant, { attestation, lists: ["vip"], actor: importActor, contacts: [{ email }] })
      )
      assert.strictEqual(tagOf(imported), "UnknownList")
      yield* assertNothingRecorded(tenant, email)
    }))

  it.effect("an event keeps the hashes of the notice shown: a later notice changes neither the old event nor its proof", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger.ConsentLedger
      const tenant = yield* tenantWithLists
      const shown = {
        text: "Get our weekly digest and occasional offers. Unsubscribe at any time.",
        labels: ["Weekly digest", "Offers"],
        privacyPolicyUrl: "https://brand.example/privacy"
      }
      const first = yield* ledger.record(tenant, grant("notice@example.com", ["news"]))
      const edited = { ...shown, text: "Get our daily digest.", privacyPolicyUrl: "https://brand.example/privacy-v2" }
      yield* ledger.record(tenant, grant("notice@example.com", ["news"], { notice: ConsentNotice.hash(edited) }))
      const stored = yield* ledger.event(tenant, first.event.id)
      assert.deepStrictEqual(stored.event.notice, notice)
      const verified = yield* ConsentProof.verify(yield* ledger.proof(tenant, first.event.id), ledger.verifierKey)
      assert.isTrue(ConsentNotice.matches(shown, verified.event.notice!))
      assert.isFalse(ConsentNotice.matches(edited, verified.event.notice!))
      // A grant from a form without the notice it showed records nothing.
      const bare = grant("bare@example.com", ["news"])
      delete (bare as { notice?: unknown }).notice
      assert.strictEqual(tagOf(yield* Effect.either(ledger.record(tenant, bare))), "ConsentRequestInvalid")
    }))

  it.effect("an event grants exactly the lists it names, and each list's state moves on its own", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger.ConsentLedger
      const tenant = yield* tenantWithLists
      const email = "per-list@example.com"
      const granted = yield* ledger.record(tenant, grant(email, ["news"]))
      const subject = granted.event.subject
      assert.deepStrictEqual<ReadonlyArray<string>>(granted.event.lists, ["news"])
      assert.deepStrictEqual(statusOf(yield* ledger.stateOf(tenant, subject)), { news: "granted" })
      yield* ledger.record(tenant, grant(email, ["offers", "events.local"]))
      yield* ledger.record(tenant, withdraw(email, ["offers"]))
      assert.deepStrictEqual(statusOf(yield* ledger.stateOf(tenant, subject)), {
        "events.local": "pending",
        news: "granted",
        offers: "withdrawn"
      })
      // Grant, withdraw, grant again on one list.
      yield* ledger.record(tenant, withdraw(email, ["news"]))
      assert.isFalse(yield* ledger.mayReceiveMarketing(tenant, subject, "news"))
      yield* ledger.record(tenant, grant(email, ["news"]))
      assert.isTrue(yield* ledger.mayReceiveMarketing(tenant, subject, "news"))
      assert.deepStrictEqual(statusOf(yield* ledger.stateOf(tenant, subject)), {
        "events.local": "pending",
        news: "granted",
        offers: "withdrawn"
      })
      // A withdrawal of a list never granted is recorded as a withdrawal (an objection kept), and grants nothing.
      const never = yield* ledger.record(tenant, withdraw("never@example.com", ["offers"]))
      assert.deepStrictEqual(statusOf(yield* ledger.stateOf(tenant, never.event.subject)), { offers: "withdrawn" })
      assert.isFalse(yield* ledger.mayReceiveMarketing(tenant, never.event.subject, "offers"))
    }))

  it.effect("events of one subject and list in the same millisecond apply in recording order, on the projection, the replay and a rebuild", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger.ConsentLedger
      const tenant = yield* tenantWithLists
      yield* at("2025-03-01T10:00:00.000Z")
      const email = "same-ms@example.com"
      // Sequential, one millisecond.
      const first = yield* ledger.record(tenant, grant(email, ["news"]))
      yield* ledger.record(tenant, withdraw(email, ["news"]))
      const last = yield* ledger.record(tenant, grant(email, ["news"]))
      const subject = first.event.subject
      const now = new Date(yield* Clock.currentTimeMillis)
      const expected = [["news", "granted", last.event.id]]
      const view = (states: ReadonlyArray<ConsentState.ListState>) => states.map((s) => [s.list, s.status, s.eventId])
      assert.deepStrictEqual(view(yield* ledger.stateOf(tenant, subject)), expected)
      assert.deepStrictEqual(view(yield* ledger.stateAt(tenant, subject, now)), expected)
      // Concurrent, one batch: whatever order they are recorded in, projection, replay and rebuild agree.
      const other = "same-ms-batch@example.com"
      yield* Effect.all([ledger.record(tenant, grant(other, ["news"])), ledger.record(tenant, withdraw(other, ["news"]))], {
        concurrency: "unbounded"
      })
      const otherSubject = (yield* ledger.events(tenant, { limit: 100 })).find((s) => s.event.subject !== subject)!.event.subject
      const events = yield* ledger.events(tenant, { subject: otherSubject, limit: 10 })
      const lastRecorded = events[events.length - 1]!.event
      const projected = view(yield* ledger.stateOf(tenant, otherSubject))
      assert.deepStrictEqual(projected, [["news", lastRecorded.kind === "granted" ? "granted" : "withdrawn", lastRecorded.id]])
      assert.deepStrictEqual(view(yield* ledger.stateAt(tenant, otherSubject, now)), projected)
      yield* ledger.rebuildProjection(tenant)
      assert.deepStrictEqual(view(yield* ledger.stateOf(tenant, otherSubject)), projected)
      assert.deepStrictEqual(view(yield* ledger.stateOf(tenant, subject)), expected)
    }))

  it.effect("an import counts every row once: repeats in any case or spacing, suppressed addresses in any case, invalid rows", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger.ConsentLedger
      const suppression = yield* SuppressionList.SuppressionList
      const directory = yield* SubjectDirectory.SubjectDirectory
      const tenant = yield* tenantWithLists
      yield* suppression.add(tenant, "Blocked@Example.COM", "complaint")
      const inPeriod = new Date("2025-01-01T00:00:00.000Z")
      const contacts: Array<ConsentImport.ImportContact> = [
        { email: "ada@example.com", consentedAt: inPeriod }, // 1 recorded
        { email: "  ADA@Example.com\t" }, // 2 duplicate
        { email: " blocked@example.com " }, // 3 suppressed
        { email: "BLOCKED@EXAMPLE.COM" }, // 4 duplicate of a suppressed row
        { email: "not an address" }, // 5 invalid-email
        { email: "bad-ip@example.com", ip: "999.1.1.1" }, // 6 invalid-ip
        { email: "bad-time@example.com", consentedAt: new Date(Number.NaN) }, // 7 invalid-consented-at
        { email: "early@example.com", consentedAt: new Date("2020-01-01T00:00:00.000Z") }, // 8 outside-attested-period
        { email: "agent@example.com", userAgent: "x".repeat(ConsentImport.maxUserAgentLength + 1) }, // 9 invalid-user-agent
        { email: "bob@example.com", ip: "198.51.100.4" }, // 10 recorded
        {} as never, // 11 invalid-email
        { email: "Bob@Example.Com" } // 12 duplicate
      ]
      for (const batchSize of [1, 5, 1000]) {
        const report = yield* ledger.importContacts(tenant, {
          attestation,
          lists: ["news"],
          actor: importActor,
          batchSize,
          contacts
        })
        assert.strictEqual(report.received, contacts.length)
        assert.strictEqual(report.recorded + report.alreadyRecorded + refusedCount(report), report.received, `batches of ${batchSize}`)
        assert.deepStrictEqual(report.rejections, [
          { row: 2, reason: "duplicate" },
          { row: 3, reason: "suppressed" },
          { row: 4, reason: "duplicate" },
          { row: 5, reason: "invalid-email" },
          { row: 6, reason: "invalid-ip" },
          { row: 7, reason: "invalid-consented-at" },
          { row: 8, reason: "outside-attested-period" },
          { row: 9, reason: "invalid-user-agent" },
          { row: 11, reason: "invalid-email" },
          { row: 12, reason: "duplicate" }
        ], `batches of ${batchSize}`)
        assert.strictEqual(report.recorded, 2)
        assert.strictEqual(report.suppressed, 1)
        assert.strictEqual(report.duplicates, 3)
        // A rejection names its row and reason only.
        for (const rejection of report.rejections) assert.deepStrictEqual(Object.keys(rejection).sort(), ["reason", "row"])
      }
      // The suppressed address has no subject and no event; the report and its audit entry hold no address.
      assert.isTrue(Option.isNone(yield* directory.find(tenant, "blocked@example.com")))
      const log = yield* AuditLog.AuditLog
      const entries = (yield* log.query(tenant, { actionPrefix: "consent.import" })).entries
      const text = JSON.stringify(entries.map((e) => Option.getOrNull(Option.map(e.details, (d) => d.value))))
      // Whole addresses and their domain: "ada" alone is hex, which the entries' random ids may hold.
      for (const address of ["ada@", "blocked", "bob@", "bad-ip", "999.1.1.1", "example.com"]) {
        assert.isFalse(text.toLowerCase().includes(address), address)
      }
    }))

  it.effect("an import streams its rows: the first batches are recorded before the source is read to its end", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger.ConsentLedger
      const tenant = yield* tenantWithLists
      const seenAtRow = yield* Ref.make(-1)
      const rows = 3_000
      const contacts = Stream.range(0, rows - 1).pipe(
        Stream.tap((i) =>
          i === rows - 1
            ? Effect.flatMap(ledger.events(tenant, { limit: 10_000 }), (events) => Ref.set(seenAtRow, events.length))
            : Effect.void
        ),
        Stream.map((i) => ({ email: `stream${i}@example.com` }))
      )
      const report = yield* ledger.importContacts(tenant, { attestation, lists: ["news"], actor: importActor, batchSize: 100, contacts })
      assert.strictEqual(report.recorded, rows)
      assert.isAbove(yield* Ref.get(seenAtRow), 0, "nothing was recorded before the last row was read")
    }))

  it.effect("an import never grants a list the contact withdrew from after the row's consent: refused as withdrawn, counted", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger.ConsentLedger
      const tenant = yield* tenantWithLists
      // Both withdrew from "news" in March 2025; "left-offers" withdrew from "offers" only.
      yield* at("2025-03-01T00:00:00.000Z")
      const left = yield* ledger.record(tenant, grant("left@example.com", ["news"]))
      yield* ledger.record(tenant, withdraw("left@example.com", ["news"]))
      const back = yield* ledger.record(tenant, grant("came-back@example.com", ["news"]))
      yield* ledger.record(tenant, withdraw("came-back@example.com", ["news"]))
      const nodate = yield* ledger.record(tenant, grant("no-date@example.com", ["news"]))
      yield* ledger.record(tenant, withdraw("no-date@example.com", ["news"]))
      const other = yield* ledger.record(tenant, grant("left-offers@example.com", ["offers"]))
      yield* ledger.record(tenant, withdraw("left-offers@example.com", ["offers"]))
      yield* at("2026-02-01T00:00:00.000Z")
      const report = yield* ledger.importContacts(tenant, {
        attestation,
        lists: ["news"],
        actor: importActor,
        contacts: [
          // Consent collected before the withdrawal: the withdrawal stands.
          { email: "LEFT@example.com", consentedAt: new Date("2025-01-15T00:00:00.000Z") },
          // Consent collected again after the withdrawal: recorded.
          { email: "came-back@example.com", consentedAt: new Date("2025-06-01T00:00:00.000Z") },
          // No consent time: taken as collected in the period, which began before the withdrawal.
          { email: "no-date@example.com" },
          // Withdrew from another list only.
          { email: "left-offers@example.com", consentedAt: new Date("2025-01-15T00:00:00.000Z") }
        ]
      })
      assert.deepStrictEqual(
        { recorded: report.recorded, withdrawn: report.withdrawn, rejections: report.rejections },
        { recorded: 2, withdrawn: 2, rejections: [{ row: 1, reason: "withdrawn" }, { row: 3, reason: "withdrawn" }] }
      )
      assert.strictEqual(report.recorded + refusedCount(report), report.received)
      assert.deepStrictEqual(statusOf(yield* ledger.stateOf(tenant, left.event.subject)), { news: "withdrawn" })
      assert.deepStrictEqual(statusOf(yield* ledger.stateOf(tenant, nodate.event.subject)), { news: "withdrawn" })
      assert.deepStrictEqual(statusOf(yield* ledger.stateOf(tenant, back.event.subject)), { news: "granted" })
      assert.deepStrictEqual(statusOf(yield* ledger.stateOf(tenant, other.event.subject)), { news: "granted", offers: "withdrawn" })
      assert.strictEqual((yield* ledger.events(tenant, { subject: left.event.subject, limit: 10 })).length, 2)
    }))
})
