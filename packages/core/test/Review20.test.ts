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
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join, sep } from "node:path"
import { fileURLToPath } from "node:url"
import * as Migrations from "../src/Migrations.js"
import { sqlSuite } from "../src/testing.js"

// Every call of Migrations.run in the packages' sources: its file and its first argument, as written.
const migrationCallers = (): ReadonlyArray<{ readonly file: string; readonly argument: string }> => {
  const packages = fileURLToPath(new URL("../../", import.meta.url))
  return readdirSync(packages).flatMap((pkg) => {
    const src = join(packages, pkg, "src")
    if (!existsSync(src)) return []
    return readdirSync(src, { recursive: true, encoding: "utf8" })
      .filter((file) => file.endsWith(".ts"))
      .flatMap((file) =>
        [...readFileSync(join(src, file), "utf8").matchAll(/\bMigrations\.run\(\s*([^,]+?)\s*,/g)].map((match) => ({
          file: `${pkg}/src/${file.split(sep).join("/")}`,
          argument: match[1]!
        }))
      )
  })
}

// The names a caller builds rather than writes, by `<file>: <argument>`: each form its code gives.
const builtNames: Record<string, ReadonlyArray<string>> = {
  // The archive's schema, lower-cased, each character but [a-z0-9_] as `_`.
  "retention/src/ArchiveStore.ts: record": ["retention-archive", "retention-archive-tenant_archive_2024", "retention-archive-2024"]
}

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
      // The Migrator reads no name across a line break: "0002_notes\nv2" it would drop, silently.
      const keys = ["0001-notes", "notes_v2", "0001_", "0000_zero", "_0001_x", "99999999999_huge", "0002_notes\nv2", "0002_notes\u2028v2"]
      for (const key of keys) {
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

  it.effect("the name each package's sources pass to Migrations.run passes", () =>
    Effect.gen(function*() {
      const callers = migrationCallers()
      const names = callers.flatMap((caller) => {
        const literal = /^"([^"\\]*)"$/.exec(caller.argument)
        if (literal !== null) return [literal[1]!]
        const built = builtNames[`${caller.file}: ${caller.argument}`]
        assert.isDefined(built, `${caller.file} passes ${caller.argument}: list the names it builds in builtNames`)
        return built ?? []
      })
      assert.includeMembers(names, ["subjects", "vault", "suppression", "audit-trail", "consent-proof", "retention"])
      assert.includeMembers(callers.map((caller) => `${caller.file}: ${caller.argument}`), Object.keys(builtNames), "a caller listed is gone")
      for (const name of names) {
        const id = unique()
        yield* Migrations.run(name, { "0001_x": createTable(`names_${id}`) }).pipe(
          Effect.catchAll((error) => Effect.sync(() => assert.fail(`${name}: ${error.message}`)))
        )
        assert.deepStrictEqual(yield* tablesNamed(`names_${id}`), [`names_${id}`], name)
      }
    }))
})
