import { assert, describe, it, layer } from "@effect/vitest"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as KeyStore from "../src/KeyStore.js"
import * as MasterKey from "../src/MasterKey.js"
import {
  defaultSourceTimeout,
  layer as registryLayer,
  PersonalDataRegistry,
  register,
  sourceError
} from "../src/PersonalDataRegistry.js"
import type { PersonalDataSource, Report } from "../src/PersonalDataRegistry.js"
import * as SubjectDirectory from "../src/SubjectDirectory.js"
import * as SubjectId from "../src/SubjectId.js"
import * as TenantId from "../src/TenantId.js"
import { contractSuite, postgresLayer, postgresUrl, sqlSuite } from "../src/testing.js"
import * as Vault from "../src/Vault.js"

// The directory over a Vault, with the key store and master key in the context too, so that a
// test can build a second Vault and directory over them (a second process).
const withVault = <E1, R1, E2, R2>(
  directory: Layer.Layer<SubjectDirectory.SubjectDirectory, E1, R1 | Vault.Vault>,
  store: Layer.Layer<KeyStore.KeyStore, E2, R2>
) =>
  directory.pipe(
    Layer.provideMerge(Vault.layerWith({ subjectPoolSize: 4 })),
    Layer.provideMerge(store),
    Layer.provideMerge(MasterKey.layerRandom)
  )

const layers = {
  memory: withVault(SubjectDirectory.layerMemory, KeyStore.layerMemory),
  sql: withVault(SubjectDirectory.layerSql, KeyStore.layerSql)
}

const tagOf = <A, E extends { readonly _tag: string }>(result: Either.Either<A, E>) =>
  Either.isLeft(result) ? result.left._tag : "succeeded"

contractSuite("Review16d: SubjectDirectory forget", layers, (it) => {
  it.effect("after forget the address resolves to a new subject; the forgotten one no longer opens nor comes back", () =>
    Effect.gen(function*() {
      const directory = yield* SubjectDirectory.SubjectDirectory
      const tenant = yield* TenantId.make
      const forgotten = yield* directory.resolve(tenant, "ann@example.com")
      assert.isTrue(yield* directory.forget(tenant, forgotten))

      assert.isTrue(Option.isNone(yield* directory.find(tenant, "ann@example.com")))
      assert.strictEqual(tagOf(yield* Effect.either(directory.emailOf(tenant, forgotten))), "SubjectNotFound")
      assert.strictEqual(tagOf(yield* Effect.either(directory.entryOf(tenant, forgotten))), "SubjectNotFound")

      const again = yield* directory.resolve(tenant, " ANN@example.com ")
      assert.notStrictEqual(again, forgotten)
      assert.deepStrictEqual(yield* directory.find(tenant, "ann@example.com"), Option.some(again))
      assert.strictEqual(yield* directory.emailOf(tenant, again), "ann@example.com")
      // Neither batched resolves nor an import are handed the forgotten subject.
      const batched = yield* Effect.forEach(
        Array.from({ length: 12 }, (_, i) => `batched${i}@example.com`),
        (email) => directory.resolve(tenant, email),
        { concurrency: "unbounded" }
      )
      const imported = yield* directory.resolveAll(tenant, Array.from({ length: 12 }, (_, i) => `import${i}@example.com`))
      assert.notInclude([...batched, ...imported], forgotten)
      assert.strictEqual(tagOf(yield* Effect.either(directory.emailOf(tenant, forgotten))), "SubjectNotFound")
    }))

  it.effect("forget of a subject of another tenant, or unknown, answers false and changes nothing", () =>
    Effect.gen(function*() {
      const directory = yield* SubjectDirectory.SubjectDirectory
      const [a, b] = yield* Effect.all([TenantId.make, TenantId.make])
      const inA = yield* directory.resolve(a, "bea@example.com")
      const inB = yield* directory.resolve(b, "bea@example.com")
      assert.isFalse(yield* directory.forget(b, inA))
      assert.isFalse(yield* directory.forget(a, inB))
      assert.isFalse(yield* directory.forget(a, yield* SubjectId.make))
      assert.isFalse(yield* directory.forget(yield* TenantId.make, inA))
      assert.deepStrictEqual(yield* directory.find(a, "bea@example.com"), Option.some(inA))
      assert.deepStrictEqual(yield* directory.find(b, "bea@example.com"), Option.some(inB))
      assert.strictEqual(yield* directory.emailOf(a, inA), "bea@example.com")
      assert.strictEqual(yield* directory.emailOf(b, inB), "bea@example.com")
    }))

  it.effect("forget racing batched resolves of the address: every subject a resolve returns after it is the one the directory holds", () =>
    Effect.gen(function*() {
      const directory = yield* SubjectDirectory.SubjectDirectory
      const tenant = yield* TenantId.make
      for (let round = 0; round < 5; round++) {
        const address = `race${round}@example.com`
        const first = yield* directory.resolve(tenant, address)
        const [resolved] = yield* Effect.all([
          Effect.forEach(Array.from({ length: 8 }), () => directory.resolve(tenant, address), { concurrency: "unbounded" }),
          directory.forget(tenant, first)
        ], { concurrency: "unbounded" })
        const current = yield* directory.find(tenant, address)
        const others = new Set(resolved.filter((subject) => subject !== first))
        // At most one new subject, and it is the directory's.
        assert.isAtMost(others.size, 1)
        for (const subject of others) {
          assert.deepStrictEqual(current, Option.some(subject))
          assert.strictEqual(yield* directory.emailOf(tenant, subject), address)
        }
        assert.strictEqual(tagOf(yield* Effect.either(directory.emailOf(tenant, first))), "SubjectNotFound")
      }
    }))
})

sqlSuite("Review16d: SubjectDirectory in a transaction that rolls back", layers.sql, (it) => {
  it.effect("leaves no subject, and its subject id is handed to no other address", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const vault = yield* Vault.Vault
      const directory = yield* SubjectDirectory.SubjectDirectory
      const tenant = yield* TenantId.make
      const known = yield* directory.resolve(tenant, "known@example.com")
      yield* vault.prepare(tenant, 8)
      let inside: ReadonlyArray<SubjectId.SubjectId> = []
      const rolledBack = yield* sql.withTransaction(Effect.gen(function*() {
        inside = yield* Effect.all([
          directory.resolve(tenant, "gone@example.com"),
          directory.resolve(tenant, "known@example.com"),
          directory.resolve(tenant, "gone.too@example.com")
        ])
        return yield* Effect.fail("roll back" as const)
      })).pipe(Effect.flip)
      assert.strictEqual(rolledBack, "roll back")
      assert.strictEqual(inside[1], known)
      assert.isTrue(Option.isNone(yield* directory.find(tenant, "gone@example.com")))
      assert.isTrue(Option.isNone(yield* directory.find(tenant, "gone.too@example.com")))
      assert.strictEqual(tagOf(yield* Effect.either(directory.emailOf(tenant, inside[0]!))), "SubjectNotFound")

      const after = [
        yield* directory.resolve(tenant, "gone@example.com"),
        ...yield* directory.resolveAll(tenant, Array.from({ length: 20 }, (_, i) => `after${i}@example.com`))
      ]
      assert.notInclude(after, inside[0])
      assert.notInclude(after, inside[2])
      assert.strictEqual(new Set(after).size, after.length)
      for (const [i, subject] of after.entries()) {
        assert.strictEqual(yield* directory.emailOf(tenant, subject), i === 0 ? "gone@example.com" : `after${i - 1}@example.com`)
      }
    }))
})

// Whether a backend process waits on a lock in the statement of resolve.
const resolveIsWaiting = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql<{ waiting: number }>`SELECT count(*)::int AS waiting FROM pg_stat_activity
    WHERE datname = current_database() AND wait_event_type = 'Lock'
    AND query LIKE '%lawful_subjects_insert_or_find%'`).pipe(Effect.map(([row]) => row!.waiting > 0))

const untilResolveWaits = Effect.gen(function*() {
  for (let poll = 0; poll < 5000; poll++) {
    if (yield* resolveIsWaiting) return
  }
  return yield* Effect.dieMessage("resolve never waited for the forget")
})

// Several connections at once: PostgreSQL only (PGlite runs one statement at a time, so a
// transaction held open would hold every other statement back with it).
if (postgresUrl) {
  layer(layers.sql.pipe(Layer.provideMerge(postgresLayer)), { timeout: 120_000 })("Review16d: SubjectDirectory across connections (PostgreSQL)", (it) => {
    it.effect("a resolve whose statement waited for a forget to commit returns the subject it inserted, and keeps it", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const directory = yield* SubjectDirectory.SubjectDirectory
        const tenant = yield* TenantId.make
        const forgotten = yield* directory.resolve(tenant, "cleo@example.com")

        // The forget deletes the row in a transaction held open; the resolve's statement, started
        // meanwhile, waits for it on the row's index entry, then inserts a new subject.
        const deleted = yield* Deferred.make<void>()
        const commit = yield* Deferred.make<void>()
        const forgetting = yield* Effect.fork(sql.withTransaction(Effect.gen(function*() {
          assert.isTrue(yield* directory.forget(tenant, forgotten))
          yield* Deferred.succeed(deleted, undefined)
          yield* Deferred.await(commit)
        })))
        yield* Deferred.await(deleted)
        const resolving = yield* Effect.fork(directory.resolve(tenant, "cleo@example.com"))
        yield* untilResolveWaits
        yield* Deferred.succeed(commit, undefined)
        yield* Fiber.join(forgetting)
        const resolved = yield* Fiber.join(resolving)

        assert.notStrictEqual(resolved, forgotten, "resolve returned the subject forgotten before its insert")
        assert.deepStrictEqual(yield* directory.find(tenant, "cleo@example.com"), Option.some(resolved))
        assert.strictEqual(yield* directory.emailOf(tenant, resolved), "cleo@example.com")
        // Its subject was not given back to the pool: the next new addresses resolve.
        for (let i = 0; i < 6; i++) {
          const next = yield* Effect.either(directory.resolve(tenant, `next${i}@example.com`))
          assert.strictEqual(tagOf(next), "succeeded", `new address ${i}`)
          assert.notStrictEqual(Either.getOrThrow(next), resolved)
        }
      }))

    it.scoped("two processes resolving one new address at once, on two clients, agree on one subject", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const directory = yield* SubjectDirectory.SubjectDirectory
        const [row] = yield* sql<{ schema: string }>`SELECT current_schema() AS schema`
        const url = new URL(postgresUrl!)
        url.searchParams.set("options", `-c search_path=${row!.schema}`)
        // Another client, Vault and directory over the same key store and master key.
        const other = yield* Layer.build(
          SubjectDirectory.layerSql.pipe(
            Layer.provideMerge(Vault.layerWith({ subjectPoolSize: 4 })),
            Layer.provide(KeyStore.layerSql),
            Layer.provide(PgClient.layer({ url: Redacted.make(url.toString()), maxConnections: 4 })),
            Layer.provide(Layer.succeed(MasterKey.MasterKeys, yield* MasterKey.MasterKeys))
          )
        ).pipe(Effect.map((context) => Context.get(context, SubjectDirectory.SubjectDirectory)))

        for (let round = 0; round < 5; round++) {
          // A new tenant each round: its keys are made by both processes at once too.
          const tenant = yield* TenantId.make
          const address = `dana${round}@example.com`
          const subjects = yield* Effect.forEach(
            Array.from({ length: 8 }, (_, i) => i % 2 === 0 ? directory : other),
            (d) => d.resolve(tenant, address),
            { concurrency: "unbounded" }
          )
          assert.strictEqual(new Set(subjects).size, 1)
          assert.strictEqual(yield* directory.emailOf(tenant, subjects[0]!), address)
          assert.strictEqual(yield* other.emailOf(tenant, subjects[0]!), address)
          assert.deepStrictEqual(yield* other.find(tenant, address), Option.some(subjects[0]!))
        }
      }))
  })
}

// ----------------------------------------------------------------------------------------------
// PersonalDataRegistry

const plainSource = (name: string, overrides: Partial<PersonalDataSource> = {}): PersonalDataSource => ({
  name,
  description: `${name}, for tests`,
  categories: [`${name}.field`],
  purposes: ["testing"],
  export: () => Effect.succeed({ records: [{ category: `${name}.field`, fields: { [name]: "value" } }] }),
  erase: () => Effect.succeed({ erased: 1 }),
  rectify: () => Effect.succeed({ rectified: 0 }),
  ...overrides
})

const registryWith = (sources: ReadonlyArray<PersonalDataSource>) =>
  sources.reduce<Layer.Layer<PersonalDataRegistry, unknown>>(
    (registry, source) => register(source).pipe(Layer.provideMerge(registry)),
    registryLayer
  )

const outcomesOf = <A>(report: Report<A>) => report.outcomes.map((outcome) => [outcome.source, outcome._tag])

const ids = Effect.all([TenantId.make, SubjectId.make])

describe("Review16d: PersonalDataRegistry", () => {
  it.effect("a source that is interrupted is reported as failed, and the report comes back with every other source", () =>
    Effect.gen(function*() {
      const registry = yield* PersonalDataRegistry
      const [tenant, subject] = yield* ids
      const reports: ReadonlyArray<Report<unknown>> = [
        yield* registry.eraseAll(tenant, subject),
        yield* registry.exportAll(tenant, subject),
        yield* registry.rectifyAll(tenant, subject, { name: "x" })
      ]
      for (const report of reports) {
        assert.deepStrictEqual(outcomesOf(report), [
          ["alpha", "SourceSucceeded"],
          ["cut", "SourceFailed"],
          ["omega", "SourceSucceeded"]
        ])
        assert.isFalse(report.allSucceeded)
        assert.include(report.failures[0]!.error.message, "SourceInterrupted")
      }
    }).pipe(Effect.provide(registryWith([
      plainSource("alpha"),
      plainSource("cut", { export: () => Effect.interrupt, erase: () => Effect.interrupt, rectify: () => Effect.interrupt }),
      plainSource("omega")
    ]))))

  it.effect("a source that never answers is reported as timed out, and the report comes back with every other source", () =>
    Effect.gen(function*() {
      const registry = yield* PersonalDataRegistry
      const [tenant, subject] = yield* ids
      const erasing = yield* Effect.fork(Effect.timeoutOption(registry.eraseAll(tenant, subject), "1 day"))
      const exporting = yield* Effect.fork(Effect.timeoutOption(registry.exportAll(tenant, subject), "1 day"))
      yield* TestClock.adjust(defaultSourceTimeout)
      yield* TestClock.adjust("1 day")
      const reports: ReadonlyArray<Option.Option<Report<unknown>>> = [yield* Fiber.join(erasing), yield* Fiber.join(exporting)]
      for (const report of reports) {
        assert.isTrue(Option.isSome(report), "the report never came back")
        const value = Option.getOrThrow(report)
        assert.deepStrictEqual(outcomesOf(value), [
          ["alpha", "SourceSucceeded"],
          ["hanging", "SourceFailed"],
          ["omega", "SourceSucceeded"],
          ["stuck", "SourceFailed"]
        ])
        for (const failure of value.failures) assert.include(failure.error.message, "SourceTimedOut")
      }
    }).pipe(Effect.provide(registryWith([
      plainSource("alpha"),
      plainSource("hanging", { export: () => Effect.never, erase: () => Effect.never }),
      // Deaf to interruption too.
      plainSource("stuck", {
        export: () => Effect.uninterruptible(Effect.never),
        erase: () => Effect.uninterruptible(Effect.never)
      }),
      plainSource("omega")
    ]))))

  it.effect("outcomes come in one order however the registering layers were built", () =>
    Effect.gen(function*() {
      // Built concurrently, a source whose layer takes longer registers later.
      const late = (name: string) =>
        register(Effect.as(Effect.repeatN(Effect.yieldNow(), 20), plainSource(name)))
      const orders: Array<ReadonlyArray<string>> = []
      for (const registrations of [
        [late("alpha"), register(plainSource("beta"))],
        [register(plainSource("alpha")), late("beta")]
      ] as const) {
        const layer = Layer.mergeAll(...registrations).pipe(Layer.provideMerge(registryLayer))
        const [tenant, subject] = yield* ids
        const report = yield* Effect.provide(
          Effect.flatMap(PersonalDataRegistry, (registry) => registry.eraseAll(tenant, subject)),
          layer
        )
        orders.push(report.outcomes.map((outcome) => outcome.source))
      }
      assert.deepStrictEqual(orders[0], orders[1])
    }))

  it.effect("a source that fails or dies after the others answered does not change their outcomes", () =>
    Effect.gen(function*() {
      const registry = yield* PersonalDataRegistry
      const [tenant, subject] = yield* ids
      const exported = yield* registry.exportAll(tenant, subject)
      assert.isFalse(exported.allSucceeded)
      assert.deepStrictEqual(outcomesOf(exported), [
        ["alpha", "SourceSucceeded"],
        ["broken", "SourceFailed"],
        ["buggy", "SourceFailed"]
      ])
      assert.deepStrictEqual(exported.failures.map((f) => f.source), ["broken", "buggy"])
      // The report's messages name the source, the operation and the cause's tag, never what the
      // source's own error says (the cause itself is passed on as the source gave it).
      for (const failure of exported.failures) assert.notInclude(failure.error.message, "zq.ann")
    }).pipe(Effect.provide(registryWith([
      plainSource("alpha"),
      plainSource("broken", { export: () => Effect.fail(sourceError("broken", "export")(new Error("no row for zq.ann@example.com"))) }),
      plainSource("buggy", { export: () => Effect.die(new Error("cannot parse zq.ann@example.com")) })
    ]))))

  it.effect("an interruption of the caller still interrupts the call and every source", () => {
    const interrupted: Array<string> = []
    const waiting = (name: string) =>
      plainSource(name, { erase: () => Effect.onInterrupt(Effect.never, () => Effect.sync(() => interrupted.push(name))) })
    return Effect.gen(function*() {
      const registry = yield* PersonalDataRegistry
      const [tenant, subject] = yield* ids
      const fiber = yield* Effect.fork(registry.eraseAll(tenant, subject))
      yield* Effect.repeatN(Effect.yieldNow(), 10)
      const exit = yield* Fiber.interrupt(fiber)
      assert.isTrue(exit._tag === "Failure" && Cause.isInterruptedOnly(exit.cause))
      yield* Effect.repeatN(Effect.yieldNow(), 10)
      assert.sameMembers(interrupted, ["first", "second"])
    }).pipe(Effect.provide(registryWith([waiting("first"), waiting("second")])))
  })
})

// The directory registered as a source, on every backend.
const asSource = <E1, E2, R2>(
  directory: Layer.Layer<SubjectDirectory.SubjectDirectory, E1, Vault.Vault | R2>,
  store: Layer.Layer<KeyStore.KeyStore, E2, R2>
) => SubjectDirectory.personalDataSource.pipe(Layer.provideMerge(registryLayer), Layer.provideMerge(withVault(directory, store)))

contractSuite("Review16d: SubjectDirectory as a personal-data source", {
  memory: asSource(SubjectDirectory.layerMemory, KeyStore.layerMemory),
  sql: asSource(SubjectDirectory.layerSql, KeyStore.layerSql)
}, (it) => {
  it.effect("a shredded subject rectifies nothing and succeeds, as it exports nothing, and the address stays free", () =>
    Effect.gen(function*() {
      const registry = yield* PersonalDataRegistry
      const directory = yield* SubjectDirectory.SubjectDirectory
      const vault = yield* Vault.Vault
      const tenant = yield* TenantId.make
      const subject = yield* directory.resolve(tenant, "ivy@example.com")
      yield* vault.shred(tenant, subject)

      const exported = yield* registry.exportAll(tenant, subject)
      assert.deepStrictEqual(exported.outcomes.map((o) => o._tag === "SourceSucceeded" && o.result), [{ records: [] }])
      const rectified = yield* registry.rectifyAll(tenant, subject, { email: "ivy.new@example.com" })
      assert.deepStrictEqual(rectified.failures.map((f) => f.error.message), [])
      assert.deepStrictEqual(rectified.outcomes.map((o) => o._tag === "SourceSucceeded" && o.result), [{ rectified: 0 }])
      assert.isTrue(Option.isNone(yield* directory.find(tenant, "ivy.new@example.com")))
    }))

  it.effect("a rectification to an invalid or taken address is reported by its reason, never by the address", () =>
    Effect.gen(function*() {
      const registry = yield* PersonalDataRegistry
      const directory = yield* SubjectDirectory.SubjectDirectory
      const tenant = yield* TenantId.make
      const [subject] = yield* directory.resolveAll(tenant, ["jo@example.com", "zq.taken.88@example.com"])
      for (const [email, reason] of [["zq.invalid.88 @example.com", "InvalidEmail"], ["ZQ.TAKEN.88@example.com", "EmailAlreadyInUse"]]) {
        const report = yield* registry.rectifyAll(tenant, subject!, { email })
        const [failure] = report.failures
        assert.strictEqual((failure?.error.cause as { readonly _tag: string })._tag, reason)
        assert.notInclude(failure!.error.message.toLowerCase(), "zq.")
        assert.notInclude(JSON.stringify(report).toLowerCase(), "zq.")
      }
      assert.strictEqual(yield* directory.emailOf(tenant, subject!), "jo@example.com")
    }))
})
