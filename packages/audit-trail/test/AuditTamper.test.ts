import { assert } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SubjectId from "@lawful/core/SubjectId"
import * as TenantId from "@lawful/core/TenantId"
import { sqlSuite } from "@lawful/core/testing"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as fc from "fast-check"
import * as AuditLog from "../src/AuditLog.js"
import * as AuditStore from "../src/AuditStore.js"
import * as Checkpoint from "../src/Checkpoint.js"
import * as CheckpointPublisher from "../src/CheckpointPublisher.js"
import * as MerkleTree from "../src/MerkleTree.js"
import * as ProofBundle from "../src/ProofBundle.js"
import { event } from "./AuditLogSuite.js"

// The store and signer stay in the output: a test builds a second log over them.
const layer = AuditLog.layer.pipe(
  Layer.provideMerge(Layer.mergeAll(AuditStore.layerSql, AuditLog.AuditSigner.layerRandom, CheckpointPublisher.layerMemory))
)

// A second log over the same store and key whose publisher holds nothing (its publications lost, or
// never made): only the stored checkpoints stand for what was signed.
const unpublishedLog = AuditLog.make().pipe(Effect.provide(CheckpointPublisher.layerMemory))

type Tamper =
  | { readonly kind: "flip-entry-byte"; readonly at: number; readonly byte: number }
  | { readonly kind: "flip-leaf-hash"; readonly at: number; readonly byte: number }
  | { readonly kind: "flip-node-hash"; readonly at: number; readonly byte: number }
  | { readonly kind: "edit-details"; readonly at: number }
  | { readonly kind: "relink-subject"; readonly at: number }
  | { readonly kind: "delete-entry"; readonly at: number }
  | { readonly kind: "swap-entries"; readonly at: number; readonly other: number }
  | { readonly kind: "insert-entry"; readonly at: number }
  | { readonly kind: "cut-tail"; readonly at: number }
  | { readonly kind: "rewrite-checkpoint"; readonly byte: number }
  | { readonly kind: "rewrite-checkpoint-root"; readonly byte: number }

const tamperArbitrary: fc.Arbitrary<Tamper> = fc.oneof(
  fc.record({ kind: fc.constant("flip-entry-byte" as const), at: fc.nat(), byte: fc.nat() }),
  fc.record({ kind: fc.constant("flip-leaf-hash" as const), at: fc.nat(), byte: fc.nat({ max: 31 }) }),
  fc.record({ kind: fc.constant("flip-node-hash" as const), at: fc.nat(), byte: fc.nat({ max: 31 }) }),
  fc.record({ kind: fc.constant("edit-details" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("relink-subject" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("delete-entry" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("swap-entries" as const), at: fc.nat(), other: fc.nat() }),
  fc.record({ kind: fc.constant("insert-entry" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("cut-tail" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("rewrite-checkpoint" as const), byte: fc.nat() }),
  fc.record({ kind: fc.constant("rewrite-checkpoint-root" as const), byte: fc.nat({ max: 31 }) })
)

// What verification must find after a tampering: the first bad index it reports (none for a
// checkpoint rewritten, which no entry is to blame for: only a problem), and the indices whose
// proofs must now fail (or be refused).
interface Found {
  readonly firstBad: number | undefined
  readonly proofsFail: ReadonlyArray<number>
}

const found = (firstBad: number | undefined, proofsFail: ReadonlyArray<number>): Found | undefined => ({ firstBad, proofsFail })

// Applies the tampering through raw SQL; returns what verification must find, or undefined when the
// tampering cannot be applied to a log this small.
const tamperWith = (tenant: TenantId.TenantId, size: number, leaves: ReadonlyArray<Uint8Array>, tamper: Tamper) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const i = "at" in tamper ? tamper.at % size : 0
    switch (tamper.kind) {
      case "flip-entry-byte": {
        yield* sql`UPDATE lawful_audit_entries
          SET leaf = set_byte(leaf, ${tamper.byte} % length(leaf), get_byte(leaf, ${tamper.byte} % length(leaf)) # 1)
          WHERE tenant_id = ${tenant} AND idx = ${i}`
        return found(i, [i])
      }
      case "flip-leaf-hash": {
        yield* sql`UPDATE lawful_audit_entries
          SET leaf_hash = set_byte(leaf_hash, ${tamper.byte}, get_byte(leaf_hash, ${tamper.byte}) # 1)
          WHERE tenant_id = ${tenant} AND idx = ${i}`
        // The sibling's proof holds this leaf hash; otherwise leaf 0's holds the right border built from it.
        return found(i, size > 1 ? [(i ^ 1) < size ? i ^ 1 : 0] : [])
      }
      case "flip-node-hash": {
        const nodes = yield* sql<{ level: number; idx: string }>`SELECT level, idx FROM lawful_audit_nodes
          WHERE tenant_id = ${tenant} ORDER BY level, idx`
        if (nodes.length === 0) return undefined
        const node = nodes[i % nodes.length]!
        yield* sql`UPDATE lawful_audit_nodes SET hash = set_byte(hash, ${tamper.byte}, get_byte(hash, ${tamper.byte}) # 1)
          WHERE tenant_id = ${tenant} AND level = ${node.level} AND idx = ${node.idx}`
        // A leaf under the sibling subtree uses this node in its proof, when that sibling is complete.
        const width = 2 ** node.level
        const sibling = Number(node.idx) ^ 1
        // The first entry under it is the first whose subtree hash disagrees.
        return found(Number(node.idx) * width, (sibling + 1) * width <= size ? [sibling * width] : [])
      }
      case "edit-details": {
        yield* sql`UPDATE lawful_audit_entries SET details = jsonb_set(details, '{n}', '-1')
          WHERE tenant_id = ${tenant} AND idx = ${i}`
        return found(i, [])
      }
      case "relink-subject": {
        const other = yield* SubjectId.make
        yield* sql`UPDATE lawful_audit_entries SET subject_id = ${other}
          WHERE tenant_id = ${tenant} AND idx = ${i}`
        return found(i, [])
      }
      case "delete-entry": {
        yield* sql`DELETE FROM lawful_audit_entries WHERE tenant_id = ${tenant} AND idx = ${i}`
        return found(i, [i])
      }
      case "swap-entries": {
        const j = tamper.other % size
        if (j === i) return undefined
        yield* sql`UPDATE lawful_audit_entries SET idx = -1 WHERE tenant_id = ${tenant} AND idx = ${i}`
        yield* sql`UPDATE lawful_audit_entries SET idx = ${i} WHERE tenant_id = ${tenant} AND idx = ${j}`
        yield* sql`UPDATE lawful_audit_entries SET idx = ${j} WHERE tenant_id = ${tenant} AND idx = -1`
        return found(Math.min(i, j), [i, j])
      }
      case "insert-entry": {
        yield* sql`INSERT INTO lawful_audit_entries
          SELECT tenant_id, ${size}, time, actor_kind, actor_id, action, subject_id, subject_salt, details, details_salt,
            leaf, leaf_hash
          FROM lawful_audit_entries WHERE tenant_id = ${tenant} AND idx = ${i}`
        // Stored at the log's size, beyond it.
        return found(size, [])
      }
      case "cut-tail": {
        // A thorough rewrite: entries, subtree hashes, state and stored checkpoints all agree on a shorter log.
        const keep = i
        const frontier = MerkleTree.appendAll(MerkleTree.emptyFrontier, leaves.slice(0, keep)).frontier
        yield* sql`DELETE FROM lawful_audit_entries WHERE tenant_id = ${tenant} AND idx >= ${keep}`
        yield* sql`DELETE FROM lawful_audit_nodes WHERE tenant_id = ${tenant} AND (idx + 1) * (2 ^ level)::bigint > ${keep}`
        yield* sql`DELETE FROM lawful_audit_checkpoints WHERE tenant_id = ${tenant} AND size > ${keep}`
        yield* sql`UPDATE lawful_audit_logs SET size = ${keep},
            frontier = ${Buffer.concat(frontier.hashes.map((h) => Buffer.from(h)))},
            root = ${Buffer.from(MerkleTree.frontierRoot(frontier))}
          WHERE tenant_id = ${tenant}`
        // The published checkpoint still pins the whole log: it stops short at `keep`.
        return found(keep, [size - 1])
      }
      case "rewrite-checkpoint": {
        yield* sql`UPDATE lawful_audit_checkpoints
          SET note = overlay(note placing chr(ascii(substr(note, ${1 + (tamper.byte % 60)}, 1)) # 1) from ${1 + (tamper.byte % 60)} for 1)
          WHERE tenant_id = ${tenant}`
        return found(undefined, [0])
      }
      case "rewrite-checkpoint-root": {
        yield* sql`UPDATE lawful_audit_checkpoints SET root = set_byte(root, ${tamper.byte}, get_byte(root, ${tamper.byte}) # 1)
          WHERE tenant_id = ${tenant}`
        return found(undefined, [])
      }
    }
  })

const proofFails = (tenant: TenantId.TenantId, index: number) =>
  Effect.gen(function*() {
    const log = yield* AuditLog.AuditLog
    const result = yield* Effect.either(
      Effect.flatMap(log.proofBundle(tenant, index), (bundle) => ProofBundle.verify(bundle, log.verifierKey))
    )
    return Either.isLeft(result)
  })

const encoder = new TextEncoder()

// Leaf hashes of a log the tenant never had.
const forgedLeaves = (count: number, salt: string) =>
  Array.from({ length: count }, (_, i) => MerkleTree.hashLeaf(encoder.encode(`${salt} ${i}`)))

// Rewrites the tenant's log through raw SQL into the log of these leaf hashes (fewer than 16, so no
// subtree hash is stored): entries and state agree, as a careful forger leaves them. Returns the
// forged root at each size.
const rewriteLog = (tenant: TenantId.TenantId, leaves: ReadonlyArray<Uint8Array>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`DELETE FROM lawful_audit_entries WHERE tenant_id = ${tenant} AND idx >= ${leaves.length}`
    for (const [i, leaf] of leaves.entries()) {
      yield* sql`INSERT INTO lawful_audit_entries
        SELECT tenant_id, ${i}::bigint, time, actor_kind, actor_id, action, subject_id, subject_salt, details,
          details_salt, leaf, ${Buffer.from(leaf)}::bytea
        FROM lawful_audit_entries WHERE tenant_id = ${tenant} AND idx = 0
        ON CONFLICT (tenant_id, idx) DO UPDATE SET leaf_hash = excluded.leaf_hash`
    }
    const frontier = MerkleTree.appendAll(MerkleTree.emptyFrontier, leaves).frontier
    yield* sql`UPDATE lawful_audit_logs SET size = ${leaves.length},
        frontier = ${Buffer.concat(frontier.hashes.map((h) => Buffer.from(h)))},
        root = ${Buffer.from(MerkleTree.frontierRoot(frontier))}
      WHERE tenant_id = ${tenant}`
    return (size: number) => MerkleTree.rootOf(leaves.slice(0, size))
  })

// Rewrites the root column of the tenant's stored checkpoint of that size.
const rewriteCheckpointRoot = (tenant: TenantId.TenantId, size: number, root: Uint8Array) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`UPDATE lawful_audit_checkpoints SET root = ${Buffer.from(root)} WHERE tenant_id = ${tenant} AND size = ${size}`)

// The refusal the effect fails with; a success fails the test with a short message (not the value).
const refusal = <A, E extends { readonly _tag: string }, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.either(effect), (result) => {
    if (Either.isRight(result)) return assert.fail("handed out a checkpoint or bundle: expected CheckpointRefused")
    assert.strictEqual(result.left._tag, "CheckpointRefused")
    return result.left as Extract<E, { readonly _tag: "CheckpointRefused" }>
  })

sqlSuite("AuditLog tampering", layer, (it) => {
  it.effect("a log rewritten with the root of its latest checkpoint is refused a checkpoint, not handed the old note", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog.AuditLog
      const tenant = yield* TenantId.make
      yield* log.appendAll(tenant, Array.from({ length: 5 }, (_, n) => event(n)))
      const signed = yield* log.checkpoint(tenant)
      const forged = yield* rewriteLog(tenant, forgedLeaves(5, "forged"))
      yield* rewriteCheckpointRoot(tenant, 5, forged(5))
      const refused = yield* refusal(log.checkpoint(tenant))
      assert.include(refused.reason, "the stored checkpoint of size 5 differs from its signed note")
      // The note itself is untouched, and still pins the log it was signed for.
      const note = yield* Checkpoint.verify(signed.note, log.verifierKey, { origin: log.origin(tenant) })
      assert.notDeepEqual(note.rootHash, forged(5))
    }))

  it.scoped("a log rewritten and grown from a rewritten checkpoint root is refused a checkpoint that would extend it", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog.AuditLog
      const tenant = yield* TenantId.make
      yield* log.appendAll(tenant, Array.from({ length: 5 }, (_, n) => event(n)))
      yield* log.checkpoint(tenant)
      const forged = yield* rewriteLog(tenant, forgedLeaves(7, "forged"))
      yield* rewriteCheckpointRoot(tenant, 5, forged(5))
      // The published checkpoint pins the log; without it, the stored note still does.
      yield* refusal(log.checkpoint(tenant))
      const unpublished = yield* unpublishedLog
      const refused = yield* refusal(unpublished.checkpoint(tenant))
      assert.include(refused.reason, "the stored checkpoint of size 5 differs from its signed note")
      assert.strictEqual(yield* unpublished.size(tenant), 7)
    }))

  it.scoped("another tenant's genuine checkpoint and log copied into a tenant's place are refused as another log's", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const log = yield* AuditLog.AuditLog
      const [tenant, other] = yield* Effect.all([TenantId.make, TenantId.make])
      yield* log.appendAll(tenant, Array.from({ length: 3 }, (_, n) => event(n)))
      yield* log.checkpoint(tenant)
      const theirs = yield* log.appendAll(other, Array.from({ length: 3 }, (_, n) => event(n)))
      yield* log.checkpoint(other)
      // The tenant's log becomes the other's, grown by two entries, and its checkpoint the other's.
      yield* rewriteLog(tenant, [...theirs.map((a) => a.leafHash), ...forgedLeaves(2, "forged")])
      yield* sql`UPDATE lawful_audit_checkpoints AS mine SET root = theirs.root, note = theirs.note
        FROM lawful_audit_checkpoints AS theirs
        WHERE mine.tenant_id = ${tenant} AND mine.size = 3 AND theirs.tenant_id = ${other} AND theirs.size = 3`
      const refused = yield* refusal((yield* unpublishedLog).checkpoint(tenant))
      assert.include(refused.reason, "the stored checkpoint of size 3 is signed for another log")
      assert.notInclude(refused.reason, other)
    }))

  it.effect("a proof bundle is refused when its checkpoint's row differs from its note or its note does not verify", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const log = yield* AuditLog.AuditLog
      const tenant = yield* TenantId.make
      const appended = yield* log.appendAll(tenant, Array.from({ length: 5 }, (_, n) => event(n)))
      yield* log.checkpoint(tenant)
      yield* ProofBundle.verify(yield* log.proofBundle(tenant, 2), log.verifierKey, { origin: log.origin(tenant) })

      yield* rewriteCheckpointRoot(tenant, 5, MerkleTree.rootOf(appended.slice(0, 4).map((a) => a.leafHash)))
      const rewritten = yield* refusal(log.proofBundle(tenant, 2))
      assert.include(rewritten.reason, "the stored checkpoint of size 5 differs from its signed note")

      // The note's root line rewritten to the root column's: its signature no longer holds.
      yield* sql`UPDATE lawful_audit_checkpoints SET note = replace(note, ${
        Buffer.from(MerkleTree.rootOf(appended.map((a) => a.leafHash))).toString("base64")
      }, encode(root, 'base64')) WHERE tenant_id = ${tenant} AND size = 5`
      const unsigned = yield* refusal(log.proofBundle(tenant, 2))
      assert.include(unsigned.reason, "the stored checkpoint of size 5 does not verify")
    }))

  it.effect("full verification reports every tampering of a log of 1 to 2,000 entries at its first bad index, and its proofs fail", () =>
    Effect.gen(function*() {
      const run = Runtime.runPromise(yield* Effect.runtime<AuditLog.AuditLog | SqlClient.SqlClient>())
      const subject = yield* SubjectId.make
      const scenario = (size: number, tamper: Tamper) =>
        Effect.gen(function*() {
          const log = yield* AuditLog.AuditLog
          const tenant = yield* TenantId.make
          const appended = yield* log.appendAll(tenant, Array.from({ length: size }, (_, n) => event(n, { subject })))
          yield* log.checkpoint(tenant)
          const clean = yield* log.verify(tenant)
          assert.isTrue(clean.ok, clean.problems.join("; "))
          const expected = yield* tamperWith(tenant, size, appended.map((a) => a.leafHash), tamper)
          if (expected === undefined) return
          const report = yield* log.verify(tenant)
          assert.isFalse(report.ok, `${tamper.kind} on a log of ${size} went unnoticed`)
          assert.strictEqual(
            Option.getOrUndefined(report.firstBadIndex),
            expected.firstBad,
            `${tamper.kind} on a log of ${size}: ${report.problems.join("; ")}`
          )
          assert.isAbove(report.problems.length, 0)
          for (const index of expected.proofsFail) {
            assert.isTrue(yield* proofFails(tenant, index), `${tamper.kind}: the proof of ${index} still verifies`)
          }
        })
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(fc.integer({ min: 1, max: 2000 }), tamperArbitrary, (size, tamper) => run(scenario(size, tamper))),
          { numRuns: 25 }
        )
      )
      // Small logs, every kind of tampering.
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(fc.integer({ min: 1, max: 40 }), tamperArbitrary, (size, tamper) => run(scenario(size, tamper))),
          { numRuns: 60 }
        )
      )
    }), { timeout: 600_000 })
})
