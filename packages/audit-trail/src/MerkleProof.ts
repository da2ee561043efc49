/**
 * Inclusion and consistency proofs of the audit log's Merkle tree, verified
 * offline with the algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2, and built in
 * memory from a list of leaf hashes (stores build them from stored nodes with
 * {@link MerkleTree.inclusionProofNodes} and
 * {@link MerkleTree.consistencyProofNodes} instead).
 *
 * A proof is a list of 32-byte hashes, from the leaves towards the root.
 * Verification is strict: a proof must have exactly the length its sizes call
 * for, every hash must be 32 bytes, and every element takes part in the
 * computed root, so changing any bit of any element makes it fail.
 *
 * The verifiers are pure computations, often run in loops of thousands, so they
 * open no tracing span of their own: the operation that calls them does.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Bits from "./internal/bits.js"
import { equals } from "./internal/bytes.js"
import { isObject } from "./internal/guards.js"
import * as MerkleTree from "./MerkleTree.js"

/**
 * A proof that does not hold: wrong sizes, malformed hashes, wrong length, or
 * a computed root that differs from the expected one.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidProof extends Schema.TaggedError<InvalidProof>()("InvalidProof", {
  reason: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return this.reason
  }
}

/**
 * What an inclusion proof claims: the leaf with hash `leafHash` is at
 * `leafIndex` in the tree of `treeSize` leaves whose root is `root`.
 *
 * @since 0.1.0
 * @category models
 */
export interface InclusionClaim {
  readonly leafIndex: number
  readonly treeSize: number
  readonly leafHash: Uint8Array
  readonly proof: ReadonlyArray<Uint8Array>
  readonly root: Uint8Array
}

/**
 * What a consistency proof claims: the tree of `size2` leaves with root
 * `root2` extends the tree of `size1` leaves with root `root1`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConsistencyClaim {
  readonly size1: number
  readonly size2: number
  readonly root1: Uint8Array
  readonly root2: Uint8Array
  readonly proof: ReadonlyArray<Uint8Array>
}

/**
 * Number of hashes in the inclusion proof of leaf `index` in a tree of `size`
 * leaves (`0 <= index < size`).
 */
const inclusionProofLength = (index: number, size: number): number => {
  // The paths to `index` and to the last leaf part where their bits differ:
  // below that, one sibling per level; above it, one left sibling per set bit.
  const inner = Bits.bitLength(Bits.xor(index, size - 1))
  return inner + Bits.popCount(Bits.shiftRight(index, inner))
}

/**
 * Number of hashes in the consistency proof from `size1` to `size2` leaves
 * (`0 < size1 < size2`).
 */
const consistencyProofLength = (size1: number, size2: number): number => {
  const shift = Bits.trailingZeros(size1)
  const inner = Bits.bitLength(Bits.xor(size1 - 1, size2 - 1))
  const border = Bits.popCount(Bits.shiftRight(size1 - 1, inner))
  return (Bits.isPowerOfTwo(size1) ? 0 : 1) + inner - shift + border
}

const checkHash = (name: string, hash: Uint8Array): string | undefined =>
  hash instanceof Uint8Array && hash.length === MerkleTree.hashSize
    ? undefined
    : `${name} must be ${MerkleTree.hashSize} bytes, got ${hash instanceof Uint8Array ? hash.length : typeof hash}`

const checkProofHashes = (proof: ReadonlyArray<Uint8Array>): string | undefined => {
  if (!Array.isArray(proof)) return "proof must be an array of hashes"
  for (let i = 0; i < proof.length; i++) {
    const invalid = checkHash(`proof[${i}]`, proof[i]!)
    if (invalid !== undefined) return invalid
  }
  return undefined
}

// A number is quoted; anything else (text given where a number belongs) is told by its kind only.
const checkSize = (name: string, value: number): string | undefined =>
  Bits.isIndex(value)
    ? undefined
    : `${name} must be a non-negative safe integer, got ${typeof value === "number" ? String(value) : value === null ? "null" : typeof value}`

const checkLength = (proof: ReadonlyArray<Uint8Array>, expected: number): string | undefined =>
  proof.length === expected
    ? undefined
    : `proof has ${proof.length} hashes, expected ${expected} (too ${proof.length > expected ? "long" : "short"})`

/** RFC 9162 §2.1.3.2; returns why the claim fails, or `undefined` when it holds. */
const checkInclusion = (claim: InclusionClaim): string | undefined => {
  const { leafHash, leafIndex, proof, root, treeSize } = claim
  const invalid = checkSize("leafIndex", leafIndex) ??
    checkSize("treeSize", treeSize) ??
    (leafIndex >= treeSize ? `leafIndex ${leafIndex} is not below treeSize ${treeSize}` : undefined) ??
    checkHash("leafHash", leafHash) ??
    checkHash("root", root) ??
    checkProofHashes(proof) ??
    checkLength(proof, inclusionProofLength(leafIndex, treeSize))
  if (invalid !== undefined) return invalid

  let fn = leafIndex
  let sn = treeSize - 1
  let r = leafHash
  for (const p of proof) {
    if (sn === 0) return "proof is too long"
    if (Bits.isOdd(fn) || fn === sn) {
      r = MerkleTree.hashChildren(p, r)
      while (!Bits.isOdd(fn) && fn !== 0) {
        fn = fn / 2
        sn = Math.floor(sn / 2)
      }
    } else {
      r = MerkleTree.hashChildren(r, p)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  if (sn !== 0) return "proof is too short"
  return equals(r, root) ? undefined : "computed root does not match the expected root"
}

/** RFC 9162 §2.1.4.2; returns why the claim fails, or `undefined` when it holds. */
const checkConsistency = (claim: ConsistencyClaim): string | undefined => {
  const { proof, root1, root2, size1, size2 } = claim
  const invalid = checkSize("size1", size1) ??
    checkSize("size2", size2) ??
    (size1 > size2 ? `size1 ${size1} is above size2 ${size2}` : undefined) ??
    checkHash("root1", root1) ??
    checkHash("root2", root2) ??
    checkProofHashes(proof)
  if (invalid !== undefined) return invalid

  if (size1 === size2) {
    if (proof.length !== 0) return "proof must be empty when size1 equals size2"
    if (!equals(root1, root2)) return "roots of trees of the same size differ"
    if (size1 === 0 && !equals(root1, MerkleTree.emptyRoot)) return "root of the empty tree is not SHA-256(\"\")"
    return undefined
  }
  if (size1 === 0) {
    // Every tree extends the empty tree; there is nothing to prove.
    if (proof.length !== 0) return "proof must be empty when size1 is 0"
    if (!equals(root1, MerkleTree.emptyRoot)) return "root1 of the empty tree is not SHA-256(\"\")"
    return undefined
  }
  const wrongLength = checkLength(proof, consistencyProofLength(size1, size2))
  if (wrongLength !== undefined) return wrongLength

  const path = Bits.isPowerOfTwo(size1) ? [root1, ...proof] : proof
  let fn = size1 - 1
  let sn = size2 - 1
  while (Bits.isOdd(fn)) {
    fn = (fn - 1) / 2
    sn = Math.floor(sn / 2)
  }
  let fr = path[0]!
  let sr = path[0]!
  for (let i = 1; i < path.length; i++) {
    const c = path[i]!
    if (sn === 0) return "proof is too long"
    if (Bits.isOdd(fn) || fn === sn) {
      fr = MerkleTree.hashChildren(c, fr)
      sr = MerkleTree.hashChildren(c, sr)
      while (!Bits.isOdd(fn) && fn !== 0) {
        fn = fn / 2
        sn = Math.floor(sn / 2)
      }
    } else {
      sr = MerkleTree.hashChildren(sr, c)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  if (sn !== 0) return "proof is too short"
  if (!equals(fr, root1)) return "computed root1 does not match the expected root1"
  if (!equals(sr, root2)) return "computed root2 does not match the expected root2"
  return undefined
}

/**
 * Verifies an inclusion proof (RFC 9162 §2.1.3.2).
 *
 * @since 0.1.0
 * @category verification
 */
export const verifyInclusion = (claim: InclusionClaim): Effect.Effect<void, InvalidProof> =>
  Effect.suspend(() => {
    const reason = isObject(claim) ? checkInclusion(claim) : "the claim is an object ({ leafIndex, treeSize, leafHash, proof, root })"
    return reason === undefined ? Effect.void : Effect.fail(new InvalidProof({ reason }))
  })

/**
 * Verifies a consistency proof (RFC 9162 §2.1.4.2). Beyond the RFC, which
 * only covers `0 < size1 < size2`: equal sizes need an empty proof and equal
 * roots, and `size1 = 0` needs an empty proof and `root1` the empty tree's
 * root.
 *
 * @since 0.1.0
 * @category verification
 */
export const verifyConsistency = (claim: ConsistencyClaim): Effect.Effect<void, InvalidProof> =>
  Effect.suspend(() => {
    const reason = isObject(claim) ? checkConsistency(claim) : "the claim is an object ({ size1, size2, root1, root2, proof })"
    return reason === undefined ? Effect.void : Effect.fail(new InvalidProof({ reason }))
  })

// -----------------------------------------------------------------------------
// In-memory proofs
// -----------------------------------------------------------------------------

const checkLeaves = (leafHashes: ReadonlyArray<Uint8Array>, size: number): void => {
  if (!Bits.isIndex(size) || size > leafHashes.length) {
    throw new RangeError(`size ${size} is not between 0 and the ${leafHashes.length} leaves given`)
  }
}

const hashesOf = (leafHashes: ReadonlyArray<Uint8Array>, proof: MerkleTree.ProofNodes): Array<Uint8Array> =>
  MerkleTree.proofFromNodes(
    proof,
    proof.nodes.map((node) => {
      const { begin, end } = MerkleTree.coverage(node)
      return MerkleTree.rootOf(leafHashes.slice(begin, end))
    })
  )

/**
 * Builds the inclusion proof of leaf `index` in the tree made of the first
 * `size` of `leafHashes`. O(size) hashing: for tests and small logs.
 *
 * @throws RangeError unless `0 <= index < size <= leafHashes.length`.
 * @since 0.1.0
 * @category constructors
 */
export const inclusionProof = (
  leafHashes: ReadonlyArray<Uint8Array>,
  index: number,
  size: number
): Array<Uint8Array> => {
  checkLeaves(leafHashes, size)
  return hashesOf(leafHashes, MerkleTree.inclusionProofNodes(index, size))
}

/**
 * Builds the consistency proof from the tree of the first `size1` of
 * `leafHashes` to the tree of the first `size2`. O(size2) hashing: for tests
 * and small logs.
 *
 * @throws RangeError unless `0 <= size1 <= size2 <= leafHashes.length`.
 * @since 0.1.0
 * @category constructors
 */
export const consistencyProof = (
  leafHashes: ReadonlyArray<Uint8Array>,
  size1: number,
  size2: number
): Array<Uint8Array> => {
  checkLeaves(leafHashes, size2)
  return hashesOf(leafHashes, MerkleTree.consistencyProofNodes(size1, size2))
}
