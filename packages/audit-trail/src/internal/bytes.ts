/**
 * Byte helpers: comparison, strict base64 and UTF-8.
 *
 * @internal
 */

import { hash } from "node:crypto"

/** Views a Node `Buffer` as a plain `Uint8Array` (no copy). */
export const toUint8Array = (buffer: Uint8Array): Uint8Array =>
  new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)

/** Whether two byte arrays hold the same bytes. */
export const equals = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return false
  }
  return true
}

/** Standard base64 (RFC 4648 §4) with padding. */
export const encodeBase64 = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64")

const base64Pattern = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/**
 * Decodes standard, padded base64, accepting only the canonical encoding: no
 * whitespace, no missing padding, no stray bits in the last character. Two
 * different strings never decode to the same bytes.
 */
export const decodeBase64 = (text: string): Uint8Array | undefined => {
  if (!base64Pattern.test(text)) return undefined
  const bytes = Buffer.from(text, "base64")
  if (bytes.toString("base64") !== text) return undefined
  return new Uint8Array(bytes)
}

const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })
const utf8Encoder = new TextEncoder()

/** Decodes UTF-8, or `undefined` when the bytes are not valid UTF-8. */
export const decodeUtf8 = (bytes: Uint8Array): string | undefined => {
  try {
    return utf8Decoder.decode(bytes)
  } catch {
    return undefined
  }
}

/** Encodes a string as UTF-8. */
export const encodeUtf8 = (text: string): Uint8Array => utf8Encoder.encode(text)

/** Whether a string has no lone surrogate, so that it has a UTF-8 encoding. */
export const isWellFormed = (text: string): boolean => !/\p{Surrogate}/u.test(text)

/** Lower-case hexadecimal. */
export const encodeHex = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex")

/**
 * SHA-256 of the input, as a plain `Uint8Array`. `hash(..., "buffer")` gives each digest an
 * allocation of its own, which on Node 20 costs about 1 µs, more than hashing a node's 65
 * bytes; the digest is taken as a `"binary"` (latin1) string instead, one byte per character, and copied
 * into Node's buffer pool. A batch of 1,000 appends hashes about 2,000 times.
 */
export const sha256 = (input: Uint8Array | string): Uint8Array => {
  const bytes = Buffer.from(hash("sha256", input, "binary"), "latin1")
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}
