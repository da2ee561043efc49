import { assert, describe, layer } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as TenantId from "@lawful/core/TenantId"
import { contractSuite, postgresLayer, postgresUrl } from "@lawful/core/testing"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Runtime from "effect/Runtime"
import * as fc from "fast-check"
import * as AuditLog from "../src/AuditLog.js"
import * as AuditStore from "../src/AuditStore.js"
import * as CheckpointPublisher from "../src/CheckpointPublisher.js"
import * as MerkleProof from "../src/MerkleProof.js"
import { event } from "./AuditLogSuite.js"

type Log = Context.Tag.Service<typeof AuditLog.AuditLog>

class SecondLog extends Context.Tag("test/SecondLog")<SecondLog, Log>() {}

interface Model {
  count: number
  readonly acknowledged: Set<number>
  last: { size: number; root: Uint8Array } | undefined
}

interface Real {
  readonly tenant: TenantId.TenantId
  readonly clients: ReadonlyArray<Log>
  readonly run: <A, E>(effect: Effect.Effect<A, E>) => Promise<A>
}

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
    for (const { index } of appended) {
      assert.isFalse(model.acknowledged.has(index), `index ${index} acknowledged twice`)
      model.acknowledged.add(index)
    }
    model.count += this.count
  }
  toString = () => `append(${this.count} concurrently, client ${this.client})`
}

class TakeCheckpoint implements fc.AsyncCommand<Model, Real> {
  constructor(readonly client: number) {}
  check = () => true
  async run(model: Model, real: Real) {
    const log = real.clients[this.client % real.clients.length]!
    const checkpoint = await real.run(log.checkpoint(real.tenant))
    // Every acknowledged append is covered.
    assert.isAtLeast(checkpoint.size, model.count)
    if (model.last) {
      const { root: root1, size: size1 } = model.last
      const proof = await real.run(log.consistencyProof(real.tenant, size1, checkpoint.size))
      await real.run(MerkleProof.verifyConsistency({ size1, size2: checkpoint.size, root1, root2: checkpoint.root, proof }))
    }
    model.last = { size: checkpoint.size, root: checkpoint.root }
  }
  toString = () => `checkpoint(client ${this.client})`
}

class CheckIndices implements fc.AsyncCommand<Model, Real> {
  check = () => true
  async run(model: Model, real: Real) {
    const size = await real.run(real.clients[0]!.size(real.tenant))
    assert.strictEqual(size, model.count)
    assert.deepStrictEqual([...model.acknowledged].sort((a, b) => a - b), Array.from({ length: model.count }, (_, i) => i))
  }
  toString = () => "check indices are 0..n-1"
}

const commands = (clients: number) => [
  fc.tuple(fc.nat({ max: clients - 1 }), fc.integer({ min: 1, max: 25 })).map(([c, n]) => new Append(c, n)),
  fc.nat({ max: clients - 1 }).map((c) => new TakeCheckpoint(c)),
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
            () => ({ model: { count: 0, acknowledged: new Set<number>(), last: undefined }, real: { tenant, clients, run } }),
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

contractSuite("AuditLog appends from concurrent fibers (model-based)", {
  memory: logOver(AuditStore.layerMemory),
  sql: logOver(AuditStore.layerSql)
}, (it) => {
  it.effect("indices are exactly 0..n-1, checkpoints cover every acknowledged append and are consistent", () =>
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
        Layer.provide(AuditStore.layerSql),
        Layer.provide(PgClient.layer({ url: Redacted.make(url.toString()) })),
        Layer.orDie
      )
      return Layer.merge(AuditLog.layer.pipe(Layer.provide(AuditStore.layerSql)), second).pipe(Layer.provide(shared))
    })
  ).pipe(Layer.provideMerge(postgresLayer))

  describe("AuditLog appends from two PostgreSQL clients (model-based)", () => {
    layer(twoClients, { timeout: 120_000 })((it) => {
      it.effect("indices are exactly 0..n-1 across both clients, checkpoints are consistent", () =>
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
