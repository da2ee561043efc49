import type { Actor } from "@lawful/audit-trail/AuditEvent"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Database from "@lawful/core/Database"
import * as TenantId from "@lawful/core/TenantId"
import { coreMemory, coreSql } from "@lawful/core/testing"
import type * as Vault from "@lawful/core/Vault"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { randomUUID } from "node:crypto"
import type * as ChangeNotice from "../src/ChangeNotice.js"
import * as Dpa from "../src/Dpa.js"
import type * as Processor from "../src/Processor.js"
import type * as ProcessingRecord from "../src/ProcessingRecord.js"
import { ProcessorRegistry } from "../src/ProcessorRegistry.js"
import * as ProcessorRegistryModule from "../src/ProcessorRegistry.js"
import type * as Questionnaire from "../src/Questionnaire.js"
import * as TenantNotifier from "../src/TenantNotifier.js"
import * as AuditRecorder from "./AuditRecorder.js"

/** The Vault whose platform key makes the audit log's reason digests, its keys in memory (core's test services). */
export const vaultMemory: Layer.Layer<Vault.Vault> = coreMemory.pipe(Layer.orDie)

/** The Vault with its keys on the test's database, as `Database.layer` gives every package (core's test services). */
export const vaultSql: Layer.Layer<Vault.Vault, Layer.Layer.Error<typeof coreSql>, SqlClient.SqlClient> = coreSql

// The audit log is the test double until the real AuditLog layers are wired in.
const support = Layer.mergeAll(AuditRecorder.layer, TenantNotifier.layerMemory)

/** The registry on each backend, for `contractSuite`, its audit log the in-memory test double. */
export const layers = {
  memory: ProcessorRegistryModule.layerMemory.pipe(Layer.provideMerge(Layer.merge(support, vaultMemory))),
  // The Vault's keys on the same database: the platform's key is made outside the registry's transaction.
  sql: ProcessorRegistryModule.layerSql.pipe(Layer.provideMerge(Layer.merge(support, vaultSql)))
}

/**
 * The registry with its audit log on the same database, as the server keeps them: a change and
 * its entries commit, or roll back, together.
 */
export const layerSqlWithLog = ProcessorRegistryModule.layerSql.pipe(
  Layer.provideMerge(Layer.mergeAll(AuditRecorder.layerSql, TenantNotifier.layerMemory, vaultSql))
)

/** Another server: a registry of its own (its own lock) over the same database and log. */
export const otherServer = Layer.build(Layer.fresh(ProcessorRegistryModule.layerSql)).pipe(
  Effect.map(Context.get(ProcessorRegistry))
)

export const staff: Actor = { kind: "staff", id: "staff-ada" }
export const tenantKey: Actor = { kind: "api-key", id: "key-1" }

/** 15 January 2026, 09:00 UTC: every test starts here. */
export const start = Date.UTC(2026, 0, 15, 9, 0, 0)
const dayMillis = 24 * 60 * 60 * 1000

export const atStart = TestClock.setTime(start)

/** The date `offset` days from the start, as `YYYY-MM-DD`. */
export const dayOf = (offset: number): string => new Date(start + offset * dayMillis).toISOString().slice(0, 10)

export const processorInput = (
  overrides: Partial<typeof Processor.ProcessorInput.Encoded> = {}
): typeof Processor.ProcessorInput.Encoded => ({
  legalName: "Mailhost GmbH",
  contact: { name: "Privacy Team", email: "privacy@mailhost.example" },
  services: ["email delivery"],
  role: { _tag: "Processor" },
  servesTenants: false,
  purposes: ["delivering email"],
  dataCategories: ["contact.email"],
  subjectCategories: ["contacts"],
  locations: [{ country: "DE", description: "primary data centre" }],
  ...overrides
})

export const dpaInput = (overrides: Partial<typeof Dpa.DpaInput.Encoded> = {}): typeof Dpa.DpaInput.Encoded => ({
  version: "2026-01",
  parties: ["Lawful Platform Ltd", "Mailhost GmbH"],
  signedOn: dayOf(-1),
  documentSha256: Dpa.hashDocument(new TextEncoder().encode("the signed agreement")),
  reviewDue: dayOf(365),
  ...overrides
})

export const questionnaireInput = (id: string, version = 1): typeof Questionnaire.QuestionnaireInput.Encoded => ({
  id,
  version,
  title: "Processor security questionnaire",
  passMark: 0.7,
  questions: [
    {
      _tag: "YesNo",
      id: "encryption-at-rest",
      text: "Is personal data encrypted at rest?",
      weight: 3,
      expected: true,
      critical: true
    },
    { _tag: "YesNo", id: "iso27001", text: "Do you hold an ISO/IEC 27001 certification?", weight: 2, expected: true },
    {
      _tag: "Choice",
      id: "breach-notice",
      text: "How soon do you notify us of a personal data breach?",
      options: [
        { value: "24h", label: "Within 24 hours", points: 3 },
        { value: "72h", label: "Within 72 hours", points: 2 },
        { value: "later", label: "Later", points: 0 }
      ]
    },
    { _tag: "Text", id: "sub-processors", text: "Which sub-processors do you use?", required: true }
  ]
})

export const passingAnswers = { "encryption-at-rest": true, iso27001: true, "breach-notice": "72h", "sub-processors": "none" }
/** Fails the critical question, whatever the score. */
export const failingAnswers = { "encryption-at-rest": false, iso27001: true, "breach-notice": "24h", "sub-processors": "none" }

export const owner: typeof ProcessingRecord.RecordOwner.Encoded = {
  name: "Lawful Platform Ltd",
  address: "1 Example Street, Dublin, Ireland",
  contact: "privacy@lawful.example",
  dataProtectionOfficer: "dpo@lawful.example",
  measures: [
    { area: "Encryption", description: "Personal data sealed with AES-256-GCM under a key per subject" },
    { area: "Access control", description: "Staff access to tenant data needs a time-limited, logged grant" }
  ]
}

export const uniqueId = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`

/** A questionnaire of its own for a test, published. */
export const publishQuestionnaire = Effect.gen(function*() {
  const registry = yield* ProcessorRegistry
  return yield* registry.publishQuestionnaire(staff, questionnaireInput(uniqueId("security")))
})

/**
 * Starts the review of a registered processor, records its DPA and an assessment decided
 * satisfactory, whose next review is due on `nextReviewDue` when given.
 */
export const completeReview = (
  id: Processor.ProcessorId,
  options: { readonly nextReviewDue?: string; readonly dpa?: Partial<typeof Dpa.DpaInput.Encoded> } = {}
) =>
  Effect.gen(function*() {
    const registry = yield* ProcessorRegistry
    const questionnaire = yield* publishQuestionnaire
    yield* registry.startReview(staff, id)
    yield* registry.recordDpa(staff, id, dpaInput(options.dpa))
    const assessment = yield* registry.submitAssessment(staff, id, {
      questionnaireId: questionnaire.id,
      questionnaireVersion: questionnaire.version,
      answers: passingAnswers
    })
    yield* registry.decideAssessment(staff, assessment.id, {
      outcome: "satisfactory",
      notes: "Meets our baseline",
      ...(options.nextReviewDue ? { nextReviewDue: options.nextReviewDue } : {})
    })
  })

/** Takes a registered processor through review, DPA, assessment (and notice) to approval. */
export const approveFully = (
  id: Processor.ProcessorId,
  options: { readonly dpa?: Partial<typeof Dpa.DpaInput.Encoded> } = {}
) =>
  Effect.gen(function*() {
    const registry = yield* ProcessorRegistry
    yield* completeReview(id, options)
    const processor = yield* registry.processor(id)
    if (processor.servesTenants) {
      // A tenant of its own: once any tenant has been told of a change, a notice names one.
      yield* registry.announce(staff, { processorId: id, audience: [yield* TenantId.make] })
      yield* TestClock.adjust("30 days")
    }
    return yield* registry.approve(staff, id)
  })

/** Registers and approves a processor. */
export const approvedProcessor = (
  overrides: Partial<typeof Processor.ProcessorInput.Encoded> = {},
  options: { readonly dpa?: Partial<typeof Dpa.DpaInput.Encoded> } = {}
) =>
  Effect.gen(function*() {
    const registry = yield* ProcessorRegistry
    const processor = yield* registry.register(staff, processorInput(overrides))
    return yield* approveFully(processor.id, options)
  })

/** Another server's clock, `millis` since the epoch: it may run behind this one's. */
export const clockAt = (millis: number): Clock.Clock => ({
  [Clock.ClockTypeId]: Clock.ClockTypeId,
  unsafeCurrentTimeMillis: () => millis,
  unsafeCurrentTimeNanos: () => BigInt(millis) * 1_000_000n,
  currentTimeMillis: Effect.succeed(millis),
  currentTimeNanos: Effect.succeed(BigInt(millis) * 1_000_000n),
  sleep: () => Effect.void
})

/** A processor of tenants' data, reviewed, announced to `tenant`, its notice's period ended. */
export const announcedAndDue = (tenant: TenantId.TenantId) =>
  Effect.gen(function*() {
    const registry = yield* ProcessorRegistry
    const processor = yield* registry.register(staff, processorInput({ servesTenants: true }))
    yield* completeReview(processor.id)
    const { notice } = yield* registry.announce(staff, { processorId: processor.id, audience: [tenant] })
    yield* TestClock.adjust("30 days")
    return { processor, notice }
  })

// Whether the session `pid` holds a lock another session waits for. Asked on a connection of the
// pool: a transaction keeps one view of `pg_stat_activity` until it ends.
const isBlocking = (sql: SqlClient.SqlClient, pid: number) =>
  Effect.gen(function*() {
    const [row] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE ${pid}::int = ANY (pg_blocking_pids(pid))`
    return row!.n > 0
  }).pipe(Database.outsideTransaction)

/** Polls until `fiber` is done or waits for a lock of PostgreSQL session `pid`: whether it waited. */
export const waitsFor = <A, E>(sql: SqlClient.SqlClient, fiber: Fiber.Fiber<A, E>, pid: number) =>
  Effect.gen(function*() {
    for (let poll = 0; poll < 5000; poll++) {
      if (Option.isSome(yield* Fiber.poll(fiber))) return false
      if (yield* isBlocking(sql, pid)) return true
    }
    return false
  })

/**
 * Another server (`other`) records `tenant`'s objection to `notice` in a transaction the test
 * holds open on a connection of its own: written, not committed, its processor's row held shared.
 * Returns that session's id (`holder`, for `waitsFor`) and `commit`, which releases it.
 */
export const objectionHeldOpen = (
  other: ProcessorRegistry["Type"],
  tenant: TenantId.TenantId,
  notice: ChangeNotice.ChangeNotice
) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const recorded = yield* Deferred.make<number>()
    const release = yield* Deferred.make<void>()
    const objecting = yield* Effect.fork(sql.withTransaction(Effect.gen(function*() {
      yield* other.object(tenantKey, tenant, notice.id, { reason: "not for our contacts" }).pipe(
        Effect.withClock(clockAt(notice.objectionDeadline.getTime() - 60_000))
      )
      const [row] = yield* sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`
      yield* Deferred.succeed(recorded, row!.pid)
      yield* Deferred.await(release)
    })))
    const holder = yield* Deferred.await(recorded)
    return { holder, commit: Effect.zipRight(Deferred.succeed(release, undefined), Fiber.join(objecting)) }
  })

/**
 * Forks `other` (another server's operation, on a connection of its own) to start just before
 * this server's next audit append: between a change's check and its commit, while the change's
 * transaction holds its locks. With `watch: true` (PostgreSQL, two sessions), the append goes on
 * once `other` waits for a lock of the transaction's session, or is done, `waited` tells
 * whether it waited and `ended` whether it was done before the append went on, the transaction
 * still holding its locks. With `watch: false` (PGlite, one session, which the transaction holds),
 * the append goes on at once and `waited` and `ended` are false.
 */
export const otherAtNextAppend = <A, E, R>(other: Effect.Effect<A, E, R>, options: { readonly watch: boolean }) =>
  Effect.gen(function*() {
    const recorder = yield* AuditRecorder.AuditRecorder
    const sql = yield* SqlClient.SqlClient
    const go = yield* Deferred.make<void>()
    const fiber = yield* Effect.fork(Effect.zipRight(Deferred.await(go), other))
    const waited = yield* Deferred.make<boolean>()
    const ended = yield* Deferred.make<boolean>()
    yield* recorder.beforeNextAppend(Effect.gen(function*() {
      if (!options.watch) {
        yield* Deferred.succeed(go, undefined)
        yield* Deferred.succeed(waited, false)
        yield* Deferred.succeed(ended, false)
        return
      }
      const [row] = yield* sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`
      yield* Deferred.succeed(go, undefined)
      yield* Deferred.succeed(waited, yield* waitsFor(sql, fiber, row!.pid))
      yield* Deferred.succeed(ended, Option.isSome(yield* Fiber.poll(fiber)))
    }))
    return { fiber, waited: Deferred.await(waited), ended: Deferred.await(ended) }
  })

/** The actions of the entries of `tenant`'s log (the platform's by default) about `id`, in order. */
export const actionsAbout = (id: string, tenant: TenantId.TenantId = ProcessorRegistryModule.platformTenant) =>
  Effect.flatMap(AuditRecorder.AuditRecorder, (recorder) =>
    Effect.map(recorder.about(tenant, id), (events) => events.map((e) => e.action)))
