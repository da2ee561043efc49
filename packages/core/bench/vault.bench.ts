import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import { createCipheriv, createSecretKey, randomBytes, randomUUID } from "node:crypto"
import { performance } from "node:perf_hooks"
import pg from "pg"
import { compare } from "../../../bench/harness.js"
import type { BenchContext } from "../../../bench/run.js"
import { Database, KeyStore, MasterKey, SubjectId, TenantId, Vault } from "../src/index.js"

const FIELD = randomBytes(300)

const sealBench = async () => {
  const runtime = ManagedRuntime.make(
    Vault.layer.pipe(Layer.provide(KeyStore.layerMemory), Layer.provide(MasterKey.layerRandom))
  )
  const tenant = await runtime.runPromise(TenantId.make)
  const subject = await runtime.runPromise(SubjectId.make)
  const operations = 50_000
  const rawKey = createSecretKey(randomBytes(32))
  const result = await compare({
    title: "Vault.seal of a 300-byte field (one subject, key cached)",
    target: 0.5,
    baseline: {
      name: "node:crypto AES-256-GCM, fresh IV",
      run: async () => {
        for (let i = 0; i < operations; i++) {
          const iv = randomBytes(12)
          const cipher = createCipheriv("aes-256-gcm", rawKey, iv)
          Buffer.concat([iv, cipher.update(FIELD), cipher.final(), cipher.getAuthTag()])
        }
        return operations
      }
    },
    library: {
      name: "Vault.seal (AAD tenant/subject/purpose)",
      run: () =>
        runtime.runPromise(
          Effect.flatMap(Vault.Vault, (vault) =>
            Effect.forEach(Array.from({ length: operations }), () => vault.seal(tenant, subject, "bench.field", FIELD), {
              discard: true
            })),
        ).then(() => operations)
    }
  })
  await runtime.dispose()
  return result
}

const shredBench = async (url: string) => {
  const runtime = ManagedRuntime.make(
    Vault.layer.pipe(
      Layer.provide(Layer.mergeAll(KeyStore.layerSql, MasterKey.layerRandom)),
      Layer.provide(Database.layerPostgres(Redacted.make(url))),
      Layer.orDie
    )
  )
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  await client.query(`CREATE TABLE IF NOT EXISTS bench_raw_keys (
    tenant_id uuid NOT NULL, subject_id uuid NOT NULL, ciphertext bytea, PRIMARY KEY (tenant_id, subject_id))`)
  const tenant = await runtime.runPromise(TenantId.make)
  const perRound = 500
  const rawLatencies: Array<number> = []
  const libraryLatencies: Array<number> = []

  const result = await compare({
    title: "Vault.shred of one subject on PostgreSQL (p50 latency)",
    metric: "p50",
    target: 3,
    baseline: {
      name: "pg DELETE of one key row",
      run: async () => {
        const subjects = Array.from({ length: perRound }, () => randomUUID())
        await client.query(
          `INSERT INTO bench_raw_keys SELECT $1, s, $3 FROM unnest($2::uuid[]) s`,
          [tenant, subjects, randomBytes(60)]
        )
        rawLatencies.length = 0
        for (const subject of subjects) {
          const start = performance.now()
          await client.query("DELETE FROM bench_raw_keys WHERE tenant_id = $1 AND subject_id = $2", [tenant, subject])
          rawLatencies.push(performance.now() - start)
        }
        return perRound
      },
      latencies: () => rawLatencies
    },
    library: {
      name: "Vault.shred (tombstone in the erasure ledger)",
      run: () =>
        runtime.runPromise(
          Effect.gen(function*() {
            const vault = yield* Vault.Vault
            const subjects = yield* Effect.all(Array.from({ length: perRound }, () => SubjectId.make))
            yield* Effect.forEach(subjects, (subject) => vault.seal(tenant, subject, "p", "x"), { concurrency: 8, discard: true })
            libraryLatencies.length = 0
            for (const subject of subjects) {
              const start = performance.now()
              yield* vault.shred(tenant, subject)
              libraryLatencies.push(performance.now() - start)
            }
            return perRound
          })
        ),
      latencies: () => libraryLatencies
    }
  })
  await client.query("DROP TABLE bench_raw_keys")
  await client.end()
  await runtime.dispose()
  return result
}

export default async (context: BenchContext) => [await sealBench(), await shredBench((await context.postgres()).url)]
