/**
 * The sweeper: purges every record that has outlived its tenant's policy,
 * except what legal holds keep, and leaves a receipt in the audit log.
 *
 * ## A sweep at time `T`
 *
 * For each registered category and each tenant with records in it, the
 * cut-off is `T - period` of the tenant's policy (none when kept forever; a
 * period reaching back before 4000 BC, where no store keeps records, cuts off
 * there).
 * Records strictly older than the cut-off are purged unless a hold covers
 * them: a hold on the tenant or on the category keeps the category whole; a
 * hold on a subject keeps that subject's records (`excludeSubjects`).
 * Nothing newer than the cut-off is touched: after a sweep at `T`, every
 * record not held and older than its policy is gone, and every record within
 * its policy or held is still there.
 *
 * - **Holds and policies changed mid-sweep.** A sweep plans each tenant from
 *   its policies and holds read once, and reads them again, for all the
 *   tenants of the batch in one read, as each batch and each partition drop
 *   starts. Once `LegalHolds.place` has returned, no batch and no drop that
 *   starts afterwards removes a record the hold covers, on every store and,
 *   on PostgreSQL, whichever process placed it: a tenant now held whole stops,
 *   a subject now held is excluded from the batches after, and a partition
 *   with a tenant now held is purged in batches instead. `place` also waits
 *   for the batch or drop in progress (on SQL its read runs in the journal's
 *   transaction around the purge, whatever database the category is on):
 *   nothing the hold covers is purged after `place` returned. Policies go
 *   the same way: a batch or
 *   drop that starts after `RetentionPolicies.set` returned uses the new
 *   period when it is longer (the cut-off moves back; the receipt names the
 *   cut-off and period of the tenant's last batch), and where `place` waits
 *   for the batch or drop in progress, so does `set`: nothing the new policy
 *   keeps is purged after `set` returned. On SQL the policies and the holds
 *   are read under one shared advisory lock, which `set` and `place` take
 *   exclusively. A shorter period, or a released hold, may wait for the next
 *   sweep.
 * - **Bounded batches.** Records go `batchSize` at a time (default 1000),
 *   each batch its own short transaction in the target. Between batches the
 *   sweeper rests (`pace`, by default as long as the batch took), so writes
 *   beside a long purge keep their latency. Tenants none of whose subjects
 *   is held go together when the target offers `purgeTenants`: each batch
 *   takes the oldest expired records of all of them, from where the previous
 *   batch stopped (a tenant with a subject held since goes on alone). The
 *   others take turns, one batch each, oldest records first: consecutive
 *   batches work on rows written in the same period, not on the whole table
 *   once per tenant. A record written while a sweep runs, with a time before
 *   where the tenants purged together have reached, is passed by that sweep
 *   (as by any purge that goes on where it stopped) and purged, and counted,
 *   by the next one.
 * - **Partitions.** A category whose table is partitioned by day drops a
 *   whole partition when every record in it is expired under its tenant's
 *   policy and no hold touches any of its tenants; otherwise its rows are
 *   purged in batches like any others. The target checks the partition's
 *   tenants, counts them and drops it in one statement and one transaction:
 *   a receipt counts exactly what was dropped. On the journal's database that
 *   transaction, and each batch's, also records the work in the journal
 *   (`SweepJournal.joins`); elsewhere the batch or drop commits on
 *   its own database inside a transaction of the journal's (the one that
 *   checks the lease, below), and the record follows in it: one that fails,
 *   or that transaction, is reported (a batch's stops its tenant there)
 *   while what the batch or drop purged still counts in the receipt. The
 *   batches and drops of a target naming a client of its own run outside
 *   that transaction (`Database.outsideTransaction`: `@effect/sql` hands an
 *   open transaction's connection to every client), so they reach the
 *   target's database, never the journal's; a target elsewhere that names no
 *   `client` keeps its statements out of a caller's transaction itself.
 * - **Receipts.** One audit entry per tenant, category and run
 *   (`retention.purged`: category, action, count, cut-off, period, run id;
 *   no personal data), unless the category is kept forever.
 * - **Idempotent and resumable.** Purged records are never purged again; a
 *   sweep cut short (a crash, an interruption, a failing target) leaves its
 *   batches committed and its journal entries open. The next sweep appends
 *   the receipts of those entries (marked incomplete and recovered, with the
 *   run id of the sweep that was cut short; in each tenant's log before any
 *   receipt of its own) and purges the rest, ending where
 *   one uninterrupted sweep would have. A receipt and the close of its entry
 *   are one transaction when the audit log is on the journal's database; a
 *   log elsewhere commits the receipt first, and a process that died before
 *   the close leaves two receipts with one run id: the later, marked
 *   recovered, repeats the earlier.
 * - **One at a time.** A sweep takes the journal's lock (on PostgreSQL an
 *   advisory lock), and fails with `SweepAlreadyRunning` when another
 *   process holds it. Its first reads (tenants, policies, holds, partitions)
 *   run while the lock is taken; nothing is written before it is held.
 * - **A lost lock stops the sweep.** On PostgreSQL the lock lives on one
 *   connection, which can die mid-sweep (a restart of its backend, a
 *   network cut), and another process can then take the lock. Taking the
 *   lock makes the run the journal's owner, and each batch, drop, receipt
 *   and journal close checks, in its transaction, that the run still holds
 *   the lock and owns the journal (`SweepJournal.owning`): a run that lost it
 *   fails with `SweepLockLost` before writing anything more, and a sweep
 *   taking over waits for the transaction in progress, then recovers what
 *   the first committed. That holds for a category on another database too:
 *   its batch or drop runs inside the journal transaction that checked the
 *   lease (locking its row), so it commits, and its record with it, before a
 *   sweep taking over reads the journal. Each journal entry gets one
 *   receipt, whatever the timing (with an audit log on the journal's
 *   database; one elsewhere commits a receipt before its entry closes, as
 *   above), and counts every batch and drop of its run. The one gap is two
 *   commits on two databases: a batch or drop elsewhere that committed while
 *   the journal's transaction around it is lost (its connection dies, the
 *   process stops) before that transaction commits. Its records are gone
 *   and no receipt counts them (a run that still owns the journal counts
 *   them in its receipt; one that lost the lock, or died, cannot). Nothing
 *   is ever counted twice: a record is purged once, by one batch.
 * - **Failures stay local.** A failing category or tenant is reported in
 *   `failures` and the sweep goes on with the others.
 * - **Dry runs** (`dryRun`) take no lock and change nothing: they count, per
 *   tenant and category, what a sweep now would purge and what holds keep,
 *   under the policies and holds they read at the start.
 * - **Options as given.** Options that are not `SweepOptions` (a `dryRun`
 *   that is not a boolean, `tenants` that are not an array of `TenantId`s,
 *   `categories` that are not an array of registered category ids) are
 *   refused with `SweepOptionsInvalid` before anything is read or written: a
 *   category id with a typo is refused, not passed over.
 *
 * `schedule` and `layerScheduled` run sweeps on a `Schedule`.
 *
 * @since 0.1.0
 */
import { Actor, AuditEvent } from "@lawful/audit-trail/AuditEvent"
import { AuditTrail } from "@lawful/audit-trail/AuditTrail"
import type { AuditEventInvalid, AuditStoreError } from "@lawful/audit-trail/AuditTrail"
import * as Database from "@lawful/core/Database"
import { Action, RetentionTargets } from "@lawful/core/RetentionTarget"
import type {
  PartitionCensus,
  Partitions,
  PurgeBatch,
  PurgeTenantsBatch,
  RetentionTarget,
  RetentionTargetError,
  TenantCutoff,
  TimePartition
} from "@lawful/core/RetentionTarget"
import type { SubjectId } from "@lawful/core/SubjectId"
import { is as isTenantId, TenantId } from "@lawful/core/TenantId"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { randomUUID } from "node:crypto"
import { cutoffAt, describePeriod } from "./internal/encoding.js"
import { LegalHolds, scopeOf } from "./LegalHold.js"
import type { HeldScope, LegalHold } from "./LegalHold.js"
import { RetentionPolicies } from "./RetentionPolicy.js"
import type { Policy, RetentionStoreError } from "./RetentionPolicy.js"
import { SweepJournal } from "./SweepJournal.js"
import type { SweepLockLost } from "./SweepJournal.js"
import type { EntryKey, SweepEntry, Work } from "./SweepJournal.js"

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
  /** Only these categories, each registered (one that is not, a typo, is refused: `SweepOptionsInvalid`). */
  readonly categories?: ReadonlyArray<string> | undefined
}

/**
 * The sweep options were refused as given: options that are no object, a
 * `dryRun` that is not a boolean, `tenants` that are not an array of
 * `TenantId`s (lower-case UUIDs), or `categories` that are not an array of
 * strings, or name a category that is not registered. Nothing was swept. The
 * reason never quotes what was given: it counts the category ids not
 * registered.
 *
 * @since 0.1.0
 * @category errors
 */
export class SweepOptionsInvalid extends Schema.TaggedError<SweepOptionsInvalid>()("SweepOptionsInvalid", {
  reason: Schema.String
}) {
  override get message(): string {
    return `Retention sweep refused: ${this.reason}`
  }
}

/** The options as given, or why they are refused (checked before any lock, read or write). */
const checkOptions = (options: SweepOptions): Effect.Effect<SweepOptions, SweepOptionsInvalid> => {
  const refuse = (reason: string) => Effect.fail(new SweepOptionsInvalid({ reason }))
  if (typeof options !== "object" || options === null || Array.isArray(options)) return refuse("the options are an object")
  const { categories, dryRun, tenants } = options
  // Any value but `true` ran a real sweep: a dry run asked for as `"true"` purged.
  if (dryRun !== undefined && typeof dryRun !== "boolean") return refuse("dryRun is true or false")
  if (tenants !== undefined && !(Array.isArray(tenants) && tenants.every(isTenantId))) {
    return refuse("tenants are an array of tenant ids (lower-case UUIDs)")
  }
  if (categories !== undefined && !(Array.isArray(categories) && categories.every((id) => typeof id === "string"))) {
    return refuse("categories are an array of category ids")
  }
  return Effect.succeed(options)
}

/**
 * The options, or `SweepOptionsInvalid` when a category id given is not registered (a typo was
 * passed over: the sweep purged nothing of it and said nothing). The ids are counted, not quoted.
 */
const checkCategories = (options: SweepOptions, targets: ReadonlyArray<RetentionTarget>) => {
  if (options.categories === undefined) return Effect.succeed(options)
  const registered = new Set(targets.map((target) => target.id))
  const unknown = new Set(options.categories.filter((id) => !registered.has(id))).size
  return unknown === 0
    ? Effect.succeed(options)
    : Effect.fail(
      new SweepOptionsInvalid({
        reason: unknown === 1 ? "1 category id given is not registered" : `${unknown} category ids given are not registered`
      })
    )
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
  /**
   * Fails with `SweepAlreadyRunning` when another sweep holds the lock, and with `SweepLockLost`
   * when this one loses it mid-sweep: it then stops before writing anything more.
   */
  readonly sweep: (
    options?: SweepOptions
  ) => Effect.Effect<SweepResult, SweepAlreadyRunning | SweepLockLost | RetentionStoreError | SweepOptionsInvalid>
  /** `sweep` with `dryRun: true`: counts, changes nothing. */
  readonly dryRun: (options?: Omit<SweepOptions, "dryRun">) => Effect.Effect<SweepResult, RetentionStoreError | SweepOptionsInvalid>
}>() {}

/**
 * @since 0.1.0
 * @category models
 */
export interface SweeperOptions {
  /** Records per batch (default 1000, also for a size that is no finite number). */
  readonly batchSize?: number | undefined
  /** Who the receipts name (default the system actor `retention-sweeper`). */
  readonly actor?: Actor | undefined
  /** How long finished journal entries are kept (default 400 days; `Duration.infinity`: forever). */
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

// A batch or drop whose journal transaction failed, with what it purged on another database before
// (`undefined` when none): purged all the same.
interface Failed<E, C> {
  readonly error: E
  readonly committed: C | undefined
}

const isLockLost = (error: { readonly _tag: string }): error is SweepLockLost => error._tag === "SweepLockLost"

const chunks = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size))

const groupBy = <A, K>(items: ReadonlyArray<A>, key: (item: A) => K): Map<K, Array<A>> => {
  const groups = new Map<K, Array<A>>()
  for (const item of items) {
    const group = groups.get(key(item))
    if (group === undefined) groups.set(key(item), [item])
    else group.push(item)
  }
  return groups
}

// The actor is validated once, when the sweeper is built; every other field is a constant, a
// registered category id, a count, a date or a run id, so a receipt is not validated again.
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
  }, true)

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
    // Bounded whatever it is given: a size that is no finite number is the default.
    const size = options.batchSize ?? 1000
    const batchSize = Number.isFinite(size) ? Math.max(1, Math.floor(size)) : 1000
    const actor = yield* Effect.orDie(Schema.validate(Actor)(options.actor ?? systemActor))
    const journalRetention = Duration.decode(options.journalRetention ?? Duration.days(400))
    const pace = Math.min(1, Math.max(0.01, options.pace ?? 0.5))
    // Rests after a batch that took `took` ms, so that batches fill `pace` of the time.
    const rest = (took: number) => pace < 1 && took > 0 ? Effect.sleep(Duration.millis(took * (1 / pace - 1))) : Effect.void

    // Never before 1970: a journal kept forever (`Duration.infinity`) or for longer than dates go
    // forgets nothing, and every store takes the date.
    const forgetBefore = (now: number) => new Date(Math.max(0, now - Duration.toMillis(journalRetention)))

    // How a run purges a target and journals it. `inJournal` runs a batch or a drop, with its record,
    // in a transaction of the journal's database that first finds the run still owning the journal
    // (`journal.owning`, whose `fence` on SQL locks the lease's row until the commit, so a sweep
    // taking the lock over waits for the commit). When the target's storage is on that database the
    // purge joins the transaction (`recordedWith`): purge and record commit as one, and a failed
    // record undoes the purge. A target elsewhere commits its purge on its own database inside that
    // transaction, and the record follows in it: a sweep taking over waits for the purge and its
    // record too, and never reads the journal between them. Such a purge is done whatever becomes of
    // the journal's transaction: `inJournal` hands the attempt `committed`, to note what it purged,
    // and returns that with the failure of the transaction, to be counted all the same.
    //
    // `@effect/sql` hands the open transaction's connection to every client: the purges of a target
    // on a client of its own run outside the journal's transaction (`Database.outsideTransaction`),
    // or they would run on the journal's database. Not those of a target that names no client: on
    // PGlite, one session, a statement of the journal's database would wait for that transaction.
    const journalFor = (runId: string, target: RetentionTarget) => {
      const recordedWith = journal.joins(target.client)
      const apart = <A, E>(purge: Effect.Effect<A, E>) =>
        target.client !== undefined && !recordedWith ? Database.outsideTransaction(purge) : purge
      const { partitions, purgeTenants } = target
      const inJournal = <A, E extends { readonly _tag: string }, C>(
        attempt: (committed: (purged: C) => Effect.Effect<void>) => Effect.Effect<A, E>
      ): Effect.Effect<Either.Either<A, Failed<E | RetentionStoreError, C>>, SweepLockLost> =>
        Effect.suspend(() => {
          let committedElsewhere: C | undefined
          const committed = (purged: C) =>
            Effect.sync(() => {
              if (!recordedWith) committedElsewhere = purged
            })
          return Effect.flatMap(
            Effect.either(journal.owning(runId)(attempt(committed))),
            (done): Effect.Effect<Either.Either<A, Failed<E | RetentionStoreError, C>>, SweepLockLost> =>
              Either.isRight(done) ? Effect.succeed(Either.right(done.right))
              : isLockLost(done.left) ? Effect.fail(done.left)
              : Effect.succeed(Either.left({ error: done.left, committed: committedElsewhere }))
          )
        })
      return {
        recordedWith,
        inJournal,
        purgeBatch: (tenant: TenantId, batch: PurgeBatch) => apart(target.purgeBatch(tenant, batch)),
        purgeTenants: purgeTenants === undefined
          ? undefined
          : (tenants: ReadonlyArray<TenantCutoff>, batch: PurgeTenantsBatch) => apart(purgeTenants(tenants, batch)),
        dropIfOnly: partitions === undefined
          ? undefined
          : (partition: TimePartition, tenants: ReadonlySet<TenantId>) => apart(partitions.dropIfOnly(partition, tenants))
      }
    }

    // Entries left open by sweeps cut short, given what `journal.unfinished` read: per tenant, in
    // one transaction that checks this run still owns the journal (`journal.owning`), their
    // receipts (one append) and the journal statements closing them (one per run and category). A
    // run that lost the lock stops here with `SweepLockLost`, before any receipt.
    const recover = (runId: string, unfinished: ReadonlyArray<SweepEntry>) =>
      Effect.gen(function*() {
        const recovered: Array<SweepEntry> = []
        const failures: Array<SweepFailure> = []
        if (unfinished.length === 0) return { recovered, failures }
        const now = yield* Clock.currentTimeMillis
        const done = yield* Effect.forEach(
          groupBy(unfinished, (entry) => entry.tenantId),
          ([tenant, entries]) =>
            audit.appendAll(
              tenant,
              entries.map((entry) =>
                receipt(actor, { ...entry, count: entry.purged }, {
                  partitionsDropped: entry.partitions,
                  complete: false,
                  recovered: true
                })
              )
            ).pipe(
              Effect.zipRight(Effect.forEach(
                groupBy(entries, (entry) => `${entry.runId}/${entry.category}`),
                ([, closing]) =>
                  journal.close({
                    runId: closing[0]!.runId,
                    category: closing[0]!.category,
                    outcomes: closing.map((entry) => ({ tenant: entry.tenantId, complete: false })),
                    at: new Date(now),
                    forgetBefore: forgetBefore(now)
                  }),
                { discard: true }
              )),
              journal.owning(runId),
              Effect.as(entries),
              Effect.catchIf(
                (error): error is Exclude<typeof error, SweepLockLost> => error._tag !== "SweepLockLost",
                (error) =>
                  Effect.sync(() => {
                    for (const entry of entries) failures.push({ category: entry.category, tenant: entry.tenantId, error })
                    return []
                  })
              )
            ),
          { concurrency: 16 }
        )
        recovered.push(...done.flat())
        return { recovered, failures }
      })

    // `locked` (absent in a dry run) is the sweep lock being taken: the sweep's first reads run
    // beside it, and nothing is written before it is held.
    const sweep = <E = never>(runId: string, sweepOptions: SweepOptions, locked: Effect.Effect<void, E> | undefined) =>
      Effect.gen(function*() {
        const dryRun = locked === undefined
        const at = new Date(yield* Clock.currentTimeMillis)
        const allTargets = yield* registry.targets
        const targets = sweepOptions.categories === undefined
          ? allTargets
          : allTargets.filter((target) => sweepOptions.categories!.includes(target.id))
        const wanted = sweepOptions.tenants === undefined ? undefined : new Set(sweepOptions.tenants)
        const failures: Array<SweepFailure> = []
        const results: Array<CategorySweep> = []

        // The lock, then recovery, run beside the first reads of the sweep: the entries left open
        // are read once the lock is held (before, they may be those of the sweep holding it) and
        // before the sweep writes anything (a failure to read them fails the sweep, as it always
        // did), and their receipts are appended before any receipt of this run.
        const unfinished = locked === undefined ? undefined : yield* Effect.fork(Effect.zipRight(locked, journal.unfinished))
        const recovery = unfinished === undefined
          ? undefined
          : yield* Effect.fork(Effect.flatMap(Fiber.join(unfinished), (entries) => recover(runId, entries)))
        const ready: Effect.Effect<void, E | RetentionStoreError> = unfinished === undefined
          ? Effect.void
          : Effect.asVoid(Fiber.join(unfinished))
        const recovered: Array<SweepEntry> = []
        let recoveryJoined = recovery === undefined
        const recoveredFirst: Effect.Effect<void, E | RetentionStoreError | SweepLockLost> = Effect.suspend(() => {
          if (recoveryJoined) return Effect.void
          return Effect.map(Fiber.join(recovery!), (done) => {
            if (recoveryJoined) return
            recoveryJoined = true
            recovered.push(...done.recovered)
            failures.push(...done.failures)
          })
        })

        // Each tenant's policies and holds, read once per run to plan it, many tenants a read.
        const states = new Map<TenantId, TenantState>()
        const load = (tenants: ReadonlyArray<TenantId>) =>
          Effect.forEach(chunks(tenants.filter((tenant) => !states.has(tenant)), 500), (chunk) =>
            Effect.map(
              Effect.all([policies.allOf(chunk), holds.activeOf(chunk)], { concurrency: 2 }),
              ([inForce, active]) => {
                for (const [tenant, state] of statesOf(chunk, inForce, active)) states.set(tenant, state)
              }
            ), { discard: true })
        const stateOf = (tenant: TenantId) =>
          Effect.suspend(() => {
            const known = states.get(tenant)
            return known ? Effect.succeed(known) : Effect.zipRight(load([tenant]), Effect.sync(() => states.get(tenant)!))
          })

        const cutoffOf = (policy: Policy) => cutoffAt(at.getTime(), policy.period)

        for (const target of targets) {
          const swept = yield* sweepCategory(target, {
            dryRun,
            at,
            runId,
            wanted,
            load,
            stateOf,
            current,
            cutoffOf,
            allTargets,
            ready,
            recoveredFirst
          })
          results.push(...swept.results)
          failures.push(...swept.failures)
        }
        yield* recoveredFirst
        return { runId, at, dryRun, categories: results, recovered, failures } satisfies SweepResult
      })

    // Each tenant's policies and holds as read.
    const statesOf = (
      tenants: ReadonlyArray<TenantId>,
      inForce: ReadonlyMap<TenantId, ReadonlyArray<Policy>>,
      active: ReadonlyMap<TenantId, ReadonlyArray<LegalHold>>
    ) =>
      new Map<TenantId, TenantState>(tenants.map((tenant) => [tenant, {
        policies: new Map((inForce.get(tenant) ?? []).map((policy) => [policy.category, policy])),
        holds: active.get(tenant) ?? []
      }]))

    // The tenants' policies and holds as they are now, for one batch or one partition drop (all
    // its tenants in one read each), and `use`, the batch, run with them. The policies are read by
    // `withAllOf`, then the holds by `withActiveOf`: `use` sees every policy whose `set` has returned
    // and every hold whose `place` has; in the journal's transaction (or in memory) a `set` and a
    // `place` wait for it. On SQL both reads take one shared lock (the second takes it again, at no
    // cost), so the batch waits for no other lock between them.
    const current = <A, E>(
      tenants: ReadonlyArray<TenantId>,
      use: (states: ReadonlyMap<TenantId, TenantState>) => Effect.Effect<A, E>
    ) =>
      policies.withAllOf(
        tenants,
        (inForce) => holds.withActiveOf(tenants, (active) => use(statesOf(tenants, inForce, active)))
      )

    interface Run<E = unknown> {
      readonly dryRun: boolean
      readonly at: Date
      readonly runId: string
      readonly wanted: ReadonlySet<TenantId> | undefined
      readonly load: (tenants: ReadonlyArray<TenantId>) => Effect.Effect<void, RetentionStoreError>
      /** A tenant's policies and holds as read to plan the run. */
      readonly stateOf: (tenant: TenantId) => Effect.Effect<TenantState, RetentionStoreError>
      /** The tenants' policies and holds as a batch or a drop starts, and the batch. */
      readonly current: typeof current
      readonly cutoffOf: (policy: Policy) => Date | undefined
      readonly allTargets: ReadonlyArray<RetentionTarget>
      /** Waits for the lock and the journal's open entries: before the run's first write. */
      readonly ready: Effect.Effect<void, E | RetentionStoreError>
      /** Waits for the receipts of those entries: before the run's first receipt. */
      readonly recoveredFirst: Effect.Effect<void, E | RetentionStoreError | SweepLockLost>
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

    // A run's work on one category: whole partitions first, then the tenants' batches in turn,
    // then the receipts (appended together) and one journal statement closing them.
    const sweepCategory = <E>(target: RetentionTarget, run: Run<E>) =>
      Effect.gen(function*() {
        const failures: Array<SweepFailure> = []
        const keyOf = (tenant: TenantId): EntryKey => ({ runId: run.runId, tenant, category: target.id })
        const dropped = new Map<TenantId, { purged: number; partitions: number }>()
        // Tenants whose every record was in the partitions dropped: nothing left to purge.
        const droppedWhole = new Set<TenantId>()

        // A purge and the journal's record of it, in one transaction when the target's storage is
        // on the journal's database (for its drops here and its batches in `purgeInTurns`);
        // otherwise the purge commits on its own database inside the journal's transaction, and
        // the record follows in it.
        const journalling = journalFor(run.runId, target)
        const { inJournal, recordedWith } = journalling

        // The tenants that may lose a partition whole, with their cut-offs: swept by this run, with
        // a finite policy whose cut-off the whole partition is before, and no hold on this category.
        const droppableIn = (partition: TimePartition, state: TenantState) => {
          const cutoff = run.cutoffOf(state.policies.get(target.id)!)
          if (cutoff === undefined || cutoff.getTime() < partition.to.getTime()) return undefined
          const held = scopeOf(state.holds, target.id, run.allTargets)
          return !held.whole && held.subjects.size === 0 ? cutoff : undefined
        }
        // As the run planned, then as the drop starts (`run.current`): a hold placed or a policy
        // lengthened since keeps the partition.
        const droppableBy = (partition: TimePartition, tenants: ReadonlyArray<TenantId>) =>
          Effect.gen(function*() {
            const droppable = new Map<TenantId, Date>()
            for (const tenant of tenants) {
              if (run.wanted !== undefined && !run.wanted.has(tenant)) continue
              const cutoff = droppableIn(partition, yield* run.stateOf(tenant))
              if (cutoff !== undefined) droppable.set(tenant, cutoff)
            }
            return droppable
          })
        const stillDroppable = (
          partition: TimePartition,
          planned: ReadonlyMap<TenantId, Date>,
          now: ReadonlyMap<TenantId, TenantState>
        ) => {
          const droppable = new Map<TenantId, Date>()
          for (const [tenant, before] of planned) {
            const cutoff = droppableIn(partition, now.get(tenant)!)
            if (cutoff !== undefined) droppable.set(tenant, cutoff.getTime() < before.getTime() ? cutoff : before)
          }
          return droppable
        }

        // Each expired partition goes whole if it holds records of droppable tenants only: the
        // target checks and counts them in the transaction that drops it, one statement, and the
        // journal records the drop in that transaction too when it can (`recordedWith`). A failure
        // stops the category's drops (its rows are still purged in batches); a record that fails
        // after its drop committed is reported, and the drop still counted in the receipts.
        const failed = (error: SweepFailure["error"]) => Effect.sync(() => void failures.push({ category: target.id, error }))
        const dropPartitions = (
          dropIfOnly: Partitions["dropIfOnly"],
          expired: ReadonlyArray<TimePartition>,
          tenants: ReadonlyArray<TenantId>
        ) =>
          Effect.gen(function*() {
            for (const partition of expired) {
              const planned = yield* droppableBy(partition, tenants)
              yield* run.ready
              // `committed` notes a drop on another database: gone whatever becomes of the journal's
              // transaction, it counts in the receipts.
              const dropAndRecord = (
                droppable: ReadonlyMap<TenantId, Date>,
                committed: (census: ReadonlyArray<PartitionCensus>) => Effect.Effect<void>
              ) => {
                const recordOf = (census: ReadonlyArray<PartitionCensus>) =>
                  journal.record(census.map(({ records, tenant }) => ({
                    key: keyOf(tenant),
                    cutoff: droppable.get(tenant)!,
                    startedAt: run.at,
                    purged: records,
                    partitions: 1
                  })))
                // In the drop's transaction a failed record undoes the drop; after the drop's commit
                // it is reported, and the drop still counts.
                return Effect.tap(
                  dropIfOnly(partition, new Set(droppable.keys())),
                  Option.match({
                    onNone: () => Effect.void,
                    onSome: (census: ReadonlyArray<PartitionCensus>) =>
                      Effect.zipRight(
                        committed(census),
                        recordedWith ? recordOf(census) : Effect.catchTag(recordOf(census), "RetentionStoreError", failed)
                      )
                  })
                )
              }
              const done = yield* inJournal<
                Option.Option<ReadonlyArray<PartitionCensus>>,
                RetentionTargetError | RetentionStoreError,
                ReadonlyArray<PartitionCensus>
              >((committed) =>
                planned.size === 0
                  ? dropAndRecord(planned, committed)
                  : run.current([...planned.keys()], (now) => dropAndRecord(stillDroppable(partition, planned, now), committed))
              )
              if (Either.isLeft(done)) {
                if (done.left.committed !== undefined) countDrop(done.left.committed)
                return yield* failed(done.left.error)
              }
              if (Option.isSome(done.right)) countDrop(done.right.value)
            }
          })
        const countDrop = (census: ReadonlyArray<PartitionCensus>) => {
          for (const { elsewhere, records, tenant } of census) {
            const counted = dropped.get(tenant) ?? { purged: 0, partitions: 0 }
            dropped.set(tenant, { purged: counted.purged + records, partitions: counted.partitions + 1 })
            if (elsewhere) droppedWhole.delete(tenant)
            else droppedWhole.add(tenant)
          }
        }

        // The tenants with records, and their policies and holds. A category with partitions
        // lists them beside its partitions and decides its drops from them; a tenant whose every
        // record was dropped has nothing left to purge.
        const listTenants = Effect.either(
          Effect.tap(run.wanted !== undefined ? Effect.succeed([...run.wanted]) : target.tenants, run.load)
        )
        const listed = yield* (run.dryRun || target.partitions === undefined
          ? listTenants
          : Effect.gen(function*() {
            const partitions = target.partitions!
            const [expired, before] = yield* Effect.all([Effect.either(partitions.endingBefore(run.at)), listTenants], {
              concurrency: 2
            })
            if (before._tag === "Left") return before
            if (expired._tag === "Left") yield* failed(expired.left)
            else yield* dropPartitions(journalling.dropIfOnly!, expired.right, before.right)
            return Either.right(before.right.filter((tenant) => !droppedWhole.has(tenant)))
          }))
        if (listed._tag === "Left") {
          failures.push({ category: target.id, error: listed.left })
          return { results: [], failures }
        }
        const withRecords = new Set(listed.right)
        if (!run.dryRun) yield* run.ready
        const outcomes: Array<Outcome> = []
        for (const tenant of [...new Set([...listed.right, ...dropped.keys()])]) {
          const outcome = yield* Effect.either(
            planTenant(target, tenant, run, dropped.get(tenant) ?? { purged: 0, partitions: 0 })
          )
          if (outcome._tag === "Left") failures.push({ category: target.id, tenant, error: outcome.left })
          else outcomes.push(outcome.right)
        }
        if (!run.dryRun) {
          const purging = outcomes.filter((o) => o.cutoff !== undefined && !o.held.whole && withRecords.has(o.tenant))
          const purged = yield* purgeInTurns(target, run, purging, journalling)
          for (const [i, outcome] of outcomes.entries()) outcomes[i] = purged.get(outcome.tenant) ?? outcome
        }
        for (const outcome of outcomes) {
          if (outcome.failure) failures.push({ category: target.id, tenant: outcome.tenant, error: outcome.failure })
        }

        // Each tenant's receipt and the journal statement closing its entry, in one transaction that
        // checks this run still owns the journal (`journal.owning`): a run that lost the lock appends
        // no receipt for an entry the sweep that took over may recover.
        if (!run.dryRun) {
          yield* run.recoveredFirst
          const now = yield* Clock.currentTimeMillis
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
              ).pipe(
                Effect.zipRight(journal.close({
                  runId: run.runId,
                  category: target.id,
                  outcomes: [{ tenant: outcome.tenant, complete: outcome.failure === undefined }],
                  at: new Date(now),
                  forgetBefore: forgetBefore(now)
                })),
                journal.owning(run.runId),
                Effect.either,
                Effect.map((done) => [outcome, done] as const)
              ),
            { concurrency: 16 }
          )
          for (const [outcome, done] of appended) {
            if (done._tag === "Right") continue
            if (done.left._tag === "SweepLockLost") return yield* done.left
            failures.push({ category: target.id, tenant: outcome.tenant, error: done.left })
          }
        }

        // Built from values typed and checked above: no need to validate them again.
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
          }, true)
        )
        return { results, failures }
      }).pipe(Effect.withSpan("Sweeper.sweepCategory", { captureStackTrace: false, attributes: { category: target.id, dryRun: run.dryRun } }))

    // A tenant's policy, cut-off and holds for the category; in a dry run, what a sweep would
    // purge now and what holds keep.
    const planTenant = (
      target: RetentionTarget,
      tenant: TenantId,
      run: Run,
      dropped: { readonly purged: number; readonly partitions: number }
    ) =>
      Effect.gen(function*(): Effect.fn.Return<Outcome, RetentionTargetError | RetentionStoreError> {
        const state = yield* run.stateOf(tenant)
        const policy = state.policies.get(target.id)!
        const cutoff = run.cutoffOf(policy)
        const held = scopeOf(state.holds, target.id, run.allTargets)
        const base = { tenant, policy, cutoff, held, purged: dropped.purged, partitions: dropped.partitions }
        if (cutoff === undefined || !run.dryRun) return base
        const everything = yield* target.count(tenant, { cutoff, excludeSubjects: new Set<SubjectId>() })
        const purgeable = held.whole
          ? 0
          : held.subjects.size === 0
          ? everything
          : yield* target.count(tenant, { cutoff, excludeSubjects: held.subjects })
        return { ...base, purged: purgeable, heldCount: everything - purgeable }
      }).pipe(
        Effect.withSpan("Sweeper.planTenant", {
          captureStackTrace: false,
          attributes: { tenant, category: target.id, dryRun: run.dryRun }
        })
      )

    // The tenants' expired records, one batch per tenant in turn: every tenant's oldest rows
    // go first, so consecutive batches work on the same stretch of the table (rows written in
    // the same period) instead of walking the whole table once per tenant. Each committed
    // batch is journalled before the next starts; a tenant whose batch fails stops there.
    //
    // Tenants none of whose subjects is held go together when the target can (`purgeTenants`):
    // one statement takes the oldest expired rows of all of them at their own cut-offs, as a
    // plain batched DELETE by time would, each batch from where the previous one stopped, and
    // each tenant's share is journalled.
    //
    // Each batch reads its tenants' policies and holds again as it starts (`run.current`), so a
    // hold placed or a policy lengthened during the purge reaches the batches after it: a tenant
    // now held whole, or kept forever, stops; one with a subject now held goes on alone without
    // that subject's records; a longer period applies from that batch on (a shorter one, from the
    // next sweep: the cut-off never moves later within a run).
    const purgeInTurns = (
      target: RetentionTarget,
      run: Run,
      planned: ReadonlyArray<Outcome>,
      { inJournal, purgeBatch, purgeTenants, recordedWith }: ReturnType<typeof journalFor>
    ) =>
      Effect.gen(function*() {
        const outcomes = new Map(planned.map((outcome) => [outcome.tenant, outcome]))
        // What a committed batch adds to a tenant's journal entry.
        const journalled = ({ cutoff, tenant }: Outcome, purged: number) => ({
          key: { runId: run.runId, tenant, category: target.id },
          cutoff: cutoff!,
          startedAt: run.at,
          purged,
          partitions: 0
        })
        // Each batch and its record in one transaction of the journal's database that found the run
        // still owning the journal (`inJournal`; `SweepLockLost` otherwise): the batch joins it when
        // the target's storage is on that database (a batch whose record fails is then undone);
        // otherwise the batch commits on its own database inside it, and the record follows.
        // The record of a batch that purged something. In the batch's transaction a failed record
        // undoes the batch; after the batch's commit (a target on another database) the batch still
        // counts, in the receipt, and the failed record, returned, stops its tenants.
        const recordOf = (work: ReadonlyArray<Work>): Effect.Effect<RetentionStoreError | undefined, RetentionStoreError> =>
          work.length === 0
            ? Effect.succeed(undefined)
            : recordedWith
            ? Effect.as(journal.record(work), undefined)
            : Effect.catchTag(Effect.as(journal.record(work), undefined), "RetentionStoreError", Effect.succeed)
        // A tenant's outcome as a batch starts, given its policy and holds now, and what the batch
        // may purge of it: nothing when it is now held whole or kept forever. The receipt names the
        // cut-off and period of its last batch, and the holds its last batch saw.
        const refresh = (tenant: TenantId, now: TenantState): { readonly outcome: Outcome; readonly cutoff?: Date } => {
          const outcome = outcomes.get(tenant)!
          const policy = now.policies.get(target.id)!
          const cutoff = run.cutoffOf(policy)
          const held = scopeOf(now.holds, target.id, run.allTargets)
          const refreshed: Outcome = cutoff !== undefined && cutoff.getTime() < outcome.cutoff!.getTime()
            ? { ...outcome, policy, cutoff, held }
            : { ...outcome, held }
          outcomes.set(tenant, refreshed)
          return cutoff === undefined || held.whole ? { outcome: refreshed } : { outcome: refreshed, cutoff: refreshed.cutoff! }
        }
        const failedWith = (tenants: ReadonlyArray<TenantId>, failure: Outcome["failure"]) => {
          for (const tenant of tenants) outcomes.set(tenant, { ...outcomes.get(tenant)!, failure })
        }
        const counted = (purged: Iterable<readonly [TenantId, number]>) => {
          for (const [tenant, n] of purged) {
            const outcome = outcomes.get(tenant)
            if (outcome !== undefined) outcomes.set(tenant, { ...outcome, purged: outcome.purged + n })
          }
        }
        // A batch whose journal transaction failed (its commit, say): what it committed on another
        // database is purged all the same, and counts in the receipt.
        const failedAfter = (
          tenants: ReadonlyArray<TenantId>,
          { committed, error }: Failed<Outcome["failure"], ReadonlyMap<TenantId, number>>
        ) => {
          if (committed !== undefined) counted(committed)
          failedWith(tenants, error)
        }

        const together = purgeTenants !== undefined
          ? planned.filter((outcome) => outcome.held.subjects.size === 0).map((outcome) => outcome.tenant)
          : []
        // Tenants that left the group for a subject held since: they go on alone.
        const leaving: Array<TenantId> = []
        if (together.length >= 2) {
          // Each batch goes on where the previous one stopped; a tenant with nothing left leaves.
          let active = together
          let after: Date | undefined
          while (active.length > 0) {
            const started = yield* Clock.currentTimeMillis
            const attempt = yield* inJournal((committed: (purged: ReadonlyMap<TenantId, number>) => Effect.Effect<void>) =>
              run.current(active, (now) => {
                const going: Array<Outcome> = []
                const alone: Array<TenantId> = []
                for (const tenant of active) {
                  const { cutoff, outcome } = refresh(tenant, now.get(tenant)!)
                  if (cutoff === undefined) continue
                  if (outcome.held.subjects.size > 0) alone.push(tenant)
                  else going.push(outcome)
                }
                const batch = going.length === 0 ? Effect.succeed(undefined) : Effect.flatMap(
                  Effect.tap(
                    purgeTenants!(going.map(({ cutoff, tenant }) => ({ tenant, cutoff: cutoff! })), { limit: batchSize, after }),
                    (batch) => committed(batch.purged)
                  ),
                  (batch) =>
                    Effect.map(
                      recordOf(going.flatMap((outcome) => {
                        const purged = batch.purged.get(outcome.tenant) ?? 0
                        return purged === 0 ? [] : [journalled(outcome, purged)]
                      })),
                      (unrecorded) => ({ ...batch, unrecorded })
                    )
                )
                return Effect.map(batch, (batch) => ({ batch, going, alone }))
              })
            )
            if (Either.isLeft(attempt)) {
              failedAfter(active, attempt.left)
              break
            }
            const { alone, batch, going } = attempt.right
            leaving.push(...alone)
            if (batch === undefined) break
            counted(batch.purged)
            if (batch.unrecorded !== undefined) {
              failedWith(going.map(({ tenant }) => tenant), batch.unrecorded)
              break
            }
            if (!batch.more) break
            active = going.map(({ tenant }) => tenant).filter((tenant) => !batch.exhausted.has(tenant))
            after = batch.reached
            if (active.length > 0) yield* rest((yield* Clock.currentTimeMillis) - started)
          }
        }
        let turn = together.length >= 2
          ? [...planned.map(({ tenant }) => tenant).filter((tenant) => !together.includes(tenant)), ...leaving]
          : planned.map(({ tenant }) => tenant)
        while (turn.length > 0) {
          const next: Array<TenantId> = []
          for (const [i, tenant] of turn.entries()) {
            const started = yield* Clock.currentTimeMillis
            const attempt = yield* inJournal((committed: (purged: ReadonlyMap<TenantId, number>) => Effect.Effect<void>) =>
              run.current([tenant], (now) => {
                const { cutoff, outcome } = refresh(tenant, now.get(tenant)!)
                if (cutoff === undefined) return Effect.succeed(undefined)
                return Effect.flatMap(
                  Effect.tap(
                    purgeBatch(tenant, { cutoff, limit: batchSize, excludeSubjects: outcome.held.subjects }),
                    (batch) => committed(new Map([[tenant, batch.purged]]))
                  ),
                  (batch) =>
                    Effect.map(
                      recordOf(batch.purged === 0 ? [] : [journalled(outcome, batch.purged)]),
                      (unrecorded) => ({ ...batch, unrecorded })
                    )
                )
              })
            )
            if (Either.isLeft(attempt)) {
              failedAfter([tenant], attempt.left)
              continue
            }
            if (attempt.right === undefined) continue
            const outcome = outcomes.get(tenant)!
            outcomes.set(tenant, { ...outcome, purged: outcome.purged + attempt.right.purged })
            if (attempt.right.unrecorded !== undefined) failedWith([tenant], attempt.right.unrecorded)
            else if (attempt.right.more) next.push(tenant)
            if (next.length > 0 || i < turn.length - 1) yield* rest((yield* Clock.currentTimeMillis) - started)
          }
          turn = next
        }
        return outcomes
      }).pipe(
        Effect.withSpan("Sweeper.purgeInTurns", {
          captureStackTrace: false,
          attributes: { category: target.id, tenants: planned.length }
        })
      )

    // Checked before any lock, read or write (the registry is read in memory).
    const checked = (given: SweepOptions) =>
      Effect.flatMap(
        Effect.suspend(() => checkOptions(given)),
        (options) => Effect.flatMap(registry.targets, (targets) => checkCategories(options, targets))
      )

    return Sweeper.of({
      sweep: (given = {}) =>
        Effect.flatMap(checked(given), (sweepOptions) =>
          sweepOptions.dryRun === true
          ? sweep(randomUUID(), sweepOptions, undefined)
          : Effect.scoped(Effect.gen(function*() {
            const runId = randomUUID()
            // Taken in a fibre of its own, released when the sweep's scope closes (after the
            // fibre is done, whatever becomes of the sweep).
            const locking = yield* Effect.fork(journal.lock(runId))
            const locked = Effect.flatMap(Fiber.join(locking), (taken) => taken ? Effect.void : new SweepAlreadyRunning())
            return yield* Effect.ensuring(sweep(runId, sweepOptions, locked), Fiber.await(locking))
          }))).pipe(Effect.withSpan("Sweeper.sweep", {
            captureStackTrace: false,
            attributes: { dryRun: typeof given === "object" && given !== null && given.dryRun === true }
          })),
      dryRun: (given = {}) =>
        Effect.flatMap(checked(given), (sweepOptions) =>
          sweep(randomUUID(), { ...sweepOptions, dryRun: true }, undefined)).pipe(
          // A dry run takes no lock and writes nothing: it cannot lose the lock.
          Effect.catchTag("SweepLockLost", Effect.die),
          Effect.withSpan("Sweeper.dryRun", { captureStackTrace: false })
        )
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
 * Sweeps now and then on `schedule`, forever: a sweep that fails, dies or
 * finds another one running is logged, and the next one runs on time.
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
      // A defect (a target breaking its contract) ends that sweep, not the ones to come. Logged by
      // its kind only: its message may quote a record.
      Effect.catchAllDefect((defect) =>
        Effect.logError("Retention sweep died", defect instanceof Error ? defect.name : typeof defect)
      ),
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
