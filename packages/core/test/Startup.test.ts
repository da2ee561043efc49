import { assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Database from "../src/Database.js"
import { lineOf, startWith, validKey } from "./fixtures.js"

describe("start-up configuration", () => {
  it("a missing master key names the variable and the expected form", () => {
    const line = lineOf(startWith({}))
    assert.notInclude(line, "\n")
    assert.include(line, "LAWFUL_MASTER_KEY")
    assert.include(line, "32 random bytes in base64")
  })

  for (const malformed of ["short", "q83vEjRWeJASNFZ4kBI0VniQEjRWeJASNFZ4kBI0", `${validKey}AAAA`, "not base64 at all!!!!!!!!!!!!!!!!!!!!!!!!!="]) {
    it(`a malformed master key (${malformed.length} chars) is refused in one line without echoing it`, () => {
      const line = lineOf(startWith({ LAWFUL_MASTER_KEY: malformed }))
      assert.include(line, "LAWFUL_MASTER_KEY")
      assert.include(line, "32 random bytes in base64")
      assert.notInclude(line, malformed)
      assert.notInclude(line, "\n")
    })
  }

  it("previous master keys are checked too", () => {
    const line = lineOf(startWith({ LAWFUL_MASTER_KEY: validKey, LAWFUL_MASTER_KEY_PREVIOUS: `${validKey},oops` }))
    assert.include(line, "LAWFUL_MASTER_KEY_PREVIOUS")
  })

  for (const url of ["mysql://localhost/db", "localhost:5432", "postgres://"]) {
    it(`a malformed DATABASE_URL (${url}) names the variable and the expected form`, () => {
      const line = lineOf(startWith({ LAWFUL_MASTER_KEY: validKey, DATABASE_URL: url }))
      assert.include(line, "DATABASE_URL")
      assert.include(line, "postgres://user:password@localhost:5432/lawful")
      assert.notInclude(line, "\n")
    })
  }

  it.effect("an empty LAWFUL_DATA_DIR is refused in one line, never an embedded database that keeps nothing", () =>
    Effect.gen(function*() {
      const exit = yield* Layer.build(Database.layer).pipe(
        Effect.scoped,
        Effect.exit,
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["LAWFUL_DATA_DIR", ""]])))
      )
      const line = lineOf(exit)
      assert.include(line, "LAWFUL_DATA_DIR")
      assert.include(line, "./.lawful")
      assert.notInclude(line, "\n")
    }))

  it("valid settings start", () => {
    assert.isTrue(Exit.isSuccess(startWith({ LAWFUL_MASTER_KEY: validKey, DATABASE_URL: "postgres://u:p@db:5432/lawful" })))
    assert.isTrue(Exit.isSuccess(startWith({ LAWFUL_MASTER_KEY: validKey })))
  })

  it.effect("an unreachable database is one line naming the host, never the password", () =>
    Effect.gen(function*() {
      // Port 1 on loopback: nothing listens there, the connection is refused at once.
      const url = Redacted.make("postgres://lawful:hunter2@127.0.0.1:1/lawful")
      const exit = yield* Layer.build(Database.layerPostgres(url)).pipe(Effect.scoped, Effect.exit)
      const line = lineOf(exit)
      assert.include(line, "127.0.0.1:1/lawful")
      assert.notInclude(line, "hunter2")
      assert.notInclude(line, "\n")
    }))
})
