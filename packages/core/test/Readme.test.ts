// The README's example, run as the README shows it: on PGlite in a fresh directory, with a random master key.
import { assert, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { readmeShows } from "../src/testing.js"

// readme:start example
import { Database, KeyStore, MasterKey, PersonalDataRegistry, SubjectDirectory, TenantId, Vault } from "@lawful/core"
import { Effect, Layer } from "effect"

const layer = SubjectDirectory.personalDataSource.pipe(
  Layer.provideMerge(SubjectDirectory.layerSql),
  Layer.provideMerge(PersonalDataRegistry.layer),
  Layer.provideMerge(Vault.layer),
  Layer.provide(KeyStore.layerSql),
  Layer.provide(MasterKey.layerConfig),
  Layer.provide(Database.layer)
)

const program = Effect.gen(function*() {
  const directory = yield* SubjectDirectory.SubjectDirectory
  const vault = yield* Vault.Vault
  const registry = yield* PersonalDataRegistry.PersonalDataRegistry
  const tenant = yield* TenantId.make

  const subject = yield* directory.resolve(tenant, " Ann@Example.com ")
  const imported = yield* directory.resolveAll(tenant, ["bob@example.com", "ANN@example.com"]) // [bob, subject]
  const ip = yield* vault.seal(tenant, subject, "consent.ip", "203.0.113.7")

  const access = yield* registry.exportAll(tenant, subject) // one outcome per registered source
  const erasure = yield* registry.eraseAll(tenant, subject) // a failing source is reported, not hidden
  yield* vault.shred(tenant, subject) // `ip`, in every backup too, no longer opens
  // readme:end example

  // What the comments above claim. Case and spaces aside, Ann's two addresses are one subject.
  assert.strictEqual(imported.length, 2)
  const [bob, ann] = imported
  assert.strictEqual(ann, subject)
  assert.notStrictEqual(bob, subject)

  // One outcome per registered source: here the directory, the only source the layer registers.
  const sources = (yield* registry.sources).map((source) => source.name)
  assert.deepStrictEqual(sources, [SubjectDirectory.sourceName])
  assert.deepStrictEqual(access.outcomes.map((outcome) => outcome.source), sources)
  const [exported] = access.outcomes
  assert(exported?._tag === "SourceSucceeded")
  assert.deepStrictEqual(exported.result.records.map((record) => record.fields), [{ email: "ann@example.com" }])

  // Erasure, reported per source: the directory forgot Ann and kept Bob.
  assert.deepStrictEqual(erasure.outcomes.map((outcome) => outcome.source), sources)
  assert.deepStrictEqual(erasure.failures, [])
  const [erased] = erasure.outcomes
  assert(erased?._tag === "SourceSucceeded")
  assert.strictEqual(erased.result.erased, 1)
  assert.isTrue(Option.isNone(yield* directory.find(tenant, "ann@example.com")))
  assert.deepStrictEqual(yield* directory.find(tenant, "bob@example.com"), Option.some(bob!))

  // Shredded: what was sealed for Ann no longer opens.
  const opened = yield* Effect.flip(vault.open(tenant, subject, "consent.ip", ip))
  assert.strictEqual(opened._tag, "SubjectShredded")
  // Nor in a restored backup: the erasure ledger lists the subject, to shred again (reapplyErasures).
  assert.deepStrictEqual((yield* vault.erasures(tenant)).map((erasure) => erasure.subjectId), [subject])
})

// What the README runs as `Effect.runPromise(program.pipe(Effect.provide(layer)))`, with the
// configuration it reads: no DATABASE_URL, so PGlite in LAWFUL_DATA_DIR.
it.scoped("the README's example resolves, seals, exports, erases and shreds a subject", () =>
  Effect.gen(function*() {
    const dataDir = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "lawful-core-readme-"))),
      (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
    )
    const config = ConfigProvider.fromMap(
      new Map([
        ["LAWFUL_DATA_DIR", dataDir],
        ["LAWFUL_MASTER_KEY", Redacted.value(MasterKey.generate())]
      ])
    )
    yield* program.pipe(Effect.provide(layer), Effect.withConfigProvider(config))
  }))

it("the README shows the examples as the tests run them", () => {
  for (const name of ["example"]) {
    assert.deepStrictEqual(readmeShows(new URL("../README.md", import.meta.url), new URL(import.meta.url), name), {
      ok: true
    })
  }
})
