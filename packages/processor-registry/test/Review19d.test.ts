// Review 19d: a decision of an assessment reads the assessment again once it holds its
// processor's row, and is checked on that read: another server's decision of it, committed
// meanwhile, makes this one fail `AssessmentAlreadyDecided` before anything is logged. A commit
// meeting a record another writer inserted fails with a conflict that names the constraint, never
// what the driver's message quotes.
import * as SqlClient from "@effect/sql/SqlClient"
import { assert } from "@effect/vitest"
import { sqlStatesOf, sqlSuite } from "@lawful/core/testing"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { randomUUID } from "node:crypto"
import { inspect } from "node:util"
import { ProcessorRegistry } from "../src/ProcessorRegistry.js"
import {
  actionsAbout,
  atStart,
  dpaInput,
  layers,
  layerSqlWithLog,
  otherAtNextAppend,
  otherServer,
  passingAnswers,
  processorInput,
  publishQuestionnaire,
  staff
} from "./fixtures.js"

// The registry on SQL with its audit log apart (in memory: an entry appended is kept whatever
// becomes of the registry's transaction), and on the registry's database, as the server keeps it.
for (const [where, layer] of [["apart", layers.sql], ["on the registry's database", layerSqlWithLog]] as const) {
  sqlSuite(`Review 19d with the audit log ${where}`, layer, (it, backend) => {
    it.scoped("an assessment another server decides meanwhile is not decided again: AssessmentAlreadyDecided, nothing logged", () =>
      Effect.gen(function*() {
        yield* atStart
        const registry = yield* ProcessorRegistry
        const other = yield* otherServer
        const processor = yield* registry.register(staff, processorInput())
        const questionnaire = yield* publishQuestionnaire
        yield* registry.startReview(staff, processor.id)
        const assessment = yield* registry.submitAssessment(staff, processor.id, {
          questionnaireId: questionnaire.id,
          questionnaireVersion: questionnaire.version,
          answers: passingAnswers
        })
        // Once this server's decision has been checked, before its entry, the other server decides
        // the same assessment the other way (which would terminate the processor). On PostgreSQL it
        // reads the assessment undecided, then waits for the processor's row; PGlite is one
        // session, which this decision's transaction holds.
        const deciding = yield* otherAtNextAppend(
          other.decideAssessment(staff, assessment.id, { outcome: "unsatisfactory", notes: "not what we need" }),
          { watch: backend === "postgres" }
        )
        const decided = yield* Effect.exit(
          registry.decideAssessment(staff, assessment.id, { outcome: "satisfactory", notes: "Meets our baseline" })
        )
        const second = yield* Effect.flip(Fiber.join(deciding.fiber))
        if (backend === "postgres") assert.isTrue(yield* deciding.waited, "the other decision waits for this one")
        assert.isTrue(Exit.isSuccess(decided), String(decided))
        assert.strictEqual(second._tag, "AssessmentAlreadyDecided", String(second))
        const stored = (yield* registry.assessments(processor.id)).find((a) => a.id === assessment.id)
        assert.strictEqual(stored?.decision?.outcome, "satisfactory")
        assert.strictEqual((yield* registry.processor(processor.id)).status._tag, "UnderReview")
        // One decision made, one logged; no termination.
        assert.deepStrictEqual(yield* actionsAbout(assessment.id), [
          "processor-registry.assessment.submitted",
          "processor-registry.assessment.decided"
        ])
        assert.notInclude(yield* actionsAbout(processor.id), "processor-registry.processor.terminated")
      }))
  })
}

// A trigger raising a unique violation (SQLSTATE 23505) whose message quotes the DPA version
// written, for versions holding `value`, until the scope closes: as a driver's message may quote
// what it refuses.
const duplicateQuoting = (value: string) =>
  Effect.flatMap(SqlClient.SqlClient, (client) => {
    const sql = client.withoutTransforms()
    const name = `lawful_duplicate_${randomUUID().replaceAll("-", "")}`
    return Effect.acquireRelease(
      sql.unsafe(`CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
          RAISE unique_violation USING MESSAGE = 'duplicate DPA ' || NEW.version,
            CONSTRAINT = 'lawful_processor_dpas_processor_id_version_key';
        END $$;
        CREATE TRIGGER ${name} BEFORE INSERT ON lawful_processor_dpas
        FOR EACH ROW WHEN (NEW.version = '${value}') EXECUTE FUNCTION ${name}()`),
      () => Effect.orDie(sql.unsafe(`DROP TRIGGER ${name} ON lawful_processor_dpas; DROP FUNCTION ${name}()`))
    ).pipe(Effect.asVoid, Effect.orDie)
  })

sqlSuite("Review 19d, a commit meeting a duplicate", layers.sql, (it) => {
  it.scoped("the conflict names the constraint, never what the driver's message quotes", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const processor = yield* registry.register(staff, processorInput())
      const version = `v${randomUUID().replaceAll("-", "")}`
      yield* duplicateQuoting(version)
      const error = yield* Effect.flip(registry.recordDpa(staff, processor.id, dpaInput({ version })))
      assert.strictEqual(error._tag, "RegistryStoreError")
      const cause = error._tag === "RegistryStoreError" ? error.cause : undefined
      assert.strictEqual((cause as { readonly _tag?: unknown } | undefined)?._tag, "CommitConflict")
      for (const text of [String(cause), JSON.stringify(error), inspect(error, { depth: null })]) {
        assert.notInclude(text, version)
      }
      assert.include(String(cause), "lawful_processor_dpas_processor_id_version_key")
      // Its cause is the unique violation as `Database.safeSqlError` keeps it: SQLSTATE and constraint.
      assert.deepStrictEqual(sqlStatesOf(error), ["23505"])
      const violation = (cause as { readonly cause?: { readonly cause?: { readonly constraint?: unknown } } }).cause
      assert.strictEqual(violation?.cause?.constraint, "lawful_processor_dpas_processor_id_version_key")
      assert.deepStrictEqual(yield* registry.dpas(processor.id), [])
    }))
})
