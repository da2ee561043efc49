// Review 16d: error messages built from caller input, the state at a past time under clock skew,
// and the audit entry of the personal-data source's export, on memory, PGlite and PostgreSQL.
// Each test failed before its fix.
import { assert } from "@effect/vitest"
import * as AuditLog from "@lawful/audit-trail/AuditLog"
import * as PersonalDataRegistry from "@lawful/core/PersonalDataRegistry"
import { contractSuite, spansOf } from "@lawful/core/testing"
import * as Vault from "@lawful/core/Vault"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as ConsentLedger from "../src/ConsentLedger.js"
import type * as ConsentState from "../src/ConsentState.js"
import { attestation, grant, importActor, tenantWithLists, withdraw } from "./fixtures.js"
import { memory, sql } from "./layers.js"

const at = (iso: string) => TestClock.setTime(new Date(iso).getTime())

/** The error of a failed effect, with its message and its fields as JSON. */
const failureOf = <A, E extends { readonly _tag: string; readonly message: string }, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.either(effect), (result) => {
    assert.isTrue(Either.isLeft(result), "expected a failure")
    const error = (result as Either.Left<E, A>).left
    return { error, text: `${error.message} ${JSON.stringify(error)}` }
  })

const personal = "ada.lovelace@example.com"

const view = (states: ReadonlyArray<ConsentState.ListState>) =>
  states.map((s) => ({ list: s.list, status: s.status, since: s.since.toISOString(), eventId: s.eventId }))

contractSuite("Review 16d", { memory, sql }, (it) => {
  it.effect("a not-found or unknown-list error never echoes an id that is not well-formed; a well-formed id is kept", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger.ConsentLedger
      const tenant = yield* tenantWithLists

      for (const failed of [Effect.asVoid(ledger.event(tenant, personal)), Effect.asVoid(ledger.proof(tenant, personal))]) {
        const { error, text } = yield* failureOf(failed)
        assert.strictEqual(error._tag, "ConsentEventNotFound")
        assert.notInclude(text, personal)
        assert.isUndefined((error as ConsentLedger.ConsentEventNotFound).eventId)
      }
      const unknown = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
      const { error: notFound } = yield* failureOf(ledger.event(tenant, unknown))
      assert.strictEqual((notFound as ConsentLedger.ConsentEventNotFound).eventId, unknown)
      assert.include(notFound.message, unknown)

      // A list id is caller input too: only well-formed list ids are named.
      const recorded = yield* failureOf(ledger.record(tenant, grant("lists.16d@example.com", ["news", "vip", personal])))
      assert.strictEqual(recorded.error._tag, "UnknownList")
      assert.notInclude(recorded.text, personal)
      assert.deepStrictEqual((recorded.error as { lists: ReadonlyArray<string> }).lists, ["vip"])
      assert.include(recorded.error.message, "vip")
      const recipients = yield* failureOf(Stream.runDrain(ledger.recipients(tenant, personal)))
      assert.strictEqual(recipients.error._tag, "UnknownList")
      assert.notInclude(recipients.text, personal)
      const imported = yield* failureOf(
        ledger.importContacts(tenant, { attestation, lists: [personal], actor: importActor, contacts: [] })
      )
      assert.strictEqual(imported.error._tag, "UnknownList")
      assert.notInclude(imported.text, personal)
    }))

  it.effect("an unexpected member of a request is refused without its name, which is caller input", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger.ConsentLedger
      const tenant = yield* tenantWithLists
      const request = { ...grant("member.16d@example.com", ["news"]), [personal]: true } as ConsentLedger.RecordRequest
      const recorded = yield* failureOf(ledger.record(tenant, request))
      assert.strictEqual(recorded.error._tag, "ConsentRequestInvalid")
      assert.notInclude(recorded.text, personal)
      const imported = yield* failureOf(
        ledger.importContacts(tenant, {
          attestation: { ...attestation, [personal]: "x" },
          lists: ["news"],
          actor: importActor,
          contacts: []
        } as never)
      )
      assert.strictEqual(imported.error._tag, "ConsentRequestInvalid")
      assert.notInclude(imported.text, personal)
    }))

  it.effect("clock skew: stateAt(t) is the projection after the last event recorded at or before t, monotonic, and the current state from the last event on", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger.ConsentLedger
      const tenant = yield* tenantWithLists
      const email = "skew.16d@example.com"
      // A server with a correct clock grants "news" at 10:00; one whose clock is 5 minutes ahead
      // grants "offers" (pending); the first then withdraws "news" at 10:01, recorded last.
      yield* at("2025-03-01T10:00:00.000Z")
      const first = yield* ledger.record(tenant, grant(email, ["news"]))
      const subject = first.event.subject
      const afterFirst = view(yield* ledger.stateOf(tenant, subject))
      yield* at("2025-03-01T10:05:00.000Z")
      yield* ledger.record(tenant, grant(email, ["offers"]))
      const afterSecond = view(yield* ledger.stateOf(tenant, subject))
      yield* at("2025-03-01T10:01:00.000Z")
      const last = yield* ledger.record(tenant, withdraw(email, ["news"]))
      const current = view(yield* ledger.stateOf(tenant, subject))
      assert.deepStrictEqual(current.map((s) => [s.list, s.status]), [["news", "withdrawn"], ["offers", "pending"]])
      // The proven time is the one recorded.
      assert.strictEqual(last.event.time.toISOString(), "2025-03-01T10:01:00.000Z")

      const stateAt = (iso: string) => Effect.map(ledger.stateAt(tenant, subject, new Date(iso)), view)
      assert.deepStrictEqual(yield* stateAt("2025-03-01T09:59:59.999Z"), [])
      assert.deepStrictEqual(yield* stateAt("2025-03-01T10:00:00.000Z"), afterFirst)
      assert.deepStrictEqual(yield* stateAt("2025-03-01T10:00:59.999Z"), afterFirst)
      // From the last event's time on (10:01, the clock of the server that recorded it): the current state.
      for (const iso of ["2025-03-01T10:01:00.000Z", "2025-03-01T10:02:00.000Z", "2025-03-01T10:05:00.000Z", "2030-01-01T00:00:00.000Z"]) {
        assert.deepStrictEqual(yield* stateAt(iso), current, iso)
      }
      // Every state is one the projection had, in recording order: never the grant of "offers"
      // without the withdrawal of "news" recorded after it.
      assert.notDeepEqual(afterSecond, current)
      for (const iso of ["2025-03-01T10:00:30.000Z", "2025-03-01T10:03:00.000Z"]) {
        assert.notDeepEqual(yield* stateAt(iso), afterSecond, iso)
      }
    }))

  it.effect("the personal-data source's export appends consent.exported (system actor, subject, counts) before it decrypts", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger.ConsentLedger
      const log = yield* AuditLog.AuditLog
      const registry = yield* PersonalDataRegistry.PersonalDataRegistry
      const source = (yield* registry.sources).find((s) => s.name === ConsentLedger.sourceName)!
      const tenant = yield* tenantWithLists
      const email = "source.16d@example.com"
      const granted = yield* ledger.record(tenant, grant(email, ["news", "offers"]))
      yield* ledger.record(tenant, withdraw(email, ["news"]))
      const subject = granted.event.subject

      const before = yield* log.size(tenant)
      const exported = yield* source.export(tenant, subject)
      assert.strictEqual(exported.records.length, 2)
      assert.strictEqual(yield* log.size(tenant), before + 1)
      const entry = yield* log.entry(tenant, before)
      assert.strictEqual(entry.action, "consent.exported")
      assert.deepStrictEqual(entry.actor, { kind: "system", id: ConsentLedger.sourceName })
      assert.deepStrictEqual(Option.map(entry.subject, (s) => s.id), Option.some(subject))
      assert.deepStrictEqual(Option.getOrThrow(entry.details).value, {
        format: "personal-data-source",
        scope: "subject",
        disclosed: ["ip_address", "user_agent"],
        records: 2
      })
      const text = JSON.stringify({ ...entry, leaf: undefined })
      for (const secret of ["203.0.113.7", "Mozilla", "example.com"]) assert.notInclude(text, secret)

      // Nothing to export (an unknown subject, a shredded one): nothing decrypted, no entry.
      const other = yield* ledger.record(tenant, grant("unknown.16d@example.com", ["news"]))
      yield* (yield* Vault.Vault).shred(tenant, other.event.subject)
      const size = yield* log.size(tenant)
      assert.deepStrictEqual((yield* source.export(tenant, other.event.subject)).records, [])
      assert.strictEqual(yield* log.size(tenant), size)
    }))

  it.effect("a list argument that is not a list id never reaches a span's attributes", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger.ConsentLedger
      const tenant = yield* tenantWithLists
      const recorded = yield* ledger.record(tenant, grant("grace@example.com", ["news"]))
      // Every span made, through the tracer in place.
      const spans = yield* spansOf(
        Effect.gen(function*() {
          yield* ledger.mayReceiveMarketing(tenant, recorded.event.subject, personal)
          yield* Effect.either(Stream.runDrain(ledger.recipients(tenant, personal)))
          yield* ledger.mayReceiveMarketing(tenant, recorded.event.subject, "news")
        })
      )
      const attributes = spans.flatMap((span) => [...span.attributes.values()].map(String))
      assert.isAbove(spans.length, 2)
      assert.notInclude(attributes.join(" "), personal)
      assert.include(attributes, "news", "a list id is still named")
    }))
})
