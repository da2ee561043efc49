/**
 * Imports of contacts whose consent was collected elsewhere, with an
 * attestation: where, when and how consent was collected, and who attests
 * it. Each imported contact becomes a `granted` event whose source is
 * `{ "type": "import", "importId", "attestation": <hash> }`, so every
 * imported consent is marked as such and commits to its attestation;
 * `collectedAt` carries the original time when the file has one.
 *
 * Imported grants never wait for confirmation: the attestation states how
 * consent was collected (double opt-in or not) and the importer answers for it.
 *
 * Rows are refused, with a count and their row numbers (never their
 * addresses) in the report, when the address is invalid or missing (a row
 * that is not an object, such as `null`, has none: `invalid-email`), the IP address is
 * malformed, the consent time is not a valid date of the years 0000 to 9999
 * (as events write times), the user agent is not text of at most
 * `maxUserAgentLength` characters (as `record` takes it), the consent time
 * lies outside the attested period (`collectedFrom` to `collectedTo`, both
 * included; a row without a consent time is taken as collected in it), the
 * address is on the tenant's suppression list, the address (normalised)
 * repeats an earlier row of the same import, in whatever batch, or the
 * contact withdrew from one of the import's lists at or after the row's
 * consent (`withdrawn`; a row without a consent time is taken as collected
 * at the start of the attested period). An imported consent never overrides
 * a later withdrawal: only the person can consent again, and a row whose
 * consent time follows the withdrawal is recorded. The withdrawals are read
 * when the row's batch is checked and checked again when it is written,
 * under the tenant's lock: a withdrawal recorded in between wins too (the
 * row counts as `withdrawn`; its audit entry `consent.granted`, appended
 * already, stays without an event and proves nothing). An import
 * keeps the distinct addresses it has read in memory to find repeats. An
 * attestation whose period is reversed,
 * or whose bounds are not valid dates of the years 0000 to 9999, or whose
 * `contacts` are neither an `Iterable` nor a `Stream`, records nothing
 * (`ConsentRequestInvalid`, before anything is written or audited), nor does
 * an import whose lists are not all declared (`UnknownList`). A row's user
 * agent longer than `maxUserAgentLength` or holding a NUL or a lone surrogate
 * is refused (`invalid-user-agent`).
 *
 * The bulk path is batched (1,000 rows by default): one suppression query,
 * one directory batch, one Vault key-store call, one audit `appendAll` and
 * one statement of events per batch; two batches are in flight at a time.
 *
 * The attestation hash is the hex SHA-256 of the RFC 8785 form of the
 * encoded attestation (its JSON value, times as ISO 8601 strings).
 *
 * ## Retries
 *
 * An import without an `idempotencyKey` is not retry-safe: a re-run is
 * another import, under a new id, and records its rows again. An import with
 * one (1 to 200 characters of storable text, chosen by the caller: a file
 * name with its date, a job run id) is identified by its tenant and key, and
 * a call with a key already used records nothing twice:
 *
 * - the import completed: its stored report is returned (same `importId`,
 *   same figures), and nothing is written or audited;
 * - the import started but never completed (its source failed, the call was
 *   interrupted, the process died): the call continues it under the same
 *   `importId`, audited as `consent.import.resumed`. A row whose subject
 *   already has this import's event is not recorded again; it is counted in
 *   `alreadyRecorded` (not a rejection). The report then covers the rows of
 *   this call: `received` is the sum of `recorded`, `alreadyRecorded` and the
 *   refused rows, and `recorded + alreadyRecorded` the contacts the import
 *   holds when the same rows are given. A row recorded by an earlier call and
 *   suppressed since counts in `alreadyRecorded` too (its event stays, and
 *   the import did record it); a suppressed address the import never
 *   recorded is refused as `suppressed`, and gets no subject;
 * - the key comes with other options (attestation, lists as a set, lawful
 *   basis, language): `ImportKeyConflict`, and nothing changes. The actor and
 *   the batch size may differ; the contacts are not compared;
 * - a call with the key is running: `ImportInProgress` (the call does not
 *   wait; retry later). A running import holds its key for
 *   `claimDuration`, renewed every `claimRenewal`; one that fails or is
 *   interrupted lets go at once, and the key of a process that died is free
 *   again when its claim lapses.
 *
 * The key is never stored, logged or audited: the store keeps its blind
 * index (`Vault.blindIndex`, keyed per tenant). The store holds one event
 * per import and subject (a unique index), so two runs of one import can
 * never both record a contact.
 *
 * @since 0.1.0
 */
import { Actor, LegalBasis } from "@lawful/audit-trail/AuditEvent"
import type { Json } from "@lawful/audit-trail/AuditEvent"
import * as CoreText from "@lawful/core/Text"
import * as Duration from "effect/Duration"
import type * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import { Language } from "./ConsentEvent.js"
import { sha256Hex } from "./internal/bytes.js"
import { canonicalJson } from "./internal/canonical.js"

const Text = CoreText.nonEmpty

/**
 * Who attests an import's consents.
 *
 * @since 0.1.0
 * @category models
 */
export const Attester = Schema.Struct({
  name: Text(200),
  role: Text(200),
  organisation: Schema.optional(Text(200))
})

/**
 * Whether a contact's consent time can be written into an event: a valid
 * date whose ISO 8601 form has a four-digit year.
 *
 * @since 0.1.0
 * @category models
 */
export const isConsentTime = (value: unknown): value is Date =>
  value instanceof Date && !Number.isNaN(value.getTime()) && value.getUTCFullYear() >= 0 &&
  value.getUTCFullYear() <= 9999

// A bound of the attested period: an ISO 8601 date of the years 0000 to 9999, as events write times.
const PeriodBound = Schema.Date.pipe(
  Schema.filter((date) => isConsentTime(date), { message: () => "a date of the years 0000 to 9999" })
)

/**
 * The declared source of an import: where consent was collected (a site, a
 * shop, an event), when (a period), how (the mechanism and wording, double
 * opt-in or not), and who attests it.
 *
 * The period runs from `collectedFrom` to `collectedTo`, both included: each
 * a valid date of the years 0000 to 9999, `collectedTo` not before
 * `collectedFrom`. An import whose attestation breaks this records nothing
 * (`ConsentRequestInvalid`, issue `attestation.collectedTo: invalid`), and a
 * row whose `consentedAt` lies outside the period is refused
 * (`outside-attested-period`).
 *
 * @since 0.1.0
 * @category models
 */
export class Attestation extends Schema.Class<Attestation>("@lawful/consent-proof/Attestation")(
  Schema.Struct({
    where: Text(1000),
    how: Text(2000),
    collectedFrom: PeriodBound,
    collectedTo: PeriodBound,
    attestedBy: Attester
  }).pipe(
    Schema.filter((attestation) =>
      attestation.collectedTo.getTime() >= attestation.collectedFrom.getTime() || {
        path: ["collectedTo"],
        message: "the attested period ends before it starts"
      }
    )
  )
) {}

/**
 * Whether a consent time lies in the attested period (both ends included).
 *
 * @since 0.1.0
 * @category models
 */
export const isInAttestedPeriod = (attestation: Attestation, consentedAt: Date): boolean =>
  consentedAt.getTime() >= attestation.collectedFrom.getTime() && consentedAt.getTime() <= attestation.collectedTo.getTime()

/**
 * The JSON value of an attestation.
 *
 * @since 0.1.0
 * @category encoding
 */
export const attestationJson = (attestation: Attestation): Json =>
  Schema.encodeSync(Attestation)(attestation) as unknown as Json

/**
 * The hash imported events commit to.
 *
 * @since 0.1.0
 * @category encoding
 */
export const attestationHash = (attestation: Attestation): string => sha256Hex(canonicalJson(attestationJson(attestation)))

/**
 * One contact of an import.
 *
 * @since 0.1.0
 * @category models
 */
export interface ImportContact {
  readonly email: string
  /** When the contact consented, as the source system recorded it. */
  readonly consentedAt?: Date | undefined
  readonly ip?: string | undefined
  readonly userAgent?: string | undefined
}

/**
 * The longest user agent a contact may carry, as `record` takes it.
 *
 * @since 0.1.0
 * @category models
 */
export const maxUserAgentLength = 2000

/**
 * Whether a contact's user agent can be recorded: a string of at most
 * `maxUserAgentLength` characters with no NUL and no lone surrogate (which
 * would be sealed as U+FFFD, another string than the one given).
 *
 * @since 0.1.0
 * @category models
 */
export const isUserAgent = (value: unknown): value is string =>
  typeof value === "string" && value.length <= maxUserAgentLength && CoreText.isStorable(value)

/**
 * What to import.
 *
 * @since 0.1.0
 * @category models
 */
export interface ImportRequest<E = never> {
  readonly attestation: typeof Attestation.Encoded
  readonly lists: ReadonlyArray<string>
  readonly lawfulBasis?: LegalBasis | undefined
  readonly language?: string | undefined
  /** Who runs the import, for the audit log. */
  readonly actor: Actor
  readonly contacts: Iterable<ImportContact> | Stream.Stream<ImportContact, E>
  /** Rows per batch (default 1,000). */
  readonly batchSize?: number | undefined
  /**
   * Makes the import retry-safe: 1 to 200 characters of storable text, chosen
   * by the caller and unique per import of the tenant (see "Retries" in the
   * module documentation). Never stored, logged or audited in clear.
   */
  readonly idempotencyKey?: string | undefined
}

/**
 * The options of an import, decoded.
 *
 * @since 0.1.0
 * @category models
 */
export const ImportOptions = Schema.Struct({
  attestation: Attestation,
  lists: Schema.NonEmptyArray(Schema.String),
  lawfulBasis: Schema.optionalWith(LegalBasis, { default: () => "consent" as const }),
  language: Schema.optional(Language),
  actor: Actor,
  batchSize: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 10_000)), { default: () => 1000 }),
  idempotencyKey: Schema.optional(Text(200))
})

/**
 * The hash a key's import commits its options to: the hex SHA-256 of the
 * RFC 8785 form of the attestation, the declared lists (sorted, unique), the
 * lawful basis and the language. A call with the same key and another hash
 * fails `ImportKeyConflict`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const optionsHash = (options: typeof ImportOptions.Type, lists: ReadonlyArray<string>): string =>
  sha256Hex(canonicalJson({
    attestation: attestationJson(options.attestation),
    lists: [...new Set(lists)].sort(),
    lawfulBasis: options.lawfulBasis,
    language: options.language ?? null
  }))

/**
 * How long a running import holds its idempotency key without renewing it.
 *
 * @since 0.1.0
 * @category models
 */
export const claimDuration: Duration.Duration = Duration.minutes(2)

/**
 * How often a running import renews the hold on its idempotency key.
 *
 * @since 0.1.0
 * @category models
 */
export const claimRenewal: Duration.Duration = Duration.seconds(30)

/**
 * Why a row was refused. `invalid-email` covers a row without a usable
 * address: an invalid or missing `email`, or a row that is not an object
 * (`null`, a string, a number). `withdrawn`: the contact withdrew from one
 * of the import's lists at or after the row's consent time (without one,
 * the start of the attested period).
 *
 * @since 0.1.0
 * @category models
 */
export const RejectionReason = Schema.Literal(
  "invalid-email",
  "invalid-ip",
  "invalid-consented-at",
  "invalid-user-agent",
  "outside-attested-period",
  "suppressed",
  "duplicate",
  "withdrawn"
)

/**
 * @since 0.1.0
 * @category models
 */
export type RejectionReason = typeof RejectionReason.Type

/**
 * A refused row: its number in the input (from 1) and why.
 *
 * @since 0.1.0
 * @category models
 */
export interface Rejection {
  readonly row: number
  readonly reason: RejectionReason
}

/**
 * How many rows were received, recorded, already recorded by an earlier call
 * of the same import, and refused (by reason; each row is counted once), and
 * the first refused rows in row order (at most `maxListedRejections`).
 *
 * @since 0.1.0
 * @category models
 */
export interface ImportReport {
  readonly importId: string
  readonly received: number
  readonly recorded: number
  /**
   * Rows not recorded because an earlier call of the same import (same
   * idempotency key) recorded their subject; 0 without a key.
   */
  readonly alreadyRecorded: number
  readonly suppressed: number
  readonly invalidEmail: number
  readonly invalidIp: number
  readonly invalidConsentedAt: number
  readonly invalidUserAgent: number
  /** Rows whose `consentedAt` lies outside the attested period. */
  readonly outsideAttestedPeriod: number
  readonly duplicates: number
  /**
   * Rows whose contact withdrew from one of the import's lists at or after the row's consent
   * time (without one, the start of the attested period).
   */
  readonly withdrawn: number
  readonly rejections: ReadonlyArray<Rejection>
}

/**
 * How many refused rows a report lists.
 *
 * @since 0.1.0
 * @category models
 */
export const maxListedRejections = 1000

/**
 * The JSON value of a report.
 *
 * @since 0.1.0
 * @category encoding
 */
export const reportJson = (report: ImportReport): Json => ({
  importId: report.importId,
  received: report.received,
  recorded: report.recorded,
  alreadyRecorded: report.alreadyRecorded,
  suppressed: report.suppressed,
  invalidEmail: report.invalidEmail,
  invalidIp: report.invalidIp,
  invalidConsentedAt: report.invalidConsentedAt,
  invalidUserAgent: report.invalidUserAgent,
  outsideAttestedPeriod: report.outsideAttestedPeriod,
  duplicates: report.duplicates,
  withdrawn: report.withdrawn,
  rejections: report.rejections.map((r) => ({ row: r.row, reason: r.reason }))
})

const Count = Schema.NonNegativeInt

const ReportJson = Schema.Struct({
  importId: Schema.String,
  received: Count,
  recorded: Count,
  alreadyRecorded: Count,
  suppressed: Count,
  invalidEmail: Count,
  invalidIp: Count,
  invalidConsentedAt: Count,
  invalidUserAgent: Count,
  outsideAttestedPeriod: Count,
  duplicates: Count,
  // Reports stored before the count existed had no such rows.
  withdrawn: Schema.optionalWith(Count, { default: () => 0 }),
  rejections: Schema.Array(Schema.Struct({ row: Count, reason: RejectionReason }))
})

/**
 * A report from its JSON value (`reportJson`), as a store kept it; `None`
 * when it is not one.
 *
 * @since 0.1.0
 * @category encoding
 */
export const reportFromJson: (json: Json) => Option.Option<ImportReport> = Schema.decodeUnknownOption(ReportJson)
