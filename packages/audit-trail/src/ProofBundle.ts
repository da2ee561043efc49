/**
 * Proof bundles: one audit entry with everything a third party needs to check
 * offline, with nothing but the log's verifier key, that the entry is in the
 * log: its inclusion proof and a signed checkpoint.
 *
 * The JSON format, version 1:
 *
 * ```json
 * {
 *   "version": 1,
 *   "origin": "lawful.example/audit/tenant-42",
 *   "entry": "<base64 of the entry's canonical bytes>",
 *   "leafIndex": 17,
 *   "treeSize": 1234,
 *   "inclusionProof": ["<base64 of a 32-byte hash>", "..."],
 *   "checkpoint": "lawful.example/audit/tenant-42\n1234\n<base64 root>\n\n— lawful.example/audit/tenant-42 <base64 signature>\n"
 * }
 * ```
 *
 * - `version`: the format version, `1`.
 * - `origin`: the log's origin; it must be the checkpoint's.
 * - `entry`: the entry's canonical bytes (their encoding is the audit trail's
 *   concern), standard padded base64. Its leaf hash is
 *   `SHA-256(0x00 || entry)`.
 * - `leafIndex`: the entry's position in the log, from 0.
 * - `treeSize`: the size of the tree the proof is for; it must be the
 *   checkpoint's.
 * - `inclusionProof`: the RFC 9162 inclusion proof of the leaf in that tree,
 *   from the leaf up, each hash in standard padded base64.
 * - `checkpoint`: the signed checkpoint (C2SP tlog-checkpoint in a C2SP signed
 *   note) of that tree.
 *
 * Base64 must be canonical (RFC 4648 §4 with padding, no whitespace), so each
 * value has exactly one encoding. The JSON text must be strict, so that every
 * JSON reader sees the same bundle: no object gives a member twice, and
 * numbers are plain decimal integers (no sign, fraction, exponent or leading
 * zero).
 *
 * A bundle's `origin` is its own claim. One key may sign the logs of many
 * tenants (an `AuditLog` signs each tenant's under the origin
 * `<key name>/<tenant id>`), so a verifier who means one log names its origin:
 * `verify(bundle, verifierKey, { origin })`.
 *
 * `verify` checks the version 1 contract and nothing of what the entry says.
 * An auditor of an `AuditLog` also runs {@link verifyEntry}, which decodes the
 * entry with the audit trail's canonical encoding (`AuditEntry`) and checks
 * that it names the position the bundle proves (its `index` is `leafIndex`)
 * and the log the checkpoint signs (its `tenant` is the origin's): a validly
 * hashed entry of another index or tenant proven at this leaf is refused.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import * as AuditEntry from "./AuditEntry.js"
import * as Checkpoint from "./Checkpoint.js"
import { decodeBase64, encodeBase64 } from "./internal/bytes.js"
import * as Issues from "@lawful/core/Issues"
import * as Json from "@lawful/core/Json"
import * as MerkleProof from "./MerkleProof.js"
import * as MerkleTree from "./MerkleTree.js"

/**
 * A bundle that does not prove its entry: malformed, signed by another key,
 * for another log, or with a proof that does not hold.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProofBundleInvalid extends Schema.TaggedError<ProofBundleInvalid>()("ProofBundleInvalid", {
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
 * Bytes as canonical padded base64 text (RFC 4648 §4): any other spelling of
 * the same bytes is refused, so one value has one encoding.
 *
 * @since 0.1.0
 * @category models
 */
export const Base64Bytes: Schema.Schema<Uint8Array, string> = Schema.transformOrFail(Schema.String, Schema.Uint8ArrayFromSelf, {
  strict: true,
  decode: (text, _, ast) => {
    const bytes = decodeBase64(text)
    return bytes === undefined
      ? ParseResult.fail(new ParseResult.Type(ast, text, "expected canonical padded base64"))
      : ParseResult.succeed(bytes)
  },
  encode: (bytes) => ParseResult.succeed(encodeBase64(bytes))
}).annotations({ identifier: "Base64Bytes" })

const Base64Hash = Base64Bytes.pipe(
  Schema.filter((bytes) => bytes.length === MerkleTree.hashSize, {
    message: () => `expected a ${MerkleTree.hashSize}-byte hash`
  })
)

/**
 * A proof bundle. Its encoded form is the JSON format above.
 *
 * @since 0.1.0
 * @category models
 */
export class ProofBundle extends Schema.Class<ProofBundle>("@lawful/audit-trail/ProofBundle")({
  version: Schema.Literal(1),
  origin: Schema.NonEmptyString,
  entry: Base64Bytes,
  leafIndex: Schema.NonNegativeInt,
  treeSize: Schema.NonNegativeInt,
  inclusionProof: Schema.Array(Base64Hash),
  checkpoint: Schema.String
}) {}

/**
 * The JSON form of a bundle.
 *
 * @since 0.1.0
 * @category models
 */
export type ProofBundleJson = typeof ProofBundle.Encoded

const invalid = (reason: string) => new ProofBundleInvalid({ reason })

/**
 * The JSON value of a bundle.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encode = (bundle: ProofBundle): ProofBundleJson => Schema.encodeSync(ProofBundle)(bundle)

/**
 * The JSON text of a bundle, indented for people to read.
 *
 * @since 0.1.0
 * @category encoding
 */
export const toJson = (bundle: ProofBundle): string => JSON.stringify(encode(bundle), null, 2)

/**
 * Decodes a bundle from its JSON value.
 *
 * @since 0.1.0
 * @category encoding
 */
export const decode = (json: unknown): Effect.Effect<ProofBundle, ProofBundleInvalid> =>
  Schema.decodeUnknown(ProofBundle)(json, { onExcessProperty: "error" }).pipe(
    // Told without the values refused (Effect's formatter quotes them, and a member's name).
    Effect.mapError((error) =>
      invalid(`malformed bundle: ${Issues.lines(error, { root: "the bundle" }).join("; ")}`)
    )
  )

// A bundle is verified as decoded: anything else (a bundle's JSON, from a caller without types) is refused.
const notABundle = "a bundle to verify is a ProofBundle (ProofBundle.decode or fromJson makes one)"

/**
 * Decodes a bundle from its JSON text, which must be strict JSON (see the
 * module documentation).
 *
 * @since 0.1.0
 * @category encoding
 */
export const fromJson = (text: string): Effect.Effect<ProofBundle, ProofBundleInvalid> =>
  Effect.suspend(() => {
    if (typeof text !== "string") return Effect.fail(invalid("a bundle must be JSON text"))
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      return Effect.fail(invalid("a bundle must be JSON"))
    }
    const problem = Json.strictness(text)
    return problem === undefined ? decode(json) : Effect.fail(invalid(`a bundle must be strict JSON: ${problem}`))
  })

/**
 * Verifies a bundle offline and returns the checkpoint it is proven against:
 * the checkpoint must be signed by `verifierKey`, be for the bundle's origin
 * (and for `options.origin`, when given) and tree size, and the inclusion
 * proof must lead from the entry's leaf hash to the checkpoint's root hash.
 * Anything but a decoded `ProofBundle` (its JSON, say) is refused.
 *
 * @since 0.1.0
 * @category verification
 */
export const verify = (
  bundle: ProofBundle,
  verifierKey: Checkpoint.VerifierKey | string,
  options: Checkpoint.VerifyOptions = {}
): Effect.Effect<Checkpoint.Checkpoint, ProofBundleInvalid> =>
  Effect.gen(function*() {
    if (!(bundle instanceof ProofBundle)) return yield* invalid(notABundle)
    const checkpoint = yield* Checkpoint.verify(bundle.checkpoint, verifierKey, options).pipe(
      Effect.mapError((error) =>
        invalid(error._tag === "CheckpointKeyInvalid" ? error.reason : `checkpoint: ${error.reason}`)
      )
    )
    if (checkpoint.origin !== bundle.origin) {
      return yield* invalid(`the checkpoint is for ${checkpoint.origin}, not ${bundle.origin}`)
    }
    if (checkpoint.treeSize !== bundle.treeSize) {
      return yield* invalid(`the checkpoint is for size ${checkpoint.treeSize}, not ${bundle.treeSize}`)
    }
    yield* MerkleProof.verifyInclusion({
      leafIndex: bundle.leafIndex,
      treeSize: bundle.treeSize,
      leafHash: MerkleTree.hashLeaf(bundle.entry),
      proof: bundle.inclusionProof,
      root: checkpoint.rootHash
    }).pipe(Effect.mapError((error) => invalid(`inclusion proof: ${error.reason}`)))
    return checkpoint
  }).pipe(Effect.withSpan("ProofBundle.verify"))

/**
 * Decodes a bundle from its JSON text and verifies it; see {@link verify}.
 *
 * @since 0.1.0
 * @category verification
 */
export const verifyJson = (
  text: string,
  verifierKey: Checkpoint.VerifierKey | string,
  options: Checkpoint.VerifyOptions = {}
): Effect.Effect<Checkpoint.Checkpoint, ProofBundleInvalid> =>
  Effect.flatMap(fromJson(text), (bundle) => verify(bundle, verifierKey, options))

/**
 * A bundle of an `AuditLog` verified with {@link verifyEntry}: the checkpoint
 * it is proven against and its entry, decoded.
 *
 * @since 0.1.0
 * @category models
 */
export interface VerifiedEntry {
  readonly checkpoint: Checkpoint.Checkpoint
  /** The members of the entry's hashed document: subject and details only as salted commitments. */
  readonly entry: AuditEntry.Leaf
}

/**
 * Verifies a bundle of an `AuditLog` offline: everything {@link verify} checks,
 * then the entry itself, decoded with the audit trail's canonical encoding
 * (see `AuditEntry`). The entry must be a canonical version-1 audit entry, the
 * index written in it must be the bundle's `leafIndex`, and its tenant must be
 * the one of the checkpoint's origin (`<key name>/<tenant id>`, the key being
 * `verifierKey`). Otherwise the bundle is refused (`ProofBundleInvalid`), its
 * reason naming indices, the tenant id and the origin, never what the entry
 * records.
 *
 * @since 0.1.0
 * @category verification
 */
export const verifyEntry = (
  bundle: ProofBundle,
  verifierKey: Checkpoint.VerifierKey | string,
  options: Checkpoint.VerifyOptions = {}
): Effect.Effect<VerifiedEntry, ProofBundleInvalid> =>
  Effect.gen(function*() {
    const key = Predicate.isString(verifierKey)
      ? yield* Checkpoint.parseVerifierKey(verifierKey).pipe(Effect.mapError((error) => invalid(error.reason)))
      : verifierKey
    const checkpoint = yield* verify(bundle, key, options)
    const decoded = AuditEntry.decodeLeaf(bundle.entry)
    if (decoded._tag === "None") return yield* invalid("entry: not a canonical version-1 audit entry")
    const entry = decoded.value
    if (entry.index !== bundle.leafIndex) {
      return yield* invalid(`entry: it says index ${entry.index}, but is leaf ${bundle.leafIndex}`)
    }
    if (checkpoint.origin !== `${key.name}/${entry.tenant}`) {
      return yield* invalid(`entry: it is tenant ${entry.tenant}'s, but the checkpoint is for ${checkpoint.origin}`)
    }
    return { checkpoint, entry }
  }).pipe(Effect.withSpan("ProofBundle.verifyEntry"))

/**
 * Decodes a bundle from its JSON text and verifies it and its entry; see {@link verifyEntry}.
 *
 * @since 0.1.0
 * @category verification
 */
export const verifyEntryJson = (
  text: string,
  verifierKey: Checkpoint.VerifierKey | string,
  options: Checkpoint.VerifyOptions = {}
): Effect.Effect<VerifiedEntry, ProofBundleInvalid> =>
  Effect.flatMap(fromJson(text), (bundle) => verifyEntry(bundle, verifierKey, options))
