// Review 15c: an import's completion and its audit entry, all or none. On memory, PGlite and
// PostgreSQL.
import { assert } from "@effect/vitest"
import * as AuditLog from "@lawful/audit-trail/AuditLog"
import { AuditStoreError } from "@lawful/audit-trail/AuditTrail"
import { contractSuite, coreMemory as memoryCore, coreSql as sqlCore } from "@lawful/core/testing"
import * as TenantId from "@lawful/core/TenantId"
import { makeAt as uuidV7At } from "@lawful/core/Uuid"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as ConsentImport from "../src/ConsentImport.js"
import * as ConsentLedger from "../src/ConsentLedger.js"
import * as ConsentStore from "../src/ConsentStore.js"
import { attestation, importActor as actor, importClaim, importRecord, tenantWithLists } from "./fixtures.js"
import { registrations, sqlAudit } from "./layers.js"


/** Tenants whose next `consent.import.completed` entry fails to be appended. */
const losing = new Set<TenantId.TenantId>()

/** The audit log as the ledger sees it: the next completion entry of a tenant in `losing` fails. */
const losingCompletions = Layer.effect(
  AuditLog.AuditLog,
  Effect.map(AuditLog.AuditLog, (log) =>
    AuditLog.AuditLog.of({
      ...log,
      append: (tenant, event) =>
        event.action === "consent.import.completed" && losing.delete(tenant)
          ? Effect.fail(new AuditStoreError({ operation: "append", cause: new Error("the completion entry was lost") }))
          : log.append(tenant, event)
    }))
)

const memory = registrations.pipe(
  Layer.provideMerge(ConsentLedger.layerMemory.pipe(Layer.provide(losingCompletions))),
  Layer.provideMerge(Layer.merge(memoryCore, AuditLog.layerMemory))
)

const sql = registrations.pipe(
  Layer.provideMerge(ConsentLedger.layerSql.pipe(Layer.provide(losingCompletions))),
  Layer.provideMerge(Layer.merge(sqlCore, sqlAudit))
)

const contacts = [
  ...Array.from({ length: 5 }, (_, i) => ({ email: `contact${i}@example.com` })),
  { email: "not-an-address" }
]

const request = (idempotencyKey?: string): ConsentImport.ImportRequest => ({
  attestation,
  lists: ["news"],
  actor,
  contacts,
  batchSize: 2,
  ...(idempotencyKey !== undefined ? { idempotencyKey } : {})
})

/** The ids of the tenant's imports, from their events. */
const importIds = (tenant: TenantId.TenantId) =>
  Effect.map(
    Effect.flatMap(ConsentLedger.ConsentLedger, (ledger) => ledger.events(tenant, { limit: 1000 })),
    (events) => [...new Set(events.flatMap((stored) => stored.event.source.type === "import" ? [stored.event.source.importId] : []))]
  )

const completions = (tenant: TenantId.TenantId) =>
  Effect.map(
    Effect.flatMap(AuditLog.AuditLog, (log) => log.query(tenant, { actionPrefix: "consent.import.completed" })),
    (page) => page.entries
  )

const tagOf = (error: unknown) => (typeof error === "object" && error !== null && "_tag" in error ? error._tag : error)

contractSuite("Review 15c", { memory, sql }, (it) => {
  it.effect("an import whose completion entry fails is not completed, and its retry completes it with exactly one entry", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger.ConsentLedger
      const store = yield* ConsentStore.ConsentStore
      const log = yield* AuditLog.AuditLog
      const tenant = yield* tenantWithLists
      const key = "crm-export-completion-lost"
      losing.add(tenant)

      const failed = yield* Effect.flip(ledger.importContacts(tenant, request(key)))
      assert.strictEqual(tagOf(failed), "AuditStoreError")
      const [importId, ...others] = yield* importIds(tenant)
      assert.isDefined(importId)
      assert.deepStrictEqual(others, [])
      const held = Option.getOrThrow(yield* store.importOf(tenant, importId!))
      assert.isTrue(
        Option.isNone(held.report),
        "the store holds the import as completed although its consent.import.completed entry was not appended"
      )
      assert.deepStrictEqual(yield* completions(tenant), [])

      const report = yield* ledger.importContacts(tenant, request(key))
      assert.deepStrictEqual(report, {
        importId: importId!,
        received: 6,
        recorded: 0,
        alreadyRecorded: 5,
        suppressed: 0,
        invalidEmail: 1,
        invalidIp: 0,
        invalidConsentedAt: 0,
        invalidUserAgent: 0,
        outsideAttestedPeriod: 0,
        duplicates: 0,
        withdrawn: 0,
        rejections: [{ row: 6, reason: "invalid-email" }]
      })
      assert.strictEqual((yield* ledger.events(tenant, { limit: 100 })).length, 5)
      const entries = yield* completions(tenant)
      assert.strictEqual(entries.length, 1, "consent.import.completed entries of the import")
      const { rejections: _, ...counts } = report
      assert.deepStrictEqual(entries[0]!.resource, { type: "consent-import", id: importId! })
      assert.deepStrictEqual(Option.map(entries[0]!.details, (details) => details.value), Option.some(counts))
      assert.deepStrictEqual(
        (yield* log.query(tenant, { actionPrefix: "consent.import" })).entries.map((entry) => entry.action),
        ["consent.import.started", "consent.import.resumed", "consent.import.completed"]
      )
      assert.isTrue(Option.isSome(Option.getOrThrow(yield* store.importOf(tenant, importId!)).report))

      // Completed: a retry returns the report and appends nothing.
      const size = yield* log.size(tenant)
      assert.deepStrictEqual(yield* ledger.importContacts(tenant, request(key)), report)
      assert.strictEqual(yield* log.size(tenant), size)
    }))

  it.effect("an import without a key whose completion entry fails fails, and is not completed", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger.ConsentLedger
      const store = yield* ConsentStore.ConsentStore
      const tenant = yield* tenantWithLists
      losing.add(tenant)
      const failed = yield* Effect.flip(ledger.importContacts(tenant, request()))
      assert.strictEqual(tagOf(failed), "AuditStoreError")
      const [importId] = yield* importIds(tenant)
      assert.isTrue(
        Option.isNone(Option.getOrThrow(yield* store.importOf(tenant, importId!)).report),
        "the store holds the import as completed although its consent.import.completed entry was not appended"
      )
      assert.deepStrictEqual(yield* completions(tenant), [])
      // Another import (no key, not a retry) completes with its entry.
      const report = yield* ledger.importContacts(tenant, request())
      assert.notStrictEqual(report.importId, importId)
      assert.strictEqual((yield* completions(tenant)).length, 1)
    }))

  it.effect("store: a completion whose record fails writes no report and keeps the claim; a take-over waits for it", () =>
    Effect.gen(function*() {
      const store = yield* ConsentStore.ConsentStore
      const tenant = yield* TenantId.make
      const importId = uuidV7At(1)
      const record = importRecord(importId)
      const [t1, t2] = [uuidV7At(10)!, uuidV7At(11)!]
      const claim = (token: string, now: number) => importClaim(token, now)
      assert.strictEqual((yield* store.claimImport(tenant, record, claim(t1, 1_000)))._tag, "Started")

      const failed = yield* Effect.flip(store.completeImport(tenant, importId, { by: "t1" }, t1, Effect.fail("entry lost" as const)))
      assert.strictEqual(failed, "entry lost")
      assert.isTrue(Option.isNone(Option.getOrThrow(yield* store.importOf(tenant, importId)).report), "written without its record")
      assert.isTrue(yield* store.renewImportClaim(tenant, importId, t1, new Date(1_500)), "the claim went with the failed record")

      // While the completion is recorded, a take-over of the lapsed claim waits, then finds it complete.
      const recording = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const slowRecord = Effect.zipRight(Deferred.succeed(recording, undefined), Deferred.await(release))
      const completing = yield* Effect.fork(store.completeImport(tenant, importId, { by: "t1" }, t1, slowRecord))
      yield* Deferred.await(recording)
      const takeover = yield* Effect.fork(store.claimImport(tenant, record, claim(t2, 5_000)))
      yield* Effect.repeatN(Effect.yieldNow(), 20)
      yield* Deferred.succeed(release, undefined)
      assert.isTrue(Option.isSome(yield* Fiber.join(completing)))
      assert.strictEqual((yield* Fiber.join(takeover))._tag, "Completed", "an import was taken over while its completion was recorded")
      assert.deepStrictEqual(Option.getOrThrow(yield* store.importOf(tenant, importId)).report, Option.some({ by: "t1" }))
    }))
})
