import { assert, describe, layer } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as TenantId from "@lawful/core/TenantId"
import { contractSuite, postgresLayer, postgresUrl } from "@lawful/core/testing"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Runtime from "effect/Runtime"
import * as fc from "fast-check"
import * as AuditLog from "../src/AuditLog.js"
import * as AuditStore from "../src/AuditStore.js"
import type * as AuditTrail from "../src/AuditTrail.js"
import * as CheckpointPublisher from "../src/CheckpointPublisher.js"
import * as MerkleProof from "../src/MerkleProof.js"
import * as MerkleTree from "../src/MerkleTree.js"
import { event, heldSubjectHistory } from "./AuditLogSuite.js"
import { blockedBy, waitFor } from "./fixtures/blocking.js"

type Log = Context.Tag.Service<typeof AuditLog.AuditLog>

class SecondLog extends Context.Tag("test/SecondLog")<SecondLog, Log>() {}

interface Model {
  count: number
  // The leaf hash of each acknowledged append, by index: a checkpoint covers an append by its content.
  readonly acknowledged: Map<number, Uint8Array>
  last: { size: number; root: Uint8Array } | undefined
}

interface Real {
  readonly tenant: TenantId.TenantId
  readonly clients: ReadonlyArray<Log>
  readonly run: <A, E>(effect: Effect.Effect<A, E>) => Promise<A>
}

const acknowledge = (model: Model, appended: ReadonlyArray<AuditTrail.Appended>) => {
  for (const { index, leafHash } of appended) {
    assert.isFalse(model.acknowledged.has(index), `index ${index} acknowledged twice`)
    model.acknowledged.set(index, leafHash)
  }
  model.count += appended.length
}

// Up to `count` indices spread evenly over [from, to), both ends included.
const spread = (from: number, to: number, count: number) =>
  to <= from ? [] : [...new Set(Array.from({ length: count }, (_, i) => from + Math.round(i * (to - 1 - from) / Math.max(1, count - 1))))]

// The checkpoint holds every acknowledged append by its content: its tree's leaves are those the
// appends were acknowledged with (every index below its size is acknowledged by the end of a step),
// and inclusion proofs from the log, of the appends acknowledged since the last checkpoint and of
// older ones, verify against its root. It extends the model's last checkpoint.
// (A proof of every append against every checkpoint is what the root recomputed from them implies;
// proving each from the log would read thousands of proofs per run.)
const covers = (model: Model, real: Real, log: Log, checkpoint: { readonly size: number; readonly root: Uint8Array }) =>
  Effect.gen(function*() {
    const leaves = Array.from({ length: checkpoint.size }, (_, index) => model.acknowledged.get(index))
    const missing = leaves.findIndex((leaf) => leaf === undefined)
    assert.strictEqual(missing, -1, `entry ${missing} of the checkpoint of size ${checkpoint.size} was never acknowledged`)
    assert.deepStrictEqual(checkpoint.root, MerkleTree.rootOf(leaves as Array<Uint8Array>))
    const since = Math.min(model.last?.size ?? 0, checkpoint.size)
    yield* Effect.forEach([...spread(since, checkpoint.size, 8), ...spread(0, since, 4)], (leafIndex) =>
      Effect.flatMap(log.inclusionProof(real.tenant, leafIndex, checkpoint.size), (proof) =>
        MerkleProof.verifyInclusion({
          leafIndex,
          treeSize: checkpoint.size,
          leafHash: leaves[leafIndex]!,
          proof,
          root: checkpoint.root
        })), { discard: true })
    if (model.last) {
      const { root: root1, size: size1 } = model.last
      assert.isAtLeast(checkpoint.size, size1)
      const proof = yield* log.consistencyProof(real.tenant, size1, checkpoint.size)
      yield* MerkleProof.verifyConsistency({ size1, size2: checkpoint.size, root1, root2: checkpoint.root, proof })
    }
  })

class Append implements fc.AsyncCommand<Model, Real> {
  constructor(readonly client: number, readonly count: number) {}
  check = () => true
  async run(model: Model, real: Real) {
    const log = real.clients[this.client % real.clients.length]!
    const appended = await real.run(
      Effect.forEach(Array.from({ length: this.count }, (_, i) => i), (i) => log.append(real.tenant, event(i)), {
        concurrency: "unbounded"
      })
    )
    acknowledge(model, appended)
  }
  toString = () => `append(${this.count} concurrently, client ${this.client})`
}

// Batches of up to 600 events from every client at once: each batch is
// written whole, its indices contiguous, whichever client's batch moves the log first.
class AppendBatches implements fc.AsyncCommand<Model, Real> {
  constructor(readonly sizes: ReadonlyArray<number>) {}
  check = () => true
  async run(model: Model, real: Real) {
    const batches = await real.run(
      Effect.forEach(this.sizes, (size, b) => {
        const log = real.clients[b % real.clients.length]!
        return log.appendAll(real.tenant, Array.from({ length: size }, (_, i) => event(i)))
      }, { concurrency: "unbounded" })
    )
    for (const batch of batches) {
      for (const [i, { index }] of batch.entries()) {
        assert.strictEqual(index, batch[0]!.index + i, "a batch's indices are contiguous")
      }
      acknowledge(model, batch)
    }
  }
  toString = () => `appendAll(${this.sizes.join(", ")} at once)`
}

class TakeCheckpoint implements fc.AsyncCommand<Model, Real> {
  constructor(readonly client: number) {}
  check = () => true
  async run(model: Model, real: Real) {
    const log = real.clients[this.client % real.clients.length]!
    const checkpoint = await real.run(log.checkpoint(real.tenant))
    // Every acknowledged append is covered.
    assert.isAtLeast(checkpoint.size, model.count)
    await real.run(covers(model, real, log, checkpoint))
    model.last = { size: checkpoint.size, root: checkpoint.root }
  }
  toString = () => `checkpoint(client ${this.client})`
}

// Appends and checkpoints at once, from every client: each client appends `appends` events one by
// one while each signs `checkpoints` checkpoints. None is refused (the log only grows); each covers
// the appends acknowledged before the step began and every acknowledged append its tree holds.
class AppendWhileCheckpointing implements fc.AsyncCommand<Model, Real> {
  constructor(readonly appends: number, readonly checkpoints: number) {}
  check = () => true
  async run(model: Model, real: Real) {
    const before = model.count
    const [appended, checkpoints] = await real.run(Effect.all([
      Effect.forEach(real.clients, (log) =>
        Effect.forEach(Array.from({ length: this.appends }, (_, i) => i), (i) => log.append(real.tenant, event(i))), {
        concurrency: "unbounded"
      }),
      Effect.forEach(real.clients, (log) =>
        Effect.forEach(Array.from({ length: this.checkpoints }), () =>
          Effect.map(log.checkpoint(real.tenant), (checkpoint) => ({ log, checkpoint })), { concurrency: "unbounded" }), {
        concurrency: "unbounded"
      })
    ], { concurrency: "unbounded" }))
    acknowledge(model, appended.flat())
    for (const { checkpoint, log } of checkpoints.flat().sort((a, b) => a.checkpoint.size - b.checkpoint.size)) {
      assert.isAtLeast(checkpoint.size, before)
      await real.run(covers(model, real, log, checkpoint))
      model.last = { size: checkpoint.size, root: checkpoint.root }
    }
  }
  toString = () => `append(${this.appends} each) while checkpointing(${this.checkpoints} each)`
}

class CheckIndices implements fc.AsyncCommand<Model, Real> {
  check = () => true
  async run(model: Model, real: Real) {
    const size = await real.run(real.clients[0]!.size(real.tenant))
    assert.strictEqual(size, model.count)
    assert.deepStrictEqual([...model.acknowledged.keys()].sort((a, b) => a - b), Array.from({ length: model.count }, (_, i) => i))
  }
  toString = () => "check indices are 0..n-1"
}

const commands = (clients: number) => [
  fc.tuple(fc.nat({ max: clients - 1 }), fc.integer({ min: 1, max: 25 })).map(([c, n]) => new Append(c, n)),
  fc.array(fc.integer({ min: 1, max: 600 }), { minLength: 1, maxLength: 2 }).map((sizes) => new AppendBatches(sizes)),
  fc.nat({ max: clients - 1 }).map((c) => new TakeCheckpoint(c)),
  fc.tuple(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 8 })).map(([a, c]) => new AppendWhileCheckpointing(a, c)),
  fc.constant(new CheckIndices())
]

const modelRun = (clients: ReadonlyArray<Log>, runs: number) =>
  Effect.gen(function*() {
    const run = Runtime.runPromise(yield* Effect.runtime<never>())
    yield* Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(fc.commands(commands(clients.length), { maxCommands: 30 }), async (cmds) => {
          const tenant = await run(TenantId.make)
          await fc.asyncModelRun(
            () => ({ model: { count: 0, acknowledged: new Map(), last: undefined }, real: { tenant, clients, run } }),
            cmds
          )
        }),
        { numRuns: runs }
      )
    )
  })

const logOver = <E, R>(store: Layer.Layer<AuditStore.AuditStore, E, R>) =>
  AuditLog.layer.pipe(
    Layer.provide(Layer.mergeAll(store, AuditLog.AuditSigner.layerRandom, CheckpointPublisher.layerMemory))
  )

// The store's reads of a log's state and of its latest checkpoint answer after a varying number of
// turns, as a database's replies do: in memory too, a checkpoint then overlaps appends and others.
const unevenReads = <E, R>(store: Layer.Layer<AuditStore.AuditStore, E, R>) =>
  Layer.effect(
    AuditStore.AuditStore,
    Effect.map(AuditStore.AuditStore, (inner) => {
      let reads = 0
      const later = <A, E>(read: Effect.Effect<A, E>) =>
        Effect.suspend(() => {
          const turns = (reads++ * 7) % 23
          return Effect.zipRight(Effect.forEach(Array.from({ length: turns }), () => Effect.yieldNow(), { discard: true }), read)
        })
      return AuditStore.AuditStore.of({
        ...inner,
        state: (tenant) => later(inner.state(tenant)),
        latestCheckpoint: (tenant) => later(inner.latestCheckpoint(tenant))
      })
    })
  ).pipe(Layer.provide(store))

contractSuite("AuditLog appends from concurrent fibers (model-based)", {
  memory: logOver(unevenReads(AuditStore.layerMemory)),
  sql: logOver(unevenReads(AuditStore.layerSql))
}, (it) => {
  it.effect("indices are exactly 0..n-1; checkpoints, alone or amid appends, prove every acknowledged append and are consistent", () =>
    Effect.flatMap(AuditLog.AuditLog, (log) => modelRun([log], 20)), { timeout: 300_000 })
})

// Two processes on one PostgreSQL: two logs over two separate connection pools, one schema.
if (postgresUrl) {
  const baseUrl = postgresUrl
  const twoClients = Layer.unwrapScoped(
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const [row] = yield* sql<{ search_path: string }>`SHOW search_path`
      const url = new URL(baseUrl)
      url.searchParams.set("options", `-c search_path=${row!.search_path}`)
      const shared = Layer.mergeAll(AuditLog.AuditSigner.layerRandom, CheckpointPublisher.layerMemory)
      const second = Layer.scoped(SecondLog, AuditLog.make()).pipe(
        Layer.provide(unevenReads(AuditStore.layerSql)),
        Layer.provide(PgClient.layer({ url: Redacted.make(url.toString()) })),
        Layer.orDie
      )
      return Layer.merge(AuditLog.layer.pipe(Layer.provide(unevenReads(AuditStore.layerSql))), second).pipe(
        Layer.provide(shared)
      )
    })
  ).pipe(Layer.provideMerge(postgresLayer))

  describe("AuditLog appends from two PostgreSQL clients (model-based)", () => {
    layer(twoClients, { timeout: 120_000 })((it) => {
      it.effect("indices are exactly 0..n-1 across both clients; checkpoints amid appends prove every acknowledged append and are consistent", () =>
        Effect.gen(function*() {
          const first = yield* AuditLog.AuditLog
          const second = yield* SecondLog
          yield* modelRun([first, second], 20)
        }), { timeout: 300_000 })

      it.effect("two clients starting one tenant's log at once both append, at indices 0 and 1", () =>
        Effect.gen(function*() {
          const first = yield* AuditLog.AuditLog
          const second = yield* SecondLog
          for (let i = 0; i < 20; i++) {
            const tenant = yield* TenantId.make
            const appended = yield* Effect.all([first.append(tenant, event(0)), second.append(tenant, event(1))], {
              concurrency: 2
            })
            assert.deepStrictEqual(appended.map((a) => a.index).sort(), [0, 1])
            assert.isTrue((yield* second.verify(tenant)).ok)
          }
        }))
    })
  })
}

// A subject de-linked while a tenant's very first redaction batch passes its entries: before that
// batch commits there is no watermark row to lock, so both must wait on something else.
if (postgresUrl) {
  const logAndDatabase = logOver(AuditStore.layerSql).pipe(Layer.provideMerge(postgresLayer))

  describe("AuditLog redaction racing a de-link on PostgreSQL", () => {
    layer(logAndDatabase, { timeout: 60_000 })((it) => {
      it.effect("a subject de-linked during the tenant's first redaction has its details redacted afterwards", () =>
        Effect.scoped(Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const { actor, before, held, log, tenant } = yield* heldSubjectHistory

          // Another transaction holds the row the redaction will record the held subject in, so
          // the redaction stops there, after passing the subject's entries, until it rolls back.
          const blocker = yield* sql.reserve
          const [backend] = yield* blocker.execute("SELECT pg_backend_pid() AS pid", [], undefined)
          const pid = Number(backend.pid)
          yield* blocker.executeRaw("BEGIN", [])
          yield* blocker.execute(
            "INSERT INTO lawful_audit_redactions_skipped (tenant_id, subject_id) VALUES ($1, $2)",
            [tenant, held],
            undefined
          )

          const redaction = yield* Effect.fork(
            log.redactDetails(tenant, { before, actor, excludeSubjects: new Set([held]), limit: 10 })
          )
          const [redacting] = yield* waitFor(
            Effect.map(blockedBy([pid]), (pids) => pids.length > 0 ? Option.some(pids) : Option.none())
          )
          // The de-link either waits for the redaction or, without a lock between them, finishes.
          const delink = yield* Effect.fork(log.delinkSubject(tenant, held, { kind: "system", id: "erasure" }))
          yield* waitFor(Effect.gen(function*() {
            if (Option.isSome(yield* Fiber.poll(delink))) return Option.some(true)
            return (yield* blockedBy([redacting!])).length > 0 ? Option.some(true) : Option.none()
          }))
          yield* blocker.executeRaw("ROLLBACK", [])

          assert.deepStrictEqual(yield* Fiber.join(redaction), [1, 3, 5])
          assert.strictEqual(yield* Fiber.join(delink), 3)
          assert.deepStrictEqual(yield* log.redactDetails(tenant, { before, actor, limit: 10 }), [0, 2, 4])
          const page = yield* log.query(tenant, { to: before })
          assert.strictEqual(page.entries.length, 6)
          assert.isTrue(page.entries.every((e) => Option.isNone(e.details)))
        })))
    })
  })
}
