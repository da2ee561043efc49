import { assert, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as fc from "fast-check"
import {
  RetentionTargets,
  ensureDayPartitions,
  layer as registryLayer,
  register,
  sqlTable
} from "../src/RetentionTarget.js"
import type { RetentionTarget, TargetStorage, TenantCutoff } from "../src/RetentionTarget.js"
import * as SubjectId from "../src/SubjectId.js"
import * as TenantId from "../src/TenantId.js"
import { rowsReadBy, sqlSuite } from "../src/testing.js"

const noStorage: TargetStorage = {
  tenants: Effect.succeed([]),
  purgeBatch: () => Effect.succeed({ purged: 0, more: false }),
  count: () => Effect.succeed(0),
  oldest: () => Effect.succeed(Option.none())
}

const target = (id: string, overrides: Partial<RetentionTarget> = {}): RetentionTarget => ({
  ...noStorage,
  id,
  description: `${id}, for tests`,
  action: "delete",
  allowForever: false,
  defaultPeriod: Duration.days(30),
  maxPeriod: Duration.days(365),
  linksSubjects: true,
  ...overrides
})

const registerAll = (...targets: ReadonlyArray<RetentionTarget>) =>
  Effect.forEach(targets, (t) => Effect.flatMap(RetentionTargets, (registry) => registry.register(t)), { discard: true })

describe("RetentionTargets", () => {
  it.scoped("lists registered targets in order and finds them by id", () =>
    Effect.gen(function*() {
      yield* registerAll(target("mailer.transactional-log"), target("mailer.message-preview", { parent: "mailer.transactional-log" }))
      const registry = yield* RetentionTargets
      assert.deepStrictEqual((yield* registry.targets).map((t) => t.id), ["mailer.transactional-log", "mailer.message-preview"])
      assert.isTrue(Option.isSome(yield* registry.get("mailer.message-preview")))
      assert.isTrue(Option.isNone(yield* registry.get("mailer.nothing")))
    }).pipe(Effect.provide(registryLayer)))

  it.scoped("refuses a second target with the same id", () =>
    Effect.gen(function*() {
      yield* registerAll(target("consent.withdrawn-proof"))
      const second = yield* Effect.either(registerAll(target("consent.withdrawn-proof")))
      assert.isTrue(Either.isLeft(second) && second.left._tag === "TargetAlreadyRegistered")
    }).pipe(Effect.provide(registryLayer)))

  it.scoped("refuses inconsistent declarations and registers nothing", () =>
    Effect.gen(function*() {
      const refused = [
        target("Not An Id"),
        target("a.default-over-bound", { defaultPeriod: Duration.days(400) }),
        target("a.default-under-minimum", { minPeriod: Duration.days(60) }),
        target("a.minimum-over-maximum", { minPeriod: Duration.days(400), defaultPeriod: Duration.days(400) }),
        target("a.forever-not-allowed", { defaultPeriod: Duration.infinity, maxPeriod: Duration.infinity }),
        target("a.own-parent", { parent: "a.own-parent" }),
        target("a.redacting-partitions", { action: "redact", partitions: { endingBefore: () => Effect.succeed([]), dropIfOnly: () => Effect.succeedNone } })
      ]
      for (const t of refused) {
        const result = yield* Effect.either(registerAll(t))
        assert.isTrue(Either.isLeft(result) && result.left._tag === "RetentionTargetInvalid", t.id)
      }
      assert.deepStrictEqual(yield* Effect.flatMap(RetentionTargets, (r) => r.targets), [])
    }).pipe(Effect.provide(registryLayer)))

  it.scoped("a child's default never outlives its parent's, whichever registers first", () =>
    Effect.gen(function*() {
      yield* registerAll(target("mailer.transactional-log", { defaultPeriod: Duration.days(10) }))
      const child = yield* Effect.either(registerAll(target("mailer.message-preview", { parent: "mailer.transactional-log" })))
      assert.isTrue(Either.isLeft(child) && child.left._tag === "RetentionTargetInvalid")
      yield* registerAll(target("b.preview", { parent: "b.log", defaultPeriod: Duration.days(20) }))
      const parent = yield* Effect.either(registerAll(target("b.log", { defaultPeriod: Duration.days(10) })))
      assert.isTrue(Either.isLeft(parent) && parent.left._tag === "RetentionTargetInvalid")
      yield* registerAll(target("b.log", { defaultPeriod: Duration.days(20) }))
    }).pipe(Effect.provide(registryLayer)))

  it.scoped("refuses a parent cycle", () =>
    Effect.gen(function*() {
      yield* registerAll(target("c.one", { parent: "c.two" }))
      const cycle = yield* Effect.either(registerAll(target("c.two", { parent: "c.one" })))
      assert.isTrue(Either.isLeft(cycle) && cycle.left._tag === "RetentionTargetInvalid")
    }).pipe(Effect.provide(registryLayer)))

  it.effect("register layers add targets for the life of the layer", () =>
    Effect.gen(function*() {
      const registry = yield* RetentionTargets
      const seen = yield* Effect.scoped(
        Effect.flatMap(Layer.build(register(Effect.succeed(target("d.records")))), () => registry.targets)
      )
      assert.deepStrictEqual(seen.map((t) => t.id), ["d.records"])
      assert.deepStrictEqual(yield* registry.targets, [])
    }).pipe(Effect.provide(registryLayer)))
})

const day = 24 * 60 * 60 * 1000
const t0 = Date.UTC(2026, 0, 1)

const createTables = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE IF NOT EXISTS rt_records (
    tenant_id uuid NOT NULL, id integer NOT NULL, subject_id uuid, kind text NOT NULL,
    recorded_at timestamptz NOT NULL, preview text, PRIMARY KEY (tenant_id, id))`
  yield* sql`CREATE INDEX IF NOT EXISTS rt_records_time ON rt_records (tenant_id, recorded_at)`
  yield* sql`CREATE TABLE IF NOT EXISTS rt_parted (
    tenant_id uuid NOT NULL, id integer NOT NULL, recorded_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id, recorded_at)) PARTITION BY RANGE (recorded_at)`
})

const insert = (tenant: TenantId.TenantId, rows: ReadonlyArray<{ id: number; subject?: SubjectId.SubjectId; kind?: string; at: number }>) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.forEach(rows, (row) =>
      sql`INSERT INTO rt_records (tenant_id, id, subject_id, kind, recorded_at, preview)
        VALUES (${tenant}, ${row.id}, ${row.subject ?? null}, ${row.kind ?? "log"}, ${new Date(row.at)}, ${"text"})`, { discard: true }))

const ids = (tenant: TenantId.TenantId) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ id: number; preview: string | null }>`SELECT id, preview FROM rt_records WHERE tenant_id = ${tenant} ORDER BY id`)

sqlSuite("RetentionTarget.sqlTable", Layer.empty, (it) => {
  it.effect("purges expired rows of one tenant in batches, oldest first, sparing held subjects", () =>
    Effect.gen(function*() {
      yield* createTables
      const [tenant, other] = yield* Effect.all([TenantId.make, TenantId.make])
      const [held, free] = yield* Effect.all([SubjectId.make, SubjectId.make])
      yield* insert(tenant, [
        { id: 1, at: t0, subject: held },
        { id: 2, at: t0 + 1, subject: free },
        { id: 3, at: t0 + 2 },
        { id: 4, at: t0 + 3, subject: free },
        { id: 5, at: t0 + 10 * day, subject: free }
      ])
      yield* insert(other, [{ id: 1, at: t0 }])
      const storage = yield* sqlTable("rt.log", { table: "rt_records", time: "recorded_at", subject: "subject_id" })
      const selection = { cutoff: new Date(t0 + day), excludeSubjects: new Set([held]) }
      assert.strictEqual(yield* storage.count(tenant, selection), 3)
      assert.deepStrictEqual(yield* storage.oldest(tenant, { excludeSubjects: new Set([held]) }), Option.some(new Date(t0 + 1)))
      const first = yield* storage.purgeBatch(tenant, { ...selection, limit: 2 })
      assert.deepStrictEqual(first, { purged: 2, more: true })
      assert.deepStrictEqual((yield* ids(tenant)).map((r) => r.id), [1, 4, 5])
      const second = yield* storage.purgeBatch(tenant, { ...selection, limit: 2 })
      assert.deepStrictEqual(second, { purged: 1, more: false })
      // Idempotent: nothing left to purge at this cut-off.
      assert.deepStrictEqual(yield* storage.purgeBatch(tenant, { ...selection, limit: 2 }), { purged: 0, more: false })
      assert.deepStrictEqual((yield* ids(tenant)).map((r) => r.id), [1, 5])
      assert.deepStrictEqual((yield* ids(other)).map((r) => r.id), [1])
      const tenants = yield* storage.tenants
      assert.includeMembers([...tenants], [tenant, other])
    }))

  it.effect("purgeTenants purges several tenants at their own cut-offs, oldest first, each batch from where the last stopped, and no one else", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* createTables
      // Through the time index (the table has one), the oldest expired rows of all the tenants.
      yield* sql`CREATE INDEX rt_records_at ON rt_records (recorded_at)`
      const [a, b, outsider] = yield* Effect.all([TenantId.make, TenantId.make, TenantId.make])
      yield* insert(a, [{ id: 1, at: t0 }, { id: 2, at: t0 + 2 * day }, { id: 3, at: t0 + 4 * day }, { id: 4, at: t0 + 9 * day }])
      yield* insert(b, [{ id: 1, at: t0 + day }, { id: 2, at: t0 + 3 * day }, { id: 3, at: t0 + 5 * day }])
      yield* insert(outsider, [{ id: 1, at: t0 }])
      const storage = yield* sqlTable("rt.log", { table: "rt_records", time: "recorded_at", match: { kind: "log" } })
      const purgeTenants = storage.purgeTenants!
      // a keeps what is 5 days old or newer at its cut-off, b what is 3 days old or newer.
      const tenants = [{ tenant: a, cutoff: new Date(t0 + 5 * day) }, { tenant: b, cutoff: new Date(t0 + 3 * day) }]
      // The two oldest expired rows of both: a's at t0 and b's at t0 + 1 day.
      const first = yield* purgeTenants(tenants, { limit: 2 })
      assert.deepStrictEqual(first, {
        purged: new Map([[a, 1], [b, 1]]),
        more: true,
        exhausted: new Set<TenantId.TenantId>(),
        reached: new Date(t0 + day)
      })
      const second = yield* purgeTenants(tenants, { limit: 2, after: first.reached })
      assert.deepStrictEqual(second, { purged: new Map([[a, 2]]), more: true, exhausted: new Set<TenantId.TenantId>(), reached: new Date(t0 + 4 * day) })
      assert.deepStrictEqual(yield* purgeTenants(tenants, { limit: 2, after: second.reached }), {
        purged: new Map(),
        more: false,
        exhausted: new Set([a, b]),
        reached: second.reached
      })
      assert.deepStrictEqual((yield* ids(a)).map((r) => r.id), [4])
      assert.deepStrictEqual((yield* ids(b)).map((r) => r.id), [2, 3])
      assert.deepStrictEqual((yield* ids(outsider)).map((r) => r.id), [1])
      assert.deepStrictEqual(yield* purgeTenants([], { limit: 10 }), { purged: new Map(), more: false, exhausted: new Set<TenantId.TenantId>() })

      // One cut-off for all: same guarantees.
      const [c, d] = yield* Effect.all([TenantId.make, TenantId.make])
      yield* insert(c, [{ id: 1, at: t0 }, { id: 2, at: t0 + 2 * day }, { id: 3, at: t0 + 6 * day }])
      yield* insert(d, [{ id: 1, at: t0 + day }, { id: 2, at: t0 + 7 * day }])
      const same = [{ tenant: c, cutoff: new Date(t0 + 5 * day) }, { tenant: d, cutoff: new Date(t0 + 5 * day) }]
      const one = yield* purgeTenants(same, { limit: 2 })
      assert.deepStrictEqual(one, { purged: new Map([[c, 1], [d, 1]]), more: true, exhausted: new Set<TenantId.TenantId>(), reached: new Date(t0 + day) })
      assert.deepStrictEqual(yield* purgeTenants(same, { limit: 2, after: one.reached }), {
        purged: new Map([[c, 1]]),
        more: false,
        exhausted: new Set([c, d]),
        reached: new Date(t0 + 2 * day)
      })
      assert.deepStrictEqual((yield* ids(c)).map((r) => r.id), [3])
      assert.deepStrictEqual((yield* ids(d)).map((r) => r.id), [2])
      assert.deepStrictEqual((yield* ids(outsider)).map((r) => r.id), [1])
    }))

  it.effect("purgeTenants without a time index takes the tenants one at a time, each through the (tenant, time) index", () =>
    Effect.gen(function*() {
      yield* createTables
      yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql`DROP INDEX IF EXISTS rt_records_at`)
      const [a, b] = yield* Effect.all([TenantId.make, TenantId.make])
      yield* insert(a, [{ id: 1, at: t0 }, { id: 2, at: t0 + 2 * day }, { id: 3, at: t0 + 4 * day }, { id: 4, at: t0 + 9 * day }])
      yield* insert(b, [{ id: 1, at: t0 + day }, { id: 2, at: t0 + 3 * day }])
      const storage = yield* sqlTable("rt.log", { table: "rt_records", time: "recorded_at", match: { kind: "log" } })
      const purgeTenants = storage.purgeTenants!
      const tenants = [{ tenant: a, cutoff: new Date(t0 + 5 * day) }, { tenant: b, cutoff: new Date(t0 + 3 * day) }]
      assert.deepStrictEqual(yield* purgeTenants(tenants, { limit: 2 }), { purged: new Map([[a, 2]]), more: true, exhausted: new Set<TenantId.TenantId>() })
      assert.deepStrictEqual(yield* purgeTenants(tenants, { limit: 2 }), { purged: new Map([[a, 1]]), more: true, exhausted: new Set([a]) })
      assert.deepStrictEqual(yield* purgeTenants(tenants.slice(1), { limit: 2 }), {
        purged: new Map([[b, 1]]),
        more: false,
        exhausted: new Set([b])
      })
      assert.deepStrictEqual((yield* ids(a)).map((r) => r.id), [4])
      assert.deepStrictEqual((yield* ids(b)).map((r) => r.id), [2])
    }))

  it.effect("redacts instead of deleting, and a redacted row is purged", () =>
    Effect.gen(function*() {
      yield* createTables
      const tenant = yield* TenantId.make
      yield* insert(tenant, [{ id: 1, at: t0, kind: "preview" }, { id: 2, at: t0, kind: "log" }, { id: 3, at: t0 + 5 * day, kind: "preview" }])
      const storage = yield* sqlTable("rt.preview", {
        table: "rt_records", time: "recorded_at", match: { kind: "preview" }, redact: ["preview"]
      })
      const selection = { cutoff: new Date(t0 + day), excludeSubjects: new Set<SubjectId.SubjectId>() }
      assert.strictEqual(yield* storage.count(tenant, selection), 1)
      assert.deepStrictEqual(yield* storage.purgeBatch(tenant, { ...selection, limit: 10 }), { purged: 1, more: false })
      assert.deepStrictEqual(yield* ids(tenant), [{ id: 1, preview: null }, { id: 2, preview: "text" }, { id: 3, preview: "text" }])
      assert.strictEqual(yield* storage.count(tenant, selection), 0)
      assert.deepStrictEqual(yield* storage.oldest(tenant, { excludeSubjects: new Set() }), Option.some(new Date(t0 + 5 * day)))
    }))

  it.effect("lists day partitions, and drops one whole only when it holds the given tenants' records only", () =>
    Effect.gen(function*() {
      yield* createTables
      const sql = yield* SqlClient.SqlClient
      const [a, b] = yield* Effect.all([TenantId.make, TenantId.make])
      const names = yield* ensureDayPartitions("rt_parted", new Date(t0), new Date(t0 + 2 * day))
      assert.deepStrictEqual(names, ["rt_parted_p20260101", "rt_parted_p20260102", "rt_parted_p20260103"])
      yield* ensureDayPartitions("rt_parted", new Date(t0), new Date(t0 + day))
      yield* sql`INSERT INTO rt_parted VALUES (${a}, 1, ${new Date(t0 + 5)}), (${a}, 2, ${new Date(t0 + 6)}),
        (${b}, 3, ${new Date(t0 + 7)}), (${a}, 4, ${new Date(t0 + day + 1)})`
      const storage = yield* sqlTable("rt.parted", { table: "rt_parted", time: "recorded_at", dayPartitions: true })
      const partitions = storage.partitions!
      const left = () => Effect.map(sql<{ id: number }>`SELECT id FROM rt_parted ORDER BY id`, (rows) => rows.map((r) => r.id))
      const expired = yield* partitions.endingBefore(new Date(t0 + 2 * day - 1))
      assert.deepStrictEqual(expired, [{ name: "rt_parted_p20260101", from: new Date(t0), to: new Date(t0 + day) }])

      // A record of a tenant not given keeps the partition whole.
      assert.deepStrictEqual(yield* partitions.dropIfOnly(expired[0]!, new Set([a])), Option.none())
      assert.deepStrictEqual(yield* left(), [1, 2, 3, 4])

      const census = yield* partitions.dropIfOnly(expired[0]!, new Set([a, b]))
      assert.deepStrictEqual(
        Option.map(census, (tenants) => [...tenants].sort((x, y) => x.records - y.records)),
        Option.some([{ tenant: b, records: 1, elsewhere: false }, { tenant: a, records: 2, elsewhere: true }])
      )
      assert.deepStrictEqual(yield* partitions.dropIfOnly(expired[0]!, new Set([a, b])), Option.none())
      assert.deepStrictEqual(yield* left(), [4])
      const tables = yield* sql<{ n: string | number }>`SELECT count(*) AS n FROM pg_class WHERE relname = 'rt_parted_p20260101'`
      assert.strictEqual(Number(tables[0]!.n), 0)
      assert.deepStrictEqual((yield* partitions.endingBefore(new Date(t0 + 2 * day))).map((p) => p.name), ["rt_parted_p20260102"])
      // An empty partition holds no other tenant's record.
      const [kept, empty] = yield* partitions.endingBefore(new Date(t0 + 3 * day))
      assert.deepStrictEqual(yield* partitions.dropIfOnly(kept!, new Set()), Option.none())
      assert.deepStrictEqual(yield* partitions.dropIfOnly(empty!, new Set()), Option.some([]))
      assert.deepStrictEqual(yield* left(), [4])
    }))

  it.effect("never drops a partition shared with rows of another category", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE rt_shared (
        tenant_id uuid NOT NULL, id integer NOT NULL, kind text, recorded_at timestamptz NOT NULL,
        PRIMARY KEY (tenant_id, id, recorded_at)) PARTITION BY RANGE (recorded_at)`
      yield* ensureDayPartitions("rt_shared", new Date(t0), new Date(t0))
      const tenant = yield* TenantId.make
      yield* sql`INSERT INTO rt_shared VALUES (${tenant}, 1, 'it''s', ${new Date(t0 + 5)}), (${tenant}, 2, NULL, ${new Date(t0 + 6)})`
      const storage = yield* sqlTable("rt.shared", {
        table: "rt_shared", time: "recorded_at", match: { kind: "it's" }, dayPartitions: true
      })
      const [partition] = yield* storage.partitions!.endingBefore(new Date(t0 + day))
      assert.deepStrictEqual(yield* storage.partitions!.dropIfOnly(partition!, new Set([tenant])), Option.none())
      yield* sql`DELETE FROM rt_shared WHERE kind IS NULL`
      assert.deepStrictEqual(
        yield* storage.partitions!.dropIfOnly(partition!, new Set([tenant])),
        Option.some([{ tenant, records: 1, elsewhere: false }])
      )
    }))
})

// purgeTenants as the sweeper drives it (each batch from where the last stopped, exhausted tenants
// left out), for any rows, cut-offs and batch size, with and without a time index: every row
// expired for its tenant goes, nothing else, no batch over `limit`, and the counts add up.
sqlSuite("RetentionTarget.sqlTable purgeTenants", Layer.empty, (it) => {
  it.effect("purges exactly the expired rows of the tenants given, whatever the rows, cut-offs and batches", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE rt_prop (
        tenant_id uuid NOT NULL, id integer NOT NULL, recorded_at timestamptz NOT NULL, PRIMARY KEY (tenant_id, id))`
      yield* sql`CREATE INDEX rt_prop_time ON rt_prop (tenant_id, recorded_at)`
      const storage = yield* sqlTable("rt.prop", { table: "rt_prop", time: "recorded_at" })
      const purgeTenants = storage.purgeTenants!
      const minute = 60_000
      const tenantCase = fc.record({
        // Minutes after t0, ties allowed.
        rows: fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 25 }),
        cutoff: fc.integer({ min: 0, max: 45 })
      })
      const scenario = (indexed: boolean, cases: ReadonlyArray<{ rows: ReadonlyArray<number>; cutoff: number }>, limit: number) =>
        Effect.gen(function*() {
          yield* indexed
            ? sql`CREATE INDEX IF NOT EXISTS rt_prop_at ON rt_prop (recorded_at)`
            : sql`DROP INDEX IF EXISTS rt_prop_at`
          // The last case is a tenant outside the purge.
          const tenants = yield* Effect.all(cases.map(() => TenantId.make))
          for (const [i, { rows }] of cases.entries()) {
            for (const [id, at] of rows.entries()) {
              yield* sql`INSERT INTO rt_prop VALUES (${tenants[i]!}, ${id}, ${new Date(t0 + at * minute)})`
            }
          }
          const given = cases.slice(0, -1).map(({ cutoff }, i) => ({ tenant: tenants[i]!, cutoff: new Date(t0 + cutoff * minute) }))
          const purged = new Map<TenantId.TenantId, number>()
          let active = given
          let after: Date | undefined
          for (let batch = 0; active.length > 0; batch++) {
            assert.isBelow(batch, 500, "the purge does not end")
            const result = yield* purgeTenants(active, { limit, after })
            let total = 0
            for (const [tenant, n] of result.purged) {
              total += n
              purged.set(tenant, (purged.get(tenant) ?? 0) + n)
            }
            assert.isAtMost(total, limit)
            if (!result.more) break
            active = active.filter(({ tenant }) => !result.exhausted.has(tenant))
            after = result.reached
          }
          for (const [i, { cutoff, rows }] of cases.entries()) {
            const outside = i === cases.length - 1
            const kept = rows.filter((at) => outside || at >= cutoff).length
            const [left] = yield* sql<{ n: string | number }>`SELECT count(*) AS n FROM rt_prop WHERE tenant_id = ${tenants[i]!}`
            assert.strictEqual(Number(left!.n), kept, `tenant ${i}${indexed ? ", time index" : ""}`)
            assert.strictEqual(purged.get(tenants[i]!) ?? 0, rows.length - kept)
          }
        })
      const run = Runtime.runPromise(yield* Effect.runtime<SqlClient.SqlClient>())
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(
            fc.boolean(),
            fc.array(tenantCase, { minLength: 2, maxLength: 5 }),
            fc.integer({ min: 1, max: 8 }),
            (indexed, cases, limit) => run(scenario(indexed, cases, limit))
          ),
          { numRuns: 40 }
        )
      )
    }), { timeout: 120_000 })
})

// A log table indexed on (tenant, time) and on time; `fill` writes a tenant's rows a second apart
// after `from`.
const planTable = (name: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE ${sql(name)} (
      tenant_id uuid NOT NULL, id integer NOT NULL, recorded_at timestamptz NOT NULL, PRIMARY KEY (tenant_id, id))`
    yield* sql`CREATE INDEX ${sql(`${name}_time`)} ON ${sql(name)} (tenant_id, recorded_at)`
    yield* sql`CREATE INDEX ${sql(`${name}_at`)} ON ${sql(name)} (recorded_at)`
    return (tenant: TenantId.TenantId, rows: number, from: number = t0) =>
      sql`INSERT INTO ${sql(name)} SELECT ${tenant}::uuid, g, ${new Date(from)}::timestamptz + g * interval '1 second'
        FROM generate_series(1, ${rows}::int) g`
  })

// A tenant newer than the table's statistics is estimated at one row. With a batch's conditions
// usable as index conditions, the planner then found the chosen rows by scanning every expired
// row of the tenant through the (tenant, time) index instead of by their address: each batch
// cost grew with the tenant. The rows a transaction read show which plan ran.
sqlSuite("RetentionTarget.sqlTable plans", Layer.empty, (it) => {
  it.effect("a batch reads the rows it purges, not the whole tenant, in a tenant the statistics have not seen", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const fill = yield* planTable("rt_plans")
      const [seen, other, tenant] = yield* Effect.all([TenantId.make, TenantId.make, TenantId.make])
      yield* fill(seen, 2000)
      yield* fill(other, 2000)
      yield* sql`ANALYZE rt_plans`
      yield* fill(tenant, 3000)
      const storage = yield* sqlTable("rt.plans", { table: "rt_plans", time: "recorded_at" })
      const cutoff = new Date(t0 + day)

      const [, read] = yield* rowsReadBy("rt_plans", Effect.gen(function*() {
        for (let batch = 0; batch < 3; batch++) {
          assert.deepStrictEqual(yield* storage.purgeBatch(tenant, { cutoff, limit: 100, excludeSubjects: new Set() }), {
            purged: 100,
            more: true
          })
        }
      }))
      assert.strictEqual(yield* storage.count(tenant, { cutoff, excludeSubjects: new Set() }), 3000 - 300)
      // 300 rows purged; a scan of the tenant's expired rows would read about 3,000 a batch.
      assert.isAtMost(read, 1000, `rows read: ${read}`)
    }))

  // Several tenants at once: each batch read the time index from its first row, so the older rows
  // of a tenant outside the batch (one keeping its records forever) were read again by every
  // batch, and for tenants newer than the statistics, a plan that read every expired row of theirs
  // and sorted them looked cheaper. Each batch now starts where the last one stopped, bitmap scans
  // and sorts off.
  it.effect("purgeTenants reads the rows it purges once, not again each batch the older rows of other tenants", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const fill = yield* planTable("rt_many")
      const [forever, a, b, c] = yield* Effect.all([TenantId.make, TenantId.make, TenantId.make, TenantId.make])
      // A tenant outside the batch (its records kept forever) holds the oldest rows; a is a third of
      // the table in its statistics, b and c are newer than them.
      yield* fill(forever, 6000, t0 - day)
      yield* fill(a, 3000, t0)
      yield* sql`ANALYZE rt_many`
      yield* fill(b, 3000, t0)
      yield* fill(c, 3000, t0)
      const storage = yield* sqlTable("rt.many", { table: "rt_many", time: "recorded_at" })
      const purgeTenants = storage.purgeTenants!
      const cutoff = new Date(t0 + day)
      // Tenants the statistics have not seen, on one cut-off; a seen one with them, on their own.
      const shared = [{ tenant: b, cutoff }, { tenant: c, cutoff }]
      const own = [{ tenant: a, cutoff }, { tenant: b, cutoff: new Date(t0 + 2 * day) }, { tenant: c, cutoff }]

      const batches = (tenants: ReadonlyArray<TenantCutoff>, limit: number) =>
        Effect.gen(function*() {
          // The first batch passes the older rows of the tenant outside it once.
          let { reached } = yield* purgeTenants(tenants, { limit })
          const [, read] = yield* rowsReadBy("rt_many", Effect.gen(function*() {
            for (let batch = 0; batch < 5; batch++) {
              const next = yield* purgeTenants(tenants, { limit, after: reached })
              assert.isTrue(next.more)
              assert.strictEqual([...next.purged.values()].reduce((n, k) => n + k, 0), limit)
              reached = next.reached
            }
          }))
          return read
        })
      const readShared = yield* batches(shared, 100)
      const readOwn = yield* batches(own, 99)
      const left = (tenant: TenantId.TenantId) => storage.count(tenant, { cutoff, excludeSubjects: new Set() })
      assert.strictEqual((yield* left(a)) + (yield* left(b)) + (yield* left(c)), 9000 - 600 - 594)
      assert.strictEqual(yield* left(forever), 6000)
      // Five batches of about 100 after the first; from the first row, each read 6,000 more.
      assert.isAtMost(readShared, 1000, `rows read: ${readShared}`)
      assert.isAtMost(readOwn, 1000, `rows read: ${readOwn}`)
    }))
})
