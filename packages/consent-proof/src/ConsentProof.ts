/**
 * Proof of a consent event that a third party verifies offline, with nothing
 * but the audit log's verifier key.
 *
 * Each consent event has an entry in the tenant's audit log whose details
 * are `{ "eventSha256": "<hex SHA-256 of the event's canonical bytes>" }`;
 * the entry commits to its details with a salted hash (see
 * `@lawful/audit-trail/AuditEntry`). A proof carries the event's canonical
 * bytes, those details and their salt, and the entry's audit `ProofBundle`
 * (entry bytes, inclusion proof, signed checkpoint). Optionally it discloses
 * the IP address and the user agent with their salts.
 *
 * ## JSON format, version 1
 *
 * ```json
 * {
 *   "version": 1,
 *   "event": "<base64 of the event's canonical bytes>",
 *   "auditDetails": { "eventSha256": "<hex>" },
 *   "auditDetailsSalt": "<base64 of 16 bytes>",
 *   "audit": { "version": 1, "origin": "...", "entry": "...", "leafIndex": 17, ... },
 *   "disclosures": {
 *     "ip": { "value": "203.0.113.7", "salt": "<base64 of 16 bytes>" },
 *     "userAgent": { "value": "Mozilla/5.0 ...", "salt": "<base64 of 16 bytes>" }
 *   }
 * }
 * ```
 *
 * `auditDetails` has exactly the one member `eventSha256` (64 lower-case hex
 * digits). `disclosures` and each of its members are optional; a disclosed
 * value is well-formed Unicode (no unpaired surrogate, which UTF-8 would
 * hash as U+FFFD). Base64 is canonical (RFC 4648 §4, padded, no whitespace).
 * Members not listed make the proof invalid. The text is strict JSON, as a
 * proof bundle's is, so that every JSON reader sees the same proof: no object
 * gives a member twice (a reader keeping the first of two `ip` members would
 * show another address than the one verified), and numbers are plain decimal
 * integers (no sign, fraction, exponent or leading zero).
 *
 * ## Verification
 *
 * 1. The audit bundle verifies (`ProofBundle.verify`): its checkpoint is
 *    signed by the verifier key and its entry is in the signed tree; the
 *    checkpoint is of the event tenant's log, origin `<key name>/<tenant id>`
 *    (`originOf`), as an `AuditLog` signs it (the key may sign other logs).
 * 2. The entry's details commitment is `detailsCommitment(salt, auditDetails)`
 *    and `auditDetails.eventSha256` is the SHA-256 of the event bytes.
 * 3. The event bytes are a canonical version-1 event of the entry's tenant;
 *    the entry's action is `consent.<kind>`, its resource
 *    `{ "type": "consent-event", "id": <event id> }` and its index the
 *    bundle's leaf index.
 * 4. Each disclosure recomputes the event's commitment to that field.
 *
 * A proof that fails any check fails with `ConsentProofInvalid`, whose
 * reason names the check or the member at fault, never a value: a malformed
 * proof's reason holds no disclosed IP address or user agent.
 *
 * @since 0.1.0
 */
import * as AuditEntry from "@lawful/audit-trail/AuditEntry"
import * as Checkpoint from "@lawful/audit-trail/Checkpoint"
import * as ProofBundle from "@lawful/audit-trail/ProofBundle"
import type { TenantId } from "@lawful/core/TenantId"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import * as ConsentEvent from "./ConsentEvent.js"
import { Sha256Hex } from "./ConsentNotice.js"
import { sha256Hex } from "./internal/bytes.js"
import * as Json from "@lawful/core/Json"
import { describeIssues } from "./internal/issues.js"

/**
 * The proof does not prove its event: malformed, tampered with, or signed by
 * another key.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConsentProofInvalid extends Schema.TaggedError<ConsentProofInvalid>()("ConsentProofInvalid", {
  reason: Schema.String
}) {
  override get message(): string {
    return `Consent proof invalid: ${this.reason}`
  }
}

const Base64Bytes = ProofBundle.Base64Bytes

const Salt = Base64Bytes.pipe(
  Schema.filter((bytes) => bytes.length === ConsentEvent.saltLength, {
    message: () => `expected ${ConsentEvent.saltLength} bytes of salt`
  })
)

/**
 * A disclosed sealed field: its value and the salt of its commitment.
 *
 * @since 0.1.0
 * @category models
 */
export const Disclosure = Schema.Struct({
  value: Schema.String.pipe(
    Schema.filter((value) => !/\p{Surrogate}/u.test(value), {
      message: () => "a disclosed value is well-formed Unicode, without unpaired surrogates"
    })
  ),
  salt: Salt
})

/**
 * @since 0.1.0
 * @category models
 */
export type Disclosure = typeof Disclosure.Type

/**
 * The disclosed fields of a proof.
 *
 * @since 0.1.0
 * @category models
 */
export const Disclosures = Schema.Struct({
  ip: Schema.optional(Disclosure),
  userAgent: Schema.optional(Disclosure)
})

/**
 * @since 0.1.0
 * @category models
 */
export type Disclosures = typeof Disclosures.Type

/**
 * The audit details of a consent event: the SHA-256 of its canonical bytes.
 *
 * @since 0.1.0
 * @category models
 */
export const AuditDetails = Schema.Struct({ eventSha256: Sha256Hex })

/**
 * @since 0.1.0
 * @category models
 */
export type AuditDetails = typeof AuditDetails.Type

/**
 * A consent proof. Its encoded form is the JSON format above.
 *
 * @since 0.1.0
 * @category models
 */
export class ConsentProof extends Schema.Class<ConsentProof>("@lawful/consent-proof/ConsentProof")({
  version: Schema.Literal(1),
  event: Base64Bytes,
  auditDetails: AuditDetails,
  auditDetailsSalt: Base64Bytes,
  audit: ProofBundle.ProofBundle,
  disclosures: Schema.optional(Disclosures)
}) {}

/**
 * The JSON value of a proof.
 *
 * @since 0.1.0
 * @category models
 */
export type ConsentProofJson = typeof ConsentProof.Encoded

/**
 * What a verified proof establishes: the event, where its audit entry is,
 * the signed checkpoint it is proven against, and the disclosed fields.
 *
 * @since 0.1.0
 * @category models
 */
export interface VerifiedConsent {
  readonly event: ConsentEvent.ConsentEvent
  readonly auditIndex: number
  readonly checkpoint: Checkpoint.Checkpoint
  readonly ip: Option.Option<string>
  readonly userAgent: Option.Option<string>
}

/**
 * The audit details of an event with this hash.
 *
 * @since 0.1.0
 * @category constructors
 */
export const auditDetailsOf = (eventHash: string): AuditDetails => ({ eventSha256: eventHash })

/**
 * The audit resource of an event.
 *
 * @since 0.1.0
 * @category constructors
 */
export const auditResourceOf = (event: ConsentEvent.ConsentEvent): { readonly type: string; readonly id: string } => ({
  type: "consent-event",
  id: event.id
})

const invalid = (reason: string) => new ConsentProofInvalid({ reason })

/**
 * The origin of a tenant's audit log, as an `AuditLog` signs its checkpoints:
 * `<key name>/<tenant id>`.
 *
 * @since 0.1.0
 * @category verification
 */
export const originOf = (verifierKey: Checkpoint.VerifierKey, tenant: TenantId): string => `${verifierKey.name}/${tenant}`

/**
 * The JSON value of a proof.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encode = (proof: ConsentProof): ConsentProofJson => Schema.encodeSync(ConsentProof)(proof)

/**
 * The JSON text of a proof (compact; pass `indent` for people to read).
 *
 * @since 0.1.0
 * @category encoding
 */
export const toJson = (proof: ConsentProof, indent?: number): string => JSON.stringify(encode(proof), null, indent)

/**
 * Decodes a proof from its JSON value.
 *
 * @since 0.1.0
 * @category encoding
 */
export const decode = (json: unknown): Effect.Effect<ConsentProof, ConsentProofInvalid> =>
  Schema.decodeUnknown(ConsentProof)(json, { onExcessProperty: "error" }).pipe(
    Effect.mapError((error) => invalid(`malformed proof: ${describeIssues(error, "the proof").join("; ")}`))
  )

/**
 * Decodes a proof from its JSON text.
 *
 * @since 0.1.0
 * @category encoding
 */
export const fromJson = (text: string): Effect.Effect<ConsentProof, ConsentProofInvalid> =>
  Effect.try({ try: () => JSON.parse(text) as unknown, catch: () => invalid("a proof must be JSON") }).pipe(
    Effect.flatMap((json) => {
      const problem = Json.strictness(text)
      return problem === undefined ? decode(json) : Effect.fail(invalid(`a proof must be strict JSON: ${problem}`))
    })
  )

const checkDisclosure = (
  field: ConsentEvent.SealedField,
  committed: string | undefined,
  disclosure: Disclosure | undefined
): Effect.Effect<Option.Option<string>, ConsentProofInvalid> => {
  if (disclosure === undefined) return Effect.succeed(Option.none())
  if (committed === undefined) return Effect.fail(invalid(`the event has no ${field} to disclose`))
  return ConsentEvent.commitment(field, disclosure.salt, disclosure.value) === committed
    ? Effect.succeed(Option.some(disclosure.value))
    : Effect.fail(invalid(`the disclosed ${field} does not match the event's commitment`))
}

/**
 * Verifies a proof offline (see the module documentation for the checks).
 *
 * @since 0.1.0
 * @category verification
 */
export const verify = (
  proof: ConsentProof,
  verifierKey: Checkpoint.VerifierKey | string
): Effect.Effect<VerifiedConsent, ConsentProofInvalid> =>
  Effect.gen(function*() {
    const key = Predicate.isString(verifierKey)
      ? yield* Checkpoint.parseVerifierKey(verifierKey).pipe(Effect.mapError((error) => invalid(`audit bundle: ${error.reason}`)))
      : verifierKey
    const checkpoint = yield* ProofBundle.verify(proof.audit, key).pipe(
      Effect.mapError((error) => invalid(`audit bundle: ${error.reason}`))
    )
    const leaf = AuditEntry.decodeLeaf(proof.audit.entry)
    if (Option.isNone(leaf)) return yield* invalid("the audit entry is not a canonical entry")
    if (leaf.value.index !== proof.audit.leafIndex) return yield* invalid("the audit entry is not at the proven index")
    if (leaf.value.details !== AuditEntry.detailsCommitment(proof.auditDetailsSalt, proof.auditDetails)) {
      return yield* invalid("the audit details do not match the entry's commitment")
    }
    const keys = Object.keys(proof.auditDetails)
    if (keys.length !== 1 || proof.auditDetails.eventSha256 !== sha256Hex(proof.event)) {
      return yield* invalid("the audit entry does not commit to this event")
    }
    const event = ConsentEvent.fromCanonicalBytes(proof.event)
    if (Option.isNone(event)) return yield* invalid("the event bytes are not a canonical consent event")
    if (leaf.value.tenant !== event.value.tenant) return yield* invalid("the audit entry belongs to another tenant")
    // The key may sign other logs: the checkpoint must be of the event tenant's.
    if (checkpoint.origin !== originOf(key, event.value.tenant)) {
      return yield* invalid(`the checkpoint's origin is not the tenant's log, ${originOf(key, event.value.tenant)}`)
    }
    if (leaf.value.action !== `consent.${event.value.kind}`) return yield* invalid("the audit entry records another action")
    const resource = auditResourceOf(event.value)
    if (leaf.value.resource?.type !== resource.type || leaf.value.resource.id !== resource.id) {
      return yield* invalid("the audit entry names another event")
    }
    const ip = yield* checkDisclosure("ip", event.value.ip, proof.disclosures?.ip)
    const userAgent = yield* checkDisclosure("userAgent", event.value.userAgent, proof.disclosures?.userAgent)
    return { event: event.value, auditIndex: proof.audit.leafIndex, checkpoint, ip, userAgent }
  }).pipe(Effect.withSpan("ConsentProof.verify", { captureStackTrace: false }))

/**
 * Decodes a proof from its JSON text and verifies it; see {@link verify}.
 *
 * @since 0.1.0
 * @category verification
 */
export const verifyJson = (
  text: string,
  verifierKey: Checkpoint.VerifierKey | string
): Effect.Effect<VerifiedConsent, ConsentProofInvalid> => Effect.flatMap(fromJson(text), (proof) => verify(proof, verifierKey))
