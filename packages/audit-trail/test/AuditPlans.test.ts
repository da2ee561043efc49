import { assert } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import type * as Statement from "@effect/sql/Statement"
import * as SubjectId from "@lawful/core/SubjectId"
import * as TenantId from "@lawful/core/TenantId"
import { rowsReadBy, sqlSuite } from "@lawful/core/testing"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as AuditLog from "../src/AuditLog.js"
import { AuditEvent } from "../src/AuditEvent.js"
import * as AuditStore from "../src/AuditStore.js"
import * as CheckpointPublisher from "../src/CheckpointPublisher.js"

// `count` entries of a tenant, a millisecond apart from 2026-01-01, the oldest first: every
// `every`-th is `subject`'s, and an entry has details where `details` (of the index `g`) holds.
const fillEntries = (
  tenant: TenantId.TenantId,
  options: { readonly count: number; readonly every: number; readonly subject: Statement.Fragment; readonly details: Statement.Fragment }
) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`INSERT INTO lawful_audit_entries
        (tenant_id, idx, time, actor_kind, action, subject_id, subject_salt, details, details_salt, leaf, leaf_hash)
      SELECT ${tenant}::uuid, g, timestamptz '2026-01-01' + g * interval '1 millisecond', 'system', 'test.filled',
        CASE WHEN g % ${options.every} = 0 THEN ${options.subject} END,
        CASE WHEN g % ${options.every} = 0 THEN '\\x00'::bytea END,
        CASE WHEN ${options.details} THEN '{"n":1}'::jsonb END,
        CASE WHEN ${options.details} THEN '\\x00'::bytea END, g::text::bytea, sha256(g::text::bytea)
      FROM generate_series(0, ${options.count - 1}) g`)

// A tenant newer than the table's statistics is estimated at a handful of rows. Planned for
// that, a proof's lookup of its stored nodes read every node of the tenant, where a proof must
// cost O(log n) reads. The rows a transaction fetched show which plan ran.
sqlSuite("AuditStore plans", AuditStore.layerSql, (it) => {
  it.effect("a proof's nodes are read by key, in a tenant the statistics have not seen", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* AuditStore.AuditStore
      const fill = (tenant: TenantId.TenantId) =>
        sql`INSERT INTO lawful_audit_nodes (tenant_id, level, idx, hash)
          SELECT ${tenant}::uuid, l, g, sha256(g::text::bytea)
          FROM generate_series(1, 8) l, generate_series(0, 2999) g`
      const [seen, tenant] = yield* Effect.all([TenantId.make, TenantId.make])
      yield* fill(seen)
      yield* sql`ANALYZE lawful_audit_nodes`
      yield* fill(tenant)

      const wanted = Array.from({ length: 8 }, (_, i) => ({ level: i + 1, index: 100 * (i + 1) }))
      const [found, read] = yield* rowsReadBy("lawful_audit_nodes", store.nodeHashes(tenant, wanted))
      assert.strictEqual(found.size, 8)
      // 8 nodes asked for; a scan of the tenant would read 24,000.
      assert.isAtMost(read, 50, `rows read: ${read}`)
    }))

  it.effect("a proof's leaves are read by key, in a tenant the statistics have not seen", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* AuditStore.AuditStore
      const fill = (tenant: TenantId.TenantId) =>
        sql`INSERT INTO lawful_audit_entries
            (tenant_id, idx, time, actor_kind, action, leaf, leaf_hash)
          SELECT ${tenant}::uuid, g, now(), 'system', 'test.filled', g::text::bytea, sha256(g::text::bytea)
          FROM generate_series(0, 19999) g`
      const [seen, tenant] = yield* Effect.all([TenantId.make, TenantId.make])
      yield* fill(seen)
      yield* sql`ANALYZE lawful_audit_entries`
      yield* fill(tenant)

      const wanted = [3, 700, 1500, 9000, 19999]
      const [found, read] = yield* rowsReadBy("lawful_audit_entries", store.leafHashes(tenant, wanted))
      assert.deepStrictEqual([...found.keys()].sort((a, b) => a - b), wanted)
      // 5 leaves asked for; a scan of the tenant would read 20,000.
      assert.isAtMost(read, 50, `rows read: ${read}`)
    }))

  it.effect("an entry, and a subject's entries, are read by key, in a tenant the statistics have not seen", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* AuditStore.AuditStore
      const subject = yield* SubjectId.make
      // Every hundredth entry is about the subject.
      const fill = (tenant: TenantId.TenantId) =>
        sql`INSERT INTO lawful_audit_entries
            (tenant_id, idx, time, actor_kind, action, subject_id, subject_salt, leaf, leaf_hash)
          SELECT ${tenant}::uuid, g, now(), 'system', 'test.filled',
            CASE WHEN g % 100 = 0 THEN ${subject}::uuid END, CASE WHEN g % 100 = 0 THEN '\\x00'::bytea END,
            g::text::bytea, sha256(g::text::bytea)
          FROM generate_series(0, 19999) g`
      const [seen, tenant] = yield* Effect.all([TenantId.make, TenantId.make])
      yield* fill(seen)
      yield* sql`ANALYZE lawful_audit_entries`
      yield* fill(tenant)

      const [[entry, entries], read] = yield* rowsReadBy("lawful_audit_entries", Effect.gen(function*() {
        const entry = yield* store.entry(tenant, 12345)
        const entries = yield* store.entries(tenant, { subject, limit: 50 })
        return [entry, entries] as const
      }))
      assert.strictEqual(Option.getOrThrow(entry).index, 12345)
      assert.strictEqual(entries.length, 50)
      // 51 entries read; a scan of the tenant would read 20,000.
      assert.isAtMost(read, 200, `rows read: ${read}`)
    }))

  it.effect("a redaction batch reads the entries it redacts, not those redacted before", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* AuditStore.AuditStore
      // 20,000 entries with details, a millisecond apart, the oldest first.
      const fill = (tenant: TenantId.TenantId) =>
        sql`INSERT INTO lawful_audit_entries
            (tenant_id, idx, time, actor_kind, action, details, details_salt, leaf, leaf_hash)
          SELECT ${tenant}::uuid, g, timestamptz '2026-01-01' + g * interval '1 millisecond', 'system', 'test.filled',
            '{"n":1}'::jsonb, '\\x00'::bytea, g::text::bytea, sha256(g::text::bytea)
          FROM generate_series(0, 19999) g`
      const [seen, tenant] = yield* Effect.all([TenantId.make, TenantId.make])
      yield* fill(seen)
      yield* sql`ANALYZE lawful_audit_entries`
      yield* fill(tenant)
      const before = new Date(Date.UTC(2026, 0, 1, 0, 0, 15))
      // Batches of a sweep that have redacted the oldest 10,000 already.
      for (let i = 0; i < 10; i++) {
        assert.strictEqual((yield* store.redactDetails(tenant, { before, limit: 1000 })).length, 1000)
      }

      const [redacted, read] = yield* rowsReadBy("lawful_audit_entries", store.redactDetails(tenant, { before, limit: 10 }))
      assert.deepStrictEqual(redacted, Array.from({ length: 10 }, (_, i) => 10000 + i))
      // Before, planned for a tenant newer than the statistics, the statement read the tenant's
      // entries again for each one it considered: 200,219,955 rows for this batch of ten, on
      // PGlite (three minutes) and PostgreSQL alike.
      assert.isAtMost(read, 100, `rows read: ${read}`)
      const last = yield* store.redactDetails(tenant, { before, limit: 10_000 })
      assert.strictEqual(last.length, 15_000 - 10_010)
      assert.deepStrictEqual(yield* store.redactDetails(tenant, { before, limit: 10 }), [])
      // A later cut-off, a day later: the batch starts where the last one ended.
      const [next, nextRead] = yield* rowsReadBy(
        "lawful_audit_entries",
        store.redactDetails(tenant, { before: new Date(before.getTime() + 10), limit: 10 })
      )
      assert.deepStrictEqual(next, Array.from({ length: 10 }, (_, i) => 15_000 + i))
      assert.isAtMost(nextRead, 100, `rows read: ${nextRead}`)
    }))

  it.effect("a redaction batch excluding a held subject reads neither the redacted history nor the subject's", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* AuditStore.AuditStore
      const held = yield* SubjectId.make
      // 5,000 entries, a millisecond apart, the oldest first; every tenth is the held subject's, which
      // has details from the 2,000th on (the others all have details).
      // In the tenant the statistics have seen, every tenth entry is another subject's.
      const fill = (tenant: TenantId.TenantId, subject: Statement.Fragment) =>
        fillEntries(tenant, { count: 5000, every: 10, subject, details: sql`g % 10 <> 0 OR g >= 2000` })
      const [seen, tenant] = yield* Effect.all([TenantId.make, TenantId.make])
      yield* fill(seen, sql`md5(g::text)::uuid`)
      yield* sql`ANALYZE lawful_audit_entries`
      yield* fill(tenant, sql`${held}::uuid`)
      const before = new Date(Date.UTC(2026, 0, 1, 0, 0, 4))
      const excludeSubjects = new Set([held])
      // Batches of a sweep that have redacted the oldest 2,000 of the other entries.
      for (let i = 0; i < 2; i++) {
        assert.strictEqual((yield* store.redactDetails(tenant, { before, excludeSubjects, limit: 1000 })).length, 1000)
      }

      const [redacted, read] = yield* rowsReadBy(
        "lawful_audit_entries",
        store.redactDetails(tenant, { before, excludeSubjects, limit: 10 })
      )
      // The next ten entries that are not the held subject's: 2,223 to 2,233 but 2,230.
      assert.deepStrictEqual(redacted, [2223, 2224, 2225, 2226, 2227, 2228, 2229, 2231, 2232, 2233])
      // The 2,223 entries behind the watermark, 223 of them the held subject's, are not read again.
      assert.isAtMost(read, 100, `rows read: ${read}`)
      const rest = yield* store.redactDetails(tenant, { before, excludeSubjects, limit: 10_000 })
      assert.strictEqual(rest.length, 3600 - 2010)

      // The hold is over: a batch reads the subject's 500 entries through its index, not the
      // tenant's 2,000 entries before the subject's first with details.
      const [released, releasedRead] = yield* rowsReadBy(
        "lawful_audit_entries",
        store.redactDetails(tenant, { before, limit: 10 })
      )
      assert.deepStrictEqual(released, Array.from({ length: 10 }, (_, i) => 2000 + 10 * i))
      assert.isAtMost(releasedRead, 500 + 100, `rows read: ${releasedRead}`)
      assert.strictEqual((yield* store.redactDetails(tenant, { before, limit: 10_000 })).length, 200 - 10)
      const [after, afterRead] = yield* rowsReadBy(
        "lawful_audit_entries",
        store.redactDetails(tenant, { before, limit: 10 })
      )
      assert.deepStrictEqual(after, [])
      assert.isAtMost(afterRead, 100, `rows read: ${afterRead}`)
    }))

  it.effect("counting the entries with details, and finding the oldest, read the entries from the watermark and those left behind it, not the redacted history", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* AuditStore.AuditStore
      const held = yield* SubjectId.make
      // 20,000 entries with details, a millisecond apart, the oldest first; every thousandth is the
      // held subject's. In the tenant the statistics have seen, every thousandth is another subject's.
      const fill = (tenant: TenantId.TenantId, subject: Statement.Fragment) =>
        fillEntries(tenant, { count: 20_000, every: 1000, subject, details: sql`true` })
      const [seen, tenant] = yield* Effect.all([TenantId.make, TenantId.make])
      yield* fill(seen, sql`md5(g::text)::uuid`)
      yield* sql`ANALYZE lawful_audit_entries`
      yield* fill(tenant, sql`${held}::uuid`)
      const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms)
      const excludeSubjects = new Set([held])
      // Redacted up to 19,000 but the held subject's: the watermark passes 19 of its entries.
      assert.strictEqual((yield* store.redactDetails(tenant, { before: at(19_000), excludeSubjects, limit: 20_000 })).length, 18_981)

      const [counted, countRead] = yield* rowsReadBy("lawful_audit_entries", Effect.all([
        store.countDetails(tenant, { before: at(19_500) }),
        store.countDetails(tenant, { before: at(19_500), excludeSubjects })
      ]))
      // 500 entries from the watermark, read twice, and the held subject's 20 once.
      assert.deepStrictEqual(counted, [519, 499])
      assert.isAtMost(countRead, 2 * 500 + 100, `rows read: ${countRead}`)
      const [oldest, oldestRead] = yield* rowsReadBy("lawful_audit_entries", Effect.all([
        store.oldestDetails(tenant, {}),
        store.oldestDetails(tenant, { excludeSubjects })
      ]))
      // The held subject's first entry, and the first from the watermark that is not the held subject's.
      assert.deepStrictEqual(oldest, [Option.some(at(0)), Option.some(at(19_001))])
      assert.isAtMost(oldestRead, 100, `rows read: ${oldestRead}`)
    }))
  // A log signed on a schedule gathers checkpoints for ever: signing the next one and making a
  // proof bundle read one checkpoint each, not all of them.
  it.effect("the latest checkpoint and the one covering an entry are read by key, among thousands", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* AuditStore.AuditStore
      const fill = (tenant: TenantId.TenantId) =>
        sql`INSERT INTO lawful_audit_checkpoints (tenant_id, size, root, note)
          SELECT ${tenant}::uuid, g * 10, sha256(g::text::bytea), 'checkpoint ' || g
          FROM generate_series(1, 5000) g`
      const [seen, tenant] = yield* Effect.all([TenantId.make, TenantId.make])
      yield* fill(seen)
      yield* sql`ANALYZE lawful_audit_checkpoints`
      yield* fill(tenant)

      const [latest, latestRead] = yield* rowsReadBy("lawful_audit_checkpoints", store.latestCheckpoint(tenant))
      assert.deepStrictEqual(Option.map(latest, (c) => [c.size, c.note]), Option.some([50_000, "checkpoint 5000"]))
      assert.isAtMost(latestRead, 5, `rows read: ${latestRead}`)
      const [covering, coveringRead] = yield* rowsReadBy("lawful_audit_checkpoints", store.checkpointCovering(tenant, 12_345))
      assert.deepStrictEqual(Option.map(covering, (c) => c.size), Option.some(12_350))
      assert.isAtMost(coveringRead, 5, `rows read: ${coveringRead}`)
      // A page of them, for verification: the page's rows.
      const [page, pageRead] = yield* rowsReadBy("lawful_audit_checkpoints", store.checkpoints(tenant, { from: 12_345, limit: 100 }))
      assert.deepStrictEqual([page[0]!.size, page.at(-1)!.size, page.length], [12_350, 13_340, 100])
      assert.isAtMost(pageRead, 105, `rows read: ${pageRead}`)
    }))
  it.scoped("the latest checkpoint and a proof bundle's read one checkpoint, not all", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog.make().pipe(
        Effect.provide(Layer.merge(AuditLog.AuditSigner.layerRandom, CheckpointPublisher.layerMemory))
      )
      const tenant = yield* TenantId.make
      const event = new AuditEvent({ actor: { kind: "system", id: "plans" }, action: "test.appended" })
      // 200 checkpoints, one after each append, as a schedule would sign them.
      for (let i = 0; i < 200; i++) {
        yield* log.append(tenant, event)
        yield* log.checkpoint(tenant)
      }
      // The latest is what a new checkpoint is checked against (signing refuses to run inside
      // the transaction that counts the rows read; the read is the same).
      const [latest, latestRead] = yield* rowsReadBy("lawful_audit_checkpoints", log.checkpoint(tenant))
      assert.strictEqual(latest.size, 200)
      assert.isAtMost(latestRead, 5, `rows read: ${latestRead}`)
      const [bundle, bundleRead] = yield* rowsReadBy("lawful_audit_checkpoints", log.proofBundle(tenant, 7))
      assert.strictEqual(bundle.treeSize, 8)
      assert.isAtMost(bundleRead, 5, `rows read: ${bundleRead}`)
    }))
})
