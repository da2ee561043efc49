import * as Arr from "effect/Array"
import * as ParseResult from "effect/ParseResult"
import type * as AST from "effect/SchemaAST"

const join = (parts: ReadonlyArray<string>) =>
  parts.length <= 1 ? parts.join("") : `${parts.slice(0, -1).join(", ")} or ${parts[parts.length - 1]}`

// The form a schema expects, in words made from the schema alone.
const expected = (ast: AST.AST): string => {
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
      // An optional field's `undefined` is its absence: not a form to give.
      const given = ast.types.filter((member) => member._tag !== "UndefinedKeyword")
      const forms = Arr.dedupe((given.length > 0 ? given : ast.types).map(expected))
      return forms.length === 1 ? forms[0]! : `one of ${join(forms)}`
    }
    case "Refinement":
      return String(ast)
    case "Transformation":
      return expected(ast.from)
    case "Suspend":
      return expected(ast.f())
    default:
      return String(ast)
  }
}

// The members an object may have, as its schema names them.
const membersOf = (ast: AST.AST): string => {
  const names = ast._tag === "TypeLiteral" ? ast.propertySignatures.map((property) => String(property.name)) : []
  return names.length === 0 ? "it takes none" : `its members are ${names.join(", ")}`
}

// Whether every member of a union refused the value whole (none reached into it).
const allTypes = (issues: ReadonlyArray<ParseResult.ParseIssue>) => issues.every((issue) => issue._tag === "Type")

// The issue with the value given left out of every message a schema does not word itself: the
// default message of a refusal ("Expected ..., actual <the value>") is replaced by the expected
// form, and a union none of whose members accepted the value is one refusal naming them all. A
// refinement's own message (a filter returning its reason) is kept.
const scrub = (issue: ParseResult.ParseIssue): ParseResult.ParseIssue => {
  switch (issue._tag) {
    case "Type":
      return issue.message !== undefined && issue.ast._tag === "Refinement"
        ? issue
        : new ParseResult.Type(issue.ast, issue.actual, `expected ${expected(issue.ast)}`)
    case "Composite": {
      const issues: ReadonlyArray<ParseResult.ParseIssue> = Array.isArray(issue.issues)
        ? issue.issues
        : [issue.issues as ParseResult.ParseIssue]
      const scrubbed = Arr.map(issues, (inner): ParseResult.ParseIssue =>
        // A member not allowed is named by the caller: the issue is its object's, not under its name.
        issue.ast._tag === "TypeLiteral" && inner._tag === "Pointer" && inner.issue._tag === "Unexpected"
          ? new ParseResult.Unexpected(inner.actual, `has a member that is not allowed (${membersOf(issue.ast)})`)
          : scrub(inner))
      if (issue.ast._tag === "Union" && allTypes(scrubbed)) {
        return new ParseResult.Type(issue.ast, issue.actual, `expected ${expected(issue.ast)}`)
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
      return new ParseResult.Pointer(issue.path, issue.actual, scrub(issue.issue))
    case "Refinement":
      return new ParseResult.Refinement(issue.ast, issue.actual, issue.kind, scrub(issue.issue))
    case "Transformation":
      return new ParseResult.Transformation(issue.ast, issue.actual, issue.kind, scrub(issue.issue))
    case "Missing":
    case "Unexpected":
    case "Forbidden":
      return issue
  }
}

/**
 * @internal The issues of a failed decoding, one per line, each led by the field's path: what is
 * wrong and the form expected, never the value given (a value of the wrong type may be a
 * person's name or address, put in the wrong field). A schema's own message is kept: those of
 * the package say what is expected without the value.
 */
export const describeIssues = (error: ParseResult.ParseError): ReadonlyArray<string> =>
  Arr.dedupe(
    ParseResult.ArrayFormatter.formatIssueSync(scrub(error.issue)).map((issue) =>
      issue.path.length === 0 ? issue.message : `${issue.path.join(".")}: ${issue.message}`
    )
  )
