// Review 16: defects found in review, each with the test that failed before its fix. On memory,
// PGlite and PostgreSQL. The races are forced by a store that holds the ledger's calls at the
// point where the other side must come in.
import { assert } from "@effect/vitest"
import * as AuditLog from "@lawful/audit-trail/AuditLog"
import { contractSuite } from "@lawful/core/testing"
import type * as TenantId from "@lawful/core/TenantId"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as ConsentImport from "../src/ConsentImport.js"
import * as ConsentLedger from "../src/ConsentLedger.js"
import * as ConsentLists from "../src/ConsentLists.js"
import * as ConsentProof from "../src/ConsentProof.js"
import * as ConsentStore from "../src/ConsentStore.js"
import { confirm, contactsOf, grant, keyedImport, tenantWithLists, withdraw } from "./fixtures.js"
import { withStore } from "./layers.js"

interface Gate {
  /** Succeeded when the held call reached the gate. */
  readonly reached: Deferred.Deferred<void>
  /** The held call goes on once this succeeds. */
  readonly go: Deferred.Deferred<void>
}

const makeGate = Effect.map(Effect.zip(Deferred.make<void>(), Deferred.make<void>()), ([reached, go]): Gate => ({ reached, go }))

const pass = (gate: Gate) => Effect.zipRight(Deferred.succeed(gate.reached, undefined), Deferred.await(gate.go))

/** Tenants whose next checked append (a confirmation's) waits at its gate before it is written. */
const heldConfirmations = new Map<TenantId.TenantId, Gate>()

/**
 * Tenants whose next import completion, once written (report and entry), waits for the next claim
 * renewal's answer before it returns: the renewal falls during the completion.
 */
const renewalDuringCompletion = new Map<
  TenantId.TenantId,
  { readonly written: Deferred.Deferred<void>; readonly renewed: Deferred.Deferred<boolean> }
>()

const gatedStore = Layer.effect(
  ConsentStore.ConsentStore,
  Effect.map(ConsentStore.ConsentStore, (store) =>
    ConsentStore.ConsentStore.of({
      ...store,
      append: (tenant, batch, options) =>
        Effect.suspend(() => {
          const gate = options?.checkConfirmations === true ? heldConfirmations.get(tenant) : undefined
          if (gate === undefined) return store.append(tenant, batch, options)
          heldConfirmations.delete(tenant)
          return Effect.zipRight(pass(gate), store.append(tenant, batch, options))
        }),
      completeImport: (tenant, importId, report, token, record) =>
        Effect.suspend(() => {
          const held = renewalDuringCompletion.get(tenant)
          if (held === undefined) return store.completeImport(tenant, importId, report, token, record)
          return store.completeImport(tenant, importId, report, token, record).pipe(
            Effect.zipLeft(Effect.zipRight(Deferred.succeed(held.written, undefined), Deferred.await(held.renewed)))
          )
        }),
      // Called once the completion was written (the test moves the clock then): the completion
      // returns only after the renewal has its answer, which the ledger sees first.
      renewImportClaim: (tenant, importId, token, until) =>
        store.renewImportClaim(tenant, importId, token, until).pipe(
          Effect.tap((renewed) =>
            Effect.suspend(() => {
              const held = renewalDuringCompletion.get(tenant)
              if (held === undefined) return Effect.void
              renewalDuringCompletion.delete(tenant)
              return Deferred.succeed(held.renewed, renewed)
            })
          )
        )
    }))
)

const { memory, sql } = withStore(gatedStore)

const outcomeOf = <A>(result: Either.Either<A, { readonly _tag: string }>) =>
  Either.isRight(result) ? "recorded" : result.left._tag

contractSuite("Review 16", { memory, sql }, (it) => {
  it.effect("a confirmation that a newer pending grant races is recorded, confirming that grant, as a retry would be", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger.ConsentLedger
      const log = yield* AuditLog.AuditLog
      const tenant = yield* tenantWithLists
      const email = "twice-submitted@example.com"
      // The form was submitted twice: the subject clicks the first email's link while the second
      // grant is recorded.
      const first = yield* ledger.record(tenant, grant(email, ["offers"]))
      const gate = yield* makeGate
      heldConfirmations.set(tenant, gate)
      const confirming = yield* Effect.fork(Effect.either(ledger.record(tenant, confirm(email, ["offers"]))))
      yield* Deferred.await(gate.reached)
      const second = yield* ledger.record(tenant, grant(email, ["offers"]))
      yield* Deferred.succeed(gate.go, undefined)
      const result = yield* Fiber.join(confirming)
      assert.strictEqual(outcomeOf(result), "recorded", "a confirmation of a list still pending was refused")
      const confirmed = Either.getOrThrow(result)
      assert.deepStrictEqual(confirmed.event.confirms, [second.event.id])
      const subject = first.event.subject
      assert.deepStrictEqual(
        (yield* ledger.stateOf(tenant, subject)).map((state) => [state.list, state.status, state.eventId]),
        [["offers", "granted", confirmed.event.id]]
      )
      const stored = (yield* ledger.events(tenant, { subject, limit: 10 })).map((s) => s.event.kind)
      assert.deepStrictEqual(stored, ["granted", "granted", "confirmed"])
      // The stored confirmation proves itself; the entry of the attempt refused at write time stays, without an event.
      const proof = yield* ledger.proof(tenant, confirmed.event.id)
      const verified = yield* ConsentProof.verify(proof, ledger.verifierKey)
      assert.deepStrictEqual(verified.event.confirms, [second.event.id])
      const entries = (yield* log.query(tenant, { actionPrefix: "consent.confirmed" })).entries
      assert.strictEqual(entries.length, 2)
      // Nothing is pending any more: a retry fails, as a second click would.
      assert.strictEqual(outcomeOf(yield* Effect.either(ledger.record(tenant, confirm(email, ["offers"])))), "ConsentNotPending")
    }))

  it.effect("a confirmation raced by a withdrawal fails ConsentNotPending, and so does its retry", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger.ConsentLedger
      const tenant = yield* tenantWithLists
      const email = "changed-mind@example.com"
      const granted = yield* ledger.record(tenant, grant(email, ["offers"]))
      const gate = yield* makeGate
      heldConfirmations.set(tenant, gate)
      const confirming = yield* Effect.fork(Effect.either(ledger.record(tenant, confirm(email, ["offers"]))))
      yield* Deferred.await(gate.reached)
      yield* ledger.record(tenant, withdraw(email, ["offers"]))
      yield* Deferred.succeed(gate.go, undefined)
      assert.strictEqual(outcomeOf(yield* Fiber.join(confirming)), "ConsentNotPending")
      assert.strictEqual(outcomeOf(yield* Effect.either(ledger.record(tenant, confirm(email, ["offers"])))), "ConsentNotPending")
      const kinds = (yield* ledger.events(tenant, { subject: granted.event.subject, limit: 10 })).map((s) => s.event.kind)
      assert.deepStrictEqual(kinds, ["granted", "withdrawn"])
    }))

  it.effect("a claim renewal during an import's completion: the call returns its report, never ImportInProgress", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger.ConsentLedger
      const store = yield* ConsentStore.ConsentStore
      const log = yield* AuditLog.AuditLog
      const tenant = yield* tenantWithLists
      const written = yield* Deferred.make<void>()
      const renewed = yield* Deferred.make<boolean>()
      renewalDuringCompletion.set(tenant, { written, renewed })
      const request = keyedImport("renewed-while-completing", contactsOf(3))
      const running = yield* Effect.fork(Effect.either(ledger.importContacts(tenant, request)))
      // The report and its entry are written; a renewal falls due before the call returns.
      yield* Deferred.await(written)
      yield* TestClock.adjust(ConsentImport.claimRenewal)
      const result = yield* Fiber.join(running)
      assert.isFalse(yield* Deferred.await(renewed), "the renewal found the claim the completion cleared")
      assert.strictEqual(outcomeOf(result), "recorded", "the call whose import completed failed")
      const report = Either.getOrThrow(result)
      assert.strictEqual(report.recorded, 3)
      assert.deepStrictEqual(Option.getOrThrow(yield* store.importOf(tenant, report.importId)).report, Option.some(
        ConsentImport.reportJson(report)
      ))
      const actions = (yield* log.query(tenant, { actionPrefix: "consent.import" })).entries.map((e) => e.action)
      assert.deepStrictEqual(actions, ["consent.import.started", "consent.import.completed"])
      // A retry returns the same report and writes nothing.
      const size = yield* log.size(tenant)
      assert.deepStrictEqual(yield* ledger.importContacts(tenant, request), report)
      assert.strictEqual(yield* log.size(tenant), size)
    }))
})
