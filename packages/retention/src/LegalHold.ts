/**
 * Legal holds: records a tenant must keep whatever their policy says, for
 * litigation, an investigation or a regulator.
 *
 * A hold has a scope within its tenant: everything (no subject, no
 * category), one category, one subject (in every category), or one subject
 * in one category. It carries its reason and who placed it. The sweeper never
 * purges a record a hold covers; once the hold is released, the next sweep
 * purges what has expired meanwhile (a sweep running at the release may, or
 * may not).
 *
 * A hold reaches a sweep already running: once `place` has returned, no
 * purge batch and no partition drop that starts afterwards removes a record
 * it covers, on every store and, on PostgreSQL, whichever process sweeps.
 * The sweeper reads the holds again for each batch and drop
 * (`withActiveOf`). In memory, and on SQL for a category stored on the sweep
 * journal's database (`RetentionTarget.sqlTable` on the main database), it
 * is more: `place` waits for the batch or drop in progress, which either saw
 * the hold or committed before `place` returns, so nothing the hold covers is
 * purged after it returned.
 *
 * A hold on a category also keeps its parent categories (a hold on message
 * previews keeps their transactional log), so a child record never outlives
 * its parent. Placing and releasing are appended to the tenant's audit log
 * (`retention.hold.placed`, `retention.hold.released`, with the hold id, its
 * category and subject; the free-text reason stays in the hold, out of the
 * log). A hold is never in force without its entry: on SQL the entry is
 * appended in the hold's transaction, after its insert (with the log on the
 * same database, the platform's setup, the hold and its entry commit together
 * or not at all, even if the process dies in between; a log on a database of
 * its own commits its entry first); in memory the entry is appended first and
 * the hold stored after it, under the lock a sweep's batch waits for. A
 * release is appended first and made only once its entry is in, so a sweep
 * never purges under a release that then fails. If the append fails nothing
 * changed and the error is returned. If the release itself then fails (or
 * the hold's commit, with a log on a database of its own), the log names a
 * release or a placement that was not made (a released hold's records stay),
 * and a retry appends another. Releases of one hold through one `LegalHolds`
 * take turns, so two at once release it once and append one entry (the
 * other returns the released hold); two processes releasing one hold at the
 * same instant may each append one.
 *
 * Backends: `layerMemory`, and `layerSql` on `lawful_retention_holds`.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import { Actor, AuditEvent } from "@lawful/audit-trail/AuditEvent"
import { AuditTrail } from "@lawful/audit-trail/AuditTrail"
import type { AuditEventInvalid, AuditStoreError } from "@lawful/audit-trail/AuditTrail"
import type * as Migrations from "@lawful/core/Migrations"
import { RetentionTargets } from "@lawful/core/RetentionTarget"
import type { RetentionTarget } from "@lawful/core/RetentionTarget"
import { SubjectId } from "@lawful/core/SubjectId"
import { TenantId } from "@lawful/core/TenantId"
import * as Text from "@lawful/core/Text"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Order from "effect/Order"
import * as Schema from "effect/Schema"
import { randomUUID } from "node:crypto"
import { checkActor, decodeActor, encodeActor } from "./internal/encoding.js"
import { migrate } from "./internal/migrations.js"
import { RetentionCategoryNotFound, RetentionStoreError } from "./RetentionPolicy.js"

/**
 * A legal hold. Without `subjectId` it holds every subject; without
 * `category`, every category.
 *
 * @since 0.1.0
 * @category models
 */
export class LegalHold extends Schema.Class<LegalHold>("@lawful/retention/LegalHold/LegalHold")({
  holdId: Schema.UUID,
  tenantId: TenantId,
  subjectId: Schema.optional(SubjectId),
  category: Schema.optional(Schema.String),
  reason: Schema.String,
  placedAt: Schema.DateFromSelf,
  placedBy: Actor,
  releasedAt: Schema.optional(Schema.DateFromSelf),
  releasedBy: Schema.optional(Actor)
}) {
  /** True until the hold is released. */
  get active(): boolean {
    return this.releasedAt === undefined
  }
}

/**
 * What a hold covers and why.
 *
 * @since 0.1.0
 * @category models
 */
export interface HoldRequest {
  readonly subject?: SubjectId | undefined
  readonly category?: string | undefined
  /** Why the records must be kept (a case or matter reference): 1 to 1000 characters. */
  readonly reason: string
}

/**
 * The hold was refused as given (an empty or overlong reason, or one with a NUL
 * character or an unpaired surrogate, which PostgreSQL cannot store; a subject
 * that is not a `SubjectId`, a lower-case UUID). Nothing was placed. The
 * reason never quotes what was given.
 *
 * @since 0.1.0
 * @category errors
 */
export class LegalHoldInvalid extends Schema.TaggedError<LegalHoldInvalid>()("LegalHoldInvalid", {
  reason: Schema.String
}) {
  override get message(): string {
    return `Legal hold refused: ${this.reason}`
  }
}

/**
 * The tenant has no hold with this id.
 *
 * @since 0.1.0
 * @category errors
 */
export class LegalHoldNotFound extends Schema.TaggedError<LegalHoldNotFound>()("LegalHoldNotFound", {
  tenantId: Schema.String,
  holdId: Schema.String
}) {
  override get message(): string {
    return `No legal hold ${this.holdId} for tenant ${this.tenantId}`
  }
}

/**
 * @since 0.1.0
 * @category services
 */
export class LegalHolds extends Context.Tag("@lawful/retention/LegalHolds")<LegalHolds, {
  readonly place: (
    tenant: TenantId,
    request: HoldRequest,
    actor: Actor
  ) => Effect.Effect<
    LegalHold,
    LegalHoldInvalid | RetentionCategoryNotFound | RetentionStoreError | AuditEventInvalid | AuditStoreError
  >
  /**
   * Releases the hold, audited once; releasing a released hold returns it unchanged and appends
   * nothing. Releases of one hold take turns (see the module doc).
   */
  readonly release: (
    tenant: TenantId,
    holdId: string,
    actor: Actor
  ) => Effect.Effect<LegalHold, LegalHoldNotFound | RetentionStoreError | AuditEventInvalid | AuditStoreError>
  readonly get: (tenant: TenantId, holdId: string) => Effect.Effect<LegalHold, LegalHoldNotFound | RetentionStoreError>
  /** The tenant's holds in force, oldest first. */
  readonly active: (tenant: TenantId) => Effect.Effect<ReadonlyArray<LegalHold>, RetentionStoreError>
  /** `active` for many tenants in one read (the sweeper's). */
  readonly activeOf: (
    tenants: ReadonlyArray<TenantId>
  ) => Effect.Effect<ReadonlyMap<TenantId, ReadonlyArray<LegalHold>>, RetentionStoreError>
  /** Every hold of the tenant, released ones included, oldest first. */
  readonly list: (tenant: TenantId) => Effect.Effect<ReadonlyArray<LegalHold>, RetentionStoreError>
  /**
   * `activeOf`, then `use` with what it read (the sweeper's, around each batch and each
   * partition drop). It sees every hold whose `place` has returned. In memory a `place` waits
   * until `use` is done. On SQL the read takes a shared lock that `place` takes exclusively,
   * until the end of the caller's transaction: run in a transaction, `use` holds off every
   * `place` until that transaction ends (keep it short, and place no hold in it); outside one, a
   * `place` does not wait.
   */
  readonly withActiveOf: <A, E, R>(
    tenants: ReadonlyArray<TenantId>,
    use: (active: ReadonlyMap<TenantId, ReadonlyArray<LegalHold>>) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | RetentionStoreError, R>
}>() {}

/**
 * What the holds keep of one category: all of it (`whole`), or the records
 * of some subjects.
 *
 * @since 0.1.0
 * @category models
 */
export interface HeldScope {
  readonly whole: boolean
  readonly subjects: ReadonlySet<SubjectId>
}

/**
 * What active holds keep of a category: a hold covers its own category and
 * that category's ancestors, or every category when it names none.
 *
 * @since 0.1.0
 * @category constructors
 */
export const scopeOf = (
  holds: ReadonlyArray<LegalHold>,
  category: string,
  targets: ReadonlyArray<RetentionTarget>
): HeldScope => {
  const parentOf = new Map(targets.map((target) => [target.id, target.parent]))
  const covers = (held: string): boolean => {
    const seen = new Set<string>()
    for (let id: string | undefined = held; id !== undefined && !seen.has(id); id = parentOf.get(id)) {
      if (id === category) return true
      seen.add(id)
    }
    return false
  }
  let whole = false
  const subjects = new Set<SubjectId>()
  for (const hold of holds) {
    if (!hold.active || (hold.category !== undefined && !covers(hold.category))) continue
    if (hold.subjectId === undefined) whole = true
    else subjects.add(hold.subjectId)
  }
  return { whole, subjects }
}

// What a backend stores.
interface HoldStore {
  /**
   * Stores the hold and `record`s it where no sweep can have read it yet: on SQL in the transaction
   * that inserts it, after the insert and before the commit; in memory before it is stored, under
   * the lock `withActiveOf` takes. A `record` that fails leaves no hold.
   */
  readonly insert: <E>(hold: LegalHold, record: Effect.Effect<void, E>) => Effect.Effect<void, E | RetentionStoreError>
  readonly find: (tenant: TenantId, holdId: string) => Effect.Effect<Option.Option<LegalHold>, RetentionStoreError>
  /** Marks the hold released unless it is; the released hold, or none when it was released already or is unknown. */
  readonly release: (
    tenant: TenantId,
    holdId: string,
    at: Date,
    by: Actor
  ) => Effect.Effect<Option.Option<LegalHold>, RetentionStoreError>
  readonly list: (tenant: TenantId, activeOnly: boolean) => Effect.Effect<ReadonlyArray<LegalHold>, RetentionStoreError>
  readonly activeOf: (tenants: ReadonlyArray<TenantId>) => Effect.Effect<ReadonlyArray<LegalHold>, RetentionStoreError>
  /** `activeOf`, then `use`, with `insert` held off as `LegalHolds.withActiveOf` says. */
  readonly withActiveOf: <A, E, R>(
    tenants: ReadonlyArray<TenantId>,
    use: (active: ReadonlyArray<LegalHold>) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | RetentionStoreError, R>
}

const auditEvent = (hold: LegalHold, action: "retention.hold.placed" | "retention.hold.released", actor: Actor) =>
  new AuditEvent({
    actor,
    action,
    purpose: "legal-hold",
    ...(hold.subjectId !== undefined ? { subject: hold.subjectId } : {}),
    resource: { type: "legal-hold", id: hold.holdId },
    details: {
      holdId: hold.holdId,
      category: hold.category ?? null,
      scope: hold.subjectId === undefined
        ? (hold.category === undefined ? "tenant" : "category")
        : (hold.category === undefined ? "subject" : "subject-category")
    }
  })

const make = (store: HoldStore) =>
  Effect.gen(function*() {
    const registry = yield* RetentionTargets
    const audit = yield* AuditTrail

    const byTenant = (tenants: ReadonlyArray<TenantId>, active: ReadonlyArray<LegalHold>) => {
      const grouped = new Map<TenantId, Array<LegalHold>>(tenants.map((tenant) => [tenant, []]))
      for (const hold of active) grouped.get(hold.tenantId)?.push(hold)
      return grouped
    }

    // One lock per hold being released, dropped when no release of it waits.
    const locks = new Map<string, { readonly lock: Effect.Semaphore; users: number }>()
    const releasing = <A, E>(key: string, release: Effect.Effect<A, E>) =>
      Effect.acquireUseRelease(
        Effect.sync(() => {
          const held = locks.get(key) ?? { lock: Effect.unsafeMakeSemaphore(1), users: 0 }
          held.users++
          locks.set(key, held)
          return held
        }),
        (held) => held.lock.withPermits(1)(release),
        (held) =>
          Effect.sync(() => {
            if (--held.users === 0) locks.delete(key)
          })
      )

    const get = (tenant: TenantId, holdId: string) =>
      Effect.flatMap(store.find(tenant, holdId), Option.match({
        onNone: () => Effect.fail(new LegalHoldNotFound({ tenantId: tenant, holdId })),
        onSome: Effect.succeed
      }))

    return LegalHolds.of({
      // Recorded where no sweep can have read the hold yet (`HoldStore.insert`): saved first and its
      // entry appended after, a process that stopped in between left a hold the log never names.
      place: (tenant, request, actor) =>
        Effect.gen(function*() {
          yield* checkActor(actor)
          // Checked before anything else, and not quoted: what was given may be an address.
          if (request.subject !== undefined && !Schema.is(SubjectId)(request.subject)) {
            return yield* new LegalHoldInvalid({ reason: "a subject id is a lower-case UUID" })
          }
          const reason = request.reason.trim()
          if (reason.length === 0 || reason.length > 1000) {
            return yield* new LegalHoldInvalid({ reason: "a hold needs a reason of 1 to 1000 characters" })
          }
          if (!Text.isStorable(reason)) return yield* new LegalHoldInvalid({ reason: `the reason's ${Text.message}` })
          if (request.category !== undefined && Option.isNone(yield* registry.get(request.category))) {
            return yield* new RetentionCategoryNotFound({ category: request.category })
          }
          const hold = new LegalHold({
            holdId: randomUUID(),
            tenantId: tenant,
            ...(request.subject !== undefined ? { subjectId: request.subject } : {}),
            ...(request.category !== undefined ? { category: request.category } : {}),
            reason,
            placedAt: new Date(yield* Clock.currentTimeMillis),
            placedBy: actor
          })
          yield* store.insert(hold, audit.append(tenant, auditEvent(hold, "retention.hold.placed", actor)))
          return hold
        }).pipe(Effect.withSpan("LegalHolds.place", { attributes: { tenant } })),
      // Appended before the hold is released, never undone after: a release made first and undone
      // when its entry failed let a sweep in between purge what the hold, still in force, keeps.
      // Releases of one hold take turns: two at once both found it active and both appended an entry.
      release: (tenant, holdId, actor) =>
        Effect.gen(function*() {
          yield* checkActor(actor)
          return yield* releasing(`${tenant}/${holdId.toLowerCase()}`, Effect.gen(function*() {
            const hold = yield* get(tenant, holdId)
            if (!hold.active) return hold
            yield* audit.append(tenant, auditEvent(hold, "retention.hold.released", actor))
            const at = new Date(yield* Clock.currentTimeMillis)
            const released = yield* store.release(tenant, holdId, at, actor)
            return Option.isSome(released) ? released.value : yield* get(tenant, holdId)
          }))
        }).pipe(Effect.withSpan("LegalHolds.release", { attributes: { tenant } })),
      get,
      active: (tenant) => store.list(tenant, true),
      activeOf: (tenants) =>
        tenants.length === 0
          ? Effect.succeed(new Map())
          : Effect.map(store.activeOf(tenants), (active) => byTenant(tenants, active)),
      list: (tenant) => store.list(tenant, false),
      withActiveOf: (tenants, use) =>
        store.withActiveOf(tenants, (active) => use(byTenant(tenants, active))).pipe(
          Effect.withSpan("LegalHolds.withActiveOf", { captureStackTrace: false, attributes: { tenants: tenants.length } })
        )
    })
  })

// As the SQL store orders them: by placement, then by id (holds placed at one instant).
const byPlacement = (a: LegalHold, b: LegalHold) =>
  a.placedAt.getTime() - b.placedAt.getTime() || Order.string(a.holdId, b.holdId)

/**
 * Holds in memory, for tests and programs without a database.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<LegalHolds, never, RetentionTargets | AuditTrail> = Layer.effect(
  LegalHolds,
  Effect.suspend(() => {
    const holds = new Map<string, LegalHold>()
    // A hold id is a UUID, found whatever the case of its hex digits, as PostgreSQL's `uuid` finds it.
    const key = (tenant: TenantId, holdId: string) => `${tenant}/${holdId.toLowerCase()}`
    // Taken by each insert and by each `withActiveOf` for as long as its `use` runs.
    const placing = Effect.unsafeMakeSemaphore(1)
    const activeOf = (tenants: ReadonlyArray<TenantId>) =>
      Effect.sync(() => {
        const wanted = new Set(tenants)
        return [...holds.values()]
          .filter((hold) => wanted.has(hold.tenantId) && hold.active)
          .sort(byPlacement)
      })
    return make({
      // Recorded before it is stored, under the lock a sweep's `withActiveOf` waits for: a read outside
      // the lock sees the hold only once its entry is in.
      insert: (hold, record) =>
        placing.withPermits(1)(Effect.zipRight(record, Effect.sync(() => void holds.set(key(hold.tenantId, hold.holdId), hold)))),
      find: (tenant, holdId) => Effect.sync(() => Option.fromNullable(holds.get(key(tenant, holdId)))),
      release: (tenant, holdId, at, by) =>
        Effect.sync(() => {
          const hold = holds.get(key(tenant, holdId))
          if (!hold || !hold.active) return Option.none()
          const released = new LegalHold({ ...hold, releasedAt: at, releasedBy: by })
          holds.set(key(tenant, holdId), released)
          return Option.some(released)
        }),
      list: (tenant, activeOnly) =>
        Effect.sync(() =>
          [...holds.values()]
            .filter((hold) => hold.tenantId === tenant && (!activeOnly || hold.active))
            .sort(byPlacement)
        ),
      activeOf,
      withActiveOf: (tenants, use) => placing.withPermits(1)(Effect.flatMap(activeOf(tenants), use))
    })
  })
)

const HoldRow = Schema.Struct({
  hold_id: Schema.String,
  tenant_id: TenantId,
  subject_id: Schema.NullOr(SubjectId),
  category: Schema.NullOr(Schema.String),
  reason: Schema.String,
  placed_at: Schema.DateFromSelf,
  placed_by: Schema.String,
  released_at: Schema.NullOr(Schema.DateFromSelf),
  released_by: Schema.NullOr(Schema.String)
})

const decodeHoldRows = Schema.decodeUnknown(Schema.Array(HoldRow))

const toHold = (row: typeof HoldRow.Type): LegalHold =>
  new LegalHold({
    holdId: row.hold_id,
    tenantId: row.tenant_id,
    ...(row.subject_id !== null ? { subjectId: row.subject_id } : {}),
    ...(row.category !== null ? { category: row.category } : {}),
    reason: row.reason,
    placedAt: row.placed_at,
    placedBy: decodeActor(row.placed_by),
    ...(row.released_at !== null ? { releasedAt: row.released_at } : {}),
    ...(row.released_by !== null ? { releasedBy: decodeActor(row.released_by) } : {})
  })

const holdColumns = "hold_id, tenant_id, subject_id, category, reason, placed_at, placed_by, released_at, released_by"

/**
 * Holds on SQL (PostgreSQL or PGlite), in `lawful_retention_holds`, migrated
 * on start-up. `place` and `withActiveOf` share a transaction-scoped advisory
 * lock keyed by the schema (`place` takes it exclusively, for its insert and
 * its audit entry), so the rule of `withActiveOf` holds between processes on
 * one schema. Policies share it too (`RetentionPolicies.set` and
 * `withAllOf`): a batch that reads both takes it once.
 *
 * A hold's audit entry is appended inside its transaction, after the insert,
 * as `RetentionPolicy.layerSql` appends a change's: an `AuditTrail` whose
 * store is on this database joins the transaction, so the hold and its entry
 * commit or roll back as one; a store on a database of its own must keep its
 * statements out of the caller's transaction (`Database.outsideTransactionAll`)
 * and commits its entry before the hold commits.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSql: Layer.Layer<
  LegalHolds,
  Migrations.MigrationFailed,
  RetentionTargets | AuditTrail | SqlClient.SqlClient
> = Layer.effect(
  LegalHolds,
  Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    yield* migrate(sql)
    const fail = (operation: string) => (cause: unknown) => new RetentionStoreError({ operation, cause })
    const rows = (statement: Effect.Effect<ReadonlyArray<unknown>, unknown>) =>
      Effect.map(Effect.flatMap(statement, decodeHoldRows), (decoded) => decoded.map(toHold))

    return yield* make({
      // Under the exclusive lock `lawful_retention_holds_in_force` shares: a read of the holds that
      // holds the shared lock in its transaction is done before the new hold commits, and every read
      // after the commit sees it. The hold is recorded (its audit entry appended) after the insert, in
      // this transaction: with the log on this database the entry joins it, and both commit or neither
      // does; a log elsewhere commits the entry first, before any sweep can read the hold (see `layerSql`).
      insert: (hold, record) =>
        Effect.zipRight(
          Effect.zipRight(
            sql`SELECT pg_advisory_xact_lock(hashtext('lawful_retention_holds/' || current_schema()))`,
            sql`INSERT INTO lawful_retention_holds (tenant_id, hold_id, subject_id, category, reason, placed_at, placed_by)
              VALUES (${hold.tenantId}, ${hold.holdId}, ${hold.subjectId ?? null}, ${hold.category ?? null}, ${hold.reason},
                ${hold.placedAt}, ${encodeActor(hold.placedBy)})`
          ).pipe(Effect.mapError(fail("place"))),
          record
        ).pipe(
          sql.withTransaction,
          // The transaction's own statements (BEGIN, COMMIT).
          Effect.mapError((error) => error instanceof SqlError ? fail("place")(error) : error)
        ),
      find: (tenant, holdId) =>
        // An id that is not a UUID names no hold.
        Schema.is(Schema.UUID)(holdId)
          ? rows(sql`SELECT ${sql.literal(holdColumns)} FROM lawful_retention_holds
              WHERE tenant_id = ${tenant} AND hold_id = ${holdId}`).pipe(
              Effect.map((found) => Option.fromNullable(found[0])),
              Effect.mapError(fail("find"))
            )
          : Effect.succeed(Option.none()),
      release: (tenant, holdId, at, by) =>
        Schema.is(Schema.UUID)(holdId)
          ? rows(sql`UPDATE lawful_retention_holds SET released_at = ${at}, released_by = ${encodeActor(by)}
              WHERE tenant_id = ${tenant} AND hold_id = ${holdId} AND released_at IS NULL
              RETURNING ${sql.literal(holdColumns)}`).pipe(
              Effect.map((found) => Option.fromNullable(found[0])),
              Effect.mapError(fail("release"))
            )
          : Effect.succeed(Option.none()),
      list: (tenant, activeOnly) =>
        rows(
          activeOnly
            ? sql`SELECT ${sql.literal(holdColumns)} FROM lawful_retention_holds
                WHERE tenant_id = ${tenant} AND released_at IS NULL ORDER BY placed_at, hold_id`
            : sql`SELECT ${sql.literal(holdColumns)} FROM lawful_retention_holds
                WHERE tenant_id = ${tenant} ORDER BY placed_at, hold_id`
        ).pipe(Effect.mapError(fail("list"))),
      activeOf: (tenants) =>
        rows(sql`SELECT ${sql.literal(holdColumns)} FROM lawful_retention_holds
          WHERE tenant_id = ANY(${tenants}::uuid[]) AND released_at IS NULL ORDER BY placed_at, hold_id`).pipe(
          Effect.mapError(fail("activeOf"))
        ),
      // One statement: the function takes the shared lock, then reads with a snapshot taken after it.
      withActiveOf: (tenants, use) =>
        Effect.flatMap(
          rows(sql`SELECT ${sql.literal(holdColumns)} FROM lawful_retention_holds_in_force(${tenants}::uuid[])`).pipe(
            Effect.mapError(fail("activeOf"))
          ),
          use
        )
    })
  })
)
