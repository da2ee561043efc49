/**
 * Consent events: append-only records of what a person did about a tenant's
 * lists, never updated.
 *
 * - `granted`: the person consented (a form, an import, the API, the
 *   preference centre). For lists that require double opt-in the grant is
 *   pending (`awaitingConfirmation` names them) until a `confirmed` event.
 * - `confirmed`: the confirmation click of a double opt-in; its time and IP
 *   are the evidence of confirmation, and `confirms` names the grants it
 *   confirms.
 * - `withdrawn`: unsubscribe, preference change, objection or erasure.
 *
 * ## Canonical bytes (version 1)
 *
 * An event is proven by its canonical bytes: the UTF-8 bytes of the RFC 8785
 * (JSON Canonicalization Scheme) form of
 *
 * ```json
 * { "v": 1, "id": "<uuid>", "tenant": "<uuid>", "subject": "<uuid>",
 *   "kind": "granted", "time": "2026-11-29T10:00:00.123Z",
 *   "lists": ["newsletter", "offers"], "awaitingConfirmation": ["offers"],
 *   "lawfulBasis": "consent",
 *   "source": { "type": "form", "formId": "signup", "formVersion": 3 },
 *   "notice": { "text": "<sha256>", "labels": "<sha256>", "privacyPolicy": "<sha256>" },
 *   "language": "en", "ip": "<commitment>", "userAgent": "<commitment>",
 *   "confirms": ["<uuid>"], "reason": "unsubscribe", "collectedAt": "<ISO time>" }
 * ```
 *
 * Optional members are omitted when absent; `awaitingConfirmation` and
 * `confirms` are omitted when empty, and are not empty on other events than
 * grants and confirmations respectively; lists are sorted and unique; times
 * are ISO 8601 in UTC with milliseconds; a `reason` appears only on
 * withdrawals. Bytes that break one of these rules, or that are not exactly
 * this form (a byte-order mark, whitespace, escapes, another spelling of a
 * number), are not an event: two different events never have the same bytes,
 * and one event has one encoding. The event hash is the hex SHA-256 of these
 * bytes; the audit entry of the event commits to it (see `ConsentProof`).
 *
 * The IP address and the user agent are not in the bytes: their
 * **commitments** are, `hex SHA-256("lawful/consent/v1/ip\0" || salt || UTF-8 value)`
 * (and `"lawful/consent/v1/user-agent\0"`), with 16 random bytes of salt
 * sealed by the Vault together with the value. Whoever can open the sealed
 * value can disclose it with its salt, and a verifier recomputes the
 * commitment; once the subject's key is shredded the commitment links to
 * nothing.
 *
 * The audit-log index of an event is stored beside it, not in its bytes: it
 * is known only once the audit entry, which commits to the bytes, is appended.
 *
 * @since 0.1.0
 */
import { LegalBasis } from "@lawful/audit-trail/AuditEvent"
import type { Json } from "@lawful/audit-trail/AuditEvent"
import { refusedAsExpected } from "@lawful/core/Issues"
import { SubjectId } from "@lawful/core/SubjectId"
import { TenantId } from "@lawful/core/TenantId"
import * as Option from "effect/Option"
import * as CoreText from "@lawful/core/Text"
import * as Schema from "effect/Schema"
import { randomBytes } from "@lawful/core/Random"
import { ListId } from "./ConsentLists.js"
import { NoticeHashes, Sha256Hex } from "./ConsentNotice.js"
import { sha256Hex } from "./internal/bytes.js"
import { canonicalJson } from "./internal/canonical.js"
import { pattern as uuidPattern } from "@lawful/core/Uuid"

/**
 * An event id: a lower-case UUID, time-ordered (version 7).
 *
 * @since 0.1.0
 * @category models
 */
export const EventId = Schema.String.pipe(
  Schema.pattern(uuidPattern, { message: () => "an event id is a lower-case UUID" }),
  Schema.brand("@lawful/consent-proof/EventId")
)

/**
 * @since 0.1.0
 * @category models
 */
export type EventId = typeof EventId.Type

/**
 * What happened.
 *
 * @since 0.1.0
 * @category models
 */
export const Kind = Schema.Literal("granted", "confirmed", "withdrawn")

/**
 * @since 0.1.0
 * @category models
 */
export type Kind = typeof Kind.Type

/**
 * The id of a subscription form: 1 to 200 characters of storable text.
 *
 * @since 0.1.0
 * @category models
 */
export const FormId = CoreText.nonEmpty(200)

/**
 * Where a consent event came from: a form (its id and version), an import
 * (its id and the hash of its attestation), the API, the preference centre,
 * or an unsubscribe link.
 *
 * @since 0.1.0
 * @category models
 */
export const Source = Schema.Union(
  Schema.Struct({
    type: Schema.Literal("form"),
    formId: FormId,
    formVersion: Schema.Int.pipe(Schema.greaterThanOrEqualTo(1))
  }),
  Schema.Struct({
    type: Schema.Literal("import"),
    importId: refusedAsExpected(Schema.String.pipe(Schema.pattern(uuidPattern)), "an import id is a lower-case UUID"),
    attestation: Sha256Hex
  }),
  Schema.Struct({ type: Schema.Literal("api", "preference-centre", "unsubscribe-link") })
)

/**
 * @since 0.1.0
 * @category models
 */
export type Source = typeof Source.Type

/**
 * Why consent was withdrawn.
 *
 * @since 0.1.0
 * @category models
 */
export const WithdrawalReason = Schema.Literal("unsubscribe", "preference-change", "objection", "erasure", "other")

/**
 * @since 0.1.0
 * @category models
 */
export type WithdrawalReason = typeof WithdrawalReason.Type

/**
 * A BCP 47 language tag (`"en"`, `"fr-BE"`).
 *
 * @since 0.1.0
 * @category models
 */
export const Language = CoreText.Storable.pipe(
  Schema.pattern(/^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$/, { message: () => "a language is a BCP 47 tag such as en or fr-BE" }),
  Schema.maxLength(35, { message: () => "a language is a BCP 47 tag of at most 35 characters" })
)

/**
 * A consent event.
 *
 * @since 0.1.0
 * @category models
 */
export class ConsentEvent extends Schema.Class<ConsentEvent>("@lawful/consent-proof/ConsentEvent")({
  id: EventId,
  tenant: TenantId,
  subject: SubjectId,
  kind: Kind,
  /** When it was recorded, from `Clock`, to the millisecond. */
  time: Schema.DateFromSelf,
  lists: Schema.NonEmptyArray(ListId),
  /** The lists of a grant that stay pending until confirmed (double opt-in). */
  awaitingConfirmation: Schema.Array(ListId),
  lawfulBasis: LegalBasis,
  source: Source,
  notice: Schema.optional(NoticeHashes),
  language: Schema.optional(Language),
  /** The commitment to the IP address (see the module documentation). */
  ip: Schema.optional(Sha256Hex),
  /** The commitment to the user agent. */
  userAgent: Schema.optional(Sha256Hex),
  /** The grants a confirmation confirms. */
  confirms: Schema.Array(EventId),
  reason: Schema.optional(WithdrawalReason),
  /** When an imported consent was originally collected, as attested. */
  collectedAt: Schema.optional(Schema.DateFromSelf)
}) {}

/**
 * An event as stored: the event, its canonical bytes and hash, its audit-log
 * index, and its sealed IP address and user agent (Vault ciphertexts of salt
 * and value).
 *
 * @since 0.1.0
 * @category models
 */
export interface Recorded {
  readonly event: ConsentEvent
  readonly bytes: Uint8Array
  readonly hash: string
  readonly auditIndex: number
  readonly ipSealed: Uint8Array | undefined
  readonly userAgentSealed: Uint8Array | undefined
}

/**
 * The Vault purposes the IP address and the user agent are sealed under.
 *
 * @since 0.1.0
 * @category models
 */
export const sealedPurposes = { ip: "consent.ip", userAgent: "consent.user-agent" } as const

/**
 * Which sealed field.
 *
 * @since 0.1.0
 * @category models
 */
export type SealedField = keyof typeof sealedPurposes

const encoder = new TextEncoder()
// `ignoreBOM`: a leading U+FEFF is kept as text, never dropped as a byte-order mark.
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

/**
 * The salt length of commitments, in bytes.
 *
 * @since 0.1.0
 * @category models
 */
export const saltLength = 16

/**
 * The commitment to a sealed field's value with its salt.
 *
 * @since 0.1.0
 * @category encoding
 */
export const commitment = (field: SealedField, salt: Uint8Array, value: string): string =>
  sha256Hex(`lawful/consent/v1/${field === "ip" ? "ip" : "user-agent"}\0`, salt, value)

/**
 * A value and a fresh salt: the plaintext to seal (`salt || UTF-8 value`) and its commitment.
 *
 * @since 0.1.0
 * @category encoding
 */
export const commit = (field: SealedField, value: string): { readonly plaintext: Uint8Array; readonly commitment: string } => {
  const salt = randomBytes(saltLength)
  const bytes = encoder.encode(value)
  const plaintext = new Uint8Array(saltLength + bytes.length)
  plaintext.set(salt, 0)
  plaintext.set(bytes, saltLength)
  return { plaintext, commitment: commitment(field, salt, value) }
}

/**
 * Splits an opened sealed field into its salt and value; `None` when it is not one.
 *
 * @since 0.1.0
 * @category encoding
 */
export const splitOpened = (opened: Uint8Array): Option.Option<{ readonly salt: Uint8Array; readonly value: string }> => {
  if (opened.length < saltLength) return Option.none()
  try {
    return Option.some({ salt: opened.slice(0, saltLength), value: decoder.decode(opened.subarray(saltLength)) })
  } catch {
    return Option.none()
  }
}

const sortedUnique = <A extends string>(values: ReadonlyArray<A>): Array<A> =>
  [...new Set(values)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))

/**
 * Lists sorted and without duplicates, as events hold them.
 *
 * @since 0.1.0
 * @category encoding
 */
export const normalizeLists = sortedUnique

/**
 * The JSON document whose canonical form is the event's bytes.
 *
 * @since 0.1.0
 * @category encoding
 */
export const toDocument = (event: ConsentEvent): { readonly [key: string]: Json | undefined } => ({
  v: 1,
  id: event.id,
  tenant: event.tenant,
  subject: event.subject,
  kind: event.kind,
  time: event.time.toISOString(),
  lists: event.lists,
  awaitingConfirmation: event.awaitingConfirmation.length > 0 ? event.awaitingConfirmation : undefined,
  lawfulBasis: event.lawfulBasis,
  source: event.source,
  notice: event.notice,
  language: event.language,
  ip: event.ip,
  userAgent: event.userAgent,
  confirms: event.confirms.length > 0 ? event.confirms : undefined,
  reason: event.reason,
  collectedAt: event.collectedAt?.toISOString()
})

/**
 * The canonical bytes of an event.
 *
 * @since 0.1.0
 * @category encoding
 */
export const canonicalBytes = (event: ConsentEvent): Uint8Array => encoder.encode(canonicalJson(toDocument(event)))

/**
 * The event hash: hex SHA-256 of the canonical bytes.
 *
 * @since 0.1.0
 * @category encoding
 */
export const hashOf = (bytes: Uint8Array): string => sha256Hex(bytes)

const IsoTime = Schema.String.pipe(
  Schema.pattern(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/),
  Schema.filter((text) => !Number.isNaN(Date.parse(text)) && new Date(text).toISOString() === text)
)

const Document = Schema.Struct({
  v: Schema.Literal(1),
  id: EventId,
  tenant: TenantId,
  subject: SubjectId,
  kind: Kind,
  time: IsoTime,
  lists: Schema.NonEmptyArray(ListId),
  awaitingConfirmation: Schema.optional(Schema.NonEmptyArray(ListId)),
  lawfulBasis: LegalBasis,
  source: Source,
  notice: Schema.optional(NoticeHashes),
  language: Schema.optional(Language),
  ip: Schema.optional(Sha256Hex),
  userAgent: Schema.optional(Sha256Hex),
  confirms: Schema.optional(Schema.NonEmptyArray(EventId)),
  reason: Schema.optional(WithdrawalReason),
  collectedAt: Schema.optional(IsoTime)
})

const decodeDocument = Schema.decodeUnknownOption(Document, { onExcessProperty: "error" })

// The members were checked by the schema (or written by this package): no second validation.
const fromDocument = (doc: typeof Document.Type): ConsentEvent =>
  new ConsentEvent({
    id: doc.id,
    tenant: doc.tenant,
    subject: doc.subject,
    kind: doc.kind,
    time: new Date(doc.time),
    lists: doc.lists,
    awaitingConfirmation: doc.awaitingConfirmation ?? [],
    lawfulBasis: doc.lawfulBasis,
    source: doc.source,
    ...(doc.notice !== undefined ? { notice: doc.notice } : {}),
    ...(doc.language !== undefined ? { language: doc.language } : {}),
    ...(doc.ip !== undefined ? { ip: doc.ip } : {}),
    ...(doc.userAgent !== undefined ? { userAgent: doc.userAgent } : {}),
    confirms: doc.confirms ?? [],
    ...(doc.reason !== undefined ? { reason: doc.reason } : {}),
    ...(doc.collectedAt !== undefined ? { collectedAt: new Date(doc.collectedAt) } : {})
  }, { disableValidation: true })

/**
 * Decodes canonical bytes into the event; `None` when they are not a
 * version-1 event in canonical form (so one event has exactly one encoding).
 *
 * @since 0.1.0
 * @category encoding
 */
export const fromCanonicalBytes = (bytes: Uint8Array): Option.Option<ConsentEvent> => {
  let text: string
  let json: unknown
  try {
    text = decoder.decode(bytes)
    json = JSON.parse(text)
  } catch {
    return Option.none()
  }
  return decodeDocument(json).pipe(
    Option.map(fromDocument),
    Option.filter((event) => isWellFormed(event) && canonicalJson(toDocument(event)) === text)
  )
}

const isSortedUnique = (values: ReadonlyArray<string>): boolean => values.every((v, i) => i === 0 || values[i - 1]! < v)

// What the schema does not say: lists sorted and unique, pending lists among the lists, pending lists
// only on grants, confirmed grants only on confirmations, a reason only on withdrawals.
const isWellFormed = (event: ConsentEvent): boolean =>
  isSortedUnique(event.lists) && isSortedUnique(event.awaitingConfirmation) && isSortedUnique(event.confirms) &&
  event.awaitingConfirmation.every((list) => event.lists.includes(list)) &&
  (event.awaitingConfirmation.length === 0 || event.kind === "granted") &&
  (event.confirms.length === 0 || event.kind === "confirmed") &&
  (event.reason === undefined || event.kind === "withdrawn")

/**
 * Reads an event from bytes this package stored itself (canonical by
 * construction): the same as `fromCanonicalBytes`, without the schema
 * checks, for reading pages of events quickly. Dies when the bytes are not
 * an event.
 *
 * @since 0.1.0
 * @category encoding
 */
export const fromStoredBytes = (bytes: Uint8Array): ConsentEvent => {
  const doc = JSON.parse(decoder.decode(bytes)) as typeof Document.Type
  if (doc.v !== 1) throw new Error("stored consent event is not version 1")
  return fromDocument(doc)
}
