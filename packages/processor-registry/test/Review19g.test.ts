// Review 19g: publications of one questionnaire id take turns. A questionnaire has no processor row
// to lock: on SQL a publication takes a transaction-scoped advisory lock keyed on the questionnaire
// id before it checks whether the version exists and before its audit entry, so another server
// publishing the same version at the same moment waits for it, then fails
// `QuestionnaireVersionExists`, nothing logged (not a commit conflict after its entry).
import { assert } from "@effect/vitest"
import { sqlSuite } from "@lawful/core/testing"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import { ProcessorRegistry } from "../src/ProcessorRegistry.js"
import {
  actionsAbout,
  atStart,
  layers,
  layerSqlWithLog,
  otherAtNextAppend,
  otherServer,
  questionnaireInput,
  staff,
  uniqueId
} from "./fixtures.js"

// The registry on SQL with its audit log apart (in memory: an entry appended is kept whatever
// becomes of the registry's transaction), and on the registry's database, as the server keeps it.
for (const [where, layer] of [["apart", layers.sql], ["on the registry's database", layerSqlWithLog]] as const) {
  sqlSuite(`Review 19g with the audit log ${where}`, layer, (it, backend) => {
    it.scoped("a version another server publishes at the same moment is published once: QuestionnaireVersionExists, nothing logged", () =>
      Effect.gen(function*() {
        yield* atStart
        const registry = yield* ProcessorRegistry
        const other = yield* otherServer
        const input = questionnaireInput(uniqueId("security"))
        // Once this server's publication has been checked, before its entry, the other server
        // publishes the same id and version. On PostgreSQL it waits for this publication's
        // transaction; PGlite is one session, which this publication's transaction holds.
        const publishing = yield* otherAtNextAppend(
          other.publishQuestionnaire(staff, { ...input, title: "Another security questionnaire" }),
          { watch: backend === "postgres" }
        )
        const published = yield* Effect.exit(registry.publishQuestionnaire(staff, input))
        const second = yield* Effect.exit(Fiber.join(publishing.fiber))
        assert.isTrue(Exit.isSuccess(published), String(published))
        assert.strictEqual(
          Exit.isFailure(second) ? Option.getOrUndefined(Cause.failureOption(second.cause))?._tag : "published",
          "QuestionnaireVersionExists",
          String(second)
        )
        if (backend === "postgres") assert.isTrue(yield* publishing.waited, "the other publication waits for this one")
        assert.strictEqual((yield* registry.questionnaire(input.id, input.version)).title, input.title)
        // One publication made, one logged.
        assert.deepStrictEqual(yield* actionsAbout(`${input.id}/${input.version}`), [
          "processor-registry.questionnaire.published"
        ])
      }))

    it.scoped("another version of the questionnaire published at the same moment is published too", () =>
      Effect.gen(function*() {
        yield* atStart
        const registry = yield* ProcessorRegistry
        const other = yield* otherServer
        const id = uniqueId("security")
        const publishing = yield* otherAtNextAppend(
          other.publishQuestionnaire(staff, questionnaireInput(id, 2)),
          { watch: backend === "postgres" }
        )
        yield* registry.publishQuestionnaire(staff, questionnaireInput(id, 1))
        yield* Fiber.join(publishing.fiber)
        assert.deepStrictEqual(
          [(yield* registry.questionnaire(id, 1)).version, (yield* registry.questionnaire(id)).version],
          [1, 2]
        )
        assert.deepStrictEqual(yield* actionsAbout(`${id}/2`), ["processor-registry.questionnaire.published"])
      }))
  })
}
