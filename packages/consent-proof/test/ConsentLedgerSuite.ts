import { assert } from "@effect/vitest"
import type { Vitest } from "@effect/vitest"
import * as AuditLog from "@lawful/audit-trail/AuditLog"
import * as PersonalDataRegistry from "@lawful/core/PersonalDataRegistry"
import * as RetentionTarget from "@lawful/core/RetentionTarget"
import * as SubjectDirectory from "@lawful/core/SubjectDirectory"
import * as SuppressionList from "@lawful/core/SuppressionList"
import * as TenantId from "@lawful/core/TenantId"
import * as Vault from "@lawful/core/Vault"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as ConsentEvent from "../src/ConsentEvent.js"
import * as ConsentExport from "../src/ConsentExport.js"
import { ConsentLedger } from "../src/ConsentLedger.js"
import type { RecordRequest } from "../src/ConsentLedger.js"
import * as ConsentLists from "../src/ConsentLists.js"
import * as ConsentProof from "../src/ConsentProof.js"
import * as ConsentReceipt from "../src/ConsentReceipt.js"
import * as ConsentState from "../src/ConsentState.js"
import * as ConsentStore from "../src/ConsentStore.js"
import { attestation, auditor, confirm, grant, lists, notice, tenantWithLists, withdraw } from "./fixtures.js"
import type { Services } from "./layers.js"

const statusOf = (states: ReadonlyArray<ConsentState.ListState>) =>
  Object.fromEntries(states.map((state) => [state.list, state.status]))

const collect = <A, E, R>(stream: Stream.Stream<A, E, R>) => Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)

/** Nothing about the tenant is stored: no event, no audit entry, no subject for the address. */
export const assertNothingRecorded = (tenant: TenantId.TenantId, email: string) =>
  Effect.gen(function*() {
    const ledger = yield* ConsentLedger
    assert.deepStrictEqual(yield* ledger.events(tenant, { limit: 10 }), [])
    assert.strictEqual(yield* (yield* AuditLog.AuditLog).size(tenant), 0)
    assert.isTrue(Option.isNone(yield* (yield* SubjectDirectory.SubjectDirectory).find(tenant, email)))
  })

export const suite = (it: Vitest.MethodsNonLive<Services>) => {
  it.effect("a grant from a form records every field, its audit entry and the state", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const log = yield* AuditLog.AuditLog
      const tenant = yield* tenantWithLists
      yield* TestClock.adjust(1_700_000_000_123)
      const recorded = yield* ledger.record(tenant, grant("Ada@Example.com ", ["news", "offers"]))
      const event = recorded.event
      assert.strictEqual(event.kind, "granted")
      assert.strictEqual(event.time.toISOString(), "2023-11-14T22:13:20.123Z")
      assert.deepStrictEqual<ReadonlyArray<string>>(event.lists, ["news", "offers"])
      assert.deepStrictEqual<ReadonlyArray<string>>(event.awaitingConfirmation, ["offers"])
      assert.deepStrictEqual(event.source, { type: "form", formId: "signup", formVersion: 3 })
      assert.deepStrictEqual(event.notice, notice)
      assert.strictEqual(event.lawfulBasis, "consent")
      assert.strictEqual(event.language, "en")
      const subject = yield* (yield* SubjectDirectory.SubjectDirectory).find(tenant, "ada@example.com")
      assert.deepStrictEqual(Option.getOrThrow(subject), event.subject)

      // The IP address and user agent are sealed, and open to the values given.
      assert.isDefined(recorded.ipSealed)
      const disclosed = yield* ledger.disclose(recorded, { actor: auditor })
      assert.strictEqual(disclosed.ip?.value, "203.0.113.7")
      assert.strictEqual(disclosed.userAgent?.value, "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0")
      assert.strictEqual(ConsentEvent.commitment("ip", disclosed.ip!.salt, "203.0.113.7"), event.ip)
      assert.isFalse(new TextDecoder().decode(recorded.bytes).includes("203.0.113.7"))

      // The audit entry commits to the event hash.
      const entry = yield* log.entry(tenant, recorded.auditIndex)
      assert.strictEqual(entry.action, "consent.granted")
      assert.deepStrictEqual(entry.resource, { type: "consent-event", id: event.id })
      assert.deepStrictEqual(Option.getOrThrow(entry.details).value, { eventSha256: recorded.hash })
      assert.deepStrictEqual(Option.getOrThrow(entry.subject).id, event.subject)

      // Stored as recorded.
      const stored = yield* ledger.event(tenant, event.id)
      assert.deepStrictEqual(stored.bytes, recorded.bytes)
      assert.strictEqual(stored.auditIndex, recorded.auditIndex)
      assert.isTrue(Option.isSome(ConsentEvent.fromCanonicalBytes(stored.bytes)))
      assert.deepStrictEqual(statusOf(yield* ledger.stateOf(tenant, event.subject)), { news: "granted", offers: "pending" })
      assert.isTrue(yield* ledger.mayReceiveMarketing(tenant, event.subject, "news"))
      assert.isFalse(yield* ledger.mayReceiveMarketing(tenant, event.subject, "offers"))
    }))

  it.effect("double opt-in: pending until confirmed, the confirmation names its grant, a second one is refused", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      const granted = yield* ledger.record(tenant, grant("bob@example.com", ["offers", "events.local"]))
      const subject = granted.event.subject
      assert.deepStrictEqual(yield* collect(ledger.recipients(tenant, "offers")), [])
      yield* TestClock.adjust(60_000)
      const confirmed = yield* ledger.record(tenant, confirm("bob@example.com", ["offers"]))
      assert.deepStrictEqual(confirmed.event.confirms, [granted.event.id])
      assert.strictEqual(confirmed.event.time.getTime() - granted.event.time.getTime(), 60_000)
      assert.strictEqual((yield* ledger.disclose(confirmed, { actor: auditor })).ip?.value, "2001:db8::7")
      assert.deepStrictEqual(statusOf(yield* ledger.stateOf(tenant, subject)), { "events.local": "pending", offers: "granted" })
      assert.deepStrictEqual(yield* collect(ledger.recipients(tenant, "offers")), [subject])

      const again = yield* Effect.either(ledger.record(tenant, confirm("bob@example.com", ["offers"])))
      assert.isTrue(Either.isLeft(again) && again.left._tag === "ConsentNotPending")
      const unknown = yield* Effect.either(ledger.record(tenant, confirm("nobody@example.com", ["offers"])))
      assert.isTrue(Either.isLeft(unknown) && unknown.left._tag === "ConsentNotPending")
      assert.isTrue(Option.isNone(yield* (yield* SubjectDirectory.SubjectDirectory).find(tenant, "nobody@example.com")))
      assert.strictEqual((yield* ledger.events(tenant, { limit: 10 })).length, 2)

      // A new double opt-in grant never takes back a granted list.
      yield* ledger.record(tenant, grant("bob@example.com", ["offers"]))
      assert.strictEqual(statusOf(yield* ledger.stateOf(tenant, subject)).offers, "granted")
      yield* ledger.record(tenant, withdraw("bob@example.com", ["offers", "events.local"]))
      assert.deepStrictEqual(statusOf(yield* ledger.stateOf(tenant, subject)), { "events.local": "withdrawn", offers: "withdrawn" })
      assert.deepStrictEqual(yield* collect(ledger.recipients(tenant, "offers")), [])
    }))

  it.effect("nothing is recorded on invalid input (unknown list, missing source, malformed IP, missing notice, unstorable text)", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      const email = "carol.private@example.com"
      const { source: _, ...withoutSource } = grant(email, ["news"])
      const cases: ReadonlyArray<readonly [string, RecordRequest]> = [
        ["UnknownList", grant(email, ["news", "not-declared"])],
        ["UnknownList", grant(email, ["NOT A LIST"])],
        ["ConsentRequestInvalid", withoutSource as RecordRequest],
        ["IpAddressInvalid", grant(email, ["news"], { ip: "203.0.113.256" })],
        ["IpAddressInvalid", grant(email, ["news"], { ip: "not an ip" })],
        ["IpAddressInvalid", grant(email, ["news"], { ip: " 203.0.113.7" })],
        ["ConsentRequestInvalid", grant(email, ["news"], { notice: undefined })],
        ["ConsentRequestInvalid", grant(email, ["news"], { subject: "0190a5d0-0000-7000-8000-000000000000" })],
        ["ConsentRequestInvalid", { ...grant(email, ["news"]), source: { type: "import" } } as never],
        ["ConsentRequestInvalid", { ...grant(email, ["news"]), extra: 1 } as never],
        ["ConsentRequestInvalid", grant(email, [] as never)],
        ["InvalidEmail", grant("not an address", ["news"])],
        // Text PostgreSQL cannot store, refused here on every store alike.
        ["ConsentRequestInvalid", grant(email, ["news"], { actor: { kind: "api-key", id: "key\u00001" } })],
        ["ConsentRequestInvalid", grant(email, ["news"], { source: { type: "form", formId: "signup\ud800", formVersion: 1 } })]
      ]
      for (const [tag, request] of cases) {
        const result = yield* Effect.either(ledger.record(tenant, request))
        assert.isTrue(Either.isLeft(result), tag)
        if (Either.isLeft(result)) {
          assert.strictEqual(result.left._tag, tag)
          // Errors never carry the address or the IP.
          assert.notInclude(result.left.message, "carol")
          assert.notInclude(JSON.stringify(result.left), "carol")
          assert.notInclude(JSON.stringify(result.left), "203.0.113")
        }
      }
      yield* assertNothingRecorded(tenant, email)
    }))

  it.effect("recipients stream in pages, in subject-id order, granted and confirmed only", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      const report = yield* ledger.importContacts(tenant, {
        attestation,
        lists: ["news"],
        actor: { kind: "api-key", id: "key-1" },
        contacts: Stream.range(0, 2099).pipe(Stream.map((i) => ({ email: `reader${i}@example.com` })))
      })
      assert.strictEqual(report.recorded, 2100)
      const withdrawn = yield* ledger.record(tenant, withdraw("reader7@example.com", ["news"]))
      const recipients = yield* collect(ledger.recipients(tenant, "news"))
      assert.strictEqual(recipients.length, 2099)
      assert.deepStrictEqual(recipients, [...recipients].sort())
      assert.notInclude(recipients, withdrawn.event.subject)
      const unknown = yield* Effect.either(Stream.runDrain(ledger.recipients(tenant, "nope")))
      assert.isTrue(Either.isLeft(unknown) && unknown.left._tag === "UnknownList")
    }), { timeout: 120_000 })

  it.effect("an import marks its consents as imported, refuses suppressed and invalid rows with counts", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const store = yield* ConsentStore.ConsentStore
      const suppression = yield* SuppressionList.SuppressionList
      const tenant = yield* tenantWithLists
      yield* suppression.add(tenant, "Gone@Example.com", "unsubscribe")
      yield* suppression.add(tenant, "erased@example.com", "erasure")
      const report = yield* ledger.importContacts(tenant, {
        attestation,
        lists: ["offers", "news"],
        language: "fr",
        actor: { kind: "api-key", id: "key-1" },
        batchSize: 3,
        contacts: [
          { email: "one@example.com", consentedAt: new Date("2025-03-01T10:00:00.000Z"), ip: "198.51.100.1" },
          { email: "gone@example.com" },
          { email: "not-an-address" },
          { email: "two@example.com", ip: "999.1.1.1" },
          { email: "three@example.com", userAgent: "Legacy CRM" },
          { email: "THREE@example.com" },
          { email: "erased@example.com" },
          { email: "four@example.com" }
        ]
      })
      assert.deepStrictEqual(
        { ...report, importId: "" },
        {
          importId: "",
          received: 8,
          recorded: 3,
          alreadyRecorded: 0,
          suppressed: 2,
          invalidEmail: 1,
          invalidIp: 1,
          invalidConsentedAt: 0,
          invalidUserAgent: 0,
          outsideAttestedPeriod: 0,
          duplicates: 1,
          withdrawn: 0,
          rejections: [
            { row: 2, reason: "suppressed" },
            { row: 3, reason: "invalid-email" },
            { row: 4, reason: "invalid-ip" },
            { row: 6, reason: "duplicate" },
            { row: 7, reason: "suppressed" }
          ]
        }
      )
      assert.notInclude(JSON.stringify(report), "example.com")
      const events = yield* ledger.events(tenant, { limit: 10 })
      assert.strictEqual(events.length, 3)
      const stored = Option.getOrThrow(yield* store.importOf(tenant, report.importId))
      for (const { event } of events) {
        assert.deepStrictEqual(event.source, { type: "import", importId: report.importId, attestation: stored.attestationHash })
        assert.deepStrictEqual<ReadonlyArray<string>>(event.lists, ["news", "offers"])
        assert.deepStrictEqual<ReadonlyArray<string>>(event.awaitingConfirmation, [])
        assert.strictEqual(event.language, "fr")
        assert.deepStrictEqual(statusOf(yield* ledger.stateOf(tenant, event.subject)), { news: "granted", offers: "granted" })
      }
      const first = events.find((e) => e.event.collectedAt !== undefined)!
      assert.strictEqual(first.event.collectedAt!.toISOString(), "2025-03-01T10:00:00.000Z")
      assert.strictEqual((yield* ledger.disclose(first, { actor: auditor })).ip?.value, "198.51.100.1")
      assert.deepStrictEqual(stored.attestation, attestation)
      assert.deepStrictEqual(Option.getOrThrow(stored.report), JSON.parse(JSON.stringify(report)))

      const log = yield* AuditLog.AuditLog
      const page = yield* log.query(tenant, { actionPrefix: "consent.import" })
      assert.deepStrictEqual(page.entries.map((e) => e.action), ["consent.import.started", "consent.import.completed"])
    }))

  it.effect("an import refuses rows with an unusable consent time, user agent or address, and every consent it records proves", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      const report = yield* ledger.importContacts(tenant, {
        attestation,
        lists: ["news"],
        actor: { kind: "api-key", id: "key-1" },
        contacts: [
          { email: "invalid-date@example.com", consentedAt: new Date("not a date") },
          { email: "far-future@example.com", consentedAt: new Date("+010000-01-01T00:00:00.000Z") },
          { email: "before-year-zero@example.com", consentedAt: new Date("-000001-01-01T00:00:00.000Z") },
          { email: "string-date@example.com", consentedAt: "2025-03-01" as never },
          { email: "long-agent@example.com", userAgent: "x".repeat(2001) },
          { email: "numeric-agent@example.com", userAgent: 42 as never },
          { email: undefined as never },
          { email: "kept@example.com", consentedAt: new Date("2025-03-01T10:00:00.000Z"), userAgent: "y".repeat(2000) }
        ]
      })
      assert.strictEqual(report.received, 8)
      assert.strictEqual(report.recorded, 1)
      assert.strictEqual(report.invalidConsentedAt, 4)
      assert.strictEqual(report.invalidUserAgent, 2)
      assert.strictEqual(report.invalidEmail, 1)
      assert.deepStrictEqual(report.rejections, [
        { row: 1, reason: "invalid-consented-at" },
        { row: 2, reason: "invalid-consented-at" },
        { row: 3, reason: "invalid-consented-at" },
        { row: 4, reason: "invalid-consented-at" },
        { row: 5, reason: "invalid-user-agent" },
        { row: 6, reason: "invalid-user-agent" },
        { row: 7, reason: "invalid-email" }
      ])
      for (const email of ["invalid-date", "far-future", "before-year-zero", "long-agent"]) {
        assert.isTrue(Option.isNone(yield* (yield* SubjectDirectory.SubjectDirectory).find(tenant, `${email}@example.com`)))
      }
      const events = yield* ledger.events(tenant, { limit: 10 })
      assert.strictEqual(events.length, 1)
      for (const { event } of events) {
        const proof = yield* ledger.proof(tenant, event.id, { disclose: true, actor: auditor })
        const verified = yield* ConsentProof.verify(proof, ledger.verifierKey)
        assert.strictEqual(verified.event.collectedAt?.toISOString(), "2025-03-01T10:00:00.000Z")
      }
    }))

  it.effect("an import with an undeclared list or an invalid attestation records nothing", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      const contacts = [{ email: "dora@example.com" }]
      const unknown = yield* Effect.either(
        ledger.importContacts(tenant, { attestation, lists: ["news", "nope"], actor: { kind: "system", id: "import" }, contacts })
      )
      assert.isTrue(Either.isLeft(unknown) && unknown.left._tag === "UnknownList")
      const { attestedBy: _, ...unattested } = attestation
      const invalid = yield* Effect.either(
        ledger.importContacts(tenant, {
          attestation: unattested as never,
          lists: ["news"],
          actor: { kind: "system", id: "import" },
          contacts
        })
      )
      assert.isTrue(Either.isLeft(invalid) && invalid.left._tag === "ConsentRequestInvalid")
      const unstorable = yield* Effect.either(
        ledger.importContacts(tenant, {
          attestation: { ...attestation, attestedBy: { ...attestation.attestedBy, name: "Dora\u0000" } },
          lists: ["news"],
          actor: { kind: "system", id: "import" },
          contacts
        })
      )
      assert.isTrue(Either.isLeft(unstorable) && unstorable.left._tag === "ConsentRequestInvalid")
      yield* assertNothingRecorded(tenant, "dora@example.com")
    }))

  it.effect("an import whose attested period is reversed or not a valid date records nothing", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const store = yield* ConsentStore.ConsentStore
      const tenant = yield* tenantWithLists
      const contacts = [{ email: "period@example.com", consentedAt: new Date("2025-03-01T10:00:00.000Z") }]
      const periods: ReadonlyArray<readonly [string, string]> = [
        ["2026-06-30T00:00:00.000Z", "2024-01-01T00:00:00.000Z"],
        ["2025-01-01T00:00:00.001Z", "2025-01-01T00:00:00.000Z"],
        ["not a date", "2026-06-30T00:00:00.000Z"],
        ["2024-01-01T00:00:00.000Z", "2026-02-30T99:00:00.000Z"],
        ["-000001-01-01T00:00:00.000Z", "2026-06-30T00:00:00.000Z"],
        ["2024-01-01T00:00:00.000Z", "+010000-01-01T00:00:00.000Z"]
      ]
      for (const [collectedFrom, collectedTo] of periods) {
        const result = yield* Effect.either(ledger.importContacts(tenant, {
          attestation: { ...attestation, collectedFrom, collectedTo },
          lists: ["news"],
          actor: { kind: "api-key", id: "key-1" },
          contacts
        }))
        assert.isTrue(Either.isLeft(result), `${collectedFrom} to ${collectedTo}`)
        if (Either.isLeft(result)) {
          assert.strictEqual(result.left._tag, "ConsentRequestInvalid")
          if (result.left._tag === "ConsentRequestInvalid") {
            assert.isTrue(result.left.issues.some((issue) => issue.startsWith("attestation.")), result.left.message)
          }
        }
      }
      yield* assertNothingRecorded(tenant, "period@example.com")
      assert.deepStrictEqual(yield* store.tenants.pipe(Effect.map((all) => all.includes(tenant))), false)
      // A period of one instant is a period.
      const instant = yield* ledger.importContacts(tenant, {
        attestation: { ...attestation, collectedFrom: "2025-03-01T10:00:00.000Z", collectedTo: "2025-03-01T10:00:00.000Z" },
        lists: ["news"],
        actor: { kind: "api-key", id: "key-1" },
        contacts
      })
      assert.strictEqual(instant.recorded, 1)
    }))

  it.effect("an import refuses a row whose consent time lies outside the attested period", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      const report = yield* ledger.importContacts(tenant, {
        attestation: { ...attestation, collectedFrom: "2024-01-01T00:00:00.000Z", collectedTo: "2024-12-31T23:59:59.999Z" },
        lists: ["news"],
        actor: { kind: "api-key", id: "key-1" },
        contacts: [
          { email: "before@example.com", consentedAt: new Date("2023-12-31T23:59:59.999Z") },
          { email: "first@example.com", consentedAt: new Date("2024-01-01T00:00:00.000Z") },
          { email: "last@example.com", consentedAt: new Date("2024-12-31T23:59:59.999Z") },
          { email: "after@example.com", consentedAt: new Date("2025-01-01T00:00:00.000Z") },
          { email: "undated@example.com" }
        ]
      })
      assert.deepStrictEqual({ ...report, importId: "" }, {
        importId: "",
        received: 5,
        recorded: 3,
        alreadyRecorded: 0,
        suppressed: 0,
        invalidEmail: 0,
        invalidIp: 0,
        invalidConsentedAt: 0,
        invalidUserAgent: 0,
        outsideAttestedPeriod: 2,
        duplicates: 0,
        withdrawn: 0,
        rejections: [{ row: 1, reason: "outside-attested-period" }, { row: 4, reason: "outside-attested-period" }]
      })
      for (const email of ["before", "after"]) {
        assert.isTrue(Option.isNone(yield* (yield* SubjectDirectory.SubjectDirectory).find(tenant, `${email}@example.com`)))
      }
      const completed = (yield* (yield* AuditLog.AuditLog).query(tenant, { actionPrefix: "consent.import.completed" })).entries
      assert.strictEqual(Option.getOrThrow(completed[0]!.details).value.outsideAttestedPeriod, 2)
    }))

  it.effect("CSV and JSON exports: documented columns, RFC 4180 quoting, ISO/IEC TS 27560 names, per subject", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      const awkward = "Agent \"quoted\", with comma\r\nand a line break"
      const a = yield* ledger.record(tenant, grant("erin@example.com", ["news"], { userAgent: awkward }))
      const b = yield* ledger.record(tenant, grant("finn@example.com", ["offers"]))
      yield* ledger.record(tenant, withdraw("erin@example.com", ["news"]))

      const csv = (yield* collect(ConsentExport.csv(tenant, { actor: auditor }))).join("")
      const lines = csv.split("\r\n")
      assert.strictEqual(lines[0], ConsentExport.csvColumns.join(","))
      assert.include(csv, `"Agent ""quoted"", with comma\r\nand a line break"`)
      assert.include(csv, `${a.event.id},${tenant},${a.event.subject},consent_given,${a.event.time.toISOString()},news,,consent,form,signup,3,`)
      assert.include(csv, `,203.0.113.7,`)
      assert.include(csv, `,${a.auditIndex},${a.hash}\r\n`)
      assert.isTrue(csv.endsWith("\r\n"))
      assert.include(csv, `,consent_withdrawn,`)
      const hidden = (yield* collect(ConsentExport.csv(tenant, { disclose: false }))).join("")
      assert.notInclude(hidden, "203.0.113.7")

      const records = JSON.parse((yield* collect(ConsentExport.json(tenant, { actor: auditor }))).join(""))
      assert.strictEqual(records.length, 3)
      const first = records[0]
      assert.strictEqual(first.record_id, a.event.id)
      assert.strictEqual(first.pii_principal_id, a.event.subject)
      assert.deepStrictEqual(first.pii_controllers, [{ pii_controller_id: tenant }])
      assert.deepStrictEqual(first.purposes, [{
        purpose_id: "news",
        purpose_name: "News",
        purpose: "Weekly news",
        lawful_basis: "consent",
        awaiting_confirmation: false
      }])
      assert.deepStrictEqual(first.event, [{ event_time: a.event.time.toISOString(), event_type: "consent_given", event_state: "given" }])
      assert.strictEqual(first.evidence.user_agent, awkward)
      assert.strictEqual(first.evidence.event_sha256, a.hash)
      assert.strictEqual(records[1].event[0].event_state, "pending")

      const ofB = JSON.parse((yield* collect(ConsentExport.json(tenant, { subject: b.event.subject, actor: auditor }))).join(""))
      assert.deepStrictEqual(ofB.map((r: { record_id: string }) => r.record_id), [b.event.id])
      const empty = JSON.parse((yield* collect(ConsentExport.json(yield* TenantId.make, { actor: auditor }))).join(""))
      assert.deepStrictEqual(empty, [])
      const paged = (yield* collect(ConsentExport.csv(tenant, { pageSize: 1, actor: auditor }))).join("")
      assert.strictEqual(paged, csv)
    }))

  it.effect("state at a past time is the replay of the events recorded until then", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      const start = (yield* Clock.currentTimeMillis) + 1000
      yield* TestClock.adjust(1000)
      const g = yield* ledger.record(tenant, grant("gus@example.com", ["news", "offers"]))
      yield* TestClock.adjust(1000)
      yield* ledger.record(tenant, confirm("gus@example.com", ["offers"]))
      yield* TestClock.adjust(1000)
      yield* ledger.record(tenant, withdraw("gus@example.com", ["news"]))
      const at = (millis: number) =>
        Effect.map(ledger.stateAt(tenant, g.event.subject, new Date(start + millis)), statusOf)
      assert.deepStrictEqual(yield* at(-1), {})
      assert.deepStrictEqual(yield* at(0), { news: "granted", offers: "pending" })
      assert.deepStrictEqual(yield* at(1500), { news: "granted", offers: "granted" })
      assert.deepStrictEqual(yield* at(2000), { news: "withdrawn", offers: "granted" })
      assert.deepStrictEqual(yield* at(2000), statusOf(yield* ledger.stateOf(tenant, g.event.subject)))
    }))

  it.effect("a consent receipt is a Kantara v1.1 document tied to the event's proof", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      const recorded = yield* ledger.record(tenant, grant("hana@example.com", ["news", "offers"]))
      const receipt = ConsentReceipt.make(recorded, {
        controller: { name: "Brand SAS", contact: "DPO", address: "1 rue de la Paix, Paris", email: "dpo@brand.example" },
        policyUrl: "https://brand.example/privacy",
        jurisdiction: "FR",
        service: "Brand newsletters",
        lists,
        principal: "hana@example.com"
      }) as Record<string, any>
      assert.strictEqual(receipt.version, "KI-CR-v1.1.0")
      assert.strictEqual(receipt.consentReceiptID, recorded.event.id)
      assert.strictEqual(receipt.consentTimestamp, Math.floor(recorded.event.time.getTime() / 1000))
      assert.strictEqual(receipt.collectionMethod, "Web form signup, version 3")
      assert.strictEqual(receipt.piiPrincipalId, "hana@example.com")
      assert.deepStrictEqual(receipt.services[0].purposes.map((p: { purpose: string }) => p.purpose), ["Weekly news", "Offers"])
      assert.deepStrictEqual(receipt.proof, { eventSha256: recorded.hash, auditIndex: recorded.auditIndex })
      assert.strictEqual(receipt.event[0].event_type, "consent_given")
    }))

  it.effect("as a personal-data source: export decrypts, erase removes only the subject, shredded exports nothing", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const registry = yield* PersonalDataRegistry.PersonalDataRegistry
      const source = (yield* registry.sources).find((s) => s.name === "consent-proof")!
      assert.deepStrictEqual(source.retentionCategories, ["consent.withdrawn-proof"])
      const tenant = yield* tenantWithLists
      const ivy = yield* ledger.record(tenant, grant("ivy@example.com", ["news"]))
      yield* ledger.record(tenant, withdraw("ivy@example.com", ["news"]))
      const jon = yield* ledger.record(tenant, grant("jon@example.com", ["news"]))
      const exported = yield* source.export(tenant, ivy.event.subject)
      assert.strictEqual(exported.records.length, 2)
      assert.strictEqual(exported.records[0]!.category, "consent.event")
      assert.strictEqual(exported.records[0]!.fields.ip, "203.0.113.7")
      assert.strictEqual(exported.records[0]!.fields.id, ivy.event.id)
      assert.strictEqual(exported.records[1]!.fields.kind, "withdrawn")

      assert.deepStrictEqual(yield* source.erase(tenant, ivy.event.subject), { erased: 2 })
      assert.deepStrictEqual(yield* source.erase(tenant, ivy.event.subject), { erased: 0 })
      assert.deepStrictEqual((yield* source.export(tenant, ivy.event.subject)).records, [])
      assert.deepStrictEqual(yield* ledger.stateOf(tenant, ivy.event.subject), [])
      assert.strictEqual((yield* source.export(tenant, jon.event.subject)).records.length, 1)
      assert.deepStrictEqual(statusOf(yield* ledger.stateOf(tenant, jon.event.subject)), { news: "granted" })
      assert.deepStrictEqual(yield* source.rectify(tenant, jon.event.subject, { email: "x@example.com" }), { rectified: 0 })

      yield* (yield* Vault.Vault).shred(tenant, jon.event.subject)
      assert.deepStrictEqual((yield* source.export(tenant, jon.event.subject)).records, [])
      // The tenant export still lists the event, without the unreadable fields.
      const csv = (yield* collect(ConsentExport.csv(tenant, { actor: auditor }))).join("")
      assert.include(csv, jon.event.id)
      assert.notInclude(csv, "203.0.113.7")
    }))

  it.effect("withdrawn-consent proofs: purged after their period, never early, never a held or consenting subject", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const targets = yield* RetentionTarget.RetentionTargets
      const target = Option.getOrThrow(yield* targets.get("consent.withdrawn-proof"))
      const tenant = yield* tenantWithLists
      yield* TestClock.adjust(10_000)
      const start = yield* Clock.currentTimeMillis
      const a = yield* ledger.record(tenant, grant("kim@example.com", ["news"]))
      const b = yield* ledger.record(tenant, grant("lea@example.com", ["news", "offers"]))
      const c = yield* ledger.record(tenant, grant("max@example.com", ["news"]))
      const d = yield* ledger.record(tenant, grant("ned@example.com", ["news"]))
      yield* TestClock.adjust(1000)
      yield* ledger.record(tenant, withdraw("kim@example.com", ["news"])) // t = 11000
      yield* ledger.record(tenant, withdraw("lea@example.com", ["news"])) // offers still pending
      yield* ledger.record(tenant, withdraw("ned@example.com", ["news"]))
      yield* TestClock.adjust(1000)
      yield* ledger.record(tenant, withdraw("max@example.com", ["news"])) // t = 12000
      const none = new Set<never>()
      const cutoff = (millis: number) => new Date(start - 10_000 + millis)
      assert.strictEqual(yield* target.count(tenant, { cutoff: cutoff(11_000), excludeSubjects: none }), 0)
      assert.strictEqual(yield* target.count(tenant, { cutoff: cutoff(11_001), excludeSubjects: none }), 2)
      assert.deepStrictEqual(Option.getOrThrow(yield* target.oldest(tenant, { excludeSubjects: none })), cutoff(11_000))
      const held = new Set([d.event.subject])
      assert.strictEqual(yield* target.count(tenant, { cutoff: cutoff(11_001), excludeSubjects: held }), 1)
      assert.deepStrictEqual(
        yield* target.purgeBatch(tenant, { cutoff: cutoff(12_001), limit: 1, excludeSubjects: held }),
        { purged: 1, more: true }
      )
      assert.deepStrictEqual(yield* ledger.events(tenant, { subject: a.event.subject, limit: 10 }), [])
      assert.deepStrictEqual(
        yield* target.purgeBatch(tenant, { cutoff: cutoff(12_001), limit: 10, excludeSubjects: held }),
        { purged: 1, more: false }
      )
      assert.deepStrictEqual(yield* ledger.events(tenant, { subject: c.event.subject, limit: 10 }), [])
      // Held, and partly consenting (offers pending), subjects keep their proofs.
      assert.strictEqual((yield* ledger.events(tenant, { subject: d.event.subject, limit: 10 })).length, 2)
      assert.strictEqual((yield* ledger.events(tenant, { subject: b.event.subject, limit: 10 })).length, 2)
      assert.strictEqual(yield* target.count(tenant, { cutoff: cutoff(12_001), excludeSubjects: held }), 0)
      assert.include(yield* target.tenants, tenant)
    }))

  it.effect("the tenants with withdrawn-consent proofs are those that recorded events, whatever was erased or purged", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const targets = yield* RetentionTarget.RetentionTargets
      const target = Option.getOrThrow(yield* targets.get("consent.withdrawn-proof"))
      const quiet = yield* TenantId.make
      const subject = (yield* ledger.record(yield* tenantWithLists, grant("quiet@example.com", ["news"]))).event.subject
      assert.strictEqual(yield* ledger.erase(quiet, subject), 0)
      assert.deepStrictEqual(
        yield* target.purgeBatch(quiet, { cutoff: new Date(8.64e15), limit: 10, excludeSubjects: new Set() }),
        { purged: 0, more: false }
      )
      assert.notInclude(yield* target.tenants, quiet)
    }))

  it.effect("a list id no list can have is unknown on every store, before any store is asked", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const declared = yield* ConsentLists.ConsentLists
      const tenant = yield* tenantWithLists
      const email = "nul.list@example.com"
      for (const id of ["news\u0000", "news\ud800", "News", "x".repeat(65)]) {
        const required = yield* Effect.either(declared.require(tenant, ["news", id]))
        assert.isTrue(Either.isLeft(required) && required.left._tag === "UnknownList", id)
        // Counted, not carried: an id no list can have is caller input of any kind.
        if (Either.isLeft(required) && required.left._tag === "UnknownList") {
          assert.deepStrictEqual([required.left.lists, required.left.malformed], [[], 1])
        }
        const recorded = yield* Effect.either(ledger.record(tenant, grant(email, [id])))
        assert.isTrue(Either.isLeft(recorded) && recorded.left._tag === "UnknownList", id)
        const recipients = yield* Effect.either(Stream.runDrain(ledger.recipients(tenant, id)))
        assert.isTrue(Either.isLeft(recipients) && recipients.left._tag === "UnknownList", id)
      }
      yield* assertNothingRecorded(tenant, email)
    }))

  it.effect("declared lists are per tenant", () =>
    Effect.gen(function*() {
      const declared = yield* ConsentLists.ConsentLists
      const tenant = yield* tenantWithLists
      const other = yield* TenantId.make
      assert.deepStrictEqual((yield* declared.all(tenant)).map((l) => l.id), ["events.local", "news", "offers"])
      assert.deepStrictEqual(yield* declared.all(other), [])
      // In the order of the ids' characters, whatever the database's collation (an ICU or
      // en_US one puts "a_b" before "a-b" and "a.b").
      const sorted = yield* TenantId.make
      const ids = ["a_b", "ab", "a.b", "a0", "a-b", "a"]
      yield* Effect.forEach(ids, (id) =>
        declared.declare(sorted, new ConsentLists.ConsentList({ ...lists[0]!, id: ConsentLists.ListId.make(id) })), { discard: true })
      assert.deepStrictEqual((yield* declared.all(sorted)).map((l) => l.id), ["a", "a-b", "a.b", "a0", "a_b", "ab"])
      const refused = yield* Effect.either((yield* ConsentLedger).record(other, grant("olga@example.com", ["news"])))
      assert.isTrue(Either.isLeft(refused) && refused.left._tag === "UnknownList")
      yield* declared.declare(tenant, new ConsentLists.ConsentList({ ...lists[0]!, name: "Weekly news" }))
      assert.strictEqual((yield* declared.require(tenant, ["news"]))[0]!.name, "Weekly news")
      // A name or purpose PostgreSQL cannot store is refused when the list is made.
      assert.throws(() => new ConsentLists.ConsentList({ ...lists[0]!, name: "Weekly\u0000news" }))
      assert.throws(() => new ConsentLists.ConsentList({ ...lists[0]!, purpose: "News \udc00" }))
    }))
}
