/**
 * RFC 8785 JSON Canonicalization Scheme: object members sorted by the UTF-16
 * code units of their names, no whitespace, strings and numbers serialised as
 * ECMAScript's JSON.stringify does. Members whose value is `undefined` are
 * left out, as JSON.stringify leaves them out.
 *
 * Written as loops over one string: the append path encodes every entry's
 * details with it, and the `filter`/`sort`/`map`/`join` chain it replaces
 * allocated three arrays per object.
 *
 * @internal
 */
import type { Json } from "../AuditEvent.js"

export const canonicalJson = (value: Json): string => {
  if (value === null || typeof value !== "object") {
    if (typeof value === "number" && !Number.isFinite(value)) throw new RangeError("JSON numbers must be finite")
    return JSON.stringify(value)
  }
  if (Array.isArray(value)) {
    const items = value as ReadonlyArray<Json>
    let text = "["
    for (let i = 0; i < items.length; i++) {
      // A hole (or an undefined element) has no JSON of its own: JSON.stringify would write null,
      // the database would store null, and the commitment would not match the stored details.
      if (items[i] === undefined) throw new RangeError("JSON arrays have no holes or undefined elements")
      if (i > 0) text += ","
      text += canonicalJson(items[i]!)
    }
    return text + "]"
  }
  const record = value as { readonly [key: string]: Json }
  const keys = Object.keys(record).sort()
  let text = "{"
  let first = true
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!
    const member = record[key]
    if (member === undefined) continue
    if (!first) text += ","
    text += JSON.stringify(key) + ":" + canonicalJson(member)
    first = false
  }
  return text + "}"
}
