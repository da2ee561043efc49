import { assert, describe, it } from "@effect/vitest"
import * as SubjectId from "@lawful/core/SubjectId"
import * as TenantId from "@lawful/core/TenantId"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as Crypto from "node:crypto"
import { readdir } from "node:fs/promises"
import { join } from "node:path"
import * as AuditEntry from "../src/AuditEntry.js"
import * as AuditEvent from "../src/AuditEvent.js"
import * as AuditLog from "../src/AuditLog.js"
import * as Checkpoint from "../src/Checkpoint.js"
import * as CheckpointPublisher from "../src/CheckpointPublisher.js"
import * as Note from "../src/internal/note.js"
import * as MerkleProof from "../src/MerkleProof.js"
import * as MerkleTree from "../src/MerkleTree.js"
import * as ProofBundle from "../src/ProofBundle.js"
import { event } from "./AuditLogSuite.js"
import { directory, noteOf, sizeOf } from "./fixtures/notes.js"

const encoder = new TextEncoder()


const publishers = {
  directory: Effect.flatMap(directory, (dir) =>
    Effect.map(
      Effect.provide(CheckpointPublisher.CheckpointPublisher, CheckpointPublisher.layerDirectory(dir)),
      (publisher) => ({ dir, publisher })
    )),
  memory: Effect.map(
    Effect.provide(CheckpointPublisher.CheckpointPublisher, CheckpointPublisher.layerMemory),
    (publisher) => ({ dir: undefined, publisher })
  )
}

describe("review 16b: CheckpointPublisher", () => {
  it.scoped("a tenant id that is not a lower-case UUID is refused: no path leaves the tenant's directory", () =>
    Effect.gen(function*() {
      const parent = yield* directory
      const dir = join(parent, "checkpoints")
      const publisher = yield* Effect.provide(CheckpointPublisher.CheckpointPublisher, CheckpointPublisher.layerDirectory(dir))
      const tenant = yield* TenantId.make
      for (const bad of ["..", "../escape", `${tenant}/../../escape`, `${tenant}/..`, "", "/tmp/escape", tenant.toUpperCase()]) {
        const note = yield* noteOf(bad, 3)
        const result = yield* Effect.either(publisher.publish(bad as TenantId.TenantId, { size: 3, note }))
        assert.isTrue(Either.isLeft(result), `publishing for ${JSON.stringify(bad)} was accepted`)
        const read = yield* Effect.either(publisher.latest(bad as TenantId.TenantId))
        assert.isTrue(Either.isLeft(read), `reading latest of ${JSON.stringify(bad)} was accepted`)
      }
      // Nothing was written beside the publisher's directory.
      assert.deepStrictEqual((yield* Effect.promise(() => readdir(parent))).filter((name) => name !== "checkpoints"), [])
    }))

  for (const [name, make] of Object.entries(publishers)) {
    it.scoped(`${name}: a publication whose size is not its note's is refused, and latest stays`, () =>
      Effect.gen(function*() {
        const { publisher } = yield* make
        const tenant = yield* TenantId.make
        const [five, three] = yield* Effect.all([noteOf(tenant, 5), noteOf(tenant, 3)])
        yield* publisher.publish(tenant, { size: 5, note: five })
        // A note of size 3, announced as size 9: latest would move back to size 3.
        const refused = yield* Effect.either(publisher.publish(tenant, { size: 9, note: three }))
        assert.isTrue(Either.isLeft(refused), "a note of size 3 was published as size 9")
        assert.strictEqual(Option.getOrThrow(yield* publisher.latest(tenant)), five)
        for (const size of [-1, 1.5, Number.NaN, 2 ** 53]) {
          const bad = yield* Effect.either(publisher.publish(tenant, { size, note: three }))
          assert.isTrue(Either.isLeft(bad), `size ${size} was accepted`)
        }
        // The note of size 9 can still be published at its size.
        const nine = yield* noteOf(tenant, 9)
        yield* publisher.publish(tenant, { size: 9, note: nine })
        assert.strictEqual(sizeOf(Option.getOrThrow(yield* publisher.latest(tenant))), 9)
      }))

    it.scoped(`${name}: a checkpoint published at a size is never replaced by another of that size`, () =>
      Effect.gen(function*() {
        const { publisher } = yield* make
        const tenant = yield* TenantId.make
        const [first, other] = yield* Effect.all([noteOf(tenant, 7), noteOf(tenant, 7, "rewritten ")])
        yield* publisher.publish(tenant, { size: 7, note: first })
        yield* publisher.publish(tenant, { size: 7, note: first })
        const refused = yield* Effect.either(publisher.publish(tenant, { size: 7, note: other }))
        assert.isTrue(Either.isLeft(refused), "another checkpoint of size 7 was accepted")
        assert.strictEqual(Option.getOrThrow(yield* publisher.latest(tenant)), first)
      }))
  }
})

const refused = <A, E extends { readonly _tag: string }>(effect: Effect.Effect<A, E>, label: string) =>
  Effect.map(Effect.either(effect), (result) => {
    if (Either.isRight(result)) assert.fail(`${label} was accepted`)
  })

const withFields = (bundle: ProofBundle.ProofBundle, fields: Partial<ConstructorParameters<typeof ProofBundle.ProofBundle>[0]>) =>
  new ProofBundle.ProofBundle({ ...bundle, ...fields })

describe("review 16b: offline verification", () => {
  it.layer(AuditLog.layerMemory)((it) => {
    // A tenant's log of 12 entries, entry 5 with a subject and details; its bundle, and its leaf.
    const history = Effect.gen(function*() {
      const log = yield* AuditLog.AuditLog
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      yield* TestClock.setTime(Date.UTC(2026, 0, 1))
      yield* log.appendAll(tenant, Array.from({ length: 5 }, (_, i) => event(i)))
      yield* log.append(tenant, event(5, { subject }))
      yield* log.appendAll(tenant, Array.from({ length: 6 }, (_, i) => event(6 + i)))
      const bundle = yield* log.proofBundle(tenant, 5)
      const leaf = Option.getOrThrow(AuditEntry.decodeLeaf(bundle.entry))
      return { log, tenant, subject, bundle, leaf, origin: log.origin(tenant) }
    })

    it.effect("a bundle whose entry differs in any field is refused, also with leafIndex following the index", () =>
      Effect.gen(function*() {
        const { bundle, leaf, log, origin } = yield* history
        yield* ProofBundle.verify(bundle, log.verifierKey, { origin })
        const { details: _details, legalBasis: _legalBasis, purpose: _purpose, resource: _resource, subject: _subject, ...bare } = leaf
        const other = "0".repeat(64)
        const variants: Array<[string, AuditEntry.Leaf]> = [
          ["index", { ...leaf, index: 4 }],
          ["tenant", { ...leaf, tenant: TenantId.TenantId.make("00000000-0000-7000-8000-000000000000") }],
          ["time", { ...leaf, time: "2026-01-01T00:00:00.001Z" }],
          ["actor kind", { ...leaf, actor: { kind: "staff", id: "key-2" } }],
          ["actor id", { ...leaf, actor: { kind: "api-key", id: "key-0" } }],
          ["actor: the subject", { ...leaf, actor: { kind: "subject" } }],
          ["action", { ...leaf, action: "consent.withdrawn" }],
          ["purpose", { ...leaf, purpose: "marketing" }],
          ["legal basis", { ...leaf, legalBasis: "contract" }],
          ["resource", { ...leaf, resource: { type: "event", id: "e-6" } }],
          ["subject", { ...leaf, subject: other }],
          ["details", { ...leaf, details: other }],
          ["no purpose, basis, resource, subject or details", bare],
          ["no subject (de-linked, dropped from the hashed bytes)", { ...bare, purpose: leaf.purpose!, legalBasis: leaf.legalBasis!, resource: leaf.resource!, details: leaf.details! }],
          ["no details (redacted, dropped from the hashed bytes)", { ...bare, purpose: leaf.purpose!, legalBasis: leaf.legalBasis!, resource: leaf.resource!, subject: leaf.subject! }]
        ]
        for (const [label, changed] of variants) {
          const entry = AuditEntry.encodeLeaf(changed)
          assert.isTrue(Option.isSome(AuditEntry.decodeLeaf(entry)), `${label}: not a canonical leaf`)
          yield* refused(ProofBundle.verify(withFields(bundle, { entry }), log.verifierKey, { origin }), label)
          if (changed.index !== leaf.index) {
            yield* refused(
              ProofBundle.verify(withFields(bundle, { entry, leafIndex: changed.index }), log.verifierKey, { origin }),
              `${label}, with leafIndex ${changed.index}`
            )
          }
        }
      }))

    it.effect("a redacted and de-linked entry's bundle proves the bytes appended; only the true details and subject open its commitments", () =>
      Effect.gen(function*() {
        const { bundle, leaf, log, origin, subject, tenant } = yield* history
        const stored = yield* log.entry(tenant, 5)
        const details = Option.getOrThrow(stored.details)
        const link = Option.getOrThrow(stored.subject)
        yield* TestClock.adjust("30 days")
        yield* log.redactDetails(tenant, { before: new Date(Date.UTC(2026, 0, 15)), limit: 100, actor: { kind: "system", id: "retention" } })
        yield* log.delinkSubject(tenant, subject, { kind: "system", id: "erasure" })
        const after = yield* log.entry(tenant, 5)
        assert.isTrue(Option.isNone(after.details) && Option.isNone(after.subject))
        const redacted = yield* log.proofBundle(tenant, 5)
        assert.deepStrictEqual(redacted.entry, bundle.entry)
        yield* ProofBundle.verify(redacted, log.verifierKey, { origin })
        // The commitments open to the true details and subject, and to nothing else.
        assert.strictEqual(AuditEntry.detailsCommitment(details.salt, details.value), leaf.details)
        assert.notStrictEqual(AuditEntry.detailsCommitment(details.salt, { ...details.value, n: 6 }), leaf.details)
        assert.notStrictEqual(AuditEntry.detailsCommitment(new Uint8Array(16), details.value), leaf.details)
        assert.strictEqual(AuditEntry.subjectCommitment(link.salt, subject), leaf.subject)
        assert.notStrictEqual(AuditEntry.subjectCommitment(link.salt, yield* SubjectId.make), leaf.subject)
      }))

    it.effect("a bundle's checkpoint for another origin, tree size or key, and a proof of another index or size, are refused", () =>
      Effect.gen(function*() {
        const { bundle, log, origin, tenant } = yield* history
        const other = yield* TenantId.make
        yield* log.appendAll(other, Array.from({ length: 12 }, (_, i) => event(i)))
        const foreign = yield* log.proofBundle(other, 5)
        const stranger = yield* Checkpoint.makeSigner("lawful/audit", new Uint8Array(32).fill(9))
        const checkpoint = yield* Checkpoint.verify(bundle.checkpoint, log.verifierKey)
        const restated = Checkpoint.sign(checkpoint, stranger)
        yield* log.append(tenant, event(12))
        const grown = yield* log.checkpoint(tenant)
        const cases: Array<[string, ProofBundle.ProofBundle]> = [
          ["the other tenant's checkpoint", withFields(bundle, { checkpoint: foreign.checkpoint })],
          ["the other tenant's checkpoint and origin", withFields(bundle, { checkpoint: foreign.checkpoint, origin: foreign.origin })],
          ["the same checkpoint signed by another key", withFields(bundle, { checkpoint: restated })],
          ["a later checkpoint", withFields(bundle, { checkpoint: grown.note })],
          ["a later checkpoint and its size", withFields(bundle, { checkpoint: grown.note, treeSize: grown.size })],
          ["the proof of index 4", withFields(bundle, { inclusionProof: (yield* log.inclusionProof(tenant, 4, 12)) })],
          ["the proof in the tree of 11", withFields(bundle, { inclusionProof: (yield* log.inclusionProof(tenant, 5, 11)) })],
          ["index 12 of 12", withFields(bundle, { leafIndex: 12 })]
        ]
        for (const [label, tampered] of cases) {
          yield* refused(ProofBundle.verify(tampered, log.verifierKey, { origin }), label)
        }
        yield* ProofBundle.verify(withFields(bundle, { checkpoint: foreign.checkpoint, origin: foreign.origin }), log.verifierKey).pipe(
          Effect.flip,
          Effect.map((error) => assert.include(error.reason, "inclusion proof"))
        )
      }))
  })

  describe("signed notes", () => {
    const origin = "lawful.example/audit/tenant-9"
    const seed = new Uint8Array(32).fill(5)
    const rootHash = MerkleTree.rootOf([MerkleTree.hashLeaf(encoder.encode("a")), MerkleTree.hashLeaf(encoder.encode("b"))])
    const setup = Effect.gen(function*() {
      const signer = yield* Checkpoint.makeSigner("lawful.example/audit", seed)
      const stranger = yield* Checkpoint.makeSigner("witness.example", new Uint8Array(32).fill(6))
      const checkpoint = new Checkpoint.Checkpoint({ origin, treeSize: 2, rootHash })
      return { signer, stranger, checkpoint, note: Checkpoint.sign(checkpoint, signer) }
    })

    it.effect("the key id and the signed text are C2SP's, as computed here from scratch", () =>
      Effect.gen(function*() {
        const { note, signer } = yield* setup
        const keyHash = Crypto.createHash("sha256")
          .update(Buffer.concat([Buffer.from(signer.name, "utf8"), Buffer.from([0x0a, 0x01]), Buffer.from(signer.publicKey)]))
          .digest()
          .subarray(0, 4)
        assert.strictEqual(signer.verifierKey, `${signer.name}+${keyHash.toString("hex")}+${Buffer.from([1, ...signer.publicKey]).toString("base64")}`)
        const [text, block] = note.split("\n\n") as [string, string]
        assert.strictEqual(block.slice(0, block.indexOf(" ")), "\u2014")
        const line = Buffer.from(block.slice(block.lastIndexOf(" ") + 1, -1), "base64")
        assert.deepStrictEqual(line.subarray(0, 4), keyHash)
        const publicKey = Crypto.createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(signer.publicKey).toString("base64url") }, format: "jwk" })
        assert.isTrue(Crypto.verify(null, Buffer.from(`${text}\n`, "utf8"), publicKey, line.subarray(4)), "signature of the text and its final newline")
        assert.isFalse(Crypto.verify(null, Buffer.from(text, "utf8"), publicKey, line.subarray(4)))
      }))

    it.effect("a note with a line more or less, CRLF, trailing data, non-canonical base64, or a size with a sign, leading zeros or beyond 2^53 - 1 is refused", () =>
      Effect.gen(function*() {
        const { checkpoint, note, signer, stranger } = yield* setup
        const body = Checkpoint.format(checkpoint)
        const signature = note.slice(body.length + 1)
        // A body signed with the genuine key: only the parser stands between it and acceptance.
        const signed = (text: string) =>
          `${text}\n${Note.signatureLine(signer.name, signer.keyId, Note.privateKeyFromSeed(seed), text)}`
        assert.strictEqual(signed(body), note)
        const rootLine = Buffer.from(rootHash).toString("base64")
        const bodies: Array<[string, string]> = [
          ["no origin line", body.slice(origin.length + 1)],
          ["no root line", body.replace(`${rootLine}\n`, "")],
          ["an empty extension line", `${body}\n`],
          ["CRLF line ends", body.replaceAll("\n", "\r\n")],
          ["root with whitespace", body.replace(rootLine, ` ${rootLine}`)],
          ["root unpadded", body.replace(rootLine, rootLine.replace(/=+$/, ""))],
          ["root with stray bits", body.replace(rootLine, rootLine.replace(/.=$/, (m) => `${String.fromCharCode(m.charCodeAt(0) + 1)}=`))],
          ["root as base64url", body.replace(rootLine, Buffer.from(rootHash).toString("base64url"))],
          ["size +2", body.replace("\n2\n", "\n+2\n")],
          ["size 02", body.replace("\n2\n", "\n02\n")],
          ["size -2", body.replace("\n2\n", "\n-2\n")],
          ["size 2.0", body.replace("\n2\n", "\n2.0\n")],
          ["size 0x2", body.replace("\n2\n", "\n0x2\n")],
          ["size 2^53", body.replace("\n2\n", `\n${2 ** 53}\n`)],
          ["size 2^64", body.replace("\n2\n", "\n18446744073709551616\n")]
        ]
        for (const [label, text] of bodies) {
          assert.notStrictEqual(text, body, label)
          yield* refused(Checkpoint.verify(signed(text), signer.verifierKey), `${label}, signed`)
        }
        const notes: Array<[string, string]> = [
          ["CRLF line ends", note.replaceAll("\n", "\r\n")],
          ["trailing data", `${note}x`],
          ["a trailing blank line", `${note}\n`],
          ["a trailing line", `${note}extra\n`],
          ["no newline at the end", note.slice(0, -1)],
          ["no blank line", `${body}${signature}`],
          ["signature unpadded", note.replace(/=\n$/, "\n")],
          ["a second signature by the key that does not verify", `${note}${Note.signatureLine(signer.name, signer.keyId, Note.privateKeyFromSeed(seed), `${body}x\n`)}`]
        ]
        for (const [label, text] of notes) {
          assert.notStrictEqual(text, note, label)
          yield* refused(Checkpoint.verify(text, signer.verifierKey, { origin }), label)
        }
        // A size beyond 2^53 - 1 cannot even be signed.
        assert.throws(() => new Checkpoint.Checkpoint({ origin, treeSize: 2 ** 53, rootHash }))
        // A cosignature by a key the verifier does not know is ignored, as C2SP requires, in either order.
        const cosigned = Checkpoint.sign(checkpoint, signer, stranger)
        const reversed = Checkpoint.sign(checkpoint, stranger, signer)
        for (const text of [cosigned, reversed]) {
          const verified = yield* Checkpoint.verify(text, signer.verifierKey, { origin })
          assert.strictEqual(verified.treeSize, 2)
        }
        yield* refused(Checkpoint.verify(Checkpoint.sign(checkpoint, stranger), signer.verifierKey), "signed by the stranger only")
        // The largest size a checkpoint holds verifies.
        const largest = Checkpoint.sign(new Checkpoint.Checkpoint({ origin, treeSize: 2 ** 53 - 1, rootHash }), signer)
        assert.strictEqual((yield* Checkpoint.verify(largest, signer.verifierKey)).treeSize, 2 ** 53 - 1)
      }))
  })

  describe("canonical encoding", () => {
    const salt = new Uint8Array(16).fill(1)
    it("one details value has one encoding and two values two: member order, numbers and Unicode", () => {
      const commit = (details: Record<string, AuditEvent.Json>) => AuditEntry.detailsCommitment(salt, details)
      assert.strictEqual(commit({ a: 1, b: { c: 2, d: [3] } }), commit({ b: { d: [3], c: 2 }, a: 1 }))
      assert.strictEqual(commit({ "10": 1, "9": 2, a: 3 }), commit({ a: 3, "9": 2, "10": 1 }))
      // RFC 8785 writes -0 as 0 (and PostgreSQL's jsonb stores it so): one value for JSON.
      assert.strictEqual(commit({ n: -0 }), commit({ n: 0 }))
      assert.strictEqual(commit({ n: 1e21 }), commit({ n: 1000000000000000000000 }))
      assert.notStrictEqual(commit({ n: 1e21 }), commit({ n: "1e+21" }))
      assert.notStrictEqual(commit({ n: 1 }), commit({ n: "1" }))
      assert.notStrictEqual(commit({ n: null }), commit({}))
      // No normalisation: NFC and NFD are different strings, and stay so in PostgreSQL.
      assert.notStrictEqual(commit({ s: "\u00e9" }), commit({ s: "e\u0301" }))
      // A member name that holds the separator of another encoding.
      assert.notStrictEqual(commit({ "a\",\"b": 1 }), commit({ a: "", b: 1 }))
    })

    it("what has no single encoding is refused when the event is made: undefined members, holes, lone surrogates, non-finite numbers", () => {
      const base = { actor: { kind: "system", id: "job" }, action: "consent.recorded" } as const
      const bad: Array<[string, unknown]> = [
        ["an undefined member", { a: undefined }],
        ["a hole", [1, , 2]],
        ["a lone surrogate", { s: "\ud800" }],
        ["a lone surrogate in a name", { ["\udc00"]: 1 }],
        ["NaN", { n: Number.NaN }],
        ["Infinity", { n: Number.POSITIVE_INFINITY }],
        ["a Date", { d: new Date(0) }]
      ]
      for (const [label, details] of bad) {
        assert.throws(() => new AuditEvent.AuditEvent({ ...base, details: details as Record<string, AuditEvent.Json> }), undefined, undefined, label)
      }
      assert.throws(() => new AuditEvent.AuditEvent({ ...base, purpose: "\ud800" }))
      // An absent optional member and one set to undefined hash alike: both are left out.
      const tenant = TenantId.TenantId.make("00000000-0000-7000-8000-000000000001")
      const time = new Date(Date.UTC(2026, 0, 1))
      const absent = AuditEntry.make(tenant, 0, time, new AuditEvent.AuditEvent(base))
      const undefinedPurpose = AuditEntry.make(tenant, 0, time, new AuditEvent.AuditEvent({ ...base, purpose: undefined }))
      assert.deepStrictEqual(absent.leaf, undefinedPurpose.leaf)
    })
  })

  describe("inclusion proofs", () => {
    it.effect("an empty tree, a size of 0 and an index at the size prove nothing; every element counts", () =>
      Effect.gen(function*() {
        const leaves = Array.from({ length: 13 }, (_, i) => MerkleTree.hashLeaf(encoder.encode(String(i))))
        const root = MerkleTree.rootOf(leaves)
        const fails = (claim: MerkleProof.InclusionClaim, label: string) => refused(MerkleProof.verifyInclusion(claim), label)
        yield* fails({ leafIndex: 0, treeSize: 0, leafHash: MerkleTree.emptyRoot, proof: [], root: MerkleTree.emptyRoot }, "empty tree")
        yield* fails({ leafIndex: 13, treeSize: 13, leafHash: leaves[12]!, proof: MerkleProof.inclusionProof(leaves, 12, 13), root }, "index = size")
        for (let index = 0; index < 13; index++) {
          const proof = MerkleProof.inclusionProof(leaves, index, 13)
          yield* MerkleProof.verifyInclusion({ leafIndex: index, treeSize: 13, leafHash: leaves[index]!, proof, root })
          for (let at = 0; at < proof.length; at++) {
            const changed = proof.map((hash, i) => i === at ? MerkleTree.hashChildren(hash, hash) : hash)
            yield* fails({ leafIndex: index, treeSize: 13, leafHash: leaves[index]!, proof: changed, root }, `index ${index}, element ${at}`)
          }
        }
      }))
  })
})
