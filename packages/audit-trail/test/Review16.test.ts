import { assert } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SubjectId from "@lawful/core/SubjectId"
import * as TenantId from "@lawful/core/TenantId"
import { contractSuite, rowsReadBy, sqlSuite } from "@lawful/core/testing"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as AuditLog from "../src/AuditLog.js"
import * as AuditStore from "../src/AuditStore.js"
import { auditMemory, auditSql } from "../src/testing.js"
import { event } from "./AuditLogSuite.js"
import { withWarnings } from "./fixtures/logs.js"

// Every tenant's report, by tenant; a failure of verifyAll fails the test, naming it.
const verifyAll = Effect.gen(function*() {
  const log = yield* AuditLog.AuditLog
  const exit = yield* Effect.exit(log.verifyAll)
  if (Exit.isFailure(exit)) return assert.fail(`verifyAll failed: ${String(exit.cause)}`)
  return new Map(exit.value.map((report) => [report.tenant, report]))
})

sqlSuite("audit-trail review 16", auditSql, (it) => {
  it.effect("an entry or state row that cannot be read is a verification finding, and verifyAll reports every tenant", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const log = yield* AuditLog.AuditLog
      const [badEntry, badState, badHash, clean] = yield* Effect.all([TenantId.make, TenantId.make, TenantId.make, TenantId.make])
      for (const tenant of [badEntry, badState, badHash, clean]) {
        yield* log.appendAll(tenant, Array.from({ length: 5 }, (_, n) => event(n)))
      }
      // An actor kind no entry has; a frontier one byte too long; a root one byte short.
      yield* sql`UPDATE lawful_audit_entries SET actor_kind = 'robot-x' WHERE tenant_id = ${badEntry} AND idx = 2`
      yield* sql`UPDATE lawful_audit_logs SET frontier = frontier || '\\x00'::bytea WHERE tenant_id = ${badState}`
      yield* sql`UPDATE lawful_audit_logs SET root = substring(root FROM 2) WHERE tenant_id = ${badHash}`

      const entryExit = yield* Effect.exit(log.verify(badEntry))
      assert.isTrue(Exit.isSuccess(entryExit), `verify failed on an unreadable entry: ${String(entryExit)}`)
      if (Exit.isSuccess(entryExit)) {
        const report = entryExit.value
        assert.isFalse(report.ok)
        assert.deepStrictEqual(report.firstBadIndex, Option.some(2))
        assert.strictEqual(report.entriesChecked, 2)
        assert.isTrue(report.problems.some((p) => p.includes("entry 2") && p.includes("actor_kind")), report.problems.join("; "))
        assert.isTrue(report.problems.every((p) => !p.includes("robot-x")), "a stored value is quoted")
      }
      for (const tenant of [badState, badHash]) {
        const stateExit = yield* Effect.exit(log.verify(tenant))
        assert.isTrue(Exit.isSuccess(stateExit), `verify failed on an unreadable state row: ${String(stateExit)}`)
        if (Exit.isSuccess(stateExit)) {
          assert.isFalse(stateExit.value.ok)
          assert.strictEqual(stateExit.value.entriesChecked, 5)
          assert.isTrue(stateExit.value.problems.some((p) => p.includes("state")), stateExit.value.problems.join("; "))
        }
      }

      // A time no entry can have: a finding too, not a defect.
      const badTime = yield* TenantId.make
      yield* log.appendAll(badTime, Array.from({ length: 3 }, (_, n) => event(n)))
      yield* sql`UPDATE lawful_audit_entries SET time = 'infinity' WHERE tenant_id = ${badTime} AND idx = 1`
      const timeExit = yield* Effect.exit(log.verify(badTime))
      assert.isTrue(Exit.isSuccess(timeExit), `verify failed on an entry timed at infinity: ${String(timeExit)}`)
      if (Exit.isSuccess(timeExit)) assert.deepStrictEqual(timeExit.value.firstBadIndex, Option.some(1))

      const reports = yield* verifyAll
      for (const tenant of [badEntry, badState, badHash, badTime]) assert.isFalse(reports.get(tenant)?.ok ?? true, `tenant ${tenant} not reported`)
      assert.isTrue(reports.get(clean)?.ok, "the clean tenant is not reported ok")
    }))

  it.effect("a tenant whose state row was deleted is verified by verifyAll, and checkpointAll warns of it instead of skipping it", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const log = yield* AuditLog.AuditLog
      const store = yield* AuditStore.AuditStore
      const [checkpointed, unsigned, clean] = yield* Effect.all([TenantId.make, TenantId.make, TenantId.make])
      yield* log.appendAll(checkpointed, Array.from({ length: 5 }, (_, n) => event(n)))
      yield* log.checkpoint(checkpointed)
      yield* log.appendAll(unsigned, Array.from({ length: 3 }, (_, n) => event(n)))
      yield* log.appendAll(clean, Array.from({ length: 2 }, (_, n) => event(n)))
      yield* sql`DELETE FROM lawful_audit_logs WHERE tenant_id IN (${checkpointed}, ${unsigned})`

      const reports = yield* verifyAll
      for (const tenant of [checkpointed, unsigned]) {
        const report = reports.get(tenant)
        assert.isDefined(report, `verifyAll left out tenant ${tenant}, whose state row is gone`)
        assert.isFalse(report!.ok)
      }
      assert.isTrue(reports.get(clean)?.ok)

      // (The other tests' tenants share the database: counts are theirs too.)
      const { exit, warnings } = yield* withWarnings(log.checkpointAll)
      assert.isTrue(Exit.isSuccess(exit), String(exit))
      assert.deepStrictEqual(Option.map(yield* store.latestCheckpoint(clean), (c) => c.size), Option.some(2))
      for (const tenant of [checkpointed, unsigned]) {
        assert.strictEqual(warnings.filter((w) => w.includes(tenant)).length, 1, `no warning of tenant ${tenant}: ${warnings.join("; ")}`)
      }
      // Nothing issued for them: no checkpoint of the empty tree over entries it does not hold.
      assert.deepStrictEqual(Option.map(yield* store.latestCheckpoint(checkpointed), (c) => c.size), Option.some(5))
      assert.isTrue(Option.isNone(yield* store.latestCheckpoint(unsigned)))
    }))
})

// The redaction's late entries are a range of the primary key: neither the redacted history nor the
// log's other entries are read for them.
sqlSuite("audit-trail review 16 plans", AuditStore.layerSql, (it) => {
  it.effect("a redaction batch reads the entries appended since the watermark by key, not the redacted history", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* AuditStore.AuditStore
      // `count` entries with details from index `from`, a millisecond apart from 2026-01-01 plus `start` ms.
      const fill = (tenant: TenantId.TenantId, from: number, count: number, start: number) =>
        sql`INSERT INTO lawful_audit_entries
            (tenant_id, idx, time, actor_kind, action, details, details_salt, leaf, leaf_hash)
          SELECT ${tenant}::uuid, g, timestamptz '2026-01-01' + (${start}::int + g - ${from}::int) * interval '1 millisecond',
            'system', 'test.filled', '{"n":1}'::jsonb, '\\x00'::bytea, g::text::bytea, sha256(g::text::bytea)
          FROM generate_series(${from}::int, ${from + count - 1}::int) g`
      const [seen, tenant] = yield* Effect.all([TenantId.make, TenantId.make])
      yield* fill(seen, 0, 20_000, 0)
      yield* sql`ANALYZE lawful_audit_entries`
      yield* fill(tenant, 0, 20_000, 0)
      const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms)
      assert.strictEqual((yield* store.redactDetails(tenant, { before: at(15_000), limit: 20_000 })).length, 15_000)
      // Five entries appended since, timed behind the watermark (a process whose clock is behind).
      yield* fill(tenant, 20_000, 5, 100)

      const [counted, countRead] = yield* rowsReadBy("lawful_audit_entries", store.countDetails(tenant, { before: at(15_000) }))
      assert.strictEqual(counted, 5)
      assert.isAtMost(countRead, 100, `rows read: ${countRead}`)
      const [redacted, read] = yield* rowsReadBy("lawful_audit_entries", store.redactDetails(tenant, { before: at(15_000), limit: 10 }))
      assert.deepStrictEqual(redacted, [20_000, 20_001, 20_002, 20_003, 20_004])
      assert.isAtMost(read, 100, `rows read: ${read}`)
    }))
})

contractSuite("audit-trail review 16", { memory: auditMemory, sql: auditSql }, (it) => {
  it.effect("a tenant with a stored checkpoint of a non-empty tree but no entries is listed, and verifyAll reports it", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog.AuditLog
      const store = yield* AuditStore.AuditStore
      const [tenant, other] = yield* Effect.all([TenantId.make, TenantId.make])
      yield* log.appendAll(other, Array.from({ length: 3 }, (_, n) => event(n)))
      const signed = yield* log.checkpoint(other)
      yield* store.saveCheckpoint(tenant, signed)
      assert.include(yield* store.tenants, tenant)
      const report = (yield* verifyAll).get(tenant)
      assert.isDefined(report, "verifyAll left out the tenant with a checkpoint and no entries")
      assert.isFalse(report!.ok)
      // An empty tree's checkpoint still makes no log to list.
      const empty = yield* TenantId.make
      yield* log.checkpoint(empty)
      assert.notInclude(yield* store.tenants, empty)
    }))

  it.effect("a late entry of a subject excluded from a redaction is found once the subject is no longer excluded", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog.AuditLog
      const store = yield* AuditStore.AuditStore
      const tenant = yield* TenantId.make
      const held = yield* SubjectId.make
      const actor = { kind: "system", id: "retention" } as const
      const before = new Date(Date.UTC(2026, 0, 10))
      yield* TestClock.setTime(Date.UTC(2026, 0, 2))
      yield* log.append(tenant, event(0))
      assert.deepStrictEqual(yield* log.redactDetails(tenant, { before, actor, limit: 10 }), [0])
      // Late, and of a subject the next redaction excludes (a legal hold): it passes the entry.
      yield* TestClock.setTime(Date.UTC(2026, 0, 1))
      yield* log.append(tenant, event(2, { subject: held }))
      const excludeSubjects = new Set([held])
      assert.deepStrictEqual(yield* log.redactDetails(tenant, { before, actor, excludeSubjects, limit: 10 }), [1])
      assert.strictEqual(yield* store.countDetails(tenant, { before, excludeSubjects }), 1, "the second redaction's entry")
      assert.strictEqual(yield* store.countDetails(tenant, { before }), 2, "the held subject's entry is not counted once released")
      assert.deepStrictEqual(yield* log.redactDetails(tenant, { before, actor, limit: 10 }), [2, 3])
      assert.strictEqual(yield* store.countDetails(tenant, { before }), 1)
    }))

  it.effect("an entry appended after a redaction by a clock behind the log's newest entry is found by the next redaction", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog.AuditLog
      const store = yield* AuditStore.AuditStore
      const tenant = yield* TenantId.make
      const actor = { kind: "system", id: "retention" } as const
      yield* TestClock.setTime(Date.UTC(2026, 0, 2))
      yield* log.append(tenant, event(0))
      // Everything before a time still to come: the watermark stops at the newest entry (2 January).
      const before = new Date(Date.UTC(2026, 0, 10))
      assert.deepStrictEqual(yield* log.redactDetails(tenant, { before, actor, limit: 10 }), [0])
      // A process whose clock is a day behind (or an append that waited in a batch meanwhile).
      yield* TestClock.setTime(Date.UTC(2026, 0, 1))
      const late = yield* log.append(tenant, event(2))
      assert.strictEqual(late.index, 2)
      assert.strictEqual(yield* store.countDetails(tenant, { before }), 2, "the late entry is not counted")
      assert.deepStrictEqual(
        Option.map(yield* store.oldestDetails(tenant, {}), (time) => time.toISOString()),
        Option.some(new Date(Date.UTC(2026, 0, 1)).toISOString())
      )
      assert.deepStrictEqual(yield* log.redactDetails(tenant, { before, actor, limit: 10 }), [1, 2], "the late entry kept its details")
      assert.strictEqual(yield* store.countDetails(tenant, { before }), 1)
      assert.isTrue((yield* log.verify(tenant)).ok)
    }))
})
