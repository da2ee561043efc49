/**
 * Text every store can hold. PostgreSQL's `text` and `jsonb` refuse the NUL
 * character, and `jsonb` an unpaired surrogate (half of a UTF-16 pair, which
 * is not Unicode text); the memory stores take both. A package refuses such
 * text where it decodes its input, with its own validation error, so that
 * every store takes the same input and nothing fails at the database.
 *
 * Lengths are counted as JavaScript counts them, in UTF-16 code units: a
 * character outside the Basic Multilingual Plane (an emoji, a rare CJK
 * ideograph) counts two. PostgreSQL counts characters (code points), never
 * more, so text within `maxLength` here fits a `varchar(maxLength)` column.
 *
 * ```ts
 * const Reason = Text.trimmed(1000) // trimmed, 1 to 1000 UTF-16 code units, storable
 * const FormId = Text.nonEmpty(200) // as given, 1 to 200 UTF-16 code units, storable
 * const Note = Text.storable(MyNoteSchema) // any string schema of your own
 * ```
 *
 * A refusal says what is expected, never the text refused (a name or an
 * address put in the wrong field): `"expected text of 1 to 200 characters"`,
 * `"expected text without leading or trailing whitespace"`, `"expected
 * text"`, or `message`; so does the `ParseError` a Schema class with such a
 * field throws from `new`, where Schema's own messages would quote the value.
 *
 * @since 0.1.0
 */
import { identity } from "effect/Function"
import * as Schema from "effect/Schema"

const unstorable = /[\0\p{Cs}]/u

/**
 * Whether `text` has neither a NUL character nor an unpaired surrogate.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isStorable = (text: string): boolean => !unstorable.test(text)

/**
 * The message of a refusal.
 *
 * @since 0.1.0
 * @category constants
 */
export const message = "text must not contain NUL characters or unpaired surrogates"

/**
 * Refines a string schema (on its decoded side) to storable text.
 *
 * @since 0.1.0
 * @category combinators
 */
export const storable = <A extends string, I, R>(self: Schema.Schema<A, I, R>): Schema.filter<Schema.Schema<A, I, R>> =>
  self.pipe(Schema.filter((text: A) => isStorable(text), { message: () => message }))

/**
 * A string of storable text.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Storable: Schema.filter<Schema.Schema<string>> = storable(
  Schema.String.annotations({ message: () => "expected text" })
)

// Bounds a length with a refusal that says what is expected: Schema's own (`Expected a string at
// most 200 character(s) long, actual "..."`) quotes the text.
const bounded = (maxLength: number) => {
  const form = `text of 1 to ${maxLength} characters`
  const annotations = { description: form, message: () => `expected ${form}` }
  return <A extends string, I, R>(self: Schema.Schema<A, I, R>) =>
    self.pipe(Schema.minLength(1, annotations), Schema.maxLength(maxLength, annotations))
}

// As `Schema.Trim`, refusing untrimmed text (given to a class's constructor, which checks the
// decoded side) without quoting it.
const withoutEdgeSpace = "text without leading or trailing whitespace"
const Trim = Schema.transform(
  Storable,
  Storable.pipe(Schema.trimmed({ description: withoutEdgeSpace, message: () => `expected ${withoutEdgeSpace}` })),
  { strict: true, decode: (text) => text.trim(), encode: identity }
)

/**
 * Storable text of 1 to `maxLength` UTF-16 code units, taken as given.
 *
 * @since 0.1.0
 * @category schemas
 */
export const nonEmpty = (maxLength: number) => Storable.pipe(bounded(maxLength))

/**
 * Storable text, trimmed when decoded, of 1 to `maxLength` UTF-16 code units after trimming.
 *
 * @since 0.1.0
 * @category schemas
 */
export const trimmed = (maxLength: number) => Trim.pipe(bounded(maxLength))
