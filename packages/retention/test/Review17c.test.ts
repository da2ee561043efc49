/**
 * Review 17c: a policy change, a hold or a release whose own commit fails after its audit entry
 * was appended.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import { assert } from "@effect/vitest"
import type { Actor } from "@lawful/audit-trail/AuditEvent"
import { AuditLog } from "@lawful/audit-trail/AuditLog"
import * as TenantId from "@lawful/core/TenantId"
import { sqlSuite } from "@lawful/core/testing"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as LegalHold from "../src/LegalHold.js"
import * as Retention from "../src/Retention.js"
import { RetentionPolicies } from "../src/RetentionPolicy.js"
import * as RetentionTarget from "@lawful/core/RetentionTarget"
import { auditElsewhere, batchSize, failCommitsOf, LOG, recordsSql, sqlStack, sqlStackAuditElsewhere } from "./fixtures.js"

const staff: Actor = { kind: "staff", id: "staff-17c" }

/** The tenant's log: each entry's action, resource id and details. */
const logOf = (tenant: TenantId.TenantId) =>
  Effect.flatMap(AuditLog, (log) =>
    Effect.map(log.query(tenant, { limit: 1000 }), (page) =>
      page.entries.map((entry) => ({
        index: entry.index,
        action: entry.action,
        resource: entry.resource?.id,
        details: Option.getOrUndefined(Option.map(entry.details, (details) => details.value))
      }))))

/** The error `effect` failed with: it must fail, with a typed error, not a defect. */
const failureOf = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.either(effect), (result) => {
    assert.isTrue(Either.isLeft(result), "the operation fails")
    return (result as Either.Left<E, A>).left as E & { readonly _tag: string }
  })

sqlSuite("Review17c the audit log on a database of its own, a commit that fails", sqlStackAuditElsewhere, (it) => {
  // The entry commits on the log's database before the change commits on its own: a change whose
  // commit then failed left the log naming a change that was not made. The log now says so.
  it.effect("a policy change whose commit fails leaves its entry and then its failed outcome, and no change", () =>
    Effect.scoped(Effect.gen(function*() {
      const policies = yield* RetentionPolicies
      const tenant = yield* TenantId.make
      yield* failCommitsOf(tenant, "lawful_retention_policies")
      const error = yield* failureOf(policies.set(tenant, { [LOG]: "20 hours" }, staff))
      assert.strictEqual(error._tag, "RetentionStoreError")
      const policy = yield* policies.get(tenant, LOG)
      assert.strictEqual(policy.source, "platform", "the change is not in")
      assert.isTrue(Duration.equals(policy.period, Duration.hours(10)))
      const log = yield* logOf(tenant)
      assert.deepStrictEqual(log.map(({ action, resource }) => [action, resource]), [
        ["retention.policy.changed", LOG],
        ["retention.policy.change-failed", LOG]
      ])
      assert.deepStrictEqual(log[1]!.details, { category: LOG, entry: log[0]!.index })
    })))

  it.effect("a hold whose commit fails leaves its entry and then its failed outcome, and no hold", () =>
    Effect.scoped(Effect.gen(function*() {
      const holds = yield* LegalHold.LegalHolds
      const tenant = yield* TenantId.make
      yield* failCommitsOf(tenant, "lawful_retention_holds")
      const error = yield* failureOf(holds.place(tenant, { category: LOG, reason: "Case 17c" }, staff))
      assert.strictEqual(error._tag, "RetentionStoreError")
      assert.deepStrictEqual(yield* holds.list(tenant), [], "no hold is placed")
      const log = yield* logOf(tenant)
      assert.deepStrictEqual(log.map(({ action }) => action), ["retention.hold.placed", "retention.hold.place-failed"])
      const holdId = log[0]!.resource!
      assert.strictEqual(log[1]!.resource, holdId)
      assert.deepStrictEqual(log[1]!.details, { holdId, category: LOG, scope: "category", entry: log[0]!.index })
    })))

  it.effect("a release whose commit fails leaves its entry and then its failed outcome, and the hold in force", () =>
    Effect.scoped(Effect.gen(function*() {
      const holds = yield* LegalHold.LegalHolds
      const tenant = yield* TenantId.make
      const hold = yield* holds.place(tenant, { reason: "Case 17c" }, staff)
      yield* failCommitsOf(tenant, "lawful_retention_holds", "UPDATE")
      const error = yield* failureOf(holds.release(tenant, hold.holdId, staff))
      assert.strictEqual(error._tag, "RetentionStoreError")
      assert.isTrue((yield* holds.get(tenant, hold.holdId)).active, "the hold stays in force")
      const log = yield* logOf(tenant)
      assert.deepStrictEqual(log.map(({ action, resource }) => [action, resource]), [
        ["retention.hold.placed", hold.holdId],
        ["retention.hold.released", hold.holdId],
        ["retention.hold.release-failed", hold.holdId]
      ])
      assert.deepStrictEqual(log[2]!.details, { holdId: hold.holdId, category: null, scope: "tenant", entry: log[1]!.index })
    })))
})

sqlSuite("Review17c the audit log on the same database, a commit that fails", sqlStack, (it) => {
  // The entry is written in the change's transaction: the failed commit takes it too, and no
  // outcome is appended. The commit's failure is the operation's typed error (it was a defect).
  it.effect("a policy change, a hold or a release whose commit fails leaves no entry and changes nothing", () =>
    Effect.scoped(Effect.gen(function*() {
      const policies = yield* RetentionPolicies
      const holds = yield* LegalHold.LegalHolds
      const tenant = yield* TenantId.make
      const hold = yield* holds.place(tenant, { reason: "Case 17c" }, staff)
      yield* failCommitsOf(tenant, "lawful_retention_policies")
      yield* failCommitsOf(tenant, "lawful_retention_holds")
      yield* failCommitsOf(tenant, "lawful_retention_holds", "UPDATE")

      assert.strictEqual((yield* failureOf(policies.set(tenant, { [LOG]: "20 hours" }, staff)))._tag, "RetentionStoreError")
      assert.strictEqual((yield* policies.get(tenant, LOG)).source, "platform")
      assert.strictEqual((yield* failureOf(holds.place(tenant, { reason: "Case 17c, again" }, staff)))._tag, "RetentionStoreError")
      assert.strictEqual((yield* failureOf(holds.release(tenant, hold.holdId, staff)))._tag, "RetentionStoreError")
      assert.deepStrictEqual((yield* holds.list(tenant)).map((h) => [h.holdId, h.active]), [[hold.holdId, true]])
      assert.deepStrictEqual((yield* logOf(tenant)).map(({ action }) => action), ["retention.hold.placed"])
    })))
})

/** Armed, the next transaction of the retention stores commits, then fails as if its answer was lost. */
const lostAnswer = { armed: false }

/** The `SqlClient` in context, its transactions failing after their commit when `lostAnswer` is armed. */
const answersLost = Layer.effect(
  SqlClient.SqlClient,
  Effect.map(SqlClient.SqlClient, (client) => {
    const wrapped: SqlClient.SqlClient = Object.assign(
      (...args: Parameters<SqlClient.SqlClient>) => client(...args),
      client,
      {
        withTransaction: <R, E, A>(effect: Effect.Effect<A, E, R>) =>
          Effect.tap(client.withTransaction(effect), () => {
            if (!lostAnswer.armed) return Effect.void
            lostAnswer.armed = false
            return Effect.die(new SqlError({ cause: "injected", message: "the connection was lost at COMMIT" }))
          }),
        withoutTransforms: () => wrapped
      }
    )
    return wrapped
  })
)

const lostAnswerStack = Layer.mergeAll(Retention.layerSql({ batchSize }).pipe(Layer.provide(answersLost)), recordsSql).pipe(
  Layer.provideMerge(RetentionTarget.layer),
  Layer.provideMerge(auditElsewhere)
)

sqlSuite("Review17c the audit log on a database of its own, a commit whose answer is lost", lostAnswerStack, (it) => {
  // A commit may go through and fail to say so: the change is read again, found in, and returned.
  it.effect("a policy change, a hold or a release committed without answer succeeds, with its entry alone", () =>
    Effect.gen(function*() {
      const policies = yield* RetentionPolicies
      const holds = yield* LegalHold.LegalHolds
      const tenant = yield* TenantId.make

      lostAnswer.armed = true
      const [policy] = yield* policies.set(tenant, { [LOG]: "20 hours" }, staff)
      assert.isFalse(lostAnswer.armed, "the commit's answer was lost")
      assert.isTrue(Duration.equals(policy!.period, Duration.hours(20)))
      assert.isTrue(Duration.equals((yield* policies.get(tenant, LOG)).period, Duration.hours(20)))

      lostAnswer.armed = true
      const hold = yield* holds.place(tenant, { reason: "Case 17c" }, staff)
      assert.isFalse(lostAnswer.armed)
      assert.deepStrictEqual((yield* holds.list(tenant)).map((h) => h.holdId), [hold.holdId])

      lostAnswer.armed = true
      const released = yield* holds.release(tenant, hold.holdId, staff)
      assert.isFalse(lostAnswer.armed)
      assert.isFalse(released.active)
      assert.isFalse((yield* holds.get(tenant, hold.holdId)).active)

      assert.deepStrictEqual((yield* logOf(tenant)).map(({ action }) => action), [
        "retention.policy.changed",
        "retention.hold.placed",
        "retention.hold.released"
      ])
    }).pipe(Effect.ensuring(Effect.sync(() => {
      lostAnswer.armed = false
    }))))
})
