import { assert } from "@effect/vitest"
import * as AuditLog from "@lawful/audit-trail/AuditLog"
import * as Checkpoint from "@lawful/audit-trail/Checkpoint"
import { contractSuite } from "@lawful/core/testing"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as TestClock from "effect/TestClock"
import * as fc from "fast-check"
import { randomBytes } from "node:crypto"
import * as ConsentEvent from "../src/ConsentEvent.js"
import { ConsentLedger } from "../src/ConsentLedger.js"
import type { RecordRequest } from "../src/ConsentLedger.js"
import * as ConsentProof from "../src/ConsentProof.js"
import { auditor, confirm, grant, tenantWithLists, withdraw } from "./fixtures.js"
import { memory, sql } from "./layers.js"
import type { Services } from "./layers.js"

const decoder = new TextDecoder()

/** Every proof of every recorded event verifies, with and without disclosures, and names its event. */
const checkAll = (tenant: import("@lawful/core/TenantId").TenantId) =>
  Effect.gen(function*() {
    const ledger = yield* ConsentLedger
    const events = yield* ledger.events(tenant, { limit: 1000 })
    for (const stored of events) {
      for (const disclose of [false, true]) {
        const proof = yield* ledger.proof(tenant, stored.event.id, { disclose, actor: auditor })
        const verified = yield* ConsentProof.verifyJson(ConsentProof.toJson(proof), ledger.verifierKey)
        assert.deepStrictEqual(ConsentEvent.canonicalBytes(verified.event), stored.bytes)
        assert.strictEqual(verified.auditIndex, stored.auditIndex)
        const disclosed = yield* ledger.disclose(stored, { actor: auditor })
        assert.deepStrictEqual(verified.ip, disclose ? Option.fromNullable(disclosed.ip?.value) : Option.none())
        assert.deepStrictEqual(verified.userAgent, disclose ? Option.fromNullable(disclosed.userAgent?.value) : Option.none())
      }
    }
    return events.length
  })

const requests = fc.array(
  fc.tuple(
    fc.constantFrom("grant", "withdraw", "confirm"),
    fc.nat({ max: 3 }),
    fc.subarray(["news", "offers", "events.local"], { minLength: 1 }),
    fc.option(fc.constantFrom("198.51.100.20", "2001:db8::1", "::ffff:192.0.2.1"), { nil: undefined }),
    fc.option(fc.string({ maxLength: 40 }), { nil: undefined })
  ),
  { minLength: 1, maxLength: 6 }
)

contractSuite("ConsentProof", { memory, sql }, (it, backend) => {
  it.effect("every valid proof verifies offline, with or without its disclosures", () =>
    Effect.gen(function*() {
      const run = Runtime.runPromise(yield* Effect.runtime<Services>())
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(requests, async (steps) => {
            const tenant = await run(tenantWithLists)
            await run(Effect.flatMap(ConsentLedger, (ledger) => ledger.record(tenant, grant("first@example.com", ["offers"]))))
            for (const [kind, who, lists, ip, userAgent] of steps) {
              const email = `p${who}@example.com`
              const extra: Partial<RecordRequest> = { ip, userAgent }
              const request = kind === "grant"
                ? grant(email, lists, extra)
                : kind === "withdraw"
                ? withdraw(email, lists, extra)
                : confirm(email, lists, extra)
              // A confirmation of nothing pending is refused; the others are recorded.
              await run(Effect.either(Effect.flatMap(ConsentLedger, (ledger) => ledger.record(tenant, request))))
              await run(TestClock.adjust(7))
            }
            const count = await run(checkAll(tenant))
            assert.isAtLeast(count, 1)
          }),
          { numRuns: backend === "memory" ? 25 : 8 }
        )
      )
    }), { timeout: 120_000 })

  it.effect("every single-byte change to a proof (event, details, proof, checkpoint, signature, disclosures) is rejected", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      // Some events before and after, so the inclusion proof has several hashes.
      for (let i = 0; i < 5; i++) yield* ledger.record(tenant, grant(`before${i}@example.com`, ["news"]))
      const recorded = yield* ledger.record(
        tenant,
        grant("tamper@example.com", ["news", "offers"], { userAgent: "Mozilla/5.0 \"tamper\" — ünïcode" })
      )
      for (let i = 0; i < 6; i++) yield* ledger.record(tenant, grant(`after${i}@example.com`, ["news"]))
      const proof = yield* ledger.proof(tenant, recorded.event.id, { disclose: true, actor: auditor })
      const text = ConsentProof.toJson(proof)
      const bytes = Buffer.from(text, "utf8")
      yield* ConsentProof.verifyJson(text, ledger.verifierKey)
      assert.isAbove(proof.audit.inclusionProof.length, 2)

      let checked = 0
      for (let i = 0; i < bytes.length; i++) {
        for (const change of [0x01, 1 + (randomBytes(1)[0]! % 255)]) {
          const tampered = Buffer.from(bytes)
          tampered[i] = tampered[i]! ^ change
          const result = yield* Effect.either(ConsentProof.verifyJson(decoder.decode(tampered), ledger.verifierKey))
          if (Either.isRight(result)) assert.fail(`a change of byte ${i} (${JSON.stringify(text.slice(i - 10, i + 10))}) verified`)
          checked++
        }
      }
      assert.strictEqual(checked, bytes.length * 2)
    }), { timeout: 120_000 })

  it.effect("a proof verifies only with the log's key, and stays valid as the log grows", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      const recorded = yield* ledger.record(tenant, grant("kept@example.com", ["news"]))
      const early = ConsentProof.toJson(yield* ledger.proof(tenant, recorded.event.id))
      for (let i = 0; i < 20; i++) yield* ledger.record(tenant, grant(`later${i}@example.com`, ["news"]))
      const signer = yield* Checkpoint.makeSigner("lawful/audit", new Uint8Array(randomBytes(32)))
      const wrongKey = yield* Effect.either(ConsentProof.verifyJson(early, signer.verifierKey))
      assert.isTrue(Either.isLeft(wrongKey))
      yield* ConsentProof.verifyJson(early, ledger.verifierKey)
      const log = yield* AuditLog.AuditLog
      yield* log.checkpoint(tenant)
      const late = yield* ledger.proof(tenant, recorded.event.id)
      yield* ConsentProof.verify(late, ledger.verifierKey)

      // A proof for one event does not prove another.
      const other = (yield* ledger.events(tenant, { limit: 2 }))[1]!
      const swapped = { ...ConsentProof.encode(late), event: Buffer.from(other.bytes).toString("base64") }
      const result = yield* Effect.either(ConsentProof.verifyJson(JSON.stringify(swapped), ledger.verifierKey))
      assert.isTrue(Either.isLeft(result))
    }))

  it.effect("a disclosed proof, or a disclosure, appends one audit entry naming the subject and the event, without the values", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const log = yield* AuditLog.AuditLog
      const tenant = yield* tenantWithLists
      const actor = { kind: "api-key" as const, id: "key-proofs" }
      const recorded = yield* ledger.record(tenant, grant("disclosed@example.com", ["news"], { userAgent: "Secret-Agent/1.0" }))
      const size = yield* log.size(tenant)

      // A proof without disclosures decrypts nothing and appends nothing.
      yield* ledger.proof(tenant, recorded.event.id)
      yield* ledger.proof(tenant, recorded.event.id, { disclose: false })
      assert.strictEqual(yield* log.size(tenant), size)

      const proof = yield* ledger.proof(tenant, recorded.event.id, { disclose: true, actor })
      assert.strictEqual(proof.disclosures?.ip?.value, "203.0.113.7")
      const disclosed = yield* ledger.disclose(recorded, { actor: { kind: "subject" } })
      assert.strictEqual(disclosed.userAgent?.value, "Secret-Agent/1.0")
      assert.strictEqual(yield* log.size(tenant), size + 2)
      for (const [index, expected] of [[size, actor], [size + 1, { kind: "subject" }]] as const) {
        const entry = yield* log.entry(tenant, index)
        assert.strictEqual(entry.action, "consent.disclosed")
        assert.deepStrictEqual(entry.actor, expected)
        assert.deepStrictEqual(Option.map(entry.subject, (s) => s.id), Option.some(recorded.event.subject))
        assert.deepStrictEqual(entry.resource, { type: "consent-event", id: recorded.event.id })
        assert.deepStrictEqual(Option.getOrThrow(entry.details).value, { disclosed: ["ip", "userAgent"] })
        const text = JSON.stringify({ ...entry, leaf: undefined })
        assert.notInclude(text, "203.0.113.7")
        assert.notInclude(text, "Secret-Agent")
      }

      // A refused actor: nothing appended, nothing decrypted.
      for (const refused of [undefined, { kind: "api-key", id: "" }, { kind: "staff", id: "s\u0000" }, { kind: "nobody" }]) {
        const viaProof = yield* Effect.either(
          ledger.proof(tenant, recorded.event.id, { disclose: true, actor: refused } as never)
        )
        assert.isTrue(Either.isLeft(viaProof) && viaProof.left._tag === "ConsentRequestInvalid", JSON.stringify(refused))
        const viaDisclose = yield* Effect.either(ledger.disclose(recorded, { actor: refused } as never))
        assert.isTrue(Either.isLeft(viaDisclose) && viaDisclose.left._tag === "ConsentRequestInvalid", JSON.stringify(refused))
      }
      // An unknown event: nothing appended either.
      const missing = yield* Effect.either(ledger.proof(tenant, "0190a5d0-0000-7000-8000-000000000000", { disclose: true, actor }))
      assert.isTrue(Either.isLeft(missing) && missing.left._tag === "ConsentEventNotFound")
      assert.strictEqual(yield* log.size(tenant), size + 2)
    }))

  it.effect("once the audit details are redacted, a new proof is unavailable", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const log = yield* AuditLog.AuditLog
      const tenant = yield* tenantWithLists
      const recorded = yield* ledger.record(tenant, grant("old@example.com", ["news"]))
      const exported = ConsentProof.toJson(yield* ledger.proof(tenant, recorded.event.id))
      yield* TestClock.adjust(1000)
      yield* log.redactDetails(tenant, {
        before: new Date(recorded.event.time.getTime() + 1),
        limit: 10,
        actor: { kind: "system", id: "retention" }
      })
      const result = yield* Effect.either(ledger.proof(tenant, recorded.event.id))
      assert.isTrue(Either.isLeft(result) && result.left._tag === "ConsentProofUnavailable")
      yield* ConsentProof.verifyJson(exported, ledger.verifierKey)
      const missing = yield* Effect.either(ledger.proof(tenant, "0190a5d0-0000-7000-8000-000000000000"))
      assert.isTrue(Either.isLeft(missing) && missing.left._tag === "ConsentEventNotFound")
    }))
})
