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

// A source that answers each operation with `results` (or nothing found), as a careless custom source might.
const answering = (
  name: string,
  results: { readonly export?: unknown; readonly erase?: unknown; readonly rectify?: unknown }
): PersonalDataSource => ({
  name,
  description: "answers what it is told to",
  categories: [`${name}.field`],
  purposes: ["testing"],
  export: () => Effect.sync(() => ("export" in results ? results.export : { records: [] }) as never),
  erase: () => Effect.sync(() => ("erase" in results ? results.erase : { erased: 0 }) as never),
  rectify: () => Effect.sync(() => ("rectify" in results ? results.rectify : { rectified: 0 }) as never)
})

// What a careless source could put in its results: personal data, which no reason may quote.
const personal = "zq.malformed@example.com"
const cyclic: Record<string, unknown> = { email: personal }
cyclic.self = cyclic

describe("PersonalDataRegistry: a source's malformed result", () => {
  const record = (fields: Record<string, unknown> = { email: personal }) => ({ category: "bad.field", fields })
  const cases: ReadonlyArray<readonly [string, "export" | "erase" | "rectify", unknown, string]> = [
    ["a result that is not an object", "export", personal, "the result"],
    ["no records", "export", {}, "records"],
    ["records that are not an array", "export", { records: personal }, "records"],
    ["a record that is not an object", "export", { records: [record(), personal] }, "records[1]"],
    ["a record without category", "export", { records: [{ fields: { email: personal } }] }, "records[0].category"],
    ["a category that is not a string", "export", { records: [{ category: 7, fields: {} }] }, "records[0].category"],
    ["a category the source does not declare", "export", { records: [record(), { ...record(), category: "other.field" }] }, "records[1].category"],
    ["fields that are not an object", "export", { records: [{ category: "bad.field", fields: personal }] }, "records[0].fields"],
    ["fields that are an array", "export", { records: [{ category: "bad.field", fields: [personal] }] }, "records[0].fields"],
    ["fields without a value", "export", { records: [{ category: "bad.field" }] }, "records[0].fields"],
    ["fields holding a bigint", "export", { records: [record({ email: personal, n: 10n })] }, "records[0].fields"],
    ["fields holding a Date", "export", { records: [record({ email: personal, at: new Date(0) })] }, "records[0].fields"],
    ["fields holding a function", "export", { records: [record({ email: personal, f: () => personal })] }, "records[0].fields"],
    ["fields holding NaN", "export", { records: [record({ email: personal, n: [1, Number.NaN] })] }, "records[0].fields"],
    ["fields holding a cycle", "export", { records: [record(cyclic)] }, "records[0].fields"],
    ["a recordedAt that is not a date", "export", { records: [record(), { ...record(), recordedAt: personal }] }, "records[1].recordedAt"],
    ["a recordedAt that is a number", "export", { records: [{ ...record(), recordedAt: 1_700_000_000_000 }] }, "records[0].recordedAt"],
    ["a recordedAt on a day that does not exist", "export", { records: [{ ...record(), recordedAt: "2023-02-29T10:00:00.000Z" }] }, "records[0].recordedAt"],
    ["a recordedAt without its time zone", "export", { records: [{ ...record(), recordedAt: "2024-05-01T10:00:00" }] }, "records[0].recordedAt"],
    ["no erase result", "erase", undefined, "the result"],
    ["no erased count", "erase", {}, "erased"],
    ["a negative erased count", "erase", { erased: -1 }, "erased"],
    ["a fractional erased count", "erase", { erased: 1.5 }, "erased"],
    ["an erased count that is a string", "erase", { erased: "1" }, "erased"],
    ["an erased count that is NaN", "erase", { erased: Number.NaN }, "erased"],
    ["a rectify result that is null", "rectify", null, "the result"],
    ["a negative rectified count", "rectify", { rectified: -2 }, "rectified"],
    ["an infinite rectified count", "rectify", { rectified: Number.POSITIVE_INFINITY }, "rectified"]
  ]

  for (const [label, operation, result, path] of cases) {
    it.effect(`${label} (${operation}) is that source's failure, naming the problem and no value`, () => {
      const calls: Array<string> = []
      const good = recordingSource("good", calls)
      return Effect.gen(function*() {
        const registry = yield* PersonalDataRegistry
        const [tenant, subject] = yield* ids
        yield* good.hold(tenant, subject, "kept")
        const report: Report<unknown> = operation === "export"
          ? yield* registry.exportAll(tenant, subject)
          : operation === "erase"
          ? yield* registry.eraseAll(tenant, subject)
          : yield* registry.rectifyAll(tenant, subject, { good: "changed" })

        assert.deepStrictEqual(outcomeTags(report.outcomes), [["bad", "SourceFailed"], ["good", "SourceSucceeded"]])
        assert.isFalse(report.allSucceeded)
        // The other source's outcome is what it answered.
        assert.deepStrictEqual(report.outcomes[1], {
          _tag: "SourceSucceeded",
          source: "good",
          result: operation === "export"
            ? { records: [{ category: "good.field", fields: { good: "kept" } }] }
            : operation === "erase"
            ? { erased: 1 }
            : { rectified: 1 }
        })
        const error = report.failures[0]!.error
        assert.instanceOf(error, PersonalDataSourceError)
        assert.strictEqual(error.source, "bad")
        assert.strictEqual(error.operation, operation)
        assert.strictEqual(error.cause._tag, "SourceResultInvalid")
        const cause = causeOf(error) as { readonly _tag: string; readonly reason: string; readonly message: string }
        assert.strictEqual(cause._tag, "SourceResultInvalid")
        assert.isTrue(cause.reason.startsWith(path), cause.reason)
        for (const text of [cause.reason, cause.message, error.message, JSON.stringify(report), String(error)]) {
          assert.notInclude(text, "zq.malformed", text)
          assert.notInclude(text, "1700000000000", text)
          assert.notInclude(text, "2023-02-29", text)
        }
      }).pipe(Effect.provide(registryWith([answering("bad", { [operation]: result }), good])))
    })
  }

  it.effect("a well-formed result is reported as the source gave it", () => {
    const exported = {
      records: [
        { category: "fine.field", fields: {}, recordedAt: "2024-02-29T23:59:59.999Z" },
        {
          category: "fine.field",
          // An absent member (`undefined`) is left out of JSON, as in an object literal.
          fields: { text: "t", n: -1.5, yes: true, none: null, absent: undefined, list: [1, "a", [null]], nested: { a: { b: [] } } },
          recordedAt: "2024-05-01T12:00:00+02:00"
        },
        { category: "fine.field", fields: { n: 0 }, recordedAt: "2024-05-01T10:00:00Z" },
        { category: "fine.field", fields: { n: 1 } }
      ]
    }
    return Effect.gen(function*() {
      const registry = yield* PersonalDataRegistry
      const [tenant, subject] = yield* ids
      const reports: ReadonlyArray<Report<unknown>> = [
        yield* registry.exportAll(tenant, subject),
        yield* registry.eraseAll(tenant, subject),
        yield* registry.rectifyAll(tenant, subject, {})
      ]
      assert.deepStrictEqual(reports.map((report) => report.failures.map((f) => causeOf(f.error))), [[], [], []])
      assert.deepStrictEqual(reports.map((report) => report.outcomes.map((o) => o._tag === "SourceSucceeded" && o.result)), [
        [exported],
        [{ erased: 3 }],
        [{ rectified: 0 }]
      ])
    }).pipe(Effect.provide(registryWith([answering("fine", { export: exported, erase: { erased: 3 }, rectify: { rectified: 0 } })])))
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

    it.effect("a rectification to the address the subject already has changes nothing and reports 0", () =>
      Effect.gen(function*() {
        const registry = yield* PersonalDataRegistry
        const directory = yield* SubjectDirectory.SubjectDirectory
        const tenant = yield* TenantId.make
        const subject = yield* directory.resolve(tenant, "Rhea@Example.com")
        const before = yield* directory.entryOf(tenant, subject)

        // The same address once normalised: as given at first, trimmed, the domain in capitals.
        for (const email of ["Rhea@Example.com", "rhea@example.com", " rhea@EXAMPLE.COM "]) {
          const report = yield* registry.rectifyAll(tenant, subject, { email })
          assert.deepStrictEqual(report.outcomes, [
            { _tag: "SourceSucceeded", source: SubjectDirectory.sourceName, result: { rectified: 0 } }
          ])
        }
        assert.deepStrictEqual(yield* directory.entryOf(tenant, subject), before)
        assert.deepStrictEqual(Option.getOrUndefined(yield* directory.find(tenant, "rhea@example.com")), subject)

        // One call of the directory, which answers that nothing changed.
        const answers: Array<boolean> = []
        const source = SubjectDirectory.makeSource({
          ...directory,
          changeEmail: (tenant, subject, email) =>
            Effect.tap(directory.changeEmail(tenant, subject, email), (changed) => answers.push(changed))
        })
        assert.deepStrictEqual(yield* source.rectify(tenant, subject, { email: "RHEA@example.com" }), { rectified: 0 })
        assert.deepStrictEqual(answers, [false])
        assert.deepStrictEqual(yield* directory.entryOf(tenant, subject), before)
        // Another address is still a change, and an invalid one still a failure.
        assert.deepStrictEqual(yield* source.rectify(tenant, subject, { email: "rhea.new@example.com" }), { rectified: 1 })
        assert.deepStrictEqual(answers, [false, true])
        assert.strictEqual(yield* directory.emailOf(tenant, subject), "rhea.new@example.com")
        const invalid = yield* Effect.flip(source.rectify(tenant, subject, { email: "rhea.new@" }))
        assert.strictEqual(invalid.cause._tag, "InvalidEmail")
        assert.deepStrictEqual(yield* source.rectify(tenant, subject, { email: "rhea.new@example.com" }), { rectified: 0 })
        assert.deepStrictEqual(answers, [false, true, false])
        // The stored address is never opened: one that no longer opens is replaced by another.
        const unreadable = SubjectDirectory.makeSource({
          ...directory,
          emailOf: () => Effect.fail(new Vault.SealedValueInvalid({ reason: "authentication-failed" }))
        })
        assert.deepStrictEqual(yield* unreadable.rectify(tenant, subject, { email: "rhea@example.com" }), { rectified: 1 })
        assert.strictEqual(yield* directory.emailOf(tenant, subject), "rhea@example.com")
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
