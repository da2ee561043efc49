// Review 18e: the ledger puts the store it is given behind the tenant check of the shipped layers,
// once (`checkingTenant`), instead of testing the tenant again on each read: a store of one's own
// never sees a tenant id that is not one, and each method answers as for a tenant with nothing. On
// memory, PGlite and PostgreSQL.
import { assert } from "@effect/vitest"
import type { TenantId } from "@lawful/core/TenantId"
import { contractSuite } from "@lawful/core/testing"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { ConsentLedger } from "../src/ConsentLedger.js"
import * as ConsentStore from "../src/ConsentStore.js"
import { grant, tenantWithLists } from "./fixtures.js"
import { withStore } from "./layers.js"

const personal = "ivy.private@example.com"

/** Every first argument (a tenant) the ledger passed to the store. */
const reached = new Set<unknown>()

/** A store of one's own: the shipped one behind a spy, a store the ledger has not checked. */
const spyingStore = Layer.effect(
  ConsentStore.ConsentStore,
  Effect.map(ConsentStore.ConsentStore, (store) => {
    const spied: Record<string, unknown> = { ...store }
    for (const [name, value] of Object.entries(store)) {
      if (typeof value === "function") {
        spied[name] = (tenant: unknown, ...args: ReadonlyArray<unknown>) => {
          reached.add(tenant)
          return (value as (...all: ReadonlyArray<unknown>) => unknown)(tenant, ...args)
        }
      }
    }
    return spied as unknown as ConsentStore.ConsentStore["Type"]
  })
)

const { memory, sql } = withStore(spyingStore)

contractSuite("Review18e", { memory, sql }, (it) => {
  it.effect("a store of one's own never sees a tenant id that is not one; the ledger answers as for a tenant with nothing", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      const recorded = yield* ledger.record(tenant, grant("ivy@example.com", ["news"]))
      const subject = recorded.event.subject
      assert.isTrue(reached.has(tenant), "the spy sees the ledger's calls")
      for (const other of [tenant.toUpperCase(), personal, `${tenant} `] as Array<TenantId>) {
        const label = JSON.stringify(other)
        assert.deepStrictEqual(yield* ledger.stateOf(other, subject), [], `${label} stateOf`)
        assert.deepStrictEqual(yield* ledger.stateAt(other, subject, new Date()), [], `${label} stateAt`)
        assert.isFalse(yield* ledger.mayReceiveMarketing(other, subject, "news"), `${label} mayReceiveMarketing`)
        assert.deepStrictEqual(yield* ledger.events(other, { limit: 10 }), [], `${label} events`)
        assert.deepStrictEqual(yield* ledger.events(other, { subject, limit: 10 }), [], `${label} events of the subject`)
        assert.strictEqual((yield* Effect.either(ledger.event(other, recorded.event.id)))._tag, "Left", `${label} event`)
        assert.strictEqual((yield* Effect.either(Stream.runDrain(ledger.recipients(other, "news"))))._tag, "Left", `${label} recipients`)
        assert.strictEqual(yield* ledger.rebuildProjection(other), 0, `${label} rebuildProjection`)
        assert.strictEqual(yield* ledger.erase(other, subject), 0, `${label} erase`)
        assert.isFalse(reached.has(other), `${label} reached the store`)
      }
      // The tenant's own data is as it was.
      assert.strictEqual((yield* ledger.events(tenant, { limit: 10 })).length, 1)
      assert.isTrue(yield* ledger.mayReceiveMarketing(tenant, subject, "news"))
    }))
})
