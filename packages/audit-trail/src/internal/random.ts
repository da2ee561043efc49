/**
 * Random bytes drawn from a pool of 64 KiB: one system call and one
 * allocation serve thousands of salts on the append path. Each salt is a view
 * of the pool; a used pool is never refilled, only replaced.
 *
 * @internal
 */
import { randomFillSync } from "node:crypto"

const poolSize = 65536
let pool = new Uint8Array(0)
let offset = 0

export const randomSalt = (length: number): Uint8Array => {
  if (offset + length > pool.length) {
    pool = randomFillSync(new Uint8Array(Math.max(poolSize, length)))
    offset = 0
  }
  const salt = pool.subarray(offset, offset + length)
  offset += length
  return salt
}
