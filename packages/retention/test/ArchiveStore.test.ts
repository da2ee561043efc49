import { assert, describe, it, layer } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import type { Actor } from "@lawful/audit-trail/AuditEvent"
import * as SubjectId from "@lawful/core/SubjectId"
import * as TenantId from "@lawful/core/TenantId"
import { contractSuite, pgliteLayer } from "@lawful/core/testing"
import * as Vault from "@lawful/core/Vault"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as ArchiveStore from "../src/ArchiveStore.js"
import { LegalHolds } from "../src/LegalHold.js"
import { RetentionPolicies } from "../src/RetentionPolicy.js"
import { Sweeper } from "../src/Sweeper.js"
import { address, archiveInTestSchema, memoryStack, spanAttributes, sqlStack, untyped, withArchive } from "./fixtures.js"

const staff: Actor = { kind: "staff", id: "staff-1" }

/** Asserts that `exit` is an `ArchiveStoreError` whose error and cause quote no `address`. */
const assertRefused = (exit: Exit.Exit<unknown, unknown>, what: string) => {
  const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
  assert.isTrue(Option.isSome(failure) && (failure.value as { _tag: string })._tag === "ArchiveStoreError", `${what}: ${exit}`)
  assert.notInclude(JSON.stringify(failure) + Cause.pretty(Exit.isFailure(exit) ? exit.cause : Cause.empty), address, what)
}

contractSuite("ArchiveStore", {
  memory: withArchive(memoryStack, ArchiveStore.layerMemory),
  sql: withArchive(sqlStack, archiveInTestSchema)
}, (it) => {
  it.effect("records archived at one instant list by id on every store", () =>
    Effect.gen(function*() {
      const archive = yield* ArchiveStore.ArchiveStore
      const seal = yield* Vault.Vault
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      const records = yield* Effect.forEach([1, 2, 3, 4, 5], (n) =>
        Effect.flatMap(seal.seal(tenant, subject, "archive.invoice", `Invoice ${n}`), (sealed) =>
          archive.put(tenant, { kind: "invoice", subject, sealed })))
      const byId = records.map((r) => r.archiveId).sort()
      assert.deepStrictEqual((yield* archive.list(tenant)).map((r) => r.archiveId), byId)
      assert.deepStrictEqual((yield* archive.list(tenant, { limit: 2 })).map((r) => r.archiveId), byId.slice(0, 2))
    }))

  it.effect("keeps sealed payloads per tenant and subject; shredding the subject leaves them unreadable", () =>
    Effect.gen(function*() {
      const archive = yield* ArchiveStore.ArchiveStore
      const seal = yield* Vault.Vault
      const [tenant, other] = yield* Effect.all([TenantId.make, TenantId.make])
      const subject = yield* SubjectId.make
      const sealed = yield* seal.seal(tenant, subject, "archive.invoice", "Invoice 2026-001 for Ann")
      const invoice = yield* archive.put(tenant, { kind: "invoice", subject, sealed })
      yield* TestClock.adjust("1 hour")
      yield* archive.put(tenant, { kind: "contract", sealed: yield* seal.seal(tenant, subject, "archive.contract", "c") })
      const found = yield* archive.get(tenant, invoice.archiveId)
      assert.isTrue(Option.isSome(found))
      const payload = yield* seal.openString(tenant, subject, "archive.invoice", Option.getOrThrow(found).sealed)
      assert.strictEqual(payload, "Invoice 2026-001 for Ann")
      assert.deepStrictEqual((yield* archive.list(tenant)).map((r) => r.kind), ["invoice", "contract"])
      assert.deepStrictEqual((yield* archive.list(tenant, { subject })).length, 1)
      assert.isTrue(Option.isNone(yield* archive.get(other, invoice.archiveId)))
      assert.isTrue(Option.isNone(yield* archive.get(tenant, "not-an-id")))
      yield* seal.shred(tenant, subject)
      const shredded = yield* Effect.either(seal.open(tenant, subject, "archive.invoice", Option.getOrThrow(found).sealed))
      assert.isTrue(shredded._tag === "Left" && shredded.left._tag === "SubjectShredded")
    }))

  it.effect("a record no store can keep is refused with ArchiveStoreError on every store, and nothing is archived", () =>
    Effect.gen(function*() {
      const archive = yield* ArchiveStore.ArchiveStore
      const seal = yield* Vault.Vault
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      const sealed = yield* seal.seal(tenant, subject, "archive.invoice", "x")
      const requests: ReadonlyArray<ArchiveStore.ArchiveRequest> = [
        { kind: "", sealed },
        { kind: "k".repeat(101), sealed },
        { kind: "in\u0000voice", sealed },
        { kind: "invoice", sealed, archivedAt: new Date(Number.NaN) }
      ]
      for (const request of requests) {
        const exit = yield* Effect.exit(archive.put(tenant, request))
        const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
        assert.isTrue(Option.isSome(failure) && failure.value._tag === "ArchiveStoreError", `${JSON.stringify(request.kind)}: ${exit}`)
      }
      assert.deepStrictEqual(yield* archive.list(tenant), [])
    }))

  it.effect("a list limit that is not a whole number, 0 or more, is refused with ArchiveStoreError on every store", () =>
    Effect.gen(function*() {
      const archive = yield* ArchiveStore.ArchiveStore
      const seal = yield* Vault.Vault
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      yield* Effect.forEach([1, 2, 3], (n) =>
        Effect.flatMap(seal.seal(tenant, subject, "archive.invoice", `Invoice ${n}`), (sealed) =>
          archive.put(tenant, { kind: "invoice", subject, sealed })))
      for (const limit of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
        const exit = yield* Effect.exit(archive.list(tenant, { limit }))
        const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
        assert.isTrue(Option.isSome(failure) && failure.value._tag === "ArchiveStoreError", `${limit}: ${exit}`)
      }
      assert.deepStrictEqual(yield* archive.list(tenant, { limit: 0 }), [])
      assert.strictEqual((yield* archive.list(tenant, { limit: 2 })).length, 2)
    }))

  // Review 18c: a date before 4713 BC was archived in memory and failed at the statement on SQL; a
  // tenant or a request that is not one died or quoted what was given in the error's cause.
  it.effect("a date no store keeps, a tenant or a request that is not one: refused alike, unquoted, nothing archived", () =>
    Effect.gen(function*() {
      const archive = yield* ArchiveStore.ArchiveStore
      const seal = yield* Vault.Vault
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      const sealed = yield* seal.seal(tenant, subject, "archive.invoice", "x")
      const attempts: ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown>]> = [
        ["4714 BC", archive.put(tenant, { kind: "invoice", sealed, archivedAt: new Date(Date.UTC(-4713, 0, 1)) })],
        ["the earliest Date", archive.put(tenant, { kind: "invoice", sealed, archivedAt: new Date(-8.64e15) })],
        ["a tenant that is an address", archive.put(address as TenantId.TenantId, { kind: "invoice", sealed })],
        ["a subject that is an address", archive.put(tenant, { kind: "invoice", sealed, subject: address as SubjectId.SubjectId })],
        ["a kind that is an address too long", archive.put(tenant, { kind: `${address}${"x".repeat(100)}`, sealed })],
        ["no request", archive.put(tenant, null as unknown as ArchiveStore.ArchiveRequest)]
      ]
      for (const [what, attempt] of attempts) {
        assertRefused(yield* Effect.exit(attempt), what)
      }
      // The earliest time every store keeps is taken.
      const earliest = yield* archive.put(tenant, { kind: "invoice", sealed, archivedAt: new Date(Date.UTC(-4712, 0, 1)) })
      assert.deepStrictEqual((yield* archive.list(tenant)).map((r) => r.archiveId), [earliest.archiveId])
    }))

  // Review 18c: an id or a subject in upper case was found on SQL (uuid) and not in memory, and a
  // subject that is not one failed the statement on SQL (its error quoting it) and found nothing in
  // memory; options that are no object threw before any effect ran.
  // The span of a put named the tenant given, whatever it was: an address went to the traces.
  it.effect("the span of a put does not name a tenant that is not one", () =>
    Effect.gen(function*() {
      const archive = yield* ArchiveStore.ArchiveStore
      const sealed = untyped<Vault.Sealed>(new Uint8Array([1, 2, 3]))
      const attributes = yield* spanAttributes(archive.put(untyped(address), { kind: "invoice", sealed }))
      assert.notInclude(attributes, address)
    }))

  it.effect("get and list read alike on every store, whatever the case of an id; a subject that is not one is refused", () =>
    Effect.gen(function*() {
      const archive = yield* ArchiveStore.ArchiveStore
      const seal = yield* Vault.Vault
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      const sealed = yield* seal.seal(tenant, subject, "archive.invoice", "x")
      const record = yield* archive.put(tenant, { kind: "invoice", subject, sealed })
      const found = yield* archive.get(tenant, record.archiveId.toUpperCase())
      assert.deepStrictEqual(Option.map(found, (r) => r.archiveId), Option.some(record.archiveId))
      assert.isTrue(Option.isNone(yield* archive.get(tenant, null as unknown as string)))
      const refused: ReadonlyArray<readonly [string, () => Effect.Effect<unknown, unknown>]> = [
        ["an address", () => archive.list(tenant, { subject: address as SubjectId.SubjectId })],
        ["an upper-case subject", () => archive.list(tenant, { subject: subject.toUpperCase() as SubjectId.SubjectId })],
        ["null options", () => archive.list(tenant, null as unknown as {})],
        ["options that are a string", () => archive.list(tenant, address as unknown as {})]
      ]
      for (const [what, list] of refused) {
        assertRefused(yield* Effect.exit(Effect.suspend(list)), what)
      }
      assert.deepStrictEqual((yield* archive.list(tenant, { subject })).map((r) => r.archiveId), [record.archiveId])
    }))

  // Review 18e: get and list passed a tenant that is not one to the store: on SQL an address failed
  // the uuid cast (the error's SqlError quoting it) and an upper-case UUID read the tenant's records;
  // in memory both found nothing.
  it.effect("get and list of a tenant that is not one find nothing, alike on every store", () =>
    Effect.gen(function*() {
      const archive = yield* ArchiveStore.ArchiveStore
      const seal = yield* Vault.Vault
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      const record = yield* archive.put(tenant, { kind: "invoice", subject, sealed: yield* seal.seal(tenant, subject, "archive.invoice", "x") })
      for (const [what, other] of [["an address", address], ["an upper-case UUID", tenant.toUpperCase()], ["null", null]] as const) {
        const given = untyped<TenantId.TenantId>(other)
        const found = yield* Effect.exit(archive.get(given, record.archiveId))
        assert.deepStrictEqual(found, Exit.succeed(Option.none()), what)
        assert.deepStrictEqual(yield* Effect.exit(archive.list(given)), Exit.succeed([]), what)
        assert.deepStrictEqual(yield* Effect.exit(archive.list(given, { subject, limit: 10 })), Exit.succeed([]), what)
      }
      // The tenant's own record is found as before.
      assert.isTrue(Option.isSome(yield* archive.get(tenant, record.archiveId)))
      assert.deepStrictEqual((yield* archive.list(tenant)).map((r) => r.archiveId), [record.archiveId])
    }))

  it.effect("archives are deleted when their legal period ends, not before, and held ones stay", () =>
    Effect.gen(function*() {
      const archive = yield* ArchiveStore.ArchiveStore
      const policies = yield* RetentionPolicies
      const sweeper = yield* Sweeper
      const seal = yield* Vault.Vault
      const tenant = yield* TenantId.make
      const [ann, bob] = yield* Effect.all([SubjectId.make, SubjectId.make])
      yield* TestClock.setTime(Date.UTC(2040, 0, 1))
      const payload = (subject: SubjectId.SubjectId) => seal.seal(tenant, subject, "archive.invoice", "x")
      const old = yield* archive.put(tenant, { kind: "invoice", subject: ann, sealed: yield* payload(ann), archivedAt: new Date(Date.UTC(2033, 0, 1)) })
      const recent = yield* archive.put(tenant, { kind: "invoice", subject: ann, sealed: yield* payload(ann), archivedAt: new Date(Date.UTC(2035, 0, 1)) })
      const held = yield* archive.put(tenant, { kind: "invoice", subject: bob, sealed: yield* payload(bob), archivedAt: new Date(Date.UTC(2032, 0, 1)) })
      yield* policies.set(tenant, { [ArchiveStore.targetId]: Duration.days(6 * 365) }, staff)
      const dry = yield* sweeper.dryRun({ tenants: [tenant], categories: [ArchiveStore.targetId] })
      assert.strictEqual(dry.categories[0]!.purged, 2)
      yield* Effect.flatMap(LegalHolds, (holds) =>
        holds.place(tenant, { subject: bob, category: ArchiveStore.targetId, reason: "tax audit" }, staff))
      const result = yield* sweeper.sweep({ tenants: [tenant], categories: [ArchiveStore.targetId] })
      assert.strictEqual(result.categories[0]!.purged, 1)
      const left = (yield* archive.list(tenant)).map((r) => r.archiveId)
      assert.deepStrictEqual(left.sort(), [recent.archiveId, held.archiveId].sort())
      assert.notInclude(left, old.archiveId)
    }))
})

describe("ArchiveStore in a database of its own", () => {
  const main = pgliteLayer
  const separate = ArchiveStore.layerClient(pgliteLayer).pipe(Layer.orDie)
  layer(Layer.merge(main, separate), { timeout: 120_000 })((it) => {
    it.effect("the archive's tables are in the archive database, none in the main one", () =>
      Effect.gen(function*() {
        const archive = yield* ArchiveStore.ArchiveStore
        const sql = yield* SqlClient.SqlClient
        const tenant = yield* TenantId.make
        const record = yield* archive.put(tenant, { kind: "invoice", sealed: Vault.Sealed.make(new Uint8Array([1, 2, 3])) })
        assert.isTrue(Option.isSome(yield* archive.get(tenant, record.archiveId)))
        const schemas = yield* sql<{ n: string | number }>`SELECT count(*) AS n FROM pg_namespace WHERE nspname = 'lawful_archive'`
        assert.strictEqual(Number(schemas[0]!.n), 0)
      }))

    it.effect("called inside a transaction of the main database, the archive still writes and reads its own", () =>
      Effect.gen(function*() {
        const archive = yield* ArchiveStore.ArchiveStore
        const sql = yield* SqlClient.SqlClient
        const tenant = yield* TenantId.make
        // `@effect/sql` hands every client the fibre's open transaction: without care, the archive's
        // statements would run on the main database's connection.
        const record = yield* sql.withTransaction(Effect.gen(function*() {
          const put = yield* archive.put(tenant, { kind: "invoice", sealed: Vault.Sealed.make(new Uint8Array([4, 5])) })
          assert.isTrue(Option.isSome(yield* archive.get(tenant, put.archiveId)))
          assert.strictEqual(yield* archive.storage.count(tenant, { cutoff: new Date("3000-01-01T00:00:00Z"), excludeSubjects: new Set() }), 1)
          return put
        }))
        assert.deepStrictEqual((yield* archive.list(tenant)).map((r) => r.archiveId), [record.archiveId])
        const schemas = yield* sql<{ n: string | number }>`SELECT count(*) AS n FROM pg_namespace WHERE nspname = 'lawful_archive'`
        assert.strictEqual(Number(schemas[0]!.n), 0)
      }))
  })

  it("a malformed ARCHIVE_DATABASE_URL is refused in one line that names it, never the URL", () => {
    for (const url of ["mysql://archive:secret@localhost/db", "postgres:///archive?password=secret", "localhost:5432"]) {
      const exit = Effect.runSyncExit(
        ArchiveStore.archiveDatabaseUrl.pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["ARCHIVE_DATABASE_URL", url]])))
        )
      )
      assert.isTrue(Exit.isFailure(exit), url)
      const message = Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""
      assert.include(message, "ARCHIVE_DATABASE_URL must be a PostgreSQL URL")
      assert.notInclude(message, "secret")
    }
    const socket = Effect.runSync(
      ArchiveStore.archiveDatabaseUrl.pipe(
        Effect.withConfigProvider(
          ConfigProvider.fromMap(new Map([["ARCHIVE_DATABASE_URL", "postgres://archive@/lawful_archive?host=/var/run/postgresql"]]))
        )
      )
    )
    assert.isTrue(Option.isSome(socket))
  })

  const fromConfig = ArchiveStore.layerConfig.pipe(
    Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map()))),
    Layer.orDie
  )
  layer(fromConfig.pipe(Layer.provideMerge(pgliteLayer)), { timeout: 120_000 })((it) => {
    it.effect("without ARCHIVE_DATABASE_URL the archive is the lawful_archive schema of the main database", () =>
      Effect.gen(function*() {
        const archive = yield* ArchiveStore.ArchiveStore
        const sql = yield* SqlClient.SqlClient
        yield* archive.put(yield* TenantId.make, { kind: "invoice", sealed: Vault.Sealed.make(new Uint8Array([1])) })
        const rows = yield* sql<{ n: string | number }>`SELECT count(*) AS n FROM lawful_archive.archives`
        assert.strictEqual(Number(rows[0]!.n), 1)
      }))
  })
})
