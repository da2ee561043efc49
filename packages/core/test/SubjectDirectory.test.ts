import { assert } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { randomBytes, randomUUID } from "node:crypto"
import * as KeyStore from "../src/KeyStore.js"
import * as SubjectDirectory from "../src/SubjectDirectory.js"
import * as TenantId from "../src/TenantId.js"
import { contractSuite, readCounter, rowsReadBy, sqlSuite } from "../src/testing.js"
import * as Vault from "../src/Vault.js"
import { withVault } from "./SubjectDirectoryLayers.js"
import { suite } from "./SubjectDirectorySuite.js"

const layers = {
  memory: withVault(SubjectDirectory.layerMemory, KeyStore.layerMemory),
  sql: withVault(SubjectDirectory.layerSql, KeyStore.layerSql)
}

contractSuite("SubjectDirectory", layers, suite)

// What the SQL layer leaves in its tables.
sqlSuite("SubjectDirectory storage", layers.sql, (it) => {
  const rowsOf = (tenant: TenantId.TenantId) =>
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      sql<{ subject_id: string; email_index: string; email_sealed: Uint8Array }>`
        SELECT subject_id, email_index, email_sealed FROM lawful_subjects WHERE tenant_id = ${tenant}`)

  const countsOf = (tenant: TenantId.TenantId) =>
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      sql<{ subjects: number; tenant_keys: number; subject_keys: number }>`SELECT
        (SELECT count(*)::int FROM lawful_subjects WHERE tenant_id = ${tenant}) AS subjects,
        (SELECT count(*)::int FROM lawful_vault_tenant_keys WHERE tenant_id = ${tenant}) AS tenant_keys,
        (SELECT count(*)::int FROM lawful_vault_subject_keys WHERE tenant_id = ${tenant}) AS subject_keys`.pipe(
        Effect.map((rows) => rows[0]!)
      ))

  it.effect("a row holds the tenant's blind index and the sealed address, never the address", () =>
    Effect.gen(function*() {
      const directory = yield* SubjectDirectory.SubjectDirectory
      const vault = yield* Vault.Vault
      const [a, b] = yield* Effect.all([TenantId.make, TenantId.make])
      const inA = yield* directory.resolve(a, "Kim.Stored@example.com")
      const inB = yield* directory.resolve(b, "kim.stored@example.com")

      const [rowA] = yield* rowsOf(a)
      const [rowB] = yield* rowsOf(b)
      assert.strictEqual(rowA!.subject_id, inA)
      assert.strictEqual(rowB!.subject_id, inB)
      assert.strictEqual(rowA!.email_index, yield* vault.blindIndex(a, SubjectDirectory.purpose, "kim.stored@example.com"))
      assert.strictEqual(rowB!.email_index, yield* vault.blindIndex(b, SubjectDirectory.purpose, "kim.stored@example.com"))
      assert.notStrictEqual(rowA!.email_index, rowB!.email_index)
      for (const row of [rowA!, rowB!]) {
        assert.notInclude(Buffer.from(row.email_sealed).toString("latin1").toLowerCase(), "kim.stored")
        assert.notInclude(row.email_index, "kim")
      }
      assert.strictEqual(
        yield* vault.openString(a, inA, SubjectDirectory.purpose, rowA!.email_sealed),
        "kim.stored@example.com"
      )
    }))

  it.effect("an invalid address writes nothing, not even a key", () =>
    Effect.gen(function*() {
      const directory = yield* SubjectDirectory.SubjectDirectory
      const tenant = yield* TenantId.make
      for (const input of ["", "no-at.example.com", "two words@example.com", "x@y"]) {
        assert.strictEqual((yield* Effect.flip(directory.resolve(tenant, input)))._tag, "InvalidEmail")
        assert.strictEqual((yield* Effect.flip(directory.find(tenant, input)))._tag, "InvalidEmail")
      }
      assert.deepStrictEqual(yield* countsOf(tenant), { subjects: 0, tenant_keys: 0, subject_keys: 0 })
    }))

  it.effect("concurrent resolves of one address store one row", () =>
    Effect.gen(function*() {
      const directory = yield* SubjectDirectory.SubjectDirectory
      const tenant = yield* TenantId.make
      const subjects = yield* Effect.forEach(
        Array.from({ length: 20 }, () => "lou@example.com"),
        (email) => directory.resolve(tenant, email),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(new Set(subjects).size, 1)
      const rows = yield* rowsOf(tenant)
      assert.deepStrictEqual(rows.map((row) => row.subject_id), [subjects[0]!])
    }))

  it.effect("forget deletes the row", () =>
    Effect.gen(function*() {
      const directory = yield* SubjectDirectory.SubjectDirectory
      const tenant = yield* TenantId.make
      const subject = yield* directory.resolve(tenant, "mia@example.com")
      yield* directory.resolve(tenant, "ned@example.com")
      yield* directory.forget(tenant, subject)
      const rows = yield* rowsOf(tenant)
      assert.strictEqual(rows.length, 1)
      assert.notStrictEqual(rows[0]!.subject_id, subject)
    }))
})

// A tenant the planner's statistics have not seen (new since the last ANALYZE, or a table
// never analysed) is estimated at a handful of rows: planned for that estimate, a lookup of a
// few addresses scanned every row of the tenant. The index entries the lookups read show
// which plan ran.
sqlSuite("SubjectDirectory plans", layers.sql, (it) => {
  it.effect("looking up addresses reads their entries only, in a tenant the statistics have not seen", () =>
    Effect.scoped(Effect.gen(function*() {
      // One connection, so every statistic counted below is its own.
      const { indexEntriesRead, run } = yield* readCounter
      const insertOrFind = (tenant: string, entries: ReadonlyArray<string>, indexes: ReadonlyArray<string>) =>
        run(
          `SELECT out_subject FROM lawful_subjects_insert_or_find($1, $2::jsonb, $3::text[])`,
          [
            tenant,
            JSON.stringify(entries.map((i) => ({ s: randomUUID(), i, e: randomBytes(40).toString("hex"), c: new Date() }))),
            indexes
          ]
        )
      const addresses = (n: number) => Array.from({ length: n }, () => randomBytes(32).toString("hex"))

      // 30 entries asked for, three a call; a scan of the tenant would read 3,000 a call.
      const lookUp = (tenant: string, known: ReadonlyArray<string>) =>
        Effect.gen(function*() {
          const before = yield* indexEntriesRead("lawful_subjects")
          for (let call = 0; call < 10; call++) {
            const found = yield* insertOrFind(tenant, [], known.slice(call * 3, call * 3 + 3))
            assert.strictEqual(found.length, 3)
          }
          const read = (yield* indexEntriesRead("lawful_subjects")) - before
          assert.isAtMost(read, 100, `index entries read: ${read}`)
        })

      // A table never analysed (nor by autovacuum meanwhile).
      yield* run(`ALTER TABLE lawful_subjects SET (autovacuum_enabled = false)`)
      const first = randomUUID()
      const firstKnown = addresses(3000)
      yield* insertOrFind(first, firstKnown, [])
      yield* lookUp(first, firstKnown)

      // A tenant newer than the last ANALYZE.
      yield* insertOrFind(randomUUID(), addresses(200), [])
      yield* run(`ANALYZE lawful_subjects`)
      const tenant = randomUUID()
      const known = addresses(3000)
      yield* insertOrFind(tenant, known, [])
      yield* lookUp(tenant, known)
    })))

  it.effect("find reads the entries of its address only, in a tenant the statistics have not seen", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const directory = yield* SubjectDirectory.SubjectDirectory
      const [seen, tenant] = yield* Effect.all([TenantId.make, TenantId.make])
      const fill = (tenant: TenantId.TenantId, prefix: string, n: number) =>
        directory.resolveAll(tenant, Array.from({ length: n }, (_, i) => `${prefix}${i}@example.com`))
      yield* fill(seen, "seen", 200)
      yield* sql`ANALYZE lawful_subjects`
      yield* fill(tenant, "person", 3000)

      const [, read] = yield* rowsReadBy("lawful_subjects", Effect.gen(function*() {
        for (let i = 0; i < 10; i++) {
          assert.isTrue(Option.isSome(yield* directory.find(tenant, `person${i * 100}@example.com`)))
        }
      }))
      // 10 addresses looked up; a scan of the tenant would read 3,000 rows each time.
      assert.isAtMost(read, 100, `rows read: ${read}`)
    }))
})
