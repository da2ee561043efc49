import { assert } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SubjectId from "@lawful/core/SubjectId"
import * as TenantId from "@lawful/core/TenantId"
import { contractSuite, sqlSuite } from "@lawful/core/testing"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as AuditLog from "../src/AuditLog.js"
import * as AuditStore from "../src/AuditStore.js"
import * as CheckpointPublisher from "../src/CheckpointPublisher.js"
import { auditMemory, auditSql } from "../src/testing.js"
import { event } from "./AuditLogSuite.js"
import { blockedBy, waitFor } from "./fixtures/blocking.js"

const erasure = { kind: "system", id: "erasure" } as const

// The backend's id of the connection the calling fibre's statements run on (on PostgreSQL only).
const backendPid = Effect.flatMap(Effect.serviceOption(SqlClient.SqlClient), (sql) =>
  Option.isNone(sql)
    ? Effect.succeed(0)
    : Effect.map(Effect.orDie(sql.value<{ pid: number }>`SELECT pg_backend_pid() AS pid`), ([row]) => row!.pid))

// Done, or (on PostgreSQL) waiting for a lock `pid` holds.
const doneOrBlockedBy = <A, E>(fiber: Fiber.Fiber<A, E>, pid: number) =>
  waitFor(Effect.gen(function*() {
    if (Option.isSome(yield* Fiber.poll(fiber))) return Option.some(true)
    const sql = yield* Effect.serviceOption(SqlClient.SqlClient)
    if (Option.isNone(sql)) return Option.none()
    const blocked = yield* Effect.orDie(Effect.provideService(blockedBy([pid]), SqlClient.SqlClient, sql.value))
    return blocked.length > 0 ? Option.some(true) : Option.none()
  }))

// On SQL only PostgreSQL (CI sets TEST_DATABASE_URL) can catch a regression: PGlite, one session, passes without the fix.
contractSuite("AuditLog.delinkSubject racing appends", {
  memory: auditMemory,
  // The database stays in the output too: the tests watch its connections.
  sql: auditSql.pipe(Layer.provideMerge(Layer.context<SqlClient.SqlClient>()))
}, (it, backend) => {
  it.effect("an append made while a de-link is being recorded comes after the de-link's entry: no entry before it names the subject", () =>
    Effect.scoped(Effect.gen(function*() {
      const store = yield* AuditStore.AuditStore
      // The de-link's entry is held back until the append has had every chance to be written.
      const recording = yield* Deferred.make<number>()
      const proceed = yield* Deferred.make<void>()
      // Set for the append that races the de-link: it reached the store.
      let appending: Deferred.Deferred<void> | undefined
      const gated = AuditStore.AuditStore.of({
        ...store,
        append: (tenant, build) =>
          Effect.zipRight(Effect.suspend(() => appending ? Deferred.succeed(appending, void 0) : Effect.void), store.append(tenant, build)),
        delinkSubject: (tenant, subject, record) =>
          store.delinkSubject(tenant, subject, (count) =>
            Effect.gen(function*() {
              yield* Deferred.succeed(recording, yield* backendPid)
              yield* Deferred.await(proceed)
              return yield* record!(count)
            }))
      })
      const log = yield* AuditLog.make().pipe(
        Effect.provideService(AuditStore.AuditStore, gated),
        Effect.provide(Layer.merge(AuditLog.AuditSigner.layerRandom, CheckpointPublisher.layerMemory))
      )
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      yield* log.append(tenant, event(0, { subject }))

      const delink = yield* Effect.fork(log.delinkSubject(tenant, subject, erasure))
      const pid = yield* Deferred.await(recording)
      const reached = yield* Deferred.make<void>()
      appending = reached
      const append = yield* Effect.fork(log.append(tenant, event(1, { subject })))
      yield* Deferred.await(reached)
      // On PostgreSQL the append waits for the de-link's lock, or, without one, is written.
      if (backend === "postgres") yield* doneOrBlockedBy(append, pid)
      yield* Deferred.succeed(proceed, void 0)

      assert.strictEqual(yield* Fiber.join(delink), 1)
      const appended = yield* Fiber.join(append)
      const entries = (yield* log.query(tenant, {})).entries
      const delinked = entries.find((e) => e.action === "audit.subject.delinked")!
      const naming = entries.filter((e) => Option.isSome(e.subject)).map((e) => e.index)
      assert.deepStrictEqual(naming.filter((index) => index < delinked.index), [], "an entry before the de-link's names the subject")
      // The append came after the de-link: its entry names the subject, as any later entry does.
      assert.isAbove(appended.index, delinked.index)
      assert.deepStrictEqual(naming, [appended.index])
      assert.deepStrictEqual(Option.map(delinked.details, (d) => d.value), Option.some({ entries: 1 }))
      const report = yield* log.verify(tenant)
      assert.isTrue(report.ok, report.problems.join("; "))
    })))

  it.effect("a de-link with no entry to record, on a tenant without a log, leaves no log behind", () =>
    Effect.gen(function*() {
      const store = yield* AuditStore.AuditStore
      const tenant = yield* TenantId.make
      assert.strictEqual(yield* store.delinkSubject(tenant, yield* SubjectId.make), 0)
      assert.notInclude(yield* store.tenants, tenant)
      assert.strictEqual((yield* store.state(tenant)).frontier.size, 0)
      const log = yield* AuditLog.AuditLog
      assert.strictEqual((yield* log.append(tenant, event(0))).index, 0)
      assert.isTrue((yield* log.verify(tenant)).ok)
    }))
})

// Only PostgreSQL (CI sets TEST_DATABASE_URL) can catch a regression: PGlite, one session, passes without the fix.
sqlSuite("AuditLog.delinkSubject racing an append's open transaction", auditSql, (it, backend) => {
  for (const history of [true, false]) {
    it.effect(
      `an append whose transaction is open when the de-link runs commits before it and is de-linked (${
        history ? "a log with entries" : "the log's first entry"
      })`,
      () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const log = yield* AuditLog.AuditLog
          const tenant = yield* TenantId.make
          const subject = yield* SubjectId.make
          if (history) yield* log.append(tenant, event(0, { subject }))

          // One connection holds the append's transaction open (and with it the log's state row, or
          // the log's first row, not yet committed) until the de-link has run as far as it can.
          const holding = yield* Deferred.make<number>()
          const release = yield* Deferred.make<void>()
          const append = yield* Effect.fork(sql.withTransaction(Effect.gen(function*() {
            const appended = yield* log.append(tenant, event(1, { subject }))
            yield* Deferred.succeed(holding, yield* backendPid)
            yield* Deferred.await(release)
            return appended
          })))
          const pid = yield* Deferred.await(holding)
          // The de-link, on another connection: it waits for the append's lock (on PGlite, a single
          // session, for the transaction to end).
          const delink = yield* Effect.fork(log.delinkSubject(tenant, subject, erasure))
          if (backend === "postgres") yield* doneOrBlockedBy(delink, pid)
          yield* Deferred.succeed(release, void 0)

          const appended = yield* Fiber.join(append)
          const count = yield* Fiber.join(delink)
          const entries = (yield* log.query(tenant, {})).entries
          const delinked = entries.find((e) => e.action === "audit.subject.delinked")!
          assert.isBelow(appended.index, delinked.index)
          assert.deepStrictEqual((yield* log.query(tenant, { subject })).entries.map((e) => e.index), [])
          assert.strictEqual(count, history ? 2 : 1)
          assert.deepStrictEqual(Option.map(delinked.details, (d) => d.value), Option.some({ entries: count }))
          const report = yield* log.verify(tenant)
          assert.isTrue(report.ok, report.problems.join("; "))
        })
    )
  }
})
