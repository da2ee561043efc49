import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as fc from "fast-check"
import * as MerkleProof from "../src/MerkleProof.js"
import * as MerkleTree from "../src/MerkleTree.js"
import { entries, ReferenceTree } from "./reference.js"

const MAX_INCLUSION_SIZE = 1024
const MAX_CONSISTENCY_SIZE = 256
// The in-memory builder costs O(size) hashes per proof; it is checked
// exhaustively up to this size, and at random sizes up to 1024 below.
const MAX_BUILDER_SIZE = 128

const reference = new ReferenceTree(entries(MAX_INCLUSION_SIZE))

// A store of every complete node, filled the way a database would be: by
// appending leaves one at a time and writing the nodes each append completes.
const nodeKey = (level: number, index: number) => level * 0x10000 + index
const store = new Map<number, Uint8Array>()
{
  let frontier = MerkleTree.emptyFrontier
  for (const leafHash of reference.leafHashes) {
    const appended = MerkleTree.append(frontier, leafHash)
    frontier = appended.frontier
    for (const node of appended.nodes) store.set(nodeKey(node.level, node.index), node.hash)
  }
}
const readNodes = (proof: MerkleTree.ProofNodes): Array<Uint8Array> =>
  proof.nodes.map((node) => {
    const hash = store.get(nodeKey(node.level, node.index))
    if (hash === undefined) throw new Error(`node (${node.level}, ${node.index}) is not complete`)
    return hash
  })
const storedInclusionProof = (index: number, size: number) => {
  const nodes = MerkleTree.inclusionProofNodes(index, size)
  return MerkleTree.proofFromNodes(nodes, readNodes(nodes))
}
const storedConsistencyProof = (size1: number, size2: number) => {
  const nodes = MerkleTree.consistencyProofNodes(size1, size2)
  return MerkleTree.proofFromNodes(nodes, readNodes(nodes))
}

const sameHashes = (a: ReadonlyArray<Uint8Array>, b: ReadonlyArray<Uint8Array>): boolean =>
  a.length === b.length && a.every((hash, i) => Buffer.compare(hash, b[i]!) === 0)

const failsWith = <A>(effect: Effect.Effect<A, MerkleProof.InvalidProof>, label: string) =>
  Effect.gen(function*() {
    const result = yield* Effect.either(effect)
    assert.isTrue(Either.isLeft(result), `${label} should be rejected`)
    if (Either.isLeft(result)) assert.strictEqual(result.left._tag, "InvalidProof")
  })

const holds = <A>(effect: Effect.Effect<A, MerkleProof.InvalidProof>, label: string) =>
  Effect.catchAll(effect, (error) => Effect.die(new Error(`${label}: ${error.reason}`)))

const flipBit = (hash: Uint8Array, bit: number): Uint8Array => {
  const copy = new Uint8Array(hash)
  copy[bit >> 3]! ^= 1 << (bit & 7)
  return copy
}

const inclusionSweep = (from: number, to: number) =>
  Effect.gen(function*() {
    for (let size = from; size <= to; size++) {
      const root = reference.root(size)
      for (let index = 0; index < size; index++) {
        const proof = storedInclusionProof(index, size)
        if (!sameHashes(proof, reference.inclusionProof(index, size))) {
          assert.fail(`proof of ${index} in ${size} differs from the RFC's PATH`)
        }
        yield* holds(
          MerkleProof.verifyInclusion({ leafIndex: index, treeSize: size, leafHash: reference.leafHashes[index]!, proof, root }),
          `inclusion of ${index} in ${size}`
        )
      }
    }
  })

describe("MerkleProof", () => {
  describe("every inclusion proof up to size 1024, from stored nodes, equals the RFC's PATH and verifies", () => {
    // Chunks of about equal work (~size^2 each), so that no test runs long.
    const bounds = [0, 362, 512, 627, 724, 810, 887, 958, MAX_INCLUSION_SIZE]
    for (const [from, to] of bounds.slice(1).map((to, i) => [bounds[i]! + 1, to] as const)) {
      it.effect(`sizes ${from}..${to}`, () => inclusionSweep(from, to))
    }
  })

  it.effect("every inclusion proof up to size 128 from the in-memory builder equals the RFC's PATH", () =>
    Effect.gen(function*() {
      for (let size = 1; size <= MAX_BUILDER_SIZE; size++) {
        for (let index = 0; index < size; index++) {
          const proof = MerkleProof.inclusionProof(reference.leafHashes, index, size)
          if (!sameHashes(proof, reference.inclusionProof(index, size))) {
            assert.fail(`builder proof of ${index} in ${size} differs from the RFC's PATH`)
          }
        }
        yield* Effect.yieldNow()
      }
    }))

  it("in-memory inclusion proofs equal the RFC's PATH at random sizes up to 1024", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: MAX_INCLUSION_SIZE }).chain((size) => fc.tuple(fc.constant(size), fc.nat({ max: size - 1 }))),
        ([size, index]) =>
          sameHashes(MerkleProof.inclusionProof(reference.leafHashes, index, size), reference.inclusionProof(index, size))
      ),
      { numRuns: 500 }
    )
  })

  it.effect("every consistency proof up to size 256, from stored nodes and from the builder, equals the RFC's SUBPROOF and verifies", () =>
    Effect.gen(function*() {
      for (let size2 = 0; size2 <= MAX_CONSISTENCY_SIZE; size2++) {
        const root2 = reference.root(size2)
        for (let size1 = 0; size1 <= size2; size1++) {
          const expected = reference.consistencyProof(size1, size2)
          const proof = storedConsistencyProof(size1, size2)
          if (!sameHashes(proof, expected)) assert.fail(`proof from ${size1} to ${size2} differs from the RFC's SUBPROOF`)
          if (size2 <= MAX_BUILDER_SIZE && !sameHashes(MerkleProof.consistencyProof(reference.leafHashes, size1, size2), expected)) {
            assert.fail(`builder proof from ${size1} to ${size2} differs from the RFC's SUBPROOF`)
          }
          yield* holds(
            MerkleProof.verifyConsistency({ size1, size2, root1: reference.root(size1), root2, proof }),
            `consistency from ${size1} to ${size2}`
          )
        }
      }
    }))

  it("in-memory consistency proofs equal the RFC's SUBPROOF at random sizes up to 1024", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: MAX_INCLUSION_SIZE }).chain((size2) => fc.tuple(fc.nat({ max: size2 }), fc.constant(size2))),
        ([size1, size2]) =>
          sameHashes(MerkleProof.consistencyProof(reference.leafHashes, size1, size2), reference.consistencyProof(size1, size2)) &&
          sameHashes(storedConsistencyProof(size1, size2), reference.consistencyProof(size1, size2))
      ),
      { numRuns: 300 }
    )
  })

  describe("proofs in trees beyond 2^32 leaves", () => {
    // In a tree whose leaves are all equal, a complete node's hash depends only
    // on its level, so stored nodes of astronomically large trees are known.
    const levelHash: Array<Uint8Array> = [MerkleTree.hashLeaf(new Uint8Array([42]))]
    for (let level = 1; level <= 53; level++) {
      levelHash.push(MerkleTree.hashChildren(levelHash[level - 1]!, levelHash[level - 1]!))
    }
    const proofOf = (nodes: MerkleTree.ProofNodes) =>
      MerkleTree.proofFromNodes(nodes, nodes.nodes.map((node) => levelHash[node.level]!))
    const rootOf = (size: number) =>
      MerkleTree.frontierRoot(MerkleTree.makeFrontier(size, MerkleTree.frontierNodes(size).map((node) => levelHash[node.level]!)))
    const largeSize = FastCheck.oneof(
      FastCheck.integer({ min: 1, max: 2 ** 53 - 1 }),
      FastCheck.integer({ min: 2 ** 32 - 3, max: 2 ** 32 + 3 })
    )
    const indexInTree = largeSize.chain((size) => FastCheck.tuple(FastCheck.integer({ min: 0, max: size - 1 }), FastCheck.constant(size)))
    const sizePair = largeSize.chain((size2) => FastCheck.tuple(FastCheck.integer({ min: 0, max: size2 }), FastCheck.constant(size2)))

    it.effect.prop("inclusion proofs hold, and fail without their first element", [indexInTree], ([[index, size]]) =>
      Effect.gen(function*() {
        const proof = proofOf(MerkleTree.inclusionProofNodes(index, size))
        const claim = { leafIndex: index, treeSize: size, leafHash: levelHash[0]!, proof, root: rootOf(size) }
        yield* holds(MerkleProof.verifyInclusion(claim), `inclusion of ${index} in ${size}`)
        if (proof.length > 0) yield* failsWith(MerkleProof.verifyInclusion({ ...claim, proof: proof.slice(1) }), "shortened")
      }), { fastCheck: { numRuns: 300 } })

    it.effect.prop("consistency proofs hold", [sizePair], ([[size1, size2]]) =>
      Effect.gen(function*() {
        const proof = proofOf(MerkleTree.consistencyProofNodes(size1, size2))
        const claim = { size1, size2, root1: rootOf(size1), root2: rootOf(size2), proof }
        yield* holds(MerkleProof.verifyConsistency(claim), `consistency from ${size1} to ${size2}`)
      }), { fastCheck: { numRuns: 300 } })
  })

  describe("inclusion verifier rejects", () => {
    const size = 13
    const root = reference.root(size)
    const claimFor = (index: number): MerkleProof.InclusionClaim => ({
      leafIndex: index,
      treeSize: size,
      leafHash: reference.leafHashes[index]!,
      proof: reference.inclusionProof(index, size),
      root
    })

    it.effect("the empty tree's root as the root of a one-leaf tree of the empty entry", () =>
      Effect.gen(function*() {
        const emptyLeaf = MerkleTree.hashLeaf(new Uint8Array())
        yield* failsWith(
          MerkleProof.verifyInclusion({ leafIndex: 0, treeSize: 1, leafHash: emptyLeaf, proof: [], root: MerkleTree.emptyRoot }),
          "empty root"
        )
        yield* MerkleProof.verifyInclusion({ leafIndex: 0, treeSize: 1, leafHash: emptyLeaf, proof: [], root: emptyLeaf })
      }))

    it.effect("any leaf of the empty tree", () =>
      failsWith(
        MerkleProof.verifyInclusion({
          leafIndex: 0,
          treeSize: 0,
          leafHash: reference.leafHashes[0]!,
          proof: [],
          root: MerkleTree.emptyRoot
        }),
        "size 0"
      ))

    it.effect("an index at or beyond the size, or sizes that are not non-negative safe integers", () =>
      Effect.gen(function*() {
        const claim = claimFor(12)
        yield* MerkleProof.verifyInclusion(claim)
        for (const [leafIndex, treeSize] of [[13, 13], [14, 13], [12, 12], [-1, 13], [1.5, 13], [12, 13.5], [NaN, 13], [12, Infinity], [12, 2 ** 53]]) {
          yield* failsWith(MerkleProof.verifyInclusion({ ...claim, leafIndex: leafIndex!, treeSize: treeSize! }), `${leafIndex} in ${treeSize}`)
        }
      }))

    it.effect("hashes that are not 32 bytes", () =>
      Effect.gen(function*() {
        const claim = claimFor(5)
        yield* failsWith(MerkleProof.verifyInclusion({ ...claim, leafHash: claim.leafHash.slice(0, 31) }), "short leaf")
        yield* failsWith(MerkleProof.verifyInclusion({ ...claim, root: new Uint8Array([...root, 0]) }), "long root")
        yield* failsWith(
          MerkleProof.verifyInclusion({ ...claim, proof: [claim.proof[0]!.slice(0, 16), ...claim.proof.slice(1)] }),
          "short element"
        )
      }))

    it.effect("a proof with an element added or removed at any position", () =>
      Effect.gen(function*() {
        for (let index = 0; index < size; index++) {
          const claim = claimFor(index)
          for (let at = 0; at <= claim.proof.length; at++) {
            const extra = [...claim.proof.slice(0, at), reference.leafHashes[0]!, ...claim.proof.slice(at)]
            yield* failsWith(MerkleProof.verifyInclusion({ ...claim, proof: extra }), `extra at ${at}`)
            if (at < claim.proof.length) {
              const missing = [...claim.proof.slice(0, at), ...claim.proof.slice(at + 1)]
              yield* failsWith(MerkleProof.verifyInclusion({ ...claim, proof: missing }), `missing ${at}`)
            }
          }
          yield* failsWith(MerkleProof.verifyInclusion({ ...claim, proof: [...claim.proof, MerkleTree.emptyRoot] }), "trailing")
        }
      }))

    it.effect("a flip of any bit of any proof element, of the leaf hash or of the root", () =>
      Effect.gen(function*() {
        for (let index = 0; index < size; index++) {
          const claim = claimFor(index)
          for (let bit = 0; bit < 256; bit++) {
            for (let at = 0; at < claim.proof.length; at++) {
              const proof = claim.proof.map((hash, i) => i === at ? flipBit(hash, bit) : hash)
              yield* failsWith(MerkleProof.verifyInclusion({ ...claim, proof }), `bit ${bit} of ${at}`)
            }
            yield* failsWith(MerkleProof.verifyInclusion({ ...claim, leafHash: flipBit(claim.leafHash, bit) }), "leaf bit")
            yield* failsWith(MerkleProof.verifyInclusion({ ...claim, root: flipBit(claim.root, bit) }), "root bit")
          }
        }
      }))

    it.effect("another leaf's hash, index or the proof for another index", () =>
      Effect.gen(function*() {
        for (let index = 0; index < size; index++) {
          for (let other = 0; other < size; other++) {
            if (other === index) continue
            const claim = claimFor(index)
            yield* failsWith(MerkleProof.verifyInclusion({ ...claim, leafHash: reference.leafHashes[other]! }), "leaf")
            yield* failsWith(MerkleProof.verifyInclusion({ ...claim, leafIndex: other }), "index")
          }
        }
      }))
  })

  it.effect("an interior node's children presented as a leaf (second preimage) do not prove it", () =>
    Effect.gen(function*() {
      // A tree of 32 leaves is the tree of its 16 level-1 nodes; only the 0x00/0x01 prefixes tell them apart.
      const root = reference.root(32)
      for (let node = 0; node < 16; node++) {
        const [left, right] = [reference.leafHashes[2 * node]!, reference.leafHashes[2 * node + 1]!]
        const claim = { leafIndex: node, treeSize: 16, proof: reference.inclusionProof(2 * node, 32).slice(1), root }
        yield* MerkleProof.verifyInclusion({ ...claim, leafHash: MerkleTree.hashChildren(left, right) })
        yield* failsWith(
          MerkleProof.verifyInclusion({ ...claim, leafHash: MerkleTree.hashLeaf(Uint8Array.of(...left, ...right)) }),
          `node ${node} as a leaf`
        )
      }
    }))

  describe("consistency verifier rejects", () => {
    const claimFor = (size1: number, size2: number): MerkleProof.ConsistencyClaim => ({
      size1,
      size2,
      root1: reference.root(size1),
      root2: reference.root(size2),
      proof: reference.consistencyProof(size1, size2)
    })

    it.effect("size1 above size2", () =>
      failsWith(MerkleProof.verifyConsistency({ ...claimFor(3, 7), size1: 7, size2: 3 }), "7 to 3"))

    it.effect("sizes that are not non-negative safe integers", () =>
      Effect.gen(function*() {
        for (const [size1, size2] of [[-1, 7], [3, -1], [2.5, 7], [3, 7.5], [NaN, 7], [3, 2 ** 53]]) {
          yield* failsWith(MerkleProof.verifyConsistency({ ...claimFor(3, 7), size1: size1!, size2: size2! }), `${size1} to ${size2}`)
        }
      }))

    it.effect("equal sizes with a non-empty proof or different roots", () =>
      Effect.gen(function*() {
        yield* MerkleProof.verifyConsistency(claimFor(5, 5))
        yield* failsWith(MerkleProof.verifyConsistency({ ...claimFor(5, 5), proof: [reference.root(5)] }), "non-empty")
        yield* failsWith(MerkleProof.verifyConsistency({ ...claimFor(5, 5), root2: reference.root(4) }), "different roots")
        yield* MerkleProof.verifyConsistency(claimFor(0, 0))
        yield* failsWith(MerkleProof.verifyConsistency({ ...claimFor(0, 0), proof: [MerkleTree.emptyRoot] }), "empty, non-empty")
        const emptyLeaf = MerkleTree.hashLeaf(new Uint8Array())
        yield* failsWith(
          MerkleProof.verifyConsistency({ ...claimFor(0, 0), root1: emptyLeaf, root2: emptyLeaf }),
          "empty tree with the empty leaf's hash as root"
        )
      }))

    it.effect("size1 = 0 with a non-empty proof or a root1 other than the empty tree's", () =>
      Effect.gen(function*() {
        yield* MerkleProof.verifyConsistency(claimFor(0, 9))
        yield* failsWith(MerkleProof.verifyConsistency({ ...claimFor(0, 9), proof: [MerkleTree.emptyRoot] }), "non-empty")
        yield* failsWith(MerkleProof.verifyConsistency({ ...claimFor(0, 9), root1: reference.root(1) }), "root1")
      }))

    it.effect("hashes that are not 32 bytes", () =>
      Effect.gen(function*() {
        const claim = claimFor(3, 7)
        yield* failsWith(MerkleProof.verifyConsistency({ ...claim, root1: claim.root1.slice(1) }), "root1")
        yield* failsWith(MerkleProof.verifyConsistency({ ...claim, root2: new Uint8Array(0) }), "root2")
        yield* failsWith(MerkleProof.verifyConsistency({ ...claim, proof: [new Uint8Array(33), ...claim.proof.slice(1)] }), "element")
      }))

    it.effect("swapped roots, or roots of other sizes", () =>
      Effect.gen(function*() {
        const claim = claimFor(3, 7)
        yield* failsWith(MerkleProof.verifyConsistency({ ...claim, root1: claim.root2, root2: claim.root1 }), "swapped")
        yield* failsWith(MerkleProof.verifyConsistency({ ...claim, root1: reference.root(4) }), "root1")
        yield* failsWith(MerkleProof.verifyConsistency({ ...claim, root2: reference.root(8) }), "root2")
        yield* failsWith(MerkleProof.verifyConsistency({ ...claim, size1: 4 }), "size1")
        // No check on another size2: the proof from 3 to 7 has the same shape
        // as those from 3 to 6 or to 8, and hashes alone cannot tell root(7)
        // from a root of 6 or 8 leaves. Signed checkpoints bind sizes to roots.
      }))

    it.effect("an element added or removed at any position, or a flip of any bit of any element, for every pair up to 12", () =>
      Effect.gen(function*() {
        for (let size2 = 2; size2 <= 12; size2++) {
          for (let size1 = 1; size1 < size2; size1++) {
            const claim = claimFor(size1, size2)
            yield* MerkleProof.verifyConsistency(claim)
            for (let at = 0; at <= claim.proof.length; at++) {
              const extra = [...claim.proof.slice(0, at), claim.root1, ...claim.proof.slice(at)]
              yield* failsWith(MerkleProof.verifyConsistency({ ...claim, proof: extra }), `extra at ${at}`)
              if (at === claim.proof.length) continue
              const missing = [...claim.proof.slice(0, at), ...claim.proof.slice(at + 1)]
              yield* failsWith(MerkleProof.verifyConsistency({ ...claim, proof: missing }), `missing ${at}`)
              for (let bit = 0; bit < 256; bit++) {
                const proof = claim.proof.map((hash, i) => i === at ? flipBit(hash, bit) : hash)
                yield* failsWith(MerkleProof.verifyConsistency({ ...claim, proof }), `${size1}->${size2}: bit ${bit} of ${at}`)
              }
            }
          }
        }
      }))
  })

  describe("in-memory builder", () => {
    it("rejects sizes beyond the leaves given", () => {
      assert.throws(() => MerkleProof.inclusionProof(reference.leafHashes.slice(0, 3), 0, 4))
      assert.throws(() => MerkleProof.inclusionProof(reference.leafHashes, 4, 4))
      assert.throws(() => MerkleProof.consistencyProof(reference.leafHashes.slice(0, 3), 1, 4))
      assert.throws(() => MerkleProof.consistencyProof(reference.leafHashes, 5, 4))
    })
  })

  it("InvalidProof carries its reason as message", () => {
    const error = new MerkleProof.InvalidProof({ reason: "nope" })
    assert.strictEqual(error.message, "nope")
    assert.strictEqual(error._tag, "InvalidProof")
  })
})
