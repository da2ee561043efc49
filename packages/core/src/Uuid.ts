/**
 * Time-ordered UUIDs (RFC 9562 version 7): 48 bits of Unix milliseconds read
 * from `Clock`, then 74 random bits. Ids made later sort later, which keeps
 * B-tree inserts at the right edge of their index.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { randomBytes } from "./Random.js"

/**
 * A version-7 UUID for the given Unix time in milliseconds.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeAt = (millis: number): string => {
  const bytes = randomBytes(16)
  let time = millis
  for (let i = 5; i >= 0; i--) {
    bytes[i] = time % 256
    time = Math.floor(time / 256)
  }
  bytes[6] = (bytes[6]! & 0x0f) | 0x70
  bytes[8] = (bytes[8]! & 0x3f) | 0x80
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
