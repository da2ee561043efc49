import * as TenantId from "@lawful/core/TenantId"
import * as Database from "@lawful/core/Database"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import { randomBytes, randomUUID } from "node:crypto"
import { performance } from "node:perf_hooks"
import pg from "pg"
import { compare, concurrently, percentile } from "../../../bench/harness.js"
import type { BenchContext } from "../../../bench/run.js"
import * as AuditLog from "../src/AuditLog.js"
import { AuditEvent } from "../src/AuditEvent.js"
import * as AuditStore from "../src/AuditStore.js"
import * as CheckpointPublisher from "../src/CheckpointPublisher.js"

const event = (n: number) =>
  new AuditEvent({
    actor: { kind: "api-key", id: "key_live_0001" },
    action: "consent.recorded",
    purpose: "newsletter",
    legalBasis: "consent",
    resource: { type: "consent-event", id: randomUUID() },
    details: { list: "weekly-digest", source: "form", formVersion: n % 7 }
  })

const rawTable = `CREATE TABLE IF NOT EXISTS bench_raw_audit (
  tenant_id uuid NOT NULL, idx bigint NOT NULL, time timestamptz NOT NULL, action text NOT NULL,
  details jsonb, leaf bytea NOT NULL, leaf_hash bytea NOT NULL, PRIMARY KEY (tenant_id, idx))`

export default async (context: BenchContext) => {
  const url = (await context.postgres()).url
  const runtime = ManagedRuntime.make(
    AuditLog.layer.pipe(
      Layer.provide(Layer.mergeAll(AuditStore.layerSql, AuditLog.AuditSigner.layerRandom, CheckpointPublisher.layerMemory)),
      Layer.provide(Database.layerPostgres(Redacted.make(url))),
      Layer.orDie
    )
  )
  const log = await runtime.runPromise(AuditLog.AuditLog)
  const clients = await Promise.all(Array.from({ length: 8 }, async () => {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    return client
  }))
  const raw = clients[0]!
  await raw.query(rawTable)
  // Rows of the same size as an entry's, each with its own bytes, prepared before timing.
  const rows = Array.from({ length: 1000 }, (_, i) => ({
    leaf: randomBytes(330),
    hash: randomBytes(32),
    details: JSON.stringify({ list: "weekly-digest", source: "form", formVersion: i % 7 })
  }))
  // The library's input likewise: 1,000 distinct events, built (and validated) before timing.
  const events = Array.from({ length: 1000 }, (_, i) => event(i))
  const leaf = rows[0]!.leaf
  const hash = rows[0]!.hash
  const details = rows[0]!.details
  let rawIndex = 0
  const rawTenant = randomUUID()
  const rawInsert = (client: pg.Client) =>
    client.query(
      "INSERT INTO bench_raw_audit VALUES ($1, $2, now(), 'consent.recorded', $3, $4, $5)",
      [rawTenant, rawIndex++, details, leaf, hash]
    )

  const results = []

  // 1. Batched appends: 1,000 entries a transaction.
  const batches = 20
  const batchSize = 1000
  results.push(await compare({
    title: "Audit appends in batches of 1,000 (one transaction each), PostgreSQL",
    target: 0.7,
    baseline: {
      name: "pg INSERT ... SELECT unnest of 1,000 distinct rows",
      run: async () => {
        for (let b = 0; b < batches; b++) {
          const start = rawIndex
          rawIndex += batchSize
          await raw.query("BEGIN")
          await raw.query(
            `INSERT INTO bench_raw_audit SELECT $1, i, now(), 'consent.recorded', d, l, h
             FROM unnest($2::bigint[], $3::jsonb[], $4::bytea[], $5::bytea[]) AS x(i, d, l, h)`,
            [
              rawTenant,
              rows.map((_, i) => start + i),
              rows.map((r) => r.details),
              rows.map((r) => r.leaf),
              rows.map((r) => r.hash)
            ]
          )
          await raw.query("COMMIT")
        }
        return batches * batchSize
      }
    },
    library: {
      name: "AuditLog.appendAll (leaf + subtree hashes in Node)",
      run: async () => {
        const tenant = await runtime.runPromise(TenantId.make)
        for (let b = 0; b < batches; b++) {
          await runtime.runPromise(log.appendAll(tenant, events))
        }
        return batches * batchSize
      }
    }
  }))

  // 2. Concurrent single appends from 8 callers to one tenant.
  const singles = 4000
  results.push(await compare({
    title: "Concurrent single appends, 8 callers, one tenant, PostgreSQL",
    target: 0.5,
    baseline: {
      name: "pg single-row INSERT from 8 clients",
      run: () => concurrently(8, singles, (worker) => rawInsert(clients[worker]!).then(() => undefined))
    },
    library: {
      name: "AuditLog.append from 8 fibres (grouped commits)",
      run: async () => {
        const tenant = await runtime.runPromise(TenantId.make)
        await runtime.runPromise(
          Effect.forEach(
            Array.from({ length: singles }, (_, i) => i),
            (i) => log.append(tenant, events[i % events.length]!),
            { concurrency: 8, discard: true }
          )
        )
        return singles
      }
    }
  }))

  // 3. A lone append's latency.
  const rawLatencies: Array<number> = []
  const libraryLatencies: Array<number> = []
  results.push(await compare({
    title: "A lone append (p50 latency), PostgreSQL",
    metric: "p50",
    target: 2,
    baseline: {
      name: "pg single-row INSERT",
      run: async () => {
        rawLatencies.length = 0
        for (let i = 0; i < 500; i++) {
          const start = performance.now()
          await rawInsert(raw)
          rawLatencies.push(performance.now() - start)
        }
        return 500
      },
      latencies: () => rawLatencies
    },
    library: {
      name: "AuditLog.append",
      run: async () => {
        const tenant = await runtime.runPromise(TenantId.make)
        libraryLatencies.length = 0
        for (let i = 0; i < 500; i++) {
          const start = performance.now()
          await runtime.runPromise(log.append(tenant, events[i % events.length]!))
          libraryLatencies.push(performance.now() - start)
        }
        return 500
      },
      latencies: () => libraryLatencies
    }
  }))

  // 4. Inclusion proofs at 1,000 and 1,000,000 entries.
  const small = await runtime.runPromise(TenantId.make)
  const large = await runtime.runPromise(TenantId.make)
  await runtime.runPromise(log.appendAll(small, Array.from({ length: 1000 }, (_, i) => event(i))))
  process.stdout.write("\n  (building a log of 1,000,000 entries...)\n")
  for (let b = 0; b < 1000; b++) {
    await runtime.runPromise(log.appendAll(large, Array.from({ length: 1000 }, (_, i) => event(i))))
  }
  const proofLatencies = { small: [] as Array<number>, large: [] as Array<number> }
  const proofs = (tenant: TenantId.TenantId, size: number, into: Array<number>) => async () => {
    into.length = 0
    for (let i = 0; i < 300; i++) {
      const index = Math.floor(Math.random() * size)
      const start = performance.now()
      await runtime.runPromise(log.inclusionProof(tenant, index, size))
      into.push(performance.now() - start)
    }
    return 300
  }
  results.push(await compare({
    title: "Inclusion proof at 1,000,000 entries vs at 1,000 (p50 latency)",
    metric: "p50",
    target: 2,
    baseline: { name: "proof in a log of 1,000", run: proofs(small, 1000, proofLatencies.small), latencies: () => proofLatencies.small },
    library: {
      name: "proof in a log of 1,000,000",
      run: proofs(large, 1_000_000, proofLatencies.large),
      latencies: () => proofLatencies.large
    }
  }))
  process.stdout.write(
    `  (p99: ${percentile(proofLatencies.small, 99).toFixed(3)} ms at 1,000; ${percentile(proofLatencies.large, 99).toFixed(3)} ms at 1,000,000)\n`
  )

  await raw.query("DROP TABLE bench_raw_audit")
  await Promise.all(clients.map((client) => client.end()))
  await runtime.dispose()
  return results
}
