import * as AuditLog from "@lawful/audit-trail/AuditLog"
import * as AuditStore from "@lawful/audit-trail/AuditStore"
import * as CheckpointPublisher from "@lawful/audit-trail/CheckpointPublisher"
import * as Database from "@lawful/core/Database"
import * as KeyStore from "@lawful/core/KeyStore"
import * as MasterKey from "@lawful/core/MasterKey"
import * as SubjectDirectory from "@lawful/core/SubjectDirectory"
import * as SuppressionList from "@lawful/core/SuppressionList"
import * as TenantId from "@lawful/core/TenantId"
import * as Vault from "@lawful/core/Vault"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { randomBytes, randomUUID } from "node:crypto"
import { performance } from "node:perf_hooks"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import pg from "pg"
import { compare, concurrently, percentile } from "../../../bench/harness.js"
import type { Result } from "../../../bench/harness.js"
import type { BenchContext } from "../../../bench/run.js"
import * as ConsentExport from "../src/ConsentExport.js"
import * as ConsentLedger from "../src/ConsentLedger.js"
import * as ConsentLists from "../src/ConsentLists.js"
import * as ConsentNotice from "../src/ConsentNotice.js"

const notice = ConsentNotice.hash({
  text: "Get our weekly digest. Unsubscribe at any time.",
  labels: ["Weekly digest"],
  privacyPolicyUrl: "https://brand.example/privacy"
})
const userAgent = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"

// A row shaped like a stored event: canonical bytes, sealed IP and user agent, indexes.
const rawTable = `CREATE TABLE IF NOT EXISTS bench_raw_consent (
  tenant_id uuid NOT NULL, seq bigint NOT NULL, event_id uuid NOT NULL, subject_id uuid NOT NULL, kind text NOT NULL,
  time timestamptz NOT NULL, body bytea NOT NULL, audit_index bigint NOT NULL, ip_sealed bytea, user_agent_sealed bytea,
  PRIMARY KEY (tenant_id, seq), UNIQUE (tenant_id, event_id))`
const rawIndex = `CREATE INDEX IF NOT EXISTS bench_raw_consent_subject ON bench_raw_consent (tenant_id, subject_id, seq)`

const bodyBytes = 640
const sealedIp = 45
const sealedUa = 160

const format = (n: number) => Math.round(n).toLocaleString("en-US")

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`

export default async (context: BenchContext) => {
  const url = (await context.postgres()).url
  const core = Layer.mergeAll(SubjectDirectory.layerSql, SuppressionList.layerSql).pipe(
    Layer.provideMerge(Vault.layer),
    Layer.provide(Layer.merge(KeyStore.layerSql, MasterKey.layerRandom))
  )
  const audit = AuditLog.layer.pipe(
    Layer.provide(Layer.mergeAll(AuditStore.layerSql, AuditLog.AuditSigner.layerRandom, CheckpointPublisher.layerMemory))
  )
  const runtime = ManagedRuntime.make(
    ConsentLedger.layerSql.pipe(
      Layer.provideMerge(Layer.merge(core, audit)),
      Layer.provide(Database.layerPostgres(Redacted.make(url))),
      Layer.orDie
    )
  )
  const ledger = await runtime.runPromise(ConsentLedger.ConsentLedger)
  const lists = await runtime.runPromise(ConsentLists.ConsentLists)
  const newTenant = () =>
    runtime.runPromise(Effect.gen(function*() {
      const tenant = yield* TenantId.make
      yield* lists.declare(
        tenant,
        new ConsentLists.ConsentList({
          id: ConsentLists.ListId.make("news"),
          name: "News",
          purpose: "Weekly news",
          doubleOptIn: false
        })
      )
      return tenant
    }))

  const clients = await Promise.all(Array.from({ length: 8 }, async () => {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    return client
  }))
  const raw = clients[0]!
  await raw.query(rawTable)
  await raw.query(rawIndex)
  let rawSeq = 0
  const rawTenant = randomUUID()
  // The baseline of recording: one event-shaped row, one statement, one commit.
  const insertRawEvent = (worker: number) =>
    clients[worker]!.query(
      `INSERT INTO bench_raw_consent VALUES ($1, $2, $3, $4, 'granted', now(), $5, $6, $7, $8)`,
      [rawTenant, rawSeq++, randomUUID(), randomUUID(), randomBytes(bodyBytes), rawSeq, randomBytes(sealedIp), randomBytes(sealedUa)]
    )
  const results: Array<Result> = []

  // ---- 1. Recording from 8 concurrent callers --------------------------------------------

  const records = 3000
  let round = 0
  // A grant from the sign-up form, as every recording benchmark sends it.
  const formGrant = (email: string, ip: string): ConsentLedger.RecordRequest => ({
    kind: "granted",
    email,
    lists: ["news"],
    source: { type: "form", formId: "signup", formVersion: 3 },
    notice,
    language: "en",
    ip,
    userAgent,
    actor: { kind: "subject" }
  })
  // Their baseline: one event-shaped row, one statement, one commit, from 8 clients.
  const rawRecording = (latencies?: Array<number>) => ({
    name: "pg single-row INSERT of an event-shaped row, 8 clients",
    run: () =>
      concurrently(8, records, async (worker) => {
        await insertRawEvent(worker)
      }, latencies)
  })
  const rawLatencies: Array<number> = []
  const libraryLatencies: Array<number> = []
  const recording = await compare({
    title: "Recording consent (directory, vault, event, audit), 8 concurrent callers, one tenant, PostgreSQL",
    target: 0.5,
    baseline: rawRecording(rawLatencies),
    library: {
      name: "ConsentLedger.record of new subjects, 8 fibres",
      run: async () => {
        const tenant = await newTenant()
        const r = round++
        await runtime.runPromise(
          Effect.forEach(Array.from({ length: records }, (_, i) => i), (i) =>
            Effect.suspend(() => {
              const start = performance.now()
              return ledger.record(tenant, formGrant(`reader${i}.r${r}@example.com`, `198.51.${i % 250}.${r % 250}`)).pipe(
                Effect.tap(() => Effect.sync(() => libraryLatencies.push(performance.now() - start)))
              )
            }), { concurrency: 8, discard: true })
        )
        return records
      }
    }
  })
  results.push(recording)
  const rawP99 = percentile(rawLatencies, 99)
  const libraryP99 = percentile(libraryLatencies, 99)
  const p99: Result = {
    title: "Recording consent, 8 concurrent callers: p99 latency over all rounds",
    metric: "p99",
    baseline: rawP99,
    library: libraryP99,
    ratio: libraryP99 / rawP99,
    target: 2,
    met: libraryP99 / rawP99 <= 2
  }
  process.stdout.write(
    `\n${p99.title}\n  baseline  ${rawP99.toFixed(3)} ms (p50 ${percentile(rawLatencies, 50).toFixed(3)} ms)\n` +
      `  library   ${libraryP99.toFixed(3)} ms (p50 ${percentile(libraryLatencies, 50).toFixed(3)} ms)\n` +
      `  ratio     ${p99.ratio.toFixed(2)}x of baseline p99  (target <= 2x: ${p99.met ? "met" : "NOT met"})\n`
  )
  results.push(p99)

  // The same, for subjects the directory already knows (a returning person): the part of the
  // cost that is this package's, without creating a subject and its key.
  const known = await newTenant()
  const knownRound = round
  await runtime.runPromise(Effect.forEach(Array.from({ length: records }, (_, i) => i), (i) =>
    ledger.record(known, {
      kind: "granted",
      email: `known${i}@example.com`,
      lists: ["news"],
      source: { type: "api" },
      actor: { kind: "api-key", id: "bench" }
    }), { concurrency: 8, discard: true }))
  results.push(
    await compare({
      title: "Recording consent for known subjects, 8 concurrent callers, one tenant, PostgreSQL",
      baseline: rawRecording(),
      library: {
        name: "ConsentLedger.record of known subjects, 8 fibres",
        run: async () => {
          await runtime.runPromise(
            Effect.forEach(Array.from({ length: records }, (_, i) => i), (i) =>
              ledger.record(
                known,
                formGrant(`known${i}@example.com`, `198.51.${i % 250}.${knownRound % 250}`)
              ), { concurrency: 8, discard: true })
          )
          return records
        }
      }
    })
  )

  // The same traffic spread over 8 tenants, as a platform's forms send it: batches are per
  // tenant, so 8 callers over 8 tenants make batches of about one. Reported, no target.
  let spreadRound = 0
  results.push(
    await compare({
      title: "Recording consent, 8 concurrent callers spread over 8 tenants, PostgreSQL",
      baseline: rawRecording(),
      library: {
        name: "ConsentLedger.record of new subjects, 8 fibres, 8 tenants",
        run: async () => {
          const tenants = await Promise.all(Array.from({ length: 8 }, () => newTenant()))
          const r = spreadRound++
          await runtime.runPromise(
            Effect.forEach(Array.from({ length: records }, (_, i) => i), (i) =>
              ledger.record(
                tenants[i % tenants.length]!,
                formGrant(`spread${i}.r${r}@example.com`, `198.51.${i % 250}.${r % 250}`)
              ), { concurrency: 8, discard: true })
          )
          return records
        }
      }
    })
  )

  // ---- 2. Bulk import of 100,000 contacts ---------------------------------------------------

  const contacts = 100_000
  const batch = 1000
  let importRound = 0
  const rows = Array.from({ length: batch }, () => ({
    body: randomBytes(bodyBytes),
    ip: randomBytes(sealedIp),
    ua: randomBytes(sealedUa)
  }))
  let lastImportTenant: TenantId.TenantId | undefined
  results.push(
    await compare({
      title: "Bulk import of 100,000 contacts with consent, PostgreSQL",
      target: 0.5,
      rounds: 3,
      baseline: {
        name: "pg INSERT ... SELECT unnest, batches of 1,000 rows",
        run: async () => {
          for (let b = 0; b < contacts / batch; b++) {
            const start = rawSeq
            rawSeq += batch
            await raw.query(
              `INSERT INTO bench_raw_consent
               SELECT $1, s, e, sub, 'granted', now(), body, s, ip, ua
               FROM unnest($2::bigint[], $3::uuid[], $4::uuid[], $5::bytea[], $6::bytea[], $7::bytea[])
                 AS x(s, e, sub, body, ip, ua)`,
              [
                rawTenant,
                rows.map((_, i) => start + i),
                rows.map(() => randomUUID()),
                rows.map(() => randomUUID()),
                rows.map((r) => r.body),
                rows.map((r) => r.ip),
                rows.map((r) => r.ua)
              ]
            )
          }
          return contacts
        }
      },
      library: {
        name: "ConsentLedger.importContacts (suppression, directory, vault, events, audit)",
        run: async () => {
          const tenant = await newTenant()
          const r = importRound++
          const report = await runtime.runPromise(ledger.importContacts(tenant, {
            attestation: {
              where: "Sign-up form at https://brand.example/join",
              how: "Double opt-in web form",
              collectedFrom: "2024-01-01T00:00:00.000Z",
              collectedTo: "2026-01-01T00:00:00.000Z",
              attestedBy: { name: "Data Protection Officer", role: "DPO" }
            },
            lists: ["news"],
            actor: { kind: "api-key", id: "bench" },
            contacts: (function*() {
              for (let i = 0; i < contacts; i++) {
                yield { email: `contact${i}.i${r}@example.com`, ip: `203.0.${i % 250}.${r % 250}`, userAgent }
              }
            })()
          }))
          if (report.recorded !== contacts) throw new Error(`imported ${report.recorded} of ${contacts}`)
          lastImportTenant = tenant
          return contacts
        }
      }
    })
  )

  // ---- 3. Export of 100,000 events as CSV ---------------------------------------------------

  const exportTenant = lastImportTenant!
  // The live heap (after a collection) while the export runs, sampled every 5 pages.
  setFlagsFromString("--expose-gc")
  const gc = runInNewContext("gc") as () => void
  const exportOnce = async (limit: number, disclose: boolean) => {
    gc()
    const base = process.memoryUsage()
    let peakHeap = base.heapUsed
    let peakRss = base.rss
    let rowsOut = 0
    let pages = 0
    const start = performance.now()
    let paused = 0
    await runtime.runPromise(
      ConsentExport.csv(exportTenant, { disclose, pageSize: 1000, actor: { kind: "system", id: "bench" } }).pipe(
        Stream.take(1 + limit / 1000),
        Stream.runForEach((text) =>
          Effect.sync(() => {
            rowsOut += (text.match(/\r\n/g) ?? []).length
            if (++pages % 5 === 0) {
              const before = performance.now()
              gc()
              const now = process.memoryUsage()
              if (now.heapUsed > peakHeap) peakHeap = now.heapUsed
              if (now.rss > peakRss) peakRss = now.rss
              paused += performance.now() - before
            }
          })
        )
      )
    )
    const seconds = (performance.now() - start - paused) / 1000
    return {
      rows: rowsOut - 1,
      rowsPerSecond: (rowsOut - 1) / seconds,
      heapGrowth: peakHeap - base.heapUsed,
      rssGrowth: peakRss - base.rss
    }
  }
  const rawExport = async () => {
    let after = -1
    let count = 0
    const start = performance.now()
    while (true) {
      const page = await raw.query(
        `SELECT seq, event_id, subject_id, kind, time, body, audit_index, ip_sealed, user_agent_sealed
         FROM bench_raw_consent WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT 1000`,
        [rawTenant, after]
      )
      let text = ""
      for (const row of page.rows) {
        text += `${row.event_id},${row.subject_id},${row.kind},${row.time.toISOString()},${row.audit_index},${
          row.body.toString("hex", 0, 32)
        }\r\n`
      }
      count += page.rows.length
      if (page.rows.length < 1000 || count >= contacts) break
      after = Number(page.rows[page.rows.length - 1].seq)
    }
    return { rows: count, rowsPerSecond: count / ((performance.now() - start) / 1000) }
  }

  process.stdout.write("\nExport of events as CSV (streamed, pages of 1,000), PostgreSQL\n")
  const baselineExport = await rawExport()
  process.stdout.write(
    `  baseline  pg keyset pages of 1,000 raw rows to CSV text              ${format(baselineExport.rowsPerSecond)} rows/s\n`
  )
  const figures: Array<Awaited<ReturnType<typeof exportOnce>> & { readonly disclose: boolean }> = []
  for (const [limit, disclose] of [[10_000, true], [100_000, true], [10_000, false], [100_000, false]] as const) {
    await exportOnce(2000, disclose) // warm-up
    const figure = await exportOnce(limit, disclose)
    figures.push({ ...figure, disclose })
    process.stdout.write(
      `  library   ConsentExport.csv, ${format(figure.rows).padStart(7)} events, ${
        disclose ? "IP and user agent decrypted" : "no decryption          "
      }  ${format(figure.rowsPerSecond)} rows/s, peak live heap +${mb(figure.heapGrowth)}, peak RSS +${mb(figure.rssGrowth)}\n`
    )
  }
  const small = figures[0]!
  const large = figures[1]!
  const plain = figures[3]!
  results.push({
    title: "Export of 100,000 events as CSV (decrypted): rows/s against raw keyset reads",
    metric: "throughput",
    baseline: baselineExport.rowsPerSecond,
    library: large.rowsPerSecond,
    ratio: large.rowsPerSecond / baselineExport.rowsPerSecond,
    target: undefined,
    met: undefined
  })
  results.push({
    title: "Export of 100,000 events as CSV (no decryption): rows/s against raw keyset reads",
    metric: "throughput",
    baseline: baselineExport.rowsPerSecond,
    library: plain.rowsPerSecond,
    ratio: plain.rowsPerSecond / baselineExport.rowsPerSecond,
    target: undefined,
    met: undefined
  })
  process.stdout.write(
    `  memory    peak live heap growth ${mb(small.heapGrowth)} for 10,000 events, ${mb(large.heapGrowth)} for 100,000 ` +
      `(a stream that held the rows would grow about tenfold)\n`
  )

  await raw.query("DROP TABLE bench_raw_consent")
  await Promise.all(clients.map((client) => client.end()))
  await runtime.dispose()
  return results
}
