/**
 * Retention policies: how long each tenant keeps the records of each
 * category.
 *
 * Every category (a `RetentionTarget` registered in core's
 * `RetentionTargets`) brings a platform default and bounds; a tenant
 * overrides the default within the bounds (`set`), or returns to it
 * (`"default"`). A policy is a `Duration`; `Duration.infinity` (`forever`)
 * keeps records forever, where the category allows it.
 *
 * Rules a change must keep, or it is refused with `RetentionPolicyInvalid`
 * and nothing changes:
 *
 * - a period is a non-negative duration (`"-1 days"` is `negative`) of whole
 *   milliseconds (`"1.5 millis"` is `not-a-period`);
 * - within the category's bounds (`below-minimum`, `over-bound`), and
 *   forever only where allowed (`forever-not-allowed`); a finite period is
 *   at most `Number.MAX_SAFE_INTEGER` milliseconds (about 285,400 years), the
 *   longest every store keeps exactly (`over-bound`, even in a category
 *   whose bound is forever, and for a count of units too large to compute,
 *   such as a 309-digit number of days: only `"forever"`, `Duration.infinity`
 *   or an infinite number keep records forever);
 * - a category never keeps records longer than its parent
 *   (`outlives-parent`): previews no longer than their log. Change both in
 *   one `set` to shorten a parent below its child's current period. The
 *   periods compared are those in force, clamped as below: a stored period
 *   that today's bounds clamp counts for what it keeps, not for what it says.
 *
 * A policy applies to records already stored: the sweeper reads it at each
 * run and purges whatever it makes expired. A change reaches a sweep already
 * running, which reads the policies again as each purge batch and partition
 * drop starts (`withAllOf`), and `set` waits for the batch or drop in
 * progress: once `set` has returned, no record the new policy keeps is
 * purged. That batch either committed before `set` returned, or reads the new
 * policy (a longer period moves its cut-off back; a shorter one waits for the
 * next sweep, which is never early). This holds in memory, and on SQL from
 * every process: the sweeper reads the policies in the journal's transaction
 * around each batch, which a category on a database of its own also commits
 * inside.
 *
 * Every change is appended to the tenant's audit log
 * (`retention.policy.changed`, with the category and the old and new periods)
 * before any sweep can read it, so no sweep ever purges under a policy whose
 * entry is not, or will not be, in the log. On SQL the entry is appended in
 * the change's transaction, after its writes and before its commit, while
 * batches wait for the change (they wait for the append too): with the log on
 * the same database (the platform's setup) the change and its entry commit
 * together or not at all, even if the process dies in between. In memory the
 * entry is appended first and the change applied after it, under the lock a
 * sweep's batch waits for. If the append fails, nothing changed and the error
 * is returned. (The change used to be saved first and undone when its entry
 * failed: a sweep in between could purge under a shorter policy that was
 * never in force as far as the caller and the log knew.)
 *
 * With the log on a database of its own, the entry commits before the change
 * does, and the change's commit may still fail (a constraint checked at
 * commit, a connection lost): the error is then a `RetentionStoreError`, and
 * the log is told what became of the change. `set` reads the policies again:
 * a change found in after all (a commit that went through without answering)
 * is returned as done; a change not in gets a second entry per category,
 * `retention.policy.change-failed` (the category, and `entry`, the index of
 * the entry it answers), and the error is returned. A process that stops (or
 * an interruption) between the two, or a failure of that read or of that
 * append, leaves the entry without its outcome. With the log on the same
 * database the failed commit takes the entry with it, and nothing more is
 * appended. In memory nothing can fail once the entry is in (the change is
 * then applied in memory), so no outcome is ever needed. A `set` called in a
 * transaction of the caller's commits with it: a failure of that commit,
 * after `set` returned, is the caller's to record.
 *
 * Policies are read with the bounds and parents of today's registrations: a
 * stored period outside new bounds is clamped to them, and a child is
 * clamped to its parent, so a deployment that tightens a bound never keeps
 * records longer than it allows.
 *
 * Backends: `layerMemory`, and `layerSql` on `lawful_retention_policies`.
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
import { RetentionTargets, minPeriodOf } from "@lawful/core/RetentionTarget"
import type { RetentionTarget } from "@lawful/core/RetentionTarget"
import { describe as describeTenant, is as isTenantId, TenantId } from "@lawful/core/TenantId"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import {
  checkActor,
  decodeActor,
  describePeriod,
  encodeActor,
  periodFromMillis,
  periodToMillis,
  quotedCategory,
  tenantsGiven
} from "./internal/encoding.js"
import { migrate } from "./internal/migrations.js"
import { noting, settle } from "./internal/outcome.js"
import type { Intent } from "./internal/outcome.js"

/**
 * The period that keeps records forever.
 *
 * @since 0.1.0
 * @category constructors
 */
export const forever: Duration.Duration = Duration.infinity

/**
 * A period as callers give it: a duration (`"90 days"`, `Duration.days(90)`,
 * milliseconds) or `"forever"`.
 *
 * @since 0.1.0
 * @category models
 */
export type PeriodInput = Duration.DurationInput | "forever"

/**
 * Changes to a tenant's policies: a period per category, or `"default"` to
 * return to the platform default. Applied together, or not at all.
 *
 * @since 0.1.0
 * @category models
 */
export type PolicyChanges = Readonly<Record<string, PeriodInput | "default">>

/**
 * Why a policy was refused.
 *
 * @since 0.1.0
 * @category models
 */
export const InvalidReason = Schema.Literal(
  "not-a-period",
  "negative",
  "below-minimum",
  "over-bound",
  "forever-not-allowed",
  "outlives-parent",
  "not-a-tenant"
)

/**
 * @since 0.1.0
 * @category models
 */
export type InvalidReason = typeof InvalidReason.Type

/**
 * A policy change breaks a rule (see the module documentation). Nothing
 * changed. `category` is empty when the changes are no object of periods by
 * category (`null`, a string, an array): `not-a-period`; and when the tenant
 * is not a `TenantId` (a lower-case UUID): `not-a-tenant`, with `tenantId`
 * empty too, since what was given may be any text, an address included.
 *
 * @since 0.1.0
 * @category errors
 */
export class RetentionPolicyInvalid extends Schema.TaggedError<RetentionPolicyInvalid>()("RetentionPolicyInvalid", {
  tenantId: Schema.String,
  category: Schema.String,
  reason: InvalidReason,
  detail: Schema.String
}) {
  override get message(): string {
    return this.category === ""
      ? `Retention policy change refused: ${this.detail}`
      : `Retention policy for ${this.category} refused: ${this.detail}`
  }
}

/**
 * No retention category with this id is registered. `category` is the id
 * asked for when it is a category id (`RetentionTarget.TargetId`); otherwise
 * it is empty, and neither it nor the message quotes what was given (it may
 * be any text, an address included). `tenantId` is set, empty, when
 * `RetentionPolicies.get` was given a tenant that is not a `TenantId` (a
 * lower-case UUID), which has no policy of any category: the message then
 * says so, and quotes neither.
 *
 * @since 0.1.0
 * @category errors
 */
export class RetentionCategoryNotFound extends Schema.TaggedError<RetentionCategoryNotFound>()(
  "RetentionCategoryNotFound",
  { category: Schema.String, tenantId: Schema.optional(Schema.String) }
) {
  override get message(): string {
    if (this.tenantId === "") {
      return "No retention policy is kept for the tenant given: it is not a tenant id (a lower-case UUID)"
    }
    const category = quotedCategory(this.category)
    return category === ""
      ? "No retention category is registered under the id given: it is not a category id"
      : `No retention category ${category} is registered`
  }
}

/**
 * A retention store (policies, holds, the sweep journal) failed. A failed
 * statement's `cause` is its `SqlError` as `Database.safeSqlError` keeps it:
 * the SQLSTATE code and the names of what failed, never the data.
 *
 * @since 0.1.0
 * @category errors
 */
export class RetentionStoreError extends Schema.TaggedError<RetentionStoreError>()("RetentionStoreError", {
  operation: Schema.String,
  cause: Schema.Defect
}) {
  override get message(): string {
    return `Retention store operation ${this.operation} failed`
  }
}

/**
 * The policy in force for a tenant and category: the tenant's own
 * (`source: "tenant"`, with when and by whom it was set) or the platform
 * default.
 *
 * @since 0.1.0
 * @category models
 */
export class Policy extends Schema.Class<Policy>("@lawful/retention/RetentionPolicy/Policy")({
  tenantId: TenantId,
  category: Schema.String,
  period: Schema.DurationFromSelf,
  source: Schema.Literal("platform", "tenant"),
  setAt: Schema.optional(Schema.DateFromSelf),
  setBy: Schema.optional(Actor)
}) {
  /** True when records of the category are kept forever. */
  get keepsForever(): boolean {
    return !Duration.isFinite(this.period)
  }
}

/**
 * A tenant's own period for a category, as stored.
 *
 * @since 0.1.0
 * @category models
 */
export interface Override {
  readonly period: Duration.Duration
  readonly setAt: Date
  readonly setBy: Actor
}

/**
 * @since 0.1.0
 * @category services
 */
export class RetentionPolicies extends Context.Tag("@lawful/retention/RetentionPolicies")<RetentionPolicies, {
  /**
   * The policy in force for the tenant and category. A tenant that is not a `TenantId` (a
   * lower-case UUID) has none, alike on every store: `RetentionCategoryNotFound` with `tenantId`
   * empty, whose message says the tenant is not one, quoting neither.
   */
  readonly get: (tenant: TenantId, category: string) => Effect.Effect<Policy, RetentionCategoryNotFound | RetentionStoreError>
  /**
   * The policy of every registered category, in registration order; none (an empty array) for a
   * tenant that is not a `TenantId`, alike on every store.
   */
  readonly all: (tenant: TenantId) => Effect.Effect<ReadonlyArray<Policy>, RetentionStoreError>
  /**
   * `all` for many tenants in one read (the sweeper's): an entry per tenant given, empty for one
   * that is not a `TenantId` (read by no store); an empty map when `tenants` is no array.
   */
  readonly allOf: (
    tenants: ReadonlyArray<TenantId>
  ) => Effect.Effect<ReadonlyMap<TenantId, ReadonlyArray<Policy>>, RetentionStoreError>
  /**
   * `allOf`, then `use` with what it read (the sweeper's, around each batch and each partition
   * drop). It sees every policy whose `set` has returned. In memory a `set` waits until `use` is
   * done. On SQL the read takes a shared lock that `set` takes exclusively (the one
   * `LegalHolds.withActiveOf` and `LegalHolds.place` share), until the end of the caller's
   * transaction: run in a transaction, `use` holds off every `set` until that transaction ends
   * (keep it short, and set no policy in it); outside one, a `set` does not wait. Tenants that
   * are not `TenantId`s have nothing, as in `allOf`.
   */
  readonly withAllOf: <A, E, R>(
    tenants: ReadonlyArray<TenantId>,
    use: (inForce: ReadonlyMap<TenantId, ReadonlyArray<Policy>>) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | RetentionStoreError, R>
  /**
   * Applies the changes together, audited; returns the policies of the changed categories. The
   * audit entry is appended before any sweep can read the change (see the module doc): if it
   * fails, nothing changed. A change whose commit fails fails with `RetentionStoreError`; with the
   * log on a database of its own, its entry is then followed by `retention.policy.change-failed`.
   * A tenant that is not a `TenantId` is refused with `RetentionPolicyInvalid` (`not-a-tenant`)
   * before anything is read or written, on every store.
   */
  readonly set: (
    tenant: TenantId,
    changes: PolicyChanges,
    actor: Actor
  ) => Effect.Effect<
    ReadonlyArray<Policy>,
    RetentionPolicyInvalid | RetentionCategoryNotFound | RetentionStoreError | AuditEventInvalid | AuditStoreError
  >
}>() {}

/**
 * The policies in force for every registered target, given a tenant's
 * overrides: each clamped to its bounds, then to its parent's.
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolve = (
  tenant: TenantId,
  targets: ReadonlyArray<RetentionTarget>,
  overrides: ReadonlyMap<string, Override>
): ReadonlyMap<string, Policy> => {
  const byId = new Map(targets.map((target) => [target.id, target]))
  const resolved = new Map<string, Policy>()
  const bounded = (target: RetentionTarget): Duration.Duration => {
    const period = overrides.get(target.id)?.period ?? target.defaultPeriod
    if (!Duration.isFinite(period)) return target.allowForever ? period : target.maxPeriod
    return Duration.clamp(period, { minimum: minPeriodOf(target), maximum: target.maxPeriod })
  }
  const policyOf = (target: RetentionTarget, depth: number): Policy => {
    const known = resolved.get(target.id)
    if (known) return known
    const parent = target.parent === undefined ? undefined : byId.get(target.parent)
    const own = bounded(target)
    const period = parent !== undefined && depth < byId.size
      ? Duration.min(own, policyOf(parent, depth + 1).period)
      : own
    const override = overrides.get(target.id)
    // From a registered target and a stored override, both checked already: every sweep
    // resolves each tenant's policies, so they are not validated again.
    const policy = new Policy({
      tenantId: tenant,
      category: target.id,
      period,
      source: override ? "tenant" : "platform",
      ...(override ? { setAt: override.setAt, setBy: override.setBy } : {})
    }, true)
    resolved.set(target.id, policy)
    return policy
  }
  for (const target of targets) policyOf(target, 0)
  return resolved
}

const durationPattern = /^(-?\d+(?:\.\d+)?)\s+(nanos?|micros?|millis?|seconds?|minutes?|hours?|days?|weeks?)$/

type Parsed =
  | { readonly ok: Duration.Duration; readonly error?: undefined }
  | { readonly ok?: undefined; readonly error: { readonly reason: InvalidReason; readonly detail: string } }

/**
 * A period from what a caller gave, or why it is not one: stores keep whole milliseconds, so a
 * finite period must be one (`"1.5 millis"` is not).
 */
const parsePeriod = (input: PeriodInput): Parsed => {
  const parsed = decodePeriod(input)
  return parsed.ok !== undefined && Duration.isFinite(parsed.ok) && !Number.isInteger(Duration.toMillis(parsed.ok))
    ? { error: { reason: "not-a-period", detail: `a period is a whole number of milliseconds (${describePeriod(parsed.ok)})` } }
    : parsed
}

/** A period from what a caller gave, or why it is not one (Duration silently makes negatives zero). */
const decodePeriod = (input: PeriodInput): Parsed => {
  if (input === "forever") return { ok: Duration.infinity }
  if (Duration.isDuration(input)) return { ok: input }
  if (typeof input === "number") {
    if (Number.isNaN(input)) return { error: { reason: "not-a-period", detail: "NaN is not a period" } }
    if (input < 0) return { error: { reason: "negative", detail: `a period cannot be negative (${input} ms)` } }
    return { ok: Duration.millis(input) }
  }
  if (typeof input === "bigint") {
    return input < 0n
      ? { error: { reason: "negative", detail: "a period cannot be negative" } }
      : { ok: Duration.nanos(input) }
  }
  if (typeof input === "string") {
    const match = durationPattern.exec(input)
    // What was given is not quoted: it may be any text, an address included.
    if (!match) return { error: { reason: "not-a-period", detail: 'the text given is not a period such as "90 days"' } }
    if (Number(match[1]) < 0) return { error: { reason: "negative", detail: "a period cannot be negative" } }
    return finite(input)
  }
  if (Array.isArray(input) && input.length === 2) {
    const [seconds, nanos] = input as readonly [unknown, unknown]
    // `Duration.decode` throws on a pair that is not of numbers, which `finite` takes for an overflow.
    if (typeof seconds !== "number" || typeof nanos !== "number") {
      return { error: { reason: "not-a-period", detail: "a pair of seconds and nanoseconds is two numbers" } }
    }
    if (Number.isNaN(seconds) || Number.isNaN(nanos)) return { error: { reason: "not-a-period", detail: "NaN is not a period" } }
    if (seconds < 0 || nanos < 0) return { error: { reason: "negative", detail: "a period cannot be negative" } }
    // `Infinity` in a tuple is how `Duration` says infinite, as a number of milliseconds does.
    if (seconds === Infinity || nanos === Infinity) return { ok: Duration.infinity }
    return finite(input)
  }
  return { error: { reason: "not-a-period", detail: "not a period" } }
}

/**
 * A count of units that is finite as given: `Duration` turns one whose nanoseconds or milliseconds
 * overflow a double into infinity (or throws, for a fractional count of nanoseconds), where it is
 * a finite period too long for any store.
 */
const finite = (input: `${number} ${string}` | readonly [number, number]): Parsed => {
  try {
    const period = Duration.decode(input as Duration.DurationInput)
    if (Duration.isFinite(period)) return { ok: period }
  } catch {
    // A RangeError of `BigInt(Infinity)`: as large as the infinite case.
  }
  return { error: { reason: "over-bound", detail: tooLong("the period") } }
}

const longestKept = Duration.millis(Number.MAX_SAFE_INTEGER)

const tooLong = (what: string) =>
  `${what} exceeds the longest finite period a store keeps (${describePeriod(longestKept)}); keep forever instead where the category allows it`

/** Why a period breaks its category's bounds, if it does. */
const boundsProblem = (
  target: RetentionTarget,
  period: Duration.Duration
): Option.Option<{ reason: InvalidReason; detail: string }> => {
  if (!Duration.isFinite(period)) {
    return target.allowForever
      ? Option.none()
      : Option.some({ reason: "forever-not-allowed", detail: `${target.id} cannot be kept forever` })
  }
  // Stores keep a period as a whole number of milliseconds (a `bigint` column on SQL): one longer
  // than any number they keep exactly is refused on every store, whatever the category's bound.
  if (Duration.toMillis(period) > Number.MAX_SAFE_INTEGER) {
    return Option.some({
      reason: "over-bound",
      detail: tooLong(describePeriod(period))
    })
  }
  if (Duration.lessThan(period, minPeriodOf(target))) {
    return Option.some({
      reason: "below-minimum",
      detail: `${describePeriod(period)} is below the minimum of ${describePeriod(minPeriodOf(target))}`
    })
  }
  if (Duration.greaterThan(period, target.maxPeriod)) {
    return Option.some({
      reason: "over-bound",
      detail: `${describePeriod(period)} exceeds the platform bound of ${describePeriod(target.maxPeriod)}`
    })
  }
  return Option.none()
}

/** The overrides after `writes`. */
const applied = (
  current: ReadonlyMap<string, Override>,
  writes: ReadonlyMap<string, Override | null>
): Map<string, Override> => {
  const next = new Map(current)
  for (const [category, write] of writes) {
    if (write === null) next.delete(category)
    else next.set(category, write)
  }
  return next
}

/**
 * The overrides after `changes`, or the first rule they break. Only pairs
 * of parent and child that the changes touch are checked: a changed period
 * against its parent's in force after the change, and an unchanged child's
 * period in force against its changed parent's, both as `resolve` clamps
 * them to today's bounds.
 *
 * @since 0.1.0
 * @category constructors
 */
export const validate = (
  tenant: TenantId,
  targets: ReadonlyArray<RetentionTarget>,
  current: ReadonlyMap<string, Override>,
  changes: PolicyChanges,
  stamp: { readonly at: Date; readonly by: Actor }
): Effect.Effect<ReadonlyMap<string, Override | null>, Refused> =>
  Effect.suspend((): Effect.Effect<ReadonlyMap<string, Override | null>, Refused> => {
    const byId = new Map(targets.map((target) => [target.id, target]))
    const writes = new Map<string, Override | null>()
    const refuse = (category: string, problem: { reason: InvalidReason; detail: string }) =>
      Effect.fail(new RetentionPolicyInvalid({ tenantId: tenant, category, ...problem }))
    for (const [category, input] of Object.entries(changes)) {
      const target = byId.get(category)
      if (!target) return Effect.fail(new RetentionCategoryNotFound({ category: quotedCategory(category) }))
      if (input === "default") {
        writes.set(category, null)
        continue
      }
      const parsed = parsePeriod(input)
      if (parsed.error) return refuse(category, parsed.error)
      const problem = boundsProblem(target, parsed.ok)
      if (Option.isSome(problem)) return refuse(category, problem.value)
      writes.set(category, { period: parsed.ok, setAt: stamp.at, setBy: stamp.by })
    }
    // Compared as they are in force, clamped to today's bounds (`resolve`): a stored period outside
    // them is not the one records are kept for.
    const before = resolve(tenant, targets, current)
    const after = resolve(tenant, targets, applied(current, writes))
    for (const [category, write] of writes) {
      const target = byId.get(category)!
      // Its own period (within its bounds, checked above) against its parent's in force after the change.
      const own = write?.period ?? target.defaultPeriod
      const parent = target.parent === undefined ? undefined : after.get(target.parent)
      if (parent && Duration.greaterThan(own, parent.period)) {
        return refuse(category, {
          reason: "outlives-parent",
          detail: `${describePeriod(own)} outlives its parent ${parent.category} (${describePeriod(parent.period)})`
        })
      }
      // An unchanged child's period in force against this one's new period, which would clamp it.
      for (const child of targets) {
        if (child.parent !== category || writes.has(child.id)) continue
        const kept = before.get(child.id)!.period
        if (Duration.greaterThan(kept, own)) {
          return refuse(category, {
            reason: "outlives-parent",
            detail: `its child ${child.id} (${describePeriod(kept)}) would outlive it (${
              describePeriod(own)
            }); change both together`
          })
        }
      }
    }
    return Effect.succeed(writes)
  })

// What a backend stores: each tenant's overrides.
interface PolicyStore {
  readonly overrides: (tenant: TenantId) => Effect.Effect<ReadonlyMap<string, Override>, RetentionStoreError>
  readonly overridesOf: (
    tenants: ReadonlyArray<TenantId>
  ) => Effect.Effect<ReadonlyMap<TenantId, ReadonlyMap<string, Override>>, RetentionStoreError>
  /** `overridesOf`, then `use`, with `update` held off as `RetentionPolicies.withAllOf` says. */
  readonly withOverridesOf: <A, E, R>(
    tenants: ReadonlyArray<TenantId>,
    use: (overrides: ReadonlyMap<TenantId, ReadonlyMap<string, Override>>) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | RetentionStoreError, R>
  /**
   * Decides the writes from the current overrides under the tenant's lock, then `record`s the
   * change (the overrides before and after) where no sweep can have read it yet: on SQL in the
   * transaction that writes it, after the writes and before the commit; in memory before it is
   * applied, under the lock `withOverridesOf` takes. A `record` that fails leaves nothing changed.
   * Returns what `record` returned.
   */
  readonly update: <A, E>(
    tenant: TenantId,
    decide: (current: ReadonlyMap<string, Override>) => Effect.Effect<ReadonlyMap<string, Override | null>, Refused>,
    record: (before: ReadonlyMap<string, Override>, after: ReadonlyMap<string, Override>) => Effect.Effect<A, E>
  ) => Effect.Effect<A, Refused | RetentionStoreError | E>
}

type Refused = RetentionPolicyInvalid | RetentionCategoryNotFound

/** Whether two stored overrides (or none) are the same write. */
const sameOverride = (a: Override | undefined, b: Override | undefined): boolean =>
  a === undefined || b === undefined
    ? a === b
    : periodToMillis(a.period) === periodToMillis(b.period) && a.setAt.getTime() === b.setAt.getTime() &&
      encodeActor(a.setBy) === encodeActor(b.setBy)

const make = (store: PolicyStore) =>
  Effect.gen(function*() {
    const registry = yield* RetentionTargets
    const audit = yield* AuditTrail

    // A tenant that is not a `TenantId` has no policies, and reaches no store (on SQL it failed the
    // statement, its error quoting it; in memory its policies named it as their tenant).
    const all = (tenant: TenantId) =>
      Effect.gen(function*() {
        if (!isTenantId(tenant)) return []
        const targets = yield* registry.targets
        const resolved = resolve(tenant, targets, yield* store.overrides(tenant))
        return targets.map((target) => resolved.get(target.id)!)
      }).pipe(Effect.withSpan("RetentionPolicies.all", { attributes: { tenant: describeTenant(tenant) } }))

    // The change's entry is appended before any sweep can read the change (`PolicyStore.update`), so
    // no sweep ever purges under a policy whose entry is not, or will not be, in the log. Saved
    // first and undone when its entry failed, a shorter policy let a sweep in between purge records
    // early under a change that, as far as the caller and the log know, was never made.
    // A change whose store operation fails once its entry is in a log apart from its transaction (a
    // failed commit) is read again: in after all, it succeeded; not in, its failure is appended
    // (`retention.policy.change-failed`, naming the entry) before the error is returned.
    const set = (tenant: TenantId, changes: PolicyChanges, actor: Actor) =>
      Effect.gen(function*() {
        yield* checkActor(actor)
        // Not quoted: what was given may be an address (on SQL it failed the statement, its error
        // quoting it; in memory it was taken for a tenant).
        if (!isTenantId(tenant)) {
          return yield* new RetentionPolicyInvalid({
            tenantId: "",
            category: "",
            reason: "not-a-tenant",
            detail: "a tenant id is a lower-case UUID"
          })
        }
        // Not a record of periods by category (`Object.keys` died on null, and took a string's
        // characters or an array's indices for categories).
        if (typeof changes !== "object" || changes === null || Array.isArray(changes)) {
          return yield* new RetentionPolicyInvalid({
            tenantId: tenant,
            category: "",
            reason: "not-a-period",
            detail: "the changes are an object of periods by category id"
          })
        }
        const targets = yield* registry.targets
        const at = new Date(yield* Clock.currentTimeMillis)
        const changed = Object.keys(changes)
        let intent: Intent | undefined
        let written: { readonly next: ReadonlyMap<string, Override>; readonly policies: ReadonlyArray<Policy> } | undefined
        return yield* store.update(
          tenant,
          (current) => validate(tenant, targets, current, changes, { at, by: actor }),
          (previous, next) => {
            const before = resolve(tenant, targets, previous)
            const after = resolve(tenant, targets, next)
            const policies = changed.map((category) => after.get(category)!)
            written = { next, policies }
            return noting(
              audit.appendAll(
                tenant,
                changed.map((category) =>
                  new AuditEvent({
                    actor,
                    action: "retention.policy.changed",
                    purpose: "retention",
                    resource: { type: "retention-category", id: category },
                    details: {
                      category,
                      period: describePeriod(after.get(category)!.period),
                      previous: describePeriod(before.get(category)!.period),
                      source: after.get(category)!.source
                    }
                  })
                )
              ),
              (noted) => {
                intent = noted
              }
            ).pipe(Effect.as(policies))
          }
        ).pipe(
          Effect.catchAll((error) =>
            settle({
              error,
              intent,
              operation: "RetentionPolicies.set",
              // In when every category changed stores what the change wrote (none: back to the default).
              isIn: Effect.map(store.overrides(tenant), (stored) =>
                changed.every((category) => sameOverride(stored.get(category), written!.next.get(category)))
                  ? Option.some(written!.policies)
                  : Option.none()),
              failed: ({ indices }) =>
                audit.appendAll(
                  tenant,
                  changed.map((category, i) =>
                    new AuditEvent({
                      actor,
                      action: "retention.policy.change-failed",
                      purpose: "retention",
                      resource: { type: "retention-category", id: category },
                      details: { category, entry: indices[i] ?? null }
                    })
                  )
                )
            })
          )
        )
      }).pipe(Effect.withSpan("RetentionPolicies.set", { attributes: { tenant: describeTenant(tenant) } }))

    // `ids`: those of the tenants given that are `TenantId`s (`tenantsGiven`), tested once.
    const inForceOf = (
      tenants: ReadonlyArray<TenantId>,
      ids: ReadonlySet<TenantId>,
      targets: ReadonlyArray<RetentionTarget>,
      overrides: ReadonlyMap<TenantId, ReadonlyMap<string, Override>>
    ): ReadonlyMap<TenantId, ReadonlyArray<Policy>> =>
      new Map<TenantId, ReadonlyArray<Policy>>(tenants.map((tenant) => {
        if (!ids.has(tenant)) return [tenant, []]
        const resolved = resolve(tenant, targets, overrides.get(tenant) ?? new Map())
        return [tenant, targets.map((target) => resolved.get(target.id)!)]
      }))

    // Only `TenantId`s reach the store; any other tenant given has no policies (`tenantsGiven`).
    const allOf = (tenants: ReadonlyArray<TenantId>) => {
      const { given, ids } = tenantsGiven(tenants)
      return Effect.gen(function*() {
        const targets = yield* registry.targets
        return inForceOf(given, new Set(ids), targets, ids.length === 0 ? new Map() : yield* store.overridesOf(ids))
      }).pipe(Effect.withSpan("RetentionPolicies.allOf", { captureStackTrace: false, attributes: { tenants: given.length } }))
    }

    const withAllOf = <A, E, R>(
      tenants: ReadonlyArray<TenantId>,
      use: (inForce: ReadonlyMap<TenantId, ReadonlyArray<Policy>>) => Effect.Effect<A, E, R>
    ) => {
      const { given, ids } = tenantsGiven(tenants)
      return Effect.flatMap(
        registry.targets,
        (targets) => store.withOverridesOf(ids, (overrides) => use(inForceOf(given, new Set(ids), targets, overrides)))
      ).pipe(Effect.withSpan("RetentionPolicies.withAllOf", { captureStackTrace: false, attributes: { tenants: given.length } }))
    }

    return RetentionPolicies.of({
      allOf,
      withAllOf,
      get: (tenant, category) =>
        Effect.flatMap(all(tenant), (policies) => {
          const policy = policies.find((p) => p.category === category)
          return policy
            ? Effect.succeed(policy)
            : Effect.fail(
              new RetentionCategoryNotFound({
                category: quotedCategory(category),
                ...(isTenantId(tenant) ? {} : { tenantId: "" })
              })
            )
        }),
      all,
      set
    })
  })

/**
 * Policies in memory, for tests and programs without a database.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<RetentionPolicies, never, RetentionTargets | AuditTrail> = Layer.effect(
  RetentionPolicies,
  Effect.gen(function*() {
    const tenants = new Map<TenantId, Map<string, Override>>()
    // Taken by each update and by each `withOverridesOf` for as long as its `use` runs.
    const lock = yield* Effect.makeSemaphore(1)
    const overridesOf = (wanted: ReadonlyArray<TenantId>) =>
      Effect.sync(() => new Map(wanted.map((tenant) => [tenant, new Map(tenants.get(tenant) ?? [])])))
    return yield* make({
      overrides: (tenant) => Effect.sync(() => new Map(tenants.get(tenant) ?? [])),
      overridesOf,
      withOverridesOf: (wanted, use) => lock.withPermits(1)(Effect.flatMap(overridesOf(wanted), use)),
      // Recorded before it is applied, under the lock a sweep's `withOverridesOf` waits for: a read
      // outside the lock (a sweep's plan) sees the change only once its entry is in.
      update: (tenant, decide, record) =>
        lock.withPermits(1)(
          Effect.gen(function*() {
            const current = new Map(tenants.get(tenant) ?? [])
            const next = applied(current, yield* decide(current))
            const recorded = yield* record(current, next)
            tenants.set(tenant, next)
            return recorded
          })
        )
    })
  })
)

const OverrideRow = Schema.Struct({
  tenant_id: TenantId,
  category: Schema.String,
  period_ms: Schema.NullOr(Schema.Union(Schema.Number, Schema.String)),
  set_at: Schema.DateFromSelf,
  set_by: Schema.String
})

/**
 * Policies on SQL (PostgreSQL or PGlite), in `lawful_retention_policies`,
 * migrated on start-up. Changes of one tenant are serialised by an advisory
 * transaction lock, so concurrent changes are validated one after the other.
 * A change then takes exclusively, for its short transaction, the
 * transaction-scoped advisory lock keyed by the schema that `withAllOf`
 * shares (with the holds: `LegalHolds.place` takes it too), so the rule of
 * `withAllOf` holds between processes on one schema.
 *
 * The change's audit entry is appended inside that transaction, after the
 * writes. An `AuditTrail` whose store is on this database (the platform's
 * setup: one `Database.layer` for both) joins the transaction: the change and
 * its entry commit or roll back as one. A store on a database of its own
 * cannot join it; it must keep its statements out of the caller's
 * transaction (`Database.outsideTransactionAll`, as core asks of every store
 * on a client of its own, or they would run on this database's connection),
 * and its entry then commits on its own before the change does: the order
 * `LegalHolds` keeps. No sweep reads the change before its entry is in; if
 * the change's own commit then fails, the change is read again and the log
 * gets its outcome (`retention.policy.change-failed` when it is not in; see
 * the module doc). An `AuditTrail` does not say where it stores: the layer
 * tells the two cases apart by where the append wrote. `@effect/sql` hands
 * the change's transaction connection to every client, so an append that
 * ran a statement on it (watched for the append's length) joined the
 * transaction and rolled back with it, and needs no outcome; one that ran
 * none wrote its entry apart (on its own database, or in memory), and the
 * entry outlives the failure.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSql: Layer.Layer<
  RetentionPolicies,
  Migrations.MigrationFailed,
  RetentionTargets | AuditTrail | SqlClient.SqlClient
> = Layer.effect(
  RetentionPolicies,
  Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    yield* migrate(sql)
    const fail = (operation: string) => (cause: unknown) =>
      new RetentionStoreError({ operation, cause: Database.safeSqlError(cause) })
    const decodeRows = Schema.decodeUnknown(Schema.Array(OverrideRow))

    const toOverride = (row: typeof OverrideRow.Type): Override => ({
      period: periodFromMillis(row.period_ms),
      setAt: row.set_at,
      setBy: decodeActor(row.set_by)
    })

    const read = (tenant: TenantId) =>
      sql`SELECT tenant_id, category, period_ms, set_at, set_by FROM lawful_retention_policies WHERE tenant_id = ${tenant}`.pipe(
        Effect.flatMap(decodeRows),
        Effect.map((rows) => new Map(rows.map((row) => [row.category, toOverride(row)])))
      )
    const byTenant = (statement: Effect.Effect<ReadonlyArray<unknown>, unknown>, operation: string) =>
      statement.pipe(
        Effect.flatMap(decodeRows),
        Effect.map((rows) => {
          const found = new Map<TenantId, Map<string, Override>>()
          for (const row of rows) {
            const overrides = found.get(row.tenant_id) ?? new Map<string, Override>()
            overrides.set(row.category, toOverride(row))
            found.set(row.tenant_id, overrides)
          }
          return found
        }),
        Effect.mapError(fail(operation))
      )

    return yield* make({
      overrides: (tenant) => read(tenant).pipe(Effect.mapError(fail("overrides"))),
      overridesOf: (tenants) =>
        byTenant(
          sql`SELECT tenant_id, category, period_ms, set_at, set_by FROM lawful_retention_policies
            WHERE tenant_id = ANY(${tenants}::uuid[])`,
          "overridesOf"
        ),
      // One statement: the function takes the shared lock, then reads with a snapshot taken after it.
      withOverridesOf: (tenants, use) =>
        Effect.flatMap(
          byTenant(
            sql`SELECT tenant_id, category, period_ms, set_at, set_by FROM lawful_retention_policies_in_force(${tenants}::uuid[])`,
            "overridesOf"
          ),
          use
        ),
      // The tenant's lock, then the exclusive lock `lawful_retention_policies_in_force` shares: a
      // batch that read the policies under the shared lock commits before this change does, and every
      // read after the commit sees the change. A change queued behind another of its tenant waits on
      // the tenant's lock, holding off no batch meanwhile. The change is recorded (its audit entry
      // appended) after the writes, in this transaction: with the log on this database the entry
      // joins it, and both commit or neither does; a log elsewhere commits the entry first, before
      // any sweep can read the change, and `set` appends the outcome if the commit fails (see
      // `layerSql`).
      update: (tenant, decide, record) =>
        Effect.gen(function*() {
          const { current, writes } = yield* Effect.gen(function*() {
            yield* sql`SELECT pg_advisory_xact_lock(hashtext(${`lawful_retention_policies/${tenant}`}))`
            yield* sql`SELECT pg_advisory_xact_lock(hashtext('lawful_retention_holds/' || current_schema()))`
            const current = yield* read(tenant)
            const writes = yield* decide(current)
            for (const [category, write] of writes) {
              if (write === null) {
                yield* sql`DELETE FROM lawful_retention_policies WHERE tenant_id = ${tenant} AND category = ${category}`
              } else {
                yield* sql`INSERT INTO lawful_retention_policies (tenant_id, category, period_ms, set_at, set_by)
                  VALUES (${tenant}, ${category}, ${periodToMillis(write.period)}, ${write.setAt}, ${encodeActor(write.setBy)})
                  ON CONFLICT (tenant_id, category) DO UPDATE
                    SET period_ms = EXCLUDED.period_ms, set_at = EXCLUDED.set_at, set_by = EXCLUDED.set_by`
              }
            }
            return { current, writes }
          }).pipe(Effect.catchTags({
            SqlError: (cause) => Effect.fail(fail("update")(cause)),
            ParseError: (cause) => Effect.fail(fail("update")(cause))
          }))
          return yield* record(current, applied(current, writes))
        }).pipe(
          // The transaction's own statements (BEGIN, COMMIT) fail with a SqlError.
          Database.withTransaction(sql),
          Effect.mapError((error) => error instanceof SqlError ? fail("update")(error) : error)
        )
    })
  })
)
