import { assert } from "@effect/vitest"
import { contractSuite } from "@lawful/core/testing"
import type { SubjectId } from "@lawful/core/SubjectId"
import type { TenantId } from "@lawful/core/TenantId"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Runtime from "effect/Runtime"
import * as TestClock from "effect/TestClock"
import * as fc from "fast-check"
import { ConsentLedger } from "../src/ConsentLedger.js"
import type * as ConsentState from "../src/ConsentState.js"
import * as ConsentStore from "../src/ConsentStore.js"
import { confirm, grant, lists, tenantWithLists, withdraw } from "./fixtures.js"
import { memory, sql } from "./layers.js"
import type { Services } from "./layers.js"

// The model: a plain Map per subject of list -> { status, since, eventId }, moved by the
// rules written out again here (not the library's), plus every state each subject went through.

type Status = ConsentState.Status
interface ListModel {
  readonly status: Status
  readonly since: number
  readonly eventId: string
}
type SubjectModel = Map<string, ListModel>

interface Model {
  now: number
  events: number
  readonly subjects: Map<number, SubjectModel>
  readonly history: Map<number, Array<{ readonly time: number; readonly states: SubjectModel }>>
}

interface Real {
  readonly tenant: TenantId
  readonly run: <A, E>(effect: Effect.Effect<A, E, Services>) => Promise<A>
  readonly ids: Map<number, SubjectId>
}

const doubleOptIn = new Set(lists.filter((list) => list.doubleOptIn).map((list) => list.id as string))
const emailOf = (subject: number) => `person.${subject}@example.com`

const snapshot = (states: SubjectModel | undefined) =>
  Object.fromEntries([...(states ?? new Map<string, ListModel>())].sort(([a], [b]) => (a < b ? -1 : 1)))

const realSnapshot = (states: ReadonlyArray<ConsentState.ListState>) =>
  Object.fromEntries(states.map((s) => [s.list, { status: s.status, since: s.since.getTime(), eventId: s.eventId }]))

const remember = (model: Model, subject: number) => {
  const history = model.history.get(subject) ?? []
  history.push({ time: model.now, states: new Map(model.subjects.get(subject) ?? []) })
  model.history.set(subject, history)
}

const apply = (model: Model, subject: number, eventId: string, change: (current: Status | undefined, list: string) => Status | undefined, listIds: ReadonlyArray<string>) => {
  const states = model.subjects.get(subject) ?? new Map<string, ListModel>()
  for (const list of new Set(listIds)) {
    const next = change(states.get(list)?.status, list)
    if (next !== undefined) states.set(list, { status: next, since: model.now, eventId })
  }
  model.subjects.set(subject, states)
  model.events++
  remember(model, subject)
}

/** Compares the subject's current state with the model. */
const checkSubject = async (model: Model, real: Real, subject: number) => {
  const id = real.ids.get(subject)
  if (id === undefined) return
  const states = await real.run(Effect.flatMap(ConsentLedger, (ledger) => ledger.stateOf(real.tenant, id)))
  assert.deepStrictEqual(realSnapshot(states), snapshot(model.subjects.get(subject)))
}

const record = (real: Real, request: Parameters<Context["record"]>[1]) =>
  real.run(Effect.either(Effect.flatMap(ConsentLedger, (ledger) => ledger.record(real.tenant, request))))

type Context = Effect.Effect.Success<typeof ConsentLedger>

class Grant implements fc.AsyncCommand<Model, Real> {
  constructor(readonly subject: number, readonly lists: ReadonlyArray<string>) {}
  check = () => true
  async run(model: Model, real: Real) {
    const result = await record(real, grant(emailOf(this.subject), this.lists))
    assert.isTrue(Either.isRight(result))
    if (Either.isLeft(result)) return
    real.ids.set(this.subject, result.right.event.subject)
    apply(model, this.subject, result.right.event.id, (current, list) =>
      !doubleOptIn.has(list) ? "granted" : current === "granted" ? undefined : "pending", this.lists)
    await checkSubject(model, real, this.subject)
  }
  toString = () => `grant(${this.subject}, ${this.lists.join("+")})`
}

class Confirm implements fc.AsyncCommand<Model, Real> {
  constructor(readonly subject: number, readonly pick: ReadonlyArray<string>) {}
  check = () => true
  async run(model: Model, real: Real) {
    // Mostly confirm what is pending (as a confirmation link would); otherwise expect a refusal.
    const states = model.subjects.get(this.subject)
    const pending = [...(states ?? new Map<string, ListModel>())].filter(([, s]) => s.status === "pending").map(([l]) => l)
    const chosen = this.pick.filter((list) => pending.includes(list))
    const lists = pending.length === 0 ? this.pick : chosen.length > 0 ? chosen : pending
    const allPending = lists.every((list) => pending.includes(list))
    const result = await record(real, confirm(emailOf(this.subject), lists))
    if (!allPending) {
      assert.isTrue(Either.isLeft(result) && result.left._tag === "ConsentNotPending")
    } else {
      assert.isTrue(Either.isRight(result))
      if (Either.isRight(result)) {
        apply(model, this.subject, result.right.event.id, (current) => (current === "pending" ? "granted" : undefined), lists)
      }
    }
    await checkSubject(model, real, this.subject)
  }
  toString = () => `confirm(${this.subject}, ${this.pick.join("+")})`
}

class Withdraw implements fc.AsyncCommand<Model, Real> {
  constructor(readonly subject: number, readonly lists: ReadonlyArray<string>) {}
  check = () => true
  async run(model: Model, real: Real) {
    const result = await record(real, withdraw(emailOf(this.subject), this.lists))
    assert.isTrue(Either.isRight(result))
    if (Either.isLeft(result)) return
    real.ids.set(this.subject, result.right.event.subject)
    apply(model, this.subject, result.right.event.id, () => "withdrawn", this.lists)
    await checkSubject(model, real, this.subject)
  }
  toString = () => `withdraw(${this.subject}, ${this.lists.join("+")})`
}

/** Grants and withdrawals of one subject at once: they share a batch, applied in recording order. */
class Burst implements fc.AsyncCommand<Model, Real> {
  constructor(readonly subject: number, readonly ops: ReadonlyArray<{ readonly grant: boolean; readonly lists: ReadonlyArray<string> }>) {}
  check = () => true
  async run(model: Model, real: Real) {
    const email = emailOf(this.subject)
    const results = await real.run(Effect.flatMap(ConsentLedger, (ledger) =>
      Effect.forEach(this.ops, (op) => ledger.record(real.tenant, op.grant ? grant(email, op.lists) : withdraw(email, op.lists)), {
        concurrency: "unbounded"
      })))
    const subject = results[0]!.event.subject
    real.ids.set(this.subject, subject)
    const ids = new Set(results.map((r) => r.event.id))
    const events = await real.run(Effect.flatMap(ConsentLedger, (ledger) =>
      ledger.events(real.tenant, { subject, limit: 10_000 })))
    for (const { event } of events.filter((e) => ids.has(e.event.id))) {
      apply(model, this.subject, event.id, (current, list) =>
        event.kind === "withdrawn" ? "withdrawn" : !doubleOptIn.has(list) ? "granted" : current === "granted" ? undefined : "pending", event.lists)
    }
    await checkSubject(model, real, this.subject)
  }
  toString = () => `burst(${this.subject}, ${this.ops.map((op) => `${op.grant ? "grant" : "withdraw"} ${op.lists.join("+")}`).join(", ")})`
}

class Invalid implements fc.AsyncCommand<Model, Real> {
  constructor(readonly subject: number, readonly problem: "unknown-list" | "missing-source" | "malformed-ip") {}
  check = () => true
  async run(model: Model, real: Real) {
    const base = grant(emailOf(this.subject), ["news"])
    const { source: _, ...withoutSource } = base
    const request = this.problem === "unknown-list"
      ? grant(emailOf(this.subject), ["news", "undeclared"])
      : this.problem === "missing-source"
      ? withoutSource as typeof base
      : grant(emailOf(this.subject), ["news"], { ip: "10.0.0.300" })
    const result = await record(real, request)
    const expected = { "unknown-list": "UnknownList", "missing-source": "ConsentRequestInvalid", "malformed-ip": "IpAddressInvalid" }
    assert.isTrue(Either.isLeft(result) && result.left._tag === expected[this.problem])
    const count = await real.run(
      Effect.flatMap(ConsentLedger, (ledger) => ledger.events(real.tenant, { limit: 10_000 }))
    )
    assert.strictEqual(count.length, model.events)
    await checkSubject(model, real, this.subject)
  }
  toString = () => `invalid(${this.subject}, ${this.problem})`
}

class Tick implements fc.AsyncCommand<Model, Real> {
  constructor(readonly millis: number) {}
  check = () => true
  async run(model: Model, real: Real) {
    await real.run(TestClock.adjust(this.millis))
    model.now += this.millis
  }
  toString = () => `tick(${this.millis})`
}

class StateAt implements fc.AsyncCommand<Model, Real> {
  constructor(readonly subject: number, readonly fraction: number) {}
  check = (model: Readonly<Model>) => (model.history.get(this.subject)?.length ?? 0) > 0
  async run(model: Model, real: Real) {
    const history = model.history.get(this.subject)!
    const first = history[0]!.time - 1
    const at = Math.round(first + (model.now - first) * this.fraction)
    const expected = [...history].reverse().find((h) => h.time <= at)?.states
    const states = await real.run(
      Effect.flatMap(ConsentLedger, (ledger) => ledger.stateAt(real.tenant, real.ids.get(this.subject)!, new Date(at)))
    )
    assert.deepStrictEqual(realSnapshot(states), snapshot(expected), `state at ${at}`)
  }
  toString = () => `stateAt(${this.subject}, ${this.fraction.toFixed(2)})`
}

class Erase implements fc.AsyncCommand<Model, Real> {
  constructor(readonly subject: number) {}
  check = (model: Readonly<Model>) => model.subjects.has(this.subject)
  async run(model: Model, real: Real) {
    const id = real.ids.get(this.subject)!
    const erased = await real.run(Effect.flatMap(ConsentLedger, (ledger) => ledger.erase(real.tenant, id)))
    assert.strictEqual(erased, model.history.get(this.subject)!.length)
    model.events -= erased
    model.subjects.delete(this.subject)
    model.history.delete(this.subject)
    await checkSubject(model, real, this.subject)
  }
  toString = () => `erase(${this.subject})`
}

/** The stored projection equals the replay of all events, and a rebuild gives it back. */
class CheckProjection implements fc.AsyncCommand<Model, Real> {
  check = () => true
  async run(model: Model, real: Real) {
    const projection = () =>
      real.run(Effect.flatMap(ConsentStore.ConsentStore, (store) => store.projection(real.tenant, undefined, 10_000)))
    const stored = await projection()
    const expected = [...model.subjects].flatMap(([subject, states]) =>
      [...states].map(([list, state]) => ({ subject: real.ids.get(subject)!, list, ...state }))
    ).sort((a, b) => (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : a.list < b.list ? -1 : 1))
    const actual = stored.map((s) => ({ subject: s.subject, list: s.list, status: s.status, since: s.since.getTime(), eventId: s.eventId }))
    assert.deepStrictEqual(actual, expected)
    const count = await real.run(Effect.flatMap(ConsentLedger, (ledger) => ledger.rebuildProjection(real.tenant)))
    assert.strictEqual(count, expected.length)
    assert.deepStrictEqual(await projection(), stored)
  }
  toString = () => "checkProjection"
}

const subjects = fc.nat({ max: 1 })
const listSets = fc.subarray(lists.map((list) => list.id as string), { minLength: 1 })

const commands = [
  fc.tuple(subjects, listSets).map(([s, l]) => new Grant(s, l)),
  fc.tuple(subjects, listSets).map(([s, l]) => new Confirm(s, l)),
  fc.tuple(subjects, listSets).map(([s, l]) => new Withdraw(s, l)),
  fc.tuple(subjects, fc.array(fc.record({ grant: fc.boolean(), lists: listSets }), { minLength: 2, maxLength: 6 }))
    .map(([s, ops]) => new Burst(s, ops)),
  fc.tuple(subjects, fc.constantFrom("unknown-list" as const, "missing-source" as const, "malformed-ip" as const))
    .map(([s, p]) => new Invalid(s, p)),
  fc.constantFrom(0, 1, 250, 60_000).map((ms) => new Tick(ms)),
  fc.tuple(subjects, fc.double({ min: 0, max: 1, noNaN: true })).map(([s, f]) => new StateAt(s, f)),
  subjects.map((s) => new Erase(s)),
  fc.constant(new CheckProjection())
]

const modelRun = (runs: number) =>
  Effect.gen(function*() {
    const run = Runtime.runPromise(yield* Effect.runtime<Services>())
    yield* Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(fc.commands(commands, { maxCommands: 40, size: "max" }), async (cmds) => {
          const tenant = await run(tenantWithLists)
          const now = await run(Clock.currentTimeMillis)
          await fc.asyncModelRun(
            () => ({
              model: { now, events: 0, subjects: new Map(), history: new Map() },
              real: { tenant, run, ids: new Map() }
            }),
            [...cmds, new CheckProjection()]
          )
        }),
        { numRuns: runs }
      )
    )
  })

contractSuite("ConsentLedger against a Map model", { memory, sql }, (it, backend) => {
  it.effect(
    "state after every step equals the model, state at time t equals the replay to t, the projection equals the replay",
    () => modelRun(backend === "memory" ? 60 : 15),
    { timeout: 240_000 }
  )
})
