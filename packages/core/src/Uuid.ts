/**
 * Time-ordered UUIDs (RFC 9562 version 7): 48 bits of Unix milliseconds read
 * from `Clock`, then 74 bits that are random for the first id of a
 * millisecond; each further id of that millisecond in this process adds a
 * random step (1 to 2^32) to them (RFC 9562's monotonic random, method 2).
 * Ids made later sort later, within one millisecond too, which keeps B-tree
 * inserts at the right edge of their index and ties ordered as they were made.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { randomBytes } from "./Random.js"

const randomBits = (bytes: number, bits: bigint): bigint =>
  BigInt(`0x${randomBytes(bytes).toString("hex")}`) & ((1n << bits) - 1n)

let lastMillis = -1
let lastBits = 0n

/**
 * A version-7 UUID for the given Unix time in milliseconds. Within one
 * millisecond, each id sorts after the one made before it in this process.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeAt = (millis: number): string => {
  let bits = millis === lastMillis ? lastBits + randomBits(4, 32n) + 1n : randomBits(10, 74n)
  // Past 2^74 (some 2^41 ids in one millisecond at the least) the step starts afresh.
  if (bits >= 1n << 74n) bits = randomBits(10, 74n)
  lastMillis = millis
  lastBits = bits
  const bytes = Buffer.allocUnsafe(16)
  let time = millis
  for (let i = 5; i >= 0; i--) {
    bytes[i] = time % 256
    time = Math.floor(time / 256)
  }
  const randA = Number(bits >> 62n)
  bytes[6] = 0x70 | (randA >> 8)
  bytes[7] = randA & 0xff
  bytes.writeBigUInt64BE((bits & ((1n << 62n) - 1n)) | (1n << 63n), 8)
  const hex = bytes.toString("hex")
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/**
 * A version-7 UUID for the current `Clock` time.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<string> = Effect.map(Clock.currentTimeMillis, makeAt)

/**
 * A lower-case UUID, any version.
 *
 * @since 0.1.0
 * @category models
 */
export const pattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
