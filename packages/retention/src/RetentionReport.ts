/**
 * The retention report of a tenant: per category, the policy in force and
 * its bounds, the oldest record and its age, when the next purge is due, how
 * many expired records holds keep, and the last sweep.
 *
 * `nextPurgeAt` is when the oldest record that no hold keeps expires: the
 * sweep after that time purges it (a time in the past means the next sweep
 * will). It is absent when the category is kept forever, held whole, or
 * empty. `lastPurge` is the latest sweep that purged something. Counts come from the categories' `count`, so a report costs a few
 * queries per category.
 *
 * @since 0.1.0
 */
import { Action, RetentionTargets, minPeriodOf } from "@lawful/core/RetentionTarget"
import type { RetentionTargetError } from "@lawful/core/RetentionTarget"
import type { SubjectId } from "@lawful/core/SubjectId"
import { describe as describeTenant, is as isTenantId, type TenantId } from "@lawful/core/TenantId"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { cutoffAt } from "./internal/encoding.js"
import { LegalHolds, scopeOf } from "./LegalHold.js"
import { Policy, RetentionPolicies } from "./RetentionPolicy.js"
import type { RetentionStoreError } from "./RetentionPolicy.js"
import { SweepEntry, SweepJournal } from "./SweepJournal.js"

/**
 * The report of one category.
 *
 * @since 0.1.0
 * @category models
 */
export class CategoryReport extends Schema.Class<CategoryReport>("@lawful/retention/RetentionReport/CategoryReport")({
  category: Schema.String,
  description: Schema.String,
  action: Action,
  parent: Schema.optional(Schema.String),
  policy: Policy,
  bounds: Schema.Struct({
    minimum: Schema.DurationFromSelf,
    maximum: Schema.DurationFromSelf,
    allowForever: Schema.Boolean,
    platformDefault: Schema.DurationFromSelf
  }),
  oldestRecordAt: Schema.OptionFromSelf(Schema.DateFromSelf),
  oldestRecordAge: Schema.OptionFromSelf(Schema.DurationFromSelf),
  nextPurgeAt: Schema.OptionFromSelf(Schema.DateFromSelf),
  /** Records past their policy that the next sweep would purge. */
  expired: Schema.NonNegativeInt,
  /** Records past their policy that holds keep. */
  held: Schema.NonNegativeInt,
  heldWhole: Schema.Boolean,
  activeHolds: Schema.NonNegativeInt,
  /** The latest sweep that purged something. */
  lastPurge: Schema.OptionFromSelf(SweepEntry)
}) {}

/**
 * @since 0.1.0
 * @category services
 */
export class RetentionReport extends Context.Tag("@lawful/retention/RetentionReport")<RetentionReport, {
  /**
   * One report per registered category, in registration order; none (an empty array) for a tenant
   * that is not a `TenantId` (a lower-case UUID), alike on every store.
   */
  readonly report: (
    tenant: TenantId
  ) => Effect.Effect<ReadonlyArray<CategoryReport>, RetentionStoreError | RetentionTargetError>
}>() {}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.gen(function*() {
  const registry = yield* RetentionTargets
  const policies = yield* RetentionPolicies
  const holds = yield* LegalHolds
  const journal = yield* SweepJournal

  return RetentionReport.of({
    report: (tenant) =>
      Effect.gen(function*() {
        // Read by no store nor category (on SQL it failed the statement, its error quoting it).
        if (!isTenantId(tenant)) return []
        const now = yield* Clock.currentTimeMillis
        const targets = yield* registry.targets
        const inForce = new Map((yield* policies.all(tenant)).map((policy) => [policy.category, policy]))
        const active = yield* holds.active(tenant)
        return yield* Effect.forEach(targets, (target) =>
          Effect.gen(function*() {
            const policy = inForce.get(target.id)!
            const held = scopeOf(active, target.id, targets)
            const none = new Set<SubjectId>()
            const oldestAll = yield* target.oldest(tenant, { excludeSubjects: none })
            const oldestFree = held.whole
              ? Option.none<Date>()
              : held.subjects.size === 0
              ? oldestAll
              : yield* target.oldest(tenant, { excludeSubjects: held.subjects })
            const finite = Duration.isFinite(policy.period)
            const cutoff = cutoffAt(now, policy.period)
            const everything = cutoff ? yield* target.count(tenant, { cutoff, excludeSubjects: none }) : 0
            const expired = cutoff === undefined || held.whole
              ? 0
              : held.subjects.size === 0
              ? everything
              : yield* target.count(tenant, { cutoff, excludeSubjects: held.subjects })
            const holdsHere = active.filter((hold) => scopeOf([hold], target.id, targets).whole ||
              scopeOf([hold], target.id, targets).subjects.size > 0).length
            return new CategoryReport({
              category: target.id,
              description: target.description,
              action: target.action,
              ...(target.parent !== undefined ? { parent: target.parent } : {}),
              policy,
              bounds: {
                minimum: minPeriodOf(target),
                maximum: target.maxPeriod,
                allowForever: target.allowForever,
                platformDefault: target.defaultPeriod
              },
              oldestRecordAt: oldestAll,
              oldestRecordAge: Option.map(oldestAll, (at) => Duration.millis(Math.max(0, now - at.getTime()))),
              nextPurgeAt: finite
                ? Option.map(oldestFree, (at) => new Date(at.getTime() + Duration.toMillis(policy.period)))
                : Option.none(),
              expired,
              held: everything - expired,
              heldWhole: held.whole,
              activeHolds: holdsHere,
              lastPurge: yield* journal.last(tenant, target.id)
            })
          }))
      }).pipe(Effect.withSpan("RetentionReport.report", { attributes: { tenant: describeTenant(tenant) } }))
  })
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<
  RetentionReport,
  never,
  RetentionTargets | RetentionPolicies | LegalHolds | SweepJournal
> = Layer.effect(RetentionReport, make)
