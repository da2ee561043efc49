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
 * @since 0.1.0
 */

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
