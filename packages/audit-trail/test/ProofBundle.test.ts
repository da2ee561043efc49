import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Checkpoint from "../src/Checkpoint.js"
import * as MerkleProof from "../src/MerkleProof.js"
import * as MerkleTree from "../src/MerkleTree.js"
import * as ProofBundle from "../src/ProofBundle.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const origin = "lawful.example/audit/tenant-7"
const seed = Uint8Array.from({ length: 32 }, (_, i) => 100 + i)
const entries = Array.from({ length: 100 }, (_, i) => encoder.encode(JSON.stringify({ action: "consent.granted", seq: i })))
const leafHashes = entries.map(MerkleTree.hashLeaf)

const signedCheckpoint = (signer: Checkpoint.CheckpointSigner, size: number) =>
  Checkpoint.sign(
    new Checkpoint.Checkpoint({ origin, treeSize: size, rootHash: MerkleTree.rootOf(leafHashes.slice(0, size)) }),
    signer
  )

const makeBundle = (signer: Checkpoint.CheckpointSigner, leafIndex: number, treeSize: number) =>
  new ProofBundle.ProofBundle({
    version: 1,
    origin,
    entry: entries[leafIndex]!,
    leafIndex,
    treeSize,
    inclusionProof: MerkleProof.inclusionProof(leafHashes, leafIndex, treeSize),
    checkpoint: signedCheckpoint(signer, treeSize)
  })

const setup = Effect.gen(function*() {
  const signer = yield* Checkpoint.makeSigner(origin, seed)
  return { signer, bundle: makeBundle(signer, 37, 100) }
})

const rejects = (effect: Effect.Effect<unknown, ProofBundle.ProofBundleInvalid>, label: string) =>
  Effect.gen(function*() {
    const result = yield* Effect.either(effect)
    if (Either.isRight(result)) assert.fail(`${label} was accepted`)
    else assert.strictEqual(result.left._tag, "ProofBundleInvalid", label)
  })

const flip = (bytes: Uint8Array, at: number, mask: number): Uint8Array => {
  const copy = new Uint8Array(bytes)
  copy[at]! ^= mask
  return copy
}

const withFields = (bundle: ProofBundle.ProofBundle, fields: Partial<ConstructorParameters<typeof ProofBundle.ProofBundle>[0]>) =>
  new ProofBundle.ProofBundle({ ...bundle, ...fields })

describe("ProofBundle", () => {
  it.effect("a valid bundle verifies, and returns the checkpoint it is proven against", () =>
    Effect.gen(function*() {
      const { bundle, signer } = yield* setup
      const checkpoint = yield* ProofBundle.verify(bundle, signer.verifierKey)
      assert.strictEqual(checkpoint.origin, origin)
      assert.strictEqual(checkpoint.treeSize, 100)
      assert.deepStrictEqual(checkpoint.rootHash, MerkleTree.rootOf(leafHashes))
      yield* ProofBundle.verify(bundle, yield* Checkpoint.parseVerifierKey(signer.verifierKey))
    }))

  it.effect("bundles for every leaf of every tree up to 24 leaves verify", () =>
    Effect.gen(function*() {
      const { signer } = yield* setup
      for (let size = 1; size <= 24; size++) {
        for (let index = 0; index < size; index++) {
          yield* ProofBundle.verify(makeBundle(signer, index, size), signer.verifierKey)
        }
      }
    }))

  describe("JSON", () => {
    it.effect("has the documented shape and round trips", () =>
      Effect.gen(function*() {
        const { bundle, signer } = yield* setup
        const json = ProofBundle.encode(bundle)
        assert.deepStrictEqual(Object.keys(json).sort(), [
          "checkpoint",
          "entry",
          "inclusionProof",
          "leafIndex",
          "origin",
          "treeSize",
          "version"
        ])
        assert.strictEqual(json.version, 1)
        assert.strictEqual(json.entry, Buffer.from(entries[37]!).toString("base64"))
        assert.deepStrictEqual(
          json.inclusionProof,
          bundle.inclusionProof.map((hash) => Buffer.from(hash).toString("base64"))
        )
        assert.strictEqual(json.checkpoint, bundle.checkpoint)

        const text = ProofBundle.toJson(bundle)
        assert.deepStrictEqual(JSON.parse(text), json)
        const decoded = yield* ProofBundle.fromJson(text)
        assert.deepStrictEqual(ProofBundle.encode(decoded), json)
        yield* ProofBundle.verifyJson(text, signer.verifierKey)
      }))

    it.effect("rejects malformed JSON", () =>
      Effect.gen(function*() {
        const { bundle, signer } = yield* setup
        const json = ProofBundle.encode(bundle)
        const cases: Array<[string, unknown]> = [
          ["not JSON", "{"],
          ["version 2", { ...json, version: 2 }],
          ["no version", { ...json, version: undefined }],
          ["extra field", { ...json, leafHash: json.inclusionProof[0] }],
          ["unpadded entry", { ...json, entry: json.entry.replace(/=+$/, "") }],
          ["entry with whitespace", { ...json, entry: ` ${json.entry}` }],
          ["short hash", { ...json, inclusionProof: [Buffer.alloc(31).toString("base64"), ...json.inclusionProof.slice(1)] }],
          ["negative index", { ...json, leafIndex: -1 }],
          ["fractional size", { ...json, treeSize: 100.5 }],
          ["empty origin", { ...json, origin: "" }],
          ["checkpoint not a string", { ...json, checkpoint: 5 }]
        ]
        for (const [label, value] of cases) {
          const text = typeof value === "string" ? value : JSON.stringify(value)
          yield* rejects(ProofBundle.verifyJson(text, signer.verifierKey), label)
        }
      }))
  })

  describe("tampering", () => {
    it.effect("any single-byte change of the entry is rejected", () =>
      Effect.gen(function*() {
        const { bundle, signer } = yield* setup
        for (let at = 0; at < bundle.entry.length; at++) {
          for (const mask of [0x01, 0x80, 0xff]) {
            yield* rejects(
              ProofBundle.verify(withFields(bundle, { entry: flip(bundle.entry, at, mask) }), signer.verifierKey),
              `entry byte ${at}`
            )
          }
        }
        yield* rejects(ProofBundle.verify(withFields(bundle, { entry: entries[36]! }), signer.verifierKey), "other entry")
        yield* rejects(
          ProofBundle.verify(withFields(bundle, { entry: new Uint8Array([...bundle.entry, 0]) }), signer.verifierKey),
          "longer entry"
        )
      }))

    it.effect("any single-byte change of any inclusion proof hash is rejected", () =>
      Effect.gen(function*() {
        const { bundle, signer } = yield* setup
        assert.isAbove(bundle.inclusionProof.length, 5)
        for (let element = 0; element < bundle.inclusionProof.length; element++) {
          for (let at = 0; at < MerkleTree.hashSize; at++) {
            for (const mask of [0x01, 0x80]) {
              const inclusionProof = bundle.inclusionProof.map((hash, i) => i === element ? flip(hash, at, mask) : hash)
              yield* rejects(
                ProofBundle.verify(withFields(bundle, { inclusionProof }), signer.verifierKey),
                `proof ${element} byte ${at}`
              )
            }
          }
        }
      }))

    it.effect("any single-byte change of the checkpoint text is rejected", () =>
      Effect.gen(function*() {
        const { bundle, signer } = yield* setup
        const bytes = encoder.encode(bundle.checkpoint)
        for (let at = 0; at < bytes.length; at++) {
          for (const mask of [0x01, 0x80]) {
            const checkpoint = decoder.decode(flip(bytes, at, mask))
            yield* rejects(ProofBundle.verify(withFields(bundle, { checkpoint }), signer.verifierKey), `checkpoint byte ${at}`)
          }
        }
      }))

    it.effect("any single-byte change of the signature is rejected", () =>
      Effect.gen(function*() {
        const { bundle, signer } = yield* setup
        const lineStart = bundle.checkpoint.lastIndexOf(" ") + 1
        const signature = new Uint8Array(Buffer.from(bundle.checkpoint.slice(lineStart, -1), "base64"))
        assert.strictEqual(signature.length, 4 + 64)
        for (let at = 0; at < signature.length; at++) {
          for (const mask of [0x01, 0x80]) {
            const checkpoint = `${bundle.checkpoint.slice(0, lineStart)}${Buffer.from(flip(signature, at, mask)).toString("base64")}\n`
            yield* rejects(ProofBundle.verify(withFields(bundle, { checkpoint }), signer.verifierKey), `signature byte ${at}`)
          }
        }
      }))

    it.effect("another index, size, origin, proof shape, checkpoint or key is rejected", () =>
      Effect.gen(function*() {
        const { bundle, signer } = yield* setup
        const other = yield* Checkpoint.makeSigner(origin, new Uint8Array(32))
        const cases: Array<[string, ProofBundle.ProofBundle, string]> = [
          ["index - 1", withFields(bundle, { leafIndex: 36 }), signer.verifierKey],
          ["index + 1", withFields(bundle, { leafIndex: 38 }), signer.verifierKey],
          ["index = size", withFields(bundle, { leafIndex: 100 }), signer.verifierKey],
          ["size - 1", withFields(bundle, { treeSize: 99 }), signer.verifierKey],
          ["other origin", withFields(bundle, { origin: "lawful.example/audit/tenant-8" }), signer.verifierKey],
          ["missing hash", withFields(bundle, { inclusionProof: bundle.inclusionProof.slice(1) }), signer.verifierKey],
          ["extra hash", withFields(bundle, { inclusionProof: [...bundle.inclusionProof, MerkleTree.emptyRoot] }), signer.verifierKey],
          ["swapped hashes", withFields(bundle, { inclusionProof: [bundle.inclusionProof[1]!, bundle.inclusionProof[0]!, ...bundle.inclusionProof.slice(2)] }), signer.verifierKey],
          ["later checkpoint", withFields(bundle, { checkpoint: signedCheckpoint(signer, 99) }), signer.verifierKey],
          ["checkpoint of another size, same claims", withFields(makeBundle(signer, 37, 99), { checkpoint: bundle.checkpoint }), signer.verifierKey],
          ["checkpoint by another key", withFields(bundle, { checkpoint: signedCheckpoint(other, 100) }), signer.verifierKey],
          ["another verifier key", bundle, other.verifierKey],
          ["malformed verifier key", bundle, "not a key"]
        ]
        for (const [label, tampered, key] of cases) {
          yield* rejects(ProofBundle.verify(tampered, key), label)
        }
      }))
  })

  describe("strict JSON", () => {
    it.effect("a member given twice is rejected, wherever it stands, so no reader sees another bundle", () =>
      Effect.gen(function*() {
        const { bundle, signer } = yield* setup
        const text = ProofBundle.toJson(bundle)
        const other = ProofBundle.toJson(makeBundle(signer, 36, 100))
        const members = Object.keys(ProofBundle.encode(bundle))
        for (const member of members) {
          const first = `"${member}": ${JSON.stringify((JSON.parse(other) as Record<string, unknown>)[member])},`
          // The repeated member first: JSON.parse keeps the last, which verifies.
          yield* rejects(ProofBundle.verifyJson(text.replace("{", `{${first}`), signer.verifierKey), `${member} twice`)
        }
        const nested = JSON.stringify({ ...ProofBundle.encode(bundle), inclusionProof: [] }).replace(
          `"inclusionProof":[]`,
          `"inclusionProof":[${JSON.stringify(ProofBundle.encode(bundle).inclusionProof).slice(1, -1)}],"inclusionProof":${
            JSON.stringify(ProofBundle.encode(bundle).inclusionProof)
          }`
        )
        yield* rejects(ProofBundle.verifyJson(nested, signer.verifierKey), "inclusionProof twice, compact")
        const escaped = text.replace("{", `{"\u006ceafIndex": 36,`)
        yield* rejects(ProofBundle.verifyJson(escaped, signer.verifierKey), "leafIndex twice, once escaped")
        yield* ProofBundle.verifyJson(text, signer.verifierKey)
        yield* ProofBundle.verifyJson(JSON.stringify(ProofBundle.encode(bundle)), signer.verifierKey)
      }))

    it.effect("numbers are plain decimal integers: other spellings of the index, size or version are rejected", () =>
      Effect.gen(function*() {
        const { bundle, signer } = yield* setup
        const text = ProofBundle.toJson(bundle)
        const spell = (member: string, value: number, spelling: string) =>
          text.replace(`"${member}": ${value},`, `"${member}": ${spelling},`)
        const cases: Array<[string, number, string]> = [
          ["leafIndex", 37, "37.0"],
          ["leafIndex", 37, "3.7e1"],
          ["leafIndex", 37, "36.99999999999999999"],
          ["leafIndex", 37, "37.000000000000001"],
          ["treeSize", 100, "1e2"],
          ["treeSize", 100, "1E2"],
          ["treeSize", 100, "100.0"],
          ["version", 1, "1.0"],
          ["version", 1, "1e0"]
        ]
        for (const [member, value, spelling] of cases) {
          const tampered = spell(member, value, spelling)
          assert.notStrictEqual(tampered, text, spelling)
          assert.strictEqual((JSON.parse(tampered) as Record<string, unknown>)[member], value, spelling)
          yield* rejects(ProofBundle.verifyJson(tampered, signer.verifierKey), `${member} as ${spelling}`)
        }
        const first = ProofBundle.toJson(makeBundle(signer, 0, 100))
        yield* ProofBundle.verifyJson(first, signer.verifierKey)
        yield* rejects(
          ProofBundle.verifyJson(first.replace(`"leafIndex": 0,`, `"leafIndex": -0,`), signer.verifierKey),
          "leafIndex as -0"
        )
      }))
  })

  describe("expected origin", () => {
    it.effect("a bundle of another log signed by the same key is rejected when the verifier names its log", () =>
      Effect.gen(function*() {
        const { bundle, signer } = yield* setup
        // One key signs the logs of many tenants, each under its own origin.
        const otherOrigin = "lawful.example/audit/tenant-8"
        const otherCheckpoint = Checkpoint.sign(
          new Checkpoint.Checkpoint({ origin: otherOrigin, treeSize: 100, rootHash: MerkleTree.rootOf(leafHashes) }),
          signer
        )
        const other = withFields(bundle, { origin: otherOrigin, checkpoint: otherCheckpoint })
        yield* ProofBundle.verify(other, signer.verifierKey)
        yield* rejects(ProofBundle.verify(other, signer.verifierKey, { origin }), "verify, other origin")
        yield* rejects(
          ProofBundle.verifyJson(ProofBundle.toJson(other), signer.verifierKey, { origin }),
          "verifyJson, other origin"
        )
        const checkpoint = yield* ProofBundle.verify(bundle, signer.verifierKey, { origin })
        assert.strictEqual(checkpoint.origin, origin)
        yield* ProofBundle.verifyJson(ProofBundle.toJson(bundle), signer.verifierKey, { origin })
      }))
  })

  it("ProofBundleInvalid carries its reason as message", () => {
    assert.strictEqual(new ProofBundle.ProofBundleInvalid({ reason: "because" }).message, "because")
  })
})
