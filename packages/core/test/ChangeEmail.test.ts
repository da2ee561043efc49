import { assert } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { randomBytes } from "node:crypto"
import * as KeyStore from "../src/KeyStore.js"
import * as SubjectDirectory from "../src/SubjectDirectory.js"
import type * as SubjectId from "../src/SubjectId.js"
import * as TenantId from "../src/TenantId.js"
import { contractSuite, sqlSuite } from "../src/testing.js"
import * as Vault from "../src/Vault.js"
import { withVault } from "./SubjectDirectoryLayers.js"

// Every address the directory seals for a subject, counted per subject: a change of address
// seals the new one, a change to the address the subject has seals nothing.
const seals = new Map<string, number>()
const sealsOf = (subject: SubjectId.SubjectId) => seals.get(subject) ?? 0

const countingSeals = Layer.effect(
  Vault.Vault,
  Effect.map(Vault.Vault, (vault) =>
    Vault.Vault.of({
      ...vault,
      seal: (tenant, subject, purpose, plaintext) =>
        Effect.suspend(() => {
          seals.set(subject, sealsOf(subject) + 1)
          return vault.seal(tenant, subject, purpose, plaintext)
        })
    }))
)

const layers = {
  memory: withVault(SubjectDirectory.layerMemory.pipe(Layer.provide(countingSeals)), KeyStore.layerMemory),
  sql: withVault(SubjectDirectory.layerSql.pipe(Layer.provide(countingSeals)), KeyStore.layerSql)
}

contractSuite("SubjectDirectory.changeEmail", layers, (it) => {
  it.effect("changeEmail answers false and seals nothing for the address the subject has, in any spelling; true for another", () =>
    Effect.gen(function*() {
      const directory = yield* SubjectDirectory.SubjectDirectory
      const tenant = yield* TenantId.make
      const subject = yield* directory.resolve(tenant, "Sara@Example.com")
      const before = yield* directory.entryOf(tenant, subject)

      for (const email of ["sara@example.com", "Sara@Example.com", "  SARA@EXAMPLE.COM\t", "\u00a0sara@example.COM "]) {
        assert.isFalse(yield* directory.changeEmail(tenant, subject, email), email)
      }
      assert.strictEqual(sealsOf(subject), 0)
      assert.deepStrictEqual(yield* directory.entryOf(tenant, subject), before)
      assert.deepStrictEqual(yield* directory.find(tenant, "sara@example.com"), Option.some(subject))

      assert.isTrue(yield* directory.changeEmail(tenant, subject, " Sara.New@example.com"))
      assert.strictEqual(sealsOf(subject), 1)
      assert.strictEqual(yield* directory.emailOf(tenant, subject), "sara.new@example.com")
      assert.isFalse(yield* directory.changeEmail(tenant, subject, "SARA.NEW@example.com"))
      assert.strictEqual(sealsOf(subject), 1)
      assert.isTrue(yield* directory.changeEmail(tenant, subject, "sara@example.com"))
      assert.strictEqual(sealsOf(subject), 2)
      assert.strictEqual(yield* directory.emailOf(tenant, subject), "sara@example.com")
      assert.isTrue(Option.isNone(yield* directory.find(tenant, "sara.new@example.com")))
    }))

  it.effect("of two concurrent changes of a subject to one new address, one changes it and the other finds it changed", () =>
    Effect.gen(function*() {
      const directory = yield* SubjectDirectory.SubjectDirectory
      const tenant = yield* TenantId.make
      const subject = yield* directory.resolve(tenant, "tess@example.com")
      const answers = yield* Effect.all([
        directory.changeEmail(tenant, subject, "tess.new@example.com"),
        directory.changeEmail(tenant, subject, "TESS.NEW@example.com")
      ], { concurrency: "unbounded" })
      assert.deepStrictEqual([...answers].sort(), [false, true])
      assert.strictEqual(yield* directory.emailOf(tenant, subject), "tess.new@example.com")
    }))

  it.effect("the directory's source rectifies with one change of address, answering whether it changed", () =>
    Effect.gen(function*() {
      const directory = yield* SubjectDirectory.SubjectDirectory
      const tenant = yield* TenantId.make
      const subject = yield* directory.resolve(tenant, "uma@example.com")
      const calls: Array<string> = []
      const source = SubjectDirectory.makeSource({
        ...directory,
        entryOf: () => Effect.dieMessage("a rectification reads no entry"),
        emailOf: () => Effect.dieMessage("a rectification opens no address"),
        changeEmail: (tenant, subject, email) =>
          Effect.suspend(() => {
            calls.push(email)
            return directory.changeEmail(tenant, subject, email)
          })
      })
      assert.deepStrictEqual(yield* source.rectify(tenant, subject, { email: " UMA@example.com" }), { rectified: 0 })
      assert.deepStrictEqual(yield* source.rectify(tenant, subject, { email: "uma.new@example.com" }), { rectified: 1 })
      assert.deepStrictEqual(calls, [" UMA@example.com", "uma.new@example.com"])
      assert.strictEqual(sealsOf(subject), 1)
    }))
})

// The rows themselves: a change to the address the subject has rewrites nothing.
sqlSuite("SubjectDirectory.changeEmail storage", layers.sql, (it) => {
  const rowOf = (tenant: TenantId.TenantId, subject: SubjectId.SubjectId) =>
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      sql<{ email_index: string; email_sealed: Uint8Array }>`
        SELECT email_index, email_sealed FROM lawful_subjects WHERE tenant_id = ${tenant} AND subject_id = ${subject}`.pipe(
        Effect.map((rows) => ({ index: rows[0]!.email_index, sealed: Buffer.from(rows[0]!.email_sealed).toString("hex") }))
      ))

  it.effect("the same address in another spelling leaves the row's index and sealed bytes as they were", () =>
    Effect.gen(function*() {
      const directory = yield* SubjectDirectory.SubjectDirectory
      const tenant = yield* TenantId.make
      const subject = yield* directory.resolve(tenant, "vic@example.com")
      const before = yield* rowOf(tenant, subject)
      assert.isFalse(yield* directory.changeEmail(tenant, subject, " VIC@Example.com "))
      assert.deepStrictEqual(yield* rowOf(tenant, subject), before)
      assert.isTrue(yield* directory.changeEmail(tenant, subject, "vic.new@example.com"))
      const after = yield* rowOf(tenant, subject)
      assert.notStrictEqual(after.index, before.index)
      assert.notStrictEqual(after.sealed, before.sealed)
    }))

  it.effect("a stored address that no longer opens is replaced by another, and sealed again by the same one", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const directory = yield* SubjectDirectory.SubjectDirectory
      const tenant = yield* TenantId.make
      const subject = yield* directory.resolve(tenant, "wes@example.com")
      const garbage = randomBytes(48)
      yield* sql`UPDATE lawful_subjects SET email_sealed = ${garbage} WHERE tenant_id = ${tenant} AND subject_id = ${subject}`
      assert.strictEqual((yield* Effect.flip(directory.emailOf(tenant, subject)))._tag, "SealedValueInvalid")
      const unreadable = yield* rowOf(tenant, subject)

      // Equal blind indexes: the same address, its stored value sealed again under the same index.
      assert.isTrue(yield* directory.changeEmail(tenant, subject, "WES@example.com"))
      const resealed = yield* rowOf(tenant, subject)
      assert.strictEqual(resealed.index, unreadable.index)
      assert.notStrictEqual(resealed.sealed, unreadable.sealed)
      assert.strictEqual(yield* directory.emailOf(tenant, subject), "wes@example.com")
      assert.isFalse(yield* directory.changeEmail(tenant, subject, "wes@example.com"))
      assert.deepStrictEqual(yield* rowOf(tenant, subject), resealed)

      yield* sql`UPDATE lawful_subjects SET email_sealed = ${garbage} WHERE tenant_id = ${tenant} AND subject_id = ${subject}`
      const source = SubjectDirectory.makeSource(directory)
      assert.deepStrictEqual(yield* source.rectify(tenant, subject, { email: "wes.new@example.com" }), { rectified: 1 })
      assert.strictEqual(yield* directory.emailOf(tenant, subject), "wes.new@example.com")
    }))
})
