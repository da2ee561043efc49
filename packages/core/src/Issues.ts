/**
 * What a Schema refused, told without the value it refused. Effect's own
 * formatters quote the value ("Expected string, actual ..."), and the value
 * a caller put in the wrong field may be a person's name or address; a
 * package that reports why its input or a result is malformed describes the
 * refusal with `describe` instead: where (the path) and the form expected,
 * in words made from the Schema alone; `lines` writes those issues as text
 * for an error's message.
 *
 * ```ts
 * const decoded = ParseResult.decodeUnknownEither(Contact)({ name: ["Ann"], email: 7 }, { errors: "all" })
 * if (Either.isLeft(decoded)) Issues.describe(decoded.left)
 * // [{ _tag: "Type", path: ["name"], message: "expected text" },
 * //  { _tag: "Type", path: ["email"], message: "expected text" }]
 * if (Either.isLeft(decoded)) Issues.lines(decoded.left)
 * // ["name: expected text", "email: expected text"]
 * ```
 *
 * @since 0.1.0
 */
import * as Arr from "effect/Array"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import type * as Schema from "effect/Schema"
import * as AST from "effect/SchemaAST"

/**
 * One thing wrong with a value: its kind (the tag of Effect's
 * `ArrayFormatterIssue`: `"Type"`, `"Missing"`, `"Unexpected"`...; or
 * `"NestedTooDeeply"`), where (`path`, the keys and indexes from the value
 * decoded to the part refused, up to a record whose member it is; empty for
 * the value itself; `where` writes it as text), and what is wrong
 * (`message`), which never quotes the value.
 *
 * @since 0.1.0
 * @category models
 */
export interface Issue {
  readonly _tag: ParseResult.ArrayFormatterIssue["_tag"] | "NestedTooDeeply"
  readonly path: ReadonlyArray<PropertyKey>
  readonly message: string
}

/**
 * How `describe` words its messages.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * The message of a value refused for its form, from the words for the form
   * expected (`"text"`, `"an object"`, `"one of \"a\" or \"b\""`, a
   * refinement's description). Default: `` (form) => `expected ${form}` ``.
   */
  readonly refused?: ((form: string) => string) | undefined
}

/**
 * How `lines` writes its lines: as `describe` words the messages, and the
 * name of the value itself.
 *
 * @since 0.1.0
 * @category models
 */
export interface LinesOptions extends Options {
  /**
   * What leads an issue at the value itself (an empty path): `"the event"`
   * makes `"the event: expected an object"`. Default: none, the line is the
   * message alone.
   */
  readonly root?: string | undefined
}

const join = (parts: ReadonlyArray<string>) =>
  parts.length <= 1 ? parts.join("") : `${parts.slice(0, -1).join(", ")} or ${parts[parts.length - 1]}`

/**
 * The form a Schema expects, in words made from the Schema alone: `"text"`,
 * `"a number"`, `"true or false"`, `"an object"`, `"a list"`, a literal as
 * JSON, `"one of ..."` for a union (an optional field's `undefined` left
 * out, as its absence), a refinement's or declaration's description (else
 * its identifier).
 *
 * @since 0.1.0
 * @category formatting
 */
export const expected = (ast: AST.AST): string => {
  switch (ast._tag) {
    case "Literal":
      return JSON.stringify(ast.literal)
    case "StringKeyword":
    case "TemplateLiteral":
      return "text"
    case "NumberKeyword":
      return "a number"
    case "BooleanKeyword":
      return "true or false"
    case "UndefinedKeyword":
      return "absent"
    case "TypeLiteral":
      return "an object"
    case "TupleType":
      return "a list"
    case "Union": {
      const given = ast.types.filter((member) => member._tag !== "UndefinedKeyword")
      const forms = Arr.dedupe((given.length > 0 ? given : ast.types).map(expected))
      return forms.length === 1 ? forms[0]! : `one of ${join(forms)}`
    }
    case "Transformation":
      return expected(ast.from)
    case "Suspend":
      return expected(ast.f())
    case "Refinement":
    case "Declaration":
      return Option.getOrElse(AST.getDescriptionAnnotation(ast), () => String(ast))
    default:
      return String(ast)
  }
}

/**
 * `schema`, its every refusal (of a value of the wrong form, or one its own checks refuse) one
 * message that never quotes the value: `message` when given, else the form `expected` words for
 * it (`"expected one of \"staff\" or \"system\""`). Effect's own quotes the value (`Expected
 * "staff", actual "Ann Smith"`), in the `ParseError` a Schema class's `new` throws as in a
 * decoding's; `describe` keeps this message, at the field's path.
 *
 * ```ts
 * const Kind = Issues.refusedAsExpected(Schema.Literal("staff", "system"))
 * const Slug = Issues.refusedAsExpected(Text.nonEmpty(64).pipe(Schema.pattern(/^[a-z-]+$/)), "a slug of 1 to 64 characters")
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const refusedAsExpected = <S extends Schema.Schema.Any>(schema: S, message?: string): S => {
  const refusal = message ?? `expected ${expected(schema.ast)}`
  return schema.annotations({ message: () => ({ message: refusal, override: true }) }) as S
}

// The members an object may have, as its schema names them: by name, and by the form of the names
// a record takes.
const membersOf = (ast: AST.AST): string => {
  if (ast._tag !== "TypeLiteral") return "it takes none"
  const names = ast.propertySignatures.map((property) => String(property.name))
  const forms = Arr.dedupe(ast.indexSignatures.map((signature) => expected(signature.parameter)))
  if (forms.length === 0) return names.length === 0 ? "it takes none" : `its members are ${names.join(", ")}`
  return names.length === 0
    ? `its members' names are ${join(forms)}`
    : `its members are ${names.join(", ")}, and others whose names are ${join(forms)}`
}

// Stands, in a path, for the name of a record's member, which is the caller's text: `describe`
// tells what is wrong there at the record, and the path within the member's value in the message.
const member: unique symbol = Symbol("@lawful/core/Issues/member")

// Whether an object's member is one its schema names (not one of a record's, named by the caller).
const isNamed = (ast: AST.TypeLiteral, path: ParseResult.Path): boolean => {
  const key = Array.isArray(path) ? path[0] : path
  return ast.propertySignatures.some((property) => property.name === key)
}

// Whether every member of a union refused the value whole (none reached into it).
const allTypes = (issues: ReadonlyArray<ParseResult.ParseIssue>) => issues.every((issue) => issue._tag === "Type")

// The issue with the value left out of every message a schema does not word itself: the default
// message of a refusal ("Expected ..., actual <the value>") is replaced by the expected form, and a
// union none of whose members accepted the value is one refusal naming them all. A refinement's
// own message (a filter returning its reason) is kept, and so is a `message` annotation, which the
// formatter prefers to any message here.
const scrub = (issue: ParseResult.ParseIssue, refused: (form: string) => string): ParseResult.ParseIssue => {
  switch (issue._tag) {
    case "Type":
      return issue.message !== undefined && issue.ast._tag === "Refinement"
        ? issue
        : new ParseResult.Type(issue.ast, issue.actual, refused(expected(issue.ast)))
    case "Composite": {
      const issues: ReadonlyArray<ParseResult.ParseIssue> = Array.isArray(issue.issues)
        ? issue.issues
        : [issue.issues as ParseResult.ParseIssue]
      const ast = issue.ast
      const scrubbed = Arr.map(issues, (inner): ParseResult.ParseIssue => {
        if (ast._tag !== "TypeLiteral" || inner._tag !== "Pointer") return scrub(inner, refused)
        // A member not allowed, or a record's member whose value is refused, is told by its object,
        // not by its name, which is the caller's text.
        if (inner.issue._tag === "Unexpected") {
          return new ParseResult.Unexpected(inner.actual, `has a member that is not allowed (${membersOf(ast)})`)
        }
        return isNamed(ast, inner.path)
          ? scrub(inner, refused)
          : new ParseResult.Pointer(member, inner.actual, scrub(inner.issue, refused))
      })
      if (issue.ast._tag === "Union" && allTypes(scrubbed)) {
        return new ParseResult.Type(issue.ast, issue.actual, refused(expected(issue.ast)))
      }
      // An optional field given a value the other members refuse: their issues say it all.
      const given = scrubbed.filter((inner) => !(inner._tag === "Type" && inner.ast._tag === "UndefinedKeyword"))
      return new ParseResult.Composite(
        issue.ast,
        issue.actual,
        Arr.isNonEmptyArray(given) ? given : scrubbed[0]!,
        issue.output
      )
    }
    case "Pointer":
      return new ParseResult.Pointer(issue.path, issue.actual, scrub(issue.issue, refused))
    case "Refinement":
      return new ParseResult.Refinement(issue.ast, issue.actual, issue.kind, scrub(issue.issue, refused))
    case "Transformation":
      return new ParseResult.Transformation(issue.ast, issue.actual, issue.kind, scrub(issue.issue, refused))
    case "Missing":
    case "Unexpected":
    case "Forbidden":
      return issue
  }
}

const expectedForm = (form: string) => `expected ${form}`

/**
 * A path (an `Issue`'s) as code would reach the part it leads to:
 * `records[0].recordedAt`; `""` for the value itself.
 *
 * @since 0.1.0
 * @category formatting
 */
export const where = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>(
    (to, key) => (typeof key === "number" ? `${to}[${key}]` : to === "" ? String(key) : `${to}.${String(key)}`),
    ""
  )

// An issue within a record's member, moved to the record: the path within the member's value (a
// record's member within it shown as `*`) goes into the message.
const atRecord = (issue: ParseResult.ArrayFormatterIssue): Issue => {
  const at = issue.path.indexOf(member)
  if (at < 0) return issue
  const within = where(issue.path.slice(at + 1).map((key) => (key === member ? "*" : key)))
  return {
    _tag: issue._tag,
    path: issue.path.slice(0, at),
    message: `a member's value${within === "" ? "" : `, at ${within}`}: ${issue.message}`
  }
}

// The issues, each once (several members of a record refused alike are one issue at the record).
const once = (issues: ReadonlyArray<Issue>): ReadonlyArray<Issue> => {
  const seen = new Set<string>()
  return issues.filter((issue) => {
    const key = JSON.stringify([
      issue._tag,
      issue.message,
      issue.path.map((key) => (typeof key === "symbol" ? { symbol: String(key) } : key))
    ])
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

/**
 * The issues of a failed decoding (a `ParseError`, or its `issue`), in the
 * order Effect's `ArrayFormatter` gives them, each with its path and a
 * message that never quotes the value refused:
 *
 * - a value of the wrong form: the form expected (`Options.refused`, by
 *   default `"expected text"`), from the Schema alone;
 * - a union that refused the value whole: one issue naming every form it
 *   takes; an optional field given a value of the wrong form: the issues of
 *   its form, not "expected absent";
 * - a member an object does not take: one issue at the object, `"has a
 *   member that is not allowed (its members are a, b)"`, never the member's
 *   name (the caller's text);
 * - a record's member (a name the Schema does not spell out, but the
 *   caller's text) whose value is refused: at the record, never by the
 *   member's name, its message led by `"a member's value: "` (and the path
 *   within the value: `"a member's value, at zips[1]: expected text"`);
 * - the same issue twice (two members of a record refused alike): once;
 * - a message the Schema words itself (a filter returning its reason, a
 *   `message` annotation) is kept: keep the value out of it.
 *
 * Describing recurses through the issue: a value nested thousands deep may
 * overflow the stack, and is then described by one issue of kind
 * `"NestedTooDeeply"` at the value itself ("is nested too deeply to be
 * described"), never an exception.
 *
 * @since 0.1.0
 * @category formatting
 */
export const describe = (
  error: ParseResult.ParseError | ParseResult.ParseIssue,
  options?: Options
): ReadonlyArray<Issue> => {
  const issue = error._tag === "ParseError" ? error.issue : error
  try {
    const issues = ParseResult.ArrayFormatter.formatIssueSync(scrub(issue, options?.refused ?? expectedForm))
    return once(issues.map(atRecord))
  } catch (cause) {
    if (!(cause instanceof RangeError)) throw cause
    return [{ _tag: "NestedTooDeeply", path: [], message: "is nested too deeply to be described" }]
  }
}

/**
 * The issues of a failed decoding as `describe` tells them, one line each:
 * where (`where`), then what is wrong, `"records[0].recordedAt: expected
 * text"`; an issue at the value itself is its message alone, or led by
 * `LinesOptions.root` when given (`"the event: expected an object"`). Never
 * the value refused; a caller joins them as its message needs.
 *
 * ```ts
 * Issues.lines(error, { root: "the bundle" }).join("; ")
 * // "the bundle: has a member that is not allowed (its members are ...); entries[2].hash: expected text"
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const lines = (
  error: ParseResult.ParseError | ParseResult.ParseIssue,
  options?: LinesOptions
): ReadonlyArray<string> =>
  describe(error, options).map((issue) => {
    const at = where(issue.path) || options?.root
    return at === undefined || at === "" ? issue.message : `${at}: ${issue.message}`
  })
