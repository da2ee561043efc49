// Review 17d: a checked append refused by a store that names none of the events it was given (a
// store breaking its contract) makes the call die with a defect that says so, instead of making
// the same append again and again. On memory, PGlite and PostgreSQL.
import { assert } from "@effect/vitest"
import { contractSuite } from "@lawful/core/testing"
import type * as TenantId from "@lawful/core/TenantId"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ConsentLedger from "../src/ConsentLedger.js"
import * as ConsentLists from "../src/ConsentLists.js"
import * as ConsentStore from "../src/ConsentStore.js"
import { confirm, contactsOf, grant, keyedImport, tenantWithLists } from "./fixtures.js"
import { withStore } from "./layers.js"

// An id no event of the batch has.
const unknownId = "00000000-0000-7000-8000-000000000000"

// More appends than this for one call: the ledger is looping (the test stops it with a defect).
const appendLimit = 5

/** Tenants whose checked appends are refused naming only `unknownId`, with the appends counted. */
const misnaming = new Map<TenantId.TenantId, { appends: number }>()

const misnamingStore = Layer.effect(
  ConsentStore.ConsentStore,
  Effect.map(ConsentStore.ConsentStore, (store) =>
    ConsentStore.ConsentStore.of({
      ...store,
      append: (tenant, batch, options) =>
        Effect.suspend(() => {
          const counted = misnaming.get(tenant)
          const checked = options?.checkConfirmations === true || options?.refuseWithdrawnSince !== undefined
          if (counted === undefined || !checked) return store.append(tenant, batch, options)
          counted.appends += 1
          if (counted.appends > appendLimit) return Effect.dieMessage("the ledger made the same refused append again and again")
          return Effect.fail(
            options?.checkConfirmations === true
              ? new ConsentStore.ConfirmationRefused({ tenantId: tenant, eventIds: [unknownId] })
              : new ConsentStore.GrantRefused({ tenantId: tenant, eventIds: [unknownId] })
          )
        })
    }))
)

const { memory, sql } = withStore(misnamingStore)

const defectOf = (exit: Exit.Exit<unknown, unknown>) => {
  const defect = Exit.isFailure(exit) ? Cause.dieOption(exit.cause) : Option.none()
  return Option.isSome(defect) && defect.value instanceof Error ? defect.value.message : undefined
}

contractSuite("Review 17d", { memory, sql }, (it) => {
  it.effect("a confirmation refused naming no event of the batch dies after one append, never loops", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger.ConsentLedger
      const tenant = yield* tenantWithLists
      const email = "looped-confirmation@example.com"
      yield* ledger.record(tenant, grant(email, ["offers"]))
      const counted = { appends: 0 }
      misnaming.set(tenant, counted)
      const exit = yield* Effect.exit(ledger.record(tenant, confirm(email, ["offers"])))
      misnaming.delete(tenant)
      assert.strictEqual(counted.appends, 1)
      const message = defectOf(exit)
      assert.include(message, "store contract")
      assert.include(message, "ConfirmationRefused")
      assert.notInclude(message, email)
    }))

  it.effect("an import's grants refused naming no event of the batch die after one append, never loop", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger.ConsentLedger
      const tenant = yield* tenantWithLists
      const counted = { appends: 0 }
      misnaming.set(tenant, counted)
      const exit = yield* Effect.exit(ledger.importContacts(tenant, keyedImport("misnamed-refusal", contactsOf(3))))
      misnaming.delete(tenant)
      assert.strictEqual(counted.appends, 1)
      const message = defectOf(exit)
      assert.include(message, "store contract")
      assert.include(message, "GrantRefused")
      assert.notInclude(message, "contact0@example.com")
    }))
})
