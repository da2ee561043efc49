import { assert, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as TenantId from "@lawful/core/TenantId"
import { sqlSuite } from "@lawful/core/testing"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as AuditEntry from "../src/AuditEntry.js"
import * as AuditLog from "../src/AuditLog.js"
import * as AuditStore from "../src/AuditStore.js"
import * as Checkpoint from "../src/Checkpoint.js"
import * as CheckpointPublisher from "../src/CheckpointPublisher.js"
import * as MerkleProof from "../src/MerkleProof.js"
import * as MerkleTree from "../src/MerkleTree.js"
import * as ProofBundle from "../src/ProofBundle.js"
import { event } from "./AuditLogSuite.js"
import { withWarnings } from "./fixtures/logs.js"

// A directory of the test's own, removed after it.
const directory = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "lawful-published-tenants-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

// Every tenant's report, by tenant; a failure of verifyAll fails the test, naming it.
const reportsOf = (log: AuditLog.AuditLog["Type"]) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(log.verifyAll)
    if (Exit.isFailure(exit)) return assert.fail(`verifyAll failed: ${String(exit.cause)}`)
    return new Map(exit.value.map((report) => [report.tenant, report]))
  })

// The report of a tenant whose published checkpoint of size 3 outlived every row of its log.
const assertWiped = (reports: Map<TenantId.TenantId, AuditLog.VerificationReport>, tenant: TenantId.TenantId) => {
  const report = reports.get(tenant)
  if (report === undefined) return assert.fail("verifyAll did not report the tenant whose rows were all deleted")
  assert.isFalse(report.ok)
  assert.strictEqual(report.size, 0)
  assert.deepStrictEqual(report.problems, ["the log has 0 entries, fewer than the published checkpoint of size 3"])
}

describe("verifyAll and the tenants a publisher holds", () => {
  it.scoped("memory: a tenant whose log is gone from the store, but published, is reported not ok", () =>
    Effect.gen(function*() {
      // One publisher and one key, outliving the store: the log is built again over an empty one.
      const publisher = yield* Effect.provide(CheckpointPublisher.CheckpointPublisher, CheckpointPublisher.layerMemory)
      const signer = yield* Effect.provide(AuditLog.AuditSigner, AuditLog.AuditSigner.layerRandom)
      const logOverNewStore = AuditLog.make().pipe(
        Effect.provide(AuditStore.layerMemory),
        Effect.provideService(CheckpointPublisher.CheckpointPublisher, publisher),
        Effect.provideService(AuditLog.AuditSigner, signer)
      )
      const [wiped, kept] = yield* Effect.all([TenantId.make, TenantId.make])
      const before = yield* logOverNewStore
      yield* before.appendAll(wiped, [event(0), event(1), event(2)])
      assert.strictEqual((yield* before.checkpoint(wiped)).size, 3)

      const after = yield* logOverNewStore
      yield* after.appendAll(kept, [event(0), event(1)])
      yield* after.checkpoint(kept)
      const reports = yield* reportsOf(after)
      assertWiped(reports, wiped)
      assert.isTrue(reports.get(kept)?.ok, JSON.stringify(reports.get(kept)?.problems))
      assert.deepStrictEqual([...reports.keys()].sort(), [wiped, kept].sort())

      // checkpointAll goes through it too: refused, with a warning, and nothing published for it.
      yield* after.appendAll(kept, [event(2)])
      const { exit, warnings } = yield* withWarnings(after.checkpointAll)
      assert.deepStrictEqual(exit, Exit.succeed(1))
      assert.strictEqual(warnings.filter((w) => w.includes(wiped)).length, 1, warnings.join("; "))
      assert.include(Option.getOrThrow(yield* publisher.latest(wiped)), "\n3\n")
    }))

  it.scoped("memory: a publisher that says it cannot list tenants leaves verifyAll to the store's list", () =>
    Effect.gen(function*() {
      const inner = yield* Effect.provide(CheckpointPublisher.CheckpointPublisher, CheckpointPublisher.layerMemory)
      // A custom publisher that lists none (one posting to a service that cannot list).
      const unlisting = CheckpointPublisher.CheckpointPublisher.of({
        publish: inner.publish,
        latest: inner.latest,
        tenants: Effect.succeed([])
      })
      const log = yield* AuditLog.make().pipe(
        Effect.provide(Layer.mergeAll(AuditStore.layerMemory, AuditLog.AuditSigner.layerRandom)),
        Effect.provideService(CheckpointPublisher.CheckpointPublisher, unlisting)
      )
      const tenant = yield* TenantId.make
      yield* log.appendAll(tenant, [event(0), event(1)])
      yield* log.checkpoint(tenant)
      const reports = yield* reportsOf(log)
      assert.deepStrictEqual([...reports.keys()], [tenant])
      assert.isTrue(reports.get(tenant)?.ok)
    }))

  it.scoped("memory: the publisher lists the tenants it published for", () =>
    Effect.gen(function*() {
      const publisher = yield* Effect.provide(CheckpointPublisher.CheckpointPublisher, CheckpointPublisher.layerMemory)
      const log = yield* AuditLog.make().pipe(
        Effect.provide(Layer.mergeAll(AuditStore.layerMemory, AuditLog.AuditSigner.layerRandom)),
        Effect.provideService(CheckpointPublisher.CheckpointPublisher, publisher)
      )
      assert.deepStrictEqual(yield* publisher.tenants, [])
      const [a, b] = yield* Effect.all([TenantId.make, TenantId.make])
      yield* log.append(a, event(0))
      yield* log.append(b, event(0))
      yield* log.checkpoint(a)
      yield* log.checkpoint(b)
      assert.deepStrictEqual(yield* publisher.tenants, [a, b].sort())
    }))

  it.scoped("directory: the tenants are the subdirectories named by a tenant id; anything else is ignored", () =>
    Effect.gen(function*() {
      const dir = yield* directory
      const missing = yield* Effect.provide(
        CheckpointPublisher.CheckpointPublisher,
        CheckpointPublisher.layerDirectory(join(dir, "never-made"))
      )
      assert.deepStrictEqual(yield* missing.tenants, [], "a directory not made yet holds no tenant")

      const publisher = yield* Effect.provide(CheckpointPublisher.CheckpointPublisher, CheckpointPublisher.layerDirectory(dir))
      const [a, b, linked, file] = yield* Effect.all([TenantId.make, TenantId.make, TenantId.make, TenantId.make])
      yield* Effect.promise(async () => {
        await mkdir(join(dir, a))
        await mkdir(join(dir, b))
        await mkdir(join(dir, "not-a-tenant"))
        await mkdir(join(dir, a.toUpperCase()))
        await mkdir(join(dir, ".hidden"))
        await writeFile(join(dir, file), "a file, not a tenant's directory")
        await writeFile(join(dir, "latest"), "stray")
        await symlink(join(dir, b), join(dir, linked))
      })
      assert.deepStrictEqual(yield* publisher.tenants, [a, b, linked].sort())
    }))
})

// The store and signer stay in the output: each test builds its log over them with a directory publisher.
const storeAndSigner = Layer.mergeAll(AuditStore.layerSql, AuditLog.AuditSigner.layerRandom)

sqlSuite("verifyAll and the tenants a publisher holds", storeAndSigner, (it) => {
  it.scoped("a tenant whose every row was deleted is reported not ok against its published checkpoint", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* AuditStore.AuditStore
      const dir = yield* directory
      const log = yield* AuditLog.make().pipe(Effect.provide(CheckpointPublisher.layerDirectory(dir)))
      const [wiped, kept] = yield* Effect.all([TenantId.make, TenantId.make])
      yield* log.appendAll(wiped, [event(0), event(1), event(2)])
      yield* log.appendAll(kept, [event(0), event(1)])
      assert.strictEqual((yield* log.checkpoint(wiped)).size, 3)
      yield* log.checkpoint(kept)

      // Every row of the tenant, in every table of the audit trail that names tenants.
      const tables = yield* sql<{ table_name: string }>`
        SELECT table_name FROM information_schema.columns
        WHERE table_schema = current_schema() AND column_name = 'tenant_id' AND table_name LIKE 'lawful_audit%'`
      assert.isAtLeast(tables.length, 4)
      for (const { table_name } of tables) {
        yield* sql.unsafe(`DELETE FROM ${table_name} WHERE tenant_id = $1`, [wiped])
      }
      assert.notInclude(yield* store.tenants, wiped, "the store still lists the tenant")

      const reports = yield* reportsOf(log)
      assertWiped(reports, wiped)
      assert.isTrue(reports.get(kept)?.ok, JSON.stringify(reports.get(kept)?.problems))
    }))
})

// ---- ProofBundle.verifyEntry -------------------------------------------------

// A tree of the tenant's log whose leaf 1 is, in place of the log's entry 1, the entry of `at`
// (another index, or another tenant's); each leaf hashed as RFC 9162 says, the tree signed by the
// log's key under the tenant's origin.
const bundleWithLeaf = (at: { readonly tenant: TenantId.TenantId; readonly index: number }, tenant: TenantId.TenantId) =>
  Effect.gen(function*() {
    const signer = yield* Checkpoint.makeSigner("lawful/audit", new Uint8Array(32).fill(7))
    const time = new Date(Date.UTC(2026, 0, 1))
    const leaves = [
      AuditEntry.make(tenant, 0, time, event(0)).leaf,
      AuditEntry.make(at.tenant, at.index, time, event(1)).leaf,
      AuditEntry.make(tenant, 2, time, event(2)).leaf
    ]
    const hashes = leaves.map(MerkleTree.hashLeaf)
    const origin = `${signer.name}/${tenant}`
    const note = Checkpoint.sign(new Checkpoint.Checkpoint({ origin, treeSize: 3, rootHash: MerkleTree.rootOf(hashes) }), signer)
    const bundle = new ProofBundle.ProofBundle({
      version: 1,
      origin,
      entry: leaves[1]!,
      leafIndex: 1,
      treeSize: 3,
      inclusionProof: MerkleProof.inclusionProof(hashes, 1, 3),
      checkpoint: note
    })
    return { bundle, verifierKey: signer.verifierKey, origin }
  })

describe("ProofBundle.verifyEntry", () => {
  it.effect("refuses an entry whose index is not its leaf index, though its leaf is in the signed tree", () =>
    Effect.gen(function*() {
      const tenant = yield* TenantId.make
      const { bundle, origin, verifierKey } = yield* bundleWithLeaf({ tenant, index: 0 }, tenant)
      // The v1 contract alone does not look into the entry.
      yield* ProofBundle.verify(bundle, verifierKey, { origin })
      const refused = yield* Effect.flip(ProofBundle.verifyEntry(bundle, verifierKey, { origin }))
      assert.strictEqual(refused._tag, "ProofBundleInvalid")
      assert.strictEqual(refused.reason, "entry: it says index 0, but is leaf 1")
    }))

  it.effect("refuses an entry of another tenant, though its leaf is in the signed tree", () =>
    Effect.gen(function*() {
      const [tenant, other] = yield* Effect.all([TenantId.make, TenantId.make])
      const { bundle, origin, verifierKey } = yield* bundleWithLeaf({ tenant: other, index: 1 }, tenant)
      yield* ProofBundle.verify(bundle, verifierKey, { origin })
      const refused = yield* Effect.flip(ProofBundle.verifyEntry(bundle, verifierKey))
      assert.strictEqual(refused.reason, `entry: it is tenant ${other}'s, but the checkpoint is for ${origin}`)
    }))

  it.effect("refuses entry bytes that are not a canonical audit entry", () =>
    Effect.gen(function*() {
      const signer = yield* Checkpoint.makeSigner("lawful/audit", new Uint8Array(32).fill(7))
      const tenant = yield* TenantId.make
      const leaf = new TextEncoder().encode(`{"v":1,"index":0}`)
      const origin = `${signer.name}/${tenant}`
      const bundle = new ProofBundle.ProofBundle({
        version: 1,
        origin,
        entry: leaf,
        leafIndex: 0,
        treeSize: 1,
        inclusionProof: [],
        checkpoint: Checkpoint.sign(
          new Checkpoint.Checkpoint({ origin, treeSize: 1, rootHash: MerkleTree.rootOf([MerkleTree.hashLeaf(leaf)]) }),
          signer
        )
      })
      yield* ProofBundle.verify(bundle, signer.verifierKey)
      const refused = yield* Effect.flip(ProofBundle.verifyEntry(bundle, signer.verifierKey))
      assert.strictEqual(refused.reason, "entry: not a canonical version-1 audit entry")
    }))

  it.effect("accepts a bundle of the log and returns its checkpoint and decoded entry", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog.AuditLog
      const tenant = yield* TenantId.make
      yield* log.appendAll(tenant, [event(0), event(1), event(2)])
      const bundle = yield* log.proofBundle(tenant, 1)
      const verified = yield* ProofBundle.verifyEntry(bundle, log.verifierKey, { origin: log.origin(tenant) })
      assert.strictEqual(verified.checkpoint.treeSize, 3)
      assert.strictEqual(verified.entry.index, 1)
      assert.strictEqual(verified.entry.tenant, tenant)
      assert.strictEqual(verified.entry.action, event(1).action)
      // A bundle failing the v1 contract fails here too, with the same reason.
      const other = yield* TenantId.make
      const refused = yield* Effect.flip(ProofBundle.verifyEntry(bundle, log.verifierKey, { origin: log.origin(other) }))
      assert.strictEqual(refused.reason, (yield* Effect.flip(ProofBundle.verify(bundle, log.verifierKey, { origin: log.origin(other) }))).reason)
    }).pipe(Effect.provide(AuditLog.layerMemory)))
})
