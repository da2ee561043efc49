/**
 * Random bytes drawn from a pool refilled 64 KiB at a time: one system call
 * serves thousands of salts on the append path.
 *
 * @internal
 */
import { randomFillSync } from "node:crypto"

const pool = new Uint8Array(65536)
let offset = pool.length

export const randomSalt = (length: number): Uint8Array => {
  if (offset + length > pool.length) {
    randomFillSync(pool)
    offset = 0
  }
  const salt = pool.slice(offset, offset + length)
  offset += length
  return salt
}
