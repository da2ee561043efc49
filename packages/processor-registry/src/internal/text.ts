import { refusedAsExpected } from "@lawful/core/Issues"
import * as CoreText from "@lawful/core/Text"
import * as Schema from "effect/Schema"

/**
 * @internal An id chosen by whoever records it (an activity's, a question's, an option's):
 * lower-case letters, digits, dots, dashes and underscores, at most 64 characters, storable text
 * (`@lawful/core/Text`'s `Storable`). A refusal says what is expected, never the id given.
 */
export const Slug = CoreText.Storable.pipe(
  Schema.pattern(/^[a-z0-9][a-z0-9._-]*$/, { message: () => "an id is lower-case letters, digits, dots, dashes and underscores" }),
  Schema.maxLength(64, { message: () => "an id is at most 64 characters" })
)

/** @internal What storable text is, as a refusal says it. */
export const storableText = "without NUL characters or unpaired surrogates"

/**
 * @internal Free text (a legal name, a service, a purpose, a description, a reason, notes, an
 * objection: any of it may name a person): trimmed storable text of 1 to `maxLength` characters
 * (`@lawful/core/Text`'s `trimmed`) whose refusal says what is expected, never the text.
 */
export const freeText = (maxLength: number) =>
  refusedAsExpected(CoreText.trimmed(maxLength), `1 to ${maxLength} characters of text, ${storableText}`)

/**
 * @internal An optional field of free text (`freeText`): given, it is refused as a whole with what
 * is expected (a refusal of the `undefined` it may also be would quote the text).
 */
export const optionalFreeText = (maxLength: number) =>
  Schema.optionalWith(
    refusedAsExpected(
      Schema.UndefinedOr(freeText(maxLength)),
      `1 to ${maxLength} characters of text, ${storableText}, when given`
    ),
    { exact: true }
  )

/**
 * @internal A list of free text (`freeText`), of at least one entry when `nonEmpty`: a refused
 * entry is named by its index, and a value that is no list is refused without being quoted.
 */
export function freeTexts(maxLength: number, nonEmpty: true): Schema.NonEmptyArray<ReturnType<typeof freeText>>
export function freeTexts(maxLength: number, nonEmpty: false): Schema.Array$<ReturnType<typeof freeText>>
export function freeTexts(maxLength: number, nonEmpty: boolean) {
  const list = nonEmpty ? "1 or more" : "a list of"
  return (nonEmpty ? Schema.NonEmptyArray(freeText(maxLength)) : Schema.Array(freeText(maxLength))).annotations({
    message: () => `${list} texts of 1 to ${maxLength} characters each, ${storableText}`
  })
}
