import { assert, describe, it } from "@effect/vitest"
import * as Option from "effect/Option"
import * as fc from "fast-check"
import * as MerkleTree from "../src/MerkleTree.js"
import { entries, fromHex, hex, nodeHash, ReferenceTree } from "./reference.js"

// RFC 6962 test vectors, as transparency-dev/merkle (testonly/constants.go) lists them.
const leafInputs = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
  .map(fromHex)
const rootHashes = [
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
]
const nodeHashes = [
  [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"
  ],
  [
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"
  ],
  [
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"
  ],
  ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"]
]

describe("MerkleTree", () => {
  describe("RFC 6962 known answers", () => {
    it("the empty tree's root is SHA-256 of nothing", () => {
      assert.strictEqual(hex(MerkleTree.emptyRoot), rootHashes[0])
      assert.strictEqual(hex(MerkleTree.rootOf([])), rootHashes[0])
    })

    it("the empty entry's leaf hash is SHA-256(0x00)", () => {
      assert.strictEqual(
        hex(MerkleTree.hashLeaf(new Uint8Array())),
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
      )
    })

    it("the empty tree's root is not the empty entry's leaf hash", () => {
      assert.notStrictEqual(hex(MerkleTree.emptyRoot), hex(MerkleTree.hashLeaf(new Uint8Array())))
    })

    it("roots of the 8-leaf test tree at every size", () => {
      const leafHashes = leafInputs.map(MerkleTree.hashLeaf)
      for (let size = 0; size <= 8; size++) {
        assert.strictEqual(hex(MerkleTree.rootOf(leafHashes.slice(0, size))), rootHashes[size], `size ${size}`)
      }
    })

    it("appending the test leaves completes exactly the listed nodes, and the frontier gives every root", () => {
      let frontier = MerkleTree.emptyFrontier
      const written = new Map<string, string>()
      for (const [size, entry] of leafInputs.entries()) {
        const appended = MerkleTree.append(frontier, MerkleTree.hashLeaf(entry))
        frontier = appended.frontier
        assert.strictEqual(frontier.size, size + 1)
        assert.strictEqual(hex(MerkleTree.frontierRoot(frontier)), rootHashes[size + 1])
        for (const node of appended.nodes) {
          const key = `${node.level}/${node.index}`
          assert.isFalse(written.has(key), `node ${key} written twice`)
          written.set(key, hex(node.hash))
        }
      }
      const expected = new Map(
        nodeHashes.flatMap((level, l) => level.map((hash, i) => [`${l}/${i}`, hash] as const))
      )
      assert.deepStrictEqual(written, expected)
    })
  })

  describe("hashing", () => {
    it("hashChildren is SHA-256(0x01 || left || right), for hashes and other lengths", () => {
      const left = MerkleTree.hashLeaf(fromHex(""))
      const right = MerkleTree.hashLeaf(fromHex("00"))
      assert.strictEqual(hex(MerkleTree.hashChildren(left, right)), nodeHashes[1]![0])
      // The fast path for 32-byte inputs must not leak state between calls.
      assert.strictEqual(hex(MerkleTree.hashChildren(left, right)), nodeHashes[1]![0])
      assert.notStrictEqual(hex(MerkleTree.hashChildren(right, left)), nodeHashes[1]![0])
      assert.strictEqual(
        hex(MerkleTree.hashChildren(fromHex("aa"), fromHex("bbcc"))),
        hex(nodeHash(fromHex("aa"), fromHex("bbcc")))
      )
    })

    it("hashes are plain Uint8Arrays", () => {
      assert.strictEqual(Object.getPrototypeOf(MerkleTree.hashLeaf(new Uint8Array())), Uint8Array.prototype)
      assert.strictEqual(Object.getPrototypeOf(MerkleTree.emptyRoot), Uint8Array.prototype)
    })

    it("rootOf agrees with the RFC's recursive MTH for every size up to 300", () => {
      const reference = new ReferenceTree(entries(300))
      for (let size = 0; size <= 300; size++) {
        assert.strictEqual(hex(MerkleTree.rootOf(reference.leafHashes.slice(0, size))), hex(reference.root(size)))
      }
    })
  })

  describe("nodes", () => {
    it("coverage of a node", () => {
      assert.deepStrictEqual(MerkleTree.coverage(MerkleTree.nodeId(0, 5)), { begin: 5, end: 6 })
      assert.deepStrictEqual(MerkleTree.coverage(MerkleTree.nodeId(3, 2)), { begin: 16, end: 24 })
      assert.deepStrictEqual(MerkleTree.coverage(MerkleTree.nodeId(40, 3)), { begin: 3 * 2 ** 40, end: 4 * 2 ** 40 })
    })

    it("nodeId rejects nodes beyond 2^53 and non-integers", () => {
      assert.throws(() => MerkleTree.nodeId(53, 1))
      assert.throws(() => MerkleTree.nodeId(0, -1))
      assert.throws(() => MerkleTree.nodeId(0.5, 1))
      assert.throws(() => MerkleTree.nodeId(52, 1))
      assert.doesNotThrow(() => MerkleTree.nodeId(52, 0))
      assert.doesNotThrow(() => MerkleTree.nodeId(51, 2))
    })

    it("a compact range is the fewest aligned perfect subtrees covering exactly [begin, end)", () => {
      fc.assert(
        fc.property(fc.nat({ max: 2 ** 53 - 2 }), fc.nat({ max: 2 ** 20 }), (begin, length) => {
          const end = Math.min(begin + length, 2 ** 53 - 1)
          const nodes = MerkleTree.rangeNodes(begin, end)
          let cursor = begin
          for (const node of nodes) {
            const covered = MerkleTree.coverage(node)
            assert.strictEqual(covered.begin, cursor)
            cursor = covered.end
          }
          assert.strictEqual(cursor, end)
          // Minimal: no two neighbours are siblings that could merge into their parent.
          for (let i = 1; i < nodes.length; i++) {
            const a = nodes[i - 1]!
            const b = nodes[i]!
            assert.isFalse(a.level === b.level && a.index % 2 === 0 && b.index === a.index + 1)
          }
        }),
        { numRuns: 2000 }
      )
    })

    it("frontier nodes follow the bits of the size", () => {
      assert.deepStrictEqual(MerkleTree.frontierNodes(0), [])
      assert.deepStrictEqual(MerkleTree.frontierNodes(7), [
        { level: 2, index: 0 },
        { level: 1, index: 2 },
        { level: 0, index: 6 }
      ])
      assert.deepStrictEqual(MerkleTree.frontierNodes(2 ** 53 - 1).length, 53)
    })
  })

  describe("frontier", () => {
    it("a store of appended nodes gives the root of every past size from its frontier nodes", () => {
      const reference = new ReferenceTree(entries(600))
      const store = new Map<string, Uint8Array>()
      let frontier = MerkleTree.emptyFrontier
      for (const leafHash of reference.leafHashes) {
        const appended = MerkleTree.append(frontier, leafHash)
        frontier = appended.frontier
        for (const node of appended.nodes) store.set(`${node.level}/${node.index}`, node.hash)
      }
      // Every complete node once: 2n minus one per bit set in n (600 = 512 + 64 + 16 + 8).
      assert.strictEqual(store.size, 2 * 600 - 4)
      for (let size = 0; size <= 600; size++) {
        const hashes = MerkleTree.frontierNodes(size).map((node) => store.get(`${node.level}/${node.index}`)!)
        const past = MerkleTree.makeFrontier(size, hashes)
        assert.strictEqual(hex(MerkleTree.frontierRoot(past)), hex(reference.root(size)), `size ${size}`)
      }
    })

    it("appendAll equals appending one by one", () => {
      const leafHashes = entries(37).map(MerkleTree.hashLeaf)
      const all = MerkleTree.appendAll(MerkleTree.emptyFrontier, leafHashes)
      const prefix = MerkleTree.appendAll(MerkleTree.emptyFrontier, leafHashes.slice(0, 20))
      const rest = MerkleTree.appendAll(prefix.frontier, leafHashes.slice(20))
      assert.deepStrictEqual(rest.frontier, all.frontier)
      assert.deepStrictEqual([...prefix.nodes, ...rest.nodes], all.nodes)
      assert.strictEqual(hex(MerkleTree.frontierRoot(all.frontier)), hex(MerkleTree.rootOf(leafHashes)))
    })

    it("makeFrontier rejects the wrong number of hashes", () => {
      assert.throws(() => MerkleTree.makeFrontier(3, [MerkleTree.emptyRoot]))
      assert.throws(() => MerkleTree.makeFrontier(-1, []))
    })
  })

  describe("proof nodes", () => {
    it("invalid arguments are defects", () => {
      assert.throws(() => MerkleTree.inclusionProofNodes(3, 3))
      assert.throws(() => MerkleTree.inclusionProofNodes(-1, 3))
      assert.throws(() => MerkleTree.consistencyProofNodes(4, 3))
      assert.throws(() => MerkleTree.proofFromNodes(MerkleTree.inclusionProofNodes(0, 3), []))
    })

    it("an inclusion proof in a non-perfect tree rebuilds the ephemeral node from the right border", () => {
      // Leaf 0 of 7: siblings (0,1) and (1,1), then the incomplete node (2,1)
      // covering leaves 4..6, built from (0,6) and (1,2).
      const proof = MerkleTree.inclusionProofNodes(0, 7)
      assert.deepStrictEqual(proof.nodes, [
        { level: 0, index: 1 },
        { level: 1, index: 1 },
        { level: 0, index: 6 },
        { level: 1, index: 2 }
      ])
      assert.deepStrictEqual(proof.ephemeral, Option.some({ node: { level: 2, index: 1 }, start: 2, end: 4 }))
    })

    it("a consistency proof from a power of two leaves out the old root", () => {
      assert.deepStrictEqual(MerkleTree.consistencyProofNodes(4, 8).nodes, [{ level: 2, index: 1 }])
      assert.deepStrictEqual(MerkleTree.consistencyProofNodes(3, 3).nodes, [])
      assert.deepStrictEqual(MerkleTree.consistencyProofNodes(0, 3).nodes, [])
    })

    it("proofs are O(log n) nodes even for huge trees", () => {
      const size = 2 ** 53 - 1
      assert.isAtMost(MerkleTree.inclusionProofNodes(12345678901, size).nodes.length, 2 * 53)
      assert.isAtMost(MerkleTree.consistencyProofNodes(2 ** 40 + 3, size).nodes.length, 2 * 53)
    })
  })
})
