import * as ParseResult from "effect/ParseResult"

/**
 * @internal The issues of a decoding by path and kind, never the offending value: a request or a
 * proof may carry an address, an IP address or a user agent, and a reason must not (in whatever
 * member it was misplaced). The name of a member not allowed is the caller's text too, so the
 * member is named by where it is, not by itself. `root` names the whole value. The formatter
 * recurses: a value nested thousands deep overflows the stack, and is described without it.
 */
export const describeIssues = (error: ParseResult.ParseError, root: string): ReadonlyArray<string> => {
  const where = (path: ReadonlyArray<PropertyKey>) => path.length === 0 ? root : path.join(".")
  try {
    return [
      ...new Set(ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) =>
        issue._tag === "Missing"
          ? `${where(issue.path)}: missing`
          : issue._tag === "Unexpected"
          ? `${where(issue.path.slice(0, -1))}: a member not allowed`
          : `${where(issue.path)}: invalid`
      ))
    ]
  } catch {
    return ["a value is nested too deeply"]
  }
}
