import { assert } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Database from "../src/Database.js"
import * as MasterKey from "../src/MasterKey.js"
import * as Startup from "../src/Startup.js"

/** Builds what start-up reads from the environment (the master keys, `DATABASE_URL`) out of `env`. */
export const startWith = (env: Record<string, string>) =>
  Effect.runSyncExit(
    Layer.build(Layer.merge(MasterKey.layerConfig, Layer.effectDiscard(Database.databaseUrl))).pipe(
      Effect.scoped,
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
    )
  )

/** The line start-up prints for a failed start; asserts that it failed. */
export const lineOf = (exit: Exit.Exit<unknown, unknown>) => {
  assert.isTrue(Exit.isFailure(exit))
  return Exit.isFailure(exit) ? Startup.describeFailure(exit.cause) : ""
}

/** A well-formed master key: 32 bytes in base64. */
export const validKey = "q83vEjRWeJASNFZ4kBI0VniQEjRWeJASNFZ4kBI0Vng="
