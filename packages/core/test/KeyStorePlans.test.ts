import { assert } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import { KeyStore, layerSql } from "../src/KeyStore.js"
import * as TenantId from "../src/TenantId.js"
import { rowsReadBy, sqlSuite } from "../src/testing.js"

sqlSuite("KeyStore plans", layerSql, (it) => {
  it.effect("a page of the erasure ledger reads its own rows, in a tenant the statistics have not seen", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* KeyStore
      // Shredded keys, several per second, as a mass erasure leaves them (at the millisecond, as
      // the store writes them).
      const shred = (tenant: TenantId.TenantId, n: number) =>
        sql`INSERT INTO lawful_vault_subject_keys (tenant_id, subject_id, shredded_at)
          SELECT ${tenant}::uuid, gen_random_uuid(), date_trunc('milliseconds', now()) - (i % 500) * interval '1 second'
          FROM generate_series(1, ${n}::int) i`
      yield* shred(yield* TenantId.make, 200)
      yield* sql`ANALYZE lawful_vault_subject_keys`
      const tenant = yield* TenantId.make
      yield* shred(tenant, 3000)

      const all = yield* store.erasures(tenant, { limit: 5000 })
      assert.strictEqual(all.length, 3000)
      const [page, read] = yield* rowsReadBy("lawful_vault_subject_keys", store.erasures(tenant, { after: all[1499]!, limit: 10 }))
      assert.deepStrictEqual(page, all.slice(1500, 1510))
      // Before: every erasure after the cursor was read, then sorted (1,506 rows on PostgreSQL).
      assert.isAtMost(read, 30, `rows read: ${read}`)
    }))
})
