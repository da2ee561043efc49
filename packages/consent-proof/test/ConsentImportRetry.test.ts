// Imports with an idempotency key: a retry never records twice. On memory, PGlite and PostgreSQL.
import { assert } from "@effect/vitest"
import * as AuditLog from "@lawful/audit-trail/AuditLog"
import { contractSuite } from "@lawful/core/testing"
import type { SubjectId } from "@lawful/core/SubjectId"
import * as TenantId from "@lawful/core/TenantId"
import { makeAt as uuidV7At } from "@lawful/core/Uuid"
import type * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as ConsentEvent from "../src/ConsentEvent.js"
import * as ConsentImport from "../src/ConsentImport.js"
import { ConsentLedger } from "../src/ConsentLedger.js"
import { ListId } from "../src/ConsentLists.js"
import * as ConsentStore from "../src/ConsentStore.js"
import {
  attestation,
  contactsOf,
  grant,
  importActor as actor,
  importClaim,
  importedEvents,
  importRecord,
  keyedImport,
  tenantWithLists
} from "./fixtures.js"
import { memory, sql } from "./layers.js"

const request = keyedImport


const importActions = (tenant: TenantId.TenantId) =>
  Effect.map(
    Effect.flatMap(AuditLog.AuditLog, (log) => log.query(tenant, { actionPrefix: "consent.import" })),
    (page) => page.entries.map((entry) => entry.action)
  )

const importIdOf = (stored: ConsentStore.StoredEvent) =>
  stored.event.source.type === "import" ? stored.event.source.importId : undefined

/** Waits for `signal`; dies if the import ends first (so a test fails rather than hangs). */
const awaitOrEnded = <A, E>(signal: Deferred.Deferred<void>, running: Fiber.Fiber<A, E>) =>
  Effect.raceFirst(
    Deferred.await(signal),
    Effect.flatMap(Fiber.await(running), (exit) => Effect.dieMessage(`the import ended before reading its source: ${exit._tag}`))
  )

const tagOrValue = (error: unknown) => (typeof error === "object" && error !== null && "_tag" in error ? error._tag : error)

/** Waits until the tenant has `n` events (the first batches of an import are stored). */
const eventsStored = (ledger: Context.Tag.Service<typeof ConsentLedger>, tenant: TenantId.TenantId, n: number) =>
  ledger.events(tenant, { limit: 1000 }).pipe(Effect.repeat({ until: (events) => events.length >= n }))

contractSuite("ConsentImport retries", { memory, sql }, (it) => {
  it.effect("a retry of a completed import with the same key returns its report and records nothing", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const log = yield* AuditLog.AuditLog
      const tenant = yield* tenantWithLists
      const key = "crm-export-2025-03-01 ada@example.com"
      const contacts = [...contactsOf(4), { email: "not-an-address" }, { email: "CONTACT0@example.com" }]
      const first = yield* ledger.importContacts(tenant, request(key, contacts))
      assert.deepStrictEqual({ ...first, importId: "" }, {
        importId: "",
        received: 6,
        recorded: 4,
        alreadyRecorded: 0,
        suppressed: 0,
        invalidEmail: 1,
        invalidIp: 0,
        invalidConsentedAt: 0,
        invalidUserAgent: 0,
        outsideAttestedPeriod: 0,
        duplicates: 1,
        withdrawn: 0,
        rejections: [{ row: 5, reason: "invalid-email" }, { row: 6, reason: "duplicate" }]
      })
      const auditSize = yield* log.size(tenant)

      // Another actor, another batch size, a list of the same lists: the same import.
      const again = yield* ledger.importContacts(
        tenant,
        request(key, contacts, { actor: { kind: "staff", id: "ops-1" }, batchSize: 2, lists: ["news", "news"] })
      )
      assert.deepStrictEqual(again, first)
      assert.strictEqual((yield* importedEvents(tenant)).length, 4)
      assert.strictEqual(yield* log.size(tenant), auditSize)
      assert.deepStrictEqual(yield* importActions(tenant), ["consent.import.started", "consent.import.completed"])

      // The key (caller-chosen, here with an address in it) is in no audit entry.
      const entries = (yield* log.query(tenant, { limit: 100 })).entries
      assert.notInclude(JSON.stringify(entries), "ada@example.com")
      assert.notInclude(JSON.stringify(entries), "crm-export")

      // Another key is another import.
      const other = yield* ledger.importContacts(tenant, request("crm-export-2025-04-01", contacts))
      assert.notStrictEqual(other.importId, first.importId)
      assert.strictEqual(other.recorded, 4)
      assert.strictEqual((yield* importedEvents(tenant)).length, 8)
    }))

  it.effect("a retry after a failure part-way continues the same import and records each contact once", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      const key = "nightly-sync-42"
      const contacts = contactsOf(10)
      // The source fails after six rows, once their three batches are stored.
      const failing = Stream.fromIterable(contacts.slice(0, 6)).pipe(
        Stream.concat(Stream.fromEffect(Effect.zipRight(eventsStored(ledger, tenant, 6), Effect.fail("source lost" as const))))
      )
      const failed = yield* Effect.flip(ledger.importContacts(tenant, request(key, failing, { batchSize: 2 })))
      assert.strictEqual(tagOrValue(failed), "source lost")
      const before = yield* importedEvents(tenant)
      assert.strictEqual(before.length, 6)
      const importId = importIdOf(before[0]!)
      assert.isDefined(importId)

      const report = yield* ledger.importContacts(tenant, request(key, contacts, { batchSize: 3 }))
      assert.strictEqual(report.importId, importId)
      assert.deepStrictEqual(
        { received: report.received, recorded: report.recorded, alreadyRecorded: report.alreadyRecorded, rejections: report.rejections },
        { received: 10, recorded: 4, alreadyRecorded: 6, rejections: [] }
      )
      const after = yield* importedEvents(tenant)
      assert.strictEqual(after.length, 10)
      assert.isTrue(after.every((stored) => importIdOf(stored) === importId))
      assert.strictEqual(new Set(after.map((stored) => stored.event.subject)).size, 10)
      assert.deepStrictEqual(after.slice(0, 6), before)
      assert.deepStrictEqual(yield* importActions(tenant), [
        "consent.import.started",
        "consent.import.resumed",
        "consent.import.completed"
      ])
      const completed = (yield* (yield* AuditLog.AuditLog).query(tenant, { actionPrefix: "consent.import.completed" })).entries
      assert.strictEqual(Option.getOrThrow(completed[0]!.details).value.alreadyRecorded, 6)

      // Once complete, a further retry gives the same report and records nothing.
      assert.deepStrictEqual(yield* ledger.importContacts(tenant, request(key, contacts)), report)
      assert.strictEqual((yield* importedEvents(tenant)).length, 10)
    }))

  it.effect("the same key with other options fails ImportKeyConflict and changes nothing", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const log = yield* AuditLog.AuditLog
      const tenant = yield* tenantWithLists
      const key = "import-of-ada@example.com"
      const first = yield* ledger.importContacts(tenant, request(key, contactsOf(3)))
      // An incomplete import keeps its options too.
      const failing = Stream.concat(Stream.fromIterable(contactsOf(1)), Stream.fail("source lost" as const))
      assert.strictEqual(tagOrValue(yield* Effect.flip(ledger.importContacts(tenant, request("second", failing)))), "source lost")
      const eventCount = (yield* importedEvents(tenant)).length
      const auditSize = yield* log.size(tenant)

      const variants: ReadonlyArray<Partial<ConsentImport.ImportRequest>> = [
        { lists: ["news", "offers"] },
        { attestation: { ...attestation, how: "Pre-ticked checkbox" } },
        { language: "fr" },
        { lawfulBasis: "legitimate-interests" }
      ]
      for (const variant of variants) {
        const error = yield* Effect.flip(ledger.importContacts(tenant, request(key, contactsOf(5), variant)))
        assert.strictEqual(error._tag, "ImportKeyConflict", JSON.stringify(variant))
        assert.strictEqual(error._tag === "ImportKeyConflict" ? error.importId : "", first.importId)
        assert.notInclude(`${error.message} ${JSON.stringify(error)}`, "ada@example.com")
      }
      const conflict = yield* Effect.flip(ledger.importContacts(tenant, request("second", contactsOf(1), { language: "de" })))
      assert.strictEqual(conflict._tag, "ImportKeyConflict")

      assert.strictEqual((yield* importedEvents(tenant)).length, eventCount)
      assert.strictEqual(yield* log.size(tenant), auditSize)
      assert.deepStrictEqual(yield* ledger.importContacts(tenant, request(key, contactsOf(3))), first)
    }))

  it.effect("an idempotency key is 1 to 200 characters of storable text, or nothing is recorded", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const log = yield* AuditLog.AuditLog
      const tenant = yield* tenantWithLists
      for (const key of ["", "k".repeat(201), "a\u0000b", "\ud800", 42 as unknown as string]) {
        const error = yield* Effect.flip(ledger.importContacts(tenant, request(key, contactsOf(2))))
        assert.deepStrictEqual(
          error._tag === "ConsentRequestInvalid" ? error.issues : error,
          ["idempotencyKey: invalid"],
          JSON.stringify(key)
        )
      }
      assert.deepStrictEqual(yield* importedEvents(tenant), [])
      assert.strictEqual(yield* log.size(tenant), 0)
      assert.strictEqual((yield* ledger.importContacts(tenant, request("k".repeat(200), contactsOf(2)))).recorded, 2)
    }))

  it.effect("a refused member inside a list is named by its index, as the audit log names it: lists[1]", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      const error = yield* Effect.flip(
        ledger.importContacts(tenant, request("key", contactsOf(2), { lists: ["news", 7 as unknown as string] }))
      )
      assert.deepStrictEqual(error._tag === "ConsentRequestInvalid" ? error.issues : error, ["lists[1]: invalid"])
      assert.deepStrictEqual(yield* importedEvents(tenant), [])
    }))

  it.effect("two calls with the same key at once: one records, the other fails ImportInProgress", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      const key = "upload-7"
      const contacts = contactsOf(5)
      const reading = yield* Deferred.make<void>()
      const rest = yield* Deferred.make<void>()
      // The first call's source stalls after its rows until the test lets it end.
      const stalled = Stream.concat(
        Stream.fromIterable(contacts),
        Stream.drain(Stream.fromEffect(Effect.zipRight(Deferred.succeed(reading, undefined), Deferred.await(rest))))
      )
      const running = yield* Effect.fork(ledger.importContacts(tenant, request(key, stalled)))
      yield* awaitOrEnded(reading, running)

      const busy = yield* Effect.flip(ledger.importContacts(tenant, request(key, contacts)))
      assert.strictEqual(busy._tag, "ImportInProgress")
      assert.deepStrictEqual(yield* importedEvents(tenant), [])

      yield* Deferred.succeed(rest, undefined)
      const report = yield* Fiber.join(running)
      assert.strictEqual(busy._tag === "ImportInProgress" ? busy.importId : "", report.importId)
      assert.strictEqual(report.recorded, 5)
      assert.deepStrictEqual(yield* ledger.importContacts(tenant, request(key, contacts)), report)
      assert.strictEqual((yield* importedEvents(tenant)).length, 5)
      assert.deepStrictEqual(yield* importActions(tenant), ["consent.import.started", "consent.import.completed"])
    }))

  it.effect("an interrupted import lets go of its key: a retry continues it", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      const reading = yield* Deferred.make<void>()
      const stalled = Stream.concat(
        Stream.fromIterable(contactsOf(3)),
        Stream.drain(Stream.fromEffect(Effect.zipRight(Deferred.succeed(reading, undefined), Effect.never)))
      )
      const running = yield* Effect.fork(ledger.importContacts(tenant, request("upload-8", stalled, { batchSize: 2 })))
      yield* awaitOrEnded(reading, running)
      yield* eventsStored(ledger, tenant, 2)
      assert.isTrue(Exit.isInterrupted(yield* Fiber.interrupt(running)))
      const [first] = yield* importedEvents(tenant)

      const report = yield* ledger.importContacts(tenant, request("upload-8", contactsOf(3)))
      assert.strictEqual(report.importId, importIdOf(first!))
      assert.deepStrictEqual([report.recorded, report.alreadyRecorded], [1, 2])
      assert.strictEqual((yield* importedEvents(tenant)).length, 3)
    }))

  it.effect("an import without a key is recorded again by a retry (not retry-safe)", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      const { idempotencyKey: _, ...unkeyed } = request("unused", contactsOf(2))
      const first = yield* ledger.importContacts(tenant, unkeyed)
      const second = yield* ledger.importContacts(tenant, unkeyed)
      assert.notStrictEqual(second.importId, first.importId)
      assert.strictEqual(second.recorded, 2)
      assert.strictEqual(second.alreadyRecorded, 0)
      assert.strictEqual((yield* importedEvents(tenant)).length, 4)
    }))

  it.effect("store: a claim on an import key is held until it lapses or is let go, and a lapsed claim is taken over", () =>
    Effect.gen(function*() {
      const store = yield* ConsentStore.ConsentStore
      const tenant = yield* TenantId.make
      const id1 = uuidV7At(1)
      const id2 = uuidV7At(2)
      const record = importRecord
      const [t1, t2, t3, t4] = [10, 11, 12, 13].map(uuidV7At)
      const claim = importClaim
      const tagOf = (outcome: ConsentStore.ClaimOutcome) =>
        outcome._tag === "Busy"
          ? { _tag: outcome._tag, importId: outcome.importId, until: outcome.until.getTime() }
          : outcome._tag === "Started"
          ? { _tag: outcome._tag }
          : outcome._tag === "Conflict"
          ? { _tag: outcome._tag, importId: outcome.importId }
          : { _tag: outcome._tag, importId: outcome.record.importId }

      assert.deepStrictEqual(tagOf(yield* store.claimImport(tenant, record(id1), claim(t1!, 1_000, 2_000))), { _tag: "Started" })
      assert.isTrue(Option.isSome(yield* store.importOf(tenant, id1)))
      assert.deepStrictEqual(
        tagOf(yield* store.claimImport(tenant, record(id2), claim(t2!, 1_500, 2_500))),
        { _tag: "Busy", importId: id1, until: 2_000 }
      )
      assert.deepStrictEqual(
        tagOf(yield* store.claimImport(tenant, record(id2), claim(t2!, 1_500, 2_500, "p".repeat(64)))),
        { _tag: "Conflict", importId: id1 }
      )
      assert.isTrue(Option.isNone(yield* store.importOf(tenant, id2)))

      // Renewed by its holder; taken over once lapsed, and then lost to its first holder.
      assert.isTrue(yield* store.renewImportClaim(tenant, id1, t1!, new Date(3_000)))
      assert.deepStrictEqual(
        tagOf(yield* store.claimImport(tenant, record(id2), claim(t2!, 2_500, 3_500))),
        { _tag: "Busy", importId: id1, until: 3_000 }
      )
      assert.deepStrictEqual(
        tagOf(yield* store.claimImport(tenant, record(id2), claim(t2!, 3_001, 4_000))),
        { _tag: "Resumed", importId: id1 }
      )
      assert.isFalse(yield* store.renewImportClaim(tenant, id1, t1!, new Date(5_000)))
      yield* store.releaseImportClaim(tenant, id1, t1!)
      assert.deepStrictEqual(
        tagOf(yield* store.claimImport(tenant, record(id2), claim(t3!, 3_100, 4_100))),
        { _tag: "Busy", importId: id1, until: 4_000 }
      )
      // Let go by its holder: free at once.
      yield* store.releaseImportClaim(tenant, id1, t2!)
      assert.deepStrictEqual(
        tagOf(yield* store.claimImport(tenant, record(id2), claim(t3!, 3_100, 4_100))),
        { _tag: "Resumed", importId: id1 }
      )

      // Complete: the report, whoever asks, and no claim left to renew.
      yield* store.completeImport(tenant, id1, { importId: id1 }, undefined, Effect.void)
      const completed = yield* store.claimImport(tenant, record(id2), claim(t4!, 3_200, 4_200))
      assert.deepStrictEqual(tagOf(completed), { _tag: "Completed", importId: id1 })
      assert.deepStrictEqual(completed._tag === "Completed" ? completed.record.report : undefined, Option.some({ importId: id1 }))
      assert.isFalse(yield* store.renewImportClaim(tenant, id1, t3!, new Date(5_000)))

      // Keys belong to their tenant.
      const other = yield* TenantId.make
      assert.deepStrictEqual(tagOf(yield* store.claimImport(other, record(id2), claim(t4!, 3_200, 4_200))), { _tag: "Started" })
    }))

  it.effect("store: an import records a subject once, and its recorded subjects are found by key", () =>
    Effect.gen(function*() {
      const store = yield* ConsentStore.ConsentStore
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      const subjects = yield* Effect.forEach(["s1", "s2", "s3"], (name) =>
        Effect.map(ledger.record(tenant, grant(`${name}@example.com`, ["news"])), (r) => r.event.subject))
      const [s1, s2, s3] = subjects as [SubjectId, SubjectId, SubjectId]
      const [id1, id2] = [uuidV7At(1), uuidV7At(2)]
      const imported = (importId: string, subject: SubjectId, time: number): ConsentEvent.Recorded => {
        const event = new ConsentEvent.ConsentEvent({
          id: ConsentEvent.EventId.make(uuidV7At(time)),
          tenant,
          subject,
          kind: "granted",
          time: new Date(time),
          lists: [ListId.make("news")],
          awaitingConfirmation: [],
          lawfulBasis: "consent",
          source: { type: "import", importId, attestation: "a".repeat(64) },
          confirms: []
        })
        const bytes = ConsentEvent.canonicalBytes(event)
        return { event, bytes, hash: ConsentEvent.hashOf(bytes), auditIndex: 0, ipSealed: undefined, userAgentSealed: undefined }
      }
      yield* store.append(tenant, [imported(id1, s1, 10), imported(id1, s2, 11), imported(id2, s1, 12)])
      const found = yield* store.importedSubjects(tenant, id1, [s1, s3, s2])
      assert.deepStrictEqual([...found].sort(), [s1, s2].sort())
      assert.deepStrictEqual([...(yield* store.importedSubjects(tenant, id2, [s1, s2, s3]))], [s1])
      assert.deepStrictEqual([...(yield* store.importedSubjects(yield* TenantId.make, id1, [s1]))], [])

      // A second event of one import for one subject is refused, with the rest of its batch.
      const before = (yield* ledger.events(tenant, { limit: 100 })).length
      const refused = yield* Effect.flip(store.append(tenant, [imported(id1, s3, 20), imported(id1, s1, 21)]))
      assert.strictEqual(refused._tag, "ConsentStoreError")
      assert.strictEqual((yield* ledger.events(tenant, { limit: 100 })).length, before)
      assert.deepStrictEqual([...(yield* store.importedSubjects(tenant, id1, [s3]))], [])

      // Erasure takes the subject's events, and with them what the import recorded for it.
      yield* ledger.erase(tenant, s1)
      assert.deepStrictEqual([...(yield* store.importedSubjects(tenant, id1, [s1, s2]))], [s2])
    }))
})
