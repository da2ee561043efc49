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

/**
 * A package's migrations did not apply, their transaction's `COMMIT`
 * included (a deferred constraint, the connection lost). Start-up stops;
 * nothing half-applied stays, because each run is one transaction. A
 * migration whose own statement fails is a defect of `@effect/sql`'s
 * Migrator (`MigrationError`) instead. Either keeps of the database's error
 * only what `Database.safeSqlError` keeps: never a row the migration was
 * refused by.
 *
 * @since 0.1.0
 * @category errors
 */
export class MigrationFailed extends Schema.TaggedError<MigrationFailed>()("MigrationFailed", {
  packageName: Schema.String,
  cause: Schema.Defect
}) {
  override get message(): string {
    return `Migrations of ${this.packageName} failed`
  }
}

/**
 * A migration: statements run with the package's `SqlClient`.
 *
 * @since 0.1.0
 * @category models
 */
export type Migration = Effect.Effect<unknown, unknown, SqlClient.SqlClient>

/**
 * Applies the migrations of one package that have not run yet, in the order of
 * their numeric prefix (`"0001_subjects"`, `"0002_..."`). Replicas starting at
 * once take turns on an advisory lock, so each migration runs exactly once.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = (
  packageName: string,
  migrations: Record<string, Migration>
): Effect.Effect<void, MigrationFailed, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const table = `lawful_${packageName.replaceAll("-", "_")}_migrations`
    yield* Effect.all([
      sql`SELECT pg_advisory_xact_lock(hashtext(${table}))`,
      // The Migrator's own table check fails inside a transaction, so the table is made first.
      sql`CREATE TABLE IF NOT EXISTS ${sql(table)} (
        migration_id integer PRIMARY KEY,
        created_at timestamptz NOT NULL DEFAULT now(),
        name text NOT NULL
      )`,
      Migrator.make({})({ loader: Migrator.fromRecord(migrations), table })
    ], { discard: true }).pipe(Database.withTransaction(sql), Effect.provideService(SqlClient.SqlClient, sql))
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
