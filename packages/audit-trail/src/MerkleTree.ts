/**
 * The Merkle tree of an append-only log, as RFC 9162 §2.1 defines it, and the
 * bookkeeping a store needs to serve its roots and proofs with O(log n) reads.
 *
 * Hashing: a leaf hashes as `SHA-256(0x00 || entry)`, an interior node as
 * `SHA-256(0x01 || left || right)`, the empty tree as `SHA-256("")`. A tree of
 * `n > 1` leaves splits at the largest power of two smaller than `n`.
 *
 * Nodes: the node at `level` L and `index` i covers the leaves
 * `[i * 2^L, (i + 1) * 2^L)`; leaves are level 0. A node is *complete* in a
 * tree of size `n` when the leaves it covers all exist (`(i + 1) * 2^L <= n`).
 * A complete node's hash never changes as the log grows, so a store writes each
 * one once ({@link append} lists them) and later builds any root
 * ({@link frontierNodes}) or proof ({@link inclusionProofNodes},
 * {@link consistencyProofNodes}) from O(log n) of them.
 *
 * Sizes and indices are non-negative safe integers (below 2^53). Functions
 * that take them throw a `RangeError` when they are out of range: that is a bug
 * of the caller, which validates user input first.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import * as Option from "effect/Option"
import * as Bits from "./internal/bits.js"
import { sha256, toUint8Array } from "./internal/bytes.js"

/**
 * Length in bytes of every hash of the tree (SHA-256).
 *
 * @since 0.1.0
 * @category constants
 */
export const hashSize = 32

const leafPrefix = new Uint8Array([0x00])
const nodePrefix = new Uint8Array([0x01])
const nodeInput = new Uint8Array(1 + 2 * hashSize)
nodeInput[0] = 0x01

/**
 * The hash of a leaf: `SHA-256(0x00 || entry)`.
 *
 * @since 0.1.0
 * @category hashing
 */
export const hashLeaf = (entry: Uint8Array): Uint8Array => {
  const input = new Uint8Array(entry.length + 1)
  input.set(entry, 1)
  return sha256(input)
}

/**
 * The hash of an interior node: `SHA-256(0x01 || left || right)`.
 *
 * @since 0.1.0
 * @category hashing
 */
export const hashChildren = (left: Uint8Array, right: Uint8Array): Uint8Array => {
  if (left.length === hashSize && right.length === hashSize) {
    nodeInput.set(left, 1)
    nodeInput.set(right, 1 + hashSize)
    return sha256(nodeInput)
  }
  return toUint8Array(createHash("sha256").update(nodePrefix).update(left).update(right).digest())
}

/**
 * The root of the empty tree: `SHA-256("")`
 * (`e3b0c442...7852b855`). Do not mutate it.
 *
 * @since 0.1.0
 * @category constants
 */
export const emptyRoot: Uint8Array = toUint8Array(createHash("sha256").digest())

/**
 * The root (RFC 9162 `MTH`) of the tree whose leaves have the given hashes.
 * O(n) hashing, O(log n) memory.
 *
 * @since 0.1.0
 * @category hashing
 */
export const rootOf = (leafHashes: ReadonlyArray<Uint8Array>): Uint8Array => {
  const stack: Array<Uint8Array> = []
  for (let size = 0; size < leafHashes.length; size++) {
    let hash = leafHashes[size]!
    for (let index = size; Bits.isOdd(index); index = (index - 1) / 2) {
      hash = hashChildren(stack.pop()!, hash)
    }
    stack.push(hash)
  }
  return foldFrontier(stack)
}

// -----------------------------------------------------------------------------
// Nodes
// -----------------------------------------------------------------------------

/**
 * A node of the tree: the one at `level` L and `index` i covers the leaves
 * `[i * 2^L, (i + 1) * 2^L)`. Leaf `i` is `{ level: 0, index: i }`.
 *
 * @since 0.1.0
 * @category models
 */
export interface NodeId {
  readonly level: number
  readonly index: number
}

/**
 * A node with its hash, as a store keeps it.
 *
 * @since 0.1.0
 * @category models
 */
export interface NodeHash extends NodeId {
  readonly hash: Uint8Array
}

const checkIndex = (name: string, value: number): void => {
  if (!Bits.isIndex(value)) {
    throw new RangeError(`${name} must be a non-negative safe integer, got ${value}`)
  }
}

/**
 * Makes a node id.
 *
 * @throws RangeError when the node would cover leaves at or beyond 2^53.
 * @since 0.1.0
 * @category constructors
 */
export const nodeId = (level: number, index: number): NodeId => {
  checkIndex("level", level)
  checkIndex("index", index)
  if (!Bits.isIndex(Bits.shiftLeft(index + 1, level))) {
    throw new RangeError(`node (${level}, ${index}) is beyond the largest supported tree`)
  }
  return { level, index }
}

/**
 * The leaves a node covers: `[begin, end)`.
 *
 * @since 0.1.0
 * @category nodes
 */
export const coverage = (node: NodeId): { readonly begin: number; readonly end: number } => {
  const begin = Bits.shiftLeft(node.index, node.level)
  return { begin, end: begin + 2 ** node.level }
}

const sibling = (node: NodeId): NodeId => ({
  level: node.level,
  index: Bits.isOdd(node.index) ? node.index - 1 : node.index + 1
})

const parent = (node: NodeId): NodeId => ({ level: node.level + 1, index: Bits.shiftRight(node.index, 1) })

/**
 * The compact range of `[begin, end)`: the fewest complete nodes that cover
 * exactly those leaves, left to right.
 *
 * @throws RangeError unless `0 <= begin <= end < 2^53`.
 * @since 0.1.0
 * @category nodes
 */
export const rangeNodes = (begin: number, end: number): Array<NodeId> => {
  checkIndex("begin", begin)
  checkIndex("end", end)
  if (begin > end) throw new RangeError(`begin ${begin} is after end ${end}`)
  return unsafeRangeNodes(begin, end)
}

const unsafeRangeNodes = (begin: number, end: number): Array<NodeId> => {
  const nodes: Array<NodeId> = []
  while (begin < end) {
    let level = Bits.bitLength(end - begin) - 1
    if (begin !== 0) level = Math.min(level, Bits.trailingZeros(begin))
    nodes.push({ level, index: Bits.shiftRight(begin, level) })
    begin += 2 ** level
  }
  return nodes
}

// -----------------------------------------------------------------------------
// Frontier
// -----------------------------------------------------------------------------

/**
 * The right edge of a tree of `size` leaves: the hashes of its
 * {@link frontierNodes}, the perfect subtrees that cover `[0, size)`, left to
 * right (largest first). It is all a writer needs to append leaves and compute
 * roots.
 *
 * @since 0.1.0
 * @category models
 */
export interface Frontier {
  readonly size: number
  readonly hashes: ReadonlyArray<Uint8Array>
}

/**
 * The frontier of the empty tree.
 *
 * @since 0.1.0
 * @category constructors
 */
export const emptyFrontier: Frontier = { size: 0, hashes: [] }

/**
 * The nodes whose hashes make up the frontier of a tree of `size` leaves,
 * left to right: one per bit set in `size`. Read them from a store and pass
 * their hashes to {@link makeFrontier} to get the root of any past size.
 *
 * @throws RangeError unless `size` is a non-negative safe integer.
 * @since 0.1.0
 * @category frontier
 */
export const frontierNodes = (size: number): Array<NodeId> => rangeNodes(0, size)

/**
 * Builds a frontier from the hashes of {@link frontierNodes}, in the same
 * order.
 *
 * @throws RangeError when the number of hashes does not match `size`.
 * @since 0.1.0
 * @category constructors
 */
export const makeFrontier = (size: number, hashes: ReadonlyArray<Uint8Array>): Frontier => {
  checkIndex("size", size)
  if (hashes.length !== Bits.popCount(size)) {
    throw new RangeError(`a frontier of size ${size} has ${Bits.popCount(size)} hashes, got ${hashes.length}`)
  }
  return { size, hashes: hashes.slice() }
}

/**
 * Appends a leaf (by its hash) to a frontier. Returns the new frontier and
 * every node the leaf completes, from the leaf up: these are the hashes a
 * store writes, each once.
 *
 * @throws RangeError when the tree is already at the largest supported size.
 * @since 0.1.0
 * @category frontier
 */
export const append = (
  frontier: Frontier,
  leafHash: Uint8Array
): { readonly frontier: Frontier; readonly nodes: ReadonlyArray<NodeHash> } => {
  if (!Bits.isIndex(frontier.size + 1)) throw new RangeError("the tree is full")
  const hashes = frontier.hashes.slice()
  let hash = leafHash
  let level = 0
  let index = frontier.size
  const nodes: Array<NodeHash> = [{ level, index, hash }]
  while (Bits.isOdd(index)) {
    hash = hashChildren(hashes.pop()!, hash)
    level++
    index = (index - 1) / 2
    nodes.push({ level, index, hash })
  }
  hashes.push(hash)
  return { frontier: { size: frontier.size + 1, hashes }, nodes }
}

/**
 * Appends leaves (by their hashes) in order; see {@link append}.
 *
 * @since 0.1.0
 * @category frontier
 */
export const appendAll = (
  frontier: Frontier,
  leafHashes: Iterable<Uint8Array>
): { readonly frontier: Frontier; readonly nodes: ReadonlyArray<NodeHash> } => {
  let current = frontier
  const nodes: Array<NodeHash> = []
  for (const leafHash of leafHashes) {
    const appended = append(current, leafHash)
    current = appended.frontier
    for (const node of appended.nodes) nodes.push(node)
  }
  return { frontier: current, nodes }
}

const foldFrontier = (hashes: ReadonlyArray<Uint8Array>): Uint8Array => {
  if (hashes.length === 0) return emptyRoot
  let root = hashes[hashes.length - 1]!
  for (let i = hashes.length - 2; i >= 0; i--) root = hashChildren(hashes[i]!, root)
  return root
}

/**
 * The root of the tree a frontier describes.
 *
 * @since 0.1.0
 * @category frontier
 */
export const frontierRoot = (frontier: Frontier): Uint8Array => foldFrontier(frontier.hashes)

// -----------------------------------------------------------------------------
// Proofs from stored nodes
// -----------------------------------------------------------------------------

/**
 * Where to find the elements of a proof, as complete nodes a store has kept.
 *
 * Read the hash of every node of `nodes`, in order, and pass them to
 * {@link proofFromNodes}. Each node gives one proof element, except when the
 * tree is not perfect: then the proof may need the hash of an incomplete
 * ("ephemeral") node on the tree's right border, which no store keeps; the
 * complete nodes `nodes[ephemeral.start .. ephemeral.end)` cover it, from the
 * right (smallest) to the left, and are hashed together into that one
 * element. This is the scheme of transparency-dev/merkle `proof.Nodes`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ProofNodes {
  readonly nodes: ReadonlyArray<NodeId>
  readonly ephemeral: Option.Option<EphemeralNode>
}

/**
 * An incomplete node of a proof, and the range of {@link ProofNodes} `nodes`
 * that rebuilds its hash.
 *
 * @since 0.1.0
 * @category models
 */
export interface EphemeralNode {
  readonly node: NodeId
  readonly start: number
  readonly end: number
}

const emptyProofNodes: ProofNodes = { nodes: [], ephemeral: Option.none() }

// The nodes that prove the complete node (level, index) is in the tree of the
// given size, the node itself first.
const pathNodes = (index: number, level: number, size: number): ProofNodes => {
  // The fork is where the path to the node leaves the tree's right border;
  // everything below it is complete, its right sibling is not (if it exists).
  const inner = Bits.bitLength(Bits.xor(index, Bits.shiftRight(size, level))) - 1
  const fork: NodeId = { level: level + inner, index: Bits.shiftRight(index, inner) }
  const { begin, end } = coverage(fork)

  let node: NodeId = { level, index }
  const nodes: Array<NodeId> = [node]
  for (; node.level < fork.level; node = parent(node)) nodes.push(sibling(node))

  const right = unsafeRangeNodes(end, size).reverse()
  const start = nodes.length
  for (const n of right) nodes.push(n)
  for (const n of unsafeRangeNodes(0, begin).reverse()) nodes.push(n)

  return {
    nodes,
    ephemeral: right.length > 1
      ? Option.some({ node: sibling(fork), start, end: start + right.length })
      : Option.none()
  }
}

const skipFirst = (proof: ProofNodes): ProofNodes => ({
  nodes: proof.nodes.slice(1),
  ephemeral: Option.map(proof.ephemeral, (e) => ({ ...e, start: e.start - 1, end: e.end - 1 }))
})

/**
 * The nodes of the inclusion proof of leaf `index` in the tree of `size`
 * leaves (RFC 9162 §2.1.3.1), from the leaf up.
 *
 * @throws RangeError unless `0 <= index < size < 2^53`.
 * @since 0.1.0
 * @category proofs
 */
export const inclusionProofNodes = (index: number, size: number): ProofNodes => {
  checkIndex("index", index)
  checkIndex("size", size)
  if (index >= size) throw new RangeError(`index ${index} is not below size ${size}`)
  return skipFirst(pathNodes(index, 0, size))
}

/**
 * The nodes of the consistency proof from the tree of `size1` leaves to the
 * tree of `size2` leaves (RFC 9162 §2.1.4.1). Empty when `size1` is 0 or
 * equals `size2`.
 *
 * @throws RangeError unless `0 <= size1 <= size2 < 2^53`.
 * @since 0.1.0
 * @category proofs
 */
export const consistencyProofNodes = (size1: number, size2: number): ProofNodes => {
  checkIndex("size1", size1)
  checkIndex("size2", size2)
  if (size1 > size2) throw new RangeError(`size1 ${size1} is above size2 ${size2}`)
  if (size1 === 0 || size1 === size2) return emptyProofNodes
  // The largest perfect subtree that ends at size1; the proof shows it is in
  // the larger tree. Its own hash comes first, except when it is the whole
  // smaller tree, whose root the verifier already has.
  const level = Bits.trailingZeros(size1)
  const proof = pathNodes(Bits.shiftRight(size1 - 1, level), level, size2)
  return Bits.isPowerOfTwo(size1) ? skipFirst(proof) : proof
}

/**
 * Turns the hashes of {@link ProofNodes} `nodes` (same order) into the proof,
 * hashing the ephemeral node's range together.
 *
 * @throws RangeError when the number of hashes does not match.
 * @since 0.1.0
 * @category proofs
 */
export const proofFromNodes = (proof: ProofNodes, hashes: ReadonlyArray<Uint8Array>): Array<Uint8Array> => {
  if (hashes.length !== proof.nodes.length) {
    throw new RangeError(`expected ${proof.nodes.length} hashes, got ${hashes.length}`)
  }
  if (Option.isNone(proof.ephemeral)) return hashes.slice()
  const { end, start } = proof.ephemeral.value
  let hash = hashes[start]!
  for (let i = start + 1; i < end; i++) hash = hashChildren(hashes[i]!, hash)
  return [...hashes.slice(0, start), hash, ...hashes.slice(end)]
}
