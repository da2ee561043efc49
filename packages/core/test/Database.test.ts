import { assert } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { inTransaction, outsideTransactionAll } from "../src/Database.js"
import { sqlSuite } from "../src/testing.js"

sqlSuite("Database.outsideTransactionAll", Layer.empty, (it) => {
  it.effect("runs a store's operations, nested ones too, outside the caller's transaction, and keeps its own client", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = outsideTransactionAll({
        seen: inTransaction,
        seenWith: (n: number) => Effect.map(inTransaction, (inside) => [n, inside] as const),
        storage: { seen: inTransaction, client: sql },
        name: "store"
      })
      const inside = yield* sql.withTransaction(Effect.all([
        inTransaction,
        store.seen,
        store.seenWith(7),
        store.storage.seen
      ]))
      assert.deepStrictEqual(inside, [true, false, [7, false], false])
      assert.strictEqual(store.storage.client, sql)
      assert.strictEqual(store.name, "store")
    }))
})
