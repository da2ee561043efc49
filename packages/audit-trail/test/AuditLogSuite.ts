import { assert } from "@effect/vitest"
import type { Vitest } from "@effect/vitest"
import * as SubjectId from "@lawful/core/SubjectId"
import * as TenantId from "@lawful/core/TenantId"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as fc from "fast-check"
import * as AuditEntry from "../src/AuditEntry.js"
import { AuditLog, AuditSigner, make as makeLog } from "../src/AuditLog.js"
import { type Actor, AuditEvent, type Json } from "../src/AuditEvent.js"
import { AuditStore } from "../src/AuditStore.js"
import { AuditStoreError } from "../src/AuditTrail.js"
import * as Checkpoint from "../src/Checkpoint.js"
import * as CheckpointPublisher from "../src/CheckpointPublisher.js"
import * as MerkleProof from "../src/MerkleProof.js"
import * as MerkleTree from "../src/MerkleTree.js"
import * as ProofBundle from "../src/ProofBundle.js"
import { canonicalJson } from "../src/internal/canonical.js"

export const event = (n: number, extra: Partial<ConstructorParameters<typeof AuditEvent>[0]> = {}) =>
  new AuditEvent({
    actor: { kind: "api-key", id: `key-${n % 3}` },
    action: n % 2 === 0 ? "consent.recorded" : "subject.exported",
    purpose: "newsletter",
    legalBasis: "consent",
    resource: { type: "event", id: `e-${n}` },
    details: { n, list: ["a", n] },
    ...extra
  })

/**
 * A tenant's log of six entries an hour apart from 2026-01-01, the even ones of `held`, and a
 * clock 30 days on: redactions `before` 2026-01-15 reach them all.
 */
export const heldSubjectHistory = Effect.gen(function*() {
  const log = yield* AuditLog
  const tenant = yield* TenantId.make
  const held = yield* SubjectId.make
  yield* TestClock.setTime(Date.UTC(2026, 0, 1))
  for (let i = 0; i < 6; i++) {
    yield* log.append(tenant, event(i, i % 2 === 0 ? { subject: held } : {}))
    yield* TestClock.adjust("1 hour")
  }
  yield* TestClock.adjust("30 days")
  const actor = { kind: "system", id: "retention" } as const
  return { log, tenant, held, actor, before: new Date(Date.UTC(2026, 0, 15)) }
})

/** The contract of the audit log, on whatever store backs it. */
export const suite = (it: Vitest.MethodsNonLive<AuditLog | AuditStore>) => {
  it.effect("indices are contiguous from 0 under concurrent appends, per tenant", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog
      const [a, b] = yield* Effect.all([TenantId.make, TenantId.make])
      const appended = yield* Effect.forEach(
        Array.from({ length: 120 }, (_, i) => i),
        (i) => log.append(i % 3 === 0 ? b : a, event(i)),
        { concurrency: "unbounded" }
      )
      const forA = appended.filter((_, i) => i % 3 !== 0).map((x) => x.index).sort((x, y) => x - y)
      const forB = appended.filter((_, i) => i % 3 === 0).map((x) => x.index).sort((x, y) => x - y)
      assert.deepStrictEqual(forA, Array.from({ length: 80 }, (_, i) => i))
      assert.deepStrictEqual(forB, Array.from({ length: 40 }, (_, i) => i))
      assert.strictEqual(yield* log.size(a), 80)
      const batch = yield* log.appendAll(a, [event(1), event(2), event(3)])
      assert.deepStrictEqual(batch.map((x) => x.index), [80, 81, 82])
      assert.isTrue((yield* log.verify(a)).ok)
    }))

  it.effect("an append grouped while a lone one is being written waits for it: one build each, none built on a stale state", () =>
    Effect.scoped(Effect.gen(function*() {
      const store = yield* AuditStore
      const signer = yield* Effect.orDie(Checkpoint.makeSigner("lawful/audit", new Uint8Array(32).fill(5)))
      // The lone append's write is held until the second append has had every chance to be
      // written; each build is counted (a write refused for a stale state is built again).
      const started = yield* Deferred.make<void>()
      const proceed = yield* Deferred.make<void>()
      let calls = 0
      let builds = 0
      const gated = AuditStore.of({
        ...store,
        append: (tenant, build) =>
          Effect.suspend(() => {
            const first = ++calls === 1
            const counted = store.append(tenant, (state) => {
              builds++
              return build(state)
            })
            return first ? Effect.zipRight(Effect.zipRight(Deferred.succeed(started, void 0), Deferred.await(proceed)), counted) : counted
          })
      })
      const log = yield* makeLog().pipe(
        Effect.provideService(AuditSigner, signer),
        Effect.provideService(AuditStore, gated),
        Effect.provide(CheckpointPublisher.layerMemory)
      )
      const tenant = yield* TenantId.make
      const lone = yield* Effect.fork(log.append(tenant, event(0)))
      yield* Deferred.await(started)
      const grouped = yield* Effect.fork(log.append(tenant, event(1)))
      for (let turn = 0; turn < 50 && calls < 2; turn++) yield* Effect.yieldNow()
      yield* Deferred.succeed(proceed, void 0)
      const indices = [(yield* Fiber.join(lone)).index, (yield* Fiber.join(grouped)).index]
      assert.deepStrictEqual(indices, [0, 1])
      assert.strictEqual(builds, 2)
      assert.isTrue((yield* log.verify(tenant)).ok)
    })))

  it.effect("roots and proofs from stored hashes match the in-memory tree", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog
      const tenant = yield* TenantId.make
      const appended = yield* log.appendAll(tenant, Array.from({ length: 70 }, (_, i) => event(i)))
      const leaves = appended.map((x) => x.leafHash)
      assert.deepStrictEqual(yield* log.root(tenant), MerkleTree.rootOf(leaves))
      for (const size of [1, 2, 5, 16, 17, 33, 64, 70]) {
        const root = yield* log.root(tenant, size)
        assert.deepStrictEqual(root, MerkleTree.rootOf(leaves.slice(0, size)))
        for (const index of [0, size - 1, Math.floor(size / 2)]) {
          const proof = yield* log.inclusionProof(tenant, index, size)
          assert.deepStrictEqual(proof, MerkleProof.inclusionProof(leaves, index, size))
          yield* MerkleProof.verifyInclusion({ leafIndex: index, treeSize: size, leafHash: leaves[index]!, proof, root })
        }
        for (const size1 of [0, 1, 3, 16, size]) {
          if (size1 > size) continue
          const proof = yield* log.consistencyProof(tenant, size1, size)
          assert.deepStrictEqual(proof, MerkleProof.consistencyProof(leaves, size1, size))
          yield* MerkleProof.verifyConsistency({
            size1, size2: size, root1: MerkleTree.rootOf(leaves.slice(0, size1)), root2: root, proof
          })
        }
      }
      const beyond = yield* Effect.either(log.inclusionProof(tenant, 70, 70))
      assert.isTrue(Either.isLeft(beyond) && beyond.left._tag === "TreeSizeInvalid")
      const tooBig = yield* Effect.either(log.consistencyProof(tenant, 1, 71))
      assert.isTrue(Either.isLeft(tooBig) && tooBig.left._tag === "TreeSizeInvalid")
    }))

  it.effect("large batches are appended whole, in order, each contiguous, after what came before", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog
      const tenant = yield* TenantId.make
      const first = yield* log.appendAll(tenant, Array.from({ length: 3 }, (_, i) => event(i)))
      // A batch of 613, then two at once.
      const big = yield* log.appendAll(tenant, Array.from({ length: 613 }, (_, i) => event(3 + i)))
      assert.deepStrictEqual(big.map((x) => x.index), Array.from({ length: 613 }, (_, i) => 3 + i))
      const both = yield* Effect.all([
        log.appendAll(tenant, Array.from({ length: 260 }, (_, i) => event(616 + i))),
        log.appendAll(tenant, Array.from({ length: 501 }, (_, i) => event(876 + i)))
      ], { concurrency: 2 })
      const indices = both.flat().map((x) => x.index).sort((a, b) => a - b)
      assert.deepStrictEqual(indices, Array.from({ length: 761 }, (_, i) => 616 + i))
      for (const batch of both) {
        assert.deepStrictEqual(batch.map((x) => x.index), batch.map((_, i) => batch[0]!.index + i))
      }
      const leaves = [...first, ...big, ...both.flat()].sort((a, b) => a.index - b.index).map((x) => x.leafHash)
      assert.strictEqual(yield* log.size(tenant), 1377)
      assert.deepStrictEqual(yield* log.root(tenant), MerkleTree.rootOf(leaves))
      for (const [index, size] of [[0, 1377], [249, 616], [250, 616], [615, 1377], [1376, 1377]] as const) {
        const proof = yield* log.inclusionProof(tenant, index, size)
        assert.deepStrictEqual(proof, MerkleProof.inclusionProof(leaves, index, size))
      }
      assert.deepStrictEqual(
        yield* log.consistencyProof(tenant, 616, 1377),
        MerkleProof.consistencyProof(leaves, 616, 1377)
      )
      assert.isTrue((yield* log.verify(tenant)).ok)
    }))

  it.effect("checkpoints are signed, consistent with each other, and cover every acknowledged append", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog
      const tenant = yield* TenantId.make
      const empty = yield* log.checkpoint(tenant)
      assert.strictEqual(empty.size, 0)
      yield* log.appendAll(tenant, Array.from({ length: 5 }, (_, i) => event(i)))
      const first = yield* log.checkpoint(tenant)
      assert.strictEqual((yield* log.checkpoint(tenant)).note, first.note)
      const acknowledged = yield* log.append(tenant, event(99))
      const second = yield* log.checkpoint(tenant)
      assert.isAbove(second.size, acknowledged.index)
      const parsed = yield* Checkpoint.verify(second.note, log.verifierKey)
      assert.strictEqual(parsed.origin, log.origin(tenant))
      assert.strictEqual(parsed.treeSize, 6)
      const proof = yield* log.consistencyProof(tenant, first.size, second.size)
      yield* MerkleProof.verifyConsistency({ size1: first.size, size2: second.size, root1: first.root, root2: second.root, proof })
      assert.isAtLeast(yield* log.checkpointAll, 0)
    }))

  it.effect("a proof bundle carries the first checkpoint that covers its entry; a new checkpoint extends the latest", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog
      const store = yield* AuditStore
      const tenant = yield* TenantId.make
      assert.isTrue(Option.isNone(yield* store.latestCheckpoint(tenant)))
      assert.isTrue(Option.isNone(yield* store.checkpointCovering(tenant, 0)))
      // Checkpoints at sizes 3, 5 and 8.
      const sizes: Array<number> = []
      for (const count of [3, 2, 3]) {
        yield* log.appendAll(tenant, Array.from({ length: count }, (_, i) => event(i)))
        sizes.push((yield* log.checkpoint(tenant)).size)
      }
      assert.deepStrictEqual(sizes, [3, 5, 8])
      assert.deepStrictEqual(Option.map(yield* store.latestCheckpoint(tenant), (c) => c.size), Option.some(8))
      const covering = (index: number) => Effect.map(store.checkpointCovering(tenant, index), Option.map((c) => c.size))
      assert.deepStrictEqual(yield* covering(0), Option.some(3))
      assert.deepStrictEqual(yield* covering(2), Option.some(3))
      assert.deepStrictEqual(yield* covering(3), Option.some(5))
      assert.deepStrictEqual(yield* covering(7), Option.some(8))
      assert.isTrue(Option.isNone(yield* covering(8)))
      // Bundles: entry 4 under the checkpoint of size 5; entry 8, past every checkpoint, under a new one.
      assert.strictEqual((yield* log.proofBundle(tenant, 4)).treeSize, 5)
      yield* log.appendAll(tenant, [event(8), event(9)])
      const past = yield* log.proofBundle(tenant, 8)
      assert.strictEqual(past.treeSize, 10)
      assert.deepStrictEqual(Option.map(yield* store.latestCheckpoint(tenant), (c) => c.size), Option.some(10))
      assert.deepStrictEqual((yield* store.checkpoints(tenant, { from: 0, limit: 10 })).map((c) => c.size), [3, 5, 8, 10])
      assert.deepStrictEqual((yield* store.checkpoints(tenant, { from: 5, limit: 2 })).map((c) => c.size), [5, 8])
      assert.deepStrictEqual((yield* store.checkpoints(tenant, { from: 6, limit: 10 })).map((c) => c.size), [8, 10])
      assert.deepStrictEqual(yield* store.checkpoints(tenant, { from: 11, limit: 10 }), [])
      // Nothing appended since: the latest is returned, not signed again.
      assert.strictEqual((yield* log.checkpoint(tenant)).note, past.checkpoint)
      yield* log.checkpointAll
      assert.strictEqual((yield* store.checkpoints(tenant, { from: 0, limit: 10 })).length, 4)
    }))

  it.effect("checkpointAll checks every tenant's latest checkpoint by its note, not by its row's size column", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog
      const store = yield* AuditStore
      const [forged, grown, idle] = yield* Effect.all([TenantId.make, TenantId.make, TenantId.make])
      for (const tenant of [forged, grown, idle]) {
        yield* log.appendAll(tenant, Array.from({ length: 5 }, (_, i) => event(i)))
        yield* log.checkpoint(tenant)
      }
      yield* log.appendAll(forged, [event(5), event(6), event(7)])
      yield* log.appendAll(grown, [event(5)])
      // A row that claims the log's new size, with the note of size 5.
      const latest = Option.getOrThrow(yield* store.latestCheckpoint(forged))
      yield* store.saveCheckpoint(forged, { size: 8, root: (yield* store.state(forged)).root, note: latest.note })
      const warnings: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => {
        if (logLevel._tag === "Warning") warnings.push(JSON.stringify(message))
      })
      const signed = yield* log.checkpointAll.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      // The grown tenant is signed, the idle one is not signed again, the forged one is refused and said.
      assert.strictEqual(signed, 1)
      assert.strictEqual(Option.getOrThrow(yield* store.latestCheckpoint(grown)).size, 6)
      assert.strictEqual(warnings.length, 1, warnings.join("; "))
      assert.include(warnings[0], "Audit checkpoint not issued")
      assert.include(warnings[0], forged)
    }))

  it.effect("a checkpoint overlapping a later, larger one is issued, whichever read it waits after; the latest never goes back", () =>
    Effect.scoped(Effect.gen(function*() {
      const store = yield* AuditStore
      // Its own key, as the tests below: its tenants' checkpoints are not the shared log's, and the
      // tests of checkpointAll above have run.
      const signer = yield* Effect.orDie(Checkpoint.makeSigner("lawful/audit", new Uint8Array(32).fill(11)))
      for (const read of ["state", "latestCheckpoint", "published"] as const) {
        // The next call of `read` returns its answer only once `gate` opens: a stale answer.
        let held: { readonly reached: Deferred.Deferred<void>; readonly gate: Deferred.Deferred<void> } | undefined
        const hold = <A, E>(name: typeof read, answer: Effect.Effect<A, E>) =>
          Effect.tap(answer, () => {
            const pending = held
            if (name !== read || pending === undefined) return Effect.void
            held = undefined
            return Effect.zipRight(Deferred.succeed(pending.reached, void 0), Deferred.await(pending.gate))
          })
        const publisher = yield* Effect.provide(CheckpointPublisher.CheckpointPublisher, CheckpointPublisher.layerMemory)
        const log = yield* makeLog().pipe(
          Effect.provideService(AuditSigner, signer),
          Effect.provideService(AuditStore, AuditStore.of({
            ...store,
            state: (tenant) => hold("state", store.state(tenant)),
            latestCheckpoint: (tenant) => hold("latestCheckpoint", store.latestCheckpoint(tenant))
          })),
          Effect.provideService(CheckpointPublisher.CheckpointPublisher, {
            ...publisher,
            latest: (tenant) => hold("published", publisher.latest(tenant))
          })
        )
        const tenant = yield* TenantId.make
        yield* log.appendAll(tenant, Array.from({ length: 6 }, (_, i) => event(i)))
        yield* log.checkpoint(tenant)
        yield* log.appendAll(tenant, Array.from({ length: 4 }, (_, i) => event(6 + i)))
        const reached = yield* Deferred.make<void>()
        const gate = yield* Deferred.make<void>()
        held = { reached, gate }
        const overlapping = yield* Effect.fork(Effect.either(log.checkpoint(tenant)))
        yield* Deferred.await(reached)
        // Meanwhile the log grows and a larger checkpoint is issued, stored and published.
        yield* log.appendAll(tenant, [event(10), event(11)])
        const larger = yield* log.checkpoint(tenant)
        assert.strictEqual(larger.size, 12)
        yield* Deferred.succeed(gate, void 0)
        const issued = yield* Fiber.join(overlapping)
        assert.isTrue(Either.isRight(issued), `${read}: ${Either.isLeft(issued) ? issued.left.message : ""}`)
        const checkpoint = Either.getOrThrow(issued)
        assert.isAtLeast(checkpoint.size, 10, read)
        assert.deepStrictEqual(checkpoint.root, yield* log.root(tenant, checkpoint.size), read)
        // Whatever was signed last, the latest stored and published checkpoint stays the larger one.
        assert.strictEqual(Option.getOrThrow(yield* store.latestCheckpoint(tenant)).note, larger.note, read)
        assert.strictEqual(Option.getOrThrow(yield* publisher.latest(tenant)), larger.note, read)
        assert.strictEqual((yield* log.checkpoint(tenant)).note, larger.note, read)
        assert.isTrue((yield* log.verify(tenant)).ok, read)
      }
    })))

  it.effect("verification reads the checkpoints a page at a time and checks every one", () =>
    Effect.scoped(Effect.gen(function*() {
      const store = yield* AuditStore
      const signer = yield* Effect.orDie(Checkpoint.makeSigner("lawful/audit", new Uint8Array(32).fill(7)))
      // The pages the log asks for.
      const limits: Array<number> = []
      const counting = AuditStore.of({
        ...store,
        checkpoints: (tenant, page) => Effect.zipRight(Effect.sync(() => limits.push(page.limit)), store.checkpoints(tenant, page))
      })
      const log = yield* makeLog().pipe(
        Effect.provideService(AuditSigner, signer),
        Effect.provideService(AuditStore, counting),
        Effect.provide(CheckpointPublisher.layerMemory)
      )
      const tenant = yield* TenantId.make
      const appended = yield* log.appendAll(tenant, Array.from({ length: 1100 }, (_, i) => event(i)))
      // A checkpoint at every size but 1,077, as one signed each minute would leave them.
      const signedAt = (size: number, root: Uint8Array) =>
        store.saveCheckpoint(tenant, {
          size,
          root,
          note: Checkpoint.sign(new Checkpoint.Checkpoint({ origin: `lawful/audit/${tenant}`, treeSize: size, rootHash: root }), signer)
        })
      let frontier = MerkleTree.emptyFrontier
      for (const { leafHash } of appended) {
        frontier = MerkleTree.append(frontier, leafHash).frontier
        if (frontier.size !== 1077) yield* signedAt(frontier.size, MerkleTree.frontierRoot(frontier))
      }
      const clean = yield* log.verify(tenant)
      assert.isTrue(clean.ok, clean.problems.join("; "))
      assert.strictEqual(clean.checkpointsChecked, 1099)
      assert.isAtLeast(limits.length, 2)
      for (const limit of limits) assert.isAtMost(limit, 1000)

      // A checkpoint signed for a root the log never had at its size, in the second page: found.
      yield* signedAt(1077, MerkleTree.rootOf(appended.slice(0, 1076).map((a) => a.leafHash)))
      const report = yield* log.verify(tenant)
      assert.isFalse(report.ok)
      assert.deepStrictEqual(report.firstBadIndex, Option.some(1076))
      assert.include(report.problems.join("; "), "root at size 1077 differs from the stored checkpoint of size 1077")
    })), { timeout: 60_000 })

  it.effect("a published checkpoint of another tenant's log pins nothing: issuing is refused, saying so", () =>
    Effect.scoped(Effect.gen(function*() {
      const store = yield* AuditStore
      const publisher = yield* Effect.provide(CheckpointPublisher.CheckpointPublisher, CheckpointPublisher.layerMemory)
      const signer = yield* Effect.orDie(Checkpoint.makeSigner("lawful/audit", new Uint8Array(32).fill(9)))
      const log = yield* makeLog().pipe(
        Effect.provideService(AuditSigner, signer),
        Effect.provideService(AuditStore, store),
        Effect.provideService(CheckpointPublisher.CheckpointPublisher, publisher)
      )
      const [tenant, other] = yield* Effect.all([TenantId.make, TenantId.make])
      const refused = (reason: string) =>
        Effect.map(Effect.either(log.checkpoint(tenant)), (result) => {
          if (Either.isRight(result)) return assert.fail(`a checkpoint of size ${result.right.size} was issued`)
          assert.strictEqual(result.left._tag, "CheckpointRefused")
          if (result.left._tag === "CheckpointRefused") {
            assert.include(result.left.reason, reason)
            assert.notInclude(result.left.reason, other)
          }
        })
      yield* log.appendAll(tenant, Array.from({ length: 3 }, (_, i) => event(i)))

      // The other tenant's checkpoint of its empty log (every log extends the empty tree), signed by
      // the same key, in this tenant's place.
      const empty = yield* log.checkpoint(other)
      yield* publisher.publish(tenant, { size: 0, note: empty.note })
      yield* refused("the published checkpoint is signed for another log")

      // One of its log of the same size: refused for what it is, not as a log that does not extend it.
      yield* log.appendAll(other, Array.from({ length: 3 }, (_, i) => event(i)))
      yield* publisher.publish(tenant, { size: 3, note: (yield* log.checkpoint(other)).note })
      yield* refused("the published checkpoint is signed for another log")

      // A note this key did not sign is refused as before.
      const stranger = yield* Effect.orDie(Checkpoint.makeSigner("lawful/audit", new Uint8Array(32).fill(10)))
      const forged = Checkpoint.sign(
        new Checkpoint.Checkpoint({ origin: log.origin(tenant), treeSize: 4, rootHash: yield* log.root(tenant) }),
        stranger
      )
      yield* publisher.publish(tenant, { size: 4, note: forged })
      yield* refused("the published checkpoint does not verify")
      assert.isTrue(Option.isNone(yield* store.latestCheckpoint(tenant)))

      // Verification says the same of it.
      const report = yield* log.verify(tenant)
      assert.isFalse(report.ok)
      assert.include(report.problems.join("; "), "the published checkpoint does not verify")
    })))

  it.effect("a proof bundle verifies offline with the public key only", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      yield* log.appendAll(tenant, Array.from({ length: 9 }, (_, i) => event(i)))
      const target = yield* log.append(tenant, event(100, { subject, actor: { kind: "subject" } }))
      yield* log.append(tenant, event(101))
      const bundle = yield* log.proofBundle(tenant, target.index)
      const json = ProofBundle.toJson(bundle)
      const checkpoint = yield* ProofBundle.verifyJson(json, log.verifierKey)
      assert.isAbove(checkpoint.treeSize, target.index)
      const text = new TextDecoder().decode(bundle.entry)
      assert.include(text, "\"action\":\"consent.recorded\"")
      assert.notInclude(text, subject)
      const missing = yield* Effect.either(log.proofBundle(tenant, 1000))
      assert.isTrue(Either.isLeft(missing) && missing.left._tag === "AuditEntryNotFound")
    }))

  it.effect("queries by subject, actor, action prefix and time range, paginated", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      yield* TestClock.setTime(Date.UTC(2026, 5, 1))
      yield* log.appendAll(tenant, Array.from({ length: 10 }, (_, i) => event(i, i % 4 === 0 ? { subject } : {})))
      yield* TestClock.adjust("1 day")
      yield* log.appendAll(tenant, Array.from({ length: 10 }, (_, i) => event(10 + i, { action: "staff.access.granted", actor: { kind: "staff", id: "s-1" } })))
      const bySubject = yield* log.query(tenant, { subject })
      assert.deepStrictEqual(bySubject.entries.map((e) => e.index), [0, 4, 8])
      const byActor = yield* log.query(tenant, { actor: { kind: "api-key", id: "key-1" } })
      assert.deepStrictEqual(byActor.entries.map((e) => e.index), [1, 4, 7])
      const staff = yield* log.query(tenant, { actionPrefix: "staff." })
      assert.strictEqual(staff.entries.length, 10)
      const likeEscape = yield* log.query(tenant, { actionPrefix: "staff_" })
      assert.strictEqual(likeEscape.entries.length, 0)
      const dayOne = yield* log.query(tenant, { from: new Date(Date.UTC(2026, 5, 1)), to: new Date(Date.UTC(2026, 5, 2)) })
      assert.strictEqual(dayOne.entries.length, 10)
      const pages: Array<number> = []
      let after: number | undefined
      while (true) {
        const page = yield* log.query(tenant, { limit: 7, ...(after !== undefined ? { after } : {}) })
        pages.push(...page.entries.map((e) => e.index))
        if (Option.isNone(page.next)) break
        after = page.next.value
      }
      assert.deepStrictEqual(pages, Array.from({ length: 20 }, (_, i) => i))
      const other = yield* TenantId.make
      assert.strictEqual((yield* log.query(other, { subject })).entries.length, 0)
    }))

  it.effect("redacted details and de-linked subjects leave every proof and the full verification intact", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      yield* TestClock.setTime(Date.UTC(2026, 0, 1))
      yield* log.appendAll(tenant, Array.from({ length: 20 }, (_, i) => event(i, { subject })))
      const before = yield* log.checkpoint(tenant)
      yield* TestClock.adjust("30 days")
      const redacted = yield* log.redactDetails(tenant, { before: new Date(Date.UTC(2026, 0, 15)), limit: 15, actor: { kind: "system", id: "retention" } })
      assert.strictEqual(redacted.length, 15)
      const entry = yield* log.entry(tenant, 3)
      assert.isTrue(Option.isNone(entry.details) && entry.hadDetails)
      const receipt = yield* log.query(tenant, { actionPrefix: "audit.details.redacted" })
      assert.strictEqual(receipt.entries.length, 1)
      assert.strictEqual(yield* log.delinkSubject(tenant, subject, { kind: "system", id: "erasure" }), 20)
      assert.strictEqual((yield* log.query(tenant, { subject })).entries.length, 0)
      const report = yield* log.verify(tenant)
      assert.isTrue(report.ok, report.problems.join("; "))
      const bundle = yield* log.proofBundle(tenant, 3)
      yield* ProofBundle.verify(bundle, log.verifierKey)
      const after = yield* log.checkpoint(tenant)
      const proof = yield* log.consistencyProof(tenant, before.size, after.size)
      yield* MerkleProof.verifyConsistency({ size1: before.size, size2: after.size, root1: before.root, root2: after.root, proof })
    }))

  it.effect("an excluded subject's entries keep their details, everyone else's are redacted, and a later redaction without the exclusion reaches them", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog
      const tenant = yield* TenantId.make
      const [held, free] = yield* Effect.all([SubjectId.make, SubjectId.make])
      const actor = { kind: "system", id: "retention" } as const
      // An entry an hour, from 2026-01-01: the held subject's, the free one's, one without a subject.
      yield* TestClock.setTime(Date.UTC(2026, 0, 1))
      for (let i = 0; i < 30; i++) {
        yield* log.append(tenant, event(i, i % 3 === 0 ? { subject: held } : i % 3 === 1 ? { subject: free } : {}))
        yield* TestClock.adjust("1 hour")
      }
      const checkpoint = yield* log.checkpoint(tenant)
      yield* TestClock.adjust("30 days")
      const before = new Date(Date.UTC(2026, 0, 15))
      const redactAll = (options: { readonly excludeSubjects?: ReadonlySet<SubjectId.SubjectId>; readonly limit: number }) =>
        Effect.gen(function*() {
          const redacted: Array<number> = []
          while (true) {
            const batch = yield* log.redactDetails(tenant, { before, actor, ...options })
            assert.isAtMost(batch.length, options.limit)
            redacted.push(...batch)
            if (batch.length < options.limit) return redacted.sort((a, b) => a - b)
          }
        })
      const withDetails = () =>
        Effect.map(
          log.query(tenant, { to: before }),
          (page) => page.entries.filter((e) => Option.isSome(e.details)).map((e) => e.index)
        )
      const heldEntries = Array.from({ length: 10 }, (_, i) => 3 * i)

      // Batches of four: each one passes some of the held subject's entries.
      const first = yield* redactAll({ excludeSubjects: new Set([held]), limit: 4 })
      assert.deepStrictEqual(first, Array.from({ length: 30 }, (_, i) => i).filter((i) => i % 3 !== 0))
      assert.deepStrictEqual(yield* withDetails(), heldEntries)
      assert.deepStrictEqual(yield* redactAll({ excludeSubjects: new Set([held]), limit: 4 }), [])
      const receipts = (yield* log.query(tenant, { actionPrefix: "audit.details.redacted" })).entries
      for (const receipt of receipts) {
        const text = JSON.stringify(Option.getOrThrow(receipt.details).value)
        assert.notInclude(text, held)
        assert.notInclude(text, free)
      }

      // The hold is over: batches of three take the held subject's entries, oldest first.
      const second = yield* log.redactDetails(tenant, { before, actor, limit: 3 })
      assert.deepStrictEqual(second, [0, 3, 6])
      assert.deepStrictEqual(yield* redactAll({ limit: 3 }), heldEntries.slice(3))
      assert.deepStrictEqual(yield* withDetails(), [])
      assert.deepStrictEqual(yield* redactAll({ limit: 3 }), [])

      const report = yield* log.verify(tenant)
      assert.isTrue(report.ok, report.problems.join("; "))
      for (const index of [0, 1, 27]) yield* ProofBundle.verify(yield* log.proofBundle(tenant, index), log.verifierKey)
      const now = yield* log.checkpoint(tenant)
      const proof = yield* log.consistencyProof(tenant, checkpoint.size, now.size)
      yield* MerkleProof.verifyConsistency({ size1: checkpoint.size, size2: now.size, root1: checkpoint.root, root2: now.root, proof })
    }))

  it.effect("an excluded subject's entries left with their details are redacted after the subject is de-linked", () =>
    Effect.gen(function*() {
      const { actor, before, held, log, tenant } = yield* heldSubjectHistory
      assert.deepStrictEqual(yield* log.redactDetails(tenant, { before, actor, excludeSubjects: new Set([held]), limit: 10 }), [1, 3, 5])
      assert.strictEqual(yield* log.delinkSubject(tenant, held, { kind: "system", id: "erasure" }), 3)
      assert.deepStrictEqual(yield* log.redactDetails(tenant, { before, actor, limit: 10 }), [0, 2, 4])
      const page = yield* log.query(tenant, { to: before })
      assert.isTrue(page.entries.every((e) => Option.isNone(e.details)))
      assert.isTrue((yield* log.verify(tenant)).ok)
    }))

  it.effect("the entries counted with details, and the oldest, are those redactions would redact, before and after the watermark moves past a held subject", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog
      const store = yield* AuditStore
      const tenant = yield* TenantId.make
      const [held, free] = yield* Effect.all([SubjectId.make, SubjectId.make])
      const actor = { kind: "system", id: "retention" } as const
      const hour = (h: number) => new Date(Date.UTC(2026, 0, 1, h))
      // An entry an hour, from 2026-01-01: the held subject's, the free one's, one without a subject.
      yield* TestClock.setTime(hour(0).getTime())
      for (let i = 0; i < 30; i++) {
        yield* log.append(tenant, event(i, i % 3 === 0 ? { subject: held } : i % 3 === 1 ? { subject: free } : {}))
        yield* TestClock.adjust("1 hour")
      }
      // The redactions' own entries come a month later.
      yield* TestClock.adjust("30 days")
      const hold = new Set([held])
      const counts = (before: Date) =>
        Effect.all([store.countDetails(tenant, { before }), store.countDetails(tenant, { before, excludeSubjects: hold })])
      const oldest = Effect.all([store.oldestDetails(tenant, {}), store.oldestDetails(tenant, { excludeSubjects: hold })])
      const redactAll = (before: Date, excludeSubjects?: ReadonlySet<SubjectId.SubjectId>) =>
        Effect.gen(function*() {
          let redacted = 0
          while (true) {
            const batch = yield* log.redactDetails(tenant, { before, excludeSubjects, limit: 4, actor })
            redacted += batch.length
            if (batch.length < 4) return redacted
          }
        })

      // No redaction yet: the whole log, 7 of the first 20 entries the held subject's.
      assert.deepStrictEqual(yield* counts(hour(20)), [20, 13])
      assert.deepStrictEqual(yield* counts(hour(30)), [30, 20])
      assert.deepStrictEqual(yield* oldest, [Option.some(hour(0)), Option.some(hour(1))])
      const other = yield* TenantId.make
      assert.strictEqual(yield* store.countDetails(other, { before: hour(30) }), 0)
      assert.deepStrictEqual(yield* store.oldestDetails(other, {}), Option.none())

      // Redacted up to hour 20 but the held subject's: the watermark passes 7 of its entries.
      assert.strictEqual(yield* redactAll(hour(20), hold), 13)
      assert.deepStrictEqual(yield* counts(hour(20)), [7, 0])
      assert.deepStrictEqual(yield* counts(hour(10)), [4, 0])
      // From hour 20, 3 of 10 are the held subject's.
      assert.deepStrictEqual(yield* counts(hour(30)), [17, 7])
      assert.deepStrictEqual(yield* oldest, [Option.some(hour(0)), Option.some(hour(20))])

      // The hold is over: what redactions take behind the watermark is what was counted.
      assert.strictEqual(yield* redactAll(hour(10)), 4)
      assert.deepStrictEqual(yield* counts(hour(20)), [3, 0])
      assert.deepStrictEqual(yield* oldest, [Option.some(hour(12)), Option.some(hour(20))])
      assert.strictEqual(yield* redactAll(hour(25)), 8)
      assert.deepStrictEqual(yield* counts(hour(30)), [5, 4])
      assert.deepStrictEqual(yield* oldest, [Option.some(hour(25)), Option.some(hour(25))])
      assert.strictEqual(yield* redactAll(hour(30)), 5)
      assert.deepStrictEqual(yield* counts(hour(30)), [0, 0])
      // Only the redactions' own entries keep details.
      const receipts = (yield* log.query(tenant, { actionPrefix: "audit.details.redacted" })).entries
      assert.deepStrictEqual(yield* oldest, [Option.some(receipts[0]!.time), Option.some(receipts[0]!.time)])
    }))

  it.effect("text a database cannot store is refused when the event is made; any other details are read back as appended", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog
      const store = yield* AuditStore
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      const base = { actor: { kind: "system" as const, id: "checker" }, action: "data.checked" }
      const refused: ReadonlyArray<Partial<ConstructorParameters<typeof AuditEvent>[0]>> = [
        { actor: { kind: "staff", id: "a\u0000b" } },
        { purpose: "nul\u0000" },
        { resource: { type: "t", id: "\ud800" } },
        { details: { note: "nul \u0000 inside" } },
        { details: { deep: [{ "key\u0000": 1 }] } },
        { details: { lone: "\udc00 low half" } }
      ]
      for (const fields of refused) assert.throws(() => new AuditEvent({ ...base, ...fields }))

      // Any other JSON (full Unicode with astral characters, quotes and backslashes, numbers of
      // every size, nesting), some events without details or with a subject, several actors,
      // actions and times in one batch, each coming back after others: each entry reads back
      // with its time, actor, action, subject and details as appended.
      const samples = fc.sample(
        fc.dictionary(fc.string({ unit: "grapheme" }), fc.jsonValue({ stringUnit: "grapheme", maxDepth: 4 })),
        { seed: 20261130, numRuns: 150 }
      ).filter((details) => !/\\u(0000|d[89a-f])/.test(JSON.stringify(details)))
      assert.isAbove(samples.length, 100)
      const actors = [base.actor, { kind: "staff", id: "s-1" }, { kind: "subject" }, { kind: "api-key", id: "k|\"1" }] as const
      const events = samples.map((details, i) =>
        new AuditEvent({
          actor: actors[Math.floor(i / 7) % 4]!,
          action: i % 11 < 8 ? "data.checked" : "data.exported",
          ...(i % 5 === 4 ? {} : { details: details as { readonly [key: string]: Json } }),
          ...(i % 3 === 0 || actors[Math.floor(i / 7) % 4]!.kind === "subject" ? { subject } : {})
        })
      )
      const times = [Date.UTC(2026, 10, 30, 9), Date.UTC(2026, 10, 30, 10), Date.UTC(2026, 10, 30, 9)].map((t) => new Date(t))
      const timeOf = (i: number) => times[Math.min(2, Math.floor((3 * i) / events.length))]!
      yield* store.append(tenant, (state) => {
        const entries = events.map((e, i) => AuditEntry.make(tenant, state.frontier.size + i, timeOf(i), e))
        const grown = MerkleTree.appendAll(state.frontier, entries.map((entry) => entry.leafHash))
        return {
          entries,
          nodes: grown.nodes.filter((node) => node.level > 0 && node.level % 4 === 0),
          state: { frontier: grown.frontier, root: MerkleTree.frontierRoot(grown.frontier) },
          result: undefined
        }
      })
      const stored = yield* store.scan(tenant, 0, 1000)
      assert.strictEqual(stored.length, events.length)
      stored.forEach((entry, i) => {
        assert.strictEqual(entry.index, i)
        assert.strictEqual(entry.time.getTime(), timeOf(i).getTime())
        assert.deepStrictEqual(entry.actor, events[i]!.actor)
        assert.strictEqual(entry.action, events[i]!.action)
        assert.strictEqual(Option.getOrUndefined(entry.subject)?.id, events[i]!.subject)
        const details = Option.map(entry.details, (d) => canonicalJson(d.value))
        assert.deepStrictEqual(details, events[i]!.details === undefined ? Option.none() : Option.some(canonicalJson(events[i]!.details!)))
      })
      const report = yield* log.verify(tenant)
      assert.isTrue(report.ok, report.problems.join("; "))
    }))

  it.effect("an invalid event is refused and nothing is appended", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog
      const tenant = yield* TenantId.make
      yield* log.append(tenant, event(0))
      const refused = yield* Effect.either(log.appendAll(tenant, [event(1), new AuditEvent({ actor: { kind: "subject" }, action: "consent.withdrawn" })]))
      assert.isTrue(Either.isLeft(refused) && refused.left._tag === "AuditEventInvalid")
      assert.strictEqual(yield* log.size(tenant), 1)
      assert.throws(() => new AuditEvent({ actor: { kind: "system", id: "x" }, action: "NotDotted" }))
      // An actor id that is an email address would stay in the log for good: refused, unquoted.
      const withAddress = Either.try(() =>
        new AuditEvent({ actor: { kind: "staff", id: "ada.lovelace@platform.example" }, action: "consent.exported" })
      )
      assert.isTrue(Either.isLeft(withAddress))
      assert.notInclude(String(Either.isLeft(withAddress) && withAddress.left), "ada.lovelace")
      // Made without validation (a caller's fast path), the same event is still refused by the
      // log, without the address in the error, and nothing is appended.
      const unchecked = new AuditEvent(
        { actor: { kind: "staff", id: "ada.lovelace@platform.example" }, action: "consent.exported" },
        { disableValidation: true }
      )
      for (const attempt of [Effect.asVoid(log.append(tenant, unchecked)), Effect.asVoid(log.appendAll(tenant, [event(2), unchecked]))]) {
        const refusedUnchecked = yield* Effect.either(attempt)
        assert.isTrue(Either.isLeft(refusedUnchecked) && refusedUnchecked.left._tag === "AuditEventInvalid", String(refusedUnchecked))
        assert.notInclude(String(Either.isLeft(refusedUnchecked) && refusedUnchecked.left), "ada.lovelace")
      }
      assert.strictEqual(yield* log.size(tenant), 1)
    }))

  it.effect("an event made without validation whose subject actor carries an id is refused, the id nowhere", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      yield* log.append(tenant, event(0))
      // A subject actor has no id (the schema drops one); made without validation, one would be
      // stored in clear beside the entry (SQL's actor_id), out of reach of the subject's erasure.
      const actor = { kind: "subject", id: "ada.lovelace@platform.example" } as unknown as Actor
      const unchecked = new AuditEvent({ actor, action: "consent.withdrawn", subject }, { disableValidation: true })
      for (const attempt of [Effect.asVoid(log.append(tenant, unchecked)), Effect.asVoid(log.appendAll(tenant, [event(1), unchecked]))]) {
        const refused = yield* Effect.either(attempt)
        assert.isTrue(
          Either.isLeft(refused) && refused.left._tag === "AuditEventInvalid",
          `a subject actor with an id was appended: ${String(refused)}`
        )
        assert.notInclude(String(Either.isLeft(refused) && refused.left), "ada.lovelace")
      }
      assert.strictEqual(yield* log.size(tenant), 1)
    }))

  it.effect("a redaction up to a time still to come leaves no entry appended since behind it with its details", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog
      const store = yield* AuditStore
      const tenant = yield* TenantId.make
      const actor = { kind: "system", id: "retention" } as const
      yield* TestClock.setTime(Date.UTC(2026, 0, 1))
      yield* log.append(tenant, event(0))
      // Everything before a time ten days on: the redaction's own entry (index 1) and an entry
      // appended the next day (index 2) are timed before it, and keep their details until the next
      // redaction, which must find them.
      const before = new Date(Date.UTC(2026, 0, 10))
      assert.deepStrictEqual(yield* log.redactDetails(tenant, { before, actor, limit: 10 }), [0])
      yield* TestClock.setTime(Date.UTC(2026, 0, 2))
      yield* log.append(tenant, event(1))
      assert.strictEqual(yield* store.countDetails(tenant, { before }), 2, "entries with details before the time counted")
      assert.deepStrictEqual(
        Option.map(yield* store.oldestDetails(tenant, {}), (time) => time.toISOString()),
        Option.some(new Date(Date.UTC(2026, 0, 1)).toISOString())
      )
      assert.deepStrictEqual(yield* log.redactDetails(tenant, { before, actor, limit: 10 }), [1, 2], "entries redacted again")
      assert.strictEqual(yield* store.countDetails(tenant, { before: new Date(Date.UTC(2026, 0, 2)) }), 0)
    }))

  it.effect("a full verification while appends go on finds nothing wrong", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog
      const tenant = yield* TenantId.make
      yield* log.appendAll(tenant, Array.from({ length: 20 }, (_, i) => event(i)))
      yield* log.checkpoint(tenant)
      const appending = yield* Effect.fork(Effect.forEach(Array.from({ length: 60 }, (_, i) => i), (i) =>
        Effect.zipRight(log.append(tenant, event(i)), log.checkpoint(tenant))))
      const reports = yield* Effect.forEach(Array.from({ length: 30 }, (_, i) => i), () => log.verify(tenant))
      yield* appending.await
      for (const report of reports) assert.isTrue(report.ok, report.problems.join("; "))
      assert.isTrue((yield* log.verify(tenant)).ok)
    }))

  it.effect("a page size out of range or fractional is clamped to a whole page of 1 to 1000, on every store", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog
      const tenant = yield* TenantId.make
      yield* log.appendAll(tenant, Array.from({ length: 5 }, (_, i) => event(i)))
      for (const [limit, expected] of [[2.5, 2], [0, 1], [-3, 1], [Number.NaN, 5], [1e9, 5]] as const) {
        const page = yield* Effect.either(log.query(tenant, { limit }))
        assert.isTrue(Either.isRight(page), `limit ${limit}: ${String(page)}`)
        const entries = Either.getOrThrow(page).entries
        assert.strictEqual(entries.length, expected, `limit ${limit}`)
        assert.strictEqual(Option.isSome(Either.getOrThrow(page).next), expected < 5, `limit ${limit}`)
      }
    }))

  it.effect("a tenant without entries has no log to list, even once its empty tree is checkpointed", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog
      const store = yield* AuditStore
      const [empty, used] = yield* Effect.all([TenantId.make, TenantId.make])
      const checkpoint = yield* log.checkpoint(empty)
      assert.strictEqual(checkpoint.size, 0)
      yield* log.append(used, event(0))
      const tenants = yield* store.tenants
      assert.include(tenants, used)
      assert.notInclude(tenants, empty)
    }))

  it.effect("an index the log cannot hold is not found, on every store", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog
      const tenant = yield* TenantId.make
      yield* log.appendAll(tenant, [event(0), event(1)])
      for (const index of [-1, 1.5, Number.NaN, Infinity, 2 ** 53, 1e20]) {
        const entry = yield* Effect.either(log.entry(tenant, index))
        assert.isTrue(Either.isLeft(entry) && entry.left._tag === "AuditEntryNotFound", `entry ${index}: ${String(entry)}`)
        const bundle = yield* Effect.either(log.proofBundle(tenant, index))
        assert.isTrue(Either.isLeft(bundle) && bundle.left._tag === "AuditEntryNotFound", `bundle ${index}: ${String(bundle)}`)
      }
    }))

  it.effect("a redaction or de-link by an actor its own entry cannot name is refused, and nothing is redacted or de-linked", () =>
    Effect.gen(function*() {
      const { before, held, log, tenant } = yield* heldSubjectHistory
      const invalidActors: ReadonlyArray<Actor> = [
        { kind: "subject" },
        { kind: "staff", id: "" },
        { kind: "staff", id: "ada.lovelace@platform.example" }
      ]
      for (const actor of invalidActors) {
        const redacted = yield* Effect.either(log.redactDetails(tenant, { before, actor, limit: 10 }))
        assert.isTrue(Either.isLeft(redacted) && redacted.left._tag === "AuditEventInvalid", String(redacted))
        const delinked = yield* Effect.either(log.delinkSubject(tenant, held, actor))
        assert.isTrue(Either.isLeft(delinked) && delinked.left._tag === "AuditEventInvalid", String(delinked))
      }
      assert.strictEqual(yield* log.size(tenant), 6)
      const entries = (yield* log.query(tenant, {})).entries
      assert.isTrue(entries.every((e) => Option.isSome(e.details)))
      assert.deepStrictEqual((yield* log.query(tenant, { subject: held })).entries.map((e) => e.index), [0, 2, 4])
    }))

  it.effect("a redaction or de-link whose own entry cannot be appended removes nothing, and the log still verifies", () =>
    Effect.scoped(Effect.gen(function*() {
      const { actor, before, held, log, tenant } = yield* heldSubjectHistory
      const store = yield* AuditStore
      const erasure = { kind: "system", id: "erasure" } as const
      // A second log over the same store whose appends fail, or are interrupted, after the removal.
      const failures = [
        Effect.fail(new AuditStoreError({ operation: "append", cause: "unavailable" })),
        Effect.interrupt
      ] as const
      for (const failure of failures) {
        const failing = yield* makeLog().pipe(
          Effect.provideService(AuditStore, AuditStore.of({ ...store, append: () => failure })),
          Effect.provide(Layer.merge(AuditSigner.layerRandom, CheckpointPublisher.layerMemory))
        )
        const redacted = yield* Effect.exit(failing.redactDetails(tenant, { before, actor, limit: 10 }))
        assert.isTrue(Exit.isFailure(redacted), String(redacted))
        const delinked = yield* Effect.exit(failing.delinkSubject(tenant, held, erasure))
        assert.isTrue(Exit.isFailure(delinked), String(delinked))
        assert.strictEqual(yield* log.size(tenant), 6)
        const entries = (yield* log.query(tenant, {})).entries
        assert.deepStrictEqual(entries.filter((e) => Option.isNone(e.details)).map((e) => e.index), [])
        assert.deepStrictEqual((yield* log.query(tenant, { subject: held })).entries.map((e) => e.index), [0, 2, 4])
        const report = yield* log.verify(tenant)
        assert.isTrue(report.ok, report.problems.join("; "))
      }

      // With appends that work: both removals, each with its entry.
      assert.deepStrictEqual(yield* log.redactDetails(tenant, { before, actor, limit: 10 }), [0, 1, 2, 3, 4, 5])
      assert.strictEqual(yield* log.delinkSubject(tenant, held, erasure), 3)
      const [redaction, delink] = (yield* log.query(tenant, { after: 5 })).entries
      assert.strictEqual(redaction?.action, "audit.details.redacted")
      assert.deepStrictEqual(Option.map(redaction!.details, (d) => d.value), Option.some({
        count: 6,
        firstIndex: 0,
        lastIndex: 5,
        before: before.toISOString()
      }))
      assert.strictEqual(delink?.action, "audit.subject.delinked")
      assert.deepStrictEqual(Option.map(delink!.details, (d) => d.value), Option.some({ entries: 3 }))
      assert.deepStrictEqual((yield* log.query(tenant, { subject: held })).entries, [])
      const report = yield* log.verify(tenant)
      assert.isTrue(report.ok, report.problems.join("; "))
    })))

  it.effect("a redaction with a limit that is not a whole number of entries, or a time that is not one, is refused, and nothing is redacted", () =>
    Effect.gen(function*() {
      const { actor, before, log, tenant } = yield* heldSubjectHistory
      const refused: ReadonlyArray<{ readonly before: Date; readonly limit: number }> = [
        ...[-1, 2.5, Number.NaN, Infinity, -Infinity].map((limit) => ({ before, limit })),
        { before: new Date(Number.NaN), limit: 10 }
      ]
      for (const options of refused) {
        for (const actionPrefix of [undefined, "consent."]) {
          const result = yield* Effect.either(log.redactDetails(tenant, { ...options, actionPrefix, actor }))
          assert.isTrue(Either.isLeft(result) && result.left._tag === "AuditEventInvalid", `${options.limit}: ${String(result)}`)
        }
      }
      assert.strictEqual(yield* log.size(tenant), 6)
      assert.isTrue((yield* log.query(tenant, {})).entries.every((e) => Option.isSome(e.details)))
      // A limit of 0 redacts nothing, and records nothing.
      assert.deepStrictEqual(yield* log.redactDetails(tenant, { before, actor, limit: 0 }), [])
      assert.strictEqual(yield* log.size(tenant), 6)
    }))
}
