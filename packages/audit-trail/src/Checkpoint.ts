/**
 * Checkpoints: a log's size and root hash, signed, in the C2SP formats
 * (https://c2sp.org/tlog-checkpoint inside https://c2sp.org/signed-note), so
 * that any tool of the transparency-log ecosystem can read and verify them.
 *
 * ```text
 * lawful.example/audit/tenant-42
 * 1234
 * HtDZpGwnCBMUTXrAmG8gsoEnP1Xghkksce7453O4eSU=
 *
 * — lawful.example/audit/tenant-42 hHvtZcK9xxuuUcxiGS/upxoz8I7oY/VL6IknB2ln4W/4DG4ws+YwtttRAbEBnHjfxbW+SueNhhIkQlXN5HlCcaJNWQM=
 * ```
 *
 * (verifier key `lawful.example/audit/tenant-42+847bed65+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4`)
 *
 * The body is the origin (the log's name), the tree size in decimal, the
 * base64 root hash and optional extension lines, each ending in a newline.
 * After a blank line come signature lines: an em dash, the key name, and the
 * base64 of a 4-byte key id followed by an Ed25519 signature of the body. The
 * key id is `SHA-256(key name || "\n" || 0x01 || public key)[:4]`, and
 * verifiers are configured with a verifier key
 * `<key name>+<hex key id>+<base64(0x01 || public key)>`.
 *
 * @since 0.1.0
 */
import * as Crypto from "node:crypto"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { decodeBase64, decodeUtf8, encodeBase64 } from "./internal/bytes.js"
import * as Note from "./internal/note.js"
import * as MerkleTree from "./MerkleTree.js"

// -----------------------------------------------------------------------------
// Errors
// -----------------------------------------------------------------------------

/**
 * A checkpoint that cannot be trusted: malformed text, or no valid signature
 * by the expected key.
 *
 * @since 0.1.0
 * @category errors
 */
export class CheckpointInvalid extends Schema.TaggedError<CheckpointInvalid>()("CheckpointInvalid", {
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
 * A malformed key: a signing key that is not Ed25519, a key name with spaces
 * or plus signs, or a verifier key string that does not parse.
 *
 * @since 0.1.0
 * @category errors
 */
export class CheckpointKeyInvalid extends Schema.TaggedError<CheckpointKeyInvalid>()("CheckpointKeyInvalid", {
  reason: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return this.reason
  }
}

// -----------------------------------------------------------------------------
// Models
// -----------------------------------------------------------------------------

const isLine = (line: string): boolean => line.length > 0 && Note.isValidNoteText(line) && !line.includes("\n")

/**
 * A 32-byte SHA-256 hash.
 *
 * @since 0.1.0
 * @category models
 */
export const RootHash = Schema.Uint8ArrayFromSelf.pipe(
  Schema.filter((bytes) => bytes.length === MerkleTree.hashSize, {
    message: () => `a root hash is ${MerkleTree.hashSize} bytes`
  })
)

/**
 * A checkpoint: the size and root hash of a log at one moment, and optional
 * extension lines (non-empty, opaque, not recommended by C2SP).
 *
 * @since 0.1.0
 * @category models
 */
export class Checkpoint extends Schema.Class<Checkpoint>("@lawful/audit-trail/Checkpoint")({
  /** The log's unique name, one line; C2SP recommends a schema-less URL such as `lawful.example/audit/tenant-42`. */
  origin: Schema.String.pipe(
    Schema.filter(isLine, { message: () => "an origin is one non-empty line without control characters" })
  ),
  treeSize: Schema.NonNegativeInt,
  rootHash: RootHash,
  extensions: Schema.optionalWith(
    Schema.Array(
      Schema.String.pipe(
        Schema.filter(isLine, { message: () => "an extension is one non-empty line without control characters" })
      )
    ),
    { default: () => [] }
  )
}) {}

/**
 * A signature line of a note, not necessarily verified.
 *
 * @since 0.1.0
 * @category models
 */
export interface NoteSignature {
  readonly name: string
  readonly keyId: number
  readonly signature: Uint8Array
}

/**
 * A signed checkpoint as parsed, signatures unverified.
 *
 * @since 0.1.0
 * @category models
 */
export interface SignedCheckpoint {
  readonly checkpoint: Checkpoint
  readonly signatures: ReadonlyArray<NoteSignature>
}

/**
 * A key that verifies checkpoint signatures, parsed from a verifier key
 * string with {@link parseVerifierKey}.
 *
 * @since 0.1.0
 * @category models
 */
export interface VerifierKey {
  readonly _tag: "VerifierKey"
  readonly name: string
  readonly keyId: number
  readonly publicKey: Uint8Array
  /** The verifier key string, `<name>+<hex key id>+<base64 key>`. */
  readonly text: string
}

/**
 * A key that signs checkpoints. Its fields are public; the private key stays
 * inside the module and never shows in logs or JSON.
 *
 * @since 0.1.0
 * @category models
 */
export interface CheckpointSigner {
  readonly _tag: "CheckpointSigner"
  /** The key name of signature lines; C2SP recommends the log's origin. */
  readonly name: string
  readonly keyId: number
  readonly publicKey: Uint8Array
  /** The verifier key string to give to verifiers. */
  readonly verifierKey: string
}

const privateKeys = new WeakMap<CheckpointSigner, Crypto.KeyObject>()
const publicKeys = new WeakMap<VerifierKey, Crypto.KeyObject>()

// A `VerifierKey` may be built by hand: it is checked as `parseVerifierKey` checks a string, once.
const publicKeyObject = (key: VerifierKey): Either.Either<Crypto.KeyObject, CheckpointKeyInvalid> => {
  const cached = Predicate.isObject(key) ? publicKeys.get(key) : undefined
  if (cached !== undefined) return Either.right(cached)
  const keyInvalid = (reason: string) => Either.left(new CheckpointKeyInvalid({ reason: `malformed verifier key: ${reason}` }))
  if (!Predicate.isObject(key)) return keyInvalid("expected a verifier key string or a VerifierKey")
  if (!Predicate.isString(key.name) || !Note.isValidKeyName(key.name)) {
    return keyInvalid("the key name must be non-empty, without spaces or plus signs")
  }
  if (!(key.publicKey instanceof Uint8Array) || key.publicKey.length !== 32) {
    return keyInvalid("an Ed25519 public key is 32 bytes")
  }
  if (key.keyId !== Note.keyId(key.name, Note.ed25519Type, key.publicKey)) {
    return keyInvalid("the key id does not match the name and key")
  }
  let keyObject: Crypto.KeyObject
  try {
    keyObject = Note.publicKeyObject(key.publicKey)
  } catch {
    return keyInvalid("not an Ed25519 public key")
  }
  publicKeys.set(key, keyObject)
  return Either.right(keyObject)
}

// -----------------------------------------------------------------------------
// Text form
// -----------------------------------------------------------------------------

/**
 * The body of a checkpoint: the note text that signatures cover.
 *
 * @since 0.1.0
 * @category encoding
 */
export const format = (checkpoint: Checkpoint): string =>
  [checkpoint.origin, String(checkpoint.treeSize), encodeBase64(checkpoint.rootHash), ...checkpoint.extensions]
    .map((line) => `${line}\n`)
    .join("")

const treeSizePattern = /^(?:0|[1-9][0-9]*)$/

const parseBodyEither = (body: string): Either.Either<Checkpoint, CheckpointInvalid> => {
  const invalid = (reason: string) => Either.left(new CheckpointInvalid({ reason }))
  if (!Note.isValidNoteText(body)) return invalid("a checkpoint must be valid UTF-8 without control characters")
  if (!body.endsWith("\n")) return invalid("a checkpoint body must end with a newline")
  const lines = body.slice(0, -1).split("\n")
  if (lines.length < 3) return invalid("a checkpoint has an origin, a tree size and a root hash line")
  const [origin, size, root, ...extensions] = lines as [string, string, string, ...Array<string>]
  if (origin.length === 0) return invalid("the origin line is empty")
  if (!treeSizePattern.test(size)) return invalid("the tree size must be decimal digits without leading zeros")
  const treeSize = Number(size)
  if (!Number.isSafeInteger(treeSize)) return invalid("the tree size exceeds 2^53 - 1")
  const rootHash = decodeBase64(root)
  if (rootHash === undefined) return invalid("the root hash is not canonical base64")
  if (rootHash.length !== MerkleTree.hashSize) return invalid(`the root hash must be ${MerkleTree.hashSize} bytes`)
  if (extensions.some((line) => line.length === 0)) return invalid("extension lines must not be empty")
  return Either.right(new Checkpoint({ origin, treeSize, rootHash, extensions }))
}

const toText = (input: string | Uint8Array): Either.Either<string, CheckpointInvalid> => {
  if (typeof input === "string") return Either.right(input)
  const text = decodeUtf8(input)
  return text === undefined
    ? Either.left(new CheckpointInvalid({ reason: "a checkpoint must be valid UTF-8" }))
    : Either.right(text)
}

/**
 * Parses a checkpoint body (the unsigned note text), strictly: exactly the
 * text {@link format} produces for some checkpoint is accepted.
 *
 * @since 0.1.0
 * @category encoding
 */
export const parse = (body: string | Uint8Array): Effect.Effect<Checkpoint, CheckpointInvalid> =>
  Either.flatMap(toText(body), parseBodyEither)

const openEither = (input: string | Uint8Array): Either.Either<SignedCheckpoint & { readonly body: string }, CheckpointInvalid> =>
  Either.flatMap(toText(input), (text) => {
    const note = Note.open(text)
    if (typeof note === "string") return Either.left(new CheckpointInvalid({ reason: note }))
    return Either.map(parseBodyEither(note.text), (checkpoint) => ({
      checkpoint,
      signatures: note.signatures,
      body: note.text
    }))
  })

/**
 * Parses a signed checkpoint without verifying its signatures: for reading a
 * checkpoint from trusted storage. Use {@link verify} for anything received.
 *
 * @since 0.1.0
 * @category encoding
 */
export const parseSigned = (text: string | Uint8Array): Effect.Effect<SignedCheckpoint, CheckpointInvalid> =>
  Either.map(openEither(text), ({ checkpoint, signatures }) => ({ checkpoint, signatures }))

// -----------------------------------------------------------------------------
// Keys
// -----------------------------------------------------------------------------

/**
 * Parses a verifier key string `<name>+<hex key id>+<base64(0x01 || key)>`.
 * The key id must match the name and key.
 *
 * @since 0.1.0
 * @category keys
 */
export const parseVerifierKey = (text: string): Effect.Effect<VerifierKey, CheckpointKeyInvalid> => {
  const parsed = typeof text === "string" ? Note.parseVerifierKey(text) : "a verifier key is text"
  return typeof parsed === "string"
    ? Either.left(new CheckpointKeyInvalid({ reason: `malformed verifier key: ${parsed}` }))
    : Either.right({ _tag: "VerifierKey", ...parsed, text })
}

/**
 * The private key forms a signer accepts: a raw 32-byte Ed25519 seed, a PKCS#8
 * DER key, a PEM string, or a Node `KeyObject`; bare or `Redacted`.
 *
 * @since 0.1.0
 * @category models
 */
export type SigningKeyInput = Uint8Array | string | Crypto.KeyObject

const toPrivateKey = (input: SigningKeyInput): Crypto.KeyObject | string => {
  try {
    const key = input instanceof Crypto.KeyObject
      ? input
      : input instanceof Uint8Array && input.length === 32
      ? Note.privateKeyFromSeed(input)
      : input instanceof Uint8Array
      ? Crypto.createPrivateKey({ key: Buffer.from(input), format: "der", type: "pkcs8" })
      : Crypto.createPrivateKey(input)
    if (key.type !== "private" || key.asymmetricKeyType !== "ed25519") return "the signing key must be an Ed25519 private key"
    return key
  } catch {
    return "the signing key must be a 32-byte Ed25519 seed, or an Ed25519 private key in PKCS#8 (DER or PEM)"
  }
}

const makeSignerEither = (
  name: string,
  privateKey: SigningKeyInput | Redacted.Redacted<SigningKeyInput>
): Either.Either<CheckpointSigner, CheckpointKeyInvalid> => {
  if (!Note.isValidKeyName(name)) {
    return Either.left(
      new CheckpointKeyInvalid({ reason: "a key name must be non-empty, without spaces or plus signs" })
    )
  }
  const key = toPrivateKey(Redacted.isRedacted(privateKey) ? Redacted.value(privateKey) : privateKey)
  if (typeof key === "string") return Either.left(new CheckpointKeyInvalid({ reason: key }))
  const publicKey = Note.publicKeyOf(key)
  const signer: CheckpointSigner = {
    _tag: "CheckpointSigner",
    name,
    keyId: Note.keyId(name, Note.ed25519Type, publicKey),
    publicKey,
    verifierKey: Note.formatVerifierKey(name, publicKey)
  }
  privateKeys.set(signer, key)
  return Either.right(signer)
}

/**
 * Makes a signer from a key name (C2SP recommends the log's origin) and an
 * Ed25519 private key.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeSigner = (
  name: string,
  privateKey: SigningKeyInput | Redacted.Redacted<SigningKeyInput>
): Effect.Effect<CheckpointSigner, CheckpointKeyInvalid> => makeSignerEither(name, privateKey)

/**
 * Generates a new signing key: the base64 of a random 32-byte Ed25519 seed,
 * the form `LAWFUL_AUDIT_SIGNING_KEY` expects.
 *
 * @since 0.1.0
 * @category keys
 */
export const generateSigningKey = (): Effect.Effect<Redacted.Redacted<string>> =>
  Effect.sync(() => Redacted.make(encodeBase64(new Uint8Array(Crypto.randomBytes(32)))))

/**
 * The environment variable holding the checkpoint signing key.
 *
 * @since 0.1.0
 * @category config
 */
export const signingKeyVariable = "LAWFUL_AUDIT_SIGNING_KEY"

const expectedSigningKey =
  "the base64 encoding of a 32-byte Ed25519 seed (44 characters ending in \"=\"; Checkpoint.generateSigningKey makes one)"

/**
 * The signing key seed, read from `LAWFUL_AUDIT_SIGNING_KEY` (base64 of a
 * 32-byte Ed25519 seed). Fails with a message naming the variable and the
 * expected form when it is missing or malformed.
 *
 * @since 0.1.0
 * @category config
 */
export const signingKeyConfig: Config.Config<Redacted.Redacted<Uint8Array>> = Config.option(
  Config.redacted(signingKeyVariable)
).pipe(
  Config.mapOrFail(Option.match({
    onNone: () =>
      Either.left(
        ConfigError.MissingData([signingKeyVariable], `${signingKeyVariable} is not set: it must be ${expectedSigningKey}`)
      ),
    onSome: (value) => {
      const seed = decodeBase64(Redacted.value(value).trim())
      return seed !== undefined && seed.length === 32
        ? Either.right(Redacted.make(seed))
        : Either.left(ConfigError.InvalidData([signingKeyVariable], `${signingKeyVariable} must be ${expectedSigningKey}`))
    }
  }))
)

/**
 * A signer whose key comes from {@link signingKeyConfig}.
 *
 * @since 0.1.0
 * @category config
 */
export const signerConfig = (name: string): Config.Config<CheckpointSigner> =>
  Config.mapOrFail(signingKeyConfig, (seed) =>
    Either.mapLeft(makeSignerEither(name, seed), (error) => ConfigError.InvalidData([], error.reason)))

// -----------------------------------------------------------------------------
// Signing and verification
// -----------------------------------------------------------------------------

/**
 * Signs a checkpoint: its body, a blank line and one signature line per
 * signer.
 *
 * @since 0.1.0
 * @category signing
 */
export const sign = (checkpoint: Checkpoint, ...signers: readonly [CheckpointSigner, ...Array<CheckpointSigner>]): string => {
  const body = format(checkpoint)
  const lines = signers.map((signer) => {
    const key = privateKeys.get(signer)
    if (key === undefined) throw new TypeError("not a signer made by Checkpoint.makeSigner")
    return Note.signatureLine(signer.name, signer.keyId, key, body)
  })
  return `${body}\n${lines.join("")}`
}

/**
 * What a verifier expects of a checkpoint beyond a valid signature.
 *
 * @since 0.1.0
 * @category models
 */
export interface VerifyOptions {
  /**
   * The origin of the log the verifier means. One key may sign the logs of
   * many tenants, each under its own origin (an `AuditLog` signs each
   * tenant's as `<key name>/<tenant id>`): without it, a checkpoint of any of
   * them verifies.
   */
  readonly origin?: string | undefined
}

/**
 * Verifies a signed checkpoint against a verifier key and returns it. The
 * note must be well formed, carry at least one signature by that key, and
 * every signature by that key must verify; signatures by other keys are
 * ignored (witness cosignatures, rotated keys), as C2SP requires. With
 * `options.origin`, the checkpoint must also be for that origin.
 *
 * @since 0.1.0
 * @category verification
 */
export const verify = (
  text: string | Uint8Array,
  verifierKey: VerifierKey | string,
  options: VerifyOptions = {}
): Effect.Effect<Checkpoint, CheckpointInvalid | CheckpointKeyInvalid> =>
  Effect.gen(function*() {
    const key = Predicate.isString(verifierKey) ? yield* parseVerifierKey(verifierKey) : verifierKey
    const publicKey = yield* publicKeyObject(key)
    const opened = yield* openEither(text)
    const signatures = opened.signatures.filter((s) => s.name === key.name && s.keyId === key.keyId)
    if (signatures.length === 0) {
      return yield* new CheckpointInvalid({ reason: `no signature by ${key.name}+${Note.formatKeyId(key.keyId)}` })
    }
    for (const signature of signatures) {
      if (!Note.verifyEd25519(publicKey, opened.body, signature.signature)) {
        return yield* new CheckpointInvalid({
          reason: `the signature by ${key.name}+${Note.formatKeyId(key.keyId)} does not verify`
        })
      }
    }
    if (options.origin !== undefined && opened.checkpoint.origin !== options.origin) {
      return yield* new CheckpointInvalid({
        reason: `the checkpoint is for ${opened.checkpoint.origin}, not the expected ${options.origin}`
      })
    }
    return opened.checkpoint
  }).pipe(Effect.withSpan("Checkpoint.verify"))
