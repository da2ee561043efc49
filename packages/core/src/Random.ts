/**
 * Random bytes from a pool filled a few kilobytes at a time.
 *
 * Every `randomBytes` call crosses into OpenSSL and costs several
 * microseconds, more than the AES-GCM that consumes its 12 bytes. The pool
 * draws 4 KiB from the same CSPRNG at once and hands out fresh copies, as
 * `crypto.randomUUID` does for its own entropy. Bytes are never handed out
 * twice: each copy is zeroed in the pool, and the pool is refilled before
 * it is read again. Every package of Lawful draws its nonces, salts, keys
 * and ids here.
 *
 * @since 0.1.0
 */
import { randomFillSync } from "node:crypto"

const size = 4096
const pool = Buffer.allocUnsafe(size)
let offset = size

/**
 * `n` fresh bytes from the CSPRNG, in a Buffer of their own.
 *
 * @since 0.1.0
 * @category constructors
 */
export const randomBytes = (n: number): Buffer => {
  if (n > size) return randomFillSync(Buffer.allocUnsafe(n))
  if (offset + n > size) {
    randomFillSync(pool)
    offset = 0
  }
  const bytes = Buffer.allocUnsafe(n)
  pool.copy(bytes, 0, offset, offset + n)
  // The copied-out region is overwritten so it never lingers in the pool.
  pool.fill(0, offset, offset + n)
  offset += n
  return bytes
}
