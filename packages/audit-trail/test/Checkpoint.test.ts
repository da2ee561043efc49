import { assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Crypto from "node:crypto"
import * as Checkpoint from "../src/Checkpoint.js"
import * as Note from "../src/internal/note.js"
import * as MerkleTree from "../src/MerkleTree.js"

const encoder = new TextEncoder()
const seed = Uint8Array.from({ length: 32 }, (_, i) => i)
const origin = "lawful.example/audit/tenant-42"
const rootHash = MerkleTree.rootOf(Array.from({ length: 1234 }, (_, i) => MerkleTree.hashLeaf(encoder.encode(`entry ${i}`))))
const checkpoint = new Checkpoint.Checkpoint({ origin, treeSize: 1234, rootHash })

// Known answer: this package's own example (see the module documentation).
const signedExample = "lawful.example/audit/tenant-42\n" +
  "1234\n" +
  "HtDZpGwnCBMUTXrAmG8gsoEnP1Xghkksce7453O4eSU=\n" +
  "\n" +
  "— lawful.example/audit/tenant-42 hHvtZcK9xxuuUcxiGS/upxoz8I7oY/VL6IknB2ln4W/4DG4ws+YwtttRAbEBnHjfxbW+SueNhhIkQlXN5HlCcaJNWQM=\n"
const exampleVerifierKey = "lawful.example/audit/tenant-42+847bed65+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"

const rejects = <A, E extends { readonly _tag: string }>(effect: Effect.Effect<A, E>, tag: E["_tag"], label = "") =>
  Effect.gen(function*() {
    const result = yield* Effect.either(effect)
    if (Either.isRight(result)) assert.fail(`expected ${tag} ${label}`)
    else assert.strictEqual(result.left._tag, tag, label)
  })

const exampleSigner = Checkpoint.makeSigner(origin, seed)

describe("Checkpoint", () => {
  describe("signing and verification", () => {
    it.effect("sign, parse and verify round trip", () =>
      Effect.gen(function*() {
        const signer = yield* exampleSigner
        const signed = Checkpoint.sign(checkpoint, signer)
        assert.strictEqual(signed, signedExample)
        assert.strictEqual(signer.verifierKey, exampleVerifierKey)

        const body = Checkpoint.format(checkpoint)
        assert.strictEqual(body, signed.slice(0, signed.indexOf("\n\n") + 1))
        const parsed = yield* Checkpoint.parse(body)
        assert.strictEqual(parsed.origin, origin)
        assert.strictEqual(parsed.treeSize, 1234)
        assert.deepStrictEqual(parsed.rootHash, rootHash)

        const verified = yield* Checkpoint.verify(signed, signer.verifierKey)
        assert.strictEqual(Checkpoint.format(verified), body)
        const fromBytes = yield* Checkpoint.verify(encoder.encode(signed), yield* Checkpoint.parseVerifierKey(signer.verifierKey))
        assert.strictEqual(Checkpoint.format(fromBytes), body)

        const { signatures } = yield* Checkpoint.parseSigned(signed)
        assert.strictEqual(signatures.length, 1)
        assert.strictEqual(signatures[0]!.name, origin)
        assert.strictEqual(signatures[0]!.keyId, signer.keyId)
        assert.strictEqual(signatures[0]!.signature.length, 64)
      }))

    it.effect("extension lines and the empty tree round trip", () =>
      Effect.gen(function*() {
        const signer = yield* exampleSigner
        const withExtensions = new Checkpoint.Checkpoint({
          origin,
          treeSize: 0,
          rootHash: MerkleTree.emptyRoot,
          extensions: ["one extension", "— another"]
        })
        const signed = Checkpoint.sign(withExtensions, signer)
        assert.isTrue(signed.startsWith(`${origin}\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\none extension\n— another\n\n`))
        const verified = yield* Checkpoint.verify(signed, signer.verifierKey)
        assert.deepStrictEqual(verified.extensions, ["one extension", "— another"])
        assert.strictEqual(verified.treeSize, 0)
      }))

    it.effect("a single-byte change anywhere in the signed text is rejected", () =>
      Effect.gen(function*() {
        const bytes = encoder.encode(signedExample)
        const key = yield* Checkpoint.parseVerifierKey(exampleVerifierKey)
        yield* Checkpoint.verify(bytes, key)
        for (let at = 0; at < bytes.length; at++) {
          // Every single-bit flip, and the bytes that matter to the syntax.
          const values = new Set([0, 1, 2, 3, 4, 5, 6, 7].map((bit) => bytes[at]! ^ (1 << bit)))
          for (const special of "\n +=/0A—".split("").flatMap((c) => [...encoder.encode(c)])) values.add(special)
          values.delete(bytes[at]!)
          for (const value of values) {
            const changed = bytes.slice()
            changed[at] = value
            const result = yield* Effect.either(Checkpoint.verify(changed, key))
            if (Either.isRight(result)) assert.fail(`byte ${at} set to ${value} was accepted`)
          }
        }
      }))

    it.effect("removing or adding a character anywhere is rejected", () =>
      Effect.gen(function*() {
        for (let at = 0; at <= signedExample.length; at++) {
          if (at < signedExample.length) {
            yield* rejects(
              Checkpoint.verify(signedExample.slice(0, at) + signedExample.slice(at + 1), exampleVerifierKey),
              "CheckpointInvalid",
              `without ${at}`
            )
          }
          for (const extra of ["\n", " ", "A", "0"]) {
            yield* rejects(
              Checkpoint.verify(signedExample.slice(0, at) + extra + signedExample.slice(at), exampleVerifierKey),
              "CheckpointInvalid",
              `with ${JSON.stringify(extra)} at ${at}`
            )
          }
        }
      }))

    it.effect("a signature by another key, under the same or another name, is rejected", () =>
      Effect.gen(function*() {
        const signer = yield* exampleSigner
        const otherSeed = Crypto.randomBytes(32)
        const sameName = yield* Checkpoint.makeSigner(origin, otherSeed)
        const otherName = yield* Checkpoint.makeSigner("other.example/log", seed)
        assert.notStrictEqual(sameName.keyId, signer.keyId)
        const signed = Checkpoint.sign(checkpoint, signer)
        yield* rejects(Checkpoint.verify(signed, sameName.verifierKey), "CheckpointInvalid", "same name")
        yield* rejects(Checkpoint.verify(signed, otherName.verifierKey), "CheckpointInvalid", "other name")
        yield* rejects(Checkpoint.verify(Checkpoint.sign(checkpoint, sameName), signer.verifierKey), "CheckpointInvalid")
      }))

    it.effect("a forged signature under the right name and key id is rejected", () =>
      Effect.gen(function*() {
        const signer = yield* exampleSigner
        const other = yield* Checkpoint.makeSigner(origin, Crypto.randomBytes(32))
        const body = Checkpoint.format(checkpoint)
        const forged = Note.signatureLine(origin, signer.keyId, Note.privateKeyFromSeed(Crypto.randomBytes(32)), body)
        yield* rejects(Checkpoint.verify(`${body}\n${forged}`, signer.verifierKey), "CheckpointInvalid")
        // A valid signature does not excuse a bad one by the same key.
        const valid = Checkpoint.sign(checkpoint, signer)
        yield* rejects(Checkpoint.verify(valid + forged, signer.verifierKey), "CheckpointInvalid")
        // Signatures by unknown keys are ignored, wherever they stand.
        const cosigned = Checkpoint.sign(checkpoint, other, signer)
        yield* Checkpoint.verify(cosigned, signer.verifierKey)
        yield* Checkpoint.verify(cosigned, other.verifierKey)
      }))

    it.effect("with an expected origin, a checkpoint of another log signed by the same key is rejected", () =>
      Effect.gen(function*() {
        const signer = yield* exampleSigner
        const other = Checkpoint.sign(new Checkpoint.Checkpoint({ origin: `${origin}0`, treeSize: 1234, rootHash }), signer)
        yield* Checkpoint.verify(other, signer.verifierKey)
        yield* rejects(Checkpoint.verify(other, signer.verifierKey, { origin }), "CheckpointInvalid", "other origin")
        const verified = yield* Checkpoint.verify(signedExample, signer.verifierKey, { origin })
        assert.strictEqual(verified.origin, origin)
      }))

    it.effect("a verifier key object that is not a valid key fails with CheckpointKeyInvalid, not a defect", () =>
      Effect.gen(function*() {
        const key = yield* Checkpoint.parseVerifierKey(exampleVerifierKey)
        const cases: Array<[string, unknown]> = [
          ["short public key", { ...key, publicKey: key.publicKey.slice(1) }],
          ["long public key", { ...key, publicKey: Uint8Array.of(...key.publicKey, 0) }],
          ["public key not bytes", { ...key, publicKey: Buffer.from(key.publicKey).toString("hex") }],
          ["key id of another key", { ...key, keyId: key.keyId ^ 1 }],
          ["name with a space", { ...key, name: "bad name" }],
          ["not a key", 42],
          ["null", null]
        ]
        for (const [label, verifierKey] of cases) {
          const exit = yield* Effect.exit(Checkpoint.verify(signedExample, verifierKey as Checkpoint.VerifierKey))
          assert.isTrue(Exit.isFailure(exit), label)
          if (Exit.isFailure(exit)) {
            const failure = Cause.failureOption(exit.cause)
            assert.isTrue(Option.isSome(failure), `${label}: ${Cause.pretty(exit.cause)}`)
            assert.strictEqual(Option.getOrThrow(failure)._tag, "CheckpointKeyInvalid", label)
          }
        }
        yield* Checkpoint.verify(signedExample, { ...key })
      }))

    it.effect("verifies checkpoints of sum.golang.org, the Go checksum database, with its published key", () =>
      Effect.gen(function*() {
        const key = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
        const note = "go.sum database tree\n65209736\n5+uGFjx6xBZG8ip1+wi77v+grwbhhukIrxEUS8PXvRo=\n\n" +
          "— sum.golang.org Az3grnbssgK7ubgFX36gVETtNv0U23qxyAhAMai2QUfeGa3nB/akvkMdlUErfcZz7l/R3cVtYspg3dxXABkGZZKdsQ8=\n"
        const verified = yield* Checkpoint.verify(note, key)
        assert.strictEqual(verified.origin, "go.sum database tree")
        assert.strictEqual(verified.treeSize, 65209736)
        yield* rejects(Checkpoint.verify(note.replace("65209736", "65209737"), key), "CheckpointInvalid")
      }))
  })

  describe("signed-note compatibility with golang.org/x/mod/sumdb/note", () => {
    // From note_test.go: PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz
    const peterSeed = Buffer.from("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz", "base64").subarray(1)
    const peterKey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    const text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
    const peterSignature =
      "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"

    it.effect("the same seed gives the same verifier key and signature", () =>
      Effect.gen(function*() {
        const peter = yield* Checkpoint.makeSigner("PeterNeumann", peterSeed)
        assert.strictEqual(peter.verifierKey, peterKey)
        assert.strictEqual(peter.keyId, 0xc74f20a3)
        assert.strictEqual(Note.signatureLine("PeterNeumann", peter.keyId, Note.privateKeyFromSeed(peterSeed), text), peterSignature)
        const opened = Note.open(`${text}\n${peterSignature}`)
        assert.deepStrictEqual(typeof opened === "string" ? opened : opened.text, text)
      }))

    it.effect("every truncation and every changed byte of a verifier key is rejected", () =>
      Effect.gen(function*() {
        yield* Checkpoint.parseVerifierKey(peterKey)
        for (let i = 0; i <= peterKey.length; i++) {
          for (let j = i + 1; j <= peterKey.length; j++) {
            if (i === 0 && j === peterKey.length) continue
            yield* rejects(Checkpoint.parseVerifierKey(peterKey.slice(i, j)), "CheckpointKeyInvalid", `[${i}, ${j})`)
          }
        }
        for (let i = 0; i < peterKey.length; i++) {
          const changed = peterKey.slice(0, i) + String.fromCharCode(peterKey.charCodeAt(i) + 1) + peterKey.slice(i + 1)
          yield* rejects(Checkpoint.parseVerifierKey(changed), "CheckpointKeyInvalid", changed)
        }
        // Wrong key length and unknown algorithm, each with a matching key id.
        const wrongLength = Note.keyId("PeterNeumann", 0x01, Buffer.from("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==", "base64").subarray(1))
        yield* rejects(
          Checkpoint.parseVerifierKey(`PeterNeumann+${Note.formatKeyId(wrongLength)}+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==`),
          "CheckpointKeyInvalid"
        )
        yield* rejects(Checkpoint.parseVerifierKey("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"), "CheckpointKeyInvalid")
      }))
  })

  describe("strict parsing", () => {
    const body = (lines: ReadonlyArray<string>) => lines.map((line) => `${line}\n`).join("")
    const root64 = Buffer.from(rootHash).toString("base64")

    it.effect("accepts exactly the canonical form", () =>
      Effect.gen(function*() {
        for (const size of ["0", "1", "10", "9007199254740991"]) {
          const parsed = yield* Checkpoint.parse(body([origin, size, root64]))
          assert.strictEqual(String(parsed.treeSize), size)
        }
      }))

    it.effect("rejects non-canonical tree sizes", () =>
      Effect.gen(function*() {
        for (const size of ["", "00", "01", "+1", "-1", " 1", "1 ", "1.0", "1e3", "0x10", "١", "9007199254740992", "18446744073709551615"]) {
          yield* rejects(Checkpoint.parse(body([origin, size, root64])), "CheckpointInvalid", JSON.stringify(size))
        }
      }))

    it.effect("rejects bad base64 and hashes of the wrong length", () =>
      Effect.gen(function*() {
        const nonCanonical = root64.slice(0, 42) + String.fromCharCode(root64.charCodeAt(42) + 1) + "="
        assert.deepStrictEqual(new Uint8Array(Buffer.from(nonCanonical, "base64")), rootHash)
        for (
          const root of [
            root64.slice(0, -1),
            nonCanonical,
            ` ${root64}`,
            `-${root64.slice(1)}`,
            `_${root64.slice(1)}`,
            Buffer.from(rootHash.slice(0, 31)).toString("base64"),
            Buffer.from([...rootHash, 0]).toString("base64"),
            ""
          ]
        ) {
          yield* rejects(Checkpoint.parse(body([origin, "5", root])), "CheckpointInvalid", root)
        }
      }))

    it.effect("rejects malformed lines", () =>
      Effect.gen(function*() {
        const cases = [
          "",
          `${origin}\n5\n${root64}`,
          body([origin, "5"]),
          body(["", "5", root64]),
          body([origin, "5", root64, ""]),
          body([origin, "5", root64, "ext", ""]),
          body([`${origin}\r`, "5", root64]),
          body([origin, "5\r", root64]),
          body([origin, "5", root64, "tab\there"]),
          body([`${origin}\u0000`, "5", root64]),
          body([`bad\ud800`, "5", root64])
        ]
        for (const text of cases) {
          yield* rejects(Checkpoint.parse(text), "CheckpointInvalid", JSON.stringify(text))
        }
        yield* rejects(Checkpoint.parse(Uint8Array.of(0xff, 0x0a)), "CheckpointInvalid")
      }))

    it.effect("rejects malformed notes", () =>
      Effect.gen(function*() {
        const text = Checkpoint.format(checkpoint)
        const signature = signedExample.slice(text.length + 1)
        const cases = [
          text,
          `${text}\n`,
          `${text}\n${signature.slice(0, -1)}`,
          `${text}\n${signature}Unexpected line.\n`,
          `${text}\n${signature.replace("— ", "-- ")}`,
          `${text}\n${signature.replace("— ", "—")}`,
          `${text}\n${signature.replace(origin, "bad name")}`,
          `${text}\n${signature.replace(origin, `${origin}+x`)}`,
          `${text}\n— ${origin} AAAAAA==\n`,
          `${text}\n— ${origin}\n`,
          `\u0001${signedExample}`,
          `${text}\n${signature.repeat(101)}`
        ]
        for (const note of cases) {
          yield* rejects(Checkpoint.verify(note, exampleVerifierKey), "CheckpointInvalid", JSON.stringify(note))
          yield* rejects(Checkpoint.parseSigned(note), "CheckpointInvalid", JSON.stringify(note))
        }
        yield* Checkpoint.verify(`${text}\n${signature.repeat(100)}`, exampleVerifierKey)
      }))

    it("the Checkpoint schema refuses what cannot be written", () => {
      assert.throws(() => new Checkpoint.Checkpoint({ origin: "two\nlines", treeSize: 1, rootHash }))
      assert.throws(() => new Checkpoint.Checkpoint({ origin: "", treeSize: 1, rootHash }))
      assert.throws(() => new Checkpoint.Checkpoint({ origin, treeSize: -1, rootHash }))
      assert.throws(() => new Checkpoint.Checkpoint({ origin, treeSize: 1.5, rootHash }))
      assert.throws(() => new Checkpoint.Checkpoint({ origin, treeSize: 1, rootHash: rootHash.slice(1) }))
      assert.throws(() => new Checkpoint.Checkpoint({ origin, treeSize: 1, rootHash, extensions: [""] }))
    })
  })

  describe("keys", () => {
    it.effect("a signer accepts a seed, PKCS#8 DER or PEM, a KeyObject, bare or redacted", () =>
      Effect.gen(function*() {
        const keyObject = Note.privateKeyFromSeed(seed)
        const der = new Uint8Array(keyObject.export({ format: "der", type: "pkcs8" }))
        const pem = keyObject.export({ format: "pem", type: "pkcs8" }).toString()
        for (const key of [seed, der, pem, keyObject, Redacted.make(seed), Redacted.make(pem)]) {
          const made = yield* Checkpoint.makeSigner(origin, key)
          assert.strictEqual(made.verifierKey, exampleVerifierKey)
          assert.strictEqual(Checkpoint.sign(checkpoint, made), signedExample)
        }
      }))

    it.effect("a signer refuses other keys and bad names", () =>
      Effect.gen(function*() {
        const { privateKey: rsa } = Crypto.generateKeyPairSync("rsa", { modulusLength: 1024 })
        const { publicKey: ed25519Public } = Crypto.generateKeyPairSync("ed25519")
        for (const key of [seed.slice(1), new Uint8Array(33), "not a key", rsa, ed25519Public]) {
          yield* rejects(Checkpoint.makeSigner(origin, key), "CheckpointKeyInvalid")
        }
        for (const name of ["", "with space", "with+plus", "tab\t", "nbsp\u00a0", "lone\ud800"]) {
          yield* rejects(Checkpoint.makeSigner(name, seed), "CheckpointKeyInvalid", JSON.stringify(name))
        }
      }))

    it.effect("a signer shows no private key", () =>
      Effect.gen(function*() {
        const signer = yield* exampleSigner
        assert.notInclude(JSON.stringify(signer), Buffer.from(seed).toString("base64"))
        assert.deepStrictEqual(Object.keys(signer).sort(), ["_tag", "keyId", "name", "publicKey", "verifierKey"])
      }))

    it.effect("signing with a copied signer object is a defect", () =>
      Effect.gen(function*() {
        const signer = yield* exampleSigner
        assert.throws(() => Checkpoint.sign(checkpoint, { ...signer }))
      }))

    it.effect("generateSigningKey makes a fresh base64 seed", () =>
      Effect.gen(function*() {
        const a = Redacted.value(yield* Checkpoint.generateSigningKey())
        const b = Redacted.value(yield* Checkpoint.generateSigningKey())
        assert.notStrictEqual(a, b)
        assert.strictEqual(Buffer.from(a, "base64").length, 32)
        assert.strictEqual(Buffer.from(a, "base64").toString("base64"), a)
      }))
  })

  describe("config", () => {
    const withEnv = (env: Record<string, string>) =>
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

    it.effect("reads the seed from LAWFUL_AUDIT_SIGNING_KEY", () =>
      Effect.gen(function*() {
        const key = yield* Checkpoint.signingKeyConfig
        assert.deepStrictEqual(Redacted.value(key), seed)
        const made = yield* Checkpoint.signerConfig(origin)
        assert.strictEqual(made.verifierKey, exampleVerifierKey)
        assert.strictEqual(Checkpoint.sign(checkpoint, made), signedExample)
      }).pipe(withEnv({ LAWFUL_AUDIT_SIGNING_KEY: Buffer.from(seed).toString("base64") })))

    it.effect("a generated key works as the variable's value", () =>
      Effect.gen(function*() {
        const generated = yield* Checkpoint.generateSigningKey()
        const made = yield* Checkpoint.signerConfig(origin).pipe(withEnv({ LAWFUL_AUDIT_SIGNING_KEY: Redacted.value(generated) }))
        yield* Checkpoint.verify(Checkpoint.sign(checkpoint, made), made.verifierKey)
      }))

    it.effect("a missing or malformed key fails with a message naming the variable and the expected form", () =>
      Effect.gen(function*() {
        for (
          const env of [
            {},
            { LAWFUL_AUDIT_SIGNING_KEY: "" },
            { LAWFUL_AUDIT_SIGNING_KEY: "not base64!" },
            { LAWFUL_AUDIT_SIGNING_KEY: Buffer.from(seed.slice(1)).toString("base64") },
            { LAWFUL_AUDIT_SIGNING_KEY: Buffer.from(seed).toString("hex") }
          ]
        ) {
          const result = yield* Effect.either(Checkpoint.signingKeyConfig.pipe(withEnv(env)))
          if (Either.isRight(result)) assert.fail(`accepted ${JSON.stringify(env)}`)
          else {
            const message = String(result.left)
            assert.include(message, "LAWFUL_AUDIT_SIGNING_KEY")
            assert.include(message, "32-byte Ed25519 seed")
            assert.notInclude(message, Buffer.from(seed).toString("hex"))
          }
        }
      }))

    it.effect("a bad key name fails the signer config", () =>
      Effect.gen(function*() {
        const result = yield* Effect.either(
          Checkpoint.signerConfig("bad name").pipe(withEnv({ LAWFUL_AUDIT_SIGNING_KEY: Buffer.from(seed).toString("base64") }))
        )
        assert.isTrue(Either.isLeft(result))
      }))
  })
})
