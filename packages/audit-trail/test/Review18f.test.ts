// Review 18f: the named member of `Actor` as a schema of its own (`NamedActor`); and the shipped
// `AuditStore` layers, used without `AuditLog`, behind the tenant check `AuditLog` makes: an id
// that is not a lower-case UUID names no log, alike on memory, PGlite and PostgreSQL.
import { assert, describe, it as plain } from "@effect/vitest"
import * as SubjectId from "@lawful/core/SubjectId"
import * as TenantId from "@lawful/core/TenantId"
import { contractSuite } from "@lawful/core/testing"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import * as AuditEvent from "../src/AuditEvent.js"
import * as AuditLog from "../src/AuditLog.js"
import * as AuditStore from "../src/AuditStore.js"
import * as MerkleTree from "../src/MerkleTree.js"
import { auditMemory, auditSql } from "../src/testing.js"
import { event } from "./AuditLogSuite.js"
import { marker, refused } from "./fixtures/refusals.js"
import { snapshot } from "./fixtures/stores.js"

describe("audit-trail review 18f: NamedActor", () => {
  plain("NamedActor is the named member of Actor: the system, an API key or staff, with an opaque id; never the subject", () => {
    const isNamed = Schema.is(AuditEvent.NamedActor)
    assert.strictEqual(AuditEvent.Actor.members[0], AuditEvent.NamedActor)
    for (const kind of ["system", "api-key", "staff"] as const) {
      assert.isTrue(isNamed({ kind, id: "key_1" }), kind)
    }
    for (const given of [{ kind: "subject" }, { kind: "subject", id: "key_1" }, { kind: "staff", id: marker }, { kind: "staff" }, { kind: "staff", id: "" }, null, "staff"]) {
      assert.isFalse(isNamed(given), JSON.stringify(given))
    }
    const actor: AuditEvent.NamedActor = { kind: "staff", id: "staff-42" }
    const asActor: AuditEvent.Actor = actor
    assert.strictEqual(asActor.kind, "staff")
  })
})

contractSuite("audit-trail review 18f", { memory: auditMemory, sql: auditSql }, (it) => {
  it.effect("a store used without AuditLog names no log by a tenant id that is not a lower-case UUID: reads find an empty log, writes fail AuditStoreError unquoted and write nothing", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog.AuditLog
      const store = yield* AuditStore.AuditStore
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      yield* TestClock.setTime(Date.UTC(2026, 0, 1))
      yield* log.appendAll(tenant, Array.from({ length: 20 }, (_, i) => event(i, { subject })))
      yield* log.checkpoint(tenant)
      yield* TestClock.adjust("30 days")
      const before = yield* snapshot(tenant)
      const real = yield* store.state(tenant)
      const checkpoint = Option.getOrThrow(yield* store.latestCheckpoint(tenant))
      const [first] = yield* store.scan(tenant, 0, 1)
      // The tenant's own id in upper case: PostgreSQL read it as the same uuid.
      for (const given of [tenant.toUpperCase(), marker, `${tenant} `, ""]) {
        const bad = given as TenantId.TenantId
        const what = (operation: string) => `${operation} of ${JSON.stringify(given === marker ? "(the marker)" : given)}`
        const state = yield* store.state(bad)
        assert.strictEqual(state.frontier.size, 0, what("state"))
        assert.deepStrictEqual(state.root, MerkleTree.emptyRoot, what("state"))
        assert.strictEqual((yield* store.leafHashes(bad, [0, 1])).size, 0, what("leafHashes"))
        assert.strictEqual((yield* store.nodeHashes(bad, [{ level: 4, index: 0 }])).size, 0, what("nodeHashes"))
        assert.deepStrictEqual(yield* store.nodesOfLevel(bad, 4, 0, 10), [], what("nodesOfLevel"))
        assert.isTrue(Option.isNone(yield* store.entry(bad, 0)), what("entry"))
        assert.deepStrictEqual(yield* store.entries(bad, { limit: 100 }), [], what("entries"))
        assert.deepStrictEqual(yield* store.entries(bad, { subject, limit: 100 }), [], what("entries of the subject"))
        assert.deepStrictEqual(yield* store.scan(bad, 0, 100), [], what("scan"))
        assert.strictEqual(yield* store.countDetails(bad, { before: new Date(Date.UTC(2026, 0, 15)) }), 0, what("countDetails"))
        assert.isTrue(Option.isNone(yield* store.oldestDetails(bad, {})), what("oldestDetails"))
        assert.deepStrictEqual(yield* store.checkpoints(bad, { from: 0, limit: 10 }), [], what("checkpoints"))
        assert.isTrue(Option.isNone(yield* store.latestCheckpoint(bad)), what("latestCheckpoint"))
        assert.isTrue(Option.isNone(yield* store.checkpointCovering(bad, 0)), what("checkpointCovering"))

        let built = false
        yield* refused(what("append"), "AuditStoreError", () =>
          store.append(bad, (state) => {
            built = true
            return { entries: [first!], nodes: [], state, result: undefined }
          }))
        assert.isFalse(built, what("append built a batch"))
        yield* refused(what("saveCheckpoint"), "AuditStoreError", () => store.saveCheckpoint(bad, checkpoint))
        let recorded = false
        const record = () => Effect.sync(() => { recorded = true })
        yield* refused(what("redactDetails"), "AuditStoreError", () =>
          store.redactDetails(bad, { before: new Date(Date.UTC(2026, 0, 15)), limit: 100 }, record))
        yield* refused(what("delinkSubject"), "AuditStoreError", () => store.delinkSubject(bad, subject, record))
        assert.isFalse(recorded, what("a removal was recorded"))
      }
      assert.deepStrictEqual(yield* snapshot(tenant), before)
      assert.deepStrictEqual(yield* store.state(tenant), real)
      assert.strictEqual(yield* store.countDetails(tenant, { before: new Date(Date.UTC(2026, 0, 15)) }), 20)
      assert.isTrue((yield* log.verify(tenant)).ok)
    }))
})
