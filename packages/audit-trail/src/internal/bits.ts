/**
 * Bit arithmetic on non-negative safe integers (up to 2^53 - 1).
 *
 * JavaScript's bitwise operators truncate to 32 bits, and tree sizes may exceed
 * that, so these helpers split numbers into two 32-bit halves or use division.
 *
 * @internal
 */

const TWO_32 = 2 ** 32

const high = (n: number): number => Math.floor(n / TWO_32)
const low = (n: number): number => n % TWO_32

/** Whether `n` is a valid tree size or index: a non-negative safe integer. */
export const isIndex = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 0

/** Number of bits needed to write `n`; 0 for 0. */
export const bitLength = (n: number): number =>
  n < TWO_32 ? 32 - Math.clz32(n) : 64 - Math.clz32(high(n))

const trailingZeros32 = (n: number): number => 31 - Math.clz32(n & -n)

/** Number of trailing zero bits of `n > 0`. */
export const trailingZeros = (n: number): number => {
  const lo = low(n)
  return lo !== 0 ? trailingZeros32(lo) : 32 + trailingZeros32(high(n))
}

const popCount32 = (n: number): number => {
  let v = n >>> 0
  v = v - ((v >>> 1) & 0x55555555)
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333)
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24
}

/** Number of set bits of `n`. */
export const popCount = (n: number): number => popCount32(low(n)) + popCount32(high(n))

/** `n >> k`, for any `k >= 0`. */
export const shiftRight = (n: number, k: number): number => Math.floor(n / 2 ** k)

/** `n << k`; the caller keeps the result below 2^53. */
export const shiftLeft = (n: number, k: number): number => n * 2 ** k

/** `a ^ b` on 53-bit numbers. */
export const xor = (a: number, b: number): number =>
  ((low(a) ^ low(b)) >>> 0) + ((high(a) ^ high(b)) >>> 0) * TWO_32

/** Whether `n` is odd. */
export const isOdd = (n: number): boolean => n % 2 === 1

/** Whether `n` is a power of two (1, 2, 4, ...). */
export const isPowerOfTwo = (n: number): boolean => n > 0 && popCount(n) === 1

/** The largest power of two strictly smaller than `n > 1`. */
export const largestPowerOfTwoBelow = (n: number): number => 2 ** (bitLength(n - 1) - 1)
