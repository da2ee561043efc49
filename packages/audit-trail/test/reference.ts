/**
 * A naive reference for the Merkle tree of RFC 9162 §2.1, written straight
 * from the RFC's recursive definitions (MTH, PATH, SUBPROOF) and independent of
 * the package's code (its own hashing too). MTH is memoised per leaf range so
 * that exhaustive sweeps over thousands of proofs stay fast.
 */
import { createHash } from "node:crypto"

const sha256 = (...parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const hash = createHash("sha256")
  for (const part of parts) hash.update(part)
  return new Uint8Array(hash.digest())
}

export const leafHash = (entry: Uint8Array): Uint8Array => sha256(Uint8Array.of(0), entry)
export const nodeHash = (left: Uint8Array, right: Uint8Array): Uint8Array => sha256(Uint8Array.of(1), left, right)

/** The largest power of two strictly smaller than n (n > 1). */
const split = (n: number): number => {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

/** A fixed list of leaves with memoised MTH over any range [start, start + n). */
export class ReferenceTree {
  readonly leafHashes: ReadonlyArray<Uint8Array>
  private readonly memo = new Map<number, Uint8Array>()

  constructor(entries: ReadonlyArray<Uint8Array>) {
    this.leafHashes = entries.map(leafHash)
  }

  /** MTH(D[start : start + n]). */
  mth(start: number, n: number): Uint8Array {
    if (n === 0) return sha256()
    if (n === 1) return this.leafHashes[start]!
    const key = start * 0x100000 + n
    const cached = this.memo.get(key)
    if (cached !== undefined) return cached
    const k = split(n)
    const hash = nodeHash(this.mth(start, k), this.mth(start + k, n - k))
    this.memo.set(key, hash)
    return hash
  }

  root(size: number): Uint8Array {
    return this.mth(0, size)
  }

  /** PATH(m, D[start : start + n]), RFC 9162 §2.1.3.1. */
  path(m: number, start: number, n: number): Array<Uint8Array> {
    if (n === 1) return []
    const k = split(n)
    return m < k
      ? [...this.path(m, start, k), this.mth(start + k, n - k)]
      : [...this.path(m - k, start + k, n - k), this.mth(start, k)]
  }

  inclusionProof(index: number, size: number): Array<Uint8Array> {
    return this.path(index, 0, size)
  }

  /** SUBPROOF(m, D[start : start + n], b), RFC 9162 §2.1.4.1. */
  subproof(m: number, start: number, n: number, b: boolean): Array<Uint8Array> {
    if (m === n) return b ? [] : [this.mth(start, n)]
    const k = split(n)
    return m <= k
      ? [...this.subproof(m, start, k, b), this.mth(start + k, n - k)]
      : [...this.subproof(m - k, start + k, n - k, false), this.mth(start, k)]
  }

  consistencyProof(size1: number, size2: number): Array<Uint8Array> {
    return size1 === 0 ? [] : this.subproof(size1, 0, size2, true)
  }
}

/** Deterministic, distinct leaf entries. */
export const entries = (count: number): Array<Uint8Array> =>
  Array.from({ length: count }, (_, i) => new TextEncoder().encode(`entry ${i}`))

export const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex")
export const fromHex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, "hex"))
