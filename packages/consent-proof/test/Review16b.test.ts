import { assert, layer } from "@effect/vitest"
import * as AuditLog from "@lawful/audit-trail/AuditLog"
import * as AuditStore from "@lawful/audit-trail/AuditStore"
import * as Checkpoint from "@lawful/audit-trail/Checkpoint"
import * as CheckpointPublisher from "@lawful/audit-trail/CheckpointPublisher"
import * as MerkleProof from "@lawful/audit-trail/MerkleProof"
import * as MerkleTree from "@lawful/audit-trail/MerkleTree"
import * as ProofBundle from "@lawful/audit-trail/ProofBundle"
import * as PersonalDataRegistry from "@lawful/core/PersonalDataRegistry"
import type { SubjectId } from "@lawful/core/SubjectId"
import { contractSuite, coreMemory as memoryCore } from "@lawful/core/testing"
import * as Vault from "@lawful/core/Vault"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as ConsentExport from "../src/ConsentExport.js"
import { randomBytes } from "node:crypto"
import * as ConsentLedger from "../src/ConsentLedger.js"
import * as ConsentProof from "../src/ConsentProof.js"
import { auditor, grant, tenantWithLists, withdraw } from "./fixtures.js"
import { memory, registrations, sql } from "./layers.js"

/** The memory setup with the audit log's signer in context: the tests sign with the log's own key. */
const withSigner = registrations.pipe(
  Layer.provideMerge(ConsentLedger.layerMemory),
  Layer.provideMerge(Layer.merge(
    memoryCore,
    AuditLog.layer.pipe(
      Layer.provideMerge(Layer.mergeAll(
        AuditStore.layerMemory,
        Layer.effect(
          AuditLog.AuditSigner,
          Effect.orDie(Checkpoint.makeSigner("lawful/audit", new Uint8Array(randomBytes(32))))
        ),
        CheckpointPublisher.layerMemory
      ))
    )
  ))
)

/** Why the verification of `text` fails: it must fail with `ConsentProofInvalid`, never succeed or die. */
const refusal = (text: string, key: string) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(ConsentProof.verifyJson(text, key))
    if (Exit.isSuccess(exit)) return assert.fail("verified")
    const failure = Cause.failureOption(exit.cause)
    if (Option.isNone(failure)) return assert.fail(Cause.pretty(exit.cause))
    return failure.value.reason
  })

layer(withSigner)("Review 16b: what a consent proof binds", (it) => {
  it.effect("a proof against a checkpoint of another log signed by the same key is refused: the origin is the event tenant's log", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger.ConsentLedger
      const signer = yield* AuditLog.AuditSigner
      const tenant = yield* tenantWithLists
      const recorded = yield* ledger.record(tenant, grant("origin@example.com", ["news"]))
      const genuine = yield* ledger.proof(tenant, recorded.event.id)
      // The genuine entry, in a tree of the same key under another origin (another log the key signs).
      const onLog = (origin: string) => {
        const index = genuine.audit.leafIndex
        const leaves = Array.from(
          { length: index + 2 },
          (_, i) => MerkleTree.hashLeaf(i === index ? genuine.audit.entry : new Uint8Array(randomBytes(40)))
        )
        const checkpoint = new Checkpoint.Checkpoint({ origin, treeSize: leaves.length, rootHash: MerkleTree.rootOf(leaves) })
        return ConsentProof.toJson(
          new ConsentProof.ConsentProof({
            ...genuine,
            audit: new ProofBundle.ProofBundle({
              version: 1,
              origin,
              entry: genuine.audit.entry,
              leafIndex: index,
              treeSize: leaves.length,
              inclusionProof: MerkleProof.inclusionProof(leaves, index, leaves.length),
              checkpoint: Checkpoint.sign(checkpoint, signer)
            })
          })
        )
      }
      // The construction is sound: on the tenant's own origin it verifies.
      const own = yield* ConsentProof.verifyJson(onLog(`lawful/audit/${tenant}`), ledger.verifierKey)
      assert.strictEqual(own.event.id, recorded.event.id)
      const other = yield* tenantWithLists
      for (const origin of ["lawful/audit", `lawful/audit/${other}`, "staging.example/audit", `lawful/audit/${tenant}/x`]) {
        const reason = yield* refusal(onLog(origin), ledger.verifierKey)
        assert.include(reason, "origin", origin)
      }
    }))

  it.effect("a proof text that names a member twice, or spells a number otherwise, is refused: every JSON reader sees one proof", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger.ConsentLedger
      const tenant = yield* tenantWithLists
      const recorded = yield* ledger.record(tenant, grant("twice@example.com", ["news"]))
      const json = ConsentProof.encode(yield* ledger.proof(tenant, recorded.event.id, { disclose: true, actor: auditor }))
      const text = JSON.stringify(json)
      yield* ConsentProof.verifyJson(text, ledger.verifierKey)
      // A reader that keeps the first of two members sees another IP address than the one verified.
      const fake = JSON.stringify({ value: "198.51.100.66", salt: json.disclosures!.ip!.salt })
      const variants = {
        "a disclosure given twice": text.replace("\"disclosures\":{\"ip\":", `"disclosures":{"ip":${fake},"ip":`),
        "the event given twice": text.replace("\"event\":", `"event":"AAAA","event":`),
        "a bundle member given twice": text.replace("\"leafIndex\":", "\"leafIndex\":0,\"leafIndex\":"),
        "a version spelled 1.0": text.replace("\"version\":1,", "\"version\":1.0,"),
        "a leaf index with an exponent": text.replace(
          `"leafIndex":${json.audit.leafIndex}`,
          `"leafIndex":${json.audit.leafIndex}e0`
        )
      }
      const verified: Array<string> = []
      for (const [label, variant] of Object.entries(variants)) {
        assert.notStrictEqual(variant, text, label)
        const exit = yield* Effect.exit(ConsentProof.verifyJson(variant, ledger.verifierKey))
        if (Exit.isSuccess(exit)) verified.push(label)
        else assert.strictEqual(Option.getOrThrow(Cause.failureOption(exit.cause))._tag, "ConsentProofInvalid", label)
      }
      assert.deepStrictEqual(verified, [])
    }))

  it.effect("the reason a malformed proof is refused never holds a disclosed IP address or user agent", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger.ConsentLedger
      const tenant = yield* tenantWithLists
      const ip = "203.0.113.7"
      const userAgent = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"
      const recorded = yield* ledger.record(tenant, grant("reason@example.com", ["news"], { ip, userAgent }))
      const json = ConsentProof.encode(yield* ledger.proof(tenant, recorded.event.id, { disclose: true, actor: auditor }))
      const { ip: disclosedIp, userAgent: disclosedAgent } = json.disclosures!
      const malformed = [
        { ...json, disclosures: { ip } },
        { ...json, disclosures: { ip: disclosedIp, userAgent } },
        { ...json, disclosures: { ip: { ...disclosedIp!, note: "x" }, userAgent: disclosedAgent } },
        { ...json, disclosures: { ip: disclosedIp, userAgent: { ...disclosedAgent!, salt: "not base64" } } },
        { ...json, disclosures: { ip: { value: [ip], salt: disclosedIp!.salt } } },
        { ...json, disclosures: { userAgent: { value: `${userAgent}\uD800`, salt: disclosedAgent!.salt } } },
        { ...json, disclosures: [ip, userAgent] },
        { ...json, version: 2 }
      ]
      for (const proof of malformed) {
        const reason = yield* refusal(JSON.stringify(proof), ledger.verifierKey)
        assert.notInclude(reason, ip, reason)
        assert.notInclude(reason, "Mozilla", reason)
      }
    }))
})

const exported = (stream: Stream.Stream<ConsentExport.ExportedEvent, unknown, ConsentLedger.ConsentLedger>) =>
  Effect.map(Stream.runCollect(Stream.take(stream, 1_000)), Chunk.toReadonlyArray)

contractSuite("Review 16b: exports and erasure", { memory, sql }, (it) => {
  it.effect("an export holds each event once, in order, at every page size; fields open with their own subject's key; a shredded subject exports without them", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger.ConsentLedger
      const tenant = yield* tenantWithLists
      // Two subjects, their events interleaved, each with its own IP address and user agent.
      const fields = { a: { ip: "192.0.2.1", userAgent: "Agent-A/1" }, b: { ip: "198.51.100.2", userAgent: "Agent-B/2" } }
      const ids: Record<"a" | "b", Array<string>> = { a: [], b: [] }
      const subjects: Partial<Record<"a" | "b", SubjectId>> = {}
      for (const step of [0, 1, 2]) {
        for (const who of ["a", "b"] as const) {
          const email = `${who}.pages@example.com`
          const request = step === 1 ? withdraw(email, ["news"], fields[who]) : grant(email, ["news"], fields[who])
          const recorded = yield* ledger.record(tenant, request)
          ids[who].push(recorded.event.id)
          subjects[who] = recorded.event.subject
        }
      }
      ids.a.push((yield* ledger.record(tenant, grant("a.pages@example.com", ["offers"], fields.a))).event.id)
      const all = (yield* ledger.events(tenant, { limit: 100 })).map((stored) => stored.event.id)
      assert.strictEqual(all.length, 7)
      for (const pageSize of [1, 2, 3, 4, 6, 7, 8, 1_000]) {
        const tenantWide = yield* exported(ConsentExport.events(tenant, { actor: auditor, pageSize }))
        assert.deepStrictEqual(tenantWide.map((e) => e.stored.event.id), all, `tenant, page ${pageSize}`)
        for (const e of tenantWide) {
          const who = e.stored.event.subject === subjects.a ? "a" : "b"
          assert.strictEqual(e.ip, fields[who].ip)
          assert.strictEqual(e.userAgent, fields[who].userAgent)
        }
        for (const who of ["a", "b"] as const) {
          const own = yield* exported(ConsentExport.events(tenant, { subject: subjects[who]!, actor: auditor, pageSize }))
          assert.deepStrictEqual(own.map((e) => e.stored.event.id), ids[who], `${who}, page ${pageSize}`)
          assert.deepStrictEqual(new Set(own.map((e) => e.ip)), new Set([fields[who].ip]))
        }
      }
      yield* (yield* Vault.Vault).shred(tenant, subjects.a!)
      for (const pageSize of [1, 3, 1_000]) {
        const shredded = yield* exported(ConsentExport.events(tenant, { subject: subjects.a!, actor: auditor, pageSize }))
        assert.deepStrictEqual(shredded.map((e) => [e.stored.event.id, e.ip, e.userAgent]), ids.a.map((id) => [id, undefined, undefined]))
        const tenantWide = yield* exported(ConsentExport.events(tenant, { actor: auditor, pageSize }))
        assert.deepStrictEqual(tenantWide.map((e) => e.stored.event.id), all)
        for (const e of tenantWide) {
          const live = e.stored.event.subject === subjects.b
          assert.strictEqual(e.ip, live ? fields.b.ip : undefined)
          assert.strictEqual(e.userAgent, live ? fields.b.userAgent : undefined)
        }
      }
    }))

  it.effect("after erasure nothing of the subject is readable: exports, projection, events, proofs, the source; the other subject is whole", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger.ConsentLedger
      const registry = yield* PersonalDataRegistry.PersonalDataRegistry
      const tenant = yield* tenantWithLists
      const erased = yield* ledger.record(tenant, grant("erased.16b@example.com", ["news", "offers"]))
      yield* ledger.record(tenant, withdraw("erased.16b@example.com", ["news"]))
      const kept = yield* ledger.record(tenant, grant("kept.16b@example.com", ["news"]))
      const subject = erased.event.subject
      const source = (yield* registry.sources).find((s) => s.name === ConsentLedger.sourceName)!
      assert.deepStrictEqual(yield* source.erase(tenant, subject), { erased: 2 })
      assert.deepStrictEqual(yield* ledger.stateOf(tenant, subject), [])
      assert.deepStrictEqual(yield* ledger.stateAt(tenant, subject, new Date(8.64e15)), [])
      assert.deepStrictEqual(yield* exported(ConsentExport.events(tenant, { subject, actor: auditor })), [])
      const csv = (yield* Stream.runCollect(ConsentExport.csv(tenant, { actor: auditor }))).pipe(Chunk.join(""))
      const json = (yield* Stream.runCollect(ConsentExport.json(tenant, { actor: auditor }))).pipe(Chunk.join(""))
      for (const text of [csv, json]) {
        assert.notInclude(text, subject)
        assert.include(text, kept.event.id)
      }
      const proof = yield* Effect.either(ledger.proof(tenant, erased.event.id, { disclose: true, actor: auditor }))
      assert.isTrue(proof._tag === "Left" && proof.left._tag === "ConsentEventNotFound")
      assert.deepStrictEqual((yield* source.export(tenant, subject)).records, [])
      assert.deepStrictEqual(
        (yield* source.export(tenant, kept.event.subject)).records.map((r) => r.fields.id),
        [kept.event.id]
      )
      assert.isTrue(yield* ledger.mayReceiveMarketing(tenant, kept.event.subject, "news"))
    }))
})
