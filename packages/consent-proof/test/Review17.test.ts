// Review 17: defects found in review, each with the test that failed before its fix. On memory,
// PGlite and PostgreSQL. The races are forced by a store that holds the ledger's calls at the
// point where the other side must come in.
import { assert } from "@effect/vitest"
import * as AuditLog from "@lawful/audit-trail/AuditLog"
import type { SubjectId } from "@lawful/core/SubjectId"
import { contractSuite } from "@lawful/core/testing"
import * as TenantId from "@lawful/core/TenantId"
import { makeAt as uuidV7At } from "@lawful/core/Uuid"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as TestClock from "effect/TestClock"
import * as ConsentLedger from "../src/ConsentLedger.js"
import * as ConsentLists from "../src/ConsentLists.js"
import * as ConsentStore from "../src/ConsentStore.js"
import { attestation, confirm, grant, importActor, recordedEvent, tenantWithLists, withdraw } from "./fixtures.js"
import { withStore } from "./layers.js"

/** Tenants whose next import batch waits, once it has read its contacts' states, until `go`. */
const heldAfterStatesRead = new Map<
  TenantId.TenantId,
  { readonly reached: Deferred.Deferred<void>; readonly go: Deferred.Deferred<void> }
>()

/** Tenants whose checked appends (confirmations) each wait at the gate: `reached` on arrival, then a `go`. */
const heldConfirmations = new Map<TenantId.TenantId, { readonly reached: Queue.Queue<void>; readonly go: Queue.Queue<void> }>()

const gatedStore = Layer.effect(
  ConsentStore.ConsentStore,
  Effect.map(ConsentStore.ConsentStore, (store) =>
    ConsentStore.ConsentStore.of({
      ...store,
      statesOfSubjects: (tenant, subjects, filter) =>
        store.statesOfSubjects(tenant, subjects, filter).pipe(
          Effect.tap(() =>
            Effect.suspend(() => {
              const held = heldAfterStatesRead.get(tenant)
              if (held === undefined) return Effect.void
              heldAfterStatesRead.delete(tenant)
              return Effect.zipRight(Deferred.succeed(held.reached, undefined), Deferred.await(held.go))
            })
          )
        ),
      append: (tenant, batch, options) =>
        Effect.suspend(() => {
          const gate = options?.checkConfirmations === true ? heldConfirmations.get(tenant) : undefined
          if (gate === undefined) return store.append(tenant, batch, options)
          return Effect.zipRight(Effect.zipRight(Queue.offer(gate.reached, undefined), Queue.take(gate.go)), store.append(tenant, batch, options))
        })
    }))
)

const { memory, sql } = withStore(gatedStore)

const outcomeOf = <A>(result: Either.Either<A, { readonly _tag: string }>) =>
  Either.isRight(result) ? "recorded" : result.left._tag

const at = (iso: string) => TestClock.setTime(new Date(iso).getTime())

contractSuite("Review 17", { memory, sql }, (it) => {
  it.effect("a withdrawal recorded while an import's batch is written wins: the row is refused as withdrawn", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger.ConsentLedger
      const log = yield* AuditLog.AuditLog
      const tenant = yield* tenantWithLists
      const email = "withdrew-meanwhile@example.com"
      yield* at("2025-03-01T00:00:00.000Z")
      const granted = yield* ledger.record(tenant, grant(email, ["news"]))
      const reached = yield* Deferred.make<void>()
      const go = yield* Deferred.make<void>()
      heldAfterStatesRead.set(tenant, { reached, go })
      const importing = yield* Effect.fork(ledger.importContacts(tenant, {
        attestation,
        lists: ["news"],
        actor: importActor,
        contacts: [{ email, consentedAt: new Date("2025-01-15T00:00:00.000Z") }]
      }))
      // The import read the contact granted; the withdrawal commits before the import writes.
      yield* Deferred.await(reached)
      yield* ledger.record(tenant, withdraw(email, ["news"]))
      yield* Deferred.succeed(go, undefined)
      const report = yield* Fiber.join(importing)
      assert.deepStrictEqual(
        { recorded: report.recorded, withdrawn: report.withdrawn, rejections: report.rejections },
        { recorded: 0, withdrawn: 1, rejections: [{ row: 1, reason: "withdrawn" }] },
        "the import granted a list the contact withdrew from while it was written"
      )
      const subject = granted.event.subject
      assert.deepStrictEqual((yield* ledger.stateOf(tenant, subject)).map((s) => [s.list, s.status]), [["news", "withdrawn"]])
      assert.isFalse(yield* ledger.mayReceiveMarketing(tenant, subject, "news"))
      assert.deepStrictEqual(
        (yield* ledger.events(tenant, { subject, limit: 10 })).map((s) => s.event.kind),
        ["granted", "withdrawn"]
      )
      // The refused grant's audit entry stays, without an event; the import completes with its counts.
      const completed = (yield* log.query(tenant, { actionPrefix: "consent.import.completed" })).entries
      assert.strictEqual(completed.length, 1)
    }))

  it.effect("store: an append refuses, whole, the grants whose lists were withdrawn at or after their consent", () =>
    Effect.gen(function*() {
      const store = yield* ConsentStore.ConsentStore
      const tenant = yield* TenantId.make
      const [a, b] = [uuidV7At(1), uuidV7At(2)] as unknown as [SubjectId, SubjectId]
      const granting = (subject: SubjectId, time: number) =>
        recordedEvent(tenant, subject, time, { kind: "granted", awaitingConfirmation: [], confirms: [] })
      const withdrawing = (subject: SubjectId, time: number) =>
        recordedEvent(tenant, subject, time, { kind: "withdrawn", awaitingConfirmation: [], confirms: [] })
      yield* store.append(tenant, [granting(a, 10), withdrawing(a, 20), granting(b, 11)])
      const late = granting(a, 30)
      const ofB = granting(b, 31)
      // Consent collected at 20 (the withdrawal's time) or before: refused; after it: stored.
      const refused = yield* Effect.flip(
        store.append(tenant, [late, ofB], { refuseWithdrawnSince: new Map([[late.event.id, new Date(20)], [ofB.event.id, new Date(0)]]) })
      )
      assert.deepStrictEqual(refused._tag === "GrantRefused" ? refused.eventIds : refused, [late.event.id])
      assert.strictEqual((yield* store.events(tenant, { limit: 10 })).length, 3, "a refused append stored events")
      yield* store.append(tenant, [late], { refuseWithdrawnSince: new Map([[late.event.id, new Date(21)]]) })
      assert.deepStrictEqual((yield* store.states(tenant, a)).map((s) => [s.status, s.eventId]), [["granted", late.event.id]])
      // A withdrawal before the grant in its batch counts.
      const again = granting(b, 41)
      const both = yield* Effect.flip(
        store.append(tenant, [withdrawing(b, 40), again], { refuseWithdrawnSince: new Map([[again.event.id, new Date(39)]]) })
      )
      assert.deepStrictEqual(both._tag === "GrantRefused" ? both.eventIds : both, [again.event.id])
      // A grant before it in its batch leaves nothing withdrawn.
      const regranted = granting(a, 51)
      yield* store.append(tenant, [withdrawing(a, 49), granting(a, 50), regranted], {
        refuseWithdrawnSince: new Map([[regranted.event.id, new Date(0)]])
      })
      assert.deepStrictEqual((yield* store.states(tenant, a)).map((s) => [s.status, s.eventId]), [["granted", regranted.event.id]])
      assert.strictEqual((yield* store.events(tenant, { limit: 20 })).length, 7)
    }))

  it.effect("store: statesOfSubjects with a filter reads only the states in its status and of its lists", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger.ConsentLedger
      const store = yield* ConsentStore.ConsentStore
      const tenant = yield* tenantWithLists
      const left = yield* ledger.record(tenant, grant("left-two@example.com", ["news", "offers", "events.local"]))
      yield* ledger.record(tenant, withdraw("left-two@example.com", ["news", "events.local"]))
      const stayed = yield* ledger.record(tenant, grant("stayed@example.com", ["news"]))
      const subjects = [stayed.event.subject, left.event.subject]
      const read = (filter?: ConsentStore.StateFilter) =>
        Effect.map(store.statesOfSubjects(tenant, subjects, filter), (states) =>
          states.map((s) => [s.subject === left.event.subject ? "left" : "stayed", s.list, s.status]).sort())
      assert.deepStrictEqual(yield* read(), [
        ["left", "events.local", "withdrawn"],
        ["left", "news", "withdrawn"],
        ["left", "offers", "pending"],
        ["stayed", "news", "granted"]
      ])
      assert.deepStrictEqual(yield* read({ status: "withdrawn", lists: [ConsentLists.ListId.make("news")] }), [
        ["left", "news", "withdrawn"]
      ])
      assert.deepStrictEqual(yield* read({ status: "withdrawn" }), [
        ["left", "events.local", "withdrawn"],
        ["left", "news", "withdrawn"]
      ])
      assert.deepStrictEqual(yield* read({ lists: [ConsentLists.ListId.make("news"), ConsentLists.ListId.make("offers")] }), [
        ["left", "news", "withdrawn"],
        ["left", "offers", "pending"],
        ["stayed", "news", "granted"]
      ])
      assert.deepStrictEqual(yield* read({ status: "granted", lists: [ConsentLists.ListId.make("offers")] }), [])
      assert.deepStrictEqual(yield* read({ lists: [] }), [])
    }))

  it.effect("a confirmation raced by a newer grant on every attempt stops after maxConfirmationAttempts with ConfirmationContended", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger.ConsentLedger
      const tenant = yield* tenantWithLists
      const email = "submits-again-and-again@example.com"
      const first = yield* ledger.record(tenant, grant(email, ["offers"]))
      const reached = yield* Queue.unbounded<void>()
      const go = yield* Queue.unbounded<void>()
      heldConfirmations.set(tenant, { reached, go })
      const confirming = yield* Effect.fork(Effect.either(ledger.record(tenant, confirm(email, ["offers"]))))
      // Each attempt finds a newer grant recorded after its read; at most 10, so that an uncapped loop ends.
      let attempts = 0
      while (attempts < 10) {
        const next = yield* Effect.raceFirst(
          Effect.as(Queue.take(reached), "attempt" as const),
          Effect.as(Fiber.await(confirming), "done" as const)
        )
        if (next === "done") break
        attempts++
        yield* ledger.record(tenant, grant(email, ["offers"]))
        yield* Queue.offer(go, undefined)
      }
      heldConfirmations.delete(tenant)
      yield* Queue.offer(go, undefined)
      const result = yield* Fiber.join(confirming)
      assert.strictEqual(outcomeOf(result), "ConfirmationContended", `after ${attempts} attempts`)
      assert.strictEqual(attempts, ConsentLedger.maxConfirmationAttempts)
      const error = Either.getLeft(result)
      if (error._tag === "Some" && error.value._tag === "ConfirmationContended") {
        assert.deepStrictEqual(error.value.lists, ["offers"])
        assert.notInclude(error.value.message, email)
        assert.notInclude(JSON.stringify(error.value), first.event.subject)
      }
      // Nothing was confirmed: the list is pending by the last grant, and a confirmation now records.
      const subject = first.event.subject
      assert.deepStrictEqual((yield* ledger.stateOf(tenant, subject)).map((s) => s.status), ["pending"])
      const confirmed = yield* ledger.record(tenant, confirm(email, ["offers"]))
      assert.deepStrictEqual((yield* ledger.stateOf(tenant, subject)).map((s) => [s.status, s.eventId]), [
        ["granted", confirmed.event.id]
      ])
    }))
})
