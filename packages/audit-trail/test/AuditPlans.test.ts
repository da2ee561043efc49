import { assert } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SubjectId from "@lawful/core/SubjectId"
import * as TenantId from "@lawful/core/TenantId"
import { rowsReadBy, sqlSuite } from "@lawful/core/testing"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as AuditStore from "../src/AuditStore.js"

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
})
