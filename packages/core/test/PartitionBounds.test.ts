import { assert } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { ensureDayPartitions, sqlTable } from "../src/RetentionTarget.js"
import * as TenantId from "../src/TenantId.js"
import { sqlSuite } from "../src/testing.js"

const hour = 60 * 60 * 1000
const jan = (date: number, hours = 0) => new Date(Date.UTC(2037, 0, date) + hours * hour)

// Partitions made otherwise than by `ensureDayPartitions`, under day names: their real bounds, not
// their names, say which rows they hold, and only a plain range of the time column is dropped whole.
sqlSuite("RetentionTarget.sqlTable partition bounds", Layer.empty, (it) => {
  const createTable = (table: string) =>
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      sql`CREATE TABLE ${sql(table)} (
        tenant_id uuid NOT NULL, id integer NOT NULL, recorded_at timestamptz NOT NULL,
        PRIMARY KEY (tenant_id, id, recorded_at)) PARTITION BY RANGE (recorded_at)`)
  const ids = (table: string) =>
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      Effect.map(sql<{ id: number }>`SELECT id FROM ${sql(table)} ORDER BY id`, (rows) => rows.map((r) => r.id)))

  it.effect("a day partition made in a New York session is listed by its real bounds, and a row within its period keeps it", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* createTable("pb_ny")
      // A migration run in a New York session: the day's bounds are 05:00Z to 05:00Z.
      yield* sql.withTransaction(Effect.zipRight(
        sql`SET LOCAL TIME ZONE 'America/New_York'`,
        sql`CREATE TABLE pb_ny_p20370110 PARTITION OF pb_ny FOR VALUES FROM ('2037-01-10') TO ('2037-01-11')`
      ))
      const tenant = yield* TenantId.make
      // 06:00Z on the 10th is expired at the cut-off below; 04:00Z on the 11th, in the partition, is not.
      yield* sql`INSERT INTO pb_ny VALUES (${tenant}, 1, ${jan(10, 6)}), (${tenant}, 2, ${jan(11, 4)})`
      const storage = yield* sqlTable("pb.ny", { table: "pb_ny", time: "recorded_at", dayPartitions: true })
      const partitions = storage.partitions!

      // A sweep at 01:00Z on the 13th under a 48-hour period cuts off at 01:00Z on the 11th: the
      // partition's range has not ended then, so no tenant's cut-off is at or after its end.
      const cutoff = jan(11, 1)
      assert.deepStrictEqual(yield* partitions.endingBefore(cutoff), [])
      assert.deepStrictEqual(yield* partitions.endingBefore(jan(13, 1)), [
        { name: "pb_ny_p20370110", from: jan(10, 5), to: jan(11, 5) }
      ])
      // Named by its day's UTC bounds, it is not dropped: its real range ends later.
      assert.deepStrictEqual(
        yield* partitions.dropIfOnly({ name: "pb_ny_p20370110", from: jan(10), to: jan(11) }, new Set([tenant])),
        Option.none()
      )
      assert.deepStrictEqual(yield* ids("pb_ny"), [1, 2])
      // Its expired row is purged row by row, and the one within its period stays.
      const selection = { cutoff, excludeSubjects: new Set<never>(), limit: 10 }
      assert.deepStrictEqual(yield* storage.purgeBatch(tenant, selection), { purged: 1, more: true })
      assert.deepStrictEqual(yield* storage.purgeBatch(tenant, selection), { purged: 0, more: false })
      assert.deepStrictEqual(yield* ids("pb_ny"), [2])
      // Once its real range has ended before the cut-off, it goes whole, listed and dropped the same
      // from a session in another time zone.
      const inKolkata = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        sql.withTransaction(Effect.zipRight(sql`SET LOCAL TIME ZONE 'Asia/Kolkata'`, effect))
      const [listed] = yield* inKolkata(partitions.endingBefore(jan(11, 5)))
      assert.deepStrictEqual(listed, { name: "pb_ny_p20370110", from: jan(10, 5), to: jan(11, 5) })
      assert.deepStrictEqual(
        yield* inKolkata(partitions.dropIfOnly(listed!, new Set([tenant]))),
        Option.some([{ tenant, records: 1, elsewhere: false }])
      )
      assert.deepStrictEqual(yield* ids("pb_ny"), [])
    }))

  it.effect("a partition wider than its day's name is listed only once its whole range has ended", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* createTable("pb_wide")
      yield* sql`CREATE TABLE pb_wide_p20370120 PARTITION OF pb_wide FOR VALUES FROM ('2037-01-20 00:00Z') TO ('2037-01-25 00:00Z')`
      const tenant = yield* TenantId.make
      yield* sql`INSERT INTO pb_wide VALUES (${tenant}, 1, ${jan(20, 1)}), (${tenant}, 2, ${jan(24, 1)})`
      const storage = yield* sqlTable("pb.wide", { table: "pb_wide", time: "recorded_at", dayPartitions: true })
      assert.deepStrictEqual(yield* storage.partitions!.endingBefore(jan(21)), [])
      assert.deepStrictEqual(
        yield* storage.partitions!.dropIfOnly({ name: "pb_wide_p20370120", from: jan(20), to: jan(21) }, new Set([tenant])),
        Option.none()
      )
      assert.deepStrictEqual(yield* ids("pb_wide"), [1, 2])
      assert.deepStrictEqual(yield* storage.partitions!.endingBefore(jan(25)), [
        { name: "pb_wide_p20370120", from: jan(20), to: jan(25) }
      ])
    }))

  it.effect("a UTC day partition is still listed and dropped; a DEFAULT, MINVALUE or infinite one never is", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* createTable("pb_odd")
      yield* ensureDayPartitions("pb_odd", jan(3), jan(3))
      // Under day names, so that nothing but their bounds tells them apart.
      yield* sql`CREATE TABLE pb_odd_p20370101 PARTITION OF pb_odd DEFAULT`
      yield* sql`CREATE TABLE pb_odd_p20370102 PARTITION OF pb_odd FOR VALUES FROM (MINVALUE) TO ('2037-01-03 00:00Z')`
      const tenant = yield* TenantId.make
      yield* sql`INSERT INTO pb_odd VALUES (${tenant}, 1, ${jan(1, 1)}), (${tenant}, 2, ${jan(2, 1)}),
        (${tenant}, 3, ${jan(3, 1)}), (${tenant}, 4, ${jan(30)})`
      const storage = yield* sqlTable("pb.odd", { table: "pb_odd", time: "recorded_at", dayPartitions: true })
      const partitions = storage.partitions!
      assert.deepStrictEqual(yield* partitions.endingBefore(jan(40)), [{ name: "pb_odd_p20370103", from: jan(3), to: jan(4) }])
      // Nor is a range from -infinity, which no date reads.
      yield* createTable("pb_inf")
      yield* sql`CREATE TABLE pb_inf_p20370101 PARTITION OF pb_inf FOR VALUES FROM ('-infinity') TO ('2037-01-02 00:00Z')`
      const unbounded = yield* sqlTable("pb.inf", { table: "pb_inf", time: "recorded_at", dayPartitions: true })
      assert.deepStrictEqual(yield* unbounded.partitions!.endingBefore(jan(40)), [])
      for (const name of ["pb_odd_p20370101", "pb_odd_p20370102"]) {
        const date = Number(name.slice(-2))
        assert.deepStrictEqual(
          yield* partitions.dropIfOnly({ name, from: jan(date), to: jan(date + 1) }, new Set([tenant])),
          Option.none(),
          name
        )
      }
      assert.deepStrictEqual(yield* ids("pb_odd"), [1, 2, 3, 4])
      assert.deepStrictEqual(
        yield* partitions.dropIfOnly({ name: "pb_odd_p20370103", from: jan(3), to: jan(4) }, new Set([tenant])),
        Option.some([{ tenant, records: 1, elsewhere: true }])
      )
      assert.deepStrictEqual(yield* ids("pb_odd"), [1, 2, 4])
      // Rows in partitions never dropped whole are purged in batches, one partition at a time.
      const selection = { cutoff: jan(40), excludeSubjects: new Set<never>(), limit: 10 }
      let purged = 0
      for (let more = true; more;) {
        const batch = yield* storage.purgeBatch(tenant, selection)
        purged += batch.purged
        more = batch.more
      }
      assert.strictEqual(purged, 3)
      assert.deepStrictEqual(yield* ids("pb_odd"), [])
    }))
})
