/**
 * `pnpm start`: Lawful's packages on the embedded database, step by step.
 * (The reference server replaces this example when it lands.)
 *
 * Data lives in LAWFUL_DATA_DIR (default ./.lawful). Without LAWFUL_MASTER_KEY a
 * development key is made once and kept beside the data: never do that in production.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Database, MasterKey, PersonalDataRegistry, Startup, SubjectDirectory, TenantId, Vault, KeyStore } from "@lawful/core"
import { Config, Console, Effect, Either, Layer, Option, Redacted } from "effect"
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"

// The development key in `file`, made on the first run. It needs the database, so that it is
// written only once the database has opened: a database that cannot be reached leaves no key.
const developmentMasterKey = (file: string) =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      yield* SqlClient.SqlClient
      if (!existsSync(file)) {
        mkdirSync(dirname(file), { recursive: true })
        writeFileSync(file, Redacted.value(MasterKey.generate()), { mode: 0o600 })
        chmodSync(file, 0o600)
      }
      yield* Console.log(`LAWFUL_MASTER_KEY is not set: using the development key in ${file}`)
      return MasterKey.layer(Redacted.make(readFileSync(file, "utf8")))
    })
  )

// Every setting is read first: a malformed one (LAWFUL_MASTER_KEY, DATABASE_URL, LAWFUL_DATA_DIR)
// stops start-up in one line before the database is opened (or the embedded one created) and
// before a development key is made, so that nothing is written.
const platform = Layer.unwrapEffect(
  Effect.gen(function*() {
    const configured = yield* Config.option(Config.redacted("LAWFUL_MASTER_KEY"))
    const keyring = Option.isSome(configured) ? Option.some(yield* MasterKey.config) : Option.none()
    const url = yield* Database.databaseUrl
    // Where the embedded database, or else only the development key, is kept.
    const dataDir = Option.isNone(url) || Option.isNone(keyring) ? yield* Database.dataDir : ""
    const masterKey = Option.match(keyring, {
      onSome: (keyring) => Layer.succeed(MasterKey.MasterKeys, keyring),
      onNone: () => developmentMasterKey(join(dataDir, "dev-master-key"))
    })
    return SubjectDirectory.personalDataSource.pipe(
      Layer.provideMerge(SubjectDirectory.layerSql),
      Layer.provideMerge(PersonalDataRegistry.layer),
      Layer.provideMerge(Vault.layer),
      Layer.provide(KeyStore.layerSql),
      Layer.provide(masterKey),
      Layer.provide(Database.layer)
    )
  })
)

// One demo tenant, the same on every run.
const demoTenant = TenantId.TenantId.make("00000000-0000-7000-8000-00000000d3e0")

const program = Effect.gen(function*() {
  const directory = yield* SubjectDirectory.SubjectDirectory
  const vault = yield* Vault.Vault
  const registry = yield* PersonalDataRegistry.PersonalDataRegistry

  yield* Console.log(`Database: ${process.env.DATABASE_URL ? "PostgreSQL (DATABASE_URL)" : `PGlite in ${yield* Database.dataDir}`}`)
  yield* Console.log(`Demo tenant: ${demoTenant}`)

  const subject = yield* directory.resolve(demoTenant, "  Ann.Lee@Example.COM ")
  const again = yield* directory.resolve(demoTenant, "ann.lee@example.com")
  yield* Console.log(`1. "  Ann.Lee@Example.COM " and "ann.lee@example.com" resolve to one subject: ${subject} (${subject === again ? "same" : "DIFFERENT"})`)

  const note = yield* vault.seal(demoTenant, subject, "demo.note", "prefers the weekly digest")
  yield* Console.log(`2. A personal field sealed with the subject's key: ${note.length} bytes of AES-256-GCM`)
  yield* Console.log(`   and opened again: "${yield* vault.openString(demoTenant, subject, "demo.note", note)}"`)

  const exported = yield* registry.exportAll(demoTenant, subject)
  for (const outcome of exported.outcomes) {
    yield* Console.log(`3. Access request, source ${outcome.source}: ${outcome._tag === "SourceSucceeded" ? JSON.stringify(outcome.result.records) : `failed (${outcome.error.message})`}`)
  }

  const erased = yield* registry.eraseAll(demoTenant, subject)
  yield* vault.shred(demoTenant, subject)
  yield* Console.log(`4. Erasure: ${erased.outcomes.map((o) => `${o.source} ${o._tag === "SourceSucceeded" ? `erased ${o.result.erased}` : "FAILED"}`).join(", ")}; subject key shredded`)

  const afterwards = yield* Effect.either(vault.openString(demoTenant, subject, "demo.note", note))
  yield* Console.log(`5. The sealed note, backups included, no longer opens: ${Either.isLeft(afterwards) ? afterwards.left._tag : "STILL OPENS"}`)
  const found = yield* directory.find(demoTenant, "ann.lee@example.com")
  yield* Console.log(`6. The address is no longer in the directory: ${Option.isNone(found) ? "not found" : "STILL FOUND"}`)
  yield* Console.log(`7. The erasure ledger of the tenant holds ${(yield* vault.erasures(demoTenant)).length} subject(s)`)
})

Startup.run(program.pipe(Effect.provide(platform)))
