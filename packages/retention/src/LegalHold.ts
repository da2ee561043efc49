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
 * (`withActiveOf`), and it is more: `place` waits for the batch or drop in
 * progress, which either saw the hold or committed before `place` returns,
 * so nothing the hold covers is purged after it returned (on SQL the sweeper
 * reads the holds in the journal's transaction around each batch, which a
 * category on a database of its own also commits inside).
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
 * never purges under a release that then fails: on SQL the entry is appended
 * in the release's transaction, which locks the hold's row from the check
 * that it is in force to the update (with the log on the same database the
 * release and its entry commit together or not at all; sweeps read the hold
 * in force until the commit, and on PGlite, one session, wait for it); in
 * memory the entry is appended before the hold is marked released. If the
 * append fails, or the process stops, nothing changed: the hold stays in
 * force and a retry releases it. With a log on a database of its own, the
 * entry of a hold or a release commits before the hold or the release does,
 * and that commit may still fail (a constraint checked at commit, a
 * connection lost): the error is then a `RetentionStoreError`, and the log is
 * told what became of it. `place` and `release` read the hold again: a hold
 * (or a release) found in after all, a commit that went through without
 * answering, is returned as done; one not in gets a second entry,
 * `retention.hold.place-failed` (or `retention.hold.release-failed`), naming
 * the hold as the first did (its id, category and scope, and `entry`, the
 * index of the entry it answers), and the error is returned, so a retry
 * appends a new placement (or release) after an answered one. A process that
 * stops (or an interruption) between the two, or a failure of that read or
 * of that append, leaves the entry without its outcome. With the log on the
 * same database a failed commit takes the entry with it, and nothing more is
 * appended; in memory nothing can fail once the entry is in (the hold is
 * then stored, or marked released, in memory). Releases of one hold take
 * turns, whatever the process (on SQL the hold's row lock, in memory the
 * store's lock), so two
 * at once release it once and append one entry; the other returns the
 * released hold.
 *
 * `list`, `active` and `activeOf` return every hold asked for, or a page of
 * them (`HoldPage`: `limit`, and `after` the last hold of the page before),
 * by placement, then by id, on every store.
 *
 * Errors quote an id a caller gave only when it is well formed (a hold id, a
 * category id): what was given by mistake may be any text, an address
 * included.
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
import * as Database from "@lawful/core/Database"
import type * as Migrations from "@lawful/core/Migrations"
import { RetentionTargets } from "@lawful/core/RetentionTarget"
import type { RetentionTarget } from "@lawful/core/RetentionTarget"
import { is as isSubjectId, SubjectId } from "@lawful/core/SubjectId"
import { describe as describeTenant, is as isTenantId, TenantId } from "@lawful/core/TenantId"
import * as Text from "@lawful/core/Text"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Order from "effect/Order"
import * as Schema from "effect/Schema"
import { randomUUID } from "node:crypto"
import {
  checkActor,
  decodeActor,
  encodeActor,
  isStorableTime,
  quotedCategory,
  quotedHoldId,
  tenantsGiven
} from "./internal/encoding.js"
import { migrate } from "./internal/migrations.js"
import { noting, settle } from "./internal/outcome.js"
import type { Intent } from "./internal/outcome.js"
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
 * The hold was refused as given (a request that is no object; a reason that is
 * no string, empty or overlong, or one with a NUL character or an unpaired
 * surrogate, which PostgreSQL cannot store; a subject that is not a
 * `SubjectId`, or a tenant that is not a `TenantId`, a lower-case UUID).
 * Nothing was placed. The reason never quotes what was given.
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
 * The tenant has no hold with this id. `holdId` is the id asked for, in lower
 * case, when it is a hold id (a UUID); otherwise (any other text, or no text
 * at all) it is empty, and neither it nor the message quotes what was given
 * (it may be any text, an address included). `tenantId` is likewise empty
 * when what was given is not a `TenantId`.
 *
 * @since 0.1.0
 * @category errors
 */
export class LegalHoldNotFound extends Schema.TaggedError<LegalHoldNotFound>()("LegalHoldNotFound", {
  tenantId: Schema.String,
  holdId: Schema.String
}) {
  override get message(): string {
    const holdId = quotedHoldId(this.holdId)
    const tenant = `tenant ${describeTenant(this.tenantId)}`
    return holdId === ""
      ? `No legal hold for ${tenant} with the id given: it is not a hold id (a UUID)`
      : `No legal hold ${holdId} for ${tenant}`
  }
}

/**
 * A page of holds, in the order they are listed (by placement, then by id,
 * on every store): at most `limit` of them (a whole number from 1 to 1000;
 * every one when omitted), those after `after` (pass the last hold of the
 * page before; the first page when omitted).
 *
 * @since 0.1.0
 * @category models
 */
export interface HoldPage {
  readonly limit?: number | undefined
  readonly after?: { readonly placedAt: Date; readonly holdId: string } | undefined
}

/**
 * The page was refused as given: a page that is no object, a limit that is not
 * a whole number from 1 to 1000, or an `after` without a hold's placement time
 * and id (a UUID). The reason never quotes what was given.
 *
 * @since 0.1.0
 * @category errors
 */
export class LegalHoldPageInvalid extends Schema.TaggedError<LegalHoldPageInvalid>()("LegalHoldPageInvalid", {
  reason: Schema.String
}) {
  override get message(): string {
    return `Page of legal holds refused: ${this.reason}`
  }
}

const maxPageLimit = 1000

/** The page, its hold id in lower case as stores keep it, or why it is refused. */
const checkPage = (page: HoldPage): Effect.Effect<HoldPage, LegalHoldPageInvalid> => {
  if (typeof page !== "object" || page === null) {
    return Effect.fail(new LegalHoldPageInvalid({ reason: "a page is an object with a limit, an after, or both" }))
  }
  const { after, limit } = page
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1 && limit <= maxPageLimit)) {
    return Effect.fail(new LegalHoldPageInvalid({ reason: `a page's limit is a whole number from 1 to ${maxPageLimit}` }))
  }
  if (after === undefined) return Effect.succeed({ limit })
  if (typeof after !== "object" || after === null) {
    return Effect.fail(new LegalHoldPageInvalid({ reason: "a page starts after a hold: its placement time and id" }))
  }
  if (!isStorableTime(after.placedAt)) {
    return Effect.fail(new LegalHoldPageInvalid({ reason: "a page starts after a hold's placement time" }))
  }
  if (typeof after.holdId !== "string" || !Schema.is(Schema.UUID)(after.holdId)) {
    return Effect.fail(new LegalHoldPageInvalid({ reason: "a page starts after a hold's id (a UUID)" }))
  }
  return Effect.succeed({ limit, after: { placedAt: after.placedAt, holdId: after.holdId.toLowerCase() } })
}

// Quotes the tenant only when it is a tenant id, as the hold id: what was given may be an address.
const holdNotFound = (tenant: TenantId, holdId: string) =>
  new LegalHoldNotFound({ tenantId: isTenantId(tenant) ? tenant : "", holdId: quotedHoldId(holdId) })

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
   * nothing. Releases of one hold take turns, in one process or several (see the module doc). A
   * release whose commit fails fails with `RetentionStoreError`; with the log on a database of its
   * own, its entry is then followed by `retention.hold.release-failed` (`place`: `retention.hold.place-failed`).
   */
  readonly release: (
    tenant: TenantId,
    holdId: string,
    actor: Actor
  ) => Effect.Effect<LegalHold, LegalHoldNotFound | RetentionStoreError | AuditEventInvalid | AuditStoreError>
  readonly get: (tenant: TenantId, holdId: string) => Effect.Effect<LegalHold, LegalHoldNotFound | RetentionStoreError>
  /**
   * The tenant's holds in force, oldest first (by placement, then by id); a page of them with
   * `page`. None for a tenant that is not a `TenantId`, alike on every store.
   */
  readonly active: {
    (tenant: TenantId): Effect.Effect<ReadonlyArray<LegalHold>, RetentionStoreError>
    (tenant: TenantId, page: HoldPage): Effect.Effect<ReadonlyArray<LegalHold>, LegalHoldPageInvalid | RetentionStoreError>
  }
  /**
   * `active` for many tenants in one read (the sweeper's). With `page`, a page of the holds of all
   * of them together, in one order (by placement, then by id), grouped by tenant. An entry per
   * tenant given, empty for one that is not a `TenantId` (read by no store); an empty map when
   * `tenants` is no array.
   */
  readonly activeOf: {
    (tenants: ReadonlyArray<TenantId>): Effect.Effect<ReadonlyMap<TenantId, ReadonlyArray<LegalHold>>, RetentionStoreError>
    (
      tenants: ReadonlyArray<TenantId>,
      page: HoldPage
    ): Effect.Effect<ReadonlyMap<TenantId, ReadonlyArray<LegalHold>>, LegalHoldPageInvalid | RetentionStoreError>
  }
  /**
   * Every hold of the tenant, released ones included, oldest first (by placement, then by id); a
   * page of them with `page`. None for a tenant that is not a `TenantId`, alike on every store.
   */
  readonly list: {
    (tenant: TenantId): Effect.Effect<ReadonlyArray<LegalHold>, RetentionStoreError>
    (tenant: TenantId, page: HoldPage): Effect.Effect<ReadonlyArray<LegalHold>, LegalHoldPageInvalid | RetentionStoreError>
  }
  /**
   * `activeOf`, then `use` with what it read (the sweeper's, around each batch and each
   * partition drop). It sees every hold whose `place` has returned. In memory a `place` waits
   * until `use` is done. On SQL the read takes a shared lock that `place` takes exclusively,
   * until the end of the caller's transaction: run in a transaction, `use` holds off every
   * `place` until that transaction ends (keep it short, and place no hold in it); outside one, a
   * `place` does not wait. Tenants that are not `TenantId`s have nothing, as in `activeOf`.
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
  /**
   * Releases the hold unless it is released: `record`s the release first, with the hold as found,
   * and marks it released once `record` succeeded, while no other release of it can run: on SQL in
   * a transaction that locks the hold's row (`SELECT ... FOR UPDATE`), whichever process releases
   * it; in memory under the store's lock for releases. A `record` that fails releases
   * nothing. The hold as it is after, or none when it is unknown.
   */
  readonly release: <E>(
    tenant: TenantId,
    holdId: string,
    at: Date,
    by: Actor,
    record: (hold: LegalHold) => Effect.Effect<void, E>
  ) => Effect.Effect<Option.Option<LegalHold>, E | RetentionStoreError>
  /** Ordered by placement, then by id; `page` checked (`checkPage`). */
  readonly list: (
    tenant: TenantId,
    activeOnly: boolean,
    page: HoldPage
  ) => Effect.Effect<ReadonlyArray<LegalHold>, RetentionStoreError>
  readonly activeOf: (
    tenants: ReadonlyArray<TenantId>,
    page: HoldPage
  ) => Effect.Effect<ReadonlyArray<LegalHold>, RetentionStoreError>
  /** `activeOf`, then `use`, with `insert` held off as `LegalHolds.withActiveOf` says. */
  readonly withActiveOf: <A, E, R>(
    tenants: ReadonlyArray<TenantId>,
    use: (active: ReadonlyArray<LegalHold>) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | RetentionStoreError, R>
}

const holdDetails = (hold: LegalHold) => ({
  holdId: hold.holdId,
  category: hold.category ?? null,
  scope: hold.subjectId === undefined
    ? (hold.category === undefined ? "tenant" : "category")
    : (hold.category === undefined ? "subject" : "subject-category")
})

/**
 * The entry of a placement or a release (`retention.hold.placed`, `retention.hold.released`), or of
 * the outcome of one that failed once its entry was in a log apart (`...-failed`, whose `extra`
 * names that entry).
 */
const holdEvent = (
  hold: LegalHold,
  action:
    | "retention.hold.placed"
    | "retention.hold.released"
    | "retention.hold.place-failed"
    | "retention.hold.release-failed",
  actor: Actor,
  extra: { readonly entry?: number | null } = {}
) =>
  new AuditEvent({
    actor,
    action,
    purpose: "legal-hold",
    ...(hold.subjectId !== undefined ? { subject: hold.subjectId } : {}),
    resource: { type: "legal-hold", id: hold.holdId },
    details: { ...holdDetails(hold), ...extra }
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

    const found = (tenant: TenantId, holdId: string) =>
      Option.match({
        onNone: () => Effect.fail(holdNotFound(tenant, holdId)),
        onSome: Effect.succeed<LegalHold>
      })
    // An id that is no string names no hold, nor has a tenant that is not a `TenantId` any (neither
    // is quoted, nor reaches a store: on SQL it failed the statement, its error quoting it).
    const names = (tenant: TenantId, holdId: string) => typeof holdId === "string" && isTenantId(tenant)
    const unnamed = (tenant: TenantId, holdId: string) => holdNotFound(tenant, typeof holdId === "string" ? holdId : "")
    const get = (tenant: TenantId, holdId: string) =>
      names(tenant, holdId)
        ? Effect.flatMap(store.find(tenant, holdId), found(tenant, holdId))
        : Effect.fail(unnamed(tenant, holdId))

    // Without a page, as before pages: everything, and no page to refuse. A tenant that is not a
    // `TenantId` has no holds, and reaches no store (on SQL it failed the statement, its error
    // quoting it).
    const listOf = (tenant: TenantId, activeOnly: boolean, page: HoldPage) =>
      Effect.flatMap(
        Effect.suspend(() => checkPage(page)),
        (checked) => isTenantId(tenant) ? store.list(tenant, activeOnly, checked) : Effect.succeed([])
      )
    function list(tenant: TenantId): Effect.Effect<ReadonlyArray<LegalHold>, RetentionStoreError>
    function list(tenant: TenantId, page: HoldPage): Effect.Effect<ReadonlyArray<LegalHold>, LegalHoldPageInvalid | RetentionStoreError>
    function list(tenant: TenantId, page: HoldPage = {}) {
      return listOf(tenant, false, page)
    }
    function active(tenant: TenantId): Effect.Effect<ReadonlyArray<LegalHold>, RetentionStoreError>
    function active(tenant: TenantId, page: HoldPage): Effect.Effect<ReadonlyArray<LegalHold>, LegalHoldPageInvalid | RetentionStoreError>
    function active(tenant: TenantId, page: HoldPage = {}) {
      return listOf(tenant, true, page)
    }
    function activeOf(
      tenants: ReadonlyArray<TenantId>
    ): Effect.Effect<ReadonlyMap<TenantId, ReadonlyArray<LegalHold>>, RetentionStoreError>
    function activeOf(
      tenants: ReadonlyArray<TenantId>,
      page: HoldPage
    ): Effect.Effect<ReadonlyMap<TenantId, ReadonlyArray<LegalHold>>, LegalHoldPageInvalid | RetentionStoreError>
    function activeOf(
      tenants: ReadonlyArray<TenantId>,
      page: HoldPage = {}
    ): Effect.Effect<ReadonlyMap<TenantId, ReadonlyArray<LegalHold>>, LegalHoldPageInvalid | RetentionStoreError> {
      // Only `TenantId`s reach the store; any other tenant given has no holds (`tenantsGiven`).
      return Effect.flatMap(Effect.suspend(() => checkPage(page)), (checked) => {
        const { given, ids } = tenantsGiven(tenants)
        return ids.length === 0
          ? Effect.succeed(byTenant(given, []))
          : Effect.map(store.activeOf(ids, checked), (held) => byTenant(given, held))
      })
    }

    return LegalHolds.of({
      // Recorded where no sweep can have read the hold yet (`HoldStore.insert`): saved first and its
      // entry appended after, a process that stopped in between left a hold the log never names.
      place: (tenant, request, actor) =>
        Effect.gen(function*() {
          yield* checkActor(actor)
          // Checked before anything else, and not quoted: what was given may be an address.
          if (!isTenantId(tenant)) return yield* new LegalHoldInvalid({ reason: "a tenant id is a lower-case UUID" })
          if (typeof request !== "object" || request === null || Array.isArray(request)) {
            return yield* new LegalHoldInvalid({ reason: "a hold request is an object with a reason" })
          }
          if (request.subject !== undefined && !isSubjectId(request.subject)) {
            return yield* new LegalHoldInvalid({ reason: "a subject id is a lower-case UUID" })
          }
          if (typeof request.reason !== "string") {
            return yield* new LegalHoldInvalid({ reason: "a hold needs a reason of 1 to 1000 characters" })
          }
          const reason = request.reason.trim()
          if (reason.length === 0 || reason.length > 1000) {
            return yield* new LegalHoldInvalid({ reason: "a hold needs a reason of 1 to 1000 characters" })
          }
          if (!Text.isStorable(reason)) return yield* new LegalHoldInvalid({ reason: `the reason's ${Text.message}` })
          if (request.category !== undefined && Option.isNone(yield* registry.get(request.category))) {
            return yield* new RetentionCategoryNotFound({ category: quotedCategory(request.category) })
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
          let intent: Intent | undefined
          return yield* store.insert(
            hold,
            noting(audit.append(tenant, holdEvent(hold, "retention.hold.placed", actor)), (noted) => {
              intent = noted
            })
          ).pipe(
            Effect.as(hold),
            Effect.catchAll((error) =>
              settle({
                error,
                intent,
                operation: "LegalHolds.place",
                isIn: Effect.map(store.find(tenant, hold.holdId), Option.as(hold)),
                failed: ({ indices }) =>
                  audit.append(tenant, holdEvent(hold, "retention.hold.place-failed", actor, { entry: indices[0] ?? null }))
              })
            )
          )
        }).pipe(Effect.withSpan("LegalHolds.place", { attributes: { tenant: describeTenant(tenant) } })),
      // Appended before the hold is released, never undone after: a release made first and undone
      // when its entry failed let a sweep in between purge what the hold, still in force, keeps.
      // Releases of one hold take turns in the store (two at once both found it active and both
      // appended an entry): on SQL the hold's row lock, in memory the store's lock.
      release: (tenant, holdId, actor) =>
        Effect.gen(function*() {
          yield* checkActor(actor)
          if (!names(tenant, holdId)) return yield* unnamed(tenant, holdId)
          const at = new Date(yield* Clock.currentTimeMillis)
          let intent: { readonly hold: LegalHold; readonly noted: Intent } | undefined
          const released = yield* store.release(
            tenant,
            holdId,
            at,
            actor,
            (hold) =>
              noting(audit.append(tenant, holdEvent(hold, "retention.hold.released", actor)), (noted) => {
                intent = { hold, noted }
              })
          ).pipe(
            Effect.catchAll((error) =>
              settle({
                error,
                intent: intent?.noted,
                operation: "LegalHolds.release",
                // In when the hold stored is released by this release (another after it has its own entry).
                isIn: Effect.map(
                  store.find(tenant, holdId),
                  Option.filter((hold) =>
                    hold.releasedAt?.getTime() === at.getTime() &&
                    hold.releasedBy !== undefined && encodeActor(hold.releasedBy) === encodeActor(actor)
                  )
                ),
                failed: ({ indices }) =>
                  audit.append(tenant, holdEvent(intent!.hold, "retention.hold.release-failed", actor, { entry: indices[0] ?? null }))
              }).pipe(Effect.map(Option.some))
            )
          )
          return yield* found(tenant, holdId)(released)
        }).pipe(Effect.withSpan("LegalHolds.release", { attributes: { tenant: describeTenant(tenant) } })),
      get,
      active,
      activeOf,
      list,
      withActiveOf: (tenants, use) => {
        const { given, ids } = tenantsGiven(tenants)
        return store.withActiveOf(ids, (active) => use(byTenant(given, active))).pipe(
          Effect.withSpan("LegalHolds.withActiveOf", { captureStackTrace: false, attributes: { tenants: given.length } })
        )
      }
    })
  })

// As the SQL store orders them: by placement, then by id (holds placed at one instant).
type Placed = { readonly placedAt: Date; readonly holdId: string }
const byPlacement = (a: Placed, b: Placed) => a.placedAt.getTime() - b.placedAt.getTime() || Order.string(a.holdId, b.holdId)

/** The page of `sorted` (ordered `byPlacement`). */
const pageOf = (sorted: ReadonlyArray<LegalHold>, { after, limit }: HoldPage) => {
  const rest = after === undefined ? sorted : sorted.filter((hold) => byPlacement(hold, after) > 0)
  return limit === undefined ? rest : rest.slice(0, limit)
}

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
    const releasing = Effect.unsafeMakeSemaphore(1)
    const activeOf = (tenants: ReadonlyArray<TenantId>, page: HoldPage) =>
      Effect.sync(() => {
        const wanted = new Set(tenants)
        return pageOf(
          [...holds.values()].filter((hold) => wanted.has(hold.tenantId) && hold.active).sort(byPlacement),
          page
        )
      })
    return make({
      // Recorded before it is stored, under the lock a sweep's `withActiveOf` waits for: a read outside
      // the lock sees the hold only once its entry is in.
      insert: (hold, record) =>
        placing.withPermits(1)(Effect.zipRight(record, Effect.sync(() => void holds.set(key(hold.tenantId, hold.holdId), hold)))),
      find: (tenant, holdId) => Effect.sync(() => Option.fromNullable(holds.get(key(tenant, holdId)))),
      // Releases take turns: the check, the entry and the release of one are never interleaved
      // with another's (a sweep's `withActiveOf` does not wait for them).
      release: (tenant, holdId, at, by, record) =>
        releasing.withPermits(1)(Effect.suspend(() => {
          const hold = holds.get(key(tenant, holdId))
          if (!hold || !hold.active) return Effect.succeed(Option.fromNullable(hold))
          return Effect.zipRight(
            record(hold),
            Effect.sync(() => {
              const released = new LegalHold({ ...hold, releasedAt: at, releasedBy: by })
              holds.set(key(tenant, holdId), released)
              return Option.some(released)
            })
          )
        })),
      list: (tenant, activeOnly, page) =>
        Effect.sync(() =>
          pageOf(
            [...holds.values()]
              .filter((hold) => hold.tenantId === tenant && (!activeOnly || hold.active))
              .sort(byPlacement),
            page
          )
        ),
      activeOf,
      withActiveOf: (tenants, use) => placing.withPermits(1)(Effect.flatMap(activeOf(tenants, {}), use))
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
 * and commits its entry before the hold commits; if the hold's commit then
 * fails, the log gets its outcome (see the module doc). The layer tells the
 * two apart by where the append wrote, as `RetentionPolicy.layerSql` does: an
 * append that ran a statement on the transaction's connection joined it. A
 * release is one transaction
 * too: it locks the hold's row (`SELECT ... FOR UPDATE`), appends its entry,
 * then marks the hold released, so releases of one hold take turns between
 * processes, and one whose entry fails releases nothing.
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
    const fail = (operation: string) => (cause: unknown) =>
      new RetentionStoreError({ operation, cause: Database.safeSqlError(cause) })
    const rows = (statement: Effect.Effect<ReadonlyArray<unknown>, unknown>) =>
      Effect.map(Effect.flatMap(statement, decodeHoldRows), (decoded) => decoded.map(toHold))
    // The end of a read of holds: after `after`, in order, at most `limit`.
    const paged = ({ after, limit }: HoldPage) =>
      sql`${after === undefined ? sql`` : sql`AND (placed_at, hold_id) > (${after.placedAt}, ${after.holdId}::uuid)`}
        ORDER BY placed_at, hold_id ${limit === undefined ? sql`` : sql`LIMIT ${limit}`}`

    return yield* make({
      // Under the exclusive lock `lawful_retention_holds_in_force` shares: a read of the holds that
      // holds the shared lock in its transaction is done before the new hold commits, and every read
      // after the commit sees it. The hold is recorded (its audit entry appended) after the insert, in
      // this transaction: with the log on this database the entry joins it, and both commit or neither
      // does; a log elsewhere commits the entry first, before any sweep can read the hold, and `place`
      // appends the outcome if the commit fails (see `layerSql`).
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
          // The transaction's own statements (BEGIN, COMMIT) fail with a SqlError.
          Database.withTransaction(sql),
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
      // One transaction holding the hold's row from the check to the update, so a release in another
      // process waits, then finds it released. The entry is appended in it, before the update: with
      // the log on this database it commits with the release or not at all; a log elsewhere commits
      // it first (and `release` appends the outcome if the commit fails). Until the commit, sweeps
      // read the hold in force (a row lock holds no reader).
      release: (tenant, holdId, at, by, record) =>
        Schema.is(Schema.UUID)(holdId)
          ? Effect.gen(function*() {
            const [hold] = yield* rows(sql`SELECT ${sql.literal(holdColumns)} FROM lawful_retention_holds
              WHERE tenant_id = ${tenant} AND hold_id = ${holdId} FOR UPDATE`).pipe(Effect.mapError(fail("release")))
            if (hold === undefined || !hold.active) return Option.fromNullable(hold)
            yield* record(hold)
            const [released] = yield* rows(sql`UPDATE lawful_retention_holds
              SET released_at = ${at}, released_by = ${encodeActor(by)}
              WHERE tenant_id = ${tenant} AND hold_id = ${holdId} AND released_at IS NULL
              RETURNING ${sql.literal(holdColumns)}`).pipe(Effect.mapError(fail("release")))
            return Option.fromNullable(released)
          }).pipe(
            // The transaction's own statements (BEGIN, COMMIT) fail with a SqlError.
            Database.withTransaction(sql),
            Effect.mapError((error) => error instanceof SqlError ? fail("release")(error) : error)
          )
          : Effect.succeed(Option.none()),
      list: (tenant, activeOnly, page) =>
        rows(sql`SELECT ${sql.literal(holdColumns)} FROM lawful_retention_holds
          WHERE tenant_id = ${tenant} ${activeOnly ? sql`AND released_at IS NULL` : sql``} ${paged(page)}`).pipe(
          Effect.mapError(fail("list"))
        ),
      activeOf: (tenants, page) =>
        rows(sql`SELECT ${sql.literal(holdColumns)} FROM lawful_retention_holds
          WHERE tenant_id = ANY(${tenants}::uuid[]) AND released_at IS NULL ${paged(page)}`).pipe(
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
