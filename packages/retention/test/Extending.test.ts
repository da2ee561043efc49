// docs/extending.md's example, run as the guide shows it: an app's own table of support tickets,
// covered by the registry (export, erasure), by retention (a sweep with its receipt) and by the Vault.
import { assert, it } from "@effect/vitest"
import { readmeShows, sqlSuite } from "@lawful/core/testing"
import { RetentionPolicy } from "@lawful/retention"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import { randomBytes } from "node:crypto"

// readme:start table
import { SqlClient } from "@effect/sql"
import { Migrations } from "@lawful/core"
import { Effect } from "effect"

// Recorded in its own table, lawful_support_tickets_migrations.
export const migrate = Migrations.run("support-tickets", {
  "0001_tickets": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`
      CREATE TABLE support_tickets (
        tenant_id uuid NOT NULL,
        ticket_id uuid NOT NULL,
        subject_id uuid NOT NULL,
        body_sealed bytea NOT NULL,
        opened_at timestamptz NOT NULL,
        PRIMARY KEY (tenant_id, ticket_id)
      );
      CREATE INDEX support_tickets_tenant_time ON support_tickets (tenant_id, opened_at);
      CREATE INDEX support_tickets_time ON support_tickets (opened_at);
      CREATE INDEX support_tickets_subject ON support_tickets (tenant_id, subject_id);
    `)
})
// readme:end table

// readme:start write
import { AuditEvent, AuditTrail } from "@lawful/audit-trail"
import { SubjectDirectory, TenantId, Uuid, Vault } from "@lawful/core"
import { Clock } from "effect"

// A body sealed under this purpose opens only for the same tenant, subject and purpose.
const purpose = "support.ticket"

export const openTicket = Effect.fn("openTicket")(function*(tenant: TenantId.TenantId, email: string, body: string) {
  const sql = (yield* SqlClient.SqlClient).withoutTransforms()
  const subject = yield* (yield* SubjectDirectory.SubjectDirectory).resolve(tenant, email)
  const sealed = yield* (yield* Vault.Vault).seal(tenant, subject, purpose, body)
  const ticketId = yield* Uuid.make
  const openedAt = new Date(yield* Clock.currentTimeMillis)
  yield* sql`INSERT INTO support_tickets (tenant_id, ticket_id, subject_id, body_sealed, opened_at)
    VALUES (${tenant}, ${ticketId}, ${subject}, ${sealed}, ${openedAt})`
  yield* (yield* AuditTrail.AuditTrail).append(tenant, new AuditEvent.AuditEvent({
    actor: { kind: "subject" },
    action: "support.ticket-opened",
    purpose: "customer-support",
    legalBasis: "contract",
    subject,
    resource: { type: "support-ticket", id: ticketId }
  }))
  return { ticketId, subject }
})
// readme:end write

// readme:start source
import { PersonalDataRegistry } from "@lawful/core"

export const ticketSource = PersonalDataRegistry.register(Effect.gen(function*() {
  const sql = (yield* SqlClient.SqlClient).withoutTransforms()
  const vault = yield* Vault.Vault
  const fail = (operation: PersonalDataRegistry.Operation) => PersonalDataRegistry.sourceError("support-tickets", operation)
  const source: PersonalDataRegistry.PersonalDataSource = {
    name: "support-tickets",
    description: "Support tickets: who opened each one, when, and its message (sealed)",
    categories: ["support.message"],
    purposes: ["customer-support"],
    retentionCategories: ["support.ticket"],
    export: (tenant, subject) =>
      sql<{ ticket_id: string; body_sealed: Uint8Array; opened_at: Date }>`
        SELECT ticket_id, body_sealed, opened_at FROM support_tickets
        WHERE tenant_id = ${tenant} AND subject_id = ${subject} ORDER BY opened_at`.pipe(
        Effect.flatMap((rows) =>
          Effect.forEach(rows, (row) =>
            Effect.map(vault.openString(tenant, subject, purpose, row.body_sealed), (body) => ({
              category: "support.message",
              fields: { ticketId: row.ticket_id, body },
              recordedAt: row.opened_at.toISOString()
            })))
        ),
        Effect.map((records) => ({ records })),
        // Shredded: nothing of the subject is readable any more, so nothing to export.
        Effect.catchTag("SubjectShredded", () => Effect.succeed({ records: [] })),
        Effect.mapError(fail("export"))
      ),
    erase: (tenant, subject) =>
      sql`DELETE FROM support_tickets WHERE tenant_id = ${tenant} AND subject_id = ${subject} RETURNING ticket_id`.pipe(
        Effect.map((rows) => ({ erased: rows.length })),
        Effect.mapError(fail("erase"))
      ),
    // Tickets hold no field to correct: the address is the directory's, a message is kept as written.
    rectify: () => Effect.succeed({ rectified: 0 })
  }
  return source
}))
// readme:end source

// readme:start retention
import { RetentionTarget } from "@lawful/core"
import { Duration } from "effect"

export const ticketRetention = RetentionTarget.register(
  Effect.map(
    RetentionTarget.sqlTable("support.ticket", { table: "support_tickets", time: "opened_at", subject: "subject_id" }),
    (storage): RetentionTarget.RetentionTarget => ({
      ...storage,
      id: "support.ticket",
      description: "Support tickets, deleted a year after they were opened unless the tenant says otherwise",
      action: "delete",
      allowForever: false,
      defaultPeriod: Duration.days(365),
      maxPeriod: Duration.days(3 * 365),
      linksSubjects: true
    })
  )
)
// readme:end retention

// readme:start layer
import { AuditLog, AuditStore, CheckpointPublisher } from "@lawful/audit-trail"
import { KeyStore, MasterKey } from "@lawful/core"
import { Retention, Sweeper } from "@lawful/retention"
import { Layer } from "effect"

// Needs a SqlClient (Database.layer); reads LAWFUL_MASTER_KEY and LAWFUL_AUDIT_SIGNING_KEY.
export const app = Retention.layerSql().pipe(
  Layer.provideMerge(Layer.mergeAll(Layer.effectDiscard(migrate), ticketSource, ticketRetention)),
  Layer.provideMerge(SubjectDirectory.personalDataSource),
  Layer.provideMerge(SubjectDirectory.layerSql),
  Layer.provideMerge(Layer.mergeAll(PersonalDataRegistry.layer, RetentionTarget.layer)),
  Layer.provideMerge(Vault.layer),
  Layer.provide(Layer.mergeAll(KeyStore.layerSql, MasterKey.layerConfig)),
  Layer.provideMerge(AuditLog.layer.pipe(
    Layer.provideMerge(AuditStore.layerSql),
    Layer.provide(Layer.mergeAll(AuditLog.AuditSigner.layerConfig, CheckpointPublisher.layerMemory))
  ))
)
// readme:end layer

// The configuration the layer reads, as a deployment sets it: LAWFUL_MASTER_KEY and LAWFUL_AUDIT_SIGNING_KEY.
const config = Layer.setConfigProvider(ConfigProvider.fromMap(
  new Map([
    ["LAWFUL_MASTER_KEY", Redacted.value(MasterKey.generate())],
    ["LAWFUL_AUDIT_SIGNING_KEY", randomBytes(32).toString("base64")]
  ])
))

const staff = { kind: "staff", id: "staff-1" } as const

const ticketsOf = (tenant: TenantId.TenantId) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ ticket_id: string; subject_id: string; body_sealed: Uint8Array }>`
      SELECT ticket_id, subject_id, body_sealed FROM support_tickets WHERE tenant_id = ${tenant} ORDER BY opened_at`)

const ticketRecords = (report: PersonalDataRegistry.Report<PersonalDataRegistry.SourceExport>) => {
  const outcome = report.outcomes.find((o) => o.source === "support-tickets")
  assert(outcome?._tag === "SourceSucceeded", "the tickets' source exported")
  return outcome.result.records
}

sqlSuite("docs/extending.md", app.pipe(Layer.provide(config)), (it) => {
  it.effect("tickets are exported decrypted, purged with a receipt after their period, erased, and shredded", () =>
    Effect.gen(function*() {
      const policies = yield* RetentionPolicy.RetentionPolicies
      // readme:start use
      const registry = yield* PersonalDataRegistry.PersonalDataRegistry
      const log = yield* AuditLog.AuditLog
      const sweeper = yield* Sweeper.Sweeper
      const vault = yield* Vault.Vault
      const tenant = yield* TenantId.make

      const ticket = yield* openTicket(tenant, "ann@example.com", "My parcel never arrived")
      const access = yield* registry.exportAll(tenant, ticket.subject) // her address and her ticket, decrypted
      // readme:end use

      // A second subject of the tenant, and another tenant that keeps its tickets two years.
      const bob = yield* openTicket(tenant, "bob@example.com", "Please resend my invoice")
      const other = yield* TenantId.make
      const carol = yield* openTicket(other, "carol@example.com", "Wrong size delivered")
      yield* policies.set(other, { "support.ticket": "730 days" }, staff)

      // The export: every source succeeded, the ticket's body decrypted.
      assert.isTrue(access.allSucceeded)
      assert.deepStrictEqual(access.outcomes.map((o) => o.source), ["subject-directory", "support-tickets"])
      assert.deepStrictEqual(ticketRecords(access), [{
        category: "support.message",
        fields: { ticketId: ticket.ticketId, body: "My parcel never arrived" },
        recordedAt: new Date(0).toISOString()
      }])

      // Ann writes again 200 days later; a year after her first ticket, the sweep.
      yield* TestClock.adjust(Duration.days(200))
      const later = yield* openTicket(tenant, "ann@example.com", "Any news about my parcel?")
      assert.strictEqual(later.subject, ticket.subject)
      yield* TestClock.adjust(Duration.days(166))
      // readme:start sweep
      const swept = yield* sweeper.sweep() // every tenant: tickets past their period deleted, a receipt in each log
      // readme:end sweep
      assert.deepStrictEqual(swept.failures, [])
      const sweptOf = (t: TenantId.TenantId) => swept.categories.find((c) => c.tenantId === t && c.category === "support.ticket")
      assert.strictEqual(sweptOf(tenant)?.purged, 2)
      assert.strictEqual(sweptOf(other)?.purged, 0)
      assert.deepStrictEqual((yield* ticketsOf(tenant)).map((row) => row.ticket_id), [later.ticketId])
      assert.deepStrictEqual((yield* ticketsOf(other)).map((row) => row.ticket_id), [carol.ticketId])
      assert.deepStrictEqual(ticketRecords(yield* registry.exportAll(tenant, bob.subject)), [])

      // The receipt: the category and the count, no subject, no personal data.
      const receipts = (yield* log.query(tenant, { actionPrefix: "retention.purged" })).entries
      assert.strictEqual(receipts.length, 1)
      const receipt = receipts[0]!
      assert.isTrue(Option.isNone(receipt.subject))
      const details = Option.getOrThrow(receipt.details).value
      assert.strictEqual(details.category, "support.ticket")
      assert.strictEqual(details.count, 2)
      assert.strictEqual(details.action, "delete")
      assert.strictEqual(details.complete, true)
      assert.strictEqual(details.cutoff, new Date(swept.at.getTime() - Duration.toMillis(Duration.days(365))).toISOString())

      // Each ticket left one entry naming its subject by id; no entry holds an address or a message.
      const entries = (yield* log.query(tenant, { limit: 1000 })).entries
      const opened = entries.filter((e) => e.action === "support.ticket-opened")
      assert.deepStrictEqual(opened.map((e) => Option.map(e.subject, (s) => s.id)), [
        Option.some(ticket.subject),
        Option.some(bob.subject),
        Option.some(later.subject)
      ])
      const logged = entries.map((e) => new TextDecoder().decode(e.leaf) + JSON.stringify(Option.getOrNull(e.details)?.value))
      for (const personal of ["ann@example.com", "bob@example.com", "parcel", "invoice"]) {
        assert.isFalse(logged.some((text) => text.includes(personal)), personal)
      }

      // A copy of Ann's sealed body, as a backup would keep it.
      const backup = (yield* ticketsOf(tenant))[0]!.body_sealed
      assert.strictEqual(yield* vault.openString(tenant, ticket.subject, "support.ticket", backup), "Any news about my parcel?")

      // readme:start erase
      const erasure = yield* registry.eraseAll(tenant, ticket.subject) // every ticket of Ann, and her address
      yield* vault.shred(tenant, ticket.subject) // whatever was sealed for her, backups included, no longer opens
      yield* log.delinkSubject(tenant, ticket.subject, { kind: "system", id: "support" }) // the log no longer names her
      // readme:end erase

      assert.isTrue(erasure.allSucceeded)
      assert.deepStrictEqual(
        erasure.outcomes.map((o) => [o.source, o._tag === "SourceSucceeded" ? o.result.erased : -1]),
        [["subject-directory", 1], ["support-tickets", 1]]
      )
      assert.deepStrictEqual(yield* ticketsOf(tenant), [])
      assert.deepStrictEqual(ticketRecords(yield* registry.exportAll(tenant, ticket.subject)), [])
      const shredded = yield* Effect.flip(vault.open(tenant, ticket.subject, "support.ticket", backup))
      assert.strictEqual(shredded._tag, "SubjectShredded")
      // The log keeps its entries, verifiable, but none names Ann any more; Bob's still name him.
      assert.deepStrictEqual((yield* log.query(tenant, { subject: ticket.subject })).entries, [])
      assert.strictEqual((yield* log.query(tenant, { subject: bob.subject })).entries.length, 1)
      assert.isTrue((yield* log.verify(tenant)).ok)
      // Idempotent: a second erasure finds nothing.
      const again = yield* registry.eraseAll(tenant, ticket.subject)
      assert.deepStrictEqual(again.outcomes.map((o) => o._tag === "SourceSucceeded" ? o.result.erased : -1), [0, 0])

      // Shredded without erasure, a subject's rows stay but export nothing readable, and the source succeeds.
      const dan = yield* openTicket(tenant, "dan@example.com", "Cancel my subscription")
      yield* vault.shred(tenant, dan.subject)
      assert.strictEqual((yield* ticketsOf(tenant)).length, 1)
      assert.deepStrictEqual(ticketRecords(yield* registry.exportAll(tenant, dan.subject)), [])

      // The other tenant is untouched: Carol's ticket still exports, decrypted.
      assert.deepStrictEqual(
        ticketRecords(yield* registry.exportAll(other, carol.subject)).map((r) => r.fields.body),
        ["Wrong size delivered"]
      )
    }))

  it.effect("the tickets' table migrates in its own migrations table, and once", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* migrate
      const rows = yield* sql<{ migration_id: number; name: string }>`
        SELECT migration_id, name FROM lawful_support_tickets_migrations`
      assert.deepStrictEqual(rows.map((row) => [row.migration_id, row.name]), [[1, "tickets"]])
    }))
})

it("the guide shows the example as this test runs it", () => {
  for (const name of ["table", "write", "source", "retention", "layer", "use", "sweep", "erase"]) {
    assert.deepStrictEqual(
      readmeShows(new URL("../../../docs/extending.md", import.meta.url), new URL(import.meta.url), name),
      { ok: true }
    )
  }
})
