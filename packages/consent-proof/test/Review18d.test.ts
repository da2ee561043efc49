// Review 18d: a tenant id, a time, a page cursor or a recorded event that is not one is refused (or
// read as naming nothing) alike on every store, never quoted, nothing written. Each test failed
// before its fix. On memory, PGlite and PostgreSQL.
import { assert } from "@effect/vitest"
import * as AuditLog from "@lawful/audit-trail/AuditLog"
import type { TenantId } from "@lawful/core/TenantId"
import { contractSuite } from "@lawful/core/testing"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type * as ConsentEvent from "../src/ConsentEvent.js"
import { ConsentLedger } from "../src/ConsentLedger.js"
import * as ConsentLists from "../src/ConsentLists.js"
import { ConsentStore } from "../src/ConsentStore.js"
import { attestation, auditor, failureOf, failureTag, grant, importActor, lists, recordedEvent, tenantWithLists } from "./fixtures.js"
import { memory, sql } from "./layers.js"

const personal = "ada.private@example.com"

/** The message of the defect `effect` dies with; a success or a typed failure fails the test. */
const defectOf = <A, E, R>(effect: Effect.Effect<A, E, R>, label: string) =>
  Effect.map(Effect.exit(effect), (exit) => {
    const defect = Exit.isFailure(exit) ? Cause.dieOption(exit.cause) : Option.none()
    assert.isTrue(Option.isSome(defect), `${label}: not a defect: ${Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "succeeded"}`)
    const value = Option.getOrThrow(defect)
    return value instanceof Error ? value.message : String(value)
  })

/** Whether `error` (its message and fields) quotes `text`. */
const quotes = (error: { readonly message: string }, text: string) =>
  text !== "" && (error.message.includes(text) || JSON.stringify(error).includes(text))

contractSuite("Review18d", { memory, sql }, (it) => {
  it.effect("a tenant id that is not a lower-case UUID is refused or names nothing, on every method and store, never quoted, nothing written", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const declared = yield* ConsentLists.ConsentLists
      const store = yield* ConsentStore
      const log = yield* AuditLog.AuditLog
      const tenant = yield* tenantWithLists
      const recorded = yield* ledger.record(tenant, grant("eve@example.com", ["news"]))
      const subject = recorded.event.subject
      const before = { lists: yield* declared.all(tenant), size: yield* log.size(tenant) }
      // Upper case is the tenant's own id to PostgreSQL: the case that read or wrote its data.
      const bad = [tenant.toUpperCase(), personal, "not-a-uuid", "", `${tenant}\u0000`] as Array<TenantId>
      for (const other of bad) {
        const label = JSON.stringify(other)
        const refused = (error: { readonly _tag: string; readonly message: string }, tag: string, what: string) => {
          assert.strictEqual(error._tag, tag, `${label} ${what}`)
          assert.isFalse(quotes(error, other), `${label} ${what}: quoted`)
        }
        // ConsentLists: refused where it writes, a tenant with no list where it reads.
        refused(yield* failureOf(declared.declare(other, lists[0]!), "declare"), "ConsentListInvalid", "declare")
        assert.deepStrictEqual(yield* declared.all(other), [], `${label} all`)
        const unknown = yield* failureOf(declared.require(other, ["news"]), "require")
        refused(unknown, "UnknownList", "require")
        // ConsentLedger: refused where the method has ConsentRequestInvalid, a tenant with nothing otherwise.
        refused(yield* failureOf(ledger.record(other, grant(personal, ["news"])), "record"), "ConsentRequestInvalid", "record")
        refused(
          yield* failureOf(
            ledger.importContacts(other, { attestation, lists: ["news"], actor: importActor, contacts: [{ email: personal }] }),
            "import"
          ),
          "ConsentRequestInvalid",
          "import"
        )
        refused(yield* failureOf(ledger.exportDisclosure(other, { actor: auditor, format: "csv" }), "export"), "ConsentRequestInvalid", "export")
        refused(yield* failureOf(ledger.proof(other, recorded.event.id), "proof"), "ConsentRequestInvalid", "proof")
        refused(yield* failureOf(ledger.event(other, recorded.event.id), "event"), "ConsentEventNotFound", "event")
        refused(
          yield* failureOf(Stream.runCollect(ledger.recipients(other, "news")), "recipients"),
          "UnknownList",
          "recipients"
        )
        assert.deepStrictEqual(yield* ledger.stateOf(other, subject), [], `${label} stateOf`)
        assert.deepStrictEqual(yield* ledger.stateAt(other, subject, new Date()), [], `${label} stateAt`)
        assert.isFalse(yield* ledger.mayReceiveMarketing(other, subject, "news"), `${label} mayReceiveMarketing`)
        assert.deepStrictEqual(yield* ledger.events(other, { limit: 10 }), [], `${label} events`)
        assert.deepStrictEqual(yield* ledger.events(other, { subject, limit: 10 }), [], `${label} events of the subject`)
        assert.strictEqual(yield* ledger.rebuildProjection(other), 0, `${label} rebuildProjection`)
        assert.strictEqual(yield* ledger.erase(other, subject), 0, `${label} erase`)
        // ConsentStore's layers: the same, for code that uses the store directly.
        assert.deepStrictEqual(yield* store.events(other, { limit: 10 }), [], `${label} store.events`)
        assert.deepStrictEqual(yield* store.states(other, subject), [], `${label} store.states`)
        assert.isTrue(Option.isNone(yield* store.event(other, recorded.event.id)), `${label} store.event`)
        assert.deepStrictEqual(yield* store.recipients(other, lists[0]!.id, undefined, 10), [], `${label} store.recipients`)
        assert.strictEqual(yield* store.eraseSubject(other, subject), 0, `${label} store.eraseSubject`)
        // An event made for the tenant (an event cannot be made for another id), appended under the other id.
        const appended = recordedEvent(tenant, subject, 1_000, { kind: "granted", awaitingConfirmation: [], confirms: [] })
        refused(yield* failureOf(store.append(other, [appended]), "store.append"), "ConsentStoreError", "store.append")
        assert.deepStrictEqual(yield* store.events(other, { limit: 10 }), [], `${label} store.events after append`)
      }
      // The tenant is as it was: its lists, its one event and entry, its subject's state.
      assert.deepStrictEqual(yield* declared.all(tenant), before.lists)
      assert.strictEqual(yield* log.size(tenant), before.size)
      assert.strictEqual((yield* ledger.events(tenant, { limit: 10 })).length, 1)
      assert.isTrue(yield* ledger.mayReceiveMarketing(tenant, subject, "news"))
      assert.deepStrictEqual(Chunk.toReadonlyArray(yield* Stream.runCollect(ledger.recipients(tenant, "news"))), [subject])
      assert.isFalse((yield* store.tenants).some((known) => (bad as Array<string>).includes(known)))
    }))

  it.effect("stateAt a time that is no time (an Invalid Date, not a Date) fails ConsentRequestInvalid, never answers no consent", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      const { event } = yield* ledger.record(tenant, grant("fay@example.com", ["news"]))
      for (const at of [new Date(Number.NaN), new Date("not a date"), "2030-01-01T00:00:00Z", 1_900_000_000_000, undefined, null]) {
        const label = String(at)
        assert.strictEqual(yield* failureTag(ledger.stateAt(tenant, event.subject, at as Date), label), "ConsentRequestInvalid", label)
      }
      // A time that is one answers as before.
      assert.deepStrictEqual(
        (yield* ledger.stateAt(tenant, event.subject, new Date(event.time.getTime() + 1))).map((state) => state.status),
        ["granted"]
      )
      assert.deepStrictEqual(yield* ledger.stateAt(tenant, event.subject, new Date(event.time.getTime() - 1)), [])
    }))

  it.effect("events with an after that is not a whole number dies on every store, as a bad limit does, quoting neither", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      yield* ledger.record(tenant, grant("gus@example.com", ["news"]))
      yield* ledger.record(tenant, grant("hal@example.com", ["news"]))
      for (const after of [Number.NaN, "0", personal, 0.5, Number.POSITIVE_INFINITY, null]) {
        const message = yield* defectOf(ledger.events(tenant, { after: after as number, limit: 10 }), String(after))
        assert.include(message, "after", String(after))
        assert.notInclude(message, personal)
      }
      const limit = yield* defectOf(ledger.events(tenant, { limit: personal as unknown as number }), "limit")
      assert.include(limit, "limit")
      assert.notInclude(limit, personal)
      // A whole number is a cursor, on every store alike: before the first event, or after one.
      const all = yield* ledger.events(tenant, { limit: 10 })
      assert.strictEqual(all.length, 2)
      assert.deepStrictEqual(yield* ledger.events(tenant, { after: -1, limit: 10 }), all)
      assert.deepStrictEqual(yield* ledger.events(tenant, { after: all[0]!.seq, limit: 10 }), all.slice(1))
    }))

  it.effect("disclose of no recorded event (null, an object without an event) fails ConsentRequestInvalid and appends nothing", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const log = yield* AuditLog.AuditLog
      const tenant = yield* tenantWithLists
      const recorded = yield* ledger.record(tenant, grant("ida@example.com", ["news"]))
      const size = yield* log.size(tenant)
      const upper = { ...recorded.event, tenant: tenant.toUpperCase() }
      const given: ReadonlyArray<readonly [string, unknown]> = [
        ["null", null],
        ["undefined", undefined],
        ["a string", personal],
        ["no event", {}],
        ["event null", { ...recorded, event: null }],
        ["event of an upper-case tenant", { ...recorded, event: upper }],
        ["sealed field not bytes", { ...recorded, ipSealed: personal }]
      ]
      for (const [label, value] of given) {
        const error = yield* failureOf(ledger.disclose(value as ConsentEvent.Recorded, { actor: auditor }), label)
        assert.strictEqual(error._tag, "ConsentRequestInvalid", label)
        assert.isFalse(quotes(error, personal), label)
      }
      assert.strictEqual(yield* log.size(tenant), size)
      // The event itself is disclosed as before.
      assert.strictEqual((yield* ledger.disclose(recorded, { actor: auditor })).ip?.value, "203.0.113.7")
    }))
})
