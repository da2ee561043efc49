// Review 17e: an engaged processor (approved or suspended) serving tenants whose covering notice a
// tenant objected to is a finding, by the rule approval applies (`ObjectionUnresolved`), naming the
// notice and the count of objections, never the reasons. The registry neither approves over an
// objection nor, since Review 18, lets a suspended processor take on what an objected notice named,
// so the state comes from an approval made by an earlier version (SQL, written through the store).
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
  it.effect("an engaged processor takes on no purpose tenants objected to: nothing to report", () =>
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

      // Nor, since Review 18, while suspended: the processor still holds the tenants' data.
      yield* registry.suspend(staff, processor.id, "security incident under investigation")
      const refused = yield* Effect.flip(registry.update(staff, processor.id, processorInput({ servesTenants: true, purposes })))
      assert.deepStrictEqual(
        refused._tag === "ChangeRefused" ? refused.missing : [],
        [{ _tag: "ObjectionUnresolved", noticeId: notice.id, objections: 2 }]
      )
      assert.deepStrictEqual(yield* findingsOf(processor.id), [])
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
      assert.deepStrictEqual(findings, [
        new Finding.ObjectionUnresolved({ processorId: processor.id, processorName: processor.legalName, noticeId: notice.id, objections: 1 })
      ])
      const described = Finding.describe(findings[0]!)
      assert.include(described, notice.id)
      assert.include(described, "1 objection")
      assert.notInclude(JSON.stringify(Schema.encodeSync(Schema.Array(Finding.Finding))(findings)), "Zoe")
      assert.notInclude(described, "Zoe")
    }))
})
