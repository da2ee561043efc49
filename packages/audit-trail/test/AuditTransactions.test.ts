import { assert } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as TenantId from "@lawful/core/TenantId"
import { sqlSuite } from "@lawful/core/testing"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as AuditLog from "../src/AuditLog.js"
import * as AuditStore from "../src/AuditStore.js"
import * as CheckpointPublisher from "../src/CheckpointPublisher.js"
import * as ProofBundle from "../src/ProofBundle.js"
import { event, heldSubjectHistory } from "./AuditLogSuite.js"

class Abort {
  readonly _tag = "Abort"
}

// A second log on the same database over a store of its own, as another process has.
class OtherProcessLog extends Context.Tag("test/OtherProcessLog")<OtherProcessLog, Context.Tag.Service<typeof AuditLog.AuditLog>>() {}

const log = Layer.merge(
  AuditLog.layer.pipe(Layer.provide(AuditStore.layerSql)),
  Layer.scoped(OtherProcessLog, AuditLog.make()).pipe(Layer.provide(Layer.fresh(AuditStore.layerSql)))
).pipe(Layer.provide(Layer.mergeAll(AuditLog.AuditSigner.layerRandom, CheckpointPublisher.layerMemory)))

sqlSuite("AuditLog appends inside a SQL transaction", log, (it) => {
  it.effect("commit with the transaction's other writes, and roll back with them", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const audit = yield* AuditLog.AuditLog
      const tenant = yield* TenantId.make
      yield* sql`CREATE TABLE IF NOT EXISTS audited_things (tenant_id uuid NOT NULL, n int NOT NULL)`
      yield* audit.append(tenant, event(0))

      // Rolled back: neither the row nor the entries stay, and the next append takes index 1.
      const aborted = yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO audited_things VALUES (${tenant}, 1)`
        // Appends at once: none is handed to the writer fibre, outside the transaction.
        const appended = yield* Effect.all([audit.appendAll(tenant, [event(1), event(2)]), audit.append(tenant, event(3))], {
          concurrency: 2
        })
        assert.deepStrictEqual(appended.flat().map((a) => a.index).sort(), [1, 2, 3])
        return yield* Effect.fail(new Abort())
      })).pipe(Effect.flip)
      assert.strictEqual(aborted._tag, "Abort")
      assert.strictEqual(yield* audit.size(tenant), 1)
      assert.strictEqual((yield* audit.append(tenant, event(5))).index, 1)

      // Committed: both.
      yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO audited_things VALUES (${tenant}, 2)`
        yield* audit.append(tenant, event(4))
      }))
      const rows = yield* sql<{ n: number }>`SELECT n FROM audited_things WHERE tenant_id = ${tenant}`
      assert.deepStrictEqual(rows.map((row) => row.n), [2])
      assert.strictEqual(yield* audit.size(tenant), 3)
      const checkpoint = yield* audit.checkpoint(tenant)
      assert.strictEqual(checkpoint.size, 3)
      assert.isTrue((yield* audit.verify(tenant)).ok)
    }))

  it.effect("after a rolled-back append, an append builds on the log as committed, not as the rolled-back transaction left it", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const audit = yield* AuditLog.AuditLog
      const other = yield* OtherProcessLog
      const tenant = yield* TenantId.make
      yield* audit.append(tenant, event(0))
      // Rolled back: the entry at index 1 was never committed.
      const aborted = yield* sql.withTransaction(
        Effect.zipRight(audit.append(tenant, event(1)), Effect.fail(new Abort()))
      ).pipe(Effect.flip)
      assert.strictEqual(aborted._tag, "Abort")
      // Another process appends another entry at index 1: the log has the size the rolled-back
      // transaction would have left, not its tree.
      assert.strictEqual((yield* other.append(tenant, event(2))).index, 1)
      assert.strictEqual((yield* audit.append(tenant, event(3))).index, 2)
      const report = yield* audit.verify(tenant)
      assert.isTrue(report.ok, report.problems.join("; "))
      const checkpoint = yield* audit.checkpoint(tenant)
      yield* ProofBundle.verify(yield* audit.proofBundle(tenant, 2), audit.verifierKey)
      assert.strictEqual(checkpoint.size, 3)
    }))

  it.effect("a batch is one transaction: an entry that fails leaves none of the batch written", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const audit = yield* AuditLog.AuditLog
      const tenant = yield* TenantId.make
      yield* audit.append(tenant, event(0))
      // The entry at index 401, deep in the batch, cannot be written.
      yield* sql.unsafe(`
        CREATE FUNCTION refuse_entry_${tenant.replaceAll("-", "")}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'entry refused'; END $$;
        CREATE TRIGGER refuse_entry_${tenant.replaceAll("-", "")} BEFORE INSERT ON lawful_audit_entries FOR EACH ROW
        WHEN (NEW.tenant_id = '${tenant}' AND NEW.idx = 401) EXECUTE FUNCTION refuse_entry_${tenant.replaceAll("-", "")}()`)
      const failed = yield* Effect.flip(audit.appendAll(tenant, Array.from({ length: 600 }, (_, i) => event(1 + i))))
      assert.strictEqual(failed._tag, "AuditStoreError")
      yield* sql.unsafe(`DROP TRIGGER refuse_entry_${tenant.replaceAll("-", "")} ON lawful_audit_entries`)
      const [stored] = yield* sql<{ entries: number; nodes: number }>`
        SELECT (SELECT count(*)::int FROM lawful_audit_entries WHERE tenant_id = ${tenant}) AS entries,
               (SELECT count(*)::int FROM lawful_audit_nodes WHERE tenant_id = ${tenant}) AS nodes`
      assert.deepStrictEqual(stored, { entries: 1, nodes: 0 })
      assert.strictEqual(yield* audit.size(tenant), 1)

      // The same batch, once the entry can be written: whole, from index 1.
      const appended = yield* audit.appendAll(tenant, Array.from({ length: 600 }, (_, i) => event(1 + i)))
      assert.deepStrictEqual(appended.map((a) => a.index), Array.from({ length: 600 }, (_, i) => 1 + i))
      assert.isTrue((yield* audit.verify(tenant)).ok)
    }))

  it.effect("a large batch commits with the caller's transaction and rolls back with it", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const audit = yield* AuditLog.AuditLog
      const tenant = yield* TenantId.make
      const aborted = yield* sql.withTransaction(Effect.gen(function*() {
        const appended = yield* audit.appendAll(tenant, Array.from({ length: 520 }, (_, i) => event(i)))
        assert.deepStrictEqual(appended.map((a) => a.index), Array.from({ length: 520 }, (_, i) => i))
        return yield* Effect.fail(new Abort())
      })).pipe(Effect.flip)
      assert.strictEqual(aborted._tag, "Abort")
      assert.strictEqual(yield* audit.size(tenant), 0)
      yield* sql.withTransaction(audit.appendAll(tenant, Array.from({ length: 520 }, (_, i) => event(i))))
      assert.strictEqual((yield* audit.append(tenant, event(520))).index, 520)
      assert.isTrue((yield* audit.verify(tenant)).ok)
    }))

  // Two batches of a tenant can be in flight: the second is built on the state the first will
  // leave. If the first does not commit, another writer may bring the log to that size with other
  // entries; the second must then be built again, not applied on top of them. Here the state this
  // process knows (size 1) is replaced, under it, by another log of size 1.
  it.effect("an append built on a state the log does not have (same size, other entries) is built again, not applied", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const audit = yield* AuditLog.AuditLog
      const other = yield* OtherProcessLog
      const tenant = yield* TenantId.make
      yield* audit.append(tenant, event(0))
      yield* sql`DELETE FROM lawful_audit_nodes WHERE tenant_id = ${tenant}`
      yield* sql`DELETE FROM lawful_audit_entries WHERE tenant_id = ${tenant}`
      yield* sql`DELETE FROM lawful_audit_logs WHERE tenant_id = ${tenant}`
      assert.strictEqual((yield* other.append(tenant, event(7))).index, 0)
      assert.strictEqual((yield* audit.append(tenant, event(1))).index, 1)
      const verified = yield* audit.verify(tenant)
      assert.isTrue(verified.ok, JSON.stringify(verified))
      assert.strictEqual(yield* audit.size(tenant), 2)
    }))

  it.effect("appends inside transactions and outside, all at once, get indices 0..n-1 and none waits forever", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const audit = yield* AuditLog.AuditLog
      const tenant = yield* TenantId.make
      // Two appends at once in each transaction: on PGlite, one handed to the writer fibre would
      // wait for the transaction that waits for it.
      const inside = Effect.forEach(Array.from({ length: 4 }, (_, t) => t), (t) =>
        sql.withTransaction(
          Effect.all([audit.append(tenant, event(2 * t)), audit.append(tenant, event(2 * t + 1))], { concurrency: 2 })
        ), { concurrency: 2 })
      const outside = Effect.forEach(Array.from({ length: 12 }, (_, i) => i), (i) => audit.append(tenant, event(100 + i)), {
        concurrency: 4
      })
      const [transactions, alone] = yield* Effect.all([inside, outside], { concurrency: 2 }).pipe(
        Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => new Error("appends waited on each other") })
      )
      const indices = [...transactions.flat(), ...alone].map((a) => a.index).sort((a, b) => a - b)
      assert.deepStrictEqual(indices, Array.from({ length: 20 }, (_, i) => i))
      assert.isTrue((yield* audit.verify(tenant)).ok)
    }))

  it.effect("no checkpoint is signed inside a transaction: it could cover what the transaction rolls back", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const audit = yield* AuditLog.AuditLog
      const tenant = yield* TenantId.make
      yield* audit.append(tenant, event(0))
      const signed = yield* audit.checkpoint(tenant)
      const refused = yield* sql.withTransaction(Effect.gen(function*() {
        // The latest checkpoint still covers the log: it is returned as it is.
        assert.deepStrictEqual(yield* audit.checkpoint(tenant), signed)
        yield* audit.append(tenant, event(1))
        return yield* Effect.flip(audit.checkpoint(tenant))
      }))
      assert.strictEqual(refused._tag, "CheckpointRefused")
      assert.strictEqual((yield* audit.checkpoint(tenant)).size, 2)
    }))

  it.effect("a redaction or de-link whose entry the database refuses is rolled back whole: details, links and watermark stay", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const other = yield* OtherProcessLog
      const { actor, before, held, log, tenant } = yield* heldSubjectHistory
      const name = `refuse_record_${tenant.replaceAll("-", "")}`
      yield* sql.unsafe(`
        CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'record refused'; END $$;
        CREATE TRIGGER ${name} BEFORE INSERT ON lawful_audit_entries FOR EACH ROW
        WHEN (NEW.tenant_id = '${tenant}' AND NEW.action LIKE 'audit.%') EXECUTE FUNCTION ${name}()`)
      assert.strictEqual((yield* Effect.flip(log.redactDetails(tenant, { before, actor, limit: 10 })))._tag, "AuditStoreError")
      assert.strictEqual(
        (yield* Effect.flip(log.delinkSubject(tenant, held, { kind: "system", id: "erasure" })))._tag,
        "AuditStoreError"
      )
      yield* sql.unsafe(`DROP TRIGGER ${name} ON lawful_audit_entries`)
      const [stored] = yield* sql<{ details: number; linked: number; marks: number }>`
        SELECT (SELECT count(*)::int FROM lawful_audit_entries WHERE tenant_id = ${tenant} AND details IS NOT NULL) AS details,
               (SELECT count(*)::int FROM lawful_audit_entries WHERE tenant_id = ${tenant} AND subject_id IS NOT NULL) AS linked,
               (SELECT count(*)::int FROM lawful_audit_redactions WHERE tenant_id = ${tenant}) AS marks`
      assert.deepStrictEqual(stored, { details: 6, linked: 3, marks: 0 })

      // Once the entries can be written: both, each with its entry, after an append of another process.
      assert.strictEqual((yield* other.append(tenant, event(6))).index, 6)
      assert.deepStrictEqual(yield* log.redactDetails(tenant, { before, actor, limit: 10 }), [0, 1, 2, 3, 4, 5])
      assert.strictEqual(yield* log.delinkSubject(tenant, held, { kind: "system", id: "erasure" }), 3)
      assert.deepStrictEqual(
        (yield* log.query(tenant, { after: 6 })).entries.map((e) => e.action),
        ["audit.details.redacted", "audit.subject.delinked"]
      )
      assert.strictEqual((yield* other.append(tenant, event(9))).index, 9)
      const report = yield* log.verify(tenant)
      assert.isTrue(report.ok, report.problems.join("; "))
    }))

  it.effect("a redaction and a de-link inside the caller's transaction commit and roll back with it", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const other = yield* OtherProcessLog
      const { actor, before, held, log, tenant } = yield* heldSubjectHistory
      const erasure = { kind: "system", id: "erasure" } as const
      const aborted = yield* sql.withTransaction(Effect.gen(function*() {
        assert.strictEqual((yield* log.redactDetails(tenant, { before, actor, limit: 10 })).length, 6)
        assert.strictEqual(yield* log.delinkSubject(tenant, held, erasure), 3)
        return yield* Effect.fail(new Abort())
      })).pipe(Effect.flip)
      assert.strictEqual(aborted._tag, "Abort")
      const entries = (yield* log.query(tenant, {})).entries
      assert.strictEqual(entries.length, 6)
      assert.isTrue(entries.every((e) => Option.isSome(e.details) && (e.index % 2 === 1 || Option.isSome(e.subject))))
      // The log as committed: another process takes index 6, and this one builds on it.
      assert.strictEqual((yield* other.append(tenant, event(6))).index, 6)
      yield* sql.withTransaction(Effect.all([
        log.redactDetails(tenant, { before, actor, limit: 10 }),
        log.delinkSubject(tenant, held, erasure)
      ]))
      assert.strictEqual((yield* log.append(tenant, event(9))).index, 9)
      const report = yield* log.verify(tenant)
      assert.isTrue(report.ok, report.problems.join("; "))
      assert.strictEqual((yield* log.checkpoint(tenant)).size, 10)
    }))
})
