import * as Issues from "@lawful/core/Issues"
import * as Arr from "effect/Array"
import type * as ParseResult from "effect/ParseResult"

/**
 * @internal The issues of a failed decoding, one per line, each led by the field's path as core's
 * `Issues.where` writes it (`locations[1].country`): what is wrong and the form expected, never
 * the value given (`@lawful/core/Issues`). A schema's own message is kept: those of the package
 * say what is expected without the value.
 */
export const describeIssues = (error: ParseResult.ParseError): ReadonlyArray<string> => Arr.dedupe(Issues.lines(error))
