/**
 * Byte helpers: SHA-256 and Buffer views.
 *
 * @internal
 */
import { createHash } from "node:crypto"

/** Lower-case hex SHA-256 of the parts, in order. */
export const sha256Hex = (...parts: ReadonlyArray<Uint8Array | string>): string => {
  const hash = createHash("sha256")
  for (const part of parts) hash.update(part)
  return hash.digest("hex")
}

/** A Node `Buffer` over the same bytes (node-postgres sends a `Buffer` as bytea, a plain `Uint8Array` as JSON). */
export const toBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
