/**
 * The database every Lawful store runs on, chosen by configuration:
 *
 * - `DATABASE_URL` set: PostgreSQL through `@effect/sql-pg`, over TCP
 *   (`postgres://user:password@host:5432/database`) or a Unix socket
 *   (`postgres://user@/database?host=/var/run/postgresql`, see `databaseUrl`);
 * - unset: PGlite, the embedded Postgres, persisted in `LAWFUL_DATA_DIR`
 *   (default `./.lawful`).
 *
 * Both provide `SqlClient.SqlClient` and `PgClient.PgClient`.
 *
 * A store opens its transactions with `withTransaction(sql)`, not
 * `sql.withTransaction`: `@effect/sql` makes a failed `COMMIT` a defect, and
 * `withTransaction` makes it a failure with its `SqlError`, which the store
 * maps into its own error as any other, through `safeSqlError`: a store's
 * error never carries what the database's diagnostics quote of the data,
 * nor a value of a row read back that its Schema refuses.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError, SqlErrorTypeId } from "@effect/sql/SqlError"
import * as PgClient from "@effect/sql-pg/PgClient"
import { PgliteClient } from "@lawful/sql-pglite"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Issues from "./Issues.js"

/**
 * The database could not be opened or reached. The message names the host
 * and port (or the Unix socket) and the database, never the user or the
 * password.
 *
 * @since 0.1.0
 * @category errors
 */
export class DatabaseUnavailable extends Schema.TaggedError<DatabaseUnavailable>()("DatabaseUnavailable", {
  target: Schema.String,
  cause: Schema.Defect
}) {
  override get message(): string {
    return `Cannot open the database at ${this.target}`
  }
}

/**
 * A variable holding a PostgreSQL URL, when set, checked as `DATABASE_URL` is
 * (the same forms; a refused URL fails with one line that names the variable,
 * never the URL): for a package's database of its own, such as the archive's
 * `ARCHIVE_DATABASE_URL`.
 *
 * @since 0.1.0
 * @category config
 */
export const postgresUrl = (name: string): Config.Config<Option.Option<Redacted.Redacted<string>>> =>
  Config.option(
    Config.redacted(name).pipe(
      Config.validate({
        message: `${name} must be a PostgreSQL URL such as postgres://user:password@localhost:5432/lawful, ` +
          "or postgres://user@/lawful?host=/var/run/postgresql for a Unix socket",
        validation: (url) => Option.isSome(parseTarget(Redacted.value(url)))
      })
    )
  )

/**
 * `DATABASE_URL`, when set: a `postgres://` or `postgresql://` URL naming the
 * server, in one of the forms `pg` connects with:
 *
 * - over TCP: `postgres://user:password@localhost:5432/lawful`;
 * - over a Unix socket, the directory that holds it (`.s.PGSQL.<port>`) as the
 *   `host` parameter, `postgres://user@/lawful?host=/var/run/postgresql`
 *   (which overrides a host name in the URL, as in
 *   `postgres://user@localhost/lawful?host=/tmp`), or percent-encoded as the
 *   host, `postgresql://user@%2Fvar%2Frun%2Fpostgresql/lawful`.
 *
 * `port` may be given as a parameter too (`?host=/tmp&port=5433`). A URL
 * without a host (`postgres:///lawful`) is refused: libpq would take the
 * default socket, `pg` a TCP connection to localhost. A refused URL fails
 * with one line that names the variable and the forms, never the URL.
 *
 * @since 0.1.0
 * @category config
 */
export const databaseUrl: Config.Config<Option.Option<Redacted.Redacted<string>>> = postgresUrl("DATABASE_URL")

/**
 * `LAWFUL_DATA_DIR`: where the embedded database keeps its files (default `./.lawful`).
 * Set but empty, it is refused: PGlite would keep the database in memory, and lose it
 * (with the Vault's keys) when the process ends.
 *
 * @since 0.1.0
 * @category config
 */
export const dataDir: Config.Config<string> = Config.string("LAWFUL_DATA_DIR").pipe(
  Config.withDefault("./.lawful"),
  Config.validate({
    message: "LAWFUL_DATA_DIR must be the path of a directory, such as ./.lawful (the default when it is not set)",
    validation: (directory) => directory.trim().length > 0
  })
)

/**
 * The directory on this machine that the embedded database stores into for a
 * `LAWFUL_DATA_DIR` (`dataDir`): the path of a `file://` URL, the value itself
 * without a scheme, and `undefined` for another scheme (`memory://`,
 * `idb://`), which stores into none. For files kept beside the database, as
 * `@lawful/audit-trail`'s checkpoints are by default. The rule is
 * `@lawful/sql-pglite`'s own.
 *
 * @since 0.1.0
 * @category config
 */
export const localDirectory: (dataDir: string) => string | undefined = PgliteClient.localDirectory

// Where a URL leads, read as `pg` reads it (its `pg-connection-string`): the `host` and `port`
// parameters win over the URL's own, a host starting with a slash is a socket directory, and a
// URL with credentials but no host (`postgres://user@/db`), which `URL` refuses, is read with
// the host left empty.
interface Target {
  readonly host: string
  readonly port: string
  readonly database: string
}

const placeholderHost = "lawful-no-host"

const controlCharacter = /[\u0000-\u001f\u007f]/

const parseTarget = (value: string): Option.Option<Target> => {
  if (!/^postgres(?:ql)?:\/\//i.test(value)) return Option.none()
  // A control character is never part of a URL (a line break read from a secret file, say):
  // `pg` would take it into the database's name.
  if (controlCharacter.test(value)) return Option.none()
  // As `pg` does: spaces and stray percent signs encoded before parsing.
  const text = /\s|%[^a-f0-9]|%[a-f0-9][^a-f0-9]/i.test(value) ? encodeURI(value).replace(/%25(\d\d)/g, "%$1") : value
  const parse = (input: string) => {
    try {
      return new URL(input)
    } catch {
      return undefined
    }
  }
  let url = parse(text)
  let withoutHost = false
  if (url === undefined) {
    url = parse(text.replace("@/", `@${placeholderHost}/`))
    withoutHost = true
  }
  if (url === undefined) return Option.none()
  try {
    const host = url.searchParams.get("host") ??
      decodeURIComponent(withoutHost ? "" : url.hostname.replace(/^\[(.+)\]$/, "$1"))
    const port = url.searchParams.get("port") ?? url.port
    if (host.trim().length === 0 || host !== host.trim()) return Option.none()
    if (port !== "" && !(/^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535)) return Option.none()
    return Option.some({ host, port: port || "5432", database: decodeURI(url.pathname.slice(1)) })
  } catch {
    // A malformed percent-encoding.
    return Option.none()
  }
}

// What a failure names: the server and database, never the user or the password; on one line,
// a control character percent-encoded in the URL shown as it was written.
const describeTarget = (url: string): string =>
  Option.match(parseTarget(url), {
    onNone: () => "a malformed URL",
    onSome: ({ database, host, port }) =>
      (host.startsWith("/")
        ? `unix socket ${host.replace(/\/+$/, "")}/.s.PGSQL.${port}${database ? `, database ${database}` : ""}`
        : `${host.includes(":") ? `[${host}]` : host}:${port}/${database}`).replace(
          new RegExp(controlCharacter, "g"),
          (character) => encodeURIComponent(character)
        )
  })

/**
 * PostgreSQL at the given URL, in any form `databaseUrl` accepts.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerPostgres = (
  url: Redacted.Redacted<string>
): Layer.Layer<SqlClient.SqlClient | PgClient.PgClient, DatabaseUnavailable> =>
  PgClient.layer({ url, applicationName: "lawful" }).pipe(
    Layer.mapError((cause) => new DatabaseUnavailable({ target: describeTarget(Redacted.value(url)), cause: safeSqlError(cause) }))
  )

/**
 * PGlite persisted in `directory`, or in memory when it is omitted.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerEmbedded = (
  directory?: string
): Layer.Layer<SqlClient.SqlClient | PgClient.PgClient, DatabaseUnavailable> =>
  PgliteClient.layer({ dataDir: directory }).pipe(
    Layer.mapError((cause) => new DatabaseUnavailable({ target: directory ?? "memory", cause: safeSqlError(cause) }))
  )

/**
 * The database from configuration: PostgreSQL when `DATABASE_URL` is set,
 * else PGlite in `LAWFUL_DATA_DIR`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<
  SqlClient.SqlClient | PgClient.PgClient,
  ConfigError.ConfigError | DatabaseUnavailable
> = Layer.unwrapEffect(
  Effect.gen(function*() {
    const url = yield* databaseUrl
    if (Option.isSome(url)) return layerPostgres(url.value)
    return layerEmbedded(yield* dataDir)
  })
)

/**
 * Whether the calling fibre has an `@effect/sql` transaction open.
 *
 * @since 0.1.0
 * @category combinators
 */
export const inTransaction: Effect.Effect<boolean> = Effect.map(
  Effect.serviceOption(SqlClient.TransactionConnection),
  Option.isSome
)

/**
 * `sql.withTransaction`, with a failed `COMMIT` as a failure: `effect` run in
 * a transaction (a savepoint inside one already open, as before), and when
 * the commit fails (the connection lost at that moment, a deferred
 * constraint, a serialization failure) the result fails with the commit's
 * `SqlError`, which `@effect/sql` makes a defect. A store's `mapError` into
 * its own error then covers the commit too. Only the commit's error changes:
 * a defect raised by `effect` itself, a `SqlError` too, stays a defect (a
 * `SqlError` defect counts as the commit's only once `effect` has
 * succeeded), and `BEGIN` and a statement of `effect` fail as before.
 *
 * ```ts
 * const sql = (yield* SqlClient.SqlClient).withoutTransforms()
 * const erase = (tenant: TenantId) =>
 *   sql`DELETE FROM my_rows WHERE tenant_id = ${tenant}`.pipe(
 *     Database.withTransaction(sql),
 *     Effect.mapError((cause) => new MyStoreError({ operation: "erase", cause: Database.safeSqlError(cause) }))
 *   )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const withTransaction = (sql: SqlClient.SqlClient) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | SqlError, R> =>
  Effect.suspend(() => {
    // Set once `effect` succeeded: after that, only the commit (a savepoint's release is nothing) can die.
    let succeeded = false
    return sql.withTransaction(Effect.tap(effect, () => Effect.sync(() => (succeeded = true)))).pipe(
      Effect.catchSomeDefect((defect) =>
        succeeded && defect instanceof SqlError ? Option.some(Effect.fail(Cause.originalError(defect))) : Option.none()
      )
    )
  })

// What `safeSqlError` keeps of a driver's error: what failed, named, never the data.
const diagnosticFields = ["code", "severity", "schema", "table", "column", "constraint", "dataType", "routine"] as const

// An error `safeSqlError` makes: its fields and message own enumerable properties, so that JSON
// shows the message too; its stack that one line, the frames of the error it replaces telling
// nothing more.
class SafeError extends Error {
  constructor(name: string, message: string, fields: object = {}) {
    super()
    this.name = name
    Object.assign(this, fields)
    Object.defineProperty(this, "message", { value: message, enumerable: true, writable: true, configurable: true })
    this.stack = `${name}: ${message}`
  }
}

// A driver's error reduced to `diagnosticFields` and its message.
class DatabaseError extends SafeError {
  constructor(fields: Partial<Record<(typeof diagnosticFields)[number] | "message", string>>) {
    super("DatabaseError", fields.message ?? "", fields)
  }
}

const diagnosticsOf = (cause: unknown): DatabaseError | undefined => {
  if (typeof cause !== "object" || cause === null) return undefined
  const fields: Partial<Record<(typeof diagnosticFields)[number] | "message", string>> = {}
  for (const field of diagnosticFields) {
    const value = (cause as Record<string, unknown>)[field]
    if (typeof value === "string") fields[field] = value
  }
  const message = (cause as { readonly message?: unknown }).message
  // A data exception's message may quote the value refused (`invalid input syntax for type uuid: "..."`),
  // and one a trigger or function raised is its own text, which may quote the row: class P0, or
  // any code a PL/pgSQL `RAISE ... USING ERRCODE` gave (its routine is PL/pgSQL's `exec_stmt_raise`).
  if (fields.code?.startsWith("22")) {
    fields.message = `data exception (SQLSTATE ${fields.code}), its message left out: it may quote a value`
  } else if (fields.code?.startsWith("P0") || fields.routine === "exec_stmt_raise") {
    fields.message = `raised by a trigger or function (SQLSTATE ${fields.code}), its message left out: it may quote a value`
  } else if (typeof message === "string") fields.message = message
  return new DatabaseError(fields)
}

// A `ParseError` reduced to what `Issues.lines` tells of it, in its message.
class RowInvalid extends SafeError {
  constructor(error: ParseResult.ParseError) {
    super("RowInvalid", `a row read, or a request written, does not match its Schema (${Issues.lines(error).join("; ")})`)
  }
}

// What `safeSqlError` gives, untyped.
const safeCause = (error: unknown): unknown => {
  if (ParseResult.isParseError(error)) return new RowInvalid(error)
  if (!(Predicate.hasProperty(error, SqlErrorTypeId) && Predicate.hasProperty(error, "_tag") && error._tag === "SqlError")) {
    return error
  }
  const { cause, message, stack } = error as unknown as SqlError
  const diagnostics = diagnosticsOf(cause)
  const safe = new SqlError(diagnostics === undefined ? { message } : { message, cause: diagnostics })
  // Where the statement failed; its first line is the message kept.
  if (stack !== undefined) safe.stack = stack
  return safe
}

/**
 * What a statement gives, made safe to keep in a store's error (the name
 * stays `safeSqlError`: a statement's failure includes the decoding of its
 * rows):
 *
 * - a `SqlError` of `@effect/sql-pg` (over `pg`) or `@lawful/sql-pglite`:
 *   the same message, its `cause` (the driver's error) reduced to what
 *   diagnoses the failure without the data;
 * - a `ParseError` (a row `SqlSchema.findAll`, `findOne` or `single` read
 *   back that its `Result` Schema refuses, or a request its `Request` Schema
 *   does not encode): an `Error` named `RowInvalid` whose message lists what
 *   `Issues.describe` tells, each issue at its path with the form expected
 *   as `Issues.lines` writes it (`"email: expected text"`), and nothing else of the
 *   original: Effect's message quotes the value refused ("Expected string,
 *   actual ..."), which may be a person's address or name.
 *
 * Anything else is returned as it is, so a store's error mapping can take
 * any cause.
 *
 * Of a `SqlError`: PostgreSQL's diagnostics quote the data: `detail` holds the failing row of
 * a `NOT NULL` or `CHECK` violation (`Failing row contains (...)`) or the key
 * of a unique violation, `where` a parameter's value, and the message of a
 * data exception (SQLSTATE class 22) the value refused
 * (`invalid input syntax for type uuid: "..."`). A logger that writes an
 * error as JSON, or with `util.inspect`, writes its `cause` too. The `cause`
 * kept is an `Error` named `DatabaseError` with, when the driver gave them,
 * the SQLSTATE `code`, the `severity`, the names of the `schema`, `table`,
 * `column`, `constraint`, `dataType` and `routine` involved, and the driver's
 * `message`, replaced for class 22 (a data exception) and for an error a
 * trigger or function raised in its own words (class P0, or any code a
 * PL/pgSQL `RAISE` gave) by a fixed text naming the code. The rest
 * (`detail`, `where`, `hint`, `query`, `position`, `internalQuery`,
 * `params`, the stack) is dropped; a cause that is not an object leaves
 * none. Code that tells failures apart by `cause.code` (a unique violation,
 * `23505`) reads it as before.
 *
 * ```ts
 * const erase = (tenant: TenantId) =>
 *   sql`DELETE FROM my_rows WHERE tenant_id = ${tenant}`.pipe(
 *     Effect.mapError((cause) => new MyStoreError({ operation: "erase", cause: Database.safeSqlError(cause) }))
 *   )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export const safeSqlError = <E>(error: E): E extends ParseResult.ParseError ? Error : E =>
  safeCause(error) as E extends ParseResult.ParseError ? Error : E

/**
 * Runs `effect` (a store operation, needing nothing from the context)
 * without the transaction the calling fibre may have open.
 * `@effect/sql` keeps an open transaction's connection in the fibre's
 * context for every `SqlClient`, so a statement of a store on another
 * database, called inside `sql.withTransaction` of the main one, would run
 * on the main database's connection. A store built on a client of its own
 * (`KeyStore.layerClient`, the archive's `layerClient`) wraps its operations
 * in this. Never for a store that shares the caller's database: on PGlite, a
 * single session, its statement would wait for the transaction it was
 * called from.
 *
 * @since 0.1.0
 * @category combinators
 */
export const outsideTransaction = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.mapInputContext(effect, (context: Context.Context<never>) => Context.omit(SqlClient.TransactionConnection)(context))

/**
 * A store's service with every operation run by `outsideTransaction`: each
 * Effect member, each function returning an Effect, and the same within
 * nested objects (a retention target's storage). For a store built on a
 * client of its own.
 *
 * @since 0.1.0
 * @category combinators
 */
export const outsideTransactionAll = <S extends object>(service: S): S => {
  const wrap = (value: unknown): unknown => {
    if (Effect.isEffect(value)) return outsideTransaction(value as Effect.Effect<unknown, unknown>)
    // The store's own client (a target's `client`), kept as it is.
    if (typeof value === "function" && SqlClient.TypeId in value) return value
    if (typeof value === "function") {
      return (...args: Array<unknown>) => {
        const result = (value as (...args: Array<unknown>) => unknown)(...args)
        return Effect.isEffect(result) ? outsideTransaction(result as Effect.Effect<unknown, unknown>) : result
      }
    }
    if (value !== null && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
      return Object.fromEntries(Object.entries(value).map(([key, member]) => [key, wrap(member)]))
    }
    return value
  }
  return wrap(service) as S
}
