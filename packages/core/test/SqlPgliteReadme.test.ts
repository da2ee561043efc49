// @lawful/sql-pglite's README example, run as its README shows it. It lives here because
// `readmeShows` is core's (core depends on sql-pglite, not the other way round).
import { assert, it } from "@effect/vitest"
import { readmeShows } from "../src/testing.js"

// readme:start pglite
import { PgliteClient } from "@lawful/sql-pglite"
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

const program = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE IF NOT EXISTS notes (id serial PRIMARY KEY, body text)`
  yield* sql`INSERT INTO notes ${sql.insert({ body: "hello" })}`
  return yield* sql`SELECT count(*) AS n FROM notes` // [{ n: "1" }], as on pg
})
// readme:end pglite

it.effect("the sql-pglite README's example counts one note, as a string as pg returns it", () =>
  Effect.gen(function*() {
    const rows = yield* program.pipe(Effect.provide(PgliteClient.layer()))
    assert.deepStrictEqual(rows, [{ n: "1" }])
  }), { timeout: 60_000 })

it("the sql-pglite README shows the example as the test runs it", () => {
  assert.deepStrictEqual(
    readmeShows(new URL("../../sql-pglite/README.md", import.meta.url), new URL(import.meta.url), "pglite"),
    { ok: true }
  )
})
