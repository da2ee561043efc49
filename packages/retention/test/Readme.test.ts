// The README's examples, run as the README shows them: the mailer's categories registered over
// their table, then a tenant's policy, a dry run and a sweep on the database from configuration
// (PGlite in a temporary LAWFUL_DATA_DIR), and the hourly sweeps of a server, at fixed times.
import { assert, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { AuditLog, AuditStore, CheckpointPublisher } from "@lawful/audit-trail"
import { Database, Migrations, TenantId } from "@lawful/core"
import { pgliteLayer, readmeShows } from "@lawful/core/testing"
import { Retention, RetentionPolicy, Sweeper } from "@lawful/retention"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Fiber from "effect/Fiber"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as TestClock from "effect/TestClock"
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { RetentionTarget } from "@lawful/core"
import { Duration, Effect } from "effect"

// readme:start table
// The mailer's table: one row per message sent. Recorded in lawful_mailer_migrations.
export const migrate = Migrations.run("mailer", {
  "0001_messages": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`
      CREATE TABLE lawful_mailer_messages (
        tenant_id uuid NOT NULL,
        id integer NOT NULL,
        subject_id uuid,
        sent_at timestamptz NOT NULL,
        preview_sealed bytea,
        PRIMARY KEY (tenant_id, id)
      );
      CREATE INDEX lawful_mailer_messages_tenant_time ON lawful_mailer_messages (tenant_id, sent_at);
      CREATE INDEX lawful_mailer_messages_time ON lawful_mailer_messages (sent_at);
    `)
})
// readme:end table

// readme:start register

// In the mailer: its transactional log, one row per message sent, deleted after a year
// by default, never after two.
export const logRetention = RetentionTarget.register(
  Effect.map(
    RetentionTarget.sqlTable("mailer.transactional-log", {
      table: "lawful_mailer_messages",
      time: "sent_at",
      subject: "subject_id"
    }),
    (storage): RetentionTarget.RetentionTarget => ({
      ...storage,
      id: "mailer.transactional-log",
      description: "Messages sent: recipient, template, status",
      action: "delete",
      allowForever: false,
      defaultPeriod: Duration.days(365),
      maxPeriod: Duration.days(730),
      linksSubjects: true
    })
  )
)

// Its message previews, redacted after 7 days by default, never after 30,
// and never kept longer than their transactional log.
export const previewRetention = RetentionTarget.register(
  Effect.map(
    RetentionTarget.sqlTable("mailer.message-preview", {
      table: "lawful_mailer_messages",
      time: "sent_at",
      subject: "subject_id",
      redact: ["preview_sealed"]
    }),
    (storage): RetentionTarget.RetentionTarget => ({
      ...storage,
      id: "mailer.message-preview",
      description: "Previews of message content",
      action: "redact",
      allowForever: false,
      defaultPeriod: Duration.days(7),
      maxPeriod: Duration.days(30),
      parent: "mailer.transactional-log",
      linksSubjects: true
    })
  )
)
// readme:end register

// readme:start sweep
const staff = { kind: "staff", id: "staff-42" } as const

const program = (tenant: TenantId.TenantId) =>
  Effect.gen(function*() {
    const policies = yield* RetentionPolicy.RetentionPolicies
    const sweeper = yield* Sweeper.Sweeper
    // Logs 90 days, previews 7: changed together, validated together, audited.
    yield* policies.set(tenant, {
      "mailer.transactional-log": "90 days",
      "mailer.message-preview": "7 days"
    }, staff)
    const counts = yield* sweeper.dryRun({ tenants: [tenant] }) // per category; changes nothing
    const result = yield* sweeper.sweep() // every tenant and category, receipts in the audit logs
    return { counts, result }
  })

const audit = AuditLog.layer.pipe(
  Layer.provideMerge(AuditStore.layerSql),
  // The checkpoints' signing key from LAWFUL_AUDIT_SIGNING_KEY (32 bytes, base64).
  Layer.provide(Layer.mergeAll(AuditLog.AuditSigner.layerConfig, CheckpointPublisher.layerMemory))
)
const retention = Retention.layerSql().pipe(
  Layer.provideMerge(Layer.mergeAll(logRetention, previewRetention)), // the packages' categories
  Layer.provideMerge(RetentionTarget.layer),
  Layer.provideMerge(audit),
  Layer.provideMerge(Database.layer) // DATABASE_URL, or PGlite in LAWFUL_DATA_DIR
)

// Once: the program on the database, closed after it.
const once = (tenant: TenantId.TenantId) => program(tenant).pipe(Effect.provide(retention))

// Or in a server: sweeps now and hourly in the background, for as long as it runs. Not beside
// `once`: a sweep started while another one runs fails with SweepAlreadyRunning.
const server = Sweeper.layerScheduled(Schedule.spaced("1 hour")).pipe(Layer.provide(retention), Layer.launch)
// readme:end sweep

const day = 24 * 60 * 60 * 1000
const now = Date.UTC(2026, 10, 30, 9)

// The mailer's table, made by the README's migration, and one message per (tenant, id, days ago).
const mailerTable = (messages: ReadonlyArray<readonly [TenantId.TenantId, number, number]>) =>
  Effect.gen(function*() {
    yield* migrate
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    for (const [tenant, id, daysAgo] of messages) {
      yield* sql`INSERT INTO lawful_mailer_messages (tenant_id, id, sent_at, preview_sealed)
        VALUES (${tenant}, ${id}, ${new Date(now - daysAgo * day)}, ${new Uint8Array([1])})`
    }
  })

// What is left of a tenant's messages: each id, and whether its preview is still there.
const messagesOf = (tenant: TenantId.TenantId) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ id: number; preview: boolean }>`SELECT id, preview_sealed IS NOT NULL AS preview
      FROM lawful_mailer_messages WHERE tenant_id = ${tenant} ORDER BY id`).pipe(
    Effect.map((rows) => rows.map((row) => [row.id, row.preview] as const))
  )

// The configuration the README's layers read, with a data directory removed after the test.
const configuration = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "lawful-retention-readme-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
).pipe(
  Effect.map((dir) => ({
    dir,
    provider: ConfigProvider.fromMap(new Map([
      ["LAWFUL_DATA_DIR", dir],
      ["LAWFUL_AUDIT_SIGNING_KEY", randomBytes(32).toString("base64")]
    ]))
  }))
)

it.effect("the README's categories register over the mailer's table: the log deletes, the preview redacts", () =>
  Effect.gen(function*() {
    yield* TestClock.setTime(now)
    const tenant = yield* TenantId.make
    yield* mailerTable([[tenant, 1, 100], [tenant, 2, 10], [tenant, 3, 2]])
    const registry = yield* RetentionTarget.RetentionTargets
    const log = Option.getOrThrow(yield* registry.get("mailer.transactional-log"))
    const preview = Option.getOrThrow(yield* registry.get("mailer.message-preview"))
    assert.strictEqual(preview.parent, log.id)

    const week = { cutoff: new Date(now - 7 * day), excludeSubjects: new Set<never>() }
    assert.strictEqual(yield* preview.count(tenant, week), 2)
    assert.deepStrictEqual(yield* preview.purgeBatch(tenant, { ...week, limit: 10 }), { purged: 2, more: false })
    assert.deepStrictEqual(yield* messagesOf(tenant), [[1, false], [2, false], [3, true]])
    assert.deepStrictEqual(yield* log.purgeBatch(tenant, { ...week, limit: 10 }), { purged: 2, more: false })
    assert.deepStrictEqual(yield* messagesOf(tenant), [[3, true]])
  }).pipe(
    Effect.provide(Layer.mergeAll(logRetention, previewRetention).pipe(
      Layer.provideMerge(RetentionTarget.layer),
      Layer.provideMerge(pgliteLayer)
    ))
  ))

it.effect("once: the tenant's policy, the dry run's counts, and a sweep of every tenant with receipts in their logs", () =>
  Effect.gen(function*() {
    const { dir, provider } = yield* configuration
    yield* TestClock.setTime(now)
    const tenant = yield* TenantId.make
    const other = yield* TenantId.make
    yield* mailerTable([[tenant, 1, 100], [tenant, 2, 10], [tenant, 3, 2], [other, 1, 100]]).pipe(
      Effect.provide(Database.layerEmbedded(dir))
    )

    const { counts, result } = yield* once(tenant).pipe(Effect.withConfigProvider(provider))

    // The dry run, after the policy: the log 90 days (message 1), previews 7 (messages 1 and 2).
    assert.isTrue(counts.dryRun)
    assert.deepStrictEqual(
      counts.categories.map((c) => [c.category, c.purged] as const).sort(),
      [["mailer.message-preview", 2], ["mailer.transactional-log", 1]]
    )
    assert.deepStrictEqual(result.failures, [])
    assert.isFalse(result.dryRun)

    yield* Effect.gen(function*() {
      // The tenant's log is 90 days; the other tenant keeps the default year, its preview 7 days.
      assert.deepStrictEqual(yield* messagesOf(tenant), [[2, false], [3, true]])
      assert.deepStrictEqual(yield* messagesOf(other), [[1, false]])
      const log = yield* AuditLog.AuditLog
      const categories = (of: TenantId.TenantId, action: string) =>
        Effect.map(
          log.query(of, { actionPrefix: action }),
          (page) => page.entries.map((entry) => entry.resource?.id).sort()
        )
      const both = ["mailer.message-preview", "mailer.transactional-log"]
      assert.deepStrictEqual(yield* categories(tenant, "retention.policy.changed"), both)
      assert.deepStrictEqual(yield* categories(tenant, "retention.purged"), both)
      assert.include(yield* categories(other, "retention.purged"), "mailer.message-preview")
    }).pipe(
      Effect.provide(audit.pipe(Layer.provideMerge(Database.layer))),
      Effect.withConfigProvider(provider)
    )
  }).pipe(Effect.scoped), 120_000)

it.effect("a server sweeps at once and then every hour", () =>
  Effect.gen(function*() {
    const { dir, provider } = yield* configuration
    yield* TestClock.setTime(now)
    const tenant = yield* TenantId.make
    // Sent 7 days less 30 minutes ago: its preview expires between the first sweep and the next.
    yield* mailerTable([[tenant, 1, 7 - 1 / 48]]).pipe(Effect.provide(Database.layerEmbedded(dir)))

    // Each finished sweep logs how many records it purged.
    const sweeps = yield* Queue.unbounded<number>()
    const logger = Logger.make(({ annotations }) =>
      Option.map(HashMap.get(annotations, "purged"), (purged) => Queue.unsafeOffer(sweeps, Number(purged)))
    )
    const running = yield* server.pipe(
      Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
      Effect.withConfigProvider(provider),
      Effect.fork
    )
    assert.strictEqual(yield* Queue.take(sweeps), 0)
    yield* TestClock.adjust("1 hour")
    assert.strictEqual(yield* Queue.take(sweeps), 1)
    yield* Fiber.interrupt(running)
  }).pipe(Effect.scoped), 120_000)

it("the README shows the examples as the tests run them", () => {
  for (const name of ["table", "register", "sweep"]) {
    assert.deepStrictEqual(readmeShows(new URL("../README.md", import.meta.url), new URL(import.meta.url), name), {
      ok: true
    })
  }
})
