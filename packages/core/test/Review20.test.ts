/**
 * Review 20: `Migrations.run` reported success for migrations it never ran (a key it did not read,
 * a table shared with another package) and refused a package name without saying why; each with
 * the test that failed before its fix.
 */
import { assert } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { randomUUID } from "node:crypto"
import * as Migrations from "../src/Migrations.js"
import { sqlSuite } from "../src/testing.js"

const unique = () => randomUUID().replaceAll("-", "").slice(0, 12)

// The MigrationFailed a run failed with (never a defect), or a failed assertion.
const failureOf = (exit: Exit.Exit<void, Migrations.MigrationFailed>): Migrations.MigrationFailed => {
  assert.isTrue(Exit.isFailure(exit), "the run succeeded")
  const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
  assert.isTrue(Option.isSome(failure), Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "")
  return Option.getOrThrow(failure)
}

const tablesNamed = (...names: ReadonlyArray<string>) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql<{ relname: string }>`SELECT relname FROM pg_class WHERE relname IN ${sql.in(names)}`.pipe(
        Effect.map((rows) => rows.map((row) => row.relname))
      )
  )

const createTable = (table: string) => Effect.flatMap(SqlClient.SqlClient, (sql) => sql`CREATE TABLE ${sql(table)} (x int)`)

sqlSuite("Review20: Migrations.run", Layer.empty, (it) => {
  it.effect("a key that is not <digits>_<name> is refused, naming it, and nothing is written", () =>
    Effect.gen(function*() {
      const id = unique()
      const packageName = `keys-${id}`
      for (const key of ["0001-notes", "notes_v2", "0001_", "0000_zero", "_0001_x", "99999999999_huge"]) {
        const exit = yield* Effect.exit(Migrations.run(packageName, {
          "0001_first": createTable(`keys_a_${id}`),
          [key]: createTable(`keys_b_${id}`)
        }))
        const error = failureOf(exit)
        assert.strictEqual(error.packageName, packageName)
        assert.include(error.message, `"${key}"`)
        assert.deepStrictEqual(yield* tablesNamed(`keys_a_${id}`, `keys_b_${id}`, `lawful_keys_${id}_migrations`), [])
      }
    }))

  it.effect("two keys of one number are refused, naming both, and nothing is written", () =>
    Effect.gen(function*() {
      const id = unique()
      const error = failureOf(
        yield* Effect.exit(Migrations.run(`twice-${id}`, {
          "0001_first": createTable(`twice_a_${id}`),
          "1_again": createTable(`twice_b_${id}`)
        }))
      )
      assert.include(error.message, `"0001_first"`)
      assert.include(error.message, `"1_again"`)
      assert.deepStrictEqual(yield* tablesNamed(`twice_a_${id}`, `twice_b_${id}`, `lawful_twice_${id}_migrations`), [])
    }))

  it.effect("a migration recorded under another name (another package, a rename) fails the run instead of being skipped", () =>
    Effect.gen(function*() {
      const id = unique()
      const packageName = `shared-${id}`
      yield* Migrations.run(packageName, { "0001_first": createTable(`shared_c_${id}`) })
      const error = failureOf(
        yield* Effect.exit(Migrations.run(packageName, {
          "0001_other": createTable(`shared_d_${id}`),
          "0002_next": createTable(`shared_e_${id}`)
        }))
      )
      assert.strictEqual(error.packageName, packageName)
      assert.include(error.message, `"first"`)
      assert.include(error.message, `"other"`)
      assert.deepStrictEqual(yield* tablesNamed(`shared_d_${id}`, `shared_e_${id}`), [])
      // The same migrations as recorded, and one more, still run.
      yield* Migrations.run(packageName, { "0001_first": createTable(`shared_c_${id}`), "0002_next": createTable(`shared_e_${id}`) })
      assert.deepStrictEqual(yield* tablesNamed(`shared_e_${id}`), [`shared_e_${id}`])
    }))

  it.effect("a migration numbered below one recorded, never run, fails the run instead of being skipped", () =>
    Effect.gen(function*() {
      const id = unique()
      const packageName = `gap-${id}`
      yield* Migrations.run(packageName, { "0001_first": createTable(`gap_a_${id}`), "0003_third": createTable(`gap_c_${id}`) })
      const error = failureOf(
        yield* Effect.exit(Migrations.run(packageName, {
          "0001_first": createTable(`gap_a_${id}`),
          "0002_second": createTable(`gap_b_${id}`),
          "0003_third": createTable(`gap_c_${id}`)
        }))
      )
      assert.include(error.message, `"0002_second"`)
      assert.deepStrictEqual(yield* tablesNamed(`gap_b_${id}`), [])
    }))

  it.effect("a package name outside [a-z][a-z0-9_-]* is refused, saying so, and nothing is written", () =>
    Effect.gen(function*() {
      const id = unique()
      for (const packageName of [`Notes.V2-${id}`, `notes.v2-${id}`, `Notes-${id}`, `1notes-${id}`, ""]) {
        const error = failureOf(yield* Effect.exit(Migrations.run(packageName, { "0001_x": createTable(`name_${id}`) })))
        assert.strictEqual(error.packageName, packageName)
        assert.include(error.message, "[a-z][a-z0-9_-]*")
        assert.deepStrictEqual(yield* tablesNamed(`name_${id}`), [])
      }
    }))

  it.effect("every package's name passes", () =>
    Effect.gen(function*() {
      const id = unique()
      yield* Migrations.run(`retention-archive-lawful_archive_${id}`, { "0001_x": createTable(`names_${id}`) })
      assert.deepStrictEqual(yield* tablesNamed(`names_${id}`), [`names_${id}`])
    }))
})
