import { assert, describe, layer } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as RetentionTarget from "@lawful/core/RetentionTarget"
import { SubjectId } from "@lawful/core/SubjectId"
import * as TenantId from "@lawful/core/TenantId"
import { postgresLayer, postgresUrl, readCounter, rowsReadBy, sqlSuite } from "@lawful/core/testing"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as fc from "fast-check"
import { randomUUID } from "node:crypto"
import * as ConsentEvent from "../src/ConsentEvent.js"
import { ConsentLedger } from "../src/ConsentLedger.js"
import { ListId } from "../src/ConsentLists.js"
import * as ConsentState from "../src/ConsentState.js"
import * as ConsentStore from "../src/ConsentStore.js"
import { makeAt as uuidV7At } from "@lawful/core/Uuid"
import { attestation, grant, tenantWithLists, withdraw } from "./fixtures.js"
import { sql } from "./layers.js"

sqlSuite("ConsentLedger storage", sql, (it) => {
  it.effect("no address, IP address or user agent is stored in clear", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      yield* ledger.record(tenant, grant("secret.person@example.com", ["news"], { ip: "192.0.2.77", userAgent: "SecretBrowser/9" }))
      const client = yield* SqlClient.SqlClient
      const rows = yield* client<{ row: string }>`
        SELECT row_to_json(e)::text AS row FROM lawful_consent_events e WHERE tenant_id = ${tenant}
        UNION ALL SELECT row_to_json(s)::text FROM lawful_consent_state s WHERE tenant_id = ${tenant}`
      assert.strictEqual(rows.length, 2)
      const [bytes] = yield* client<{ body: Uint8Array; ip_sealed: Uint8Array; user_agent_sealed: Uint8Array }>`
        SELECT body, ip_sealed, user_agent_sealed FROM lawful_consent_events WHERE tenant_id = ${tenant}`
      const all = [...rows.map((r) => r.row), ...Object.values(bytes!).map((b) => Buffer.from(b).toString("latin1"))].join("\n")
      for (const secret of ["secret.person", "192.0.2.77", "SecretBrowser"]) assert.notInclude(all, secret)
    }))

  it.effect("an import's idempotency key is not stored in clear", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      const report = yield* ledger.importContacts(tenant, {
        attestation,
        lists: ["news"],
        actor: { kind: "api-key", id: "key-1" },
        idempotencyKey: "export of secret.person@example.com",
        contacts: [{ email: "imported@example.com" }]
      })
      const client = yield* SqlClient.SqlClient
      const rows = yield* client<{ row: string }>`
        SELECT row_to_json(i)::text AS row FROM lawful_consent_imports i WHERE tenant_id = ${tenant}`
      assert.strictEqual(rows.length, 1)
      assert.include(rows[0]!.row, report.importId)
      assert.notInclude(rows[0]!.row, "secret.person")
      assert.notInclude(rows[0]!.row, "export of")
    }))

  // Retention's sweeper runs a batch and its journal record in one transaction of the target's
  // client: the withdrawn-proof target declares the store's, and its purge joins that transaction.
  it.effect("the withdrawn-proof target declares the store's client, and its purge rolls back with that client's transaction", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const sql = yield* SqlClient.SqlClient
      const targets = yield* RetentionTarget.RetentionTargets
      const target = Option.getOrThrow(yield* targets.get("consent.withdrawn-proof"))
      assert.strictEqual(target.client, sql)
      const tenant = yield* tenantWithLists
      const granted = yield* ledger.record(tenant, grant("kim@example.com", ["news"]))
      yield* ledger.record(tenant, withdraw("kim@example.com", ["news"]))
      const batch = { cutoff: new Date(Date.now() + 60_000), limit: 10, excludeSubjects: new Set<never>() }
      const rolledBack = yield* sql.withTransaction(Effect.gen(function*() {
        assert.deepStrictEqual(yield* target.purgeBatch(tenant, batch), { purged: 1, more: false })
        return yield* Effect.fail("abort" as const)
      })).pipe(Effect.flip)
      assert.strictEqual(rolledBack, "abort")
      assert.strictEqual((yield* ledger.events(tenant, { subject: granted.event.subject, limit: 10 })).length, 2)
      yield* sql.withTransaction(target.purgeBatch(tenant, batch))
      assert.deepStrictEqual(yield* ledger.events(tenant, { subject: granted.event.subject, limit: 10 }), [])
    }))
})

class SecondStore extends Context.Tag("test/SecondStore")<SecondStore, Context.Tag.Service<typeof ConsentStore.ConsentStore>>() {}

const lists = [ListId.make("a"), ListId.make("b"), ListId.make("c")]

const randomEvent = (tenant: TenantId.TenantId, subjects: ReadonlyArray<SubjectId>, time: number) =>
  fc.record({
    subject: fc.constantFrom(...subjects),
    kind: fc.constantFrom("granted" as const, "confirmed" as const, "withdrawn" as const),
    lists: fc.subarray(lists, { minLength: 1 }),
    pending: fc.boolean()
  }).map((pick): ConsentEvent.Recorded => {
    const event = new ConsentEvent.ConsentEvent({
      id: ConsentEvent.EventId.make(uuidV7At(time)),
      tenant,
      subject: pick.subject,
      kind: pick.kind,
      time: new Date(time),
      lists: pick.lists as [ListId, ...Array<ListId>],
      awaitingConfirmation: pick.kind === "granted" && pick.pending ? pick.lists : [],
      lawfulBasis: "consent",
      source: { type: "api" },
      confirms: []
    })
    const bytes = ConsentEvent.canonicalBytes(event)
    return { event, bytes, hash: ConsentEvent.hashOf(bytes), auditIndex: 0, ipSealed: undefined, userAgentSealed: undefined }
  })

// Two processes on one PostgreSQL: two stores over two connection pools, one schema.
if (postgresUrl) {
  const baseUrl = postgresUrl
  const twoStores = Layer.unwrapScoped(
    Effect.gen(function*() {
      const client = yield* SqlClient.SqlClient
      const [row] = yield* client<{ search_path: string }>`SHOW search_path`
      const url = new URL(baseUrl)
      url.searchParams.set("options", `-c search_path=${row!.search_path}`)
      const second = Layer.effect(SecondStore, ConsentStore.ConsentStore).pipe(
        Layer.provide(ConsentStore.layerSql),
        Layer.provide(PgClient.layer({ url: Redacted.make(url.toString()) })),
        Layer.orDie
      )
      return Layer.merge(ConsentStore.layerSql, second)
    })
  ).pipe(Layer.provideMerge(postgresLayer))

  describe("ConsentStore appends from two PostgreSQL clients", () => {
    layer(twoStores, { timeout: 120_000 })((it) => {
      it.effect("concurrent appends on the same subjects: seq is 0..n-1 and the projection equals the replay", () =>
        Effect.gen(function*() {
          const first = yield* ConsentStore.ConsentStore
          const second = yield* SecondStore
          const tenant = yield* TenantId.make
          const subjects = ["0190a5d0-0000-7000-8000-000000000001", "0190a5d0-0000-7000-8000-000000000002"].map((s) =>
            SubjectId.make(s)
          )
          let time = 1_000_000
          for (let round = 0; round < 40; round++) {
            const batches = fc.sample(fc.array(randomEvent(tenant, subjects, time++), { minLength: 1, maxLength: 8 }), 4)
            yield* Effect.all(batches.map((batch, i) => (i % 2 === 0 ? first : second).append(tenant, batch)), {
              concurrency: "unbounded"
            })
          }
          const events = yield* first.events(tenant, { limit: 100_000 })
          assert.deepStrictEqual(events.map((e) => e.seq), events.map((_, i) => i))
          const replayed = subjects.flatMap((subject) =>
            ConsentState.replay(events.filter((e) => e.event.subject === subject).map((e) => e.event)).map((s) => ({ ...s, subject }))
          )
          const projection = yield* first.projection(tenant, undefined, 100)
          assert.deepStrictEqual(projection, replayed)
        }), { timeout: 120_000 })
    })
  })
}

// A tenant created since the last ANALYZE is missing from the statistics, and a plan made for
// its actual id expects it to hold one row: the projection's update then hashed every state
// row of the tenant on each append, a cost that grew with the tenant. The count of index
// entries read shows which plan ran.
sqlSuite("ConsentStore plans", sql, (it) => {
  it.effect("an append reads the state rows of its own subjects only, in a tenant the statistics have not seen", () =>
    Effect.scoped(Effect.gen(function*() {
      // One connection, so every statistic counted below is its own.
      const { indexEntriesRead, run } = yield* readCounter
      const states = (tenant: string, n: number) =>
        run(
          `INSERT INTO lawful_consent_state (tenant_id, subject_id, list_id, status, since, event_id)
           SELECT $1, gen_random_uuid(), 'news', 'granted', now(), gen_random_uuid() FROM generate_series(1, $2::int)
           RETURNING subject_id`,
          [tenant, n]
        ).pipe(Effect.map((rows) => rows.map((row) => row.subject_id as string)))
      let audit = 0
      // Ten appends of six events: three subjects withdraw, three new ones grant.
      const appendTo = (tenant: string, granted: ReadonlyArray<string>) =>
        Effect.gen(function*() {
          for (let call = 0; call < 10; call++) {
            const subjects = [...granted.slice(call * 3, call * 3 + 3), randomUUID(), randomUUID(), randomUUID()]
            const time = new Date().toISOString()
            const events = subjects.map((s, o) => ({
              o,
              e: randomUUID(),
              s,
              k: o < 3 ? "withdrawn" : "granted",
              t: time,
              b: "{}",
              a: audit++,
              ip: null,
              ua: null
            }))
            const outcomes = events.map((event, o) =>
              o < 3
                ? { s: event.s, l: "news", g: "withdrawn", gs: time, ge: event.e }
                : { s: event.s, l: "news", n: "granted", ns: time, ne: event.e }
            )
            yield* run(`SELECT lawful_consent_append($1, $2, $3::jsonb, $4::jsonb)`, [
              tenant,
              events.length,
              JSON.stringify(events),
              JSON.stringify(outcomes)
            ])
          }
        })
      // 60 subjects looked up; a scan of the tenant would read 3,000 rows a call or more.
      const appendsRead = (tenant: string, granted: ReadonlyArray<string>) =>
        Effect.gen(function*() {
          const before = yield* indexEntriesRead("lawful_consent_state")
          yield* appendTo(tenant, granted)
          const read = (yield* indexEntriesRead("lawful_consent_state")) - before
          assert.isAtMost(read, 200, `index entries read: ${read}`)
          const [counts] = yield* run(
            `SELECT count(*) FILTER (WHERE status = 'withdrawn')::int AS withdrawn, count(*)::int AS total
             FROM lawful_consent_state WHERE tenant_id = $1`,
            [tenant]
          )
          assert.deepStrictEqual(counts, { withdrawn: 30, total: granted.length + 30 })
        })

      // A table never analysed (nor by autovacuum meanwhile).
      yield* run(`ALTER TABLE lawful_consent_state SET (autovacuum_enabled = false)`)
      const first = randomUUID()
      yield* appendsRead(first, yield* states(first, 3000))

      // A tenant newer than the last ANALYZE.
      yield* states(randomUUID(), 200)
      yield* run(`ANALYZE lawful_consent_state`)
      const tenant = randomUUID()
      yield* appendsRead(tenant, yield* states(tenant, 3000))
    })))

  it.effect("a subject's events and an event by id are read by key, in a tenant the statistics have not seen", () =>
    Effect.gen(function*() {
      const client = yield* SqlClient.SqlClient
      const ledger = yield* ConsentLedger
      const store = yield* ConsentStore.ConsentStore
      const importInto = (tenant: TenantId.TenantId, prefix: string, n: number) =>
        ledger.importContacts(tenant, {
          attestation,
          lists: ["news"],
          actor: { kind: "api-key", id: "key-1" },
          contacts: Array.from({ length: n }, (_, i) => ({ email: `${prefix}${i}@example.com` }))
        })
      yield* importInto(yield* tenantWithLists, "seen", 200)
      yield* client`ANALYZE lawful_consent_events`
      const tenant = yield* tenantWithLists
      yield* importInto(tenant, "reader", 3000)
      const [some] = yield* store.events(tenant, { after: 1500, limit: 1 })

      const [[byId, ofSubject], read] = yield* rowsReadBy("lawful_consent_events", Effect.gen(function*() {
        const byId = yield* store.event(tenant, some!.event.id)
        const ofSubject = yield* store.events(tenant, { subject: some!.event.subject, limit: 10 })
        return [byId, ofSubject] as const
      }))
      assert.strictEqual(Option.getOrThrow(byId).event.id, some!.event.id)
      assert.deepStrictEqual(ofSubject.map((stored) => stored.event.id), [some!.event.id])
      // Two events read; a scan of the tenant would read 3,000 rows for each.
      assert.isAtMost(read, 50, `rows read: ${read}`)
    }))

  it.effect("a resumed import finds the subjects it recorded by key, in a tenant the statistics have not seen", () =>
    Effect.gen(function*() {
      const client = yield* SqlClient.SqlClient
      const ledger = yield* ConsentLedger
      const store = yield* ConsentStore.ConsentStore
      const importInto = (tenant: TenantId.TenantId, prefix: string, n: number) =>
        ledger.importContacts(tenant, {
          attestation,
          lists: ["news"],
          actor: { kind: "api-key", id: "key-1" },
          idempotencyKey: prefix,
          contacts: Array.from({ length: n }, (_, i) => ({ email: `${prefix}${i}@example.com` }))
        })
      yield* importInto(yield* tenantWithLists, "seen", 200)
      yield* client`ANALYZE lawful_consent_events`
      const tenant = yield* tenantWithLists
      const { importId } = yield* importInto(tenant, "imported", 3000)
      const page = yield* store.events(tenant, { after: 1500, limit: 20 })
      const subjects = page.map((stored) => stored.event.subject)

      const [found, read] = yield* rowsReadBy("lawful_consent_events", store.importedSubjects(tenant, importId, subjects))
      assert.strictEqual(found.size, 20)
      // Twenty probes; a scan of the tenant or the import would read 3,000 rows.
      assert.isAtMost(read, 100, `rows read: ${read}`)
    }))

  it.effect("a projection page reads its own rows, and recipients, states and erasure read by key", () =>
    Effect.gen(function*() {
      const client = yield* SqlClient.SqlClient
      const ledger = yield* ConsentLedger
      const store = yield* ConsentStore.ConsentStore
      const importInto = (tenant: TenantId.TenantId, prefix: string, n: number, lists: ReadonlyArray<string>) =>
        ledger.importContacts(tenant, {
          attestation,
          lists,
          actor: { kind: "api-key", id: "key-1" },
          contacts: Array.from({ length: n }, (_, i) => ({ email: `${prefix}${i}@example.com` }))
        })
      yield* importInto(yield* tenantWithLists, "seen", 200, ["news"])
      yield* client`ANALYZE lawful_consent_events`
      yield* client`ANALYZE lawful_consent_state`
      // A tenant newer than the statistics: 3,000 subjects on one list, three on another.
      const tenant = yield* tenantWithLists
      yield* importInto(tenant, "reader", 3000, ["news"])
      yield* importInto(tenant, "rare", 3, ["events.local"])
      const all = yield* store.projection(tenant, undefined, 5000)
      assert.strictEqual(all.length, 3003)
      const cursor = all[1499]!

      const [page, pageRead] = yield* rowsReadBy(
        "lawful_consent_state",
        store.projection(tenant, { subject: cursor.subject, list: cursor.list }, 10)
      )
      assert.deepStrictEqual(page, all.slice(1500, 1510))
      // Before: the tenant's rows after the cursor were read and sorted for every page (1,511
      // rows on PGlite, 3,003 on PostgreSQL), since the order was not the primary key's.
      assert.isAtMost(pageRead, 30, `rows read for a page: ${pageRead}`)

      const [recipients, recipientsRead] = yield* rowsReadBy(
        "lawful_consent_state",
        store.recipients(tenant, ListId.make("events.local"), undefined, 10)
      )
      assert.strictEqual(recipients.length, 3)
      assert.isAtMost(recipientsRead, 30, `rows read for recipients: ${recipientsRead}`)

      const subject = all[2000]!.subject
      const [states, statesRead] = yield* rowsReadBy("lawful_consent_state", store.states(tenant, subject))
      assert.strictEqual(states.length, 1)
      const [erased, erasedRead] = yield* rowsReadBy("lawful_consent_events", store.eraseSubject(tenant, subject))
      assert.strictEqual(erased, 1)
      assert.isAtMost(statesRead + erasedRead, 30, `rows read for states and erasure: ${statesRead} + ${erasedRead}`)
    }))

  it.effect("a purge of withdrawn-consent proofs reads the subjects it purges, not every withdrawn subject", () =>
    Effect.gen(function*() {
      const client = yield* SqlClient.SqlClient
      const store = yield* ConsentStore.ConsentStore
      // n subjects who withdrew from their one list, a second apart, the last one a second ago;
      // every tenth of them also still consents to another list.
      const withdrawn = (tenant: string, n: number) =>
        Effect.gen(function*() {
          yield* client`INSERT INTO lawful_consent_tenants (tenant_id, next_seq) VALUES (${tenant}, 0)`
          yield* client`
            INSERT INTO lawful_consent_state (tenant_id, subject_id, list_id, status, since, event_id)
            SELECT ${tenant}::uuid, ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'news', 'withdrawn',
              date_trunc('milliseconds', now()) - i * interval '1 second', gen_random_uuid()
            FROM generate_series(1, ${n}::int) i`
          yield* client`
            INSERT INTO lawful_consent_state (tenant_id, subject_id, list_id, status, since, event_id)
            SELECT ${tenant}::uuid, ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'offers', 'granted',
              now(), gen_random_uuid()
            FROM generate_series(10, ${n}::int, 10) i`
        })
      yield* withdrawn(randomUUID(), 200)
      yield* client`ANALYZE lawful_consent_state`
      const tenant = TenantId.TenantId.make(randomUUID())
      yield* withdrawn(tenant, 3000)
      const subjectOf = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`
      const selection = { cutoff: new Date(Date.now() + 60_000), excludeSubjects: new Set([SubjectId.make(subjectOf(2999))]) }

      const [purged, read] = yield* rowsReadBy("lawful_consent_state", store.purgeWithdrawn(tenant, { ...selection, limit: 10 }))
      assert.strictEqual(purged, 10)
      // The oldest first withdrawals: 3000 and 2990 still consent to offers, 2999 is excluded.
      const expected = [2998, 2997, 2996, 2995, 2994, 2993, 2992, 2991, 2989, 2988]
      for (const i of expected) assert.deepStrictEqual(yield* store.states(tenant, SubjectId.make(subjectOf(i))), [])
      for (const i of [3000, 2999, 2990, 2987]) {
        assert.isNotEmpty(yield* store.states(tenant, SubjectId.make(subjectOf(i))))
      }
      // A page of 100 withdrawn states, each checked by a probe of its subject: 247 rows. Before:
      // every withdrawn state of the tenant was grouped, each checked by reading the tenant's
      // states: 9,409,950 rows read for this batch of ten, on PGlite and PostgreSQL alike.
      assert.isAtMost(read, 400, `rows read: ${read}`)
      // Counting reads each withdrawn state and probes its subject: linear, not quadratic.
      const [[counted, oldest], countRead] = yield* rowsReadBy(
        "lawful_consent_state",
        Effect.all([store.countWithdrawn(tenant, selection), store.oldestWithdrawn(tenant, new Set())])
      )
      assert.strictEqual(counted, 2700 - 1 - 10)
      assert.strictEqual(Option.getOrThrow(oldest).getTime(), (yield* store.states(tenant, SubjectId.make(subjectOf(2999))))[0]!.since.getTime())
      assert.isAtMost(countRead, 4 * 3300, `rows read: ${countRead}`)
    }))
})
