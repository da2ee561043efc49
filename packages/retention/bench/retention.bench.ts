/**
 * Retention on PostgreSQL, each figure beside a raw baseline on identical tables:
 *
 * 1. purging expired rows with the sweeper at full pace (batches of 10,000, journal, one audit receipt per
 *    tenant and category) vs a raw batched DELETE by an indexed timestamp, both followed by VACUUM;
 *    and, to separate the library's cost from that of purging tenant by tenant, vs the same raw
 *    DELETE run tenant by tenant through the (tenant, time) index;
 * 2. dropping one expired day partition with the sweeper (census, journal, receipts) vs a raw
 *    DROP TABLE of that partition, at 1,000 and at 50,000 rows a partition;
 * 3. the p99 latency of consent-shaped inserts while the sweeper purges, vs without a purge.
 *    `@lawful/consent-proof` is not a dependency of retention (and not finished), so the insert
 *    is a raw single-row INSERT into a consent-events-shaped table. Measured with the sweeper's
 *    defaults, at full pace, with batches of 10,000, and, for reference, during a raw batched DELETE.
 */
import * as RetentionTarget from "@lawful/core/RetentionTarget"
import * as Database from "@lawful/core/Database"
import * as AuditLog from "@lawful/audit-trail/AuditLog"
import * as AuditStore from "@lawful/audit-trail/AuditStore"
import * as CheckpointPublisher from "@lawful/audit-trail/CheckpointPublisher"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import { randomBytes, randomUUID } from "node:crypto"
import { performance } from "node:perf_hooks"
import pg from "pg"
import { compare, concurrently, percentile } from "../../../bench/harness.js"
import type { Result } from "../../../bench/harness.js"
import type { BenchContext } from "../../../bench/run.js"
import * as Retention from "../src/Retention.js"
import * as Sweeper from "../src/Sweeper.js"

const rounds = 3
const runsPerSide = rounds + 1 // the harness adds one warm-up run per side
const tenants = Array.from({ length: 4 }, () => randomUUID())
const expiredAt = "2020-01-01T00:00:00Z"

const logTable = (name: string) => `
  CREATE TABLE ${name} (
    tenant_id uuid NOT NULL, id bigint NOT NULL, subject_id uuid, recorded_at timestamptz NOT NULL, payload text,
    PRIMARY KEY (tenant_id, id));
  CREATE INDEX ${name}_tenant_time ON ${name} (tenant_id, recorded_at);
  CREATE INDEX ${name}_time ON ${name} (recorded_at);`

// `rows` expired rows spread over the tenants, and a tenth as many fresh ones that stay.
const fillLog = (name: string, rows: number) => `
  INSERT INTO ${name}
  SELECT (ARRAY[${tenants.map((t) => `'${t}'::uuid`).join(",")}])[1 + i % ${tenants.length}], i,
    CASE WHEN i % 3 = 0 THEN NULL ELSE md5(i::text)::uuid END,
    CASE WHEN i % 11 = 0 THEN now() ELSE timestamptz '${expiredAt}' + i * interval '1 second' END,
    repeat('x', 120)
  FROM generate_series(1, ${rows + Math.floor(rows / 10)}) AS i;
  ANALYZE ${name};`

const partitionedTable = (name: string) => `
  CREATE TABLE ${name} (
    tenant_id uuid NOT NULL, id bigint NOT NULL, subject_id uuid, recorded_at timestamptz NOT NULL, payload text,
    PRIMARY KEY (tenant_id, id, recorded_at)) PARTITION BY RANGE (recorded_at);
  CREATE INDEX ${name}_tenant_time ON ${name} (tenant_id, recorded_at);
  CREATE TABLE ${name}_p20200101 PARTITION OF ${name} FOR VALUES FROM ('2020-01-01T00:00:00Z') TO ('2020-01-02T00:00:00Z');`

const fillPartition = (name: string, rows: number) => `
  INSERT INTO ${name}
  SELECT (ARRAY[${tenants.map((t) => `'${t}'::uuid`).join(",")}])[1 + i % ${tenants.length}], i, NULL,
    timestamptz '${expiredAt}' + (i % 80000) * interval '1 second', repeat('x', 120)
  FROM generate_series(1, ${rows}) AS i;`

const target = (id: string, storage: RetentionTarget.TargetStorage): RetentionTarget.RetentionTarget => ({
  ...storage,
  id,
  description: id,
  action: "delete",
  allowForever: false,
  defaultPeriod: Duration.days(30),
  maxPeriod: Duration.days(3650),
  linksSubjects: true
})

export default async (context: BenchContext): Promise<ReadonlyArray<Result>> => {
  const base = (await context.postgres()).url
  const schema = `bench_retention_${randomBytes(4).toString("hex")}`
  const admin = new pg.Client({ connectionString: base })
  await admin.connect()
  await admin.query(`CREATE SCHEMA ${schema}`)
  const scoped = new URL(base)
  scoped.searchParams.set("options", `-c search_path=${schema}`)
  const url = scoped.toString()
  // Tables are written by their own session. The measured raw statements run on a connection
  // opened after that, as the sweeper's pool connections are: a backend that wrote every row has
  // already mapped all of shared memory, and one that has not pays a page fault on the first
  // touch of each shared buffer (thousands on a first purge of 100,000 rows).
  const setup = new pg.Client({ connectionString: url })
  await setup.connect()

  process.stdout.write("\n  (preparing tables...)\n")
  const purgeRows = 100_000
  const logTables = async (prefix: string) => {
    const names: Array<string> = []
    for (let i = 0; i < runsPerSide; i++) {
      await setup.query(logTable(`${prefix}_${i}`) + fillLog(`${prefix}_${i}`, purgeRows))
      names.push(`${prefix}_${i}`)
    }
    return names
  }
  const purgeTables = {
    raw: await logTables("purge_raw"),
    perTenant: await logTables("purge_tenant"),
    library: await logTables("purge_library"),
    reference: await logTables("purge_reference")
  }
  const dropSizes = [1_000, 50_000]
  const dropsPerRun = 4
  const dropTables = new Map<number, { raw: Array<string>; library: Array<string> }>()
  for (const size of dropSizes) {
    const tables = { raw: [] as Array<string>, library: [] as Array<string> }
    for (let i = 0; i < runsPerSide * dropsPerRun; i++) {
      for (const side of ["raw", "library"] as const) {
        const name = `drop_${size}_${side}_${i}`
        await setup.query(partitionedTable(name) + fillPartition(name, size))
        await setup.query(`VACUUM ANALYZE ${name}_p20200101`)
        tables[side].push(name)
      }
    }
    dropTables.set(size, tables)
  }
  const loadRows = 100_000
  const loadTables = async (prefix: string) => {
    const names: Array<string> = []
    for (let i = 0; i < runsPerSide; i++) {
      await setup.query(logTable(`${prefix}_${i}`) + fillLog(`${prefix}_${i}`, loadRows))
      names.push(`${prefix}_${i}`)
    }
    return names
  }
  const load = {
    defaults: await loadTables("load_defaults"),
    unpaced: await loadTables("load_unpaced"),
    large: await loadTables("load_large"),
    raw: await loadTables("load_raw")
  }
  await setup.query(`CREATE TABLE consent_events (
    tenant_id uuid NOT NULL, event_id uuid NOT NULL, subject_id uuid NOT NULL, list text NOT NULL,
    kind text NOT NULL, recorded_at timestamptz NOT NULL, ip bytea, user_agent bytea, notice_hash bytea,
    PRIMARY KEY (tenant_id, event_id));
    CREATE INDEX consent_events_subject ON consent_events (tenant_id, subject_id, recorded_at)`)

  await setup.end()
  const raw = new pg.Client({ connectionString: url })
  await raw.connect()

  // Every category is registered once; each run sweeps the one it needs.
  const category = (table: string, dayPartitions: boolean) =>
    RetentionTarget.register(Effect.map(
      RetentionTarget.sqlTable(`bench.${table}`, { table, time: "recorded_at", subject: "subject_id", dayPartitions }),
      (storage) => target(`bench.${table.replaceAll("_", "-")}`, storage)
    ))
  const registrations = [
    ...[...purgeTables.library, ...purgeTables.reference, ...load.defaults, ...load.unpaced, ...load.large].map((table) => category(table, false)),
    ...[...dropTables.values()].flatMap((tables) => tables.library).map((table) => category(table, true))
  ].reduce((all, one) => Layer.merge(all, one), Layer.empty)
  const runtime = ManagedRuntime.make(
    Layer.mergeAll(Retention.layerSql({ batchSize: 10_000, pace: 1 }), registrations).pipe(
      Layer.provideMerge(RetentionTarget.layer),
      Layer.provideMerge(AuditLog.layer.pipe(
        Layer.provide(Layer.mergeAll(AuditStore.layerSql, AuditLog.AuditSigner.layerRandom, CheckpointPublisher.layerMemory))
      )),
      Layer.provide(Database.layerPostgres(Redacted.make(url))),
      Layer.orDie
    )
  )
  const sweeper = await runtime.runPromise(Sweeper.Sweeper)
  const defaultSweeper = await runtime.runPromise(Sweeper.make())
  const unpacedSweeper = await runtime.runPromise(Sweeper.make({ pace: 1 }))
  const sweepWith = (using: typeof sweeper) => (table: string) =>
    runtime.runPromise(using.sweep({ categories: [`bench.${table.replaceAll("_", "-")}`] })).then((result) => {
      if (result.failures.length > 0) throw new Error(result.failures.map((f) => f.error.message).join("; "))
      return result.categories.reduce((n, c) => n + c.purged, 0)
    })
  const sweep = sweepWith(sweeper)
  const rawPurge = async (table: string) => {
    let purged = 0
    while (true) {
      const result = await raw.query(
        `DELETE FROM ${table} WHERE ctid = ANY(ARRAY(
          SELECT ctid FROM ${table} WHERE recorded_at < now() - interval '30 days' LIMIT 10000))`
      )
      purged += result.rowCount ?? 0
      if ((result.rowCount ?? 0) === 0) return purged
    }
  }
  const rawPurgeByTenant = async (table: string) => {
    let purged = 0
    for (const tenant of tenants) {
      while (true) {
        const result = await raw.query(
          `DELETE FROM ${table} WHERE ctid = ANY(ARRAY(
            SELECT ctid FROM ${table} WHERE tenant_id = $1 AND recorded_at < now() - interval '30 days'
            ORDER BY recorded_at LIMIT 10000))`,
          [tenant]
        )
        purged += result.rowCount ?? 0
        if ((result.rowCount ?? 0) < 10_000) break
      }
    }
    return purged
  }

  const results: Array<Result> = []
  const next = <A>(list: Array<A>) => () => list.shift()!

  // 1. Purge with receipts vs raw batched DELETE, both with the VACUUM that follows.
  const vacuumed = (purge: (table: string) => Promise<number>, tables: Array<string>) => async () => {
    const table = tables.shift()!
    const purged = await purge(table)
    await raw.query(`VACUUM ${table}`)
    return purged
  }
  results.push(await compare({
    title: `Purge of ${purgeRows.toLocaleString("en-US")} expired rows (4 tenants), batches of 10,000, + VACUUM, PostgreSQL`,
    target: 0.7,
    rounds,
    baseline: { name: "pg DELETE ... ctid = ANY(... recorded_at < $1 LIMIT 10000)", run: vacuumed(rawPurge, purgeTables.raw) },
    library: { name: "Sweeper.sweep (journal + audit receipts)", run: vacuumed(sweep, purgeTables.library) }
  }))
  results.push(await compare({
    title: "Purge as above, against the same raw DELETE run tenant by tenant (reference)",
    rounds,
    baseline: {
      name: "pg DELETE ... tenant_id = $1 ORDER BY recorded_at LIMIT 10000",
      run: vacuumed(rawPurgeByTenant, purgeTables.perTenant)
    },
    library: { name: "Sweeper.sweep (journal + audit receipts)", run: vacuumed(sweep, purgeTables.reference) }
  }))

  // 2. Dropping an expired day partition vs a raw DROP of it, at two sizes.
  for (const size of dropSizes) {
    const tables = dropTables.get(size)!
    const nextRawDrop = next(tables.raw)
    const nextLibraryDrop = next(tables.library)
    const latencies = { raw: [] as Array<number>, library: [] as Array<number> }
    results.push(await compare({
      title: `Dropping one expired day partition of ${size.toLocaleString("en-US")} rows (p50 latency), PostgreSQL`,
      metric: "p50",
      target: 3,
      rounds,
      baseline: {
        name: "pg DROP TABLE <partition>",
        run: async () => {
          latencies.raw.length = 0
          for (let i = 0; i < dropsPerRun; i++) {
            const table = nextRawDrop()
            const start = performance.now()
            await raw.query(`DROP TABLE ${table}_p20200101`)
            latencies.raw.push(performance.now() - start)
          }
          return dropsPerRun
        },
        latencies: () => latencies.raw
      },
      library: {
        name: "Sweeper.sweep (census, drop, journal, receipts)",
        run: async () => {
          latencies.library.length = 0
          for (let i = 0; i < dropsPerRun; i++) {
            const table = nextLibraryDrop()
            const start = performance.now()
            const purged = await sweep(table)
            latencies.library.push(performance.now() - start)
            if (purged !== size) throw new Error(`expected ${size} rows dropped, got ${purged}`)
          }
          return dropsPerRun
        },
        latencies: () => latencies.library
      }
    }))
    process.stdout.write(
      `  (p99: ${percentile(latencies.raw, 99).toFixed(3)} ms raw; ${percentile(latencies.library, 99).toFixed(3)} ms library)\n`
    )
  }

  // 3. Consent-shaped inserts: p99 while the sweeper purges vs without.
  const writers = await Promise.all(Array.from({ length: 8 }, async () => {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    return client
  }))
  const inserts = 2_000
  const blob = (n: number) => randomBytes(n)
  const consentInsert = (client: pg.Client) =>
    client.query(
      `INSERT INTO consent_events VALUES ($1, $2, $3, 'newsletter', 'granted', now(), $4, $5, $6)`,
      [tenants[0], randomUUID(), randomUUID(), blob(28), blob(120), blob(32)]
    ).then(() => undefined)
  const quiet: Array<number> = []
  const quietRun = async () => {
    quiet.length = 0
    return concurrently(8, inserts, (worker) => consentInsert(writers[worker]!), quiet)
  }
  const during = (purge: (table: string) => Promise<number>, tables: Array<string>) => {
    const latencies: Array<number> = []
    let overlap = 0
    return {
      latencies: () => latencies,
      overlap: () => overlap,
      run: async () => {
        latencies.length = 0
        let purging = true
        const running = purge(tables.shift()!).finally(() => {
          purging = false
        })
        let inside = 0
        await concurrently(8, inserts, async (worker) => {
          await consentInsert(writers[worker]!)
          if (purging) inside++
        }, latencies)
        overlap = inside / inserts
        await running
        return inserts
      }
    }
  }
  for (const [name, purge, tables] of [
    [`Sweeper.sweep with its defaults (batches of 1,000, pace 0.5)`, sweepWith(defaultSweeper), load.defaults],
    [`Sweeper.sweep, batches of 1,000, pace 1`, sweepWith(unpacedSweeper), load.unpaced],
    [`Sweeper.sweep, batches of 10,000, pace 1`, sweep, load.large],
    [`a raw batched DELETE (batches of 10,000; reference)`, rawPurge, load.raw]
  ] as const) {
    const busy = during(purge, tables)
    results.push(await compare({
      title: `Consent-shaped inserts (raw INSERT, 8 clients), p99 during a purge of ${loadRows.toLocaleString("en-US")} rows by ${name}, vs without, PostgreSQL`,
      metric: "p99",
      ...(tables === load.defaults ? { target: 1.5 } : {}),
      rounds,
      baseline: { name: "INSERT, no purge running", run: quietRun, latencies: () => quiet },
      library: { name: "INSERT during the purge", run: busy.run, latencies: busy.latencies }
    }))
    process.stdout.write(`  (${Math.round(busy.overlap() * 100)}% of the inserts of the last run finished while the purge ran)\n`)
  }

  await Promise.all(writers.map((client) => client.end()))
  await runtime.dispose()
  await raw.end()
  await admin.query(`DROP SCHEMA ${schema} CASCADE`)
  await admin.end()
  return results
}
