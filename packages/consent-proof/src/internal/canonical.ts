/**
 * RFC 8785 JSON Canonicalization Scheme: object members sorted by the UTF-16
 * code units of their names, no whitespace, strings and numbers serialised as
 * ECMAScript's JSON.stringify does. Members whose value is `undefined` are
 * omitted.
 *
 * @internal
 */
export type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json | undefined }

export const canonicalJson = (value: Json): string => {
  if (value === null || typeof value !== "object") {
    if (typeof value === "number" && !Number.isFinite(value)) throw new RangeError("JSON numbers must be finite")
    return JSON.stringify(value)
  }
  if (Array.isArray(value)) return `[${value.map((item: Json) => canonicalJson(item)).join(",")}]`
  const record = value as { readonly [key: string]: Json | undefined }
  const members = Object.keys(record)
    .filter((key) => record[key] !== undefined)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key]!)}`)
  return `{${members.join(",")}}`
}
