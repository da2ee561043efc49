// Review 16: a day is a calendar day (a time of day given with it is dropped), a DPF certification
// holds through its recertification date, and a stated reason's audit entry does not tell its length.
import { assert, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { contractSuite, sqlSuite } from "@lawful/core/testing"
import * as Vault from "@lawful/core/Vault"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import type * as Finding from "../src/Finding.js"
import type * as Processor from "../src/Processor.js"
import { platformTenant, ProcessorRegistry } from "../src/ProcessorRegistry.js"
import * as ProcessorRegistryModule from "../src/ProcessorRegistry.js"
import * as AuditRecorder from "./AuditRecorder.js"
import { approvedProcessor, atStart, dayOf, processorInput, staff, layers, vaultMemory } from "./fixtures.js"

/** The instant of a day `YYYY-MM-DD` at a time of day in UTC, `HH:MM:SS.mmm`. */
const on = (day: string, time = "00:00:00.000") => Date.parse(`${day}T${time}Z`)

const findingTags = (id: Processor.ProcessorId) =>
  Effect.map(
    Effect.flatMap(ProcessorRegistry, (registry) => registry.findings),
    (findings) => findings.filter((finding) => finding.processorId === id).map((finding) => finding._tag)
  )

const usWithDpf = (recertificationDue: string) => ({
  country: "US",
  description: "support",
  mechanism: { _tag: "DpfCertification" as const, status: "active" as const, certifiedOn: dayOf(-200), recertificationDue }
})

// Whether a finding of `tag` is raised for the processor at each instant, in order.
const raisedAt = (id: Processor.ProcessorId, tag: Finding.Finding["_tag"], instants: ReadonlyArray<number>) =>
  Effect.forEach(instants, (instant) =>
    Effect.gen(function*() {
      yield* TestClock.setTime(instant)
      return (yield* findingTags(id)).includes(tag)
    }))

contractSuite("Review 16", layers, (it) => {
  it.effect("a DPA expiring on a day given with a time of day ends with that calendar day", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const processor = yield* approvedProcessor({}, { dpa: { expiresOn: `${dayOf(10)}T12:00:00Z` } })
      // In force through the day itself, expired from the first instant of the next.
      assert.deepStrictEqual(
        yield* raisedAt(processor.id, "DpaExpired", [on(dayOf(10)), on(dayOf(10), "23:59:59.999"), on(dayOf(11))]),
        [false, false, true]
      )
      const [dpa] = yield* registry.dpas(processor.id)
      assert.strictEqual(dpa?.expiresOn?.toISOString(), `${dayOf(10)}T00:00:00.000Z`)
    }))

  it.effect("a day given with an offset that crosses midnight is the date as written", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      // 23:30 at UTC-2 is 01:30 UTC on the next day: the day meant is still the one written.
      const processor = yield* approvedProcessor({}, { dpa: { expiresOn: `${dayOf(10)}T23:30:00-02:00` } })
      assert.deepStrictEqual(
        yield* raisedAt(processor.id, "DpaExpired", [on(dayOf(10), "23:59:59.999"), on(dayOf(11)), on(dayOf(11), "01:30:00.000")]),
        [false, true, true]
      )
      const [dpa] = yield* registry.dpas(processor.id)
      assert.strictEqual(dpa?.expiresOn?.toISOString(), `${dayOf(10)}T00:00:00.000Z`)
      // And the other way: 00:30 at UTC+2 is 22:30 UTC on the day before.
      yield* atStart
      const signed = yield* registry.recordDpa(staff, processor.id, {
        version: "east",
        parties: ["Lawful Platform Ltd", "Mailhost GmbH"],
        signedOn: `${dayOf(-3)}T00:30:00+02:00`,
        documentSha256: dpa!.documentSha256,
        reviewDue: dayOf(300)
      })
      assert.strictEqual(signed.signedOn.toISOString(), `${dayOf(-3)}T00:00:00.000Z`)
    }))

  it.effect("a DPF certification holds through its recertification date and lapses the day after", () =>
    Effect.gen(function*() {
      yield* atStart
      const processor = yield* approvedProcessor({ locations: [{ country: "DE" }, usWithDpf(dayOf(10))] })
      assert.deepStrictEqual(
        yield* raisedAt(processor.id, "DpfCertificationLapsed", [
          on(dayOf(9), "12:00:00.000"),
          on(dayOf(10)),
          on(dayOf(10), "23:59:59.999"),
          on(dayOf(11)),
          on(dayOf(12))
        ]),
        [false, false, false, true, true]
      )
    }))

  it.effect("a DPF recertification date given with a time of day lapses with its calendar day", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const processor = yield* approvedProcessor({ locations: [{ country: "DE" }, usWithDpf(`${dayOf(10)}T18:00:00+05:00`)] })
      assert.deepStrictEqual(
        yield* raisedAt(processor.id, "DpfCertificationLapsed", [on(dayOf(10), "23:59:59.999"), on(dayOf(11))]),
        [false, true]
      )
      const mechanism = (yield* registry.processor(processor.id)).locations[1]?.mechanism
      assert.strictEqual(
        mechanism?._tag === "DpfCertification" ? mechanism.recertificationDue.toISOString() : undefined,
        `${dayOf(10)}T00:00:00.000Z`
      )
    }))

  it.effect("the default next review is a calendar day, a year after the decision, overdue from the day after", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      // The DPA's own review comes later: only the assessment's is overdue here.
      const processor = yield* approvedProcessor({}, { dpa: { reviewDue: dayOf(400) } })
      const [assessment] = yield* registry.assessments(processor.id)
      assert.strictEqual(assessment?.decision?.nextReviewDue.toISOString(), "2027-01-15T00:00:00.000Z")
      assert.deepStrictEqual(
        yield* raisedAt(processor.id, "ReviewOverdue", [on("2027-01-15", "23:59:59.999"), on("2027-01-16")]),
        [false, true]
      )
    }))

  it.effect("a stated reason's audit entry tells nothing of its length, and still checks against the reason", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const recorder = yield* AuditRecorder.AuditRecorder
      const short = "Ann Lee"
      const long = "Suspended while the complaint of Bartholomew Featherstonehaugh-Smythe is examined"
      const details = yield* Effect.forEach([short, long], (reason) =>
        Effect.gen(function*() {
          const processor = yield* approvedProcessor()
          yield* registry.suspend(staff, processor.id, reason)
          const entry = (yield* recorder.about(platformTenant, processor.id)).find((e) =>
            e.action === "processor-registry.processor.suspended"
          )
          const found = entry?.details ?? {}
          assert.isTrue(yield* ProcessorRegistryModule.statedReasonMatches(found, reason))
          assert.isFalse(yield* ProcessorRegistryModule.statedReasonMatches(found, `${reason}.`))
          return found
        }))
      for (const found of details) {
        assert.deepStrictEqual(Object.keys(found).sort(), ["from", "reason", "reasonHmac"])
      }
      // Entries for reasons of very different lengths are alike in every respect but the digest.
      assert.strictEqual(JSON.stringify(details[0]).length, JSON.stringify(details[1]).length)
    }))

  it.effect("a termination's entry tells nothing of the reason's length either", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const recorder = yield* AuditRecorder.AuditRecorder
      const processor = yield* registry.register(staff, processorInput())
      const reason = "Ended after a complaint by Jane Roe"
      yield* registry.terminate(staff, processor.id, { reason })
      const entry = (yield* recorder.about(platformTenant, processor.id)).find((e) =>
        e.action === "processor-registry.processor.terminated"
      )
      assert.deepStrictEqual(Object.keys(entry?.details ?? {}).sort(), ["dataDisposition", "from", "reason", "reasonHmac"])
      assert.isTrue(yield* ProcessorRegistryModule.statedReasonMatches(entry?.details ?? {}, reason))
    }))
})

it.effect("an entry written with `reasonLength` and `reasonHmac` still checks against its reason", () =>
  Effect.gen(function*() {
    const vault = yield* Vault.Vault
    const reason = "Suspended after Mary Major's complaint"
    const earlier = {
      from: "Approved",
      reason: "stated",
      reasonHmac: yield* vault.blindIndex(platformTenant, ProcessorRegistryModule.reasonDomain, reason),
      reasonLength: reason.length
    }
    assert.isTrue(yield* ProcessorRegistryModule.statedReasonMatches(earlier, reason))
    assert.isFalse(yield* ProcessorRegistryModule.statedReasonMatches(earlier, `${reason}!`))
    assert.isFalse(yield* ProcessorRegistryModule.statedReasonMatches({ ...earlier, reasonLength: reason.length + 1 }, reason))
  }).pipe(Effect.provide(vaultMemory)))

// Records stored by earlier versions, with a time of day in a day: read by the same rule.
sqlSuite("Review 16 storage", layers.sql, (it) => {
  it.effect("a DPA stored with a time in its expiry ends with its calendar day", () =>
    Effect.gen(function*() {
      yield* atStart
      const sql = yield* SqlClient.SqlClient
      const registry = yield* ProcessorRegistry
      const processor = yield* approvedProcessor({}, { dpa: { expiresOn: dayOf(10) } })
      const [dpa] = yield* registry.dpas(processor.id)
      yield* sql`UPDATE lawful_processor_dpas
        SET document = jsonb_set(document, '{expiresOn}', to_jsonb(${`${dayOf(10)}T12:00:00.000Z`}::text))
        WHERE dpa_id = ${dpa!.id}`
      assert.strictEqual((yield* registry.dpas(processor.id))[0]?.expiresOn?.toISOString(), `${dayOf(10)}T12:00:00.000Z`)
      assert.deepStrictEqual(
        yield* raisedAt(processor.id, "DpaExpired", [on(dayOf(10), "23:59:59.999"), on(dayOf(11))]),
        [false, true]
      )
    }))

  it.effect("a DPF recertification date stored with a time of day is read as its calendar day", () =>
    Effect.gen(function*() {
      yield* atStart
      const sql = yield* SqlClient.SqlClient
      const registry = yield* ProcessorRegistry
      const processor = yield* approvedProcessor({ locations: [{ country: "DE" }, usWithDpf(dayOf(10))] })
      yield* sql`UPDATE lawful_processors
        SET document = jsonb_set(document, '{locations,1,mechanism,recertificationDue}', to_jsonb(${`${dayOf(10)}T12:00:00.000Z`}::text))
        WHERE processor_id = ${processor.id}`
      const mechanism = (yield* registry.processor(processor.id)).locations[1]?.mechanism
      assert.strictEqual(
        mechanism?._tag === "DpfCertification" ? mechanism.recertificationDue.toISOString() : undefined,
        `${dayOf(10)}T00:00:00.000Z`
      )
      assert.deepStrictEqual(
        yield* raisedAt(processor.id, "DpfCertificationLapsed", [on(dayOf(10), "23:59:59.999"), on(dayOf(11))]),
        [false, true]
      )
    }))
})
