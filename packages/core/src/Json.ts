/**
 * Strict JSON text, for formats a third party reads with its own JSON reader
 * (proof bundles, consent proofs): what `JSON.parse` accepts but different
 * readers may read differently is refused, so that every reader sees one
 * document.
 *
 * ```ts
 * const text = '{"leafIndex":1,"leafIndex":2}'
 * JSON.parse(text) // accepted: { leafIndex: 2 }
 * Json.strictness(text) // "an object names a member twice"
 * ```
 *
 * And JSON values, for what is checked before it becomes text (a source's
 * exported fields, an audit event's details): `problem` walks a JavaScript
 * value and says why it is not one, to a depth limit.
 *
 * ```ts
 * Json.problem({ at: new Date() }, { maxDepth: 32 }) // "an object that is not plain (a Date, a Map, a class instance)"
 * ```
 *
 * @since 0.1.0
 */
import { isStorable } from "./Text.js"

const plainInteger = /^(?:0|[1-9][0-9]*)$/

/**
 * Why a JSON text that `JSON.parse` accepted is not strict, or `undefined`:
 * an object names a member twice (readers keep the first, the last, or fail),
 * or a number is not a plain decimal integer from 0 to 2^53 - 1 (`1e3`,
 * `1.0`, `-0`, `-1`, `01`, and digits beyond double precision, which readers
 * round differently). The reason names
 * no member and no value, which may be personal data. Only for text
 * `JSON.parse` accepted: it relies on the strings being closed.
 *
 * @since 0.1.0
 * @category validation
 */
export const strictness = (text: string): string | undefined => {
  // One entry per open object (its member names) or array (`null`).
  const open: Array<Set<string> | null> = []
  let expectName = false
  let i = 0
  while (i < text.length) {
    const c = text[i]!
    if (c === "\"") {
      let end = i + 1
      while (text[end] !== "\"") end += text[end] === "\\" ? 2 : 1
      const members = open[open.length - 1]
      if (expectName && members) {
        const name = JSON.parse(text.slice(i, end + 1)) as string
        if (members.has(name)) return "an object names a member twice"
        members.add(name)
        expectName = false
      }
      i = end + 1
    } else if (c === "{" || c === "[") {
      open.push(c === "{" ? new Set() : null)
      expectName = c === "{"
      i++
    } else if (c === "}" || c === "]") {
      open.pop()
      expectName = false
      i++
    } else if (c === ",") {
      expectName = open[open.length - 1] != null
      i++
    } else if (c === "-" || (c >= "0" && c <= "9")) {
      let end = i + 1
      while (end < text.length && /[0-9.eE+-]/.test(text[end]!)) end++
      const number = text.slice(i, end)
      if (!plainInteger.test(number) || !Number.isSafeInteger(Number(number))) {
        return "a number is not a plain decimal integer"
      }
      i = end
    } else {
      i++
    }
  }
  return undefined
}

/**
 * What `problem` takes for a JSON value, besides strings, finite numbers,
 * booleans, `null`, arrays and plain objects (of `Object.prototype` or none).
 *
 * @since 0.1.0
 * @category validation
 */
export interface ValueOptions {
  /**
   * The deepest level a value may sit at: the value walked is at level 0,
   * its items and members at level 1, theirs at 2. A value nested deeper, or
   * a cycle, is refused; the walk recurses to this depth and no further, so
   * keep it within a few thousand.
   */
  readonly maxDepth: number
  /**
   * Whether an object's member may be `undefined`, which `JSON.stringify`
   * leaves out (default: refused). An array item never may: it would become
   * `null`, and so would a hole (`[1, , 2]`).
   */
  readonly undefinedMembers?: boolean | undefined
  /**
   * Whether strings and member names must be text every store can hold
   * (`Text.isStorable`: no NUL character, no unpaired surrogate), as
   * PostgreSQL's `jsonb` requires (default: any string).
   */
  readonly storableText?: boolean | undefined
}

/**
 * Why a JavaScript value is not a JSON value (see `ValueOptions`), or
 * `undefined`: `"a bigint"`, `"a number that is not finite"`, `"a cycle"`,
 * `"a value nested more than 32 levels deep"`... The reason names the kind of
 * value, never the value nor a member's name, which may be personal data.
 * A value nested deeper than `maxDepth` is refused at that depth, so a value
 * nested thousands deep is refused without overflowing the stack.
 *
 * @since 0.1.0
 * @category validation
 */
export const problem = (value: unknown, options: ValueOptions): string | undefined =>
  walk(value, 0, [], options)

// `open` holds the arrays and objects being walked, outermost first: a value too deep is told
// apart from a cycle (an object inside itself) only then, so a walk that succeeds keeps no set.
const walk = (value: unknown, depth: number, open: Array<object>, options: ValueOptions): string | undefined => {
  if (depth > options.maxDepth) {
    return new Set(open).size < open.length ? "a cycle" : `a value nested more than ${options.maxDepth} levels deep`
  }
  switch (typeof value) {
    case "string":
      return options.storableText && !isStorable(value) ? "text a database cannot store" : undefined
    case "boolean":
      return undefined
    case "number":
      return Number.isFinite(value) ? undefined : "a number that is not finite"
    case "undefined":
      return "undefined"
    case "object": {
      if (value === null) return undefined
      open.push(value)
      const found = Array.isArray(value) ? walkArray(value, depth, open, options) : walkObject(value, depth, open, options)
      open.pop()
      return found
    }
    default:
      return `a ${typeof value}`
  }
}

const walkArray = (
  value: ReadonlyArray<unknown>,
  depth: number,
  open: Array<object>,
  options: ValueOptions
): string | undefined => {
  // By index: `every` and `for...of` skip or hide holes.
  for (let i = 0; i < value.length; i++) {
    const found = value[i] === undefined ? "an undefined array item" : walk(value[i], depth + 1, open, options)
    if (found !== undefined) return found
  }
  return undefined
}

const walkObject = (value: object, depth: number, open: Array<object>, options: ValueOptions): string | undefined => {
  const prototype = Object.getPrototypeOf(value)
  if (prototype !== Object.prototype && prototype !== null) {
    return "an object that is not plain (a Date, a Map, a class instance)"
  }
  for (const key of Object.keys(value)) {
    if (options.storableText && !isStorable(key)) return "a member name a database cannot store"
    const member: unknown = (value as Record<string, unknown>)[key]
    if (member === undefined) {
      if (options.undefinedMembers) continue
      return "an undefined member"
    }
    const found = walk(member, depth + 1, open, options)
    if (found !== undefined) return found
  }
  return undefined
}
