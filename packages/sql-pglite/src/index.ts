/**
 * An `@effect/sql` `SqlClient` over PGlite, shaped like `@effect/sql-pg`'s `PgClient`.
 *
 * @since 0.1.0
 */
export * as PgliteClient from "./PgliteClient.js"
