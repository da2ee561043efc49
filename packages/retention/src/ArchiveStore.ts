/**
 * Legal archives: records a tenant must keep for a legal period (invoices,
 * proofs, correspondence), stored apart from the working data and sealed.
 *
 * An archived record holds a payload sealed by the `Vault` for its subject
 * (`Vault.Sealed`: the store never sees plaintext), its kind, and the time
 * its legal period starts. Shredding the subject's key makes the payload
 * unreadable here too.
 *
 * The archive lives in its own schema (`lawful_archive`) of the main
 * database, or in a database of its own when `ARCHIVE_DATABASE_URL` is set
 * (`layerConfig`); the SQL layers take their own client, so the archive's
 * connections, credentials and backups can differ from the main database's.
 *
 * The store is the `"archive.legal"` retention category (`target`,
 * `registerTarget`): the sweeper deletes an archived record when its legal
 * period, the tenant's policy for the category, ends.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Database from "@lawful/core/Database"
import * as Migrations from "@lawful/core/Migrations"
import * as RetentionTarget from "@lawful/core/RetentionTarget"
import { is as isSubjectId, SubjectId } from "@lawful/core/SubjectId"
import { describe as describeTenant, is as isTenantId, TenantId } from "@lawful/core/TenantId"
import * as Text from "@lawful/core/Text"
import { Sealed } from "@lawful/core/Vault"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Order from "effect/Order"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { randomUUID } from "node:crypto"
import { earliestTime } from "./internal/encoding.js"

/**
 * The id of the archive's retention category.
 *
 * @since 0.1.0
 * @category models
 */
export const targetId = "archive.legal"

/**
 * An archived record.
 *
 * @since 0.1.0
 * @category models
 */
export class ArchivedRecord extends Schema.Class<ArchivedRecord>("@lawful/retention/ArchiveStore/ArchivedRecord")({
  archiveId: Schema.UUID,
  tenantId: TenantId,
  subjectId: Schema.optional(SubjectId),
  kind: Text.nonEmpty(100),
  sealed: Sealed,
  archivedAt: Schema.ValidDateFromSelf
}) {}

/**
 * What to archive: a payload sealed by the Vault, its kind (`"invoice"`,
 * `"consent-proof"`), its subject, and when its legal period starts (default
 * now). A kind is 1 to 100 characters without NUL characters or unpaired
 * surrogates, the subject a `SubjectId`, and the time a valid date from
 * 4713 BC on (the earliest PostgreSQL keeps): `put` refuses anything else,
 * and a tenant that is not a `TenantId`, with `ArchiveStoreError`, on every
 * store, naming the fields refused and never what they hold.
 *
 * @since 0.1.0
 * @category models
 */
export interface ArchiveRequest {
  readonly kind: string
  readonly sealed: Sealed
  readonly subject?: SubjectId | undefined
  readonly archivedAt?: Date | undefined
}

/**
 * The archive could not be read or written. A failed statement's `cause` is
 * its `SqlError` as `Database.safeSqlError` keeps it: the SQLSTATE code and
 * the names of what failed, never the data.
 *
 * @since 0.1.0
 * @category errors
 */
export class ArchiveStoreError extends Schema.TaggedError<ArchiveStoreError>()("ArchiveStoreError", {
  operation: Schema.String,
  cause: Schema.Defect
}) {
  override get message(): string {
    return `Archive store operation ${this.operation} failed`
  }
}

/**
 * @since 0.1.0
 * @category services
 */
export class ArchiveStore extends Context.Tag("@lawful/retention/ArchiveStore")<ArchiveStore, {
  readonly put: (tenant: TenantId, request: ArchiveRequest) => Effect.Effect<ArchivedRecord, ArchiveStoreError>
  /**
   * The record with this id (a UUID, in either case); none for an id that is not one, or a tenant
   * that is not a `TenantId`, on every store.
   */
  readonly get: (tenant: TenantId, archiveId: string) => Effect.Effect<Option.Option<ArchivedRecord>, ArchiveStoreError>
  /**
   * A tenant's archived records, oldest first, optionally of one subject (a `SubjectId`); at most
   * `limit` (a whole number, 0 or more; default 1000). Any other limit or subject is refused with
   * `ArchiveStoreError`, on every store; a tenant that is not a `TenantId` has none.
   */
  readonly list: (
    tenant: TenantId,
    options?: { readonly subject?: SubjectId | undefined; readonly limit?: number | undefined }
  ) => Effect.Effect<ReadonlyArray<ArchivedRecord>, ArchiveStoreError>
  /** How the sweeper finds and deletes expired records. */
  readonly storage: RetentionTarget.TargetStorage
}>() {}

/**
 * The archive's retention category, over the `ArchiveStore` in context:
 * delete, never forever; by default ten years, at most thirty.
 *
 * @since 0.1.0
 * @category constructors
 */
export const target = (
  options: {
    readonly defaultPeriod?: Duration.DurationInput
    readonly minPeriod?: Duration.DurationInput
    readonly maxPeriod?: Duration.DurationInput
  } = {}
): Effect.Effect<RetentionTarget.RetentionTarget, never, ArchiveStore> =>
  Effect.map(ArchiveStore, (store) => ({
    ...store.storage,
    id: targetId,
    description: "Legal archives: sealed records kept for a legal period, then deleted",
    action: "delete",
    allowForever: false,
    defaultPeriod: Duration.decode(options.defaultPeriod ?? Duration.days(3653)),
    minPeriod: Duration.decode(options.minPeriod ?? Duration.zero),
    maxPeriod: Duration.decode(options.maxPeriod ?? Duration.days(30 * 366)),
    linksSubjects: true
  }))

/**
 * Registers `target(options)` in core's `RetentionTargets`.
 *
 * @since 0.1.0
 * @category layers
 */
export const registerTarget = (options: Parameters<typeof target>[0] = {}) =>
  RetentionTarget.register(target(options))

// What a refusal says of the request: the fields that are wrong, never what they hold (a kind, a
// subject or a tenant given by mistake may be any text, an address included).
const refusal = (error: ParseResult.ParseError) => {
  const fields = [...new Set(ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) => issue.path.join(".")))]
  return `the request is not one to archive: invalid ${fields.join(", ")}`
}

// A request no store can keep (no request, an empty, overlong or unstorable kind, an invalid date or
// one before any a store keeps, a tenant or subject that is not one) is refused here, alike on every
// store.
const makeRecord = (tenant: TenantId, request: ArchiveRequest, now: number) =>
  Effect.suspend(() => {
    if (typeof request !== "object" || request === null) {
      return Effect.fail(new ArchiveStoreError({ operation: "put", cause: "the request is not one to archive: not an object" }))
    }
    const archivedAt = request.archivedAt ?? new Date(now)
    if (archivedAt instanceof Date && archivedAt.getTime() < earliestTime) {
      return Effect.fail(new ArchiveStoreError({ operation: "put", cause: "the request is not one to archive: a time before 4713 BC" }))
    }
    return Effect.try({
      try: () =>
        new ArchivedRecord({
          archiveId: randomUUID(),
          tenantId: tenant,
          ...(request.subject !== undefined ? { subjectId: request.subject } : {}),
          kind: request.kind,
          sealed: request.sealed,
          archivedAt
        }),
      catch: (error) =>
        new ArchiveStoreError({
          operation: "put",
          cause: ParseResult.isParseError(error) ? refusal(error) : "the request is not one to archive"
        })
    })
  })

// A list limit is a whole number, 0 or more, alike on every store (a negative one cut the list
// from its end in memory and failed the statement on SQL), and a subject a `SubjectId` (one in
// upper case was found on SQL and not in memory, and one that is no UUID failed the statement).
const listOptions = (
  options: { readonly subject?: SubjectId | undefined; readonly limit?: number | undefined } | undefined
): Effect.Effect<{ readonly subject: SubjectId | undefined; readonly limit: number }, ArchiveStoreError> => {
  const refuse = (cause: string) => Effect.fail(new ArchiveStoreError({ operation: "list", cause }))
  if (options === undefined) return Effect.succeed({ subject: undefined, limit: 1000 })
  if (typeof options !== "object" || options === null) return refuse("the options are not an object")
  const { limit, subject } = options
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0)) return refuse("the limit is a whole number, 0 or more")
  if (subject !== undefined && !isSubjectId(subject)) return refuse("the subject is not a subject id (a lower-case UUID)")
  return Effect.succeed({ subject, limit: limit ?? 1000 })
}

type Service = Context.Tag.Service<typeof ArchiveStore>

/** A store as a layer makes it: `list` takes its options checked (`listOptions`). */
interface Backend extends Omit<Service, "list"> {
  readonly list: (
    tenant: TenantId,
    options: { readonly subject: SubjectId | undefined; readonly limit: number }
  ) => Effect.Effect<ReadonlyArray<ArchivedRecord>, ArchiveStoreError>
}

/**
 * A layer's store behind the checks of what callers give, in one place for every store: a tenant
 * that is not a `TenantId` finds nothing (on SQL an address failed the uuid cast, its error quoting
 * it, and an upper-case UUID read the tenant's records; memory found nothing), list options are
 * refused alike, and a span names a tenant only when it is one. `put` refuses such a tenant
 * (`makeRecord`).
 */
const checked = (store: Backend): Service =>
  ArchiveStore.of({
    ...store,
    put: (tenant, request) =>
      store.put(tenant, request).pipe(Effect.withSpan("ArchiveStore.put", { attributes: { tenant: describeTenant(tenant) } })),
    get: (tenant, archiveId) => isTenantId(tenant) ? store.get(tenant, archiveId) : Effect.succeed(Option.none()),
    list: (tenant, options) =>
      Effect.flatMap(listOptions(options), (checked) => isTenantId(tenant) ? store.list(tenant, checked) : Effect.succeed([]))
  })

/**
 * An archive in memory, for tests.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<ArchiveStore> = Layer.sync(ArchiveStore, () => {
  const records = new Map<string, ArchivedRecord>()
  // An archive id is a UUID, found whatever the case of its hex digits, as PostgreSQL's `uuid` finds it.
  const key = (tenant: TenantId, id: string) => `${tenant}/${typeof id === "string" ? id.toLowerCase() : ""}`
  const of = (tenant: TenantId) =>
    [...records.values()]
      .filter((record) => record.tenantId === tenant)
      // As the SQL store orders them: by time, then by id (records archived at one instant).
      .sort((a, b) => a.archivedAt.getTime() - b.archivedAt.getTime() || Order.string(a.archiveId, b.archiveId))
  const selected = (tenant: TenantId, selection: { cutoff?: Date; excludeSubjects: ReadonlySet<SubjectId> }) =>
    of(tenant).filter((record) =>
      (selection.cutoff === undefined || record.archivedAt.getTime() < selection.cutoff.getTime()) &&
      (record.subjectId === undefined || !selection.excludeSubjects.has(record.subjectId))
    )
  return checked({
    put: (tenant, request) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.map(makeRecord(tenant, request, now), (record) => {
          records.set(key(tenant, record.archiveId), record)
          return record
        })),
    get: (tenant, archiveId) => Effect.sync(() => Option.fromNullable(records.get(key(tenant, archiveId)))),
    list: (tenant, { limit, subject }) =>
      Effect.sync(() =>
        of(tenant)
          .filter((record) => subject === undefined || record.subjectId === subject)
          .slice(0, limit)
      ),
    storage: {
      tenants: Effect.sync(() => [...new Set([...records.values()].map((record) => record.tenantId))]),
      purgeBatch: (tenant, batch) =>
        Effect.sync(() => {
          const chosen = selected(tenant, batch).slice(0, batch.limit)
          for (const record of chosen) records.delete(key(tenant, record.archiveId))
          return { purged: chosen.length, more: chosen.length >= batch.limit }
        }),
      count: (tenant, selection) => Effect.sync(() => selected(tenant, selection).length),
      oldest: (tenant, { excludeSubjects }) =>
        Effect.sync(() => Option.fromNullable(selected(tenant, { excludeSubjects })[0]?.archivedAt))
    }
  })
})

const RecordRow = Schema.Struct({
  archive_id: Schema.String,
  tenant_id: TenantId,
  subject_id: Schema.NullOr(SubjectId),
  kind: Schema.String,
  sealed: Schema.Uint8ArrayFromSelf,
  archived_at: Schema.DateFromSelf
})

const decodeRows = Schema.decodeUnknown(Schema.Array(RecordRow))

const toRecord = (row: typeof RecordRow.Type) =>
  new ArchivedRecord({
    archiveId: row.archive_id,
    tenantId: row.tenant_id,
    ...(row.subject_id !== null ? { subjectId: row.subject_id } : {}),
    kind: row.kind,
    sealed: Sealed.make(new Uint8Array(row.sealed)),
    archivedAt: row.archived_at
  })

/**
 * Where the SQL archive keeps its table.
 *
 * @since 0.1.0
 * @category models
 */
export interface SqlOptions {
  /** The schema of the archive's table (default `"lawful_archive"`). */
  readonly schema?: string | undefined
}

/**
 * The archive on the SQL client given (its own database, or the main one),
 * in the table `<schema>.archives`, migrated on start-up in
 * `lawful_retention_archive_migrations` (for the default schema) or
 * `lawful_retention_archive_<schema>_migrations`, so archives in several
 * schemas of one database each get their table. Its storage names `client`
 * as the client it runs on (its statements run without the client's naming
 * transforms): on the main database, that is the sweep journal's client, so
 * each batch commits with its journal record and waits, as the README says,
 * for holds and policies being changed, whatever transforms the client has.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeSql = (
  client: SqlClient.SqlClient,
  options: SqlOptions = {}
): Effect.Effect<Context.Tag.Service<typeof ArchiveStore>, Migrations.MigrationFailed> =>
  Effect.gen(function*() {
    const sql = client.withoutTransforms()
    const schema = options.schema ?? "lawful_archive"
    const table = `${schema}.archives`
    // Each schema's archive records its migrations apart (the default one's in the table it always
    // used): with one record for all, an archive in a second schema of the database was never made.
    // The record's name is a plain lower-case identifier (the migrator looks its table up unquoted);
    // the statements tolerate what an archive migrated under the shared record already has.
    const record = schema === "lawful_archive"
      ? "retention-archive"
      : `retention-archive-${schema.toLowerCase().replace(/[^a-z0-9_]/g, "_")}`
    yield* Migrations.run(record, {
      "0001_archives": Effect.flatMap(SqlClient.SqlClient, (sql) =>
        Effect.all([
          sql`CREATE SCHEMA IF NOT EXISTS ${sql(schema)}`,
          sql`CREATE TABLE IF NOT EXISTS ${sql(table)} (
            tenant_id uuid NOT NULL,
            archive_id uuid NOT NULL,
            subject_id uuid,
            kind text NOT NULL,
            sealed bytea NOT NULL,
            archived_at timestamptz NOT NULL,
            PRIMARY KEY (tenant_id, archive_id)
          )`,
          // Index names take the table's schema.
          sql`CREATE INDEX IF NOT EXISTS archives_time ON ${sql(table)} (tenant_id, archived_at)`,
          sql`CREATE INDEX IF NOT EXISTS archives_subject ON ${sql(table)} (tenant_id, subject_id, archived_at)
            WHERE subject_id IS NOT NULL`
        ], { discard: true }))
    }).pipe(Effect.provideService(SqlClient.SqlClient, sql))
    const fail = (operation: string) => (cause: unknown) =>
      new ArchiveStoreError({ operation, cause: Database.safeSqlError(cause) })
    const columns = sql.literal("archive_id, tenant_id, subject_id, kind, sealed, archived_at")
    const rows = (statement: Effect.Effect<ReadonlyArray<unknown>, unknown>) =>
      Effect.map(Effect.flatMap(statement, decodeRows), (decoded) => decoded.map(toRecord))
    const bytes = (value: Uint8Array) => Buffer.from(value.buffer, value.byteOffset, value.byteLength)
    // `sqlTable` is given the client itself, not `sql`: it runs its statements without transforms
    // on its own, and names the client it was given as its storage's `client`, which the sweep
    // journal compares with its own. Given `sql` (another object when the client has naming
    // transforms), an archive on the main database lost its batches' transaction with their
    // journal records and with the read of holds and policies that `place` and `set` wait for.
    const storage = yield* RetentionTarget.sqlTable(targetId, {
      table,
      time: "archived_at",
      subject: "subject_id"
    }).pipe(Effect.provideService(SqlClient.SqlClient, client))

    return checked({
      put: (tenant, request) =>
        Effect.gen(function*() {
          const record = yield* makeRecord(tenant, request, yield* Clock.currentTimeMillis)
          yield* sql`INSERT INTO ${sql(table)} (tenant_id, archive_id, subject_id, kind, sealed, archived_at)
            VALUES (${tenant}, ${record.archiveId}, ${record.subjectId ?? null}, ${record.kind}, ${bytes(record.sealed)},
              ${record.archivedAt})`.pipe(Effect.mapError(fail("put")))
          return record
        }),
      get: (tenant, archiveId) =>
        Schema.is(Schema.UUID)(archiveId)
          ? rows(sql`SELECT ${columns} FROM ${sql(table)} WHERE tenant_id = ${tenant} AND archive_id = ${archiveId}`).pipe(
            Effect.map((found) => Option.fromNullable(found[0])),
            Effect.mapError(fail("get"))
          )
          : Effect.succeed(Option.none()),
      list: (tenant, { limit, subject }) =>
        rows(sql`SELECT ${columns} FROM ${sql(table)} WHERE tenant_id = ${tenant}
          ${subject !== undefined ? sql`AND subject_id = ${subject}` : sql``}
          ORDER BY archived_at, archive_id LIMIT ${limit}`).pipe(Effect.mapError(fail("list"))),
      storage
    })
  })

/**
 * The archive in the main database's `SqlClient`, in its own schema.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSql = (
  options: SqlOptions = {}
): Layer.Layer<ArchiveStore, Migrations.MigrationFailed, SqlClient.SqlClient> =>
  Layer.effect(ArchiveStore, Effect.flatMap(SqlClient.SqlClient, (client) => makeSql(client, options)))

/**
 * The archive on a database of its own, through the client layer given
 * (kept private to the archive: it does not replace the main `SqlClient`).
 * Its statements never join a transaction the caller has open on another
 * database: called inside one, they still run on the archive's database.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClient = <E>(
  client: Layer.Layer<SqlClient.SqlClient, E>,
  options: SqlOptions = {}
): Layer.Layer<ArchiveStore, E | Migrations.MigrationFailed> =>
  Layer.scoped(
    ArchiveStore,
    Effect.gen(function*() {
      const context = yield* Layer.build(client)
      // A statement of the archive's own client made inside a transaction of the main database
      // would otherwise run there.
      return Database.outsideTransactionAll(yield* makeSql(Context.get(context, SqlClient.SqlClient), options))
    })
  )

/**
 * `ARCHIVE_DATABASE_URL`, when set: the PostgreSQL database of the archive,
 * in the forms `DATABASE_URL` takes (`Database.postgresUrl`); a malformed one
 * stops start-up with one line that names the variable, never the URL.
 *
 * @since 0.1.0
 * @category config
 */
export const archiveDatabaseUrl: Config.Config<Option.Option<Redacted.Redacted<string>>> = Database.postgresUrl(
  "ARCHIVE_DATABASE_URL"
)

/**
 * The archive from configuration: its own PostgreSQL database when
 * `ARCHIVE_DATABASE_URL` is set, else the `lawful_archive` schema of the main
 * database (the `SqlClient` in context).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: Layer.Layer<
  ArchiveStore,
  ConfigError.ConfigError | Migrations.MigrationFailed | ArchiveStoreError,
  SqlClient.SqlClient
> = Layer.unwrapEffect(
  Effect.map(archiveDatabaseUrl, Option.match({
    onNone: () => layerSql(),
    onSome: (url) =>
      layerClient(
        PgClient.layer({ url, applicationName: "lawful-archive" }).pipe(
          Layer.mapError((cause) => new ArchiveStoreError({ operation: "connect", cause: Database.safeSqlError(cause) }))
        )
      )
  }))
)
