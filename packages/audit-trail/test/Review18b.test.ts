import { assert, layer } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SubjectId from "@lawful/core/SubjectId"
import * as TenantId from "@lawful/core/TenantId"
import { sqlSuite } from "@lawful/core/testing"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as AuditLog from "../src/AuditLog.js"
import * as AuditStore from "../src/AuditStore.js"
import * as CheckpointPublisher from "../src/CheckpointPublisher.js"
import { auditMemory, auditSql } from "../src/testing.js"
import { event } from "./AuditLogSuite.js"
import { blockedBy, waitFor } from "./fixtures/blocking.js"

type Store = AuditStore.AuditStore["Type"]

const erasure = { kind: "system", id: "erasure" } as const
const retention = { kind: "system", id: "retention" } as const

// A log over the store with some of its operations replaced.
const logWith = (store: Store, overrides: Partial<Store>) =>
  AuditLog.make().pipe(
    Effect.provideService(AuditStore.AuditStore, AuditStore.AuditStore.of({ ...store, ...overrides })),
    Effect.provide(Layer.merge(AuditLog.AuditSigner.layerRandom, CheckpointPublisher.layerMemory))
  )

// A redaction whose entry is held back: `recording` is completed (with the backend's id of its
// connection, on PostgreSQL) once the removal is done, and the entry waits for `proceed`.
const heldRedaction = (store: Store) =>
  Effect.gen(function*() {
    const recording = yield* Deferred.make<number>()
    const proceed = yield* Deferred.make<void>()
    const redactDetails: Store["redactDetails"] = (tenant, options, record) =>
      store.redactDetails(tenant, options, (redacted) =>
        Effect.gen(function*() {
          yield* Deferred.succeed(recording, yield* backendPid)
          yield* Deferred.await(proceed)
          return yield* record!(redacted)
        }))
    return { recording, proceed, redactDetails }
  })

// The backend's id of the connection the calling fibre's statements run on (on PostgreSQL only).
const backendPid = Effect.flatMap(Effect.serviceOption(SqlClient.SqlClient), (sql) =>
  Option.isNone(sql)
    ? Effect.succeed(0)
    : Effect.map(Effect.orDie(sql.value<{ pid: number }>`SELECT pg_backend_pid() AS pid`), ([row]) => row!.pid))

// An append of nothing that notes, when it is made, its name in `order`: it holds the log as any
// append does.
const probe = (store: Store, tenant: TenantId.TenantId, order: Array<string>, name: string) =>
  store.append(tenant, (state) => {
    order.push(name)
    return { entries: [], nodes: [], state, result: undefined }
  })

// Only PostgreSQL (CI sets TEST_DATABASE_URL) can catch a regression here: PGlite is one session,
// where the de-link waits for the redaction's transaction to end whatever it locks.
sqlSuite("AuditLog redaction with an action prefix racing a de-link", auditSql, (it, backend) => {
  it.effect("a redaction with a prefix and a de-link of a subject it redacts both complete, one after the other", () =>
    Effect.scoped(Effect.gen(function*() {
      const store = yield* AuditStore.AuditStore
      const held = yield* heldRedaction(store)
      const log = yield* logWith(store, { redactDetails: held.redactDetails })
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      yield* log.append(tenant, event(0, { subject }))
      yield* TestClock.adjust("1 hour")

      // The redaction has redacted the subject's entry (its row locked until it commits), and its
      // own entry waits.
      const redaction = yield* Effect.fork(
        log.redactDetails(tenant, { before: new Date(1_000), actionPrefix: "consent.", actor: retention, limit: 10 })
      )
      const pid = yield* Deferred.await(held.recording)
      // The de-link, on another connection, waits for a lock the redaction holds: the redactions'
      // lock, or (were it not taken) the entry's row, while holding the log's state row the
      // redaction's entry needs.
      const delink = yield* Effect.fork(log.delinkSubject(tenant, subject, erasure))
      if (backend === "postgres") {
        yield* waitFor(Effect.map(Effect.orDie(blockedBy([pid])), (pids) => pids.length > 0 ? Option.some(true) : Option.none()))
      }
      yield* Deferred.succeed(held.proceed, void 0)

      assert.deepStrictEqual(yield* Fiber.join(redaction), [0])
      assert.strictEqual(yield* Fiber.join(delink), 1)
      const entries = (yield* log.query(tenant, {})).entries
      assert.deepStrictEqual(entries.map((e) => e.action), ["consent.recorded", "audit.details.redacted", "audit.subject.delinked"])
      assert.isTrue(Option.isNone(entries[0]!.details) && Option.isNone(entries[0]!.subject))
      const report = yield* log.verify(tenant)
      assert.isTrue(report.ok, report.problems.join("; "))
    })))
})

layer(auditMemory)("AuditStore.layerMemory: the log's lock", (it) => {
  it.effect("an append made while a redaction is being recorded comes after the redaction's entry", () =>
    Effect.scoped(Effect.gen(function*() {
      const store = yield* AuditStore.AuditStore
      const held = yield* heldRedaction(store)
      // Set for the append that races the redaction: it reached the store.
      let appending: Deferred.Deferred<void> | undefined
      const log = yield* logWith(store, {
        redactDetails: held.redactDetails,
        append: (tenant, build) =>
          Effect.zipRight(Effect.suspend(() => appending ? Deferred.succeed(appending, void 0) : Effect.void), store.append(tenant, build))
      })
      const tenant = yield* TenantId.make
      yield* log.append(tenant, event(0))
      yield* TestClock.adjust("1 hour")

      const redaction = yield* Effect.fork(log.redactDetails(tenant, { before: new Date(1_000), actor: retention, limit: 10 }))
      yield* Deferred.await(held.recording)
      const reached = yield* Deferred.make<void>()
      appending = reached
      const append = yield* Effect.fork(log.append(tenant, event(1)))
      yield* Deferred.await(reached)
      yield* Deferred.succeed(held.proceed, void 0)

      assert.deepStrictEqual(yield* Fiber.join(redaction), [0])
      const appended = yield* Fiber.join(append)
      const entries = (yield* log.query(tenant, {})).entries
      const redacted = entries.find((e) => e.action === "audit.details.redacted")!
      assert.isAbove(appended.index, redacted.index)
      const report = yield* log.verify(tenant)
      assert.isTrue(report.ok, report.problems.join("; "))
    })))

  it.effect("a fibre a de-link's record forks waits for the log like any other once the de-link is over", () =>
    Effect.gen(function*() {
      const store = yield* AuditStore.AuditStore
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      const order: Array<string> = []
      // The first de-link's record forks a daemon that appends when told, after that de-link.
      const go = yield* Deferred.make<void>()
      const reached = yield* Deferred.make<void>()
      const forked = yield* Deferred.make<Fiber.RuntimeFiber<void, unknown>>()
      yield* store.delinkSubject(tenant, subject, () =>
        Effect.flatMap(
          Effect.forkDaemon(Deferred.await(go).pipe(Effect.zipRight(Deferred.succeed(reached, void 0)), Effect.zipRight(probe(store, tenant, order, "forked")))),
          (fiber) => Deferred.succeed(forked, fiber)
        ))
      // A second de-link holds the log, its entry held back.
      const recording = yield* Deferred.make<void>()
      const proceed = yield* Deferred.make<void>()
      const second = yield* Effect.fork(store.delinkSubject(tenant, subject, () =>
        Deferred.succeed(recording, void 0).pipe(
          Effect.zipRight(Deferred.await(proceed)),
          Effect.zipRight(probe(store, tenant, order, "second de-link's entry"))
        )))
      yield* Deferred.await(recording)
      yield* Deferred.succeed(go, void 0)
      yield* Deferred.await(reached)
      yield* Deferred.succeed(proceed, void 0)

      yield* Fiber.join(second)
      yield* Fiber.join(yield* Deferred.await(forked))
      assert.deepStrictEqual(order, ["second de-link's entry", "forked"])
    }))

  it.effect("a fibre that joins one forked in a de-link's record does not take over the de-link's hold", () =>
    Effect.gen(function*() {
      const store = yield* AuditStore.AuditStore
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      const order: Array<string> = []
      // The de-link's record forks a fibre and hands it over, then waits before its entry.
      const forked = yield* Deferred.make<Fiber.RuntimeFiber<void>>()
      const proceed = yield* Deferred.make<void>()
      const delink = yield* Effect.fork(store.delinkSubject(tenant, subject, () =>
        Effect.forkDaemon(Effect.void).pipe(
          Effect.flatMap((fiber) => Deferred.succeed(forked, fiber)),
          Effect.zipRight(Deferred.await(proceed)),
          Effect.zipRight(probe(store, tenant, order, "de-link's entry"))
        )))
      // This fibre, which holds nothing, joins it, and then appends (in a fibre of its own).
      yield* Fiber.join(yield* Deferred.await(forked))
      const reached = yield* Deferred.make<void>()
      const append = yield* Effect.fork(Effect.zipRight(Deferred.succeed(reached, void 0), probe(store, tenant, order, "append")))
      yield* Deferred.await(reached)
      yield* Deferred.succeed(proceed, void 0)

      yield* Fiber.join(delink)
      yield* Fiber.join(append)
      assert.deepStrictEqual(order, ["de-link's entry", "append"])
    }))
})
