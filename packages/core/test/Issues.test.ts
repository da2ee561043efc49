import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Issues from "../src/Issues.js"

// What a caller may put in the wrong field, or name a member after: a person's name and address.
const personal = "Zoe Marker zoe.marker@example.org"

const Contact = Schema.Struct({
  name: Schema.String,
  age: Schema.optional(Schema.Int.pipe(Schema.between(0, 150))),
  role: Schema.Literal("owner", "member"),
  address: Schema.optional(Schema.Struct({ city: Schema.String })),
  tags: Schema.Array(Schema.String),
  note: Schema.optional(Schema.String.pipe(Schema.filter((note) => note.length <= 3 || "a note is 3 characters at most")))
})

const refusal = (value: unknown, schema: Schema.Schema<any, any> = Contact): ParseResult.ParseError => {
  const decoded = Schema.decodeUnknownEither(schema, { errors: "all", onExcessProperty: "error" })(value)
  if (Either.isRight(decoded)) throw new Error("decoded")
  return decoded.left
}

const valid = { name: "Ann", role: "owner", tags: [] }

const lines = (issues: ReadonlyArray<Issues.Issue>) => issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`)

describe("Issues.describe", () => {
  it("names the path and the form expected of a value of the wrong form, never the value", () => {
    const error = refusal({ ...valid, name: [personal], age: personal, role: personal, tags: [personal, 7] })
    const issues = Issues.describe(error)
    assert.deepStrictEqual(lines(issues), [
      "name: expected text",
      "age: expected a number",
      "role: expected one of \"owner\" or \"member\"",
      "tags.1: expected text"
    ])
    assert.deepStrictEqual(issues.map((issue) => issue._tag), ["Type", "Type", "Type", "Type"])
    assert.notInclude(JSON.stringify(issues), "Zoe")
  })

  it("words a refinement by its description, and keeps a filter's own reason", () => {
    assert.deepStrictEqual(lines(Issues.describe(refusal({ ...valid, age: 1.5 }))), ["age: expected an integer"])
    assert.deepStrictEqual(lines(Issues.describe(refusal({ ...valid, age: 200 }))), ["age: expected a number between 0 and 150"])
    assert.deepStrictEqual(lines(Issues.describe(refusal({ ...valid, note: personal }))), ["note: a note is 3 characters at most"])
  })

  it("tells a member an object does not take at the object, with the members it takes, never the member's name", () => {
    const issues = Issues.describe(refusal({ ...valid, address: { city: "Paris", [personal]: 1 }, [personal]: true }))
    assert.deepStrictEqual(lines(issues), [
      ": has a member that is not allowed (its members are name, age, role, address, tags, note)",
      "address: has a member that is not allowed (its members are city)"
    ])
    assert.deepStrictEqual(issues.map((issue) => issue._tag), ["Unexpected", "Unexpected"])
    assert.notInclude(JSON.stringify(issues), "Zoe")
  })

  it("tells an optional object given wrong members by those members, not as expected absent", () => {
    assert.deepStrictEqual(lines(Issues.describe(refusal({ ...valid, address: { city: 7 } }))), ["address.city: expected text"])
    assert.deepStrictEqual(lines(Issues.describe(refusal({ ...valid, address: personal }))), ["address: expected an object"])
  })

  it("tells a missing member by its path", () => {
    const issues = Issues.describe(refusal({ role: "owner" }))
    assert.deepStrictEqual(issues.map((issue) => [issue._tag, issue.path.join("."), issue.message]), [
      ["Missing", "name", "is missing"],
      ["Missing", "tags", "is missing"]
    ])
  })

  it("takes the issue as well as the error, and words a refusal as asked", () => {
    const error = refusal({ ...valid, name: 7 })
    assert.deepStrictEqual(Issues.describe(error.issue), Issues.describe(error))
    assert.deepStrictEqual(lines(Issues.describe(error, { refused: (form) => `is not ${form}` })), ["name: is not text"])
  })

  it("keeps a message annotation, which the Schema words itself", () => {
    const Code = Schema.String.pipe(Schema.pattern(/^[a-z]+$/, { message: () => "a code is lower-case letters" }))
    assert.deepStrictEqual(lines(Issues.describe(refusal({ code: personal }, Schema.Struct({ code: Code })))), [
      "code: a code is lower-case letters"
    ])
  })

  it("describes an issue nested too deeply to walk as one issue, never an exception", () => {
    let issue: ParseResult.ParseIssue = new ParseResult.Type(Schema.String.ast, personal)
    for (let i = 0; i < 200_000; i++) issue = new ParseResult.Pointer("a", {}, issue)
    assert.deepStrictEqual(Issues.describe(issue), [
      { _tag: "NestedTooDeeply", path: [], message: "is nested too deeply to be described" }
    ])
  })
})

describe("Issues.describe, a record", () => {
  // A record's member names are the caller's text: a person's address, a name.
  const Answers = Schema.Struct({ answers: Schema.Record({ key: Schema.String, value: Schema.Boolean }) })

  it("tells a member's value refused at the record, never the member's name", () => {
    const issues = Issues.describe(refusal({ answers: { [personal]: "yes" } }, Answers))
    assert.deepStrictEqual(lines(issues), ["answers: a member's value: expected true or false"])
    assert.deepStrictEqual(issues.map((issue) => issue._tag), ["Type"])
    assert.notInclude(JSON.stringify(issues), "Zoe")
  })

  it("tells what is wrong inside a member's value by the path within it, and once for many members", () => {
    const Cities = Schema.Record({ key: Schema.String, value: Schema.Struct({ city: Schema.String, zips: Schema.Array(Schema.String) }) })
    const issues = Issues.describe(
      refusal({ [personal]: { city: 7, zips: [] }, "Ann Smith": { city: 8, zips: ["ok", 9] } }, Cities)
    )
    assert.deepStrictEqual(lines(issues), [
      ": a member's value, at city: expected text",
      ": a member's value, at zips[1]: expected text"
    ])
    assert.notInclude(JSON.stringify(issues), "Zoe")
    assert.notInclude(JSON.stringify(issues), "Ann")
  })

  it("tells a member of a struct with a record's members apart: a named one by its name", () => {
    const Mixed = Schema.Struct({ id: Schema.Number }, Schema.Record({ key: Schema.String, value: Schema.Union(Schema.Number, Schema.String) }))
    const issues = Issues.describe(refusal({ id: "one", [personal]: true }, Mixed))
    assert.deepStrictEqual(lines(issues), ["id: expected a number", ": a member's value: expected one of a number or text"])
    assert.notInclude(JSON.stringify(issues), "Zoe")
  })

  it("tells a member whose name the key schema refuses at the record, with the names it takes, never the name", () => {
    const Codes = Schema.Struct({
      codes: Schema.Record({ key: Schema.String.pipe(Schema.pattern(/^[a-z]+$/)), value: Schema.Boolean })
    })
    const issues = Issues.describe(refusal({ codes: { valid: true, [personal]: true } }, Codes))
    assert.deepStrictEqual(lines(issues), [
      "codes: has a member that is not allowed (its members' names are a string matching the pattern ^[a-z]+$)"
    ])
    assert.deepStrictEqual(issues.map((issue) => issue._tag), ["Unexpected"])
    assert.notInclude(JSON.stringify(issues), "Zoe")
  })
})

describe("Issues.where", () => {
  it("writes a path as code would reach it", () => {
    assert.strictEqual(Issues.where([]), "")
    assert.strictEqual(Issues.where(["records", 0, "recordedAt"]), "records[0].recordedAt")
    assert.strictEqual(Issues.where([2, "city"]), "[2].city")
  })
})

describe("Issues.lines", () => {
  it("writes each issue as its path, as code would reach it, then what is wrong, never the value", () => {
    const error = refusal({ ...valid, name: [personal], tags: ["ok", personal, 7], address: { city: 7 } })
    assert.deepStrictEqual(Issues.lines(error), [
      "name: expected text",
      "address.city: expected text",
      "tags[2]: expected text"
    ])
    assert.notInclude(JSON.stringify(Issues.lines(error)), "Zoe")
  })

  it("writes an issue at the value itself as its message alone, or led by the name given for the value", () => {
    const error = refusal({ ...valid, name: 7, [personal]: true })
    assert.deepStrictEqual(Issues.lines(error), [
      "has a member that is not allowed (its members are name, age, role, address, tags, note)",
      "name: expected text"
    ])
    assert.deepStrictEqual(Issues.lines(error, { root: "the contact" }), [
      "the contact: has a member that is not allowed (its members are name, age, role, address, tags, note)",
      "name: expected text"
    ])
    assert.deepStrictEqual(Issues.lines(refusal(personal), { root: "the contact" }), ["the contact: expected an object"])
  })

  it("takes the issue as well as the error, and words a refusal as describe does", () => {
    const error = refusal({ ...valid, name: 7 })
    assert.deepStrictEqual(Issues.lines(error.issue), Issues.lines(error))
    assert.deepStrictEqual(Issues.lines(error, { refused: (form) => `is not ${form}` }), ["name: is not text"])
  })
})

describe("Issues.expected", () => {
  it("words a Schema's form from the Schema alone", () => {
    const cases: ReadonlyArray<readonly [Schema.Schema.Any, string]> = [
      [Schema.String, "text"],
      [Schema.Number, "a number"],
      [Schema.Boolean, "true or false"],
      [Schema.Literal("a"), "\"a\""],
      [Schema.Struct({}), "an object"],
      [Schema.Array(Schema.String), "a list"],
      [Schema.Union(Schema.String, Schema.Number), "one of text or a number"],
      [Schema.UndefinedOr(Schema.String), "text"],
      [Schema.NumberFromString, "text"],
      [Schema.NonNegativeInt, "an integer"],
      [Schema.DateFromSelf, "a potentially invalid Date instance"]
    ]
    for (const [schema, form] of cases) assert.strictEqual(Issues.expected(schema.ast), form, String(schema.ast))
  })
})
