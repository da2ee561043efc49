import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Schema from "effect/Schema"
import { inspect } from "node:util"
import {
  causeOf,
  PersonalDataRegistry,
  PersonalDataSourceError,
  layer as registryLayer,
  register,
  sourceError
} from "../src/PersonalDataRegistry.js"
import type { PersonalDataSource, Report } from "../src/PersonalDataRegistry.js"
import * as SubjectId from "../src/SubjectId.js"
import * as TenantId from "../src/TenantId.js"

const address = "leaky.person@example.com"

// A source's own error that carries the address in its message and in a field: what a careless source writes.
class AddressRefused extends Schema.TaggedError<AddressRefused>()("AddressRefused", { email: Schema.String }) {
  override get message(): string {
    return `the mail server refused ${this.email}`
  }
}

const leakySource = (
  name: string,
  fail: (operation: "export" | "erase" | "rectify") => Effect.Effect<never, PersonalDataSourceError>
): PersonalDataSource => ({
  name,
  description: "fails with the subject's address",
  categories: ["contact.email"],
  purposes: ["testing"],
  export: () => fail("export"),
  erase: () => fail("erase"),
  rectify: () => fail("rectify")
})

const failing = leakySource("failing", (operation) =>
  Effect.fail(sourceError("failing", operation)(new AddressRefused({ email: address }))))
const dying = leakySource("dying", () => Effect.die(new Error(`no mailbox for ${address}`)))
const layer = register(dying).pipe(Layer.provideMerge(register(failing).pipe(Layer.provideMerge(registryLayer))))

// Every way a report, or one of its errors, commonly reaches a log.
const printed = (report: Report<unknown>) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    const capture = <A>(logger: Logger.Logger<unknown, A>) => Logger.map(logger, (line) => void lines.push(String(line)))
    for (const failure of report.failures) {
      const cause = Cause.fail(failure.error)
      yield* Effect.logError(cause).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, capture(Logger.logfmtLogger))))
      yield* Effect.logError("source failed", cause).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, capture(Logger.jsonLogger))))
      yield* Effect.logError(failure.error).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, capture(Logger.stringLogger))))
      lines.push(Cause.pretty(cause), Cause.pretty(cause, { renderErrorCause: true }))
      lines.push(String(failure.error), inspect(failure.error, { depth: 10 }), JSON.stringify(failure.error))
    }
    lines.push(JSON.stringify(report), inspect(report, { depth: 10 }))
    return lines
  })

describe("PersonalDataRegistry: the cause of a failure", () => {
  it.effect("a report's failure prints and serialises without the source's personal data", () =>
    Effect.gen(function*() {
      const registry = yield* PersonalDataRegistry
      const [tenant, subject] = yield* Effect.all([TenantId.make, SubjectId.make])
      for (
        const report of [
          yield* registry.exportAll(tenant, subject),
          yield* registry.eraseAll(tenant, subject),
          yield* registry.rectifyAll(tenant, subject, { email: "x" })
        ]
      ) {
        assert.deepStrictEqual(report.failures.map((f) => f.source), ["dying", "failing"])
        const lines = yield* printed(report)
        assert.isAbove(lines.length, 10)
        for (const line of lines) {
          assert.notInclude(line, "leaky.person", line)
        }
        // What is printed still says which source failed, and why by its tag.
        assert.isTrue(lines.some((line) => line.includes("failing") && line.includes("AddressRefused")))
      }
    }).pipe(Effect.provide(layer)))

  it.effect("the caller still gets the source's own error, with its tag on `cause`", () =>
    Effect.gen(function*() {
      const registry = yield* PersonalDataRegistry
      const [tenant, subject] = yield* Effect.all([TenantId.make, SubjectId.make])
      const report = yield* registry.eraseAll(tenant, subject)
      const [died, failed] = report.failures
      assert.strictEqual((failed!.error.cause as { readonly _tag: string })._tag, "AddressRefused")
      const original = causeOf(failed!.error)
      assert.instanceOf(original, AddressRefused)
      assert.strictEqual((original as AddressRefused).email, address)
      assert.instanceOf(causeOf(died!.error), Error)
      assert.include((causeOf(died!.error) as Error).message, address)
    }).pipe(Effect.provide(layer)))
})

describe("PersonalDataSourceError's Schema", () => {
  it.effect("encodes the cause as its tag alone, and decodes it back", () =>
    Effect.gen(function*() {
      const error = sourceError("failing", "erase")(new AddressRefused({ email: address }))
      const encoded = yield* Schema.encode(PersonalDataSourceError)(error)
      assert.deepStrictEqual(encoded, {
        _tag: "PersonalDataSourceError",
        source: "failing",
        operation: "erase",
        cause: { _tag: "AddressRefused" }
      })
      const decoded = yield* Schema.decodeUnknown(PersonalDataSourceError)(JSON.parse(JSON.stringify(encoded)))
      assert.strictEqual(decoded.cause._tag, "AddressRefused")
      assert.strictEqual(decoded.message, error.message)
      assert.strictEqual(causeOf(decoded), decoded.cause)
    }))
})
