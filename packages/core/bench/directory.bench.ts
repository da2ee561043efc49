import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import { createHmac, randomBytes, randomUUID } from "node:crypto"
import pg from "pg"
import { compare, concurrently } from "../../../bench/harness.js"
import type { BenchContext } from "../../../bench/run.js"
import { Database, KeyStore, MasterKey, SubjectDirectory, TenantId, Vault } from "../src/index.js"

export default async (context: BenchContext) => {
  const url = (await context.postgres()).url
  const runtime = ManagedRuntime.make(
    SubjectDirectory.layerSql.pipe(
      Layer.provideMerge(Vault.layer),
      Layer.provide(Layer.mergeAll(KeyStore.layerSql, MasterKey.layerRandom)),
      Layer.provide(Database.layerPostgres(Redacted.make(url))),
      Layer.orDie
    )
  )
  const directory = await runtime.runPromise(SubjectDirectory.SubjectDirectory)
  const clients = await Promise.all(Array.from({ length: 8 }, async () => {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    return client
  }))
  await clients[0]!.query(`CREATE TABLE IF NOT EXISTS bench_raw_subjects (
    tenant_id uuid NOT NULL, subject_id uuid NOT NULL, email_index text NOT NULL, email_sealed bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (tenant_id, subject_id), UNIQUE (tenant_id, email_index))`)
  const count = 4000
  const hmacKey = randomBytes(32)
  let round = 0

  const result = await compare({
    title: "SubjectDirectory.resolve of new addresses, 8 concurrent callers, PostgreSQL",
    target: 0.5,
    baseline: {
      name: "pg INSERT ... ON CONFLICT from 8 clients",
      run: () => {
        const tenant = randomUUID()
        const r = round++
        return concurrently(8, count, async (worker, i) => {
          const email = `person${i}.r${r}@example.com`
          await clients[worker]!.query(
            `INSERT INTO bench_raw_subjects (tenant_id, subject_id, email_index, email_sealed) VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant_id, email_index) DO NOTHING`,
            [tenant, randomUUID(), createHmac("sha256", hmacKey).update(email).digest("hex"), randomBytes(60)]
          )
        })
      }
    },
    library: {
      name: "SubjectDirectory.resolve (directory, vault key, seal)",
      run: async () => {
        const tenant = await runtime.runPromise(TenantId.make)
        const r = round++
        await runtime.runPromise(
          Effect.forEach(
            Array.from({ length: count }, (_, i) => `person${i}.r${r}@example.com`),
            (email) => directory.resolve(tenant, email),
            { concurrency: 8, discard: true }
          )
        )
        return count
      }
    }
  })
  await clients[0]!.query("DROP TABLE bench_raw_subjects")
  await Promise.all(clients.map((client) => client.end()))
  await runtime.dispose()
  return [result]
}
