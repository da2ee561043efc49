import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Json from "../src/Json.js"
import { causeOf, PersonalDataRegistry, layer as registryLayer, register } from "../src/PersonalDataRegistry.js"
import * as SubjectId from "../src/SubjectId.js"
import * as TenantId from "../src/TenantId.js"

describe("Json.strictness", () => {
  it("takes strict text: members once per object, plain decimal integers", () => {
    for (const text of ['{"a":1,"b":[0,12,{"a":2}],"c":"1e3 \\" \\\\ ,{"}', "[]", '"x"', "0", '{"a":{"a":{"a":null}}}']) {
      assert.isUndefined(Json.strictness(text), text)
    }
  })

  it("refuses a member given twice, in any object, without naming it", () => {
    for (const text of ['{"email":1,"email":2}', '[{"a":1},{"b":1,"b":1}]', '{"a":{"x":1},"b":{"x":1,"x":1}}', '{"a\\u0062":1,"ab":2}']) {
      assert.strictEqual(Json.strictness(text), "an object names a member twice", text)
    }
  })

  it("refuses numbers readers may read otherwise, without echoing them", () => {
    for (const text of ["1.0", "1e3", "-0", "-1", "01", '{"a":[2.5]}', "12345678901234567890"]) {
      assert.strictEqual(Json.strictness(text), "a number is not a plain decimal integer", text)
    }
  })
})

// `levels` objects, each the only member of the one around it, around `inner`.
const nested = (levels: number, inner: unknown = 1): unknown => {
  let value = inner
  for (let i = 0; i < levels; i++) value = { a: value }
  return value
}

// What no reason may quote: personal data a value or a member's name may hold.
const personal = "zq.json@example.com"

describe("Json.problem", () => {
  const options = { maxDepth: 32 }

  it("takes JSON values: strings, finite numbers, booleans, null, arrays and plain objects of these", () => {
    const values = [
      "text",
      -1.5,
      true,
      null,
      [],
      {},
      { text: "t", n: 0, yes: false, none: null, list: [1, "a", [null]], nested: { a: { b: [] } } },
      Object.assign(Object.create(null), { a: 1 })
    ]
    for (const value of values) assert.isUndefined(Json.problem(value, options), JSON.stringify(value))
  })

  it("names the kind of value that is not JSON, never the value nor its member's name", () => {
    class Person {
      constructor(readonly email: string) {}
    }
    const cyclic: Record<string, unknown> = { [personal]: personal }
    cyclic.self = cyclic
    const cases: ReadonlyArray<readonly [unknown, string]> = [
      [{ [personal]: 10n }, "a bigint"],
      [{ [personal]: [Number.NaN] }, "a number that is not finite"],
      [{ [personal]: Number.POSITIVE_INFINITY }, "a number that is not finite"],
      [{ [personal]: () => personal }, "a function"],
      [{ [personal]: Symbol(personal) }, "a symbol"],
      [{ [personal]: new Date(0) }, "an object that is not plain (a Date, a Map, a class instance)"],
      [{ [personal]: new Map([[personal, personal]]) }, "an object that is not plain (a Date, a Map, a class instance)"],
      [{ a: new Person(personal) }, "an object that is not plain (a Date, a Map, a class instance)"],
      [{ [personal]: [personal, undefined] }, "an undefined array item"],
      [{ [personal]: [personal, , personal] }, "an undefined array item"],
      [{ [personal]: undefined }, "an undefined member"],
      [undefined, "undefined"],
      [cyclic, "a cycle"],
      [nested(40, personal), "a value nested more than 32 levels deep"]
    ]
    for (const [value, problem] of cases) {
      const found = Json.problem(value, options)
      assert.strictEqual(found, problem)
      assert.notInclude(found, "zq.json")
    }
  })

  it("takes an undefined member, left out of JSON, only when asked to; never an undefined array item", () => {
    assert.isUndefined(Json.problem({ a: undefined, b: { c: undefined } }, { ...options, undefinedMembers: true }))
    assert.strictEqual(Json.problem({ a: [undefined] }, { ...options, undefinedMembers: true }), "an undefined array item")
  })

  it("refuses text a database cannot store, in a string or a member's name, only when asked to", () => {
    const storable = { ...options, storableText: true }
    for (const text of [`${personal}\0`, `${personal}\uD800`, "\uDFFF"]) {
      assert.isUndefined(Json.problem({ [text]: [text] }, options))
      assert.strictEqual(Json.problem({ a: [text] }, storable), "text a database cannot store")
      assert.strictEqual(Json.problem({ [text]: 1 }, storable), "a member name a database cannot store")
    }
    assert.isUndefined(Json.problem({ "\uD83D\uDE00": "\uD83D\uDE00" }, storable))
  })

  it("takes a value nested maxDepth levels deep, and refuses one a level deeper, whatever it is", () => {
    assert.isUndefined(Json.problem(nested(32), options))
    assert.isUndefined(Json.problem(nested(31, [1]), options))
    for (const inner of [1, null, {}, []]) {
      assert.strictEqual(Json.problem(nested(33, inner), options), "a value nested more than 32 levels deep")
    }
  })

  it("refuses a value nested 100,000 levels deep without overflowing the stack", () => {
    assert.strictEqual(Json.problem(nested(100_000), options), "a value nested more than 32 levels deep")
    assert.strictEqual(Json.problem(nested(100_000), { maxDepth: 1000 }), "a value nested more than 1000 levels deep")
  })
})

describe("PersonalDataRegistry: a source's fields nested too deeply", () => {
  it.effect("fields nested 100,000 levels deep are that source's SourceResultInvalid, not a defect", () =>
    Effect.gen(function*() {
      const registry = yield* PersonalDataRegistry
      const report = yield* registry.exportAll(yield* TenantId.make, yield* SubjectId.make)
      assert.isFalse(report.allSucceeded)
      const error = report.failures[0]!.error
      assert.strictEqual(error.cause._tag, "SourceResultInvalid")
      const reason = (causeOf(error) as { readonly reason: string }).reason
      assert.strictEqual(reason, "records[0].fields holds a value nested more than 100 levels deep, which is not JSON")
      assert.notInclude(JSON.stringify(report), "zq.json")
    }).pipe(
      Effect.provide(register({
        name: "deep",
        description: "answers fields nested 100,000 levels deep",
        categories: ["deep.field"],
        purposes: ["testing"],
        export: () => Effect.sync(() => ({ records: [{ category: "deep.field", fields: { a: nested(100_000, personal) } }] }) as never),
        erase: () => Effect.succeed({ erased: 0 }),
        rectify: () => Effect.succeed({ rectified: 0 })
      }).pipe(Layer.provideMerge(registryLayer)))
    ))

  it.effect("fields nested 100 levels deep are taken", () =>
    Effect.gen(function*() {
      const registry = yield* PersonalDataRegistry
      const report = yield* registry.exportAll(yield* TenantId.make, yield* SubjectId.make)
      assert.isTrue(report.allSucceeded)
    }).pipe(
      Effect.provide(register({
        name: "deep",
        description: "answers fields nested 100 levels deep",
        categories: ["deep.field"],
        purposes: ["testing"],
        export: () => Effect.sync(() => ({ records: [{ category: "deep.field", fields: nested(100) as never }] })),
        erase: () => Effect.succeed({ erased: 0 }),
        rectify: () => Effect.succeed({ rectified: 0 })
      }).pipe(Layer.provideMerge(registryLayer)))
    ))
})
