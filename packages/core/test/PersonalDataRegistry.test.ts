import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as KeyStore from "../src/KeyStore.js"
import * as MasterKey from "../src/MasterKey.js"
import {
  causeOf,
  PersonalDataRegistry,
  PersonalDataSourceError,
  SourceAlreadyRegistered,
  layer as registryLayer,
  register,
  sourceError
} from "../src/PersonalDataRegistry.js"
import type { PersonalDataSource, Report, SourceOutcome } from "../src/PersonalDataRegistry.js"
import * as SubjectDirectory from "../src/SubjectDirectory.js"
import * as SubjectId from "../src/SubjectId.js"
import * as TenantId from "../src/TenantId.js"
import { contractSuite } from "../src/testing.js"
import * as Vault from "../src/Vault.js"

// A source over a plain map of fields per subject, that logs every call it receives.
interface RecordingSource extends PersonalDataSource {
  readonly hold: (tenant: TenantId.TenantId, subject: SubjectId.SubjectId, value: string) => Effect.Effect<void>
}

const recordingSource = (name: string, calls: Array<string>): RecordingSource => {
  const held = new Map<string, Record<string, unknown>>()
  const key = (tenant: string, subject: string) => `${tenant}/${subject}`
  return {
    name,
    description: `${name}, for tests`,
    categories: [`${name}.field`],
    purposes: ["testing"],
    retentionCategories: [`${name}-records`],
    hold: (tenant, subject, value) => Effect.sync(() => void held.set(key(tenant, subject), { [name]: value })),
    export: (tenant, subject) =>
      Effect.sync(() => {
        calls.push(`${name}:export:${subject}`)
        const fields = held.get(key(tenant, subject))
        return { records: fields ? [{ category: `${name}.field`, fields }] : [] }
      }),
    erase: (tenant, subject) =>
      Effect.sync(() => {
        calls.push(`${name}:erase:${subject}`)
        return { erased: held.delete(key(tenant, subject)) ? 1 : 0 }
      }),
    rectify: (tenant, subject, changes) =>
      Effect.sync(() => {
        calls.push(`${name}:rectify:${subject}`)
        const fields = held.get(key(tenant, subject))
        if (!fields || !(name in changes)) return { rectified: 0 }
        held.set(key(tenant, subject), { ...fields, [name]: changes[name] })
        return { rectified: 1 }
      })
  }
}

const failingSource = (name: string, calls: Array<string>): PersonalDataSource => {
  const fail = (operation: "export" | "erase" | "rectify") =>
    Effect.suspend(() => {
      calls.push(`${name}:${operation}`)
      return Effect.fail(sourceError(name, operation)(new Error("the store is unreachable")))
    })
  return {
    name,
    description: "always fails",
    categories: ["broken.field"],
    purposes: ["testing"],
    export: () => fail("export"),
    erase: () => fail("erase"),
    rectify: () => fail("rectify")
  }
}

const dyingSource = (name: string, calls: Array<string>): PersonalDataSource => {
  const die = (operation: string) =>
    Effect.suspend(() => {
      calls.push(`${name}:${operation}`)
      return Effect.dieMessage("a bug in the source")
    })
  return {
    name,
    description: "always dies",
    categories: ["buggy.field"],
    purposes: ["testing"],
    export: () => die("export"),
    erase: () => die("erase"),
    rectify: () => die("rectify")
  }
}

// The registry with the sources registered one after the other.
const registryWith = (sources: ReadonlyArray<PersonalDataSource>) =>
  sources.reduce<Layer.Layer<PersonalDataRegistry, SourceAlreadyRegistered>>(
    (registry, source) => register(source).pipe(Layer.provideMerge(registry)),
    registryLayer
  )

const ids = Effect.all([TenantId.make, SubjectId.make])

const outcomeTags = <A>(outcomes: ReadonlyArray<SourceOutcome<A>>) =>
  outcomes.map((outcome) => [outcome.source, outcome._tag])

describe("PersonalDataRegistry", () => {
  it.effect("eraseAll reaches every registered source and reports each", () => {
    const calls: Array<string> = []
    const sources = ["alpha", "beta", "gamma"].map((name) => recordingSource(name, calls))
    return Effect.gen(function*() {
      const registry = yield* PersonalDataRegistry
      const [tenant, subject] = yield* ids
      assert.deepStrictEqual((yield* registry.sources).map((s) => s.name), ["alpha", "beta", "gamma"])

      const report = yield* registry.eraseAll(tenant, subject)
      assert.isTrue(report.allSucceeded)
      assert.deepStrictEqual(report.failures, [])
      assert.deepStrictEqual(report.outcomes, [
        { _tag: "SourceSucceeded", source: "alpha", result: { erased: 0 } },
        { _tag: "SourceSucceeded", source: "beta", result: { erased: 0 } },
        { _tag: "SourceSucceeded", source: "gamma", result: { erased: 0 } }
      ])
      assert.sameMembers(calls, [`alpha:erase:${subject}`, `beta:erase:${subject}`, `gamma:erase:${subject}`])
    }).pipe(Effect.provide(registryWith(sources)))
  })

  it.effect("a failing source is reported, not hidden, and the other sources still run", () => {
    const calls: Array<string> = []
    const sources = [
      recordingSource("first", calls),
      failingSource("broken", calls),
      dyingSource("buggy", calls),
      recordingSource("last", calls)
    ]
    return Effect.gen(function*() {
      const registry = yield* PersonalDataRegistry
      const [tenant, subject] = yield* ids

      const report = yield* registry.eraseAll(tenant, subject)
      assert.isFalse(report.allSucceeded)
      // In the order of source names.
      assert.deepStrictEqual(outcomeTags(report.outcomes), [
        ["broken", "SourceFailed"],
        ["buggy", "SourceFailed"],
        ["first", "SourceSucceeded"],
        ["last", "SourceSucceeded"]
      ])
      assert.deepStrictEqual(report.failures.map((f) => f.source), ["broken", "buggy"])
      const [broken, buggy] = report.failures
      assert.instanceOf(broken!.error, PersonalDataSourceError)
      assert.strictEqual(broken!.error.operation, "erase")
      assert.strictEqual((causeOf(broken!.error) as Error).message, "the store is unreachable")
      assert.instanceOf(buggy!.error, PersonalDataSourceError)
      assert.strictEqual(buggy!.error.source, "buggy")
      assert.include(String(causeOf(buggy!.error)), "a bug in the source")
      assert.sameMembers(calls, [`first:erase:${subject}`, "broken:erase", "buggy:erase", `last:erase:${subject}`])

      const exported = yield* registry.exportAll(tenant, subject)
      assert.deepStrictEqual(outcomeTags(exported.outcomes), [
        ["broken", "SourceFailed"],
        ["buggy", "SourceFailed"],
        ["first", "SourceSucceeded"],
        ["last", "SourceSucceeded"]
      ])
      const rectified = yield* registry.rectifyAll(tenant, subject, { first: "x" })
      assert.isFalse(rectified.allSucceeded)
      assert.strictEqual(rectified.failures.length, 2)
    }).pipe(Effect.provide(registryWith(sources)))
  })

  it.effect("a source that throws instead of returning an Effect is reported, and the others still run", () => {
    const calls: Array<string> = []
    const throwing: PersonalDataSource = {
      name: "throwing",
      description: "throws when called",
      categories: ["thrown.field"],
      purposes: ["testing"],
      export: () => {
        throw new Error("thrown by the source")
      },
      erase: () => {
        throw new Error("thrown by the source")
      },
      rectify: () => {
        throw new Error("thrown by the source")
      }
    }
    const sources = [recordingSource("first", calls), throwing, recordingSource("last", calls)]
    return Effect.gen(function*() {
      const registry = yield* PersonalDataRegistry
      const [tenant, subject] = yield* ids
      const reports: ReadonlyArray<Report<unknown>> = [
        yield* registry.eraseAll(tenant, subject),
        yield* registry.exportAll(tenant, subject),
        yield* registry.rectifyAll(tenant, subject, { first: "x" })
      ]
      for (const report of reports) {
        assert.deepStrictEqual(outcomeTags(report.outcomes), [
          ["first", "SourceSucceeded"],
          ["last", "SourceSucceeded"],
          ["throwing", "SourceFailed"]
        ])
        assert.instanceOf(report.failures[0]!.error, PersonalDataSourceError)
        assert.include(String(causeOf(report.failures[0]!.error)), "thrown by the source")
      }
      assert.strictEqual(calls.length, 6)
    }).pipe(Effect.provide(registryWith(sources)))
  })

  it.effect("exportAll collects each source's export, and rectifyAll reaches every source", () => {
    const calls: Array<string> = []
    const a = recordingSource("contact", calls)
    const b = recordingSource("consent", calls)
    return Effect.gen(function*() {
      const registry = yield* PersonalDataRegistry
      const [tenant, subject] = yield* ids
      const [, other] = yield* ids
      yield* a.hold(tenant, subject, "ann")
      yield* b.hold(tenant, subject, "granted")
      yield* b.hold(tenant, other, "other subject's")

      const exported = yield* registry.exportAll(tenant, subject)
      assert.isTrue(exported.allSucceeded)
      // In the order of source names.
      assert.deepStrictEqual(exported.outcomes, [
        {
          _tag: "SourceSucceeded",
          source: "consent",
          result: { records: [{ category: "consent.field", fields: { consent: "granted" } }] }
        },
        {
          _tag: "SourceSucceeded",
          source: "contact",
          result: { records: [{ category: "contact.field", fields: { contact: "ann" } }] }
        }
      ])

      const rectified = yield* registry.rectifyAll(tenant, subject, { consent: "withdrawn" })
      assert.deepStrictEqual(rectified.outcomes.map((o) => o._tag === "SourceSucceeded" && o.result), [
        { rectified: 1 },
        { rectified: 0 }
      ])
      const after = yield* registry.exportAll(tenant, subject)
      assert.deepStrictEqual(
        after.outcomes.map((o) => o._tag === "SourceSucceeded" && o.result.records.map((r) => r.fields)),
        [[{ consent: "withdrawn" }], [{ contact: "ann" }]]
      )

      const erased = yield* registry.eraseAll(tenant, subject)
      assert.deepStrictEqual(erased.outcomes.map((o) => o._tag === "SourceSucceeded" && o.result), [
        { erased: 1 },
        { erased: 1 }
      ])
      const empty = yield* registry.exportAll(tenant, subject)
      assert.deepStrictEqual(empty.outcomes.map((o) => o._tag === "SourceSucceeded" && o.result), [
        { records: [] },
        { records: [] }
      ])
      const again = yield* registry.eraseAll(tenant, subject)
      assert.deepStrictEqual(again.outcomes.map((o) => o._tag === "SourceSucceeded" && o.result), [
        { erased: 0 },
        { erased: 0 }
      ])
      const untouched = yield* registry.exportAll(tenant, other)
      assert.deepStrictEqual(untouched.outcomes.map((o) => o._tag === "SourceSucceeded" && o.result.records.length), [
        1,
        0
      ])
    }).pipe(Effect.provide(registryWith([a, b])))
  })

  it.effect("an empty registry reports complete, empty results", () =>
    Effect.gen(function*() {
      const registry = yield* PersonalDataRegistry
      const [tenant, subject] = yield* ids
      const report = yield* registry.eraseAll(tenant, subject)
      assert.deepStrictEqual(report, { outcomes: [], failures: [], allSucceeded: true })
    }).pipe(Effect.provide(registryLayer)))

  it.effect("a second source with the same name fails the layer with SourceAlreadyRegistered", () => {
    const calls: Array<string> = []
    const twice = registryWith([recordingSource("twin", calls), recordingSource("twin", calls)])
    return Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.provide(PersonalDataRegistry, twice))
      assert.strictEqual(error._tag, "SourceAlreadyRegistered")
      assert.strictEqual(error.source, "twin")
    })
  })

  it.effect("a source can be built from its services, and leaves the registry with its layer", () => {
    class Greeting extends Context.Tag("test/Greeting")<Greeting, string>() {}
    const calls: Array<string> = []
    const fromServices = register(Effect.map(Greeting, (greeting) => recordingSource(greeting, calls))).pipe(
      Layer.provide(Layer.succeed(Greeting, "hello"))
    )
    return Effect.gen(function*() {
      const registry = yield* PersonalDataRegistry
      yield* Effect.scoped(Effect.gen(function*() {
        yield* Layer.build(fromServices)
        assert.deepStrictEqual((yield* registry.sources).map((s) => s.name), ["hello"])
        assert.deepStrictEqual((yield* registry.sources)[0]!.retentionCategories, ["hello-records"])
      }))
      assert.deepStrictEqual(yield* registry.sources, [])
      // Released, the name can be registered again.
      yield* Effect.scoped(Layer.build(fromServices))
    }).pipe(Effect.provide(registryLayer))
  })
})

// The subject directory, as a source of the registry, on every backend.
const directoryLayer = <E1, E2, R2>(
  directory: Layer.Layer<SubjectDirectory.SubjectDirectory, E1, Vault.Vault | R2>,
  store: Layer.Layer<KeyStore.KeyStore, E2, R2>
) =>
  SubjectDirectory.personalDataSource.pipe(
    Layer.provideMerge(registryLayer),
    Layer.provideMerge(directory),
    Layer.provideMerge(Vault.layer),
    Layer.provide(store),
    Layer.provide(MasterKey.layerRandom)
  )

contractSuite(
  "SubjectDirectory.personalDataSource",
  {
    memory: directoryLayer(SubjectDirectory.layerMemory, KeyStore.layerMemory),
    sql: directoryLayer(SubjectDirectory.layerSql, KeyStore.layerSql)
  },
  (it) => {
    it.effect("the directory exports, rectifies and erases a subject's address through the registry", () =>
      Effect.gen(function*() {
        const registry = yield* PersonalDataRegistry
        const directory = yield* SubjectDirectory.SubjectDirectory
        const tenant = yield* TenantId.make
        const subject = yield* directory.resolve(tenant, "Olga@Example.com")
        const other = yield* directory.resolve(tenant, "pia@example.com")

        const [source] = yield* registry.sources
        assert.strictEqual(source!.name, SubjectDirectory.sourceName)
        assert.deepStrictEqual(source!.categories, ["contact.email"])

        const exported = yield* registry.exportAll(tenant, subject)
        assert.isTrue(exported.allSucceeded)
        const outcome = exported.outcomes[0]!
        assert.strictEqual(outcome._tag, "SourceSucceeded")
        const records = outcome._tag === "SourceSucceeded" ? outcome.result.records : []
        assert.deepStrictEqual(records.map((r) => [r.category, r.fields]), [["contact.email", { email: "olga@example.com" }]])
        assert.isString(records[0]!.recordedAt)
        assert.deepStrictEqual(JSON.parse(JSON.stringify(records)), records)

        const rectified = yield* registry.rectifyAll(tenant, subject, { email: "Olga.New@example.com", name: "Olga" })
        assert.deepStrictEqual(rectified.outcomes, [
          { _tag: "SourceSucceeded", source: SubjectDirectory.sourceName, result: { rectified: 1 } }
        ])
        assert.strictEqual(yield* directory.emailOf(tenant, subject), "olga.new@example.com")
        const untouched = yield* registry.rectifyAll(tenant, subject, { name: "Olga" })
        assert.deepStrictEqual(untouched.outcomes.map((o) => o._tag === "SourceSucceeded" && o.result), [{ rectified: 0 }])

        const taken = yield* registry.rectifyAll(tenant, subject, { email: "PIA@example.com" })
        assert.isFalse(taken.allSucceeded)
        const failure = taken.failures[0]!
        assert.strictEqual(failure.error.operation, "rectify")
        assert.strictEqual((failure.error.cause as { _tag: string })._tag, "EmailAlreadyInUse")
        assert.notInclude(failure.error.message, "pia")
        assert.strictEqual(yield* directory.emailOf(tenant, other), "pia@example.com")

        const erased = yield* registry.eraseAll(tenant, subject)
        assert.deepStrictEqual(erased.outcomes.map((o) => o._tag === "SourceSucceeded" && o.result), [{ erased: 1 }])
        assert.isTrue(Option.isNone(yield* directory.find(tenant, "olga.new@example.com")))
        const afterErasure = yield* registry.exportAll(tenant, subject)
        assert.deepStrictEqual(afterErasure.outcomes.map((o) => o._tag === "SourceSucceeded" && o.result), [
          { records: [] }
        ])
        const again = yield* registry.eraseAll(tenant, subject)
        assert.deepStrictEqual(again.outcomes.map((o) => o._tag === "SourceSucceeded" && o.result), [{ erased: 0 }])
        const rectifyForgotten = yield* registry.rectifyAll(tenant, subject, { email: "olga@example.com" })
        assert.deepStrictEqual(rectifyForgotten.outcomes.map((o) => o._tag === "SourceSucceeded" && o.result), [
          { rectified: 0 }
        ])

        // The other subject is untouched.
        const otherExport = yield* registry.exportAll(tenant, other)
        assert.deepStrictEqual(
          otherExport.outcomes.map((o) => o._tag === "SourceSucceeded" && o.result.records.map((r) => r.fields)),
          [[{ email: "pia@example.com" }]]
        )
      }))

    it.effect("a shredded subject exports nothing, and a non-string email is reported as a failure", () =>
      Effect.gen(function*() {
        const registry = yield* PersonalDataRegistry
        const directory = yield* SubjectDirectory.SubjectDirectory
        const vault = yield* Vault.Vault
        const tenant = yield* TenantId.make
        const subject = yield* directory.resolve(tenant, "quinn@example.com")

        const wrongType = yield* registry.rectifyAll(tenant, subject, { email: 42 })
        assert.strictEqual(wrongType.failures[0]?.source, SubjectDirectory.sourceName)

        yield* vault.shred(tenant, subject)
        const exported = yield* registry.exportAll(tenant, subject)
        assert.deepStrictEqual(exported.outcomes.map((o) => o._tag === "SourceSucceeded" && o.result), [
          { records: [] }
        ])
        const erased = yield* registry.eraseAll(tenant, subject)
        assert.deepStrictEqual(erased.outcomes.map((o) => o._tag === "SourceSucceeded" && o.result), [{ erased: 1 }])
      }))
  }
)
