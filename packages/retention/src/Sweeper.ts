/**
 * The sweeper: purges every record that has outlived its tenant's policy,
 * except what legal holds keep, and leaves a receipt in the audit log.
 *
 * ## A sweep at time `T`
 *
 * For each registered category and each tenant with records in it, the
 * cut-off is `T - period` of the tenant's policy (none when kept forever).
 * Records strictly older than the cut-off are purged unless a hold covers
 * them: a hold on the tenant or on the category keeps the category whole; a
 * hold on a subject keeps that subject's records (`excludeSubjects`).
 * Nothing newer than the cut-off is touched: after a sweep at `T`, every
 * record not held and older than its policy is gone, and every record within
 * its policy or held is still there.
 *
 * - **Bounded batches.** Records go `batchSize` at a time (default 1000),
 *   each batch its own short transaction in the target. Between batches the
 *   sweeper rests (`pace`, by default as long as the batch took), so writes
 *   beside a long purge keep their latency.
 * - **Partitions.** A category whose table is partitioned by day drops a
 *   whole partition when every record in it is expired under its tenant's
 *   policy and no hold touches any of its tenants; otherwise its rows are
 *   purged in batches like any others.
 * - **Receipts.** One audit entry per tenant, category and run
 *   (`retention.purged`: category, action, count, cut-off, period, run id;
 *   no personal data), unless the category is kept forever.
 * - **Idempotent and resumable.** Purged records are never purged again; a
 *   sweep cut short (a crash, an interruption, a failing target) leaves its
 *   batches committed and its journal entries open. The next sweep appends
 *   the receipts of those entries (marked incomplete and recovered, with the
 *   run id of the sweep that was cut short) and purges the rest, ending where
 *   one uninterrupted sweep would have. A process that died between appending
 *   a receipt and closing its entry leaves two receipts with one run id: the
 *   later, marked recovered, repeats the earlier.
 * - **One at a time.** A sweep takes the journal's lock (on PostgreSQL an
 *   advisory lock), and fails with `SweepAlreadyRunning` when another
 *   process holds it.
 * - **Failures stay local.** A failing category or tenant is reported in
 *   `failures` and the sweep goes on with the others.
 * - **Dry runs** (`dryRun`) take no lock and change nothing: they count, per
 *   tenant and category, what a sweep now would purge and what holds keep.
 *
 * `schedule` and `layerScheduled` run sweeps on a `Schedule`.
 *
 * @since 0.1.0
 */
import { Actor, AuditEvent } from "@lawful/audit-trail/AuditEvent"
import { AuditTrail } from "@lawful/audit-trail/AuditTrail"
import type { AuditEventInvalid, AuditStoreError } from "@lawful/audit-trail/AuditTrail"
import { Action, RetentionTargets } from "@lawful/core/RetentionTarget"
import type { RetentionTarget, RetentionTargetError, TimePartition } from "@lawful/core/RetentionTarget"
import type { SubjectId } from "@lawful/core/SubjectId"
import { TenantId } from "@lawful/core/TenantId"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { randomUUID } from "node:crypto"
import { describePeriod } from "./internal/encoding.js"
import { LegalHolds, scopeOf } from "./LegalHold.js"
import type { HeldScope, LegalHold } from "./LegalHold.js"
import { RetentionPolicies } from "./RetentionPolicy.js"
import type { Policy, RetentionStoreError } from "./RetentionPolicy.js"
import { SweepJournal } from "./SweepJournal.js"
import type { EntryKey, SweepEntry } from "./SweepJournal.js"

/**
 * What a sweep did (or, in a dry run, would do) to one tenant's category.
 *
 * @since 0.1.0
 * @category models
 */
export class CategorySweep extends Schema.Class<CategorySweep>("@lawful/retention/Sweeper/CategorySweep")({
  tenantId: TenantId,
  category: Schema.String,
  action: Action,
  period: Schema.DurationFromSelf,
  /** Absent when the category is kept forever. */
  cutoff: Schema.optional(Schema.DateFromSelf),
  /** Records purged (dry run: that a sweep would purge now). */
  purged: Schema.NonNegativeInt,
  partitionsDropped: Schema.NonNegativeInt,
  /** A hold on the tenant or category keeps it whole. */
  heldWhole: Schema.Boolean,
  /** Expired records that holds keep: counted by dry runs only. */
  held: Schema.optional(Schema.NonNegativeInt),
  /** False when the purge stopped short (see `failures`). */
  complete: Schema.Boolean
}) {}

/**
 * A category or tenant the sweep could not finish, and why.
 *
 * @since 0.1.0
 * @category models
 */
export interface SweepFailure {
  readonly category: string
  readonly tenant?: TenantId | undefined
  readonly error: RetentionTargetError | RetentionStoreError | AuditEventInvalid | AuditStoreError
}

/**
 * What one sweep did.
 *
 * @since 0.1.0
 * @category models
 */
export interface SweepResult {
  readonly runId: string
  /** The time `T` every cut-off is computed from. */
  readonly at: Date
  readonly dryRun: boolean
  readonly categories: ReadonlyArray<CategorySweep>
  /** Entries of earlier sweeps cut short, whose receipts this sweep appended. */
  readonly recovered: ReadonlyArray<SweepEntry>
  readonly failures: ReadonlyArray<SweepFailure>
}

/**
 * What to sweep; everything by default.
 *
 * @since 0.1.0
 * @category models
 */
export interface SweepOptions {
  readonly dryRun?: boolean | undefined
  /** Only these tenants (a partition is then dropped only if it holds no other tenant). */
  readonly tenants?: ReadonlyArray<TenantId> | undefined
  readonly categories?: ReadonlyArray<string> | undefined
}

/**
 * Another process (or fibre) is sweeping.
 *
 * @since 0.1.0
 * @category errors
 */
export class SweepAlreadyRunning extends Schema.TaggedError<SweepAlreadyRunning>()("SweepAlreadyRunning", {}) {
  override get message(): string {
    return "A retention sweep is already running"
  }
}

/**
 * @since 0.1.0
 * @category services
 */
export class Sweeper extends Context.Tag("@lawful/retention/Sweeper")<Sweeper, {
  readonly sweep: (options?: SweepOptions) => Effect.Effect<SweepResult, SweepAlreadyRunning | RetentionStoreError>
  /** `sweep` with `dryRun: true`: counts, changes nothing. */
  readonly dryRun: (options?: Omit<SweepOptions, "dryRun">) => Effect.Effect<SweepResult, RetentionStoreError>
}>() {}

/**
 * @since 0.1.0
 * @category models
 */
export interface SweeperOptions {
  /** Records per batch (default 1000). */
  readonly batchSize?: number | undefined
  /** Who the receipts name (default the system actor `retention-sweeper`). */
  readonly actor?: Actor | undefined
  /** How long finished journal entries are kept (default 400 days). */
  readonly journalRetention?: Duration.DurationInput | undefined
  /**
   * The share of time a purge keeps the database busy, above 0 and at most 1
   * (default 0.5: after each batch the sweeper rests as long as the batch
   * took, leaving room to the writes that run beside a long purge; 1 runs
   * batches back to back).
   */
  readonly pace?: number | undefined
}

/**
 * The actor of receipts, unless `SweeperOptions.actor` says otherwise.
 *
 * @since 0.1.0
 * @category constructors
 */
export const systemActor: Actor = { kind: "system", id: "retention-sweeper" }

interface TenantState {
  readonly policies: ReadonlyMap<string, Policy>
  readonly holds: ReadonlyArray<LegalHold>
}

const chunks = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size))

const receipt = (
  actor: Actor,
  entry: { readonly category: string; readonly runId: string; readonly cutoff: Date; readonly count: number },
  extra: Record<string, string | number | boolean>
) =>
  new AuditEvent({
    actor,
    action: "retention.purged",
    purpose: "retention",
    legalBasis: "legal-obligation",
    resource: { type: "retention-category", id: entry.category },
    details: {
      category: entry.category,
      count: entry.count,
      cutoff: entry.cutoff.toISOString(),
      runId: entry.runId,
      ...extra
    }
  })

/**
 * Builds the sweeper over the registry, policies, holds, journal and audit
 * trail in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: SweeperOptions = {}) =>
  Effect.gen(function*() {
    const registry = yield* RetentionTargets
    const policies = yield* RetentionPolicies
    const holds = yield* LegalHolds
    const journal = yield* SweepJournal
    const audit = yield* AuditTrail
    const batchSize = Math.max(1, Math.floor(options.batchSize ?? 1000))
    const actor = options.actor ?? systemActor
    const journalRetention = Duration.decode(options.journalRetention ?? Duration.days(400))
    const pace = Math.min(1, Math.max(0.01, options.pace ?? 0.5))
    // Rests after a batch that took `took` ms, so that batches fill `pace` of the time.
    const rest = (took: number) => pace < 1 && took > 0 ? Effect.sleep(Duration.millis(took * (1 / pace - 1))) : Effect.void

    const forgetBefore = (now: number) => new Date(now - Duration.toMillis(journalRetention))

    const recover = Effect.gen(function*() {
      const recovered: Array<SweepEntry> = []
      const failures: Array<SweepFailure> = []
      for (const entry of yield* journal.unfinished) {
        const done = yield* audit.append(
          entry.tenantId,
          receipt(actor, { ...entry, count: entry.purged }, {
            partitionsDropped: entry.partitions,
            complete: false,
            recovered: true
          })
        ).pipe(
          Effect.zipRight(Effect.flatMap(Clock.currentTimeMillis, (now) =>
            journal.close({
              runId: entry.runId,
              category: entry.category,
              outcomes: [{ tenant: entry.tenantId, complete: false }],
              at: new Date(now),
              forgetBefore: forgetBefore(now)
            }))),
          Effect.either
        )
        if (done._tag === "Right") recovered.push(entry)
        else failures.push({ category: entry.category, tenant: entry.tenantId, error: done.left })
      }
      return { recovered, failures }
    })

    const sweep = (sweepOptions: SweepOptions = {}) =>
      Effect.gen(function*() {
        const dryRun = sweepOptions.dryRun === true
        const runId = randomUUID()
        const at = new Date(yield* Clock.currentTimeMillis)
        const allTargets = yield* registry.targets
        const targets = sweepOptions.categories === undefined
          ? allTargets
          : allTargets.filter((target) => sweepOptions.categories!.includes(target.id))
        const wanted = sweepOptions.tenants === undefined ? undefined : new Set(sweepOptions.tenants)
        const failures: Array<SweepFailure> = []
        const results: Array<CategorySweep> = []

        const { recovered, failures: recoveryFailures } = dryRun ? { recovered: [], failures: [] } : yield* recover
        failures.push(...recoveryFailures)

        // Each tenant's policies and holds, read once per run, many tenants a read.
        const states = new Map<TenantId, TenantState>()
        const load = (tenants: ReadonlyArray<TenantId>) =>
          Effect.forEach(chunks(tenants.filter((tenant) => !states.has(tenant)), 500), (chunk) =>
            Effect.map(
              Effect.all([policies.allOf(chunk), holds.activeOf(chunk)], { concurrency: 2 }),
              ([inForce, active]) => {
                for (const tenant of chunk) {
                  states.set(tenant, {
                    policies: new Map((inForce.get(tenant) ?? []).map((policy) => [policy.category, policy])),
                    holds: active.get(tenant) ?? []
                  })
                }
              }
            ), { discard: true })
        const stateOf = (tenant: TenantId) =>
          Effect.suspend(() => {
            const known = states.get(tenant)
            return known ? Effect.succeed(known) : Effect.zipRight(load([tenant]), Effect.sync(() => states.get(tenant)!))
          })

        const cutoffOf = (policy: Policy) =>
          Duration.isFinite(policy.period) ? new Date(at.getTime() - Duration.toMillis(policy.period)) : undefined

        for (const target of targets) {
          const swept = yield* sweepCategory(target, {
            dryRun,
            at,
            runId,
            wanted,
            load,
            stateOf,
            cutoffOf,
            allTargets
          })
          results.push(...swept.results)
          failures.push(...swept.failures)
        }
        return { runId, at, dryRun, categories: results, recovered, failures } satisfies SweepResult
      })

    interface Run {
      readonly dryRun: boolean
      readonly at: Date
      readonly runId: string
      readonly wanted: ReadonlySet<TenantId> | undefined
      readonly load: (tenants: ReadonlyArray<TenantId>) => Effect.Effect<void, RetentionStoreError>
      readonly stateOf: (tenant: TenantId) => Effect.Effect<TenantState, RetentionStoreError>
      readonly cutoffOf: (policy: Policy) => Date | undefined
      readonly allTargets: ReadonlyArray<RetentionTarget>
    }

    interface Outcome {
      readonly tenant: TenantId
      readonly policy: Policy
      readonly cutoff: Date | undefined
      readonly held: HeldScope
      readonly purged: number
      readonly partitions: number
      readonly heldCount?: number
      readonly failure?: RetentionTargetError | RetentionStoreError | undefined
    }

    // A run's work on one category: whole partitions first, then each tenant's batches,
    // then the receipts (appended together) and one journal statement closing them.
    const sweepCategory = (target: RetentionTarget, run: Run) =>
      Effect.gen(function*() {
        const failures: Array<SweepFailure> = []
        const keyOf = (tenant: TenantId): EntryKey => ({ runId: run.runId, tenant, category: target.id })
        const dropped = new Map<TenantId, { purged: number; partitions: number }>()

        // Every tenant of the partition is swept by this run, has a finite policy whose
        // cut-off the whole partition is before, and no hold on this category.
        const droppable = (partition: TimePartition, tenants: ReadonlyArray<TenantId>) =>
          Effect.gen(function*() {
            for (const tenant of tenants) {
              if (run.wanted !== undefined && !run.wanted.has(tenant)) return false
              const state = yield* run.stateOf(tenant)
              const cutoff = run.cutoffOf(state.policies.get(target.id)!)
              if (cutoff === undefined || cutoff.getTime() < partition.to.getTime()) return false
              const held = scopeOf(state.holds, target.id, run.allTargets)
              if (held.whole || held.subjects.size > 0) return false
            }
            return true
          })

        const dropPartitions = (partitions: NonNullable<RetentionTarget["partitions"]>) =>
          Effect.gen(function*() {
            for (const partition of yield* partitions.endingBefore(run.at)) {
              const census = yield* partitions.census(partition)
              yield* run.load(census.map((c) => c.tenant))
              if (!(yield* droppable(partition, census.map((c) => c.tenant)))) continue
              yield* partitions.drop(partition)
              const work = yield* Effect.forEach(census, ({ records, tenant }) =>
                Effect.map(run.stateOf(tenant), (state) => ({
                  key: keyOf(tenant),
                  cutoff: run.cutoffOf(state.policies.get(target.id)!)!,
                  startedAt: run.at,
                  purged: records,
                  partitions: 1
                })))
              yield* journal.record(work)
              for (const { records, tenant } of census) {
                const done = dropped.get(tenant) ?? { purged: 0, partitions: 0 }
                dropped.set(tenant, { purged: done.purged + records, partitions: done.partitions + 1 })
              }
            }
          })

        if (!run.dryRun && target.partitions !== undefined) {
          const result = yield* Effect.either(dropPartitions(target.partitions))
          if (result._tag === "Left") failures.push({ category: target.id, error: result.left })
        }

        const listed = yield* Effect.either(run.wanted !== undefined ? Effect.succeed([...run.wanted]) : target.tenants)
        if (listed._tag === "Left") {
          failures.push({ category: target.id, error: listed.left })
          return { results: [], failures }
        }
        const withRecords = new Set(listed.right)
        const loaded = yield* Effect.either(run.load(listed.right))
        if (loaded._tag === "Left") {
          failures.push({ category: target.id, error: loaded.left })
          return { results: [], failures }
        }
        const outcomes: Array<Outcome> = []
        for (const tenant of [...new Set([...listed.right, ...dropped.keys()])]) {
          const outcome = yield* Effect.either(
            sweepTenant(target, tenant, run, dropped.get(tenant) ?? { purged: 0, partitions: 0 }, withRecords.has(tenant))
          )
          if (outcome._tag === "Left") failures.push({ category: target.id, tenant, error: outcome.left })
          else {
            outcomes.push(outcome.right)
            if (outcome.right.failure) failures.push({ category: target.id, tenant, error: outcome.right.failure })
          }
        }

        const receipted: Array<Outcome> = []
        if (!run.dryRun) {
          const appended = yield* Effect.forEach(
            outcomes.filter((outcome) => outcome.cutoff !== undefined),
            (outcome) =>
              audit.append(
                outcome.tenant,
                receipt(actor, { category: target.id, runId: run.runId, cutoff: outcome.cutoff!, count: outcome.purged }, {
                  action: target.action,
                  period: describePeriod(outcome.policy.period),
                  partitionsDropped: outcome.partitions,
                  heldWhole: outcome.held.whole,
                  heldSubjects: outcome.held.subjects.size,
                  complete: outcome.failure === undefined
                })
              ).pipe(Effect.either, Effect.map((done) => [outcome, done] as const)),
            { concurrency: 16 }
          )
          for (const [outcome, done] of appended) {
            if (done._tag === "Right") receipted.push(outcome)
            else failures.push({ category: target.id, tenant: outcome.tenant, error: done.left })
          }
          const now = yield* Clock.currentTimeMillis
          const closed = yield* Effect.either(journal.close({
            runId: run.runId,
            category: target.id,
            outcomes: receipted.map((o) => ({ tenant: o.tenant, complete: o.failure === undefined })),
            at: new Date(now),
            forgetBefore: forgetBefore(now)
          }))
          if (closed._tag === "Left") failures.push({ category: target.id, error: closed.left })
        }

        const results = outcomes.map((outcome) =>
          new CategorySweep({
            tenantId: outcome.tenant,
            category: target.id,
            action: target.action,
            period: outcome.policy.period,
            ...(outcome.cutoff !== undefined ? { cutoff: outcome.cutoff } : {}),
            purged: outcome.purged,
            partitionsDropped: outcome.partitions,
            heldWhole: outcome.held.whole,
            ...(outcome.heldCount !== undefined ? { held: outcome.heldCount } : {}),
            complete: outcome.failure === undefined
          })
        )
        return { results, failures }
      }).pipe(Effect.withSpan("Sweeper.sweepCategory", { attributes: { category: target.id, dryRun: run.dryRun } }))

    const sweepTenant = (
      target: RetentionTarget,
      tenant: TenantId,
      run: Run,
      dropped: { readonly purged: number; readonly partitions: number },
      hasRecords: boolean
    ) =>
      Effect.gen(function*(): Effect.fn.Return<Outcome, RetentionTargetError | RetentionStoreError> {
        const state = yield* run.stateOf(tenant)
        const policy = state.policies.get(target.id)!
        const cutoff = run.cutoffOf(policy)
        const held = scopeOf(state.holds, target.id, run.allTargets)
        const base = { tenant, policy, cutoff, held, purged: dropped.purged, partitions: dropped.partitions }
        if (cutoff === undefined) return base

        if (run.dryRun) {
          const everything = yield* target.count(tenant, { cutoff, excludeSubjects: new Set<SubjectId>() })
          const purgeable = held.whole
            ? 0
            : held.subjects.size === 0
            ? everything
            : yield* target.count(tenant, { cutoff, excludeSubjects: held.subjects })
          return { ...base, purged: purgeable, heldCount: everything - purgeable }
        }

        let purged = dropped.purged
        if (held.whole || !hasRecords) return { ...base, purged }
        const batches = Effect.gen(function*() {
          while (true) {
            const started = yield* Clock.currentTimeMillis
            const batch = yield* target.purgeBatch(tenant, { cutoff, limit: batchSize, excludeSubjects: held.subjects })
            if (batch.purged > 0) {
              yield* journal.record([{
                key: { runId: run.runId, tenant, category: target.id },
                cutoff,
                startedAt: run.at,
                purged: batch.purged,
                partitions: 0
              }])
            }
            purged += batch.purged
            if (!batch.more) return
            yield* rest((yield* Clock.currentTimeMillis) - started)
          }
        })
        const done = yield* Effect.either(batches)
        return { ...base, purged, failure: done._tag === "Left" ? done.left : undefined }
      }).pipe(Effect.withSpan("Sweeper.sweepTenant", { attributes: { tenant, category: target.id, dryRun: run.dryRun } }))

    return Sweeper.of({
      sweep: (sweepOptions = {}) =>
        (sweepOptions.dryRun === true
          ? sweep(sweepOptions)
          : Effect.scoped(Effect.gen(function*() {
            if (!(yield* journal.lock)) return yield* new SweepAlreadyRunning()
            return yield* sweep(sweepOptions)
          }))).pipe(Effect.withSpan("Sweeper.sweep", { attributes: { dryRun: sweepOptions.dryRun === true } })),
      dryRun: (sweepOptions = {}) =>
        sweep({ ...sweepOptions, dryRun: true }).pipe(Effect.withSpan("Sweeper.dryRun"))
    })
  })

/**
 * The sweeper over the registry, policies, holds, journal and audit trail
 * provided to it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWith = (
  options: SweeperOptions = {}
): Layer.Layer<Sweeper, never, RetentionTargets | RetentionPolicies | LegalHolds | SweepJournal | AuditTrail> =>
  Layer.effect(Sweeper, make(options))

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Sweeper, never, RetentionTargets | RetentionPolicies | LegalHolds | SweepJournal | AuditTrail> =
  layerWith()

/**
 * Sweeps now and then on `schedule`, forever: a sweep that fails or finds
 * another one running is logged, and the next one runs on time.
 *
 * @since 0.1.0
 * @category constructors
 */
export const schedule = <Out>(
  every: Schedule.Schedule<Out, unknown>
): Effect.Effect<void, never, Sweeper> =>
  Effect.flatMap(Sweeper, (sweeper) =>
    sweeper.sweep().pipe(
      Effect.tap((result) =>
        Effect.logInfo("Retention sweep finished").pipe(
          Effect.annotateLogs({
            runId: result.runId,
            purged: result.categories.reduce((n, c) => n + c.purged, 0),
            failures: result.failures.length
          })
        )
      ),
      Effect.tap((result) =>
        Effect.forEach(result.failures, (failure) =>
          Effect.logWarning("Retention sweep could not finish a category", failure.error.message).pipe(
            Effect.annotateLogs({ category: failure.category, tenant: failure.tenant ?? "" })
          ), { discard: true })
      ),
      Effect.catchTag("SweepAlreadyRunning", () => Effect.logDebug("Retention sweep skipped: another one is running")),
      Effect.catchAll((error) => Effect.logWarning("Retention sweep failed", error.message)),
      Effect.repeat(every),
      Effect.asVoid
    ))

/**
 * Runs `schedule(every)` in the background for the life of the layer
 * (default: hourly).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerScheduled = (
  every: Schedule.Schedule<unknown, unknown> = Schedule.spaced(Duration.hours(1))
): Layer.Layer<never, never, Sweeper> => Layer.scopedDiscard(Effect.forkScoped(schedule(every)))
