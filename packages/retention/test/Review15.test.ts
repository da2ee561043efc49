/**
 * Review 15: defects found in review, each with the test that failed before its fix.
 */
import { assert } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import type { Actor } from "@lawful/audit-trail/AuditEvent"
import * as TenantId from "@lawful/core/TenantId"
import { contractSuite, sqlSuite } from "@lawful/core/testing"
import * as Vault from "@lawful/core/Vault"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { randomBytes } from "node:crypto"
import * as ArchiveStore from "../src/ArchiveStore.js"
import * as AuditEntryDetails from "../src/AuditEntryDetails.js"
import { LegalHolds } from "../src/LegalHold.js"
import { RetentionPolicies } from "../src/RetentionPolicy.js"
import { Sweeper } from "../src/Sweeper.js"
import {
  AuditGate,
  gatedStacks,
  LOG,
  TestRecords,
  memoryStack,
  recordId,
  sqlStack
} from "./fixtures.js"

const staff: Actor = { kind: "staff", id: "staff-15" }
const details = AuditEntryDetails.targetId

const withDetails = <E, R>(stack: Layer.Layer<any, E, R>) =>
  AuditEntryDetails.registerTarget().pipe(Layer.orDie, Layer.provideMerge(stack))

contractSuite("Review15 policies", { memory: withDetails(memoryStack), sql: withDetails(sqlStack) }, (it) => {
  // `audit.entry-details` has no finite bound (its maximum is forever): a finite period too long for
  // any store was kept in memory and failed on SQL as a storage error.
  it.effect("a finite period longer than a store can keep is refused alike on every store, and changes nothing", () =>
    Effect.gen(function*() {
      const policies = yield* RetentionPolicies
      const tenant = yield* TenantId.make
      const refused = yield* Effect.either(policies.set(tenant, { [details]: "100000000000000 days" }, staff))
      assert.isTrue(
        Either.isLeft(refused) && refused.left._tag === "RetentionPolicyInvalid" && refused.left.reason === "over-bound",
        String(Either.isLeft(refused) ? refused.left : "accepted")
      )
      const kept = yield* policies.get(tenant, details)
      assert.strictEqual(kept.source, "platform")
      // The longest finite period a store keeps is accepted, and read back the same, on every store.
      const [longest] = yield* policies.set(tenant, { [details]: "104249991 days" }, staff)
      assert.strictEqual(Duration.toMillis(longest!.period), 104249991 * 86_400_000)
      assert.strictEqual(Duration.toMillis((yield* policies.get(tenant, details)).period), 104249991 * 86_400_000)
    }))
})

sqlSuite("Review15 archives", Layer.empty, (it) => {
  // Both archives recorded their migrations in one table, so only the first schema got its table.
  it.effect("archives in two schemas of one database each get their table", () =>
    Effect.gen(function*() {
      const client = yield* SqlClient.SqlClient
      const suffix = randomBytes(6).toString("hex")
      const schemas = [`review15_a_${suffix}`, `review15_b_${suffix}`]
      const tenant = yield* TenantId.make
      // The records an archive in `schema` keeps after one is put, or why it could not.
      const putAndList = (schema: string, byte: number) =>
        Effect.gen(function*() {
          const archive = yield* ArchiveStore.makeSql(client, { schema })
          yield* archive.put(tenant, { kind: "invoice", sealed: Vault.Sealed.make(new Uint8Array([byte])) })
          return (yield* archive.list(tenant)).length
        }).pipe(Effect.mapError((error) => `${error.message}: ${(error.cause as { message?: string } | undefined)?.message ?? ""}`))
      yield* Effect.gen(function*() {
        const first = yield* Effect.either(putAndList(schemas[0]!, 1))
        const second = yield* Effect.either(putAndList(schemas[1]!, 2))
        assert.deepStrictEqual(first, Either.right(1))
        assert.deepStrictEqual(second, Either.right(1), "the second schema's archive keeps its record")
      }).pipe(
        Effect.ensuring(
          Effect.forEach(schemas, (schema) => Effect.ignore(client`DROP SCHEMA IF EXISTS ${client(schema)} CASCADE`), { discard: true })
        )
      )
    }))
})

const stacks = gatedStacks("retention.hold.released")

contractSuite("Review15 holds", stacks, (it, backend) => {
  // The release was made before its audit entry, and undone when the entry failed: a sweep in
  // between saw no hold and purged what the hold, still in force after the failed release, keeps.
  it.effect("a release whose audit entry fails never lets a sweep purge what the hold keeps", () =>
    Effect.gen(function*() {
      const holds = yield* LegalHolds
      const sweeper = yield* Sweeper
      const records = yield* TestRecords
      const gate = yield* AuditGate
      const tenant = yield* TenantId.make
      const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
      // Expired under the log's ten hours, kept by the hold.
      const id = recordId()
      yield* records.write(tenant, { id, category: LOG, subject: undefined, at: now - 20 * 60 * 60 * 1000 })
      const hold = yield* holds.place(tenant, { reason: "Case 15" }, staff)
      const reached = yield* Deferred.make<void>()
      const go = yield* Deferred.make<void>()
      gate.armed = { reached, go }
      const releasing = yield* Effect.fork(Effect.either(holds.release(tenant, hold.holdId, staff)))
      yield* Deferred.await(reached)
      // A sweep while the release's audit entry is being appended, done before the append ends. On
      // PGlite, one session, the release's transaction holds the session, and the sweep waits for it:
      // it is given 1000 turns of the scheduler (a sweep that waits for nothing is done by then).
      const sweeping = yield* Effect.fork(sweeper.sweep({ tenants: [tenant], categories: [LOG] }))
      if (backend !== "pglite") yield* Fiber.await(sweeping)
      for (let i = 0; i < 1000 && Option.isNone(yield* Fiber.poll(sweeping)); i++) yield* Effect.yieldNow()
      yield* Deferred.succeed(go, undefined)
      const swept = yield* Fiber.join(sweeping)
      const released = yield* Fiber.join(releasing)
      assert.isTrue(Either.isLeft(released) && released.left._tag === "AuditStoreError")
      assert.isTrue((yield* holds.get(tenant, hold.holdId)).active, "the failed release leaves the hold in force")
      assert.deepStrictEqual(swept.categories.map((c) => c.purged), [0], "the sweep purged nothing the hold keeps")
      assert.deepStrictEqual((yield* records.live(tenant)).map((r) => r.id), [id])
    }))
})
