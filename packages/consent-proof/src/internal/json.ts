/**
 * Strict JSON text, as `@lawful/audit-trail`'s proof bundles require it:
 * what `JSON.parse` accepts but different readers may read differently is
 * refused.
 *
 * @internal
 */

const plainInteger = /^(?:0|[1-9][0-9]*)$/

/**
 * Why a JSON text that `JSON.parse` accepted is not strict, or `undefined`:
 * an object names a member twice (readers keep the first, the last, or fail),
 * or a number is not a plain decimal integer (`1e3`, `1.0`, `-0`, `01`, and
 * digits beyond double precision that round to an integer). Only for text
 * `JSON.parse` accepted: it relies on the strings being closed.
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
      if (!plainInteger.test(text.slice(i, end))) return "a number is not a plain decimal integer"
      i = end
    } else {
      i++
    }
  }
  return undefined
}
