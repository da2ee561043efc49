/**
 * Review 16d: defects found in review, each with the test that failed before its fix.
 */
import { assert } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import type { Actor } from "@lawful/audit-trail/AuditEvent"
import { AuditLog } from "@lawful/audit-trail/AuditLog"
import * as TenantId from "@lawful/core/TenantId"
import { contractSuite, sqlSuite } from "@lawful/core/testing"
import type { SqlBackend } from "@lawful/core/testing"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as LegalHold from "../src/LegalHold.js"
import { RetentionPolicies } from "../src/RetentionPolicy.js"
import { AuditGate, gatedStacks, LOG, memoryStack, sqlStack } from "./fixtures.js"

const staff: Actor = { kind: "staff", id: "staff-16d" }
const address = "ann.example@example.com"

const released = (tenant: TenantId.TenantId) =>
  Effect.flatMap(AuditLog, (log) =>
    Effect.map(log.query(tenant, { actionPrefix: "retention.hold.released", limit: 1000 }), (page) => page.entries))

// Another process's holds: the same database, a `LegalHolds` of its own (its own in-process locks),
// appending through the audit log without the gate.
const otherProcess = Effect.provide(LegalHold.LegalHolds, LegalHold.layerSql).pipe(Effect.orDie)

// Until `fiber` is done or waits for a row of `lawful_retention_holds` that another transaction
// locks (on PostgreSQL); on PGlite, one session, until it is done or for 1000 turns of the scheduler
// (a fibre that waits for nothing is done by then).
const untilDoneOrWaitingForTheHold = (backend: SqlBackend, fiber: Fiber.Fiber<unknown, unknown>) =>
  Effect.gen(function*() {
    if (backend === "postgres") {
      const sql = (yield* SqlClient.SqlClient).withoutTransforms()
      const waiting = sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_locks w JOIN pg_locks t ON t.pid = w.pid
        WHERE NOT w.granted AND t.locktype = 'tuple' AND t.relation = 'lawful_retention_holds'::regclass`
      yield* Effect.zipWith(waiting, Fiber.poll(fiber), ([row], done) => row!.n > 0 || Option.isSome(done)).pipe(
        Effect.repeat({ until: (stop) => stop }),
        Effect.orDie
      )
      return
    }
    for (let i = 0; i < 1000 && Option.isNone(yield* Fiber.poll(fiber)); i++) yield* Effect.yieldNow()
  })

// A hold placed for a new tenant, with this process's holds, another process's, and the audit gate.
const placedHold = Effect.gen(function*() {
  const holds = yield* LegalHold.LegalHolds
  const other = yield* otherProcess
  const gate = yield* AuditGate
  const tenant = yield* TenantId.make
  const hold = yield* holds.place(tenant, { reason: "Case 16d" }, staff)
  return { gate, hold, holds, other, tenant }
})

sqlSuite("Review16d releases across processes", gatedStacks("retention.hold.released").sql, (it, backend) => {
  // Each process found the hold in force and appended its `retention.hold.released` before either
  // released it: the log named two releases of one hold. The in-process lock does not reach another process.
  it.effect("two processes releasing one hold at once release it once, with one audit entry", () =>
    Effect.gen(function*() {
      const { gate, hold, holds, other, tenant } = yield* placedHold
      const reached = yield* Deferred.make<void>()
      const go = yield* Deferred.make<void>()
      gate.armed = { reached, go, then: "append" }
      const first = yield* Effect.fork(holds.release(tenant, hold.holdId, { kind: "staff", id: "first" }))
      yield* Deferred.await(reached)
      // The other process releases while the first one's entry is being appended.
      const second = yield* Effect.fork(other.release(tenant, hold.holdId, { kind: "staff", id: "second" }))
      yield* untilDoneOrWaitingForTheHold(backend, second)
      yield* Deferred.succeed(go, undefined)
      const results = [yield* Fiber.join(first), yield* Fiber.join(second)]
      const logged = yield* released(tenant)
      assert.strictEqual(logged.length, 1, "one release, one entry")
      assert.isTrue(results.every((h) => !h.active))
      assert.deepStrictEqual(results[1]!.releasedBy, results[0]!.releasedBy, "both see the one release")
      assert.deepStrictEqual(results[0]!.releasedBy, { kind: "staff", id: "first" })
      assert.deepStrictEqual(logged[0]!.actor, results[0]!.releasedBy)
    }))

  it.effect("a release whose entry fails, or whose process stops, leaves the hold in force; a retry releases it once", () =>
    Effect.gen(function*() {
      const { gate, hold, holds, other, tenant } = yield* placedHold

      // The append fails while another process waits to release the hold: that one releases it.
      const failing = { reached: yield* Deferred.make<void>(), go: yield* Deferred.make<void>() }
      gate.armed = failing
      const first = yield* Effect.fork(Effect.either(holds.release(tenant, hold.holdId, staff)))
      yield* Deferred.await(failing.reached)
      const second = yield* Effect.fork(other.release(tenant, hold.holdId, { kind: "staff", id: "second" }))
      yield* untilDoneOrWaitingForTheHold(backend, second)
      yield* Deferred.succeed(failing.go, undefined)
      const failed = yield* Fiber.join(first)
      assert.isTrue(Either.isLeft(failed) && failed.left._tag === "AuditStoreError", String(failed))
      assert.deepStrictEqual((yield* Fiber.join(second)).releasedBy, { kind: "staff", id: "second" })
      assert.deepStrictEqual((yield* released(tenant)).map((e) => e.actor), [{ kind: "staff", id: "second" }])

      // The process stops while appending, then the append fails alone: the hold stays in force,
      // unlogged, and a retry releases it with one entry.
      const next = yield* holds.place(tenant, { reason: "Case 16d" }, staff)
      const stopping = { reached: yield* Deferred.make<void>(), go: yield* Deferred.make<void>(), then: "append" as const }
      gate.armed = stopping
      const stopped = yield* Effect.fork(holds.release(tenant, next.holdId, staff))
      yield* Deferred.await(stopping.reached)
      yield* Fiber.interrupt(stopped)
      const alone = { reached: yield* Deferred.make<void>(), go: yield* Deferred.make<void>() }
      gate.armed = alone
      yield* Deferred.succeed(alone.go, undefined)
      assert.isTrue(Either.isLeft(yield* Effect.either(holds.release(tenant, next.holdId, staff))))
      assert.isTrue((yield* other.get(tenant, next.holdId)).active, "the hold stays in force")
      assert.strictEqual((yield* released(tenant)).length, 1)
      const retried = yield* other.release(tenant, next.holdId, { kind: "staff", id: "retry" })
      assert.isFalse(retried.active)
      assert.deepStrictEqual((yield* released(tenant)).map((e) => e.actor), [
        { kind: "staff", id: "second" },
        { kind: "staff", id: "retry" }
      ])
    }))
})

contractSuite("Review16d messages", { memory: memoryStack, sql: sqlStack }, (it) => {
  // `not-a-period` quoted the whole string given, and `LegalHoldNotFound` the id as given: an
  // address (or any text) given by mistake went into the error, and so into logs.
  it.effect("a period, a hold id or a category that is not one is refused without being quoted", () =>
    Effect.gen(function*() {
      const policies = yield* RetentionPolicies
      const holds = yield* LegalHold.LegalHolds
      const tenant = yield* TenantId.make
      const shown = (error: unknown) => JSON.stringify(error) + String((error as { message?: string }).message)

      const period = yield* Effect.flip(policies.set(tenant, { [LOG]: address as `${number} days` }, staff))
      assert.strictEqual(period._tag === "RetentionPolicyInvalid" ? period.reason : period._tag, "not-a-period")
      assert.notInclude(shown(period), address)
      const negative = yield* Effect.flip(policies.set(tenant, { [LOG]: `-${"9".repeat(500)} days` as `${number} days` }, staff))
      assert.strictEqual(negative._tag === "RetentionPolicyInvalid" ? negative.reason : negative._tag, "negative")
      assert.notInclude(shown(negative), "9".repeat(50))

      for (const refused of [holds.release(tenant, address, staff), holds.get(tenant, address)]) {
        const error = yield* Effect.flip(refused)
        assert.strictEqual(error._tag, "LegalHoldNotFound")
        assert.notInclude(shown(error), address)
      }
      // A hold id is quoted, in lower case.
      const unknown = "0190F3C4-8C1E-7D2A-9B3C-1234567890AB"
      const missing = yield* Effect.flip(holds.get(tenant, unknown))
      assert.include(missing.message, unknown.toLowerCase())

      for (
        const refused of [
          policies.get(tenant, address),
          policies.set(tenant, { [address]: "1 days" }, staff),
          holds.place(tenant, { category: address, reason: "Case 16d" }, staff)
        ] as const
      ) {
        const error = yield* Effect.flip(refused as Effect.Effect<unknown, { readonly _tag: string }>)
        assert.strictEqual(error._tag, "RetentionCategoryNotFound")
        assert.notInclude(shown(error), address)
      }
      // A category id is quoted.
      const unregistered = yield* Effect.flip(policies.get(tenant, "mailer.unregistered"))
      assert.include(unregistered.message, "mailer.unregistered")
    }))
})

contractSuite("Review16d pages", { memory: memoryStack, sql: sqlStack }, (it) => {
  // `list`, `active` and `activeOf` returned every hold at once, however many a tenant had.
  it.effect("list, active and activeOf page by placement then id, alike on every store, and refuse bad pages", () =>
    Effect.gen(function*() {
      const holds = yield* LegalHold.LegalHolds
      const [tenant, other] = [yield* TenantId.make, yield* TenantId.make]
      // Three placed at one instant (ordered by id), then others later, one of them released.
      for (let i = 0; i < 3; i++) yield* holds.place(tenant, { reason: "Case 16d" }, staff)
      yield* TestClock.adjust("1 hour")
      yield* holds.place(other, { reason: "Case 16d" }, staff)
      const gone = yield* holds.place(tenant, { reason: "Case 16d" }, staff)
      yield* TestClock.adjust("1 hour")
      yield* holds.place(tenant, { reason: "Case 16d" }, staff)
      yield* holds.place(other, { reason: "Case 16d" }, staff)
      yield* holds.release(tenant, gone.holdId, staff)

      const ids = (page: ReadonlyArray<LegalHold.LegalHold>) => page.map((h) => h.holdId)
      // Every page of `read`, of `limit` holds, each after the last of the one before.
      const pages = <E>(read: (page: LegalHold.HoldPage) => Effect.Effect<ReadonlyArray<LegalHold.LegalHold>, E>, limit: number) =>
        Effect.gen(function*() {
          const all: Array<Array<string>> = []
          let after: LegalHold.LegalHold | undefined
          for (;;) {
            const page = yield* read(after === undefined ? { limit } : { limit, after })
            if (page.length === 0) return all
            assert.isAtMost(page.length, limit)
            all.push(ids(page))
            after = page[page.length - 1]
          }
        })
      const everything = ids(yield* holds.list(tenant))
      assert.strictEqual(everything.length, 5)
      assert.deepStrictEqual((yield* pages((page) => holds.list(tenant, page), 2)).flat(), everything)
      assert.deepStrictEqual((yield* pages((page) => holds.list(tenant, page), 2)).length, 3)
      assert.deepStrictEqual((yield* pages((page) => holds.active(tenant, page), 3)).flat(), ids(yield* holds.active(tenant)))
      const flat = (byTenant: ReadonlyMap<TenantId.TenantId, ReadonlyArray<LegalHold.LegalHold>>) =>
        [...byTenant.values()].flat().sort((a, b) => a.placedAt.getTime() - b.placedAt.getTime() || (a.holdId < b.holdId ? -1 : 1))
      const across = yield* pages((page) => Effect.map(holds.activeOf([tenant, other], page), flat), 2)
      assert.deepStrictEqual(across.flat(), ids(flat(yield* holds.activeOf([tenant, other]))))
      assert.strictEqual(across.flat().length, 6)
      // Without a limit, everything after `after`.
      assert.deepStrictEqual(ids(yield* holds.list(tenant, { after: (yield* holds.list(tenant))[1]! })), everything.slice(2))

      for (const page of [{ limit: 0 }, { limit: -1 }, { limit: 1.5 }, { limit: Number.NaN }, { limit: 1001 }]) {
        const refused = yield* Effect.flip(holds.list(tenant, page))
        assert.strictEqual(refused._tag, "LegalHoldPageInvalid", String(page.limit))
      }
      const after = { holdId: address, placedAt: new Date(0) }
      for (const refused of [holds.list(tenant, { after }), holds.active(tenant, { after }), Effect.asVoid(holds.activeOf([tenant], { after }))]) {
        const error = yield* Effect.flip(refused)
        assert.strictEqual(error._tag, "LegalHoldPageInvalid")
        assert.notInclude(JSON.stringify(error) + error.message, address)
      }
      const invalidTime = yield* Effect.flip(holds.list(tenant, { after: { holdId: gone.holdId, placedAt: new Date(Number.NaN) } }))
      assert.strictEqual(invalidTime._tag, "LegalHoldPageInvalid")
    }))
})
