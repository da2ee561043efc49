/**
 * Byte helpers: strict base64, hex, SHA-256.
 *
 * @internal
 */
import { createHash } from "node:crypto"

/** Standard base64 (RFC 4648 §4) with padding. */
export const encodeBase64 = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64")

const base64Pattern = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** Decodes canonical padded base64 only (no whitespace, no stray bits): one encoding per value. */
export const decodeBase64 = (text: string): Uint8Array | undefined => {
  if (!base64Pattern.test(text)) return undefined
  const bytes = Buffer.from(text, "base64")
  if (bytes.toString("base64") !== text) return undefined
  return new Uint8Array(bytes)
}

/** Lower-case hex SHA-256 of the parts, in order. */
export const sha256Hex = (...parts: ReadonlyArray<Uint8Array | string>): string => {
  const hash = createHash("sha256")
  for (const part of parts) hash.update(part)
  return hash.digest("hex")
}

/** A Node `Buffer` over the same bytes (node-postgres sends a `Buffer` as bytea, a plain `Uint8Array` as JSON). */
export const toBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
