// Review 17e: an engaged processor (approved or suspended) serving tenants whose covering notice a
// tenant objected to is a finding, by the rule approval applies (`ObjectionUnresolved`), naming the
// notice and the count of objections, never the reasons. The registry no longer approves over an
// objection, so the state comes from a suspended processor taking on what an objected notice named
// (every backend), or from an approval made by an earlier version (SQL, written through the store).
import { assert } from "@effect/vitest"
import { contractSuite, sqlSuite } from "@lawful/core/testing"
import * as TenantId from "@lawful/core/TenantId"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import * as ChangeNotice from "../src/ChangeNotice.js"
import * as Finding from "../src/Finding.js"
import { sqlStore } from "../src/internal/sqlStore.js"
import { ProcessorRegistry } from "../src/ProcessorRegistry.js"
import { approvedProcessor, atStart, completeReview, layers, processorInput, staff, tenantKey } from "./fixtures.js"

// What an objection's reason may hold: a person's name and address.
const marker = "Zoe Marker zoe.marker@example.org"

const findingsOf = (id: string) =>
  Effect.map(Effect.flatMap(ProcessorRegistry, (registry) => registry.findings), (all) => all.filter((f) => f.processorId === id))

contractSuite("Review 17e", layers, (it) => {
  it.effect("a suspended processor holding a purpose tenants objected to is a finding naming the notice and the count, never the reasons", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const [a, b] = [yield* TenantId.make, yield* TenantId.make]
      const processor = yield* approvedProcessor({ servesTenants: true })
      const purposes = ["delivering email", "engagement analytics"] as const
      const { notice } = yield* registry.announce(staff, { processorId: processor.id, purposes, audience: [a, b] })
      yield* registry.object(tenantKey, a, notice.id, { reason: marker })
      yield* registry.object(tenantKey, b, notice.id, { reason: marker })
      yield* TestClock.adjust("30 days")
      // What the objected notice names beyond the processor's own is not taken on: nothing to report.
      assert.deepStrictEqual(yield* findingsOf(processor.id), [])

      yield* registry.suspend(staff, processor.id, "security incident under investigation")
      yield* registry.update(staff, processor.id, processorInput({ servesTenants: true, purposes }))
      const expected = { _tag: "ObjectionUnresolved", noticeId: notice.id, objections: 2 } as const
      assert.deepStrictEqual(
        (yield* registry.requirements(processor.id)).filter((r) => r._tag === "ObjectionUnresolved"),
        [expected]
      )
      const findings = yield* findingsOf(processor.id)
      assert.deepStrictEqual(findings.map((f) => f._tag), ["ObjectionUnresolved"])
      assert.deepStrictEqual(findings, [
        new Finding.ObjectionUnresolved({ processorId: processor.id, processorName: processor.legalName, ...expected })
      ])
      const described = Finding.describe(findings[0]!)
      assert.include(described, notice.id)
      assert.include(described, "2 objections")
      assert.notInclude(JSON.stringify(Schema.encodeSync(Schema.Array(Finding.Finding))(findings)), "Zoe")
      assert.notInclude(described, "Zoe")
    }))
})

sqlSuite("Review 17e storage", layers.sql, (it) => {
  it.effect("a processor an earlier version approved over an objection is a finding", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const tenant = yield* TenantId.make
      const processor = yield* registry.register(staff, processorInput({ servesTenants: true }))
      yield* completeReview(processor.id)
      const { notice } = yield* registry.announce(staff, { processorId: processor.id, audience: [tenant] })
      yield* TestClock.adjust("30 days")
      assert.strictEqual((yield* registry.approve(staff, processor.id)).status._tag, "Approved")
      assert.deepStrictEqual(yield* findingsOf(processor.id), [])

      // The objection an earlier version recorded in the period and approved over, written as it stored it.
      const store = yield* sqlStore((operation) => (cause) => ({ operation, cause }))
      const reason = Schema.decodeUnknownSync(ChangeNotice.ObjectionInput)({ reason: marker }).reason
      yield* store.commit([{
        _tag: "InsertObjection",
        objection: new ChangeNotice.Objection({ tenantId: tenant, noticeId: notice.id, reason, objectedAt: notice.publishedAt })
      }])

      assert.strictEqual((yield* registry.processor(processor.id)).status._tag, "Approved")
      const findings = yield* findingsOf(processor.id)
      assert.deepStrictEqual(findings.map((f) => f._tag === "ObjectionUnresolved" ? [f._tag, f.noticeId, f.objections] : [f._tag]), [
        ["ObjectionUnresolved", notice.id, 1]
      ])
      assert.notInclude(Finding.describe(findings[0]!), "Zoe")
    }))
})
