import { assert } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as TenantId from "@lawful/core/TenantId"
import { sqlSuite } from "@lawful/core/testing"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as AuditLog from "../src/AuditLog.js"
import * as AuditStore from "../src/AuditStore.js"
import * as CheckpointPublisher from "../src/CheckpointPublisher.js"
import { event } from "./AuditLogSuite.js"

const layer = AuditLog.layer.pipe(
  Layer.provideMerge(Layer.mergeAll(AuditStore.layerSql, AuditLog.AuditSigner.layerRandom, CheckpointPublisher.layerMemory))
)

// The failure an effect ended with, or a test failure naming how it ended otherwise (a defect is no answer).
const failureOf = <A, E, R>(effect: Effect.Effect<A, E, R>, what: string) =>
  Effect.map(Effect.exit(effect), (exit) => {
    if (Exit.isSuccess(exit)) return assert.fail(`${what} succeeded on a log whose state row was rewritten`)
    const failure = Cause.failureOption(exit.cause)
    if (Option.isNone(failure)) return assert.fail(`${what} died instead of failing: ${Cause.pretty(exit.cause)}`)
    return failure.value
  })

sqlSuite("audit-trail review 15", layer, (it) => {
  it.effect("a state row whose size does not fit its frontier is a store error (a finding of verify), and checkpointAll goes on with the other tenants", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const log = yield* AuditLog.AuditLog
      const store = yield* AuditStore.AuditStore
      const [tampered, other] = yield* Effect.all([TenantId.make, TenantId.make])
      for (const tenant of [tampered, other]) {
        yield* log.appendAll(tenant, Array.from({ length: 5 }, (_, n) => event(n)))
      }
      // Five entries have a frontier of two hashes; the size column now says four (one hash).
      yield* sql`UPDATE lawful_audit_logs SET size = 4 WHERE tenant_id = ${tampered}`

      const warnings: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => {
        if (logLevel._tag === "Warning") warnings.push(JSON.stringify(message))
      })
      const signed = yield* log.checkpointAll.pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
        Effect.exit
      )
      assert.isTrue(Exit.isSuccess(signed), `checkpointAll did not go on past the tampered tenant: ${String(signed)}`)
      assert.strictEqual(Exit.isSuccess(signed) ? signed.value : -1, 1)
      assert.strictEqual(Option.getOrThrow(yield* store.latestCheckpoint(other)).size, 5)
      assert.strictEqual(warnings.length, 1, warnings.join("; "))

      for (
        const [what, effect] of [
          ["state", store.state(tampered)],
          ["checkpoint", log.checkpoint(tampered)],
          ["append", log.append(tampered, event(9))]
        ] as const
      ) {
        const error = yield* failureOf(effect as Effect.Effect<unknown, { readonly _tag: string }>, what)
        assert.strictEqual(error._tag, "AuditStoreError", what)
      }
      // Verification reports it (review 16): a finding, not a failure.
      const report = yield* log.verify(tampered)
      assert.isFalse(report.ok)
      assert.isTrue(report.problems.some((p) => p.includes("the stored state of the log is malformed")), report.problems.join("; "))
    }))
})
