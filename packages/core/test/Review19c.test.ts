/**
 * Review 19c: start-up lines that say what to do. A setting's own message for a missing value
 * (the variable and the form it expects) was dropped for a bare "is not set", and a master key
 * that wraps none of the stored tenant keys stopped start-up with a reason code; each with the
 * test that failed before its fix.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as KeyStore from "../src/KeyStore.js"
import * as MasterKey from "../src/MasterKey.js"
import * as Startup from "../src/Startup.js"
import * as TenantId from "../src/TenantId.js"
import { contractSuite } from "../src/testing.js"
import * as Vault from "../src/Vault.js"
import { lineOf } from "./fixtures.js"
import { idOf, sealFor, vaultOn } from "./RotationFixture.js"

const variable = "LAWFUL_REVIEW19C_SECRET"
const form = "the base64 encoding of 32 random bytes (`openssl rand -base64 32`)"

// A required secret as audit-trail's Checkpoint.signingKeyConfig reads one: its own message names
// the variable and the form when it is missing.
const secretConfig = Config.option(Config.redacted(variable)).pipe(
  Config.mapOrFail(Option.match({
    onNone: () => Either.left(ConfigError.MissingData([variable], `${variable} is not set: it must be ${form}`)),
    onSome: (value) =>
      Buffer.from(Redacted.value(value), "base64").length === 32
        ? Either.right(value)
        : Either.left(ConfigError.InvalidData([variable], `${variable} must be ${form}`))
  }))
)

const lineReading = <A>(config: Config.Config<A>, env: Record<string, string> = {}) =>
  Effect.map(
    Effect.exit(Effect.withConfigProvider(config, ConfigProvider.fromMap(new Map(Object.entries(env))))),
    lineOf
  )

describe("Review19c: a missing setting", () => {
  it.effect("a setting whose message names the variable and its form keeps that message", () =>
    Effect.gen(function*() {
      const line = yield* lineReading(secretConfig)
      assert.strictEqual(line, `Configuration error: ${variable} is not set: it must be ${form}`)
    }))

  it.effect("a message that gives the form without naming the variable follows the variable's name", () =>
    Effect.gen(function*() {
      const config = Config.option(Config.string("LAWFUL_REVIEW19C_DIR")).pipe(
        Config.mapOrFail(Option.match({
          onNone: () => Either.left(ConfigError.MissingData(["LAWFUL_REVIEW19C_DIR"], "it must be the path of a directory")),
          onSome: Either.right
        }))
      )
      const line = yield* lineReading(config)
      assert.strictEqual(line, "Configuration error: LAWFUL_REVIEW19C_DIR is not set: it must be the path of a directory")
    }))

  it.effect("a plain missing setting is named, without the config provider's wording", () =>
    Effect.gen(function*() {
      const line = yield* lineReading(Config.string("LAWFUL_REVIEW19C_PLAIN"))
      assert.strictEqual(line, "Configuration error: LAWFUL_REVIEW19C_PLAIN is not set")
      // From the environment, as start-up reads it, the same.
      const fromEnv = lineOf(
        yield* Effect.exit(Effect.withConfigProvider(Config.string("LAWFUL_REVIEW19C_PLAIN"), ConfigProvider.fromEnv()))
      )
      assert.strictEqual(fromEnv, "Configuration error: LAWFUL_REVIEW19C_PLAIN is not set")
    }))

  it("a message naming a longer variable does not count as naming this one", () => {
    const line = Startup.describeFailure(
      Cause.fail(ConfigError.InvalidData(["LAWFUL_REVIEW19C_KEY"], "LAWFUL_REVIEW19C_KEY_PREVIOUS must be set with it"))
    )
    assert.strictEqual(line, "Configuration error: LAWFUL_REVIEW19C_KEY: LAWFUL_REVIEW19C_KEY_PREVIOUS must be set with it")
  })

  it.effect("a malformed secret is still refused with its form, never echoed", () =>
    Effect.gen(function*() {
      const line = yield* lineReading(secretConfig, { [variable]: "hunter2-not-a-key" })
      assert.strictEqual(line, `Configuration error: ${variable} must be ${form}`)
      assert.notInclude(line, "hunter2")
    }))
})

// Start-up as the quickstart builds it: Vault.layer over a key store that already holds tenant
// keys, its master keys read from configuration, and a first operation on an existing tenant.
const stores = { memory: KeyStore.layerMemory, sql: KeyStore.layerSql }

contractSuite("Review19c: start-up on a master key that wraps none of the stored keys", stores, (it) => {
  it.scoped("the line names LAWFUL_MASTER_KEY and LAWFUL_MASTER_KEY_PREVIOUS and says what to do, never a key", () =>
    Effect.gen(function*() {
      const store = yield* KeyStore.KeyStore
      const [inService, other] = [MasterKey.generate(), MasterKey.generate()]
      const written = yield* sealFor(yield* vaultOn(store, {}, inService), yield* TenantId.make)

      const exit = yield* Effect.gen(function*() {
        const vault = yield* Vault.Vault
        return yield* vault.openString(written.tenant, written.subject, "p", written.sealed)
      }).pipe(
        Effect.provide(Vault.layer.pipe(Layer.provide(MasterKey.layerConfig), Layer.provide(Layer.succeed(KeyStore.KeyStore, store)))),
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["LAWFUL_MASTER_KEY", Redacted.value(other)]]))),
        Effect.exit
      )
      const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
      assert.strictEqual(Option.isSome(failure) && (failure.value as { readonly _tag?: string })._tag, "KeyUnavailable")
      const line = lineOf(exit)
      assert.include(line, written.tenant)
      assert.include(line, "not configured")
      assert.include(line, "set LAWFUL_MASTER_KEY to the key in service")
      assert.include(line, "LAWFUL_MASTER_KEY_PREVIOUS")
      assert.include(line, "docs/operations.md")
      for (const key of [inService, other]) {
        assert.notInclude(line, Redacted.value(key))
      }
      assert.notInclude(line, "\n")

      // The key in service, or the other with it as previous, opens it.
      for (const env of [{ LAWFUL_MASTER_KEY: Redacted.value(inService) }, {
        LAWFUL_MASTER_KEY: Redacted.value(other),
        LAWFUL_MASTER_KEY_PREVIOUS: Redacted.value(inService)
      }]) {
        const opened = yield* Effect.flatMap(
          Vault.Vault,
          (vault) => vault.openString(written.tenant, written.subject, "p", written.sealed)
        ).pipe(
          Effect.provide(Vault.layer.pipe(Layer.provide(MasterKey.layerConfig), Layer.provide(Layer.succeed(KeyStore.KeyStore, store)))),
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
        )
        assert.strictEqual(opened, `secret of ${written.tenant}`)
      }
    }))
})

describe("Review19c: the master-key start-up lines read alike", () => {
  it("a retired key and a key that wraps nothing stored each say to set LAWFUL_MASTER_KEY to the key in service, with the guide", () => {
    const key = MasterKey.generate()
    const retired = Startup.describeFailure(Cause.fail(new Vault.MasterKeyRetired({ keyId: idOf(key) })))
    const unknown = Startup.describeFailure(
      Cause.fail(new Vault.KeyUnavailable({ tenantId: "0190b0e6-7c1a-7000-8000-000000000019", reason: "unknown-master-key" }))
    )
    for (const line of [retired, unknown]) {
      assert.match(line, /^Start-up failed: /)
      assert.include(line, "set LAWFUL_MASTER_KEY to the key in service")
      assert.include(line, "docs/operations.md")
      assert.notInclude(line, Redacted.value(key))
      assert.notInclude(line, "\n")
    }
    assert.include(retired, idOf(key))
  })

  it("a stored key that does not unwrap under the key that names it says the configured keys are not the cause", () => {
    const line = Startup.describeFailure(
      Cause.fail(new Vault.KeyUnavailable({ tenantId: "0190b0e6-7c1a-7000-8000-000000000019", reason: "unwrap-failed" }))
    )
    assert.include(line, "0190b0e6-7c1a-7000-8000-000000000019")
    assert.include(line, "does not authenticate")
    assert.include(line, "backup")
    assert.notInclude(line, "\n")
  })
})
