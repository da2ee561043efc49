import { assert, describe, it as plain } from "@effect/vitest"
import * as SubjectId from "@lawful/core/SubjectId"
import * as TenantId from "@lawful/core/TenantId"
import { contractSuite } from "@lawful/core/testing"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import * as AuditLog from "../src/AuditLog.js"
import type { AuditEvent } from "../src/AuditEvent.js"
import * as Checkpoint from "../src/Checkpoint.js"
import * as MerkleProof from "../src/MerkleProof.js"
import * as ProofBundle from "../src/ProofBundle.js"
import { auditMemory, auditSql } from "../src/testing.js"
import { event } from "./AuditLogSuite.js"
import { marker, refused } from "./fixtures/refusals.js"
import { snapshot } from "./fixtures/stores.js"

const system = { kind: "system", id: "retention" } as const

contractSuite("audit-trail review 18c", { memory: auditMemory, sql: auditSql }, (it) => {
  it.effect("a tenant id that is not a lower-case UUID is refused by every operation before the store is reached, alike on every store, unquoted, and nothing is written", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog.AuditLog
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      yield* TestClock.setTime(Date.UTC(2026, 0, 1))
      yield* log.appendAll(tenant, Array.from({ length: 5 }, (_, i) => event(i, { subject })))
      yield* log.checkpoint(tenant)
      yield* TestClock.adjust("30 days")
      const before = yield* snapshot(tenant)
      // The tenant's own id in upper case: PostgreSQL reads it as the same uuid, and wrote there.
      for (const given of [marker, tenant.toUpperCase(), "", null, undefined, 42, `${tenant}\u0000`, [tenant], { id: tenant }]) {
        const bad = given as unknown as TenantId.TenantId
        const what = (operation: string) => `${operation} of tenant ${typeof given === "string" ? JSON.stringify(given.slice(0, 40)) : String(given)}`
        yield* refused(what("append"), "AuditEventInvalid", () => log.append(bad, event(1)))
        yield* refused(what("appendAll"), "AuditEventInvalid", () => log.appendAll(bad, [event(1), event(2)]))
        yield* refused(what("redactDetails"), "AuditEventInvalid", () =>
          log.redactDetails(bad, { before: new Date(Date.UTC(2026, 0, 15)), limit: 10, actor: system }))
        yield* refused(what("delinkSubject"), "AuditEventInvalid", () => log.delinkSubject(bad, subject, system))
        yield* refused(what("query"), "QueryInvalid", () => log.query(bad, {}))
        yield* refused(what("size"), "AuditStoreError", () => log.size(bad))
        yield* refused(what("root"), "AuditStoreError", () => log.root(bad))
        yield* refused(what("root at a size"), "AuditStoreError", () => log.root(bad, 0))
        yield* refused(what("entry"), "AuditStoreError", () => log.entry(bad, 0))
        yield* refused(what("inclusionProof"), "AuditStoreError", () => log.inclusionProof(bad, 0, 1))
        yield* refused(what("consistencyProof"), "AuditStoreError", () => log.consistencyProof(bad, 0, 0))
        yield* refused(what("checkpoint"), "AuditStoreError", () => log.checkpoint(bad))
        yield* refused(what("proofBundle"), "AuditStoreError", () => log.proofBundle(bad, 0))
        yield* refused(what("verify"), "AuditStoreError", () => log.verify(bad))
      }
      assert.deepStrictEqual(yield* snapshot(tenant), before)
      assert.isTrue((yield* log.verify(tenant)).ok)
    }))

  it.effect("a size or index that is not a whole number is refused as TreeSizeInvalid or AuditEntryNotFound, unquoted, never a defect or an exception", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog.AuditLog
      const tenant = yield* TenantId.make
      yield* log.appendAll(tenant, Array.from({ length: 5 }, (_, i) => event(i)))
      for (const given of [-1, 1.5, Number.NaN, Infinity, -Infinity, 2 ** 60, 6, marker, "0", null, [0], { index: 0 }]) {
        const bad = given as unknown as number
        const what = (operation: string) => `${operation} at ${typeof given === "string" ? JSON.stringify(given) : String(given)}`
        yield* refused(what("root"), "TreeSizeInvalid", () => log.root(tenant, bad))
        yield* refused(what("inclusionProof's index"), "TreeSizeInvalid", () => log.inclusionProof(tenant, bad, 5))
        yield* refused(what("inclusionProof's size"), "TreeSizeInvalid", () => log.inclusionProof(tenant, 0, bad))
        yield* refused(what("consistencyProof's size1"), "TreeSizeInvalid", () => log.consistencyProof(tenant, bad, 5))
        yield* refused(what("consistencyProof's size2"), "TreeSizeInvalid", () => log.consistencyProof(tenant, 0, bad))
        yield* refused(what("entry"), "AuditEntryNotFound", () => log.entry(tenant, bad))
        yield* refused(what("proofBundle"), "AuditEntryNotFound", () => log.proofBundle(tenant, bad))
      }
      assert.strictEqual(yield* log.size(tenant), 5)
    }))

  it.effect("options, events or a page size of the wrong kind are refused with the operation's own error, alike on every store, and nothing is written", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog.AuditLog
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      yield* TestClock.setTime(Date.UTC(2026, 0, 1))
      yield* log.appendAll(tenant, Array.from({ length: 3 }, (_, i) => event(i, { subject })))
      yield* TestClock.adjust("30 days")
      const before = yield* snapshot(tenant)
      const untyped = <A>(value: unknown) => value as A
      for (const query of [null, undefined, marker, 42, [marker]]) {
        yield* refused(`query ${String(query)}`, "QueryInvalid", () => log.query(tenant, untyped(query)))
      }
      for (const limit of [marker, null, "10", [10], { n: 10 }]) {
        yield* refused(`query limit ${String(limit)}`, "QueryInvalid", () => log.query(tenant, { limit: untyped(limit) }))
      }
      for (const options of [null, undefined, marker, [marker]]) {
        yield* refused(`redactDetails ${String(options)}`, "AuditEventInvalid", () => log.redactDetails(tenant, untyped(options)))
      }
      for (const events of [null, undefined, marker, { 0: event(1), length: 1 }, event(1)]) {
        yield* refused(`appendAll ${String(events)}`, "AuditEventInvalid", () => log.appendAll(tenant, untyped(events)))
      }
      for (const given of [null, undefined, marker, 42, [event(1)]]) {
        yield* refused(`append ${String(given)}`, "AuditEventInvalid", () => log.append(tenant, untyped(given)))
        yield* refused(`appendAll [${String(given)}]`, "AuditEventInvalid", () => log.appendAll(tenant, [event(1), untyped(given)]))
      }
      yield* refused("delinkSubject by a null actor", "AuditEventInvalid", () => log.delinkSubject(tenant, subject, untyped(null)))
      assert.deepStrictEqual(yield* snapshot(tenant), before)
    }))

  it.effect("an event given as a plain object is checked as new AuditEvent checks it: a malformed one is refused unquoted on every store and writes nothing, a valid one is appended", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog.AuditLog
      const tenant = yield* TenantId.make
      yield* log.append(tenant, event(0))
      const before = yield* snapshot(tenant)
      const plain = (fields: Record<string, unknown>) =>
        ({ actor: { kind: "api-key", id: "key-1" }, action: "consent.recorded", ...fields }) as unknown as AuditEvent
      const malformed: ReadonlyArray<[string, Record<string, unknown>]> = [
        ["an address as the action", { action: marker }],
        ["an address as the subject", { subject: marker }],
        ["an address as the actor id", { actor: { kind: "staff", id: marker } }],
        ["a subject actor without a subject", { actor: { kind: "subject" } }],
        ["a NUL in the details", { details: { note: `${marker}\u0000` } }],
        ["a lone surrogate in a detail's name", { details: { [`${marker}\ud800`]: 1 } }],
        ["a NUL in the purpose", { purpose: `${marker}\u0000` }],
        ["a lone surrogate in the resource", { resource: { type: "contact", id: `${marker}\udc00` } }],
        ["a legal basis that is none", { legalBasis: marker }],
        ["details that are not an object", { details: [marker] }],
        ["a non-finite number in the details", { details: { n: Infinity } }],
        ["no action", { action: undefined }]
      ]
      for (const [what, fields] of malformed) {
        yield* refused(`append with ${what}`, "AuditEventInvalid", () => log.append(tenant, plain(fields)))
        yield* refused(`appendAll with ${what}`, "AuditEventInvalid", () => log.appendAll(tenant, [event(1), plain(fields)]))
      }
      assert.deepStrictEqual(yield* snapshot(tenant), before)
      // A well-formed plain object is an event as TypeScript types it: appended as one.
      const appended = yield* log.append(tenant, plain({ purpose: "newsletter", details: { n: 1 } }))
      assert.strictEqual(appended.index, 1)
      const entry = yield* log.entry(tenant, 1)
      assert.strictEqual(entry.action, "consent.recorded")
      assert.isTrue((yield* log.verify(tenant)).ok)
    }))
})

describe("audit-trail review 18c: offline verification", () => {
  plain.effect("claims, bundles, notes and keys of the wrong kind are refused with the verifier's own error, unquoted, never a defect", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog.AuditLog
      const tenant = yield* TenantId.make
      yield* log.appendAll(tenant, [event(0), event(1)])
      const bundle = yield* log.proofBundle(tenant, 1)
      const json = ProofBundle.encode(bundle)
      const key = log.verifierKey
      const hash = new Uint8Array(32)
      const untyped = <A>(value: unknown) => value as A
      for (const given of [null, undefined, 42, marker, [marker], { email: marker }]) {
        const what = (operation: string) => `${operation} given ${typeof given === "object" ? JSON.stringify(given) : String(given)}`
        yield* refused(what("verifyInclusion"), "InvalidProof", () => MerkleProof.verifyInclusion(untyped(given)))
        yield* refused(what("verifyInclusion's leafIndex"), "InvalidProof", () =>
          MerkleProof.verifyInclusion({ leafIndex: untyped(given), treeSize: 2, leafHash: hash, proof: [hash], root: hash }))
        yield* refused(what("verifyInclusion's treeSize"), "InvalidProof", () =>
          MerkleProof.verifyInclusion({ leafIndex: 0, treeSize: untyped(given), leafHash: hash, proof: [hash], root: hash }))
        yield* refused(what("verifyConsistency"), "InvalidProof", () => MerkleProof.verifyConsistency(untyped(given)))
        yield* refused(what("verifyConsistency's size1"), "InvalidProof", () =>
          MerkleProof.verifyConsistency({ size1: untyped(given), size2: 2, root1: hash, root2: hash, proof: [] }))
        yield* refused(what("verifyConsistency's size2"), "InvalidProof", () =>
          MerkleProof.verifyConsistency({ size1: 0, size2: untyped(given), root1: hash, root2: hash, proof: [] }))
        yield* refused(what("ProofBundle.decode"), "ProofBundleInvalid", () => ProofBundle.decode(given))
        for (const field of ["origin", "entry", "leafIndex", "treeSize", "inclusionProof", "checkpoint", "version"] as const) {
          // A number is a leaf index or tree size of the bundle's form, which verification refuses.
          if (typeof given === "number" && (field === "leafIndex" || field === "treeSize")) continue
          // Text is an origin or note of the bundle's form, which verification refuses.
          if (typeof given === "string" && (field === "origin" || field === "checkpoint")) continue
          yield* refused(what(`ProofBundle.decode's ${field}`), "ProofBundleInvalid", () => ProofBundle.decode({ ...json, [field]: given }))
        }
        yield* refused(what("ProofBundle.decode with an extra member"), "ProofBundleInvalid", () =>
          ProofBundle.decode({ ...json, [marker]: given }))
        if (typeof given !== "string") {
          yield* refused(what("ProofBundle.fromJson"), "ProofBundleInvalid", () => ProofBundle.fromJson(untyped(given)))
          yield* refused(what("ProofBundle.verifyJson"), "ProofBundleInvalid", () => ProofBundle.verifyJson(untyped(given), key))
          yield* refused(what("ProofBundle.verifyEntryJson"), "ProofBundleInvalid", () => ProofBundle.verifyEntryJson(untyped(given), key))
          yield* refused(what("Checkpoint.parseVerifierKey"), "CheckpointKeyInvalid", () => Checkpoint.parseVerifierKey(untyped(given)))
          yield* refused(what("Checkpoint.verify's key"), "CheckpointKeyInvalid", () => Checkpoint.verify(bundle.checkpoint, untyped(given)))
          yield* refused(what("Checkpoint.verify's note"), "CheckpointInvalid", () => Checkpoint.verify(untyped(given), key))
        }
        yield* refused(what("ProofBundle.verify"), "ProofBundleInvalid", () => ProofBundle.verify(untyped(given), key))
        yield* refused(what("ProofBundle.verifyEntry"), "ProofBundleInvalid", () => ProofBundle.verifyEntry(untyped(given), key))
        yield* refused(what("ProofBundle.verify's key"), "ProofBundleInvalid", () => ProofBundle.verify(bundle, untyped(given)))
        yield* refused(what("ProofBundle.verifyEntry's key"), "ProofBundleInvalid", () => ProofBundle.verifyEntry(bundle, untyped(given)))
      }
      // The bundle itself still verifies.
      assert.strictEqual((yield* ProofBundle.verifyEntry(bundle, key, { origin: log.origin(tenant) })).entry.index, 1)
    }).pipe(Effect.provide(AuditLog.layerMemory)))
})
