/**
 * Retention categories: the contract between the packages that keep records
 * and `@lawful/retention`, which purges them when their period ends.
 *
 * A package that stores records with a retention period registers one
 * `RetentionTarget` per category with `register` (a layer), the way sources
 * join the `PersonalDataRegistry`; it never imports `@lawful/retention`.
 * Retention enumerates the registered targets through `RetentionTargets`,
 * applies each tenant's policy, legal holds and the platform bounds, and
 * calls the target to count and purge.
 *
 * ## The contract of a target
 *
 * - `id`: `"<area>.<kind>"`, unique in the registry, short and stable
 *   (`"mailer.transactional-log"`, `"mailer.message-preview"`,
 *   `"consent.withdrawn-proof"`, `"subject-rights.closed-request"`,
 *   `"audit.entry-details"`, `"archive.legal"`); policies, holds, reports
 *   and audit receipts name the category by it.
 * - `action`: `"delete"` removes a record; `"redact"` removes its personal
 *   or payload fields and keeps the rest (an audit entry keeps its leaf hash).
 * - Periods: `defaultPeriod` (the platform default a tenant gets until it
 *   sets its own), `minPeriod` (a legal minimum, zero when there is none) and
 *   `maxPeriod` (the platform bound no tenant may exceed). `Duration.infinity`
 *   means "keep forever", allowed as a period only when `allowForever` is true.
 * - `parent`: the category a record of this one may not outlive, e.g. the
 *   message preview (`"mailer.message-preview"`) and its transactional log
 *   (`"mailer.transactional-log"`). Retention refuses any policy under which
 *   a child's period exceeds its parent's. For the rule to hold record by
 *   record, a child record's time must be the same event as its parent's
 *   (both timed from the message's sending, say).
 * - Time: every record has the time its retention period starts from (sent,
 *   withdrawn, closed, archived). A record is **expired** at `T` under a
 *   period `p` when its time is strictly before `cutoff = T - p`.
 * - Subjects: when `linksSubjects` is true, records carry the `SubjectId`
 *   they are about (or none), and every operation that takes
 *   `excludeSubjects` must leave the records of those subjects alone: that is
 *   how legal holds on a subject reach the category. A target whose records
 *   name no subject sets it to false and may ignore `excludeSubjects`.
 * - `purgeBatch(tenant, { cutoff, limit, excludeSubjects })` purges at most
 *   `limit` records of the tenant that are expired at `cutoff`, not yet
 *   purged (a redacted record is purged), and not of an excluded subject;
 *   oldest first is preferred. It commits what it purged before returning
 *   (one short transaction per batch: no long locks), and returns how many
 *   it purged and whether more may remain (`more` may be true when none
 *   remain; it must not be false while some do). Never a record of another
 *   tenant, never a record at or after `cutoff`.
 * - Idempotent and resumable: a purged record is never counted again, so a
 *   sweep that died halfway and runs again at the same cut-off ends in the
 *   same state as one that ran through, and its counts add up.
 * - `purgeTenants(tenants, { limit, after })` (optional): `purgeBatch` for
 *   several tenants at once, each at its own cut-off, none with excluded
 *   subjects: at most `limit` records in all, in one short transaction; how
 *   many of each tenant it purged, whether more may remain (the same rule as
 *   `purgeBatch`), the tenants known to have nothing left (`exhausted`), and
 *   where it stopped (`reached`), which the next batch of the same purge gets
 *   as `after`. Its cost must follow the records it purges and passes once,
 *   not grow batch after batch with records it passed before (another
 *   tenant's, or those of tenants not yet expired). It lets a sweep of many
 *   tenants purge as a plain batched `DELETE` by time would.
 * - `count(tenant, { cutoff, excludeSubjects })`: exactly the records
 *   `purgeBatch` would purge with those arguments (dry runs and reports).
 * - `oldest(tenant, { excludeSubjects })`: the time of the oldest record not
 *   yet purged, for reports.
 * - `tenants`: every tenant that may have records not yet purged (a tenant
 *   without any may appear).
 * - `partitions` (optional, `"delete"` targets whose table is partitioned by
 *   time): lists the partitions entirely before a time, with the range of
 *   times each may hold (its real bounds, whatever its name says), and drops
 *   one whole (`DROP TABLE`, never left detached) only if it still has that
 *   range and every record in it belongs to the tenants given, counting each
 *   one's records in the transaction that drops it. A partition whose range
 *   is not two plain times (a default one, one from `MINVALUE` or to
 *   `MAXVALUE`) is never listed. Retention gives the tenants whose records
 *   in the partition are all expired under their policy and none held; the
 *   rows of a partition kept whole, or never listed, are purged in batches.
 * - `client` (optional): the SQL client the target's statements run on. When
 *   it is the client of retention's sweep journal, a sweep runs each batch
 *   and each partition drop in a transaction that also records it, so a
 *   crash cannot leave a purge committed and unrecorded. A target on a
 *   database of its own names that database's client, or none: a sweep then
 *   runs each batch inside a transaction of the journal's database that holds
 *   its lease, and records the batch there once it has committed on its own
 *   database. A sweep keeps the statements of a target that names its client
 *   out of that transaction; a target that names none must leave a caller's
 *   transaction out itself (`Database.outsideTransaction`).
 * - Failures are `RetentionTargetError`s (`targetError` builds them), never
 *   with personal data in a message or a cause (`targetError` keeps of a
 *   `SqlError` what `Database.safeSqlError` keeps). The Effects need nothing from the
 *   context: a target captures its services when built (`register` accepts
 *   an Effect that builds it).
 *
 * `sqlTable` implements `tenants`, `purgeBatch`, `count`, `oldest` (and
 * optionally `partitions`) for the common case of one SQL table whose rows
 * carry `tenant_id`, a time column and optionally a subject column.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as Statement from "@effect/sql/Statement"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { safeSqlError, withTransaction } from "./Database.js"
import type { SubjectId } from "./SubjectId.js"
import type { TenantId } from "./TenantId.js"

/**
 * A category id: `"<area>.<kind>"`, dotted lower-case words.
 *
 * @since 0.1.0
 * @category models
 */
export const TargetId = Schema.String.pipe(
  Schema.pattern(/^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$/, {
    message: () => "a retention category id is a dotted lower-case name such as mailer.transactional-log"
  }),
  Schema.maxLength(100)
)

/**
 * What purging does to a record.
 *
 * @since 0.1.0
 * @category models
 */
export const Action = Schema.Literal("delete", "redact")

/**
 * @since 0.1.0
 * @category models
 */
export type Action = typeof Action.Type

/**
 * A target could not list, count or purge its records.
 *
 * @since 0.1.0
 * @category errors
 */
export class RetentionTargetError extends Schema.TaggedError<RetentionTargetError>()("RetentionTargetError", {
  target: Schema.String,
  operation: Schema.String,
  cause: Schema.Defect
}) {
  override get message(): string {
    return `Retention category ${this.target} failed to ${this.operation}`
  }
}

/**
 * A target's declaration is inconsistent (a default outside its bounds, a
 * parent cycle, a default longer than its parent's...). Nothing was registered.
 *
 * @since 0.1.0
 * @category errors
 */
export class RetentionTargetInvalid extends Schema.TaggedError<RetentionTargetInvalid>()("RetentionTargetInvalid", {
  target: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `Retention category ${this.target} is invalid: ${this.reason}`
  }
}

/**
 * A category with this id is already registered.
 *
 * @since 0.1.0
 * @category errors
 */
export class TargetAlreadyRegistered extends Schema.TaggedError<TargetAlreadyRegistered>()("TargetAlreadyRegistered", {
  target: Schema.String
}) {
  override get message(): string {
    return `A retention category ${this.target} is already registered`
  }
}

/**
 * Which records `count` and `purgeBatch` select: expired at `cutoff`, and
 * not of an excluded (held) subject.
 *
 * @since 0.1.0
 * @category models
 */
export interface Selection {
  readonly cutoff: Date
  readonly excludeSubjects: ReadonlySet<SubjectId>
}

/**
 * One batch of a purge.
 *
 * @since 0.1.0
 * @category models
 */
export interface PurgeBatch extends Selection {
  readonly limit: number
}

/**
 * What one batch purged, and whether more may remain.
 *
 * @since 0.1.0
 * @category models
 */
export interface Purged {
  readonly purged: number
  readonly more: boolean
}

/**
 * One tenant of a purge of several tenants at once, and its cut-off.
 *
 * @since 0.1.0
 * @category models
 */
export interface TenantCutoff {
  readonly tenant: TenantId
  readonly cutoff: Date
}

/**
 * What one batch of a purge of several tenants purged, per tenant (tenants
 * it purged nothing of may be missing), and whether more may remain.
 * `exhausted` are tenants known to have nothing left (the next batch may leave
 * them out); `reached`, when present, is passed as `after` to the next batch of
 * the same tenants and cut-offs.
 *
 * @since 0.1.0
 * @category models
 */
export interface PurgedTenants {
  readonly purged: ReadonlyMap<TenantId, number>
  readonly more: boolean
  readonly exhausted: ReadonlySet<TenantId>
  readonly reached?: Date | undefined
}

/**
 * A batch of a purge of several tenants: at most `limit` records; `after` is
 * the previous batch's `reached`, for a purge that goes on where it stopped.
 *
 * @since 0.1.0
 * @category models
 */
export interface PurgeTenantsBatch {
  readonly limit: number
  readonly after?: Date | undefined
}

/**
 * A time partition of a target's table: every record it may hold has
 * `from <= time < to` (`sqlTable` reads both from the partition's bounds).
 *
 * @since 0.1.0
 * @category models
 */
export interface TimePartition {
  readonly name: string
  readonly from: Date
  readonly to: Date
}

/**
 * A tenant's records in a partition.
 *
 * @since 0.1.0
 * @category models
 */
export interface PartitionCensus {
  readonly tenant: TenantId
  readonly records: number
  /** False when the tenant had no record in the table's other partitions (checked before the drop). */
  readonly elsewhere: boolean
}

/**
 * Dropping whole time partitions, for high-volume `"delete"` targets.
 *
 * @since 0.1.0
 * @category models
 */
export interface Partitions {
  /**
   * The partitions whose `to` is at or before `before`, oldest first. A caller
   * drops one only for tenants whose cut-off is at or after its `to`.
   */
  readonly endingBefore: (before: Date) => Effect.Effect<ReadonlyArray<TimePartition>, RetentionTargetError>
  /**
   * Drops the partition and its records (`DROP TABLE`, never left detached)
   * when its range is still `from` to `to` and every record in it belongs to
   * one of `tenants`, and returns how many each tenant had: exact, counted in
   * the transaction that drops it, with nothing written to the partition in
   * between. `None` when a record of another tenant keeps it whole, when its
   * range is another (or no plain range), or when it is gone already.
   */
  readonly dropIfOnly: (
    partition: TimePartition,
    tenants: ReadonlySet<TenantId>
  ) => Effect.Effect<Option.Option<ReadonlyArray<PartitionCensus>>, RetentionTargetError>
}

/**
 * How a category's records are found and purged: the part of a target that
 * touches storage (`sqlTable` builds it for a SQL table).
 *
 * @since 0.1.0
 * @category models
 */
export interface TargetStorage {
  readonly tenants: Effect.Effect<ReadonlyArray<TenantId>, RetentionTargetError>
  readonly purgeBatch: (tenant: TenantId, batch: PurgeBatch) => Effect.Effect<Purged, RetentionTargetError>
  readonly purgeTenants?:
    | ((tenants: ReadonlyArray<TenantCutoff>, batch: PurgeTenantsBatch) => Effect.Effect<PurgedTenants, RetentionTargetError>)
    | undefined
  readonly count: (tenant: TenantId, selection: Selection) => Effect.Effect<number, RetentionTargetError>
  readonly oldest: (
    tenant: TenantId,
    options: { readonly excludeSubjects: ReadonlySet<SubjectId> }
  ) => Effect.Effect<Option.Option<Date>, RetentionTargetError>
  readonly partitions?: Partitions | undefined
  /**
   * The SQL client the storage runs on (`sqlTable` sets it). A sweep whose journal runs on the
   * same client records each batch and each dropped partition in the transaction that purges it.
   */
  readonly client?: SqlClient.SqlClient | undefined
}

/**
 * A retention category as a package declares it. See the module
 * documentation for what each member must guarantee.
 *
 * @since 0.1.0
 * @category models
 */
export interface RetentionTarget extends TargetStorage {
  readonly id: string
  readonly description: string
  readonly action: Action
  readonly allowForever: boolean
  readonly defaultPeriod: Duration.Duration
  readonly minPeriod?: Duration.Duration | undefined
  readonly maxPeriod: Duration.Duration
  readonly parent?: string | undefined
  readonly linksSubjects: boolean
}

/**
 * The legal minimum of a target (zero when it declares none).
 *
 * @since 0.1.0
 * @category constructors
 */
export const minPeriodOf = (target: RetentionTarget): Duration.Duration => target.minPeriod ?? Duration.zero

/**
 * A function for `Effect.mapError` in a target: wraps any cause into a
 * `RetentionTargetError` of that target and operation, a `SqlError` through
 * `Database.safeSqlError` (its code and names kept, never the data the
 * database's diagnostics quote, such as the row a redaction was refused by).
 *
 * @since 0.1.0
 * @category constructors
 */
export const targetError = (target: string, operation: string) => (cause: unknown): RetentionTargetError =>
  new RetentionTargetError({ target, operation, cause: safeSqlError(cause) })

/**
 * @since 0.1.0
 * @category services
 */
export class RetentionTargets extends Context.Tag("@lawful/core/RetentionTargets")<RetentionTargets, {
  /** The registered targets, in registration order. */
  readonly targets: Effect.Effect<ReadonlyArray<RetentionTarget>>
  readonly get: (id: string) => Effect.Effect<Option.Option<RetentionTarget>>
  /** Adds a target for the life of the scope, after checking its declaration against the registered ones. */
  readonly register: (
    target: RetentionTarget
  ) => Effect.Effect<void, RetentionTargetInvalid | TargetAlreadyRegistered, Scope.Scope>
}>() {}

const isTargetId = Schema.is(TargetId)

const describe = (period: Duration.Duration) =>
  Duration.isFinite(period) ? Duration.format(period) : "forever"

/** Why a declaration is inconsistent with itself or the registered targets, if it is. */
const problemOf = (
  target: RetentionTarget,
  registered: ReadonlyMap<string, RetentionTarget>
): Option.Option<string> => {
  const min = minPeriodOf(target)
  if (!isTargetId(target.id)) return Option.some("the id is not a dotted lower-case name")
  if (Duration.greaterThan(min, target.maxPeriod)) return Option.some("its minimum period exceeds its maximum")
  if (Duration.lessThan(target.defaultPeriod, min) || Duration.greaterThan(target.defaultPeriod, target.maxPeriod)) {
    return Option.some(`its default period ${describe(target.defaultPeriod)} is outside its bounds`)
  }
  if (!target.allowForever && !Duration.isFinite(target.defaultPeriod)) {
    return Option.some("its default keeps records forever, which it does not allow")
  }
  if (target.partitions !== undefined && target.action !== "delete") {
    return Option.some("only a delete category can drop partitions")
  }
  if (target.parent !== undefined) {
    if (target.parent === target.id) return Option.some("it is its own parent")
    const seen = new Set([target.id])
    for (let id: string | undefined = target.parent; id !== undefined; id = registered.get(id)?.parent) {
      if (seen.has(id)) return Option.some("its parents form a cycle")
      seen.add(id)
    }
    const parent = registered.get(target.parent)
    if (parent !== undefined && Duration.greaterThan(target.defaultPeriod, parent.defaultPeriod)) {
      return Option.some(`its default period outlives the default of its parent ${parent.id}`)
    }
  }
  for (const child of registered.values()) {
    if (child.parent === target.id && Duration.greaterThan(child.defaultPeriod, target.defaultPeriod)) {
      return Option.some(`the default of its child ${child.id} outlives its default`)
    }
  }
  return Option.none()
}

/**
 * A new, empty registry.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Context.Tag.Service<typeof RetentionTargets>> = Effect.sync(() => {
  const registered = new Map<string, RetentionTarget>()
  return RetentionTargets.of({
    targets: Effect.sync(() => [...registered.values()]),
    get: (id) => Effect.sync(() => Option.fromNullable(registered.get(id))),
    register: (target) =>
      Effect.acquireRelease(
        Effect.suspend((): Effect.Effect<void, RetentionTargetInvalid | TargetAlreadyRegistered> => {
          if (registered.has(target.id)) return Effect.fail(new TargetAlreadyRegistered({ target: target.id }))
          const problem = problemOf(target, registered)
          if (Option.isSome(problem)) return Effect.fail(new RetentionTargetInvalid({ target: target.id, reason: problem.value }))
          registered.set(target.id, target)
          return Effect.void
        }),
        () => Effect.sync(() => registered.delete(target.id))
      )
  })
})

/**
 * The registry, empty until `register` layers add targets to it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<RetentionTargets> = Layer.effect(RetentionTargets, make)

/**
 * A layer that adds a target to the registry while it is built, and removes
 * it when released. Pass the target, or an Effect that builds it from its
 * services. A duplicate id or an inconsistent declaration fails the layer:
 * start-up must report it.
 *
 * @since 0.1.0
 * @category layers
 */
export const register = <E = never, R = never>(
  target: RetentionTarget | Effect.Effect<RetentionTarget, E, R>
): Layer.Layer<
  never,
  E | RetentionTargetInvalid | TargetAlreadyRegistered,
  RetentionTargets | Exclude<R, Scope.Scope>
> =>
  Layer.scopedDiscard(
    Effect.gen(function*() {
      const registry = yield* RetentionTargets
      const built: RetentionTarget = Effect.isEffect(target)
        ? yield* (target as Effect.Effect<RetentionTarget, E, R>)
        : target as RetentionTarget
      yield* registry.register(built)
    })
  )

/**
 * Where a category's records live in a SQL table.
 *
 * @since 0.1.0
 * @category models
 */
export interface SqlTableOptions {
  /** The table, optionally schema-qualified (`"lawful_archive.archives"`). */
  readonly table: string
  /** The `timestamptz` column the retention period starts from. */
  readonly time: string
  /** The tenant column (default `"tenant_id"`). */
  readonly tenant?: string | undefined
  /** The `uuid` column naming the subject of a record (nullable), when records link to subjects. */
  readonly subject?: string | undefined
  /** Equalities that select this category's rows, when the table holds several. */
  readonly match?: Readonly<Record<string, string | number | boolean>> | undefined
  /** Redact instead of delete: these columns are set to NULL; a row with all of them NULL is purged. */
  readonly redact?: ReadonlyArray<string> | undefined
  /**
   * The table is partitioned by range of `time`, one partition per UTC day
   * named `<table>_pYYYYMMDD` (`ensureDayPartitions` creates them). A
   * partition so named is dropped whole by its bounds in the catalog, not by
   * its name: one created another way (in a session of another time zone,
   * or over several days) goes once its whole range is expired. Other
   * partitions, and those without two plain bounds (a default one, one from
   * `MINVALUE` or to `MAXVALUE`), are never dropped: their rows are purged in
   * batches.
   */
  readonly dayPartitions?: boolean | undefined
}

const dayMillis = 24 * 60 * 60 * 1000

const bareName = (table: string) => table.includes(".") ? table.slice(table.lastIndexOf(".") + 1) : table

const partitionName = (table: string, day: Date) =>
  `${table}_p${day.toISOString().slice(0, 10).replaceAll("-", "")}`

const qualified = (table: string, partition: string) =>
  table.includes(".") ? `${table.slice(0, table.lastIndexOf("."))}.${partition}` : partition

// Whether `name` is one of the table's day partitions by its name, `<table>_pYYYYMMDD` of a real
// day (its range is read from the catalog, never from the name).
const isDayPartition = (table: string, name: string): boolean => {
  const prefix = `${bareName(table)}_p`
  if (!name.startsWith(prefix)) return false
  const match = /^(\d{4})(\d{2})(\d{2})$/.exec(name.slice(prefix.length))
  if (!match) return false
  return partitionName(bareName(table), new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])))) === name
}

// The range of partition `partition` (an oid) of the table `parent` (an oid), as `timestamptz[]`
// (from, to), read from the catalog; NULL unless the table is partitioned by range of its time
// column `time` (a text literal) alone, a `timestamptz`, and the partition's bounds are two finite
// times (not DEFAULT, MINVALUE, MAXVALUE or an infinity). The bounds are printed and read back in
// one statement, so in the session's time zone and date style both times (ISO, as the SQL clients
// read times: another style may print a zone abbreviation that reads back as another zone's).
const rangeOf = (partition: string, parent: string, time: string): string => `(
  SELECT ARRAY[m.bounds[1]::timestamptz, m.bounds[2]::timestamptz]
  FROM pg_class pc
    JOIN pg_partitioned_table pt ON pt.partrelid = ${parent}
    JOIN pg_attribute pa ON pa.attrelid = pt.partrelid AND pa.attnum = pt.partattrs[0],
    regexp_match(pg_get_expr(pc.relpartbound, pc.oid), '^FOR VALUES FROM \\(''([^'']*)''\\) TO \\(''([^'']*)''\\)$') AS m(bounds)
  WHERE pc.oid = ${partition} AND pt.partstrat = 'r' AND pt.partnatts = 1 AND pa.attname = ${time}
    AND pa.atttypid = 'timestamptz'::regtype AND isfinite(m.bounds[1]::timestamptz) AND isfinite(m.bounds[2]::timestamptz)
)`

const uuidText = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

// A literal for a statement that takes no parameters, escaped as `pg`'s `escapeLiteral` does.
const literal = (value: string | number | boolean): string => {
  if (typeof value !== "string") return String(value)
  const quoted = `'${value.replaceAll("'", "''")}'`
  return value.includes("\\") ? ` E${quoted.replaceAll("\\", "\\\\")}` : quoted
}

// Dropping a partition if it holds records of the given tenants only, in one round trip and one
// transaction: a `DO` block (DDL takes no parameters, so identifiers come quoted and values as
// literals) leaves its outcome in a setting of the transaction, which the statement after it reads.
// Its tenants are first found by a loose index scan, with no lock: a partition kept for another
// tenant costs a few index probes; each tenant found is probed for records outside the partition.
// Otherwise the table and the partition are locked as `DROP` locks them (the table first, so no
// deadlock a plain `DROP` would not risk), the partition is counted and dropped: the counts are
// exactly what the drop removes. The count is steered off sequential scans: through an index
// leading with the tenant, on a partition vacuumed since its day ended, it reads index pages only
// (a third of the heap's at 50,000 rows), but it still reads them all while the table is locked.
// `match` conditions must hold on every row: a partition shared with other categories is never
// dropped.
const dropStatement = (statement: {
  readonly table: string
  readonly partition: string
  readonly tenant: string
  /** The time column, quoted; `timeColumn` is its name, for the catalog. */
  readonly time: string
  readonly timeColumn: string
  readonly match: ReadonlyArray<string>
  readonly from: Date
  readonly to: Date
  readonly tenants: ReadonlySet<string>
}): string => {
  const { match, partition, table, tenant, time } = statement
  const tenants = [...statement.tenants].filter((id) => uuidText.test(id))
  const allowed = tenants.length === 0 ? "'{}'::uuid[]" : `ARRAY[${tenants.map((id) => `'${id}'`).join(",")}]::uuid[]`
  const matching = match.length === 0 ? "" : ` AND ${match.join(" AND ")}`
  const matched = match.length === 0 ? "" : ` AND c.unmatched = 0`
  const unmatched = match.length === 0 ? "" : `, count(*) FILTER (WHERE (${match.join(" AND ")}) IS NOT TRUE) AS unmatched`
  const bound = (at: Date) => `${literal(at.toISOString())}::timestamptz`
  const body = `
    DECLARE
      allowed uuid[] := ${allowed};
      found uuid[];
      alone uuid[];
      census jsonb := '[]';
      dropped boolean := false;
    BEGIN
      -- A partition gone already is not read: its name would fail the statement.
      IF to_regclass(${literal(partition)}) IS NOT NULL THEN
        WITH RECURSIVE t AS (
          (SELECT ${tenant} AS tenant FROM ${partition} ORDER BY ${tenant} LIMIT 1)
          UNION ALL
          SELECT (SELECT ${tenant} FROM ${partition} WHERE ${tenant} > t.tenant ORDER BY ${tenant} LIMIT 1)
          FROM t WHERE t.tenant IS NOT NULL
        )
        SELECT coalesce(array_agg(t.tenant), '{}'),
          coalesce(array_agg(t.tenant) FILTER (WHERE NOT EXISTS (
            SELECT FROM ${table}
            WHERE ${tenant} = t.tenant AND (${time} < ${bound(statement.from)} OR ${time} >= ${bound(statement.to)})${matching}
          )), '{}')
        INTO found, alone
        FROM t WHERE t.tenant IS NOT NULL;
        IF found <@ allowed THEN
          LOCK TABLE ONLY ${table} IN ACCESS EXCLUSIVE MODE;
          -- Still a partition of the table, and still with the range it was listed with.
          IF EXISTS (
            SELECT FROM pg_inherits WHERE inhrelid = to_regclass(${literal(partition)}) AND inhparent = ${literal(table)}::regclass
          ) AND ${rangeOf(`to_regclass(${literal(partition)})`, `${literal(table)}::regclass`, literal(statement.timeColumn))}
            IS NOT DISTINCT FROM ARRAY[${bound(statement.from)}, ${bound(statement.to)}] THEN
            LOCK TABLE ${partition} IN ACCESS EXCLUSIVE MODE;
            PERFORM set_config('enable_seqscan', 'off', true);
            SELECT coalesce(jsonb_agg(jsonb_build_array(c.tenant, c.records, c.tenant <> ALL(alone))), '[]'),
              coalesce(bool_and((c.tenant = ANY(allowed)${matched}) IS TRUE), true)
            INTO census, dropped
            FROM (SELECT ${tenant} AS tenant, count(*) AS records${unmatched} FROM ${partition} GROUP BY ${tenant}) c;
            IF dropped THEN
              DROP TABLE ${partition};
            END IF;
          END IF;
        END IF;
      END IF;
      PERFORM set_config('lawful.partition_drop', jsonb_build_object('dropped', dropped, 'census', census)::text, true);
    END`
  let tag = "$lawful$"
  for (let i = 0; body.includes(tag); i++) tag = `$lawful${i}$`
  return `DO ${tag}${body}${tag}; SELECT current_setting('lawful.partition_drop') AS result`
}

/**
 * Creates the day partitions of a table partitioned by range of its time
 * column, for every UTC day from `from` to `to` (inclusive) that has none,
 * and returns their names. The table's owner calls it ahead of writes (on
 * start-up and daily); rows of a day without a partition fail to insert,
 * unless the table has a default partition.
 *
 * @since 0.1.0
 * @category constructors
 */
export const ensureDayPartitions = (
  table: string,
  from: Date,
  to: Date
): Effect.Effect<ReadonlyArray<string>, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const names: Array<string> = []
    for (let day = Math.floor(from.getTime() / dayMillis) * dayMillis; day <= to.getTime(); day += dayMillis) {
      const name = partitionName(table, new Date(day))
      // DDL takes no parameters: the bounds are ISO strings made here.
      const bound = (time: number) => sql.literal(`'${new Date(time).toISOString()}'`)
      yield* sql`CREATE TABLE IF NOT EXISTS ${sql(name)} PARTITION OF ${sql(table)}
        FOR VALUES FROM (${bound(day)}) TO (${bound(day + dayMillis)})`
      names.push(name)
    }
    return names
  }).pipe(Effect.withSpan("RetentionTarget.ensureDayPartitions", { captureStackTrace: false, attributes: { table } }))

/**
 * The storage half of a target over one SQL table (PostgreSQL or PGlite):
 * tenants by a loose index scan of an index leading with the tenant column
 * (the primary key), batches as one `DELETE` (or `UPDATE ... SET column =
 * NULL`) of the oldest expired rows by their row address, exact counts, and
 * day partitions when the table has them. Index the table on
 * `(tenant, time)`, and on `(time)` for `purgeTenants` to purge many tenants
 * together as one batched `DELETE` by time (without it, it takes them one
 * after the other).
 *
 * @since 0.1.0
 * @category constructors
 */
export const sqlTable = (
  target: string,
  options: SqlTableOptions
): Effect.Effect<TargetStorage, never, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const client = yield* SqlClient.SqlClient
    const sql = client.withoutTransforms()
    const table = sql(options.table)
    const tenantColumn = sql(options.tenant ?? "tenant_id")
    const time = sql(options.time)
    const redact = options.redact ?? []
    const fail = (operation: string) => targetError(target, operation)
    const identifier = (name: string) => sql`${sql(name)}`.compile()[0]

    const matching = Object.entries(options.match ?? {}).map(([column, value]) => sql`${sql(column)} = ${value}`)
    const notPurged = redact.length > 0 ? [sql`(${sql.or(redact.map((column) => sql`${sql(column)} IS NOT NULL`))})`] : []
    const notExcluded = (excluded: ReadonlySet<SubjectId>) =>
      options.subject === undefined || excluded.size === 0
        ? []
        : [sql`(${sql(options.subject)} IS NULL OR ${sql(options.subject)} <> ALL(${[...excluded]}::uuid[]))`]
    const where = (tenant: TenantId, selection: { readonly cutoff?: Date; readonly excludeSubjects: ReadonlySet<SubjectId> }) =>
      sql.and([
        sql`${tenantColumn} = ${tenant}`,
        ...(selection.cutoff !== undefined ? [sql`${time} < ${selection.cutoff}`] : []),
        ...matching,
        ...notPurged,
        ...notExcluded(selection.excludeSubjects)
      ])

    // The conditions of a batch, checked again on each row it purges (a row another transaction
    // changed meanwhile waits for a later batch) but never used to find the rows: as a plain
    // condition, a tenant newer than the table's statistics (estimated at one row) made the
    // planner scan every expired row of the tenant through the (tenant, time) index, filtering on
    // the row address, instead of fetching the chosen rows by address: a batch's cost grew with
    // the tenant and a purge with its square. `IS TRUE` is not an index condition.
    const recheck = (condition: Statement.Fragment) => sql`(${condition}) IS TRUE`

    // One statement on one table: the oldest `limit` selected rows, found through the
    // (tenant, time) index and purged by their row address (a TID scan).
    const purgeIn = (relation: ReturnType<typeof sql>, tenant: TenantId, request: PurgeBatch) => {
      const chosen = sql`ctid = ANY(ARRAY(
        SELECT ctid FROM ${relation} WHERE ${where(tenant, request)} ORDER BY ${time} LIMIT ${request.limit}))`
      const statement = redact.length > 0
        ? sql<{ n: string | number }>`WITH purged AS (
            UPDATE ${relation} SET ${sql.csv(redact.map((column) => sql`${sql(column)} = NULL`))}
            WHERE ${chosen} AND ${recheck(where(tenant, request))} RETURNING 1
          ) SELECT count(*) AS n FROM purged`
        : sql<{ n: string | number }>`WITH purged AS (
            DELETE FROM ${relation} WHERE ${chosen} AND ${recheck(where(tenant, request))} RETURNING 1
          ) SELECT count(*) AS n FROM purged`
      return Effect.map(statement, ([row]) => Number(row?.n ?? 0))
    }

    // Several tenants at once, as a plain batched DELETE by time would: the oldest `limit` rows
    // expired at their tenant's cut-off, through the time index, purged by row address. Each batch
    // starts where the previous one stopped (`after`): from the first row, each batch read again
    // the older rows of tenants outside it (one keeping its records forever), a purge growing with
    // the square of the rows it passed. Bitmap scans and sorts are off in its transaction: either
    // reads every expired row of tenants the statistics underestimate, again each batch. Without a
    // time index, the tenants go one at a time through the (tenant, time) index. Only for tables
    // without partitions (row addresses are per partition).
    const purgeTenants = options.dayPartitions === true ? undefined : (
      tenants: ReadonlyArray<TenantCutoff>,
      { after, limit }: PurgeTenantsBatch
    ): Effect.Effect<PurgedTenants, RetentionTargetError> => {
      if (tenants.length === 0) return Effect.succeed({ purged: new Map(), more: false, exhausted: new Set() })
      // In the batch's transaction: the planner settings, and whether an index leads with the time
      // column (read each batch: an index made while the process runs is used from then on).
      const prepared = sql<{ indexed: boolean }>`
        SELECT set_config('enable_bitmapscan', 'off', true), set_config('enable_sort', 'off', true), EXISTS (
          SELECT FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
          WHERE i.indrelid = to_regclass(${identifier(options.table)}) AND a.attname = ${options.time}
        ) AS indexed`
      return Effect.flatMap(prepared, ([row]): Effect.Effect<PurgedTenants, SqlError> => {
        if (row?.indexed !== true) {
          const [first] = tenants
          return Effect.map(
            purgeIn(table, first!.tenant, { cutoff: first!.cutoff, limit, excludeSubjects: new Set() }),
            (purged) => ({
              purged: new Map(purged > 0 ? [[first!.tenant, purged]] : []),
              more: purged >= limit || tenants.length > 1,
              exhausted: new Set(purged >= limit ? [] : [first!.tenant])
            })
          )
        }
        const latest = Math.max(...tenants.map((t) => t.cutoff.getTime()))
        const sameCutoff = tenants.every((t) => t.cutoff.getTime() === latest)
        const expired = sql.and([
          sql`${time} < ${new Date(latest)}`,
          ...(after !== undefined ? [sql`${time} >= ${after}`] : []),
          sql`${tenantColumn} = ANY(${tenants.map((t) => t.tenant)}::uuid[])`,
          ...(sameCutoff ? [] : [sql`EXISTS (SELECT 1 FROM unnest(
            ${tenants.map((t) => t.tenant)}::uuid[], ${tenants.map((t) => t.cutoff.toISOString())}::timestamptz[]
          ) AS c(lawful_tenant, lawful_cutoff) WHERE ${tenantColumn} = c.lawful_tenant AND ${time} < c.lawful_cutoff)`]),
          ...matching,
          ...notPurged
        ])
        const chosen = sql`ctid = ANY(ARRAY(SELECT ctid FROM ${table} WHERE ${expired} ORDER BY ${time} LIMIT ${limit}))`
        const statement = redact.length > 0
          ? sql<{ tenant: TenantId; n: string | number; reached: Date }>`WITH purged AS (
              UPDATE ${table} SET ${sql.csv(redact.map((column) => sql`${sql(column)} = NULL`))}
              WHERE ${chosen} AND ${recheck(expired)} RETURNING ${tenantColumn} AS tenant, ${time} AS time
            ) SELECT tenant, count(*) AS n, max(time) AS reached FROM purged GROUP BY tenant`
          : sql<{ tenant: TenantId; n: string | number; reached: Date }>`WITH purged AS (
              DELETE FROM ${table} WHERE ${chosen} AND ${recheck(expired)} RETURNING ${tenantColumn} AS tenant, ${time} AS time
            ) SELECT tenant, count(*) AS n, max(time) AS reached FROM purged GROUP BY tenant`
        return statement.pipe(
          Effect.map((rows) => {
            const purged = new Map(rows.map((row) => [row.tenant, Number(row.n)]))
            let total = 0
            let reached: Date | undefined
            for (const row of rows) {
              total += Number(row.n)
              if (reached === undefined || row.reached.getTime() > reached.getTime()) reached = row.reached
            }
            const more = total >= limit
            return {
              purged,
              more,
              exhausted: new Set(more ? [] : tenants.map((t) => t.tenant)),
              reached: reached ?? after
            }
          })
        )
      }).pipe(
        withTransaction(sql),
        Effect.mapError(fail("purge")),
        Effect.withSpan("RetentionTarget.purgeTenants", {
          captureStackTrace: false,
          attributes: { target, tenants: tenants.length, limit }
        })
      )
    }

    // Row addresses are per partition: a batch of a partitioned table works in the
    // partition of the oldest selected row.
    const oldestPartition = (tenant: TenantId, request: PurgeBatch) =>
      sql<{ schema: string; name: string }>`
        SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.oid = (SELECT tableoid FROM ${table} WHERE ${where(tenant, request)} ORDER BY ${time} LIMIT 1)`

    const purgeBatch = (tenant: TenantId, request: PurgeBatch) =>
      (options.dayPartitions === true
        ? Effect.flatMap(oldestPartition(tenant, request), ([partition]) =>
          partition === undefined
            ? Effect.succeed({ purged: 0, more: false })
            : Effect.map(
              purgeIn(sql(`${partition.schema}.${partition.name}`), tenant, request),
              (purged) => ({ purged, more: purged > 0 })
            ))
        : Effect.map(purgeIn(table, tenant, request), (purged) => ({ purged, more: purged >= request.limit }))).pipe(
          Effect.mapError(fail("purge")),
          Effect.withSpan("RetentionTarget.purgeBatch", { captureStackTrace: false, attributes: { target, tenant, limit: request.limit } })
        )

    const partitions: Partitions | undefined = options.dayPartitions !== true ? undefined : {
      // Each partition's range as the catalog has it, not as its name tells (one made in a session
      // of another time zone, or for a longer range, holds other times than its name's UTC day).
      endingBefore: (before) =>
        sql<TimePartition>`
          SELECT name, span[1] AS "from", span[2] AS "to" FROM (
            SELECT c.relname AS name, ${sql.literal(rangeOf("c.oid", "i.inhparent", literal(options.time)))} AS span
            FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = ${options.table}::regclass
          ) p
          WHERE span[2] <= ${before} ORDER BY span[1], name`.pipe(
          Effect.map((rows) =>
            rows.flatMap((row): Array<TimePartition> =>
              isDayPartition(options.table, row.name) ? [{ name: row.name, from: row.from, to: row.to }] : []
            )
          ),
          Effect.mapError(fail("list partitions"))
        ),
      dropIfOnly: (partition, tenants) => {
        const relation = qualified(options.table, partition.name)
        const statement = dropStatement({
          table: identifier(options.table),
          partition: identifier(relation),
          tenant: identifier(options.tenant ?? "tenant_id"),
          time: identifier(options.time),
          timeColumn: options.time,
          from: partition.from,
          to: partition.to,
          match: Object.entries(options.match ?? {}).map(([column, value]) => `${identifier(column)} = ${literal(value)}`),
          tenants
        })
        return sql.unsafe(statement).pipe(
          Effect.map((results) => {
            // One result per statement (the `DO` block's is empty): the outcome is the last one's.
            const last = (results as ReadonlyArray<unknown>).at(-1)
            const row = (Array.isArray(last) ? last[0] : last) as { readonly result: string }
            const outcome = JSON.parse(row.result) as {
              readonly dropped: boolean
              readonly census: ReadonlyArray<readonly [TenantId, number, boolean]>
            }
            return outcome.dropped
              ? Option.some(outcome.census.map(([tenant, records, elsewhere]) => ({ tenant, records, elsewhere })))
              : Option.none()
          }),
          Effect.mapError(fail("drop a partition")),
          Effect.withSpan("RetentionTarget.dropPartition", { captureStackTrace: false, attributes: { target, partition: partition.name } })
        )
      }
    }

    return {
      client,
      tenants: sql<{ tenant: TenantId }>`
        WITH RECURSIVE tenants AS (
          (SELECT ${tenantColumn} AS tenant FROM ${table} ORDER BY ${tenantColumn} LIMIT 1)
          UNION ALL
          SELECT (SELECT ${tenantColumn} FROM ${table} WHERE ${tenantColumn} > tenants.tenant ORDER BY ${tenantColumn} LIMIT 1)
          FROM tenants WHERE tenants.tenant IS NOT NULL
        )
        SELECT tenant FROM tenants WHERE tenant IS NOT NULL`.pipe(
        Effect.map((rows) => rows.map((row) => row.tenant)),
        Effect.mapError(fail("list tenants"))
      ),
      purgeBatch,
      purgeTenants,
      count: (tenant, selection) =>
        sql<{ n: string | number }>`SELECT count(*) AS n FROM ${table} WHERE ${where(tenant, selection)}`.pipe(
          Effect.map(([row]) => Number(row?.n ?? 0)),
          Effect.mapError(fail("count"))
        ),
      oldest: (tenant, { excludeSubjects }) =>
        sql<{ time: Date }>`SELECT ${time} AS time FROM ${table} WHERE ${where(tenant, { excludeSubjects })}
          ORDER BY ${time} LIMIT 1`.pipe(
          Effect.map(([row]) => Option.fromNullable(row?.time)),
          Effect.mapError(fail("find the oldest record"))
        ),
      partitions
    } satisfies TargetStorage
  })
