// Review 19e: a change of a processor's role reads each parent of its chain with the parent's row
// locked shared, in its transaction: two servers making A a sub-processor of B and B one of A at
// the same moment are ordered (the second sees the first's role and is refused as a cycle) or one
// of them fails with `RegistryStoreError` (a deadlock PostgreSQL ends); no cycle is committed. The
// memory store's conflict over a questionnaire quotes no version the caller gave.
import { assert, it } from "@effect/vitest"
import { sqlSuite } from "@lawful/core/testing"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { memoryStore } from "../src/internal/store.js"
import type * as Processor from "../src/Processor.js"
import { ProcessorRegistry } from "../src/ProcessorRegistry.js"
import * as Questionnaire from "../src/Questionnaire.js"
import {
  atStart,
  layers,
  layerSqlWithLog,
  otherAtNextAppend,
  otherServer,
  processorInput,
  questionnaireInput,
  staff,
  start
} from "./fixtures.js"

const subProcessorOf = (of: Processor.ProcessorId) => processorInput({ role: { _tag: "SubProcessor", of } })

// A change of role ends in success, in the refusal of a cycle, or in a storage failure (the
// deadlock PostgreSQL ends by failing one of two such changes), nothing else.
const assertEndedAsAllowed = (exit: Exit.Exit<unknown, { readonly _tag: string; readonly message: string }>) => {
  if (Exit.isSuccess(exit)) return
  const error = Cause.failureOption(exit.cause)
  assert.isTrue(Option.isSome(error), `a failure, not a defect: ${String(exit)}`)
  const failure = Option.getOrThrow(error)
  if (failure._tag === "RegistryStoreError") return
  assert.strictEqual(failure._tag, "InvalidInput", String(exit))
  assert.include(failure.message, "a processor cannot be its own sub-processor")
}

// The registry on SQL with its audit log apart (in memory) and on the registry's database, as the
// server keeps it.
for (const [where, layer] of [["apart", layers.sql], ["on the registry's database", layerSqlWithLog]] as const) {
  sqlSuite(`Review 19e with the audit log ${where}`, layer, (it, backend) => {
    it.scoped("two servers making A a sub-processor of B and B one of A commit no cycle", () =>
      Effect.gen(function*() {
        yield* atStart
        const registry = yield* ProcessorRegistry
        const other = yield* otherServer
        const a = yield* registry.register(staff, processorInput())
        const b = yield* registry.register(staff, processorInput({ legalName: "Relay Ltd" }))
        // Once this server has checked A's new role (B is no sub-processor), before its entry, the
        // other server makes B a sub-processor of A, on a connection of its own. On PostgreSQL this
        // change goes on once the other waits for a lock of its session (or is done); PGlite is one
        // session, which this change's transaction holds.
        const making = yield* otherAtNextAppend(other.update(staff, b.id, subProcessorOf(a.id)), {
          watch: backend === "postgres"
        })
        const madeA = yield* Effect.exit(registry.update(staff, a.id, subProcessorOf(b.id)))
        const madeB = yield* Effect.exit(Fiber.join(making.fiber))
        if (backend === "postgres") assert.isTrue(yield* making.waited, "the other change waits for this one's lock of B")
        assertEndedAsAllowed(madeA)
        assertEndedAsAllowed(madeB)
        assert.isTrue(Exit.isSuccess(madeA) || Exit.isSuccess(madeB), "one of the changes is made")
        const roleOf = (id: Processor.ProcessorId) => Effect.map(registry.processor(id), (p) => p.role)
        const [roleA, roleB] = [yield* roleOf(a.id), yield* roleOf(b.id)]
        const cycle = roleA._tag === "SubProcessor" && roleA.of === b.id && roleB._tag === "SubProcessor" &&
          roleB.of === a.id
        assert.isFalse(cycle, "A and B are not each other's sub-processors")
      }))
  })
}

it.effect("the memory store's conflict over a questionnaire version does not quote the version given", () =>
  Effect.gen(function*() {
    const store = memoryStore((operation) => (cause) => ({ operation, cause }))
    const questionnaire = new Questionnaire.Questionnaire({
      ...Schema.decodeUnknownSync(Questionnaire.QuestionnaireInput)({ ...questionnaireInput("security-conflict"), version: 918273 }),
      publishedAt: new Date(start)
    })
    yield* store.commit([{ _tag: "InsertQuestionnaire", questionnaire }])
    const failure = yield* Effect.flip(store.commit([{ _tag: "InsertQuestionnaire", questionnaire }]))
    assert.strictEqual((failure.cause as { readonly _tag?: unknown })._tag, "CommitConflict")
    assert.notInclude(String(failure.cause), "918273")
  }))
