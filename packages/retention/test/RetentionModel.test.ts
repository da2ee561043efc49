/**
 * Model-based: any sequence of writes, policy changes, holds, releases, clock
 * moves and sweeps (whole, failing after k batches, killed after k batches
 * and run again, or with a hold placed after k batches), on memory, PGlite
 * and PostgreSQL, compared after each step with a plain model of the rules.
 */
import { assert } from "@effect/vitest"
import type { Actor } from "@lawful/audit-trail/AuditEvent"
import * as SubjectId from "@lawful/core/SubjectId"
import * as TenantId from "@lawful/core/TenantId"
import { contractSuite } from "@lawful/core/testing"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Runtime from "effect/Runtime"
import * as TestClock from "effect/TestClock"
import * as Clock from "effect/Clock"
import * as fc from "fast-check"
import { LegalHolds } from "../src/LegalHold.js"
import { RetentionPolicies } from "../src/RetentionPolicy.js"
import type { PolicyChanges } from "../src/RetentionPolicy.js"
import { Sweeper } from "../src/Sweeper.js"
import { SweepJournal } from "../src/SweepJournal.js"
import type { SweepResult } from "../src/Sweeper.js"
import { EVENTS, LOG, PREVIEW, TestRecords, categories, declared, memoryStack, midSweep, recordId, sqlStack } from "./fixtures.js"
import type { Category, StoredRecord } from "./fixtures.js"

const hour = 60 * 60 * 1000
const staff: Actor = { kind: "staff", id: "staff-1" }

type PeriodChoice = { readonly hours: number } | "forever" | "default"

interface ModelHold {
  readonly holdId: string
  readonly subject: number | undefined
  readonly category: Category | undefined
  active: boolean
}

interface Model {
  now: number
  readonly records: Map<number, StoredRecord>
  readonly overrides: Map<Category, number>
  readonly holds: Array<ModelHold>
}

type Services = Sweeper | RetentionPolicies | LegalHolds | SweepJournal | TestRecords

interface Real {
  readonly tenant: TenantId.TenantId
  readonly subjects: ReadonlyArray<SubjectId.SubjectId>
  readonly run: <A, E>(effect: Effect.Effect<A, E, Services>) => Promise<A>
}

// ---- the rules, written out plainly ---------------------------------------

const ms = (duration: Duration.Duration) => Duration.isFinite(duration) ? Duration.toMillis(duration) : Infinity

const periodOf = (model: Model, category: Category): number => {
  const own = model.overrides.get(category) ?? ms(declared[category].defaultPeriod)
  const parent = declared[category].parent
  return parent === undefined ? own : Math.min(own, periodOf(model, parent))
}

const isHeld = (model: Model, record: StoredRecord, subjects: ReadonlyArray<SubjectId.SubjectId>) =>
  model.holds.some((hold) =>
    hold.active &&
    (hold.subject === undefined || subjects[hold.subject] === record.subject) &&
    (hold.category === undefined || hold.category === record.category ||
      (hold.category === PREVIEW && record.category === LOG))
  )

const isExpired = (model: Model, record: StoredRecord) => record.at < model.now - periodOf(model, record.category)

/** What a sweep now purges, per category. */
const purgeable = (model: Model, subjects: ReadonlyArray<SubjectId.SubjectId>) =>
  [...model.records.values()].filter((r) => isExpired(model, r) && !isHeld(model, r, subjects))

const sweepModel = (model: Model, subjects: ReadonlyArray<SubjectId.SubjectId>) => {
  const purged = purgeable(model, subjects)
  for (const record of purged) model.records.delete(record.id)
  return countBy(purged)
}

const countBy = (records: ReadonlyArray<StoredRecord>) => {
  const counts = Object.fromEntries(categories.map((c) => [c, 0])) as Record<Category, number>
  for (const record of records) counts[record.category]++
  return counts
}

/** The refusal the rules give to `changes`, or the overrides after them. */
const decide = (model: Model, changes: ReadonlyArray<readonly [Category, PeriodChoice]>) => {
  const entries = Object.entries(Object.fromEntries(changes)) as Array<[Category, PeriodChoice]>
  const next = new Map(model.overrides)
  for (const [category, choice] of entries) {
    const rules = declared[category]
    if (choice === "default") {
      next.delete(category)
      continue
    }
    if (choice === "forever") {
      if (!rules.allowForever) return { refused: "forever-not-allowed" as const }
      next.set(category, Infinity)
      continue
    }
    if (choice.hours < 0) return { refused: "negative" as const }
    const period = choice.hours * hour
    if (period < ms(rules.minPeriod)) return { refused: "below-minimum" as const }
    if (period > ms(rules.maxPeriod)) return { refused: "over-bound" as const }
    next.set(category, period)
  }
  const raw = (category: Category) => next.get(category) ?? ms(declared[category].defaultPeriod)
  const touched = new Set(entries.map(([category]) => category))
  if ((touched.has(PREVIEW) || touched.has(LOG)) && raw(PREVIEW) > raw(LOG)) return { refused: "outlives-parent" as const }
  return { overrides: next }
}

// ---- checks -----------------------------------------------------------------

const checkRecords = async (model: Model, real: Real, step: string) => {
  const live = await real.run(Effect.flatMap(TestRecords, (records) => records.live(real.tenant)))
  assert.deepStrictEqual(
    live.map((r) => r.id),
    [...model.records.keys()].sort((a, b) => a - b),
    `${step}: the records left differ from the model`
  )
}

const checkCounts = (result: SweepResult, expected: Record<Category, number>, step: string) => {
  for (const category of categories) {
    const swept = result.categories.filter((c) => c.category === category).reduce((n, c) => n + c.purged, 0)
    assert.strictEqual(swept, expected[category], `${step}: ${category} purged ${swept}, the model ${expected[category]}`)
  }
}

// ---- commands ---------------------------------------------------------------

interface NewRecord {
  readonly category: Category
  readonly subject: number | undefined
  readonly backdate: number
}

class Write implements fc.AsyncCommand<Model, Real> {
  constructor(readonly records: ReadonlyArray<NewRecord>) {}
  check = () => true
  async run(model: Model, real: Real) {
    for (const { backdate, category, subject } of this.records) {
      const record: StoredRecord = {
        id: recordId(),
        category,
        subject: subject === undefined ? undefined : real.subjects[subject],
        at: model.now - backdate * hour
      }
      await real.run(Effect.flatMap(TestRecords, (records) => records.write(real.tenant, record)))
      model.records.set(record.id, record)
    }
  }
  toString = () =>
    `write(${this.records.map((r) => `${r.category}/${r.subject ?? "-"}/${r.backdate}h`).join(", ")})`
}

class SetPolicy implements fc.AsyncCommand<Model, Real> {
  constructor(readonly changes: ReadonlyArray<readonly [Category, PeriodChoice]>) {}
  check = () => true
  async run(model: Model, real: Real) {
    const input: Record<string, PolicyChanges[string]> = {}
    for (const [category, choice] of this.changes) {
      input[category] = typeof choice === "string" ? choice : `${choice.hours} hours`
    }
    const expected = decide(model, this.changes)
    const outcome = await real.run(Effect.either(Effect.flatMap(RetentionPolicies, (p) => p.set(real.tenant, input, staff))))
    if ("refused" in expected) {
      assert.isTrue(Either.isLeft(outcome), `${this}: expected a refusal (${expected.refused})`)
      const error = (outcome as Either.Left<{ _tag: string; reason?: string }, unknown>).left
      assert.strictEqual(error._tag, "RetentionPolicyInvalid")
      assert.strictEqual(error.reason, expected.refused)
    } else {
      assert.isTrue(Either.isRight(outcome), `${this}: expected success`)
      model.overrides.clear()
      for (const [category, period] of expected.overrides) model.overrides.set(category, period)
    }
    // Refused or not, the policies in force are the model's.
    const inForce = await real.run(Effect.flatMap(RetentionPolicies, (p) => p.all(real.tenant)))
    for (const policy of inForce) {
      const category = policy.category as Category
      if (!categories.includes(category)) continue
      assert.strictEqual(ms(policy.period), periodOf(model, category), `${this}: policy of ${category}`)
    }
  }
  toString = () =>
    `set(${this.changes.map(([c, p]) => `${c}=${typeof p === "string" ? p : `${p.hours}h`}`).join(", ")})`
}

class PlaceHold implements fc.AsyncCommand<Model, Real> {
  constructor(readonly subject: number | undefined, readonly category: Category | undefined) {}
  check = () => true
  async run(model: Model, real: Real) {
    const hold = await real.run(Effect.flatMap(LegalHolds, (holds) =>
      holds.place(real.tenant, {
        subject: this.subject === undefined ? undefined : real.subjects[this.subject],
        category: this.category,
        reason: "case 2026-17"
      }, staff)))
    model.holds.push({ holdId: hold.holdId, subject: this.subject, category: this.category, active: true })
  }
  toString = () => `hold(subject ${this.subject ?? "*"}, ${this.category ?? "*"})`
}

class ReleaseHold implements fc.AsyncCommand<Model, Real> {
  constructor(readonly which: number) {}
  check = (model: Readonly<Model>) => model.holds.length > 0
  async run(model: Model, real: Real) {
    const hold = model.holds[this.which % model.holds.length]!
    const released = await real.run(Effect.flatMap(LegalHolds, (holds) => holds.release(real.tenant, hold.holdId, staff)))
    assert.isFalse(released.active)
    hold.active = false
  }
  toString = () => `release(#${this.which})`
}

class Advance implements fc.AsyncCommand<Model, Real> {
  constructor(readonly hours: number) {}
  check = () => true
  async run(model: Model, real: Real) {
    await real.run(TestClock.adjust(Duration.hours(this.hours)))
    model.now += this.hours * hour
  }
  toString = () => `advance(${this.hours}h)`
}

class Sweep implements fc.AsyncCommand<Model, Real> {
  check = () => true
  async run(model: Model, real: Real) {
    const result = await real.run(Effect.flatMap(Sweeper, (s) => s.sweep({ tenants: [real.tenant] })))
    assert.deepStrictEqual(result.failures, [])
    checkCounts(result, sweepModel(model, real.subjects), "sweep")
    await checkRecords(model, real, "sweep")
  }
  toString = () => "sweep"
}

class DryRun implements fc.AsyncCommand<Model, Real> {
  check = () => true
  async run(model: Model, real: Real) {
    const result = await real.run(Effect.flatMap(Sweeper, (s) => s.dryRun({ tenants: [real.tenant] })))
    checkCounts(result, countBy(purgeable(model, real.subjects)), "dry run")
    const expired = [...model.records.values()].filter((r) => isExpired(model, r))
    const held = countBy(expired.filter((r) => isHeld(model, r, real.subjects)))
    for (const category of categories) {
      const swept = result.categories.find((c) => c.category === category)
      assert.strictEqual(swept?.held ?? 0, held[category], `dry run: held ${category}`)
    }
    await checkRecords(model, real, "dry run (nothing changes)")
  }
  toString = () => "dryRun"
}

/** A sweep whose purges fail after `k` batches, then a full one: the end state of one full sweep. */
class FailingSweep implements fc.AsyncCommand<Model, Real> {
  constructor(readonly k: number) {}
  check = () => true
  async run(model: Model, real: Real) {
    const faults = await real.run(Effect.map(TestRecords, (records) => records.faults))
    faults.batches = 0
    faults.failAfter = this.k
    const first = await real.run(Effect.flatMap(Sweeper, (s) => s.sweep({ tenants: [real.tenant] }))).finally(() => {
      faults.failAfter = undefined
    })
    assert.isTrue(first.failures.every((f) => f.error._tag === "RetentionTargetError"))
    const second = await real.run(Effect.flatMap(Sweeper, (s) => s.sweep({ tenants: [real.tenant] })))
    assert.deepStrictEqual(second.failures, [])
    const expected = sweepModel(model, real.subjects)
    for (const category of categories) {
      const total = [...first.categories, ...second.categories]
        .filter((c) => c.category === category)
        .reduce((n, c) => n + c.purged, 0)
      assert.strictEqual(total, expected[category], `failing sweep: ${category} purged in total`)
    }
    await checkRecords(model, real, `sweep failing after ${this.k} batches, then a sweep`)
  }
  toString = () => `failingSweep(after ${this.k} batches)`
}

/** A sweep interrupted after `k` committed batches, then a full one: its journal is recovered. */
class KilledSweep implements fc.AsyncCommand<Model, Real> {
  constructor(readonly k: number) {}
  check = () => true
  async run(model: Model, real: Real) {
    await real.run(this.kill(real))
    const second = await real.run(Effect.flatMap(Sweeper, (s) => s.sweep({ tenants: [real.tenant] })))
    assert.deepStrictEqual(second.failures, [])
    const open = await real.run(Effect.flatMap(SweepJournal, (journal) => journal.unfinished))
    assert.deepStrictEqual(open, [], "the killed sweep's journal entries are recovered and closed")
    sweepModel(model, real.subjects)
    await checkRecords(model, real, `sweep killed after ${this.k} batches, then a sweep`)
  }
  kill = (real: Real) => {
    const k = this.k
    return Effect.gen(function*() {
      const records = yield* TestRecords
      const sweeper = yield* Sweeper
      const reached = yield* Deferred.make<void>()
      let batches = 0
      records.faults.afterBatch = Effect.suspend(() => ++batches >= k
        ? Effect.zipRight(Deferred.succeed(reached, undefined), Effect.never)
        : Effect.void)
      const fiber = yield* Effect.fork(sweeper.sweep({ tenants: [real.tenant] }))
      yield* Effect.raceFirst(Deferred.await(reached), Effect.asVoid(Fiber.await(fiber)))
      yield* Fiber.interrupt(fiber)
      records.faults.afterBatch = Effect.void
    })
  }
  toString = () => `killedSweep(after ${this.k} batches)`
}

/**
 * Old records written, then a sweep that rests after its `k`-th batch while a hold is placed:
 * what it purged before, only the rules before the hold let go; nothing the hold covers is purged
 * after it returned; and the sweep ends as one under the new rules would, from where it was.
 */
class SweepWithHoldMidway implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly backlog: Write,
    readonly k: number,
    readonly subject: number | undefined,
    readonly category: Category | undefined
  ) {}
  check = () => true
  async run(model: Model, real: Real) {
    await this.backlog.run(model, real)
    const subject = this.subject === undefined ? undefined : real.subjects[this.subject]
    const category = this.category
    const { during: [hold, before], result } = await real.run(midSweep(
      this.k,
      Effect.flatMap(Sweeper, (s) => s.sweep({ tenants: [real.tenant] })),
      Effect.all([
        Effect.flatMap(LegalHolds, (holds) => holds.place(real.tenant, { subject, category, reason: "case 2026-18" }, staff)),
        Effect.flatMap(TestRecords, (records) => records.live(real.tenant))
      ])
    ))
    assert.deepStrictEqual(result.failures, [])
    const left = new Set(before.map((r) => r.id))
    const letGo = new Set(purgeable(model, real.subjects).map((r) => r.id))
    for (const id of model.records.keys()) {
      if (!left.has(id)) assert.isTrue(letGo.has(id), `${this}: record ${id} purged before the hold, though the rules kept it`)
    }
    const total = model.records.size
    for (const id of [...model.records.keys()]) if (!left.has(id)) model.records.delete(id)
    model.holds.push({ holdId: hold.holdId, subject: this.subject, category, active: true })
    sweepModel(model, real.subjects)
    await checkRecords(model, real, `${this}`)
    const purged = result.categories.reduce((n, c) => n + c.purged, 0)
    assert.strictEqual(purged, total - model.records.size, `${this}: the sweep's counts`)
    model.now = await real.run(Clock.currentTimeMillis)
  }
  toString = () =>
    `${this.backlog}, sweepWithHoldMidway(after ${this.k} batches: subject ${this.subject ?? "*"}, ${this.category ?? "*"})`
}

const periodChoice: fc.Arbitrary<PeriodChoice> = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 60 }).map((hours) => ({ hours })) },
  { weight: 1, arbitrary: fc.integer({ min: -5, max: -1 }).map((hours) => ({ hours })) },
  { weight: 1, arbitrary: fc.integer({ min: 49, max: 300 }).map((hours) => ({ hours })) },
  { weight: 1, arbitrary: fc.constant("forever" as const) },
  { weight: 1, arbitrary: fc.constant("default" as const) }
)

const category = fc.constantFrom(...categories)
const subject = fc.option(fc.nat({ max: 2 }), { nil: undefined })

const newRecord: fc.Arbitrary<NewRecord> = fc.record({
  category,
  subject,
  backdate: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 100 }))
})

const write = fc.array(newRecord, { minLength: 1, maxLength: 6 }).map((records) => new Write(records))

// Records old enough to need a few batches of their own.
const backlog = fc.array(fc.record({ category, subject, backdate: fc.integer({ min: 20, max: 100 }) }), {
  minLength: 3,
  maxLength: 9
}).map((records) => new Write(records))

const commands = [
  write,
  write,
  write,
  fc.array(fc.tuple(category, periodChoice), { minLength: 1, maxLength: 2 }).map((changes) => new SetPolicy(changes)),
  fc.array(fc.tuple(category, periodChoice), { minLength: 1, maxLength: 2 }).map((changes) => new SetPolicy(changes)),
  fc.tuple(subject, fc.option(category, { nil: undefined })).map(([s, c]) => new PlaceHold(s, c)),
  fc.nat().map((n) => new ReleaseHold(n)),
  fc.integer({ min: 1, max: 30 }).map((hours) => new Advance(hours)),
  fc.integer({ min: 1, max: 30 }).map((hours) => new Advance(hours)),
  fc.constant(new Sweep()),
  fc.constant(new DryRun()),
  fc.integer({ min: 0, max: 4 }).map((k) => new FailingSweep(k)),
  fc.integer({ min: 1, max: 4 }).map((k) => new KilledSweep(k)),
  fc.tuple(backlog, fc.integer({ min: 1, max: 3 }), subject, fc.option(category, { nil: undefined })).map(([w, k, s, c]) =>
    new SweepWithHoldMidway(w, k, s, c)
  )
]

const modelRun = (runs: number) =>
  Effect.gen(function*() {
    const run = Runtime.runPromise(yield* Effect.runtime<Services>())
    yield* Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(fc.commands(commands, { maxCommands: 40, size: "+1" }), async (cmds) => {
          // Each run starts on fresh days, so its day partitions hold its own tenant only.
          await run(TestClock.adjust(Duration.days(30)))
          const tenant = await run(TenantId.make)
          const subjects = await run(Effect.all([SubjectId.make, SubjectId.make, SubjectId.make]))
          const now = await run(Clock.currentTimeMillis)
          await fc.asyncModelRun(
            () => ({
              model: { now, records: new Map(), overrides: new Map(), holds: [] },
              real: { tenant, subjects, run }
            }),
            [...cmds, new Sweep()]
          )
        }),
        { numRuns: runs }
      )
    )
  })

contractSuite("Retention (model-based)", { memory: memoryStack, sql: sqlStack }, (it, backend) => {
  it.effect(
    "after a sweep at T nothing unheld outlives its policy and nothing within its policy or held is purged; interrupted sweeps end the same; a hold placed mid-sweep keeps what it covers from the batches after it; invalid policies change nothing",
    () => modelRun(backend === "memory" ? 60 : 25),
    { timeout: 600_000 }
  )
})
