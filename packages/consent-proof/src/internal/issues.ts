import * as Issues from "@lawful/core/Issues"
import type * as ParseResult from "effect/ParseResult"

/**
 * @internal The issues of a decoding by path and kind, never the offending value: a request or a
 * proof may carry an address, an IP address or a user agent, and a reason must not (in whatever
 * member it was misplaced). A member not allowed is named by its object, not by itself: its name
 * is the caller's text too. `root` names the whole value. A value nested too deeply to be
 * described (`@lawful/core/Issues`) is said to be so. A path reads as core's `Issues.where` writes
 * it, as the audit log's do: `contacts[2].email`.
 */
export const describeIssues = (error: ParseResult.ParseError, root: string): ReadonlyArray<string> => {
  const where = (path: ReadonlyArray<PropertyKey>) => path.length === 0 ? root : Issues.where(path)
  return [
    ...new Set(Issues.describe(error).map((issue) =>
      issue._tag === "NestedTooDeeply"
        ? "a value is nested too deeply"
        : issue._tag === "Missing"
        ? `${where(issue.path)}: missing`
        : issue._tag === "Unexpected"
        ? `${where(issue.path)}: a member not allowed`
        : `${where(issue.path)}: invalid`
    ))
  ]
}
