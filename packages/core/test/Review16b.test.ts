import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Database from "../src/Database.js"
import { outsideTransaction } from "../src/Database.js"
import { Erasure, KeyStore, KeyStoreError, layerMemory, layerSql } from "../src/KeyStore.js"
import * as MasterKey from "../src/MasterKey.js"
import * as SubjectId from "../src/SubjectId.js"
import * as TenantId from "../src/TenantId.js"
import { contractSuite, sqlSuite } from "../src/testing.js"
import * as Vault from "../src/Vault.js"
import { lineOf, startWith, validKey } from "./fixtures.js"

const withVault = <E, R>(store: Layer.Layer<KeyStore, E, R>) =>
  Vault.layer.pipe(Layer.provideMerge(store), Layer.provideMerge(MasterKey.layerRandom))

const tagOf = <A, E extends { readonly _tag: string }>(result: Either.Either<A, E>) =>
  Either.isLeft(result) ? result.left._tag : "opened"

contractSuite("Review16b: Vault shred and keys held in memory", {
  memory: withVault(layerMemory),
  sql: withVault(layerSql)
}, (it) => {
  it.effect("a subject shredded after it was released is never handed out again, and nothing is sealed for it", () =>
    Effect.gen(function*() {
      const vault = yield* Vault.Vault
      const tenant = yield* TenantId.make
      const subject = yield* vault.newSubject(tenant)
      yield* vault.releaseSubjects(tenant, [subject])
      yield* vault.shred(tenant, subject)
      const next = yield* vault.newSubjects(tenant, 3)
      assert.notInclude(next, subject, "a shredded subject handed out as new")
      assert.strictEqual(tagOf(yield* Effect.either(vault.seal(tenant, subject, "p", "after the shred"))), "SubjectShredded")
      assert.isTrue(yield* vault.isShredded(tenant, subject))
    }))

  it.effect("a subject whose erasure is re-applied while it waits in the pool is never handed out again", () =>
    Effect.gen(function*() {
      const vault = yield* Vault.Vault
      const tenant = yield* TenantId.make
      const subject = yield* vault.newSubject(tenant)
      yield* vault.releaseSubjects(tenant, [subject])
      const erasure = new Erasure({ tenantId: tenant, subjectId: subject, shreddedAt: new Date(0) })
      assert.strictEqual(yield* vault.reapplyErasures([erasure]), 1)
      assert.notInclude(yield* vault.newSubjects(tenant, 3), subject)
      assert.strictEqual(tagOf(yield* Effect.either(vault.seal(tenant, subject, "p", "after the erasure"))), "SubjectShredded")
    }))
})

contractSuite("Review16b: Vault races with shred", { memory: layerMemory, sql: layerSql }, (it) => {
  it.scoped("a seal whose key was read before a shred seals a value that never opens after it", () =>
    Effect.gen(function*() {
      const inner = yield* KeyStore
      const master = yield* MasterKey.MasterKeys.pipe(Effect.provide(MasterKey.layerRandom))
      let pause: { readonly read: Deferred.Deferred<void>; readonly proceed: Deferred.Deferred<void> } | undefined
      const store = KeyStore.of({
        ...inner,
        createSubjectKey: (tenant, subject, key) =>
          Effect.tap(inner.createSubjectKey(tenant, subject, key), () => {
            const paused = pause
            pause = undefined
            return paused ? Effect.zipRight(Deferred.succeed(paused.read, undefined), Deferred.await(paused.proceed)) : Effect.void
          })
      })
      const vaultOf = Vault.make().pipe(Effect.provideService(KeyStore, store), Effect.provideService(MasterKey.MasterKeys, master))
      const vault = yield* vaultOf
      const tenant = yield* TenantId.make
      yield* vault.prepare(tenant, 0)
      const subject = yield* SubjectId.make
      pause = { read: yield* Deferred.make<void>(), proceed: yield* Deferred.make<void>() }
      const { proceed, read } = pause
      const sealing = yield* Effect.fork(vault.seal(tenant, subject, "p", "sealed during the shred"))
      yield* Deferred.await(read)
      yield* vault.shred(tenant, subject)
      yield* Deferred.succeed(proceed, undefined)
      const sealed = yield* Fiber.join(sealing)
      assert.strictEqual(tagOf(yield* Effect.either(vault.open(tenant, subject, "p", sealed))), "SubjectShredded")
      assert.strictEqual(tagOf(yield* Effect.either((yield* vaultOf).open(tenant, subject, "p", sealed))), "SubjectShredded")
      assert.strictEqual(tagOf(yield* Effect.either(vault.seal(tenant, subject, "p", "after"))), "SubjectShredded")
    }))

  // Documented: a process sees another's shred when its cached key expires (`cacheTtl`).
  it.scoped("another Vault on the same keys sees a shred at the latest when its cached key expires", () =>
    Effect.gen(function*() {
      const store = yield* KeyStore
      const master = yield* MasterKey.MasterKeys.pipe(Effect.provide(MasterKey.layerRandom))
      const vaultOf = Vault.make({ cacheTtl: "30 seconds" }).pipe(
        Effect.provideService(KeyStore, store),
        Effect.provideService(MasterKey.MasterKeys, master)
      )
      const here = yield* vaultOf
      const there = yield* vaultOf
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      const sealed = yield* here.seal(tenant, subject, "p", "x")
      assert.strictEqual(yield* there.openString(tenant, subject, "p", sealed), "x")
      yield* here.shred(tenant, subject)
      assert.isTrue(yield* there.isShredded(tenant, subject), "isShredded always reads the store")
      yield* TestClock.adjust("30 seconds")
      assert.strictEqual(tagOf(yield* Effect.either(there.open(tenant, subject, "p", sealed))), "SubjectShredded")
      assert.strictEqual(tagOf(yield* Effect.either(there.seal(tenant, subject, "p", "y"))), "SubjectShredded")
    }))
})

contractSuite("Review16b: Vault erasure ledger re-applied", { memory: layerMemory, sql: layerSql }, (it) => {
  it.scoped("re-applying a ledger shreds every listed subject, kept by the backup or not, once", () =>
    Effect.gen(function*() {
      const store = yield* KeyStore
      const master = yield* MasterKey.MasterKeys.pipe(Effect.provide(MasterKey.layerRandom))
      const vaultOf = Vault.make().pipe(Effect.provideService(KeyStore, store), Effect.provideService(MasterKey.MasterKeys, master))
      const vault = yield* vaultOf
      const tenant = yield* TenantId.make
      // In the backup with its key; in the backup already shredded; never in the backup.
      const [kept, alreadyShredded, absent] = yield* Effect.all([SubjectId.make, SubjectId.make, SubjectId.make])
      const sealed = yield* vault.seal(tenant, kept, "p", "restored")
      yield* vault.seal(tenant, alreadyShredded, "p", "x")
      yield* vault.shred(tenant, alreadyShredded)
      const at = new Date("2026-01-02T03:04:05.678Z")
      const ledger = [kept, alreadyShredded, absent].map((subjectId) => new Erasure({ tenantId: tenant, subjectId, shreddedAt: at }))
      // A process whose cache holds the restored key.
      assert.strictEqual(yield* vault.openString(tenant, kept, "p", sealed), "restored")
      assert.strictEqual(yield* vault.reapplyErasures(ledger), 2)
      assert.strictEqual(yield* vault.reapplyErasures(ledger), 0)
      for (const subject of [kept, alreadyShredded, absent]) assert.isTrue(yield* vault.isShredded(tenant, subject))
      assert.strictEqual(tagOf(yield* Effect.either(vault.open(tenant, kept, "p", sealed))), "SubjectShredded")
      assert.strictEqual(tagOf(yield* Effect.either(vault.seal(tenant, absent, "p", "x"))), "SubjectShredded")
      const erased = yield* (yield* vaultOf).erasures(tenant)
      assert.sameMembers(erased.map((e) => e.subjectId), [kept, alreadyShredded, absent])
    }))
})

sqlSuite("Review16b: Vault shred inside a transaction", withVault(layerSql), (it, backend) => {
  it.scoped("a shred rolled back with its transaction shreds nothing, and the subject still opens", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const vault = yield* Vault.Vault
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      const sealed = yield* vault.seal(tenant, subject, "p", "keep me")
      yield* sql.withTransaction(Effect.zipRight(vault.shred(tenant, subject), Effect.fail("rolled back"))).pipe(Effect.flip)
      assert.strictEqual(yield* vault.openString(tenant, subject, "p", sealed), "keep me")
      assert.strictEqual(yield* vault.openString(tenant, subject, "p", sealed), "keep me")
      assert.isFalse(yield* vault.isShredded(tenant, subject))
      assert.deepStrictEqual(yield* vault.erasures(tenant), [])
    }))

  // PGlite has one session: a read outside the transaction would wait for it to end.
  if (backend !== "postgres") return
  it.scoped("a key read while a shred's transaction is open is not cached: once it commits the subject no longer opens", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const vault = yield* Vault.Vault
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      const sealed = yield* vault.seal(tenant, subject, "p", "erase me")
      // Another request of this process reads the subject on another connection meanwhile.
      yield* sql.withTransaction(Effect.gen(function*() {
        yield* vault.shred(tenant, subject)
        assert.strictEqual(yield* outsideTransaction(vault.openString(tenant, subject, "p", sealed)), "erase me")
        const [openedAll] = yield* outsideTransaction(vault.openAll(tenant, [{ subject, purpose: "p", sealed }]))
        assert.isTrue(Either.isRight(openedAll!))
      }))
      assert.strictEqual(tagOf(yield* Effect.either(vault.open(tenant, subject, "p", sealed))), "SubjectShredded")
      assert.strictEqual(tagOf(yield* Effect.either(vault.seal(tenant, subject, "p", "again"))), "SubjectShredded")
    }))
})

// Rotation re-wraps every tenant key of the store: each suite has a store of its own.
const rotationFixture = Effect.gen(function*() {
  const inner = yield* KeyStore
  const keyA = MasterKey.generate()
  const keyB = MasterKey.generate()
  let failReplaceAfter = Number.POSITIVE_INFINITY
  let replaced = 0
  let beforeReplace: Effect.Effect<void> = Effect.void
  const store = KeyStore.of({
    ...inner,
    replaceTenantKey: (tenant, previous, next) =>
      Effect.suspend(() =>
        replaced++ >= failReplaceAfter
          ? Effect.fail(new KeyStoreError({ operation: "replaceTenantKey", cause: new Error("connection lost") }))
          : Effect.zipRight(beforeReplace, inner.replaceTenantKey(tenant, previous, next))
      )
  })
  const vaultWith = (...keys: [Redacted.Redacted<string>, ...Array<Redacted.Redacted<string>>]) =>
    Vault.make().pipe(Effect.provideService(KeyStore, store), Effect.provide(MasterKey.layer(...keys)))
  const sealFor = (vault: Vault.Vault["Type"], tenant: TenantId.TenantId) =>
    Effect.gen(function*() {
      const subject = yield* SubjectId.make
      return {
        tenant,
        subject,
        sealed: yield* vault.seal(tenant, subject, "p", `secret of ${tenant}`),
        index: yield* vault.blindIndex(tenant, "d", "ann@example.com")
      }
    })
  const allOpen = (vault: Vault.Vault["Type"], written: ReadonlyArray<Effect.Effect.Success<ReturnType<typeof sealFor>>>) =>
    Effect.forEach(written, ({ index, sealed, subject, tenant }) =>
      Effect.gen(function*() {
        const opened = yield* Effect.either(vault.openString(tenant, subject, "p", sealed))
        const found = yield* Effect.either(vault.findBlindIndex(tenant, "d", "ann@example.com"))
        return Either.isRight(opened) && opened.right === `secret of ${tenant}` &&
          Either.isRight(found) && Option.getOrUndefined(found.right) === index
      }))
  return {
    keyA,
    keyB,
    vaultWith,
    sealFor,
    allOpen,
    failReplacesAfter: (n: number) => {
      replaced = 0
      failReplaceAfter = n
    },
    onReplace: (effect: Effect.Effect<void>) => (beforeReplace = effect)
  }
})

contractSuite("Review16b: master-key rotation interrupted", { memory: layerMemory, sql: layerSql }, (it) => {
  it.scoped("a rotation interrupted half-way leaves every key openable under old and new, and finishes when run again", () =>
    Effect.gen(function*() {
      const { allOpen, failReplacesAfter, keyA, keyB, sealFor, vaultWith } = yield* rotationFixture
      const before = yield* vaultWith(keyA)
      const written = yield* Effect.forEach(yield* Effect.all(Array.from({ length: 6 }, () => TenantId.make)), (tenant) =>
        sealFor(before, tenant))

      failReplacesAfter(3)
      const rotating = yield* vaultWith(keyB, keyA)
      const failed = yield* Effect.either(rotating.rotateMasterKey)
      assert.isTrue(Either.isLeft(failed), "the rotation was interrupted")
      failReplacesAfter(Number.POSITIVE_INFINITY)
      // Restarts: with both keys every tenant opens, half of them wrapped by each.
      assert.deepStrictEqual(yield* allOpen(yield* vaultWith(keyB, keyA), written), written.map(() => true))
      assert.deepStrictEqual(yield* allOpen(yield* vaultWith(keyA, keyB), written), written.map(() => true))
      const newOnly = yield* allOpen(yield* vaultWith(keyB), written)
      assert.strictEqual(newOnly.filter(Boolean).length, 3, "three tenants were re-wrapped before the failure")

      assert.deepStrictEqual(yield* (yield* vaultWith(keyB, keyA)).rotateMasterKey, { rewrapped: 3, skipped: [] })
      assert.deepStrictEqual(yield* allOpen(yield* vaultWith(keyB), written), written.map(() => true))
    }))
})

contractSuite("Review16b: master-key rotation beside new tenants", { memory: layerMemory, sql: layerSql }, (it) => {
  it.scoped("tenants made during a rotation, by processes on either key, are all wrapped by the new key when it ends", () =>
    Effect.gen(function*() {
      const { allOpen, keyA, keyB, onReplace, sealFor, vaultWith } = yield* rotationFixture
      const old = yield* vaultWith(keyA)
      const written = yield* Effect.forEach(yield* Effect.all(Array.from({ length: 3 }, () => TenantId.make)), (tenant) =>
        sealFor(old, tenant))
      const rotating = yield* vaultWith(keyB, keyA)
      // While the first page is re-wrapped, a process still on the old key and the rotating one
      // both make tenants.
      let once = true
      onReplace(Effect.suspend(() => {
        if (!once) return Effect.void
        once = false
        return Effect.gen(function*() {
          written.push(yield* sealFor(old, yield* TenantId.make))
          written.push(yield* sealFor(rotating, yield* TenantId.make))
        }).pipe(Effect.orDie)
      }))
      const { rewrapped } = yield* rotating.rotateMasterKey
      assert.strictEqual(rewrapped, 4)
      assert.deepStrictEqual(yield* allOpen(yield* vaultWith(keyB), written), written.map(() => true))
    }))
})

describe("Review16b: start-up configuration", () => {
  const refused: Record<string, string> = {
    "base64url": "q83vEjRWeJASNFZ4kBI0VniQEjRWeJASNFZ4kBI0Vng".replace("q", "-").replace("J", "_") + "=",
    "base64url without padding": validKey.slice(0, -1).replace("q", "-"),
    "16 bytes": "q83vEjRWeJASNFZ4kBI0Vg==",
    "48 bytes": `${validKey.slice(0, -1)}Aq83vEjRWeJASNFZ4kBI0Vng`,
    "a space inside": `${validKey.slice(0, 20)} ${validKey.slice(20)}`,
    "a line break inside": `${validKey.slice(0, 20)}\n${validKey.slice(20)}`,
    "hex": "ab".repeat(32)
  }
  for (const [name, malformed] of Object.entries(refused)) {
    it(`a master key given as ${name} is refused in one line naming the variable, never echoing it`, () => {
      for (const variable of ["LAWFUL_MASTER_KEY", "LAWFUL_MASTER_KEY_PREVIOUS"]) {
        const line = lineOf(startWith({ LAWFUL_MASTER_KEY: validKey, [variable]: malformed }))
        assert.match(line, new RegExp(`^Configuration error: ${variable} must be 32 random bytes in base64`))
        assert.notInclude(line, malformed.trim())
        assert.notInclude(line, "\n")
        assert.notInclude(line, "    at ")
      }
    })
  }

  it("a master key with a trailing line break or spaces around it is accepted, as read from a file", () => {
    assert.isTrue(Exit.isSuccess(startWith({ LAWFUL_MASTER_KEY: `${validKey}\n` })))
    assert.isTrue(Exit.isSuccess(startWith({ LAWFUL_MASTER_KEY: ` ${validKey} `, LAWFUL_MASTER_KEY_PREVIOUS: ` ${validKey} ,${validKey}\r\n` })))
  })

  for (const url of ["postgres://lawful:secret@db:5432/lawful\n", "postgres://lawful:secret@db:5432/law\tful", "postgres://lawful:secret@db\n:5432/lawful"]) {
    it(`a DATABASE_URL holding a control character (${JSON.stringify(url.replace("secret", "…"))}) is refused in one line`, () => {
      const line = lineOf(startWith({ LAWFUL_MASTER_KEY: validKey, DATABASE_URL: url }))
      assert.match(line, /^Configuration error: DATABASE_URL must be a PostgreSQL URL/)
      assert.notInclude(line, "secret")
      assert.notInclude(line, "\n")
    })
  }

  it.effect("an unreachable database whose name holds an encoded line break is still one line", () =>
    Effect.gen(function*() {
      const url = Redacted.make("postgres://lawful:secret@127.0.0.1:1/law%0Aful")
      const line = lineOf(yield* Layer.build(Database.layerPostgres(url)).pipe(Effect.scoped, Effect.exit))
      assert.include(line, "127.0.0.1:1/law")
      assert.notInclude(line, "\n")
      assert.notInclude(line, "secret")
    }))
})
