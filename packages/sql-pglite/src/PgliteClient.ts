/**
 * An `@effect/sql` client over PGlite, the embedded Postgres compiled to WASM.
 *
 * It is shaped like `@effect/sql-pg`'s `PgClient`: the same statement compiler,
 * the same `SqlClient` and `PgClient` tags, and result values parsed by `pg`'s
 * own parsers (`int8` and `numeric` as strings, `numeric[]` as numbers,
 * `timestamptz` as `Date`, `interval` as pg's interval object, `bytea` as
 * `Buffer`, `json`/`jsonb` as values, and any parser the program registered with
 * `pg.types.setTypeParser`), and parameters converted as `pg` converts them,
 * so code and tests run unchanged on both.
 *
 * PGlite is a single session. Every statement outside a transaction takes a
 * one-permit semaphore for its own duration; a transaction holds the permit
 * for its whole scope, so no other fiber's statement can run inside it.
 *
 * @since 0.1.0
 */
import { PGlite } from "@electric-sql/pglite"
import type { Results } from "@electric-sql/pglite"
import * as Reactivity from "@effect/experimental/Reactivity"
import * as Client from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Statement from "@effect/sql/Statement"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import pg from "pg"

/**
 * @since 0.1.0
 * @category models
 */
export interface PgliteClientConfig {
  /**
   * Directory holding the database files; created and initialised when new.
   * When omitted the database lives in memory and ends with the layer.
   */
  readonly dataDir?: string | undefined
  /** A snapshot made by `dumpDataDir`, loaded instead of running initdb. */
  readonly loadDataDir?: Blob | undefined
  readonly transformResultNames?: ((str: string) => string) | undefined
  readonly transformQueryNames?: ((str: string) => string) | undefined
  readonly transformJson?: boolean | undefined
  readonly spanAttributes?: Record<string, unknown> | undefined
}

/**
 * The client, with the underlying `PGlite` instance for what SQL cannot do
 * (for example `dumpDataDir`).
 *
 * @since 0.1.0
 * @category models
 */
export interface PgliteClient extends PgClient.PgClient {
  readonly pglite: PGlite
}

/**
 * @since 0.1.0
 * @category tags
 */
export const PgliteClient = Context.GenericTag<PgliteClient>("@lawful/sql-pglite/PgliteClient")

// Result values as node-postgres parses them: every built-in type (OID below 16384), arrays
// included, goes through pg's own parser (pg-types, with whatever the program registered through
// `pg.types.setTypeParser`, looked up value by value as pg does); a type pg does not parse, and
// a program's own types (enums, domains, their arrays), stay text, as in pg. PGlite's own array
// parsers, set when it starts, are replaced: pg reads `numeric[]` as numbers, for example, where
// they would give strings.
const firstNormalOid = 16384

// Parameters as node-postgres sends them: each value converted by pg's own `prepareValue` (a
// Date as local time with its offset, an array as an array literal, an object as JSON, a
// `toPostgres` value by its method) to text, or to a Buffer that pg sends as binary, which
// PGlite gets as the type's text form (`bytea` in hex, text types as UTF-8). PGlite would convert
// by the parameter's type instead: an array bound to `jsonb` became a JSON array there, and an
// error on PostgreSQL.
interface PgUtils {
  readonly utils: { readonly prepareValue: (value: unknown) => string | Buffer | null }
}
const prepareValue = (pg as unknown as PgUtils).utils.prepareValue
const bytea = 17
const asText = (value: unknown): string => typeof value === "string" ? value : Buffer.isBuffer(value) ? value.toString("utf8") : String(value)
const asBytea = (value: unknown): string => Buffer.isBuffer(value) ? `\\x${value.toString("hex")}` : String(value)

// One parser for every type: PGlite passes the type's OID with each value.
const parseAsPg = (value: string, oid?: number): unknown =>
  oid !== undefined && oid < firstNormalOid ? pg.types.getTypeParser(oid, "text")(value) : value

const asPg = (db: PGlite) => {
  // The program's own types that PGlite registered when it started (arrays of its enums).
  for (const key of Object.keys(db.parsers)) db.parsers[key] = parseAsPg
  for (const key of Object.keys(db.serializers)) db.serializers[key] = asText
  for (let oid = 1; oid < firstNormalOid; oid++) {
    db.parsers[oid] = parseAsPg
    db.serializers[oid] = oid === bytea ? asBytea : asText
  }
}

// PGlite attaches a failed statement's parameters to its error (`params`, `queryOptions`):
// sealed fields, wrapped keys, addresses. pg's errors carry none, and neither do these, so that
// an error written out whole (a JSON logger) never writes them.
const toSqlError = (message: string) => (cause: unknown) => {
  if (typeof cause === "object" && cause !== null) {
    if ("params" in cause) delete cause.params
    if ("queryOptions" in cause) delete cause.queryOptions
  }
  return new SqlError({ cause, message })
}

/**
 * Builds a client over a new PGlite instance, closed with the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: PgliteClientConfig = {}
): Effect.Effect<PgliteClient, SqlError, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function*() {
    const db = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () =>
          PGlite.create({
            ...(options.dataDir !== undefined ? { dataDir: options.dataDir } : {}),
            ...(options.loadDataDir !== undefined ? { loadDataDir: options.loadDataDir } : {})
          }),
        catch: toSqlError("PgliteClient: failed to open the database")
      }),
      (db) => Effect.promise(() => db.close()).pipe(Effect.ignore)
    )
    return yield* fromPglite(db, options)
  })

/**
 * Builds a client over an existing PGlite instance. The caller owns the
 * instance and closes it. All access to it must go through this client, which
 * sets the instance's parsers and serializers to pg's (do not call its
 * `refreshArrayTypes`, which would set PGlite's own array ones again).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromPglite = (
  db: PGlite,
  options: Omit<PgliteClientConfig, "dataDir" | "loadDataDir"> = {}
): Effect.Effect<PgliteClient, never, Reactivity.Reactivity> =>
  Effect.gen(function*() {
    asPg(db)
    const compiler = PgClient.makeCompiler(options.transformQueryNames, options.transformJson)
    const transformRows = options.transformResultNames
      ? Statement.defaultTransforms(options.transformResultNames, options.transformJson).array
      : undefined
    const session = yield* Effect.makeSemaphore(1)

    const query = (sql: string, params: ReadonlyArray<unknown>, rowMode: "object" | "array" = "object") =>
      Effect.tryPromise({
        try: (): Promise<Results<any> | Array<Results<any>>> =>
          params.length === 0 && rowMode === "object"
            ? db.exec(sql)
            : db.query(sql, params.map(prepareValue), { rowMode }),
        catch: toSqlError("Failed to execute statement")
      }).pipe(
        Effect.map((result) =>
          Array.isArray(result)
            ? result.length === 1 ? result[0]!.rows : result.map((r) => r.rows)
            : result.rows
        )
      )

    const queryRaw = (sql: string, params: ReadonlyArray<unknown>) =>
      Effect.tryPromise({
        try: () => db.query(sql, params.map(prepareValue)),
        catch: toSqlError("Failed to execute statement")
      })

    // `guard` is the identity inside a transaction (the permit is already held) and takes
    // the permit per statement outside one.
    const makeConnection = (guard: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>) => {
      const run = (
        sql: string,
        params: ReadonlyArray<unknown>,
        transform: (<A extends object>(row: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined
      ) => guard(transform ? Effect.map(query(sql, params), transform) : query(sql, params))
      const connection: Connection = {
        execute: run,
        executeRaw: (sql, params) => guard(queryRaw(sql, params)),
        executeWithoutTransform: (sql: string, params: ReadonlyArray<unknown>) => guard(query(sql, params)),
        executeValues: (sql, params) => guard(query(sql, params, "array")),
        executeUnprepared: run,
        executeStream: (sql, params, transform) =>
          // PGlite has no cursors: the result is read whole, then streamed in chunks.
          Stream.fromIterableEffect(run(sql, params, transform)).pipe(
            Stream.rechunk(128),
            Stream.mapChunks((chunk) => Chunk.fromIterable(chunk))
          )
      } as Connection
      return connection
    }

    const statementConnection = makeConnection(session.withPermits(1))
    const transactionConnection = makeConnection((effect) => effect)

    const client = yield* Client.make({
      acquirer: Effect.succeed(statementConnection),
      transactionAcquirer: Effect.as(
        Effect.acquireRelease(session.take(1), () => session.release(1)),
        transactionConnection
      ),
      compiler,
      spanAttributes: [
        ...(options.spanAttributes ? Object.entries(options.spanAttributes) : []),
        ["db.system.name", "postgresql"],
        ["db.namespace", "pglite"]
      ],
      transformRows
    })

    return Object.assign(client, {
      [PgClient.TypeId]: PgClient.TypeId,
      config: { database: "pglite", url: Redacted.make("pglite://memory") },
      json: (value: unknown) => pgJson(value, undefined, undefined),
      listen: (channel: string) =>
        Stream.asyncPush<string, SqlError>((emit) =>
          Effect.acquireRelease(
            Effect.tryPromise({
              try: () => db.listen(channel, (payload) => emit.single(payload)),
              catch: toSqlError("Failed to listen")
            }),
            (unlisten) => Effect.promise(() => unlisten()).pipe(Effect.ignore)
          )
        ),
      notify: (channel: string, payload: string) =>
        Effect.asVoid(session.withPermits(1)(queryRaw("SELECT pg_notify($1, $2)", [channel, payload]))),
      pglite: db
    }) as unknown as PgliteClient
  })

const pgJson = Statement.custom<PgClient.PgCustom>("PgJson")

/**
 * A layer providing `PgliteClient`, `PgClient.PgClient` and `SqlClient.SqlClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  config: PgliteClientConfig = {}
): Layer.Layer<PgliteClient | PgClient.PgClient | Client.SqlClient, SqlError> =>
  Layer.scopedContext(
    Effect.map(make(config), (client) =>
      Context.make(PgliteClient, client).pipe(
        Context.add(PgClient.PgClient, client),
        Context.add(Client.SqlClient, client)
      )
    )
  ).pipe(Layer.provide(Reactivity.layer))
