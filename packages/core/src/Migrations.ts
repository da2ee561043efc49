/**
 * Each package runs its own migrations, recorded in its own table
 * (`lawful_<package>_migrations`), on PostgreSQL and PGlite alike.
 *
 * @since 0.1.0
 */
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Database from "./Database.js"

// Why a run was refused before any migration ran: what to fix, told by the error's message. It
// quotes package names and migration keys and names, which are the code's, never data.
class Refusal extends Error {
  override readonly name = "MigrationsRefused"
}

/**
 * A package's migrations did not apply, their transaction's `COMMIT`
 * included (a deferred constraint, the connection lost), or were refused
 * before any ran, the message then saying why (see `run`). Start-up stops;
 * nothing half-applied stays, because each run is one transaction. A
 * migration whose own statement fails is a defect of `@effect/sql`'s Migrator
 * (`MigrationError`) instead. Either keeps of the database's error only what
 * `Database.safeSqlError` keeps: never a row the migration was refused by.
 *
 * @since 0.1.0
 * @category errors
 */
export class MigrationFailed extends Schema.TaggedError<MigrationFailed>()("MigrationFailed", {
  packageName: Schema.String,
  cause: Schema.Defect
}) {
  override get message(): string {
    return `Migrations of ${this.packageName} failed${this.cause instanceof Refusal ? `: ${this.cause.message}` : ""}`
  }
}

/**
 * A migration: statements run with the package's `SqlClient`.
 *
 * @since 0.1.0
 * @category models
 */
export type Migration = Effect.Effect<unknown, unknown, SqlClient.SqlClient>

const packageNamePattern = /^[a-z][a-z0-9_-]*$/
// Exactly the Migrator's reading of a key (`Migrator.fromRecord`): a key it does not read, a name
// with a line break among them, it drops without a word.
const keyPattern = /^(\d+)_(.+)$/
// The migrations table's `migration_id` is a PostgreSQL `integer`.
const maxId = 2 ** 31 - 1

interface Given {
  readonly key: string
  readonly name: string
}

// The migrations by number, or why they are refused.
const readKeys = (migrations: Record<string, Migration>): Map<number, Given> | Refusal => {
  const given = new Map<number, Given>()
  for (const key of Object.keys(migrations)) {
    const match = keyPattern.exec(key)
    const id = match === null ? Number.NaN : Number(match[1])
    if (match === null || !(id >= 1 && id <= maxId)) {
      return new Refusal(
        `the migration key "${key}" is not <number>_<name>, with a number from 1 to ${maxId} (as "0001_subjects")`
      )
    }
    const other = given.get(id)
    if (other !== undefined) return new Refusal(`the migration keys "${other.key}" and "${key}" have one number`)
    given.set(id, { key, name: match[2]! })
  }
  return given
}

// Why the migrations recorded do not go with those given, or `undefined`: the Migrator would skip,
// as run already, a migration given under a number that another migration was recorded with (by
// another package of the same name, or before a rename), or below the last one recorded.
const mismatch = (
  recorded: ReadonlyArray<{ readonly migration_id: number; readonly name: string }>,
  given: Map<number, Given>
): Refusal | undefined => {
  const names = new Map(recorded.map((row) => [row.migration_id, row.name]))
  for (const [id, name] of names) {
    const migration = given.get(id)
    if (migration !== undefined && migration.name !== name) {
      return new Refusal(
        `migration ${id} is recorded as run under the name "${name}", not "${migration.name}" ` +
          "(another package uses this name, or the migration was renamed)"
      )
    }
  }
  const last = Math.max(0, ...names.keys())
  for (const [id, { key }] of given) {
    if (id < last && !names.has(id)) {
      return new Refusal(`the migration "${key}" would never run: migration ${last} is recorded as run already`)
    }
  }
  return undefined
}

/**
 * Applies the migrations of one package that have not run yet, in the order of
 * their number (`"0001_subjects"`, `"0002_..."`), in one transaction. Replicas
 * starting at once take turns on an advisory lock, so each migration runs
 * exactly once.
 *
 * `packageName` is a lower-case letter followed by lower-case letters, digits,
 * `_` and `-` (`consent-proof`, `retention-archive`); it names the table
 * `lawful_<packageName>_migrations`, each `-` as `_` (so `my-store` and
 * `my_store` share one), and must be no other package's. Each key is
 * `<number>_<name>`, the number from 1 to 2147483647 and one key's only
 * (`"0001"` and `"1"` are one number), the name on one line. Each migration
 * recorded as run must be given under the same number and name, and a
 * migration given that is not recorded must come after every one that is.
 *
 * Fails with `MigrationFailed`, its message saying which and why, before
 * anything is written: for a package name or a key that is not one (the
 * Migrator would have taken no migration from a key such as `"0001-notes"`,
 * `"notes_v2"` or `"0002_notes\nv2"`, and reported success), and for
 * migrations that do not go with those recorded (a number recorded under
 * another name, by another package of the same name or before a rename; a
 * migration numbered below one recorded), which the Migrator would have
 * skipped as run.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = (
  packageName: string,
  migrations: Record<string, Migration>
): Effect.Effect<void, MigrationFailed, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    if (!packageNamePattern.test(packageName)) {
      return yield* Effect.fail(
        new Refusal("a package name is a lower-case letter followed by lower-case letters, digits, _ and - ([a-z][a-z0-9_-]*)")
      )
    }
    const given = readKeys(migrations)
    if (given instanceof Refusal) return yield* Effect.fail(given)
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const table = `lawful_${packageName.replaceAll("-", "_")}_migrations`
    yield* Effect.gen(function*() {
      yield* sql`SELECT pg_advisory_xact_lock(hashtext(${table}))`
      // The Migrator's own table check fails inside a transaction, so the table is made first.
      yield* sql`CREATE TABLE IF NOT EXISTS ${sql(table)} (
        migration_id integer PRIMARY KEY,
        created_at timestamptz NOT NULL DEFAULT now(),
        name text NOT NULL
      )`
      const recorded = yield* sql<{ migration_id: number; name: string }>`SELECT migration_id, name FROM ${sql(table)}`
      const refused = mismatch(recorded, given)
      if (refused !== undefined) return yield* Effect.fail(refused)
      yield* Migrator.make({})({ loader: Migrator.fromRecord(migrations), table })
    }).pipe(Database.withTransaction(sql), Effect.provideService(SqlClient.SqlClient, sql))
  }).pipe(
    // The Migrator makes a migration's failure a defect, its `MigrationError` holding the database's
    // error: a row the migration was refused by would be in it whole.
    Effect.catchSomeDefect((defect) =>
      defect instanceof Migrator.MigrationError && defect.cause !== undefined
        ? Option.some(Effect.die(
          new Migrator.MigrationError({
            reason: defect.reason,
            message: defect.message,
            cause: Database.safeSqlError(defect.cause)
          })
        ))
        : Option.none()
    ),
    Effect.mapError((cause) => new MigrationFailed({ packageName, cause: Database.safeSqlError(cause) })),
    Effect.withSpan("Migrations.run", { captureStackTrace: false, attributes: { package: packageName } })
  )
