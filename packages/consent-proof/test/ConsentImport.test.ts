import { assert, layer } from "@effect/vitest"
import * as SuppressionList from "@lawful/core/SuppressionList"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { ConsentLedger } from "../src/ConsentLedger.js"
import * as ConsentImport from "../src/ConsentImport.js"
import { attestation, tenantWithLists } from "./fixtures.js"
import { memory } from "./layers.js"

const actor = { kind: "api-key" as const, id: "key-import" }

layer(memory)("ConsentImport", (it) => {
  it.effect("an address repeated in a later batch of the same import is a duplicate, recorded once", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      const emails = ["a@example.com", "b@example.com", "c@example.com", " A@EXAMPLE.com", "b@example.com", "d@example.com", "a@example.com"]
      for (const batchSize of [1, 2, 3, 1000]) {
        const report = yield* ledger.importContacts(tenant, {
          attestation,
          lists: ["news"],
          actor,
          batchSize,
          contacts: Stream.fromIterable(emails.map((email) => ({ email })))
        })
        assert.deepStrictEqual(
          { received: report.received, recorded: report.recorded, duplicates: report.duplicates, rejections: report.rejections },
          {
            received: 7,
            recorded: 4,
            duplicates: 3,
            rejections: [{ row: 4, reason: "duplicate" }, { row: 5, reason: "duplicate" }, { row: 7, reason: "duplicate" }]
          },
          `batches of ${batchSize}`
        )
        const events = yield* ledger.events(tenant, { limit: 100 })
        const ofImport = events.filter((e) => e.event.source.type === "import" && e.event.source.importId === report.importId)
        assert.strictEqual(ofImport.length, 4)
        assert.strictEqual(new Set(ofImport.map((e) => e.event.subject)).size, 4)
      }
    }))

  it.effect("the report lists the first refused rows, in row order, whatever their reasons", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const suppression = yield* SuppressionList.SuppressionList
      const tenant = yield* tenantWithLists
      for (let i = 0; i < 5; i++) yield* suppression.add(tenant, `gone${i}@example.com`, "unsubscribe")
      const contacts = [
        ...Array.from({ length: 5 }, (_, i) => ({ email: `gone${i}@example.com` })),
        ...Array.from({ length: ConsentImport.maxListedRejections + 200 }, (_, i) => ({ email: `not-an-address-${i}` })),
        { email: "kept@example.com" }
      ]
      const report = yield* ledger.importContacts(tenant, { attestation, lists: ["news"], actor, batchSize: 10_000, contacts })
      assert.strictEqual(report.received, contacts.length)
      assert.strictEqual(report.suppressed, 5)
      assert.strictEqual(report.invalidEmail, ConsentImport.maxListedRejections + 200)
      assert.strictEqual(report.recorded, 1)
      assert.strictEqual(report.rejections.length, ConsentImport.maxListedRejections)
      assert.deepStrictEqual(
        report.rejections.map((r) => r.row),
        Array.from({ length: ConsentImport.maxListedRejections }, (_, i) => i + 1)
      )
      assert.deepStrictEqual(report.rejections.slice(0, 6).map((r) => r.reason), [
        "suppressed", "suppressed", "suppressed", "suppressed", "suppressed", "invalid-email"
      ])
    }))

  it.effect("a running import renews its hold on its key: a call minutes later still finds it in progress", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      const reading = yield* Deferred.make<void>()
      const rest = yield* Deferred.make<void>()
      const contacts = [{ email: "slow1@example.com" }, { email: "slow2@example.com" }]
      const request = (source: ConsentImport.ImportRequest["contacts"]) =>
        ({ attestation, lists: ["news"], actor, idempotencyKey: "slow-upload", contacts: source }) as const
      const stalled = Stream.concat(
        Stream.fromIterable(contacts),
        Stream.drain(Stream.fromEffect(Effect.zipRight(Deferred.succeed(reading, undefined), Deferred.await(rest))))
      )
      const running = yield* Effect.fork(ledger.importContacts(tenant, request(stalled)))
      yield* Deferred.await(reading)
      // Ten renewal periods: five times the time a claim holds unless renewed.
      for (let i = 0; i < 10; i++) yield* TestClock.adjust(ConsentImport.claimRenewal)
      const busy = yield* Effect.flip(ledger.importContacts(tenant, request(contacts)))
      assert.strictEqual(busy._tag, "ImportInProgress")
      yield* Deferred.succeed(rest, undefined)
      const report = yield* Fiber.join(running)
      assert.strictEqual(report.recorded, 2)
      assert.deepStrictEqual(yield* ledger.importContacts(tenant, request(contacts)), report)
    }))
})
