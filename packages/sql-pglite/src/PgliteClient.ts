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
 * PGlite is a single session. Every statement outside a transaction takes it
 * for its own duration, in the order fibers asked; a transaction holds it
 * for its whole scope, so no other fiber's statement can run inside it, and a
 * statement through its connection after it ended takes the session as any
 * other. So do `LISTEN` and `NOTIFY`, except from within the transaction,
 * where they join it. As on `@effect/sql-pg`, `listen` drops a notification
 * with an empty payload, and `.values` of several statements runs them all and
 * gives `undefined`. A directory is opened by one client at a time.
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
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { mkdirSync } from "node:fs"
import pg from "pg"
import * as LockFile from "./internal/lockFile.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface PgliteClientConfig {
  /**
   * Directory holding the database files; created (with its parents) and
   * initialised when new. While a client has it open it holds the lock
   * `lawful-pglite.lock.d` in it (a directory holding one entry named for the
   * holder's process id; the file `lawful-pglite.lock`, the lock of earlier
   * versions, is taken as they take it and names it too), and another client,
   * in this process or another, fails to open it; a lock whose process is gone
   * is taken over, by one client only when several race for it. Stop the
   * clients of earlier versions before starting this one (see the README).
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
// A Buffer bound to a text type must hold UTF-8, as PostgreSQL requires of what pg sends: decoded
// leniently, its invalid bytes became U+FFFD and were stored so. The error quotes no byte.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })
const decodeUtf8 = (value: Buffer): string => {
  try {
    return utf8.decode(value)
  } catch {
    throw new Error("invalid byte sequence for encoding \"UTF8\"")
  }
}
const asText = (value: unknown): string => typeof value === "string" ? value : Buffer.isBuffer(value) ? decodeUtf8(value) : String(value)
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

// What @effect/sql sends to end a transaction, or a savepoint, without keeping its writes.
const rollback = /^ROLLBACK(?: TO SAVEPOINT \w+)?$/

/**
 * The directory on this machine that a `dataDir` stores into: the path of a
 * `file://` URL, the `dataDir` itself when it has no scheme, and `undefined`
 * for a URL of another scheme (`memory://`, `idb://`), which stores into none.
 * For what keeps files beside the database (a lock, checkpoints).
 *
 * ```ts
 * localDirectory("file:///var/lib/lawful") // "/var/lib/lawful"
 * localDirectory("./.lawful") // "./.lawful"
 * localDirectory("memory://") // undefined
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const localDirectory = (dataDir: string): string | undefined =>
  dataDir.startsWith("file://") ? dataDir.slice("file://".length) : /^[a-z][a-z0-9+.-]*:\/\//i.test(dataDir) ? undefined : dataDir

// PGlite takes no lock on its directory: two instances over one directory each run their own
// server over the same files, and what one writes the other's close overwrites. Only a directory
// on the local file system ("file://" or no scheme) has a lock (see internal/lockFile.ts).
const lockDirectory = (dir: string): Effect.Effect<void, SqlError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.try({
      try: () => {
        mkdirSync(dir, { recursive: true })
        return LockFile.acquire(dir)
      },
      catch: (cause) => new SqlError({ cause, message: `PgliteClient: failed to open the database in ${dir}` })
    }),
    (release) => Effect.sync(release)
  )

// The session's lock, first come first served. Effect's semaphore lets a fibre that releases
// the permit take it again before a waiting fibre wakes, and a PGlite statement completes
// without a turn of the event loop: a fibre running statements one after another kept the
// session from all others until it stopped. Here a release hands the session to the fibre that
// has waited longest.
//
// `take` runs where interruption is off, and only its waiting goes through `restore`: a fibre
// interrupted at any step of it either holds the session, with its caller to release it, or has
// left the line (passing on the session if it had just been handed it), never both or neither.
const makeSession = () => {
  let held = false
  const waiting: Array<() => void> = []
  const release = Effect.sync(() => {
    const next = waiting.shift()
    if (next === undefined) held = false
    else next()
  })
  const take = (restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (!held) {
        held = true
        return Effect.void
      }
      let handedOver = false
      let wake: (() => void) | undefined
      const turn = () => {
        handedOver = true
        wake?.()
      }
      waiting.push(turn)
      return restore(Effect.async<void>((resume) => {
        if (handedOver) resume(Effect.void)
        else wake = () => resume(Effect.void)
      })).pipe(
        Effect.onInterrupt(() =>
          Effect.suspend(() => {
            if (handedOver) return release
            waiting.splice(waiting.indexOf(turn), 1)
            return Effect.void
          })
        )
      )
    })
  const withSession = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.uninterruptibleMask((restore) => Effect.zipRight(take(restore), Effect.ensuring(restore(effect), release)))
  return { take, release, withSession }
}

// Options from a caller the types did not check, refused before anything opens: a string given
// for the options (or null) would open a database in memory whose writes end with the layer, and
// a dataDir that is not a string died. The reason quotes no value given.
const invalidOptions = (options: unknown): string | undefined => {
  if (typeof options !== "object" || options === null) return "options must be an object"
  const { dataDir } = options as PgliteClientConfig
  if (dataDir === undefined) return undefined
  if (typeof dataDir !== "string") return "dataDir must be a string"
  if (localDirectory(dataDir) === "") return "dataDir names no directory"
  return undefined
}

/**
 * Builds a client over a new PGlite instance, closed with the scope once the
 * transaction or reserved connection in use, if any, has finished (what it
 * commits is kept); those waiting behind the close then fail with a `SqlError`.
 *
 * Fails with a `SqlError`, opening nothing, when `options` is not an object
 * or `dataDir` is not a string naming a directory (an empty one, `file://`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: PgliteClientConfig = {}
): Effect.Effect<PgliteClient, SqlError, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function*() {
    const invalid = invalidOptions(options)
    if (invalid !== undefined) {
      return yield* new SqlError({ cause: new Error(invalid), message: `PgliteClient: invalid options: ${invalid}` })
    }
    const dir = options.dataDir !== undefined ? localDirectory(options.dataDir) : undefined
    if (dir !== undefined) yield* lockDirectory(dir)
    return yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () =>
          PGlite.create({
            ...(options.dataDir !== undefined ? { dataDir: options.dataDir } : {}),
            ...(options.loadDataDir !== undefined ? { loadDataDir: options.loadDataDir } : {})
          }),
        catch: toSqlError("PgliteClient: failed to open the database")
      }).pipe(Effect.flatMap((db) => fromPglite(db, options))),
      closeWhenIdle
    )
  })

// The close takes the session as a transaction does, in its turn: a transaction or reserved
// connection in use finishes first (and what it commits is kept), as @effect/sql-pg's pool lets an
// in-use connection finish. Fibres still waiting behind the close then find the instance closed
// and fail with a SqlError.
const closeWhenIdle = (client: PgliteClient): Effect.Effect<void> =>
  Effect.scoped(Effect.zipRight(
    client.reserve,
    Effect.tryPromise(() => client.pglite.close())
  )).pipe(Effect.ignore)

/**
 * Builds a client over an existing PGlite instance. The caller owns the
 * instance and closes it; a transaction open when it closes fails with a
 * `SqlError` and keeps nothing (close it between transactions: a `COMMIT`
 * the close turns down is a defect of `@effect/sql`). All access to it must go
 * through this client, which sets the instance's parsers and serializers to
 * pg's (do not call its `refreshArrayTypes`, which would set PGlite's own array
 * ones again).
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
    const session = makeSession()

    // Without parameters by the simple protocol, which takes several statements and gives one
    // result each; with them by the extended protocol, which takes one.
    const send = (sql: string, params: ReadonlyArray<unknown>, rowMode?: "array") =>
      Effect.tryPromise({
        try: (): Promise<Results<any> | Array<Results<any>>> => {
          const options = rowMode === undefined ? undefined : { rowMode }
          return params.length === 0 ? db.exec(sql, options) : db.query(sql, params.map(prepareValue), options)
        },
        catch: toSqlError("Failed to execute statement")
      })

    const query = (sql: string, params: ReadonlyArray<unknown>) =>
      send(sql, params).pipe(
        Effect.map((result) =>
          Array.isArray(result)
            ? result.length === 1 ? result[0]!.rows : result.map((r) => r.rows)
            : result.rows
        )
      )

    // As @effect/sql-pg: without parameters by the simple protocol too, so every statement of
    // the string runs; given several results it reads `rows` off pg's list of them, which has
    // none, and gives undefined.
    const queryValues = (sql: string, params: ReadonlyArray<unknown>) =>
      send(sql, params, "array").pipe(
        Effect.map((result): ReadonlyArray<ReadonlyArray<unknown>> =>
          Array.isArray(result)
            ? result.length <= 1 ? result[0]?.rows ?? [] : undefined as unknown as ReadonlyArray<ReadonlyArray<unknown>>
            : result.rows
        )
      )

    // As pg: one result per statement, and a single one as itself.
    const queryRaw = (sql: string, params: ReadonlyArray<unknown>) =>
      send(sql, params).pipe(
        Effect.map((result) => Array.isArray(result) && result.length === 1 ? result[0]! : result)
      )

    // A closed PGlite holds no transaction: its close ended the one open (as PostgreSQL's shutdown
    // aborts it), and nothing written since BEGIN was persisted. So a ROLLBACK (or ROLLBACK TO
    // SAVEPOINT) the close turned down is done, and the transaction fails with the SqlError of the
    // statement that met the close, where @effect/sql made the failed rollback a defect. A COMMIT
    // the close turned down still fails: its writes are lost, and @effect/sql makes that a defect.
    const closedUnder = (error: SqlError) =>
      db.closed || (error.cause instanceof Error && error.cause.message === "PGlite is closing")

    // `guard` takes the session per statement, or not while the connection holds it.
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
        executeValues: (sql, params) => guard(queryValues(sql, params)),
        executeUnprepared: (sql, params, transform) =>
          rollback.test(sql) ? Effect.catchIf(run(sql, params, transform), closedUnder, () => Effect.succeed([])) : run(sql, params, transform),
        executeStream: (sql, params, transform) =>
          // PGlite has no cursors: the result is read whole, then streamed in chunks.
          Stream.fromIterableEffect(run(sql, params, transform)).pipe(
            Stream.rechunk(128),
            Stream.mapChunks((chunk) => Chunk.fromIterable(chunk))
          )
      } as Connection
      return connection
    }

    const statementConnection = makeConnection(session.withSession)

    // The connections that hold the session now: a transaction's, or one from `reserve`. Each
    // runs its statements as they come while it holds the session; once released, each of its
    // statements takes the session as any other, so a fibre forked in a transaction that goes on
    // after it ends (its context still names the transaction's connection), or a reserved
    // connection kept past its scope, never runs inside another fibre's transaction.
    const holding = new Set<Connection>()
    // Waiting for the session stays interruptible (withTransaction acquires uninterruptibly):
    // a transaction can wait behind another for long.
    const holdSession = Effect.acquireRelease(
      Effect.zipRight(
        session.take(Effect.interruptible),
        Effect.suspend(() => {
          // As pg's pool once ended: a closed instance gives no connection. (A transaction begun
          // on it failed its BEGIN, then its ROLLBACK, which @effect/sql turns into a defect.)
          if (db.closed) {
            return Effect.zipRight(
              session.release,
              Effect.fail(new SqlError({ cause: new Error("PGlite is closed"), message: "Failed to acquire connection for transaction" }))
            )
          }
          const connection: Connection = makeConnection((effect) =>
            Effect.suspend(() => holding.has(connection) ? effect : session.withSession(effect))
          )
          holding.add(connection)
          return Effect.succeed(connection)
        })
      ),
      (connection) => Effect.zipRight(Effect.sync(() => holding.delete(connection)), session.release)
    )

    // For what runs on the session besides statements (LISTEN, NOTIFY): inside this client's
    // transaction it joins the transaction, which holds the session; elsewhere it takes it.
    const onSession = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
      Effect.flatMap(
        Effect.serviceOption(Client.TransactionConnection),
        (transaction) =>
          Option.isSome(transaction) && holding.has(transaction.value[0])
            ? effect
            : session.withSession(effect)
      )

    // Streams listening per channel: the last one to end stops listening.
    const listening = new Map<string, number>()
    const listen = (channel: string) =>
      Effect.suspend(() => {
        listening.set(channel, (listening.get(channel) ?? 0) + 1)
        return Effect.tryPromise({
          try: () => db.exec(`LISTEN ${pg.escapeIdentifier(channel)}`),
          catch: toSqlError("Failed to listen")
        })
      })
    const unlistened = (channel: string) => {
      const remaining = (listening.get(channel) ?? 1) - 1
      if (remaining === 0) listening.delete(channel)
      else listening.set(channel, remaining)
      return remaining
    }
    const unlisten = (channel: string) =>
      Effect.suspend(() =>
        unlistened(channel) > 0
          ? Effect.void
          : Effect.ignore(Effect.tryPromise(() => db.exec(`UNLISTEN ${pg.escapeIdentifier(channel)}`)))
      )

    const client = yield* Client.make({
      acquirer: Effect.succeed(statementConnection),
      transactionAcquirer: holdSession,
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
      // The channel is a name as pg's `listen` takes it: exact, quoted (PGlite's own `listen`
      // folds it to lower case and writes it into its statements unquoted).
      // Waiting for the session to LISTEN stays interruptible; a LISTEN once begun is undone
      // when the stream ends, however it ends.
      listen: (channel: string) =>
        Stream.asyncPush<string, SqlError>((emit) =>
          Effect.gen(function*() {
            let listened = false
            // As @effect/sql-pg, which delivers only a notification with a payload: one with an
            // empty payload (or none, as NOTIFY without one sends) is dropped.
            const stopNotifications = db.onNotification((from, payload) => {
              if (from === channel && payload) emit.single(payload)
            })
            yield* Effect.addFinalizer(() =>
              Effect.zipRight(Effect.sync(stopNotifications), listened ? onSession(unlisten(channel)) : Effect.void)
            )
            yield* onSession(Effect.suspend(() => {
              listened = true
              return listen(channel)
            }))
          })
        ),
      notify: (channel: string, payload: string) =>
        Effect.asVoid(onSession(queryRaw("SELECT pg_notify($1, $2)", [channel, payload]))),
      pglite: db
    }) as unknown as PgliteClient
  })

const pgJson = Statement.custom<PgClient.PgCustom>("PgJson")

/**
 * A layer providing `PgliteClient`, `PgClient.PgClient` and `SqlClient.SqlClient`.
 * It fails with a `SqlError` when the options are of the wrong kind (see `make`).
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
