// Review 15b: defects found in review, each with the test that failed before its fix. On memory,
// PGlite and PostgreSQL; the last suite on PostgreSQL only, from two clients.
import { assert, describe, layer } from "@effect/vitest"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as AuditLog from "@lawful/audit-trail/AuditLog"
import * as AuditStore from "@lawful/audit-trail/AuditStore"
import * as CheckpointPublisher from "@lawful/audit-trail/CheckpointPublisher"
import * as KeyStore from "@lawful/core/KeyStore"
import * as MasterKey from "@lawful/core/MasterKey"
import * as SubjectDirectory from "@lawful/core/SubjectDirectory"
import type { SubjectId } from "@lawful/core/SubjectId"
import * as SuppressionList from "@lawful/core/SuppressionList"
import { contractSuite, postgresLayer, postgresUrl } from "@lawful/core/testing"
import * as TenantId from "@lawful/core/TenantId"
import { makeAt as uuidV7At } from "@lawful/core/Uuid"
import * as Vault from "@lawful/core/Vault"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as ConsentEvent from "../src/ConsentEvent.js"
import * as ConsentImport from "../src/ConsentImport.js"
import * as ConsentLedger from "../src/ConsentLedger.js"
import * as ConsentLists from "../src/ConsentLists.js"
import * as ConsentStore from "../src/ConsentStore.js"
import {
  attestation,
  confirm,
  grant,
  importActor,
  importClaim,
  importRecord,
  lists,
  recordedEvent,
  tenantWithLists
} from "./fixtures.js"
import { memory, sql } from "./layers.js"

type Ledger = Context.Tag.Service<typeof ConsentLedger.ConsentLedger>

const outcomeOf = <A>(result: Either.Either<A, { readonly _tag: string }>) =>
  Either.isRight(result) ? "recorded" : result.left._tag

/** The confirmations stored for a subject. */
const confirmationsOf = (ledger: Ledger, tenant: TenantId.TenantId, subject: SubjectId) =>
  Effect.map(
    ledger.events(tenant, { subject, limit: 100 }),
    (events) => events.filter((stored) => stored.event.kind === "confirmed")
  )

/** An event as the ledger would make it, stored directly. */
contractSuite("Review 15b", { memory, sql }, (it) => {
  it.effect("two confirmations of one pending grant at once: one is recorded, the other fails ConsentNotPending", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger.ConsentLedger
      const tenant = yield* tenantWithLists
      const twice = yield* ledger.record(tenant, grant("twice@example.com", ["offers"]))
      const once = yield* ledger.record(tenant, grant("once@example.com", ["offers"]))
      // A double-clicked confirmation link, and another subject's confirmation at the same time.
      const results = yield* Effect.all([
        Effect.either(ledger.record(tenant, confirm("twice@example.com", ["offers"]))),
        Effect.either(ledger.record(tenant, confirm("twice@example.com", ["offers"]))),
        Effect.either(ledger.record(tenant, confirm("once@example.com", ["offers"])))
      ], { concurrency: "unbounded" })
      assert.deepStrictEqual(
        [outcomeOf(results[0]), outcomeOf(results[1])].sort(),
        ["ConsentNotPending", "recorded"],
        "both confirmations of the same pending grant were recorded"
      )
      assert.strictEqual(outcomeOf(results[2]), "recorded", "another subject's confirmation failed with the refused one")
      const refused = [results[0], results[1]].find(Either.isLeft)!.left
      assert.deepStrictEqual(
        refused._tag === "ConsentNotPending" ? { subject: refused.subjectId, lists: refused.lists } : refused,
        { subject: twice.event.subject, lists: ["offers"] }
      )
      const stored = yield* confirmationsOf(ledger, tenant, twice.event.subject)
      assert.strictEqual(stored.length, 1, "confirmed events stored for one pending grant")
      assert.deepStrictEqual(stored[0]!.event.confirms, [twice.event.id])
      assert.strictEqual((yield* confirmationsOf(ledger, tenant, once.event.subject)).length, 1)
      assert.isTrue(yield* ledger.mayReceiveMarketing(tenant, twice.event.subject, "offers"))
      assert.isTrue(yield* ledger.mayReceiveMarketing(tenant, once.event.subject, "offers"))
    }))

  it.effect("store: a checked append refuses, whole, confirmations whose lists are no longer pending by their grants", () =>
    Effect.gen(function*() {
      const store = yield* ConsentStore.ConsentStore
      const tenant = yield* TenantId.make
      const [a, b] = [uuidV7At(1), uuidV7At(2)] as unknown as [SubjectId, SubjectId]
      const pending = { kind: "granted" as const, awaitingConfirmation: [ConsentLists.ListId.make("offers")], confirms: [] }
      const grantA = recordedEvent(tenant, a, 10, pending)
      const grantB = recordedEvent(tenant, b, 11, pending)
      yield* store.append(tenant, [grantA, grantB])
      const confirming = (subject: SubjectId, time: number, grants: ReadonlyArray<ConsentEvent.Recorded>) =>
        recordedEvent(tenant, subject, time, { kind: "confirmed", awaitingConfirmation: [], confirms: grants.map((g) => g.event.id) })
      const first = confirming(a, 20, [grantA])
      const second = confirming(a, 21, [grantA])
      const ofB = confirming(b, 22, [grantB])
      const checked = { checkConfirmations: true }

      // The second confirmation of A's grant comes after the first in the batch: it confirms nothing.
      const refused = yield* Effect.flip(store.append(tenant, [first, second, ofB], checked))
      assert.deepStrictEqual(
        refused._tag === "ConfirmationRefused" ? refused.eventIds : refused,
        [second.event.id]
      )
      assert.strictEqual((yield* store.events(tenant, { limit: 10 })).length, 2, "a refused append stored events")
      yield* store.append(tenant, [first, ofB], checked)
      assert.deepStrictEqual((yield* store.states(tenant, a)).map((s) => [s.status, s.eventId]), [["granted", first.event.id]])
      // Once confirmed, the grant is no longer pending; a confirmation naming no pending grant neither.
      const again = yield* Effect.flip(store.append(tenant, [second], checked))
      assert.deepStrictEqual(again._tag === "ConfirmationRefused" ? again.eventIds : again, [second.event.id])
      // Withdrawn, then granted again: pending by the new grant, which the old one's confirmation does not name.
      const withdrawn = (time: number) => recordedEvent(tenant, a, time, { kind: "withdrawn", awaitingConfirmation: [], confirms: [] })
      const grantA2 = recordedEvent(tenant, a, 31, pending)
      yield* store.append(tenant, [withdrawn(30), grantA2])
      const stale = yield* Effect.flip(store.append(tenant, [confirming(a, 32, [grantA])], checked))
      assert.strictEqual(stale._tag, "ConfirmationRefused", "a confirmation of a grant a newer grant replaced")
      // Events before a confirmation in its batch count: a withdrawal first leaves nothing to confirm.
      const afterWithdrawal = yield* Effect.flip(store.append(tenant, [withdrawn(33), confirming(a, 34, [grantA2])], checked))
      assert.strictEqual(afterWithdrawal._tag, "ConfirmationRefused")
      yield* store.append(tenant, [confirming(a, 35, [grantA2])], checked)
      assert.strictEqual((yield* store.events(tenant, { limit: 10 })).length, 7)
      assert.deepStrictEqual((yield* store.states(tenant, a)).map((s) => s.status), ["granted"])
      // Unchecked (the default), events are stored as given.
      yield* store.append(tenant, [second])
      assert.strictEqual((yield* store.events(tenant, { limit: 10 })).length, 8)
    }))

  it.effect("store: an import's report is written only by the attempt whose claim still holds", () =>
    Effect.gen(function*() {
      const store = yield* ConsentStore.ConsentStore
      const tenant = yield* TenantId.make
      const importId = uuidV7At(1)
      const record = importRecord(importId)
      const [t1, t2] = [uuidV7At(10), uuidV7At(11)]
      const claim = (token: string, now: number) => importClaim(token, now)
      assert.strictEqual((yield* store.claimImport(tenant, record, claim(t1!, 1_000)))._tag, "Started")
      // t1's claim lapsed and t2 took the import over: t1 can no longer complete it.
      assert.strictEqual((yield* store.claimImport(tenant, record, claim(t2!, 5_000)))._tag, "Resumed")
      // The completion is recorded only with the report.
      const recorded: Array<string> = []
      const recording = (by: string) => Effect.sync(() => (recorded.push(by), by))
      assert.isTrue(
        Option.isNone(yield* store.completeImport(tenant, importId, { by: "t1" }, t1, recording("t1"))),
        "a stale claim completed the import"
      )
      assert.isTrue(Option.isNone(Option.getOrThrow(yield* store.importOf(tenant, importId)).report))
      assert.deepStrictEqual(yield* store.completeImport(tenant, importId, { by: "t2" }, t2, recording("t2")), Option.some("t2"))
      assert.deepStrictEqual(Option.getOrThrow(yield* store.importOf(tenant, importId)).report, Option.some({ by: "t2" }))
      // Complete: no claim completes it again.
      assert.isTrue(Option.isNone(yield* store.completeImport(tenant, importId, { by: "t2 again" }, t2, recording("again"))))
      assert.deepStrictEqual(Option.getOrThrow(yield* store.importOf(tenant, importId)).report, Option.some({ by: "t2" }))
      assert.deepStrictEqual(recorded, ["t2"], "a refused completion was recorded")
      // An import without a key has no claim: its report is written as given.
      const unkeyed = { ...record, importId: uuidV7At(2) }
      yield* store.saveImport(tenant, unkeyed)
      assert.isTrue(Option.isSome(yield* store.completeImport(tenant, unkeyed.importId, { by: "anyone" }, undefined, Effect.void)))
    }))

  it.effect("an import whose claim another call took over fails ImportInProgress at the end and writes no report", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger.ConsentLedger
      const store = yield* ConsentStore.ConsentStore
      const vault = yield* Vault.Vault
      const log = yield* AuditLog.AuditLog
      const tenant = yield* tenantWithLists
      const key = "slow-upload-1"
      const reading = yield* Deferred.make<void>()
      const rest = yield* Deferred.make<void>()
      const contacts = [{ email: "slow0@example.com" }, { email: "slow1@example.com" }]
      const stalled = Stream.concat(
        Stream.fromIterable(contacts),
        Stream.drain(Stream.fromEffect(Effect.zipRight(Deferred.succeed(reading, undefined), Deferred.await(rest))))
      )
      const request: ConsentImport.ImportRequest = { attestation, lists: ["news"], actor: importActor, idempotencyKey: key, contacts: stalled }
      const running = yield* Effect.fork(ledger.importContacts(tenant, request))
      yield* Deferred.await(reading)

      // Another attempt takes the import over, as after the first one's claim lapsed (its process
      // stalled past the claim's end).
      const { contacts: _, ...options } = request
      const decoded = Schema.decodeUnknownSync(ConsentImport.ImportOptions)(options)
      const later = Date.now() + 3_600_000
      const takeover = yield* store.claimImport(tenant, {
        importId: uuidV7At(later),
        attestation: ConsentImport.attestationJson(decoded.attestation),
        attestationHash: ConsentImport.attestationHash(decoded.attestation),
        startedAt: new Date(later),
        report: Option.none()
      }, {
        keyHash: yield* vault.blindIndex(tenant, "consent.import.idempotency-key", key),
        optionsHash: ConsentImport.optionsHash(decoded, [ConsentLists.ListId.make("news")]),
        token: uuidV7At(later),
        now: new Date(later),
        until: new Date(later + 120_000)
      })
      assert.strictEqual(takeover._tag, "Resumed")
      const importId = takeover._tag === "Resumed" ? takeover.record.importId : ""

      yield* Deferred.succeed(rest, undefined)
      const failed = yield* Effect.flip(Fiber.join(running))
      assert.strictEqual(failed._tag, "ImportInProgress", "an attempt whose claim was taken over completed the import")
      assert.strictEqual(failed._tag === "ImportInProgress" ? failed.importId : "", importId)
      assert.isTrue(Option.isNone(Option.getOrThrow(yield* store.importOf(tenant, importId)).report))
      const actions = (yield* log.query(tenant, { actionPrefix: "consent.import" })).entries.map((e) => e.action)
      assert.deepStrictEqual(actions, ["consent.import.started"])
    }))

  it.effect("an import counts a null or non-object row as refused (invalid-email) instead of failing", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger.ConsentLedger
      const tenant = yield* tenantWithLists
      const report = yield* ledger.importContacts(tenant, {
        attestation,
        lists: ["news"],
        actor: importActor,
        contacts: [
          null as never,
          { email: "kept@example.com" },
          undefined as never,
          "row@example.com" as never,
          42 as never,
          ["list@example.com"] as never
        ]
      })
      assert.deepStrictEqual(
        { received: report.received, recorded: report.recorded, invalidEmail: report.invalidEmail, rejections: report.rejections },
        {
          received: 6,
          recorded: 1,
          invalidEmail: 5,
          rejections: [1, 3, 4, 5, 6].map((row) => ({ row, reason: "invalid-email" as const }))
        }
      )
      assert.strictEqual((yield* ledger.events(tenant, { limit: 10 })).length, 1)
    }))
})

// Two processes on one PostgreSQL: two ledgers over two connection pools, one schema, one master key.
if (postgresUrl) {
  const baseUrl = postgresUrl
  class SecondLedger extends Context.Tag("test/SecondLedger")<SecondLedger, Ledger>() {}
  const masterKey = MasterKey.layer(MasterKey.generate())
  const ledgerOn = ConsentLedger.layerSql.pipe(
    Layer.provideMerge(
      Layer.mergeAll(
        Layer.mergeAll(SubjectDirectory.layerSql, SuppressionList.layerSql).pipe(
          Layer.provideMerge(Vault.layer),
          Layer.provide(Layer.merge(KeyStore.layerSql, masterKey))
        ),
        AuditLog.layer.pipe(
          Layer.provide(Layer.mergeAll(AuditStore.layerSql, AuditLog.AuditSigner.layerRandom, CheckpointPublisher.layerMemory))
        )
      )
    )
  )
  const twoLedgers = Layer.unwrapScoped(
    Effect.gen(function*() {
      const client = yield* SqlClient.SqlClient
      const [row] = yield* client<{ search_path: string }>`SHOW search_path`
      const url = new URL(baseUrl)
      url.searchParams.set("options", `-c search_path=${row!.search_path}`)
      const second = Layer.effect(SecondLedger, ConsentLedger.ConsentLedger).pipe(
        Layer.provide(ledgerOn),
        Layer.provide(PgClient.layer({ url: Redacted.make(url.toString()) })),
        Layer.orDie
      )
      return Layer.merge(ledgerOn, second).pipe(Layer.orDie)
    })
  ).pipe(Layer.provideMerge(postgresLayer))

  describe("Review 15b: confirmations from two PostgreSQL clients", () => {
    layer(twoLedgers, { timeout: 120_000 })((it) => {
      it.effect("two processes confirm one pending grant at once: one is recorded, the other fails ConsentNotPending", () =>
        Effect.gen(function*() {
          const first = yield* ConsentLedger.ConsentLedger
          const second = yield* SecondLedger
          const declared = yield* ConsentLists.ConsentLists
          for (let round = 0; round < 10; round++) {
            const tenant = yield* TenantId.make
            yield* Effect.forEach(lists, (list) => declared.declare(tenant, list), { discard: true })
            const email = `clicker${round}@example.com`
            const granted = yield* first.record(tenant, grant(email, ["offers", "events.local"]))
            const results = yield* Effect.all([
              Effect.either(first.record(tenant, confirm(email, ["offers"]))),
              Effect.either(second.record(tenant, confirm(email, ["offers"])))
            ], { concurrency: "unbounded" })
            assert.deepStrictEqual(results.map(outcomeOf).sort(), ["ConsentNotPending", "recorded"], `round ${round}`)
            assert.strictEqual((yield* confirmationsOf(first, tenant, granted.event.subject)).length, 1, `round ${round}`)
          }
        }), { timeout: 120_000 })
    })
  })
}
