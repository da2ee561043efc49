import { assert, describe, layer } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as KeyStore from "../src/KeyStore.js"
import * as MasterKey from "../src/MasterKey.js"
import * as SubjectId from "../src/SubjectId.js"
import * as TenantId from "../src/TenantId.js"
import { pgliteLayer } from "../src/testing.js"
import * as Vault from "../src/Vault.js"
import { suite } from "./VaultSuite.js"

// The keys in a database of their own (here a second PGlite), the main database beside them.
const keysApart = Vault.layer.pipe(
  Layer.provideMerge(KeyStore.layerClient(pgliteLayer)),
  Layer.provideMerge(MasterKey.layerRandom),
  Layer.orDie
)

describe("KeyStore on a database of its own", () => {
  layer(keysApart, { timeout: 120_000 })((it) => {
    suite(it)
  })

  layer(Layer.merge(keysApart, pgliteLayer), { timeout: 120_000 })((it) => {
    it.effect("called inside a transaction of the main database, the Vault keeps its keys in theirs", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const vault = yield* Vault.Vault
        const tenant = yield* TenantId.make
        const subject = yield* SubjectId.make
        // `@effect/sql` hands every client the fibre's open transaction: without care, the key
        // store's statements would run on the main database's connection.
        yield* sql.withTransaction(Effect.gen(function*() {
          const sealed = yield* vault.seal(tenant, subject, "test.field", "203.0.113.7")
          assert.strictEqual(yield* vault.openString(tenant, subject, "test.field", sealed), "203.0.113.7")
          yield* vault.shred(tenant, subject)
        }))
        assert.deepStrictEqual((yield* vault.erasures(tenant)).map((erasure) => erasure.subjectId), [subject])
        const tables = yield* sql<{ n: number | string }>`
          SELECT count(*) AS n FROM pg_tables WHERE tablename LIKE 'lawful_vault%'`
        assert.strictEqual(Number(tables[0]!.n), 0)
      }))
  })
})
