// Review 18b: an engaged processor that stopped serving tenants, over an objection to one of its
// notices, is still changed: a change whose check read no objection is not held to a count of them.
// The announcements are read in one statement that probes the recipients by notice.
import { assert } from "@effect/vitest"
import { contractSuite, rowsReadBy, sqlSuite } from "@lawful/core/testing"
import * as TenantId from "@lawful/core/TenantId"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as ChangeNotice from "../src/ChangeNotice.js"
import { sqlStore } from "../src/internal/sqlStore.js"
import type { RegistryStore } from "../src/internal/store.js"
import * as Processor from "../src/Processor.js"
import { ProcessorRegistry } from "../src/ProcessorRegistry.js"
import { approvedProcessor, atStart, layers, processorInput, staff, start, tenantKey } from "./fixtures.js"

contractSuite("Review 18b", layers, (it) => {
  it.effect("a processor that no longer serves tenants, one of whose notices they objected to, is changed and suspended and changed again", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const tenant = yield* TenantId.make
      const processor = yield* approvedProcessor({ servesTenants: true })
      const { notice } = yield* registry.announce(staff, { processorId: processor.id, audience: [tenant] })
      yield* registry.object(tenantKey, tenant, notice.id, { reason: "not for our contacts" })

      const stopped = yield* registry.update(staff, processor.id, processorInput({ servesTenants: false }))
      assert.isFalse(stopped.servesTenants)
      const renamed = yield* registry.update(staff, processor.id, processorInput({ legalName: "Mailhost SE" }))
      assert.strictEqual(renamed.legalName, "Mailhost SE")
      assert.strictEqual(renamed.status._tag, "Approved")

      yield* registry.suspend(staff, processor.id, "security incident under investigation")
      const changed = yield* registry.update(staff, processor.id, processorInput({ legalName: "Mailhost AG" }))
      assert.strictEqual(changed.legalName, "Mailhost AG")
      assert.strictEqual(changed.status._tag, "Suspended")
      assert.strictEqual((yield* registry.approve(staff, processor.id)).status._tag, "Approved")
    }))
})

// The store's reading of the announcements probes the recipients by notice: a notice that reached
// none is found so without reading the rows of every tenant told of another.
class Store extends Context.Tag("test/Review18b/RegistryStore")<Store, RegistryStore<unknown>>() {}

sqlSuite("Review 18b on SQL", Layer.effect(Store, sqlStore((operation) => (cause) => ({ operation, cause }))), (it) => {
  it.effect("reading the announcements probes the recipients by notice, never reads every tenant's row", () =>
    Effect.gen(function*() {
      const store = yield* Store
      const subject = new Processor.Processor({
        id: yield* Processor.makeId,
        ...Schema.decodeUnknownSync(Processor.ProcessorInput)(processorInput({ servesTenants: true })),
        status: { _tag: "Candidate" },
        registeredAt: new Date(start),
        updatedAt: new Date(start),
        revision: 1
      })
      const notice = (minutes: number) =>
        Effect.map(ChangeNotice.makeId, (id) =>
          new ChangeNotice.ChangeNotice({
            id,
            kind: "addition",
            processorId: subject.id,
            processorName: subject.legalName,
            services: subject.services,
            locations: subject.locations.map((location) => location.country),
            purposes: subject.purposes,
            description: "added",
            publishedAt: new Date(start + minutes * 60_000),
            objectionDeadline: new Date(start + (minutes + 30 * 24 * 60) * 60_000)
          }))
      const told = yield* notice(1)
      const hollow = yield* notice(2)
      const tenants = yield* Effect.all(Array.from({ length: 3000 }, () => TenantId.make))
      yield* store.commit([
        { _tag: "InsertProcessor", processor: subject },
        { _tag: "InsertNotice", notice: told, audience: tenants },
        { _tag: "InsertNotice", notice: hollow, audience: [] }
      ])
      const [announced, read] = yield* rowsReadBy("lawful_processor_notice_recipients", store.announcements(subject.id))
      assert.deepStrictEqual(announced.map((n) => n.id), [told.id])
      // Without the index by notice, finding that the hollow notice reached nobody read all 3,000.
      assert.isBelow(read, 100)
    }))
})
