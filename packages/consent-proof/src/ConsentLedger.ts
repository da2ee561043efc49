/**
 * The consent ledger: records consent events, answers who may receive
 * marketing, imports attested contacts, and proves any event to a third party.
 *
 * ```ts
 * const ledger = yield* ConsentLedger
 * const { event } = yield* ledger.record(tenant, {
 *   kind: "granted",
 *   email: "ada@example.com",
 *   lists: ["newsletter"],
 *   source: { type: "form", formId: "signup", formVersion: 3 },
 *   notice: ConsentNotice.hash({ text, labels, privacyPolicyUrl }),
 *   language: "en",
 *   ip: "203.0.113.7",
 *   userAgent: "Mozilla/5.0 ...",
 *   actor: { kind: "subject" }
 * })
 * ```
 *
 * ## Recording
 *
 * `record` decodes its request and checks it (known lists, a source, a
 * well-formed IP address and address, a notice for grants from a form)
 * **before anything is written**, then hands it to a batch of the tenant's
 * concurrent records (core's `Batcher`): one `resolveAll` finds or creates
 * the subjects, one `sealAll` seals the IP addresses and user agents, one
 * audit `appendAll` gives each event its audit entry (whose details commit
 * to the event hash), and one store statement writes the events and the
 * projection. Confirmations read the subject's pending grants first and go
 * in batches of their own. An acknowledged
 * record is committed. A record made inside a SQL transaction is not
 * batched: it runs in that transaction, and its subject, event and audit
 * entry commit or roll back with the caller's other writes (call
 * `Vault.prepare` for the tenant before the transaction: no key is created
 * inside one). If the store fails after the audit append, or refuses a
 * confirmation then (below), the audit log keeps entries whose events were
 * not stored; they prove nothing, as no event has their hash.
 *
 * A confirmation (`confirmed`) must name lists that are pending for the
 * subject (`ConsentNotPending` otherwise, no event recorded), and confirms
 * the grants that made them pending. The store checks this again when it
 * writes, under the tenant's lock: of two confirmations of one pending
 * grant at once (a double-clicked link, two processes), one is recorded and
 * the other fails `ConsentNotPending`, its audit entry `consent.confirmed`
 * appended already and left without an event. A refused confirmation never
 * fails the others of its batch. A confirmation refused because a newer
 * grant made its lists pending again in between (a form submitted twice,
 * the first link clicked) is read again and recorded, confirming the newer
 * grant, as a retry of the call would be: the call and its retry never
 * disagree. The refused attempt's entry stays, without an event. A
 * confirmation is written at most `maxConfirmationAttempts` (3) times:
 * overtaken by a newer grant on each attempt (a form resubmitted in a
 * loop), it fails `ConfirmationContended`, nothing confirmed.
 *
 * A subject named by id whose key was shredded is not consenting again: a
 * grant or confirmation for it fails with `SubjectShredded` (nothing
 * recorded), with or without an IP address and user agent. A withdrawal for
 * it is recorded, without the IP address and user agent (they can no longer
 * be sealed). The subjects a batch names by id are checked with one
 * key-store read; a subject found or made from an address is live.
 *
 * ## Imports
 *
 * `importContacts` records attested contacts in batches (see
 * `ConsentImport`); a contact who withdrew from one of its lists at or after
 * the row's consent is refused (`withdrawn`), never granted again, even by a
 * withdrawal recorded while the row's batch is written: the store checks
 * the withdrawals again under the tenant's lock when it writes the grants
 * (`ConsentStore`'s `refuseWithdrawnSince`). Give it an `idempotencyKey` to make it safe to retry: a
 * call with a key already used returns the completed import's report,
 * continues an interrupted one under the same import id without recording a
 * contact twice, or fails `ImportKeyConflict` (other options) or
 * `ImportInProgress` (another call runs it). Without a key, a retry is
 * another import.
 *
 * An import is completed with its audit entry `consent.import.completed`
 * (the report's id and counts), all or none: the store writes the report
 * and the ledger appends the entry in one `ConsentStore.completeImport`, on
 * SQL in the transaction that writes the report (after the write, before
 * the commit; with the audit log on the same database they commit together
 * or not at all, even if the process dies in between), in memory the entry
 * first and the report after it. If the entry cannot be appended, the call
 * fails with the audit log's error and the import stays incomplete: a retry
 * with its key resumes it (every contact already recorded counted in
 * `alreadyRecorded`) and completes it with its entry. A call whose claim was
 * taken over writes no report and appends no completion entry. Once the
 * completion starts, the claim is decided by the completion's own check: a
 * call whose completion wrote the report returns it, even if a renewal of
 * its claim came in meanwhile (and found the claim cleared by the report).
 *
 * ## Disclosure
 *
 * Decrypting an event's IP address and user agent is an operation on
 * personal data, and each appends an audit entry first: `disclose` and a
 * proof with `disclose: true` append `consent.disclosed` (actor, subject,
 * event, the fields disclosed), an export that decrypts appends one
 * `consent.exported` (see `ConsentExport`). The actor is required by the
 * types; one the audit log refuses fails `ConsentRequestInvalid` before
 * anything is read, appended or decrypted. No entry carries a value.
 *
 * ## Erasure and retention
 *
 * `personalDataSource` registers the ledger in the `PersonalDataRegistry`:
 * export gives every event with its IP address and user agent decrypted;
 * erasure removes the subject's events and states (their audit entries stay;
 * subject rights de-link them); rectification changes nothing, as events
 * are evidence of what happened. `withdrawnProofRetention` registers the
 * retention category `"consent.withdrawn-proof"`: the consent history of a
 * subject whose every list is withdrawn, kept from the last withdrawal for
 * the period of legal claims, then purged.
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { Actor, AuditEvent, LegalBasis } from "@lawful/audit-trail/AuditEvent"
import type { Json } from "@lawful/audit-trail/AuditEvent"
import * as AuditLog from "@lawful/audit-trail/AuditLog"
import type { AuditStoreError } from "@lawful/audit-trail/AuditTrail"
import type { CheckpointPublishError } from "@lawful/audit-trail/CheckpointPublisher"
import * as Batcher from "@lawful/core/Batcher"
import * as Email from "@lawful/core/Email"
import * as CoreText from "@lawful/core/Text"
import type * as Migrations from "@lawful/core/Migrations"
import * as PersonalDataRegistry from "@lawful/core/PersonalDataRegistry"
import * as RetentionTarget from "@lawful/core/RetentionTarget"
import * as SubjectDirectory from "@lawful/core/SubjectDirectory"
import { describe as describeSubject, is as isSubjectId, SubjectId } from "@lawful/core/SubjectId"
import * as SuppressionList from "@lawful/core/SuppressionList"
import { describe as describeTenant, is as isTenantId, type TenantId } from "@lawful/core/TenantId"
import * as Vault from "@lawful/core/Vault"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { isIP } from "node:net"
import * as ConsentEvent from "./ConsentEvent.js"
import * as ConsentImport from "./ConsentImport.js"
import * as ConsentLists from "./ConsentLists.js"
import { describeIssues } from "./internal/issues.js"
import { checkingTenant } from "./internal/tenantChecked.js"
import { NoticeHashes } from "./ConsentNotice.js"
import * as ConsentProof from "./ConsentProof.js"
import * as ConsentState from "./ConsentState.js"
import * as ConsentStore from "./ConsentStore.js"
import { makeAt as uuidV7At } from "@lawful/core/Uuid"

// ---- requests and errors -----------------------------------------------------------

/**
 * The sources `record` accepts (imports go through `importContacts`).
 *
 * @since 0.1.0
 * @category models
 */
export const RecordSource = Schema.Union(
  Schema.Struct({
    type: Schema.Literal("form"),
    formId: ConsentEvent.FormId,
    formVersion: Schema.Int.pipe(Schema.greaterThanOrEqualTo(1))
  }),
  Schema.Struct({ type: Schema.Literal("api", "preference-centre", "unsubscribe-link") })
)

/**
 * What `record` is asked to record. Name the subject by `email` (found, or
 * created for grants and withdrawals; a confirmation never creates one) or
 * by `subject` id (taken as given, from a signed link say), not both.
 * `lawfulBasis` defaults to `"consent"`. The `actor` is one the audit log
 * takes: an id of 1 to 200 characters that holds no `@` (an opaque id, never
 * an address), or the subject. A `userAgent` is at most 2,000 characters with
 * no NUL and no lone surrogate (which would be sealed as another string).
 *
 * @since 0.1.0
 * @category models
 */
export const RecordRequest = Schema.Struct({
  kind: ConsentEvent.Kind,
  email: Schema.optional(Schema.String),
  subject: Schema.optional(SubjectId),
  lists: Schema.NonEmptyArray(Schema.String),
  lawfulBasis: Schema.optionalWith(LegalBasis, { default: () => "consent" as const }),
  source: RecordSource,
  // The audit log's own schema: the event's audit entry is built without a second validation,
  // and an actor id stays in the log in clear, so one it refuses (an address) is refused here.
  actor: Actor,
  ip: Schema.optional(Schema.String),
  // Storable text: a lone surrogate would be sealed as U+FFFD, another string than the one given.
  userAgent: Schema.optional(CoreText.Storable.pipe(Schema.maxLength(ConsentImport.maxUserAgentLength))),
  notice: Schema.optional(NoticeHashes),
  language: Schema.optional(ConsentEvent.Language),
  reason: Schema.optional(ConsentEvent.WithdrawalReason)
})

/**
 * A request as callers write it (the encoded side of `RecordRequest`).
 *
 * @since 0.1.0
 * @category models
 */
export type RecordRequest = typeof RecordRequest.Encoded

/**
 * The request is not recordable: each issue names a field and what is
 * wrong with it, never its value. Nothing was recorded.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConsentRequestInvalid extends Schema.TaggedError<ConsentRequestInvalid>()("ConsentRequestInvalid", {
  issues: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `Consent request invalid: ${this.issues.join("; ")}`
  }
}

/**
 * The IP address is not a well-formed IPv4 or IPv6 address. The address is
 * not carried. Nothing was recorded.
 *
 * @since 0.1.0
 * @category errors
 */
export class IpAddressInvalid extends Schema.TaggedError<IpAddressInvalid>()("IpAddressInvalid", {}) {
  override get message(): string {
    return "The IP address is not a well-formed IPv4 or IPv6 address"
  }
}

/**
 * A confirmation names lists that are not pending for the subject (never
 * granted, already confirmed, or withdrawn), or no longer pending when it
 * was written (another confirmation or a withdrawal came first). No event
 * was recorded. Refused at write time, its audit entry `consent.confirmed`
 * had been appended: it stays, and proves nothing, as no event has its
 * hash. A list pending again by a newer grant at write time is no refusal:
 * the confirmation is recorded, confirming that grant.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConsentNotPending extends Schema.TaggedError<ConsentNotPending>()("ConsentNotPending", {
  tenantId: Schema.String,
  subjectId: Schema.optional(Schema.String),
  lists: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `Nothing to confirm on the lists ${this.lists.join(", ")}`
  }
}

/**
 * How many times `record` writes one confirmation at most. A confirmation
 * refused at write time because a newer grant made its lists pending again
 * is read again and written again, confirming that grant; each such attempt
 * appends its own audit entry `consent.confirmed`. After this many
 * attempts, each overtaken by a newer grant, the call fails with
 * `ConfirmationContended`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const maxConfirmationAttempts = 3

/**
 * A confirmation was overtaken by a newer grant of its lists on each of its
 * `maxConfirmationAttempts` attempts (grants recorded again and again while
 * it was written, as by a form resubmitted in a loop). Nothing was
 * confirmed: the lists are still pending, by the newest grant, and a later
 * confirmation (a retry once the grants stop) confirms it. The audit
 * entries `consent.confirmed` of the attempts stay, without an event, and
 * prove nothing. The error names the tenant and lists only, never the
 * subject or an address.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConfirmationContended extends Schema.TaggedError<ConfirmationContended>()("ConfirmationContended", {
  tenantId: Schema.String,
  lists: Schema.Array(Schema.String),
  attempts: Schema.Number
}) {
  override get message(): string {
    return `The confirmation of the lists ${this.lists.join(", ")} was overtaken by a newer grant on each of its ${this.attempts} attempts; nothing was confirmed`
  }
}

/**
 * No event with that id in the tenant's ledger. `eventId` is the id asked
 * for when it is a well-formed event id (a lower-case UUID), and left out
 * otherwise: an id is caller input, which may be anything (an email
 * address), and errors end up in logs, so the message names it only when
 * it is an id. So too the tenant: `tenantId` is empty when the id given is
 * not a tenant id (a lower-case UUID), a tenant with no event.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConsentEventNotFound extends Schema.TaggedError<ConsentEventNotFound>()("ConsentEventNotFound", {
  tenantId: Schema.String,
  eventId: Schema.optional(Schema.String)
}) {
  override get message(): string {
    const tenant = `tenant ${describeTenant(this.tenantId)}`
    return this.eventId === undefined
      ? `No consent event for ${tenant}: the id asked for is not a well-formed event id`
      : `No consent event ${this.eventId} for ${tenant}`
  }
}

/**
 * The proof of an event can no longer be built from the audit log (its
 * entry's details were redacted, or the entry is missing or does not commit
 * to the event). Proofs exported before stay valid. `eventId` is the id of
 * the stored event (never text as the caller gave it: an id that is not an
 * event's fails `ConsentEventNotFound` first).
 *
 * @since 0.1.0
 * @category errors
 */
export class ConsentProofUnavailable extends Schema.TaggedError<ConsentProofUnavailable>()("ConsentProofUnavailable", {
  tenantId: Schema.String,
  eventId: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `No proof of consent event ${this.eventId}: ${this.reason}`
  }
}

/**
 * The idempotency key of an import was used before with other options
 * (attestation, lists, lawful basis or language). The key is not carried.
 * Nothing was recorded.
 *
 * @since 0.1.0
 * @category errors
 */
export class ImportKeyConflict extends Schema.TaggedError<ImportKeyConflict>()("ImportKeyConflict", {
  tenantId: Schema.String,
  /** The import the key belongs to. */
  importId: Schema.String
}) {
  override get message(): string {
    return `The idempotency key of import ${this.importId} was used with other options`
  }
}

/**
 * Another call runs the import of this idempotency key, or took it over
 * from this one. The key is not carried.
 *
 * Failed at the start (`claimedUntil` given), nothing was recorded by this
 * call: retry once the other ends, or after `claimedUntil` if it died.
 * Failed part-way or at the end (this call's claim lapsed, as when its
 * process stalled past the claim's end, and another call took the import
 * over), the contacts this call recorded stay recorded, as the import's, and
 * this call wrote no report: the call holding the import completes it and
 * counts them in `alreadyRecorded`; a retry once it ends returns its report.
 * A call that wrote its import's report never fails with it, even when a
 * renewal of its claim falls during the completion: it returns the report.
 *
 * @since 0.1.0
 * @category errors
 */
export class ImportInProgress extends Schema.TaggedError<ImportInProgress>()("ImportInProgress", {
  tenantId: Schema.String,
  importId: Schema.String,
  /** Until when the other call holds the key unless it renews it. */
  claimedUntil: Schema.optional(Schema.Date)
}) {
  override get message(): string {
    return `Import ${this.importId} is being run by another call`
  }
}

/**
 * What `record` may fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type RecordError =
  | ConsentRequestInvalid
  | IpAddressInvalid
  | ConsentLists.UnknownList
  | ConsentLists.ConsentListsError
  | ConsentNotPending
  | ConfirmationContended
  | Email.InvalidEmail
  | SubjectDirectory.SubjectDirectoryError
  | Vault.SubjectShredded
  | Vault.VaultError
  | AuditStoreError
  | ConsentStore.ConsentStoreError

/**
 * What an import may fail with (besides the failures of its contact stream).
 *
 * @since 0.1.0
 * @category errors
 */
export type ImportError =
  | ConsentRequestInvalid
  | ImportKeyConflict
  | ImportInProgress
  | ConsentLists.UnknownList
  | ConsentLists.ConsentListsError
  | SuppressionList.SuppressionListError
  | SubjectDirectory.SubjectDirectoryError
  | Vault.SubjectShredded
  | Vault.VaultError
  | AuditStoreError
  | ConsentStore.ConsentStoreError

/**
 * What building a proof may fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type ProofError =
  | ConsentRequestInvalid
  | ConsentEventNotFound
  | ConsentProofUnavailable
  | AuditLog.CheckpointRefused
  | AuditStoreError
  | CheckpointPublishError
  | Vault.SubjectShredded
  | Vault.SealedValueInvalid
  | Vault.VaultError
  | ConsentStore.ConsentStoreError

/**
 * The decrypted IP address and user agent of an event, with their salts.
 *
 * @since 0.1.0
 * @category models
 */
export type Disclosed = ConsentProof.Disclosures

/**
 * Who asks for an event's decrypted IP address and user agent, for the
 * audit entry the disclosure appends.
 *
 * @since 0.1.0
 * @category models
 */
export interface DisclosureRequest {
  readonly actor: Actor
}

/**
 * What `proof` is asked for: the proof alone (`disclose` false or left
 * out), or with the IP address and user agent, which needs an `actor` for
 * the audit entry the disclosure appends.
 *
 * @since 0.1.0
 * @category models
 */
export type ProofOptions =
  | { readonly disclose?: false | undefined; readonly actor?: Actor | undefined }
  | { readonly disclose: true; readonly actor: Actor }

/**
 * An export that decrypts: who runs it, the subject when it is one
 * subject's, and its format (`"csv"`, `"json"`, `"events"`), for the audit
 * entry `consent.exported`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ExportDisclosureRequest {
  readonly actor: Actor
  readonly subject?: SubjectId | undefined
  /**
   * The export's format, a name of 1 to 64 lower-case letters, digits, `.`,
   * `_` or `-` starting with a letter (`"csv"`, `"crm-sync.v2"`): it is kept
   * in the audit log in clear, so it can never hold an address.
   */
  readonly format: string
  /** How many records the export gives, when known before it decrypts (a count: the entry's `records`). */
  readonly records?: number | undefined
}

/**
 * Decrypts the IP addresses and user agents of a page of events of the
 * tenant, the subject keys not cached read in one key-store call; each event
 * has its own outcome.
 *
 * @since 0.1.0
 * @category models
 */
export type Discloser = (
  recorded: ReadonlyArray<ConsentEvent.Recorded>
) => Effect.Effect<ReadonlyArray<Either.Either<Disclosed, Vault.SubjectShredded | Vault.SealedValueInvalid>>, Vault.VaultError>

// ---- the service -------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category services
 */
export class ConsentLedger extends Context.Tag("@lawful/consent-proof/ConsentLedger")<ConsentLedger, {
  /** Records one event; invalid input records nothing. */
  readonly record: (tenant: TenantId, request: RecordRequest) => Effect.Effect<ConsentEvent.Recorded, RecordError>
  /**
   * Imports attested contacts in batches; see `ConsentImport`. With an
   * `idempotencyKey`, a retry records nothing twice (its "Retries" section).
   */
  readonly importContacts: <E = never>(
    tenant: TenantId,
    request: ConsentImport.ImportRequest<E>
  ) => Effect.Effect<ConsentImport.ImportReport, ImportError | E>
  /**
   * The subject's current state on each list it has one for, in list order. A tenant or subject id
   * that is not a lower-case UUID has none, on every store (so too for `stateAt`,
   * `mayReceiveMarketing` (false), `events`, `erase` and `rebuildProjection`, which change nothing
   * and answer 0). Where a method can refuse a request (`record`, `importContacts`, `proof`,
   * `exportDisclosure`), such a tenant id fails `ConsentRequestInvalid` instead; `event` fails
   * `ConsentEventNotFound` and `recipients` `UnknownList`, with an empty `tenantId`. It is never
   * quoted.
   */
  readonly stateOf: (
    tenant: TenantId,
    subject: SubjectId
  ) => Effect.Effect<ReadonlyArray<ConsentState.ListState>, ConsentStore.ConsentStoreError>
  /**
   * The subject's state at a past time: the state after its last event whose
   * time is at or before `at`, replaying its events in recording order (see
   * `ConsentState`). It moves forward with `at`, and from the time of the
   * subject's last recorded event on it equals `stateOf`, even when servers'
   * clocks disagree. An `at` that is no time (an Invalid Date, or not a
   * `Date`) fails `ConsentRequestInvalid`: it is never answered "no consent".
   */
  readonly stateAt: (
    tenant: TenantId,
    subject: SubjectId,
    at: Date
  ) => Effect.Effect<ReadonlyArray<ConsentState.ListState>, ConsentRequestInvalid | ConsentStore.ConsentStoreError>
  readonly mayReceiveMarketing: (
    tenant: TenantId,
    subject: SubjectId,
    list: string
  ) => Effect.Effect<boolean, ConsentStore.ConsentStoreError>
  /** The subjects who may receive marketing on a list, in subject-id order, read a page at a time. */
  readonly recipients: (
    tenant: TenantId,
    list: string
  ) => Stream.Stream<SubjectId, ConsentLists.UnknownList | ConsentLists.ConsentListsError | ConsentStore.ConsentStoreError>
  /**
   * A page of the tenant's events in recording order (optionally one subject's). `limit` is a
   * count of at least 1, and `after` (when given) a whole number, the `seq` of the last event of
   * the page before: anything else is a defect (a bug of the caller, as every store would read it
   * differently), whose message does not quote it.
   */
  readonly events: (
    tenant: TenantId,
    query: ConsentStore.EventQuery
  ) => Effect.Effect<ReadonlyArray<ConsentStore.StoredEvent>, ConsentStore.ConsentStoreError>
  readonly event: (
    tenant: TenantId,
    id: string
  ) => Effect.Effect<ConsentStore.StoredEvent, ConsentEventNotFound | ConsentStore.ConsentStoreError>
  /**
   * Decrypts an event's IP address and user agent (with the salts of their
   * commitments). When the event has either, an audit entry
   * `consent.disclosed` (the actor, the subject, the event, the fields
   * disclosed; never their values) is appended first. An actor the audit log
   * refuses, or a `recorded` that is not an event as the ledger gives it
   * (`null`, an object without a valid event, sealed fields that are not
   * bytes), fails `ConsentRequestInvalid`: nothing appended, nothing decrypted.
   */
  readonly disclose: (
    recorded: ConsentEvent.Recorded,
    request: DisclosureRequest
  ) => Effect.Effect<
    Disclosed,
    ConsentRequestInvalid | AuditStoreError | Vault.SubjectShredded | Vault.SealedValueInvalid | Vault.VaultError
  >
  /**
   * Appends the audit entry of an export that decrypts (`consent.exported`:
   * the actor, the subject when the export is one subject's, the format, the
   * fields disclosed, and the count of records when given), then gives the
   * function that decrypts its pages.
   * An actor the audit log refuses, or the subject as actor of a whole
   * tenant's export, fails `ConsentRequestInvalid` and appends nothing. See
   * `ConsentExport`.
   */
  readonly exportDisclosure: (
    tenant: TenantId,
    request: ExportDisclosureRequest
  ) => Effect.Effect<Discloser, ConsentRequestInvalid | AuditStoreError>
  /**
   * The proof of an event, verifiable offline; with its IP address and user
   * agent when `disclose` is true, audited as `disclose` is (the actor is
   * checked before anything is read).
   */
  readonly proof: (
    tenant: TenantId,
    id: string,
    options?: ProofOptions
  ) => Effect.Effect<ConsentProof.ConsentProof, ProofError>
  /** Recomputes the tenant's projection from its events; returns how many states it holds. */
  readonly rebuildProjection: (tenant: TenantId) => Effect.Effect<number, ConsentStore.ConsentStoreError>
  /** Removes the subject's events and states (erasure); returns how many events were removed. */
  readonly erase: (tenant: TenantId, subject: SubjectId) => Effect.Effect<number, ConsentStore.ConsentStoreError>
  /** The audit log's verifier key, for `ConsentProof.verify`. */
  readonly verifierKey: string
}>() {}

interface Draft {
  readonly tenant: TenantId
  readonly actor: Actor
  readonly event: ConsentEvent.ConsentEvent
  readonly bytes: Uint8Array
  readonly hash: string
  readonly ipSealed: Uint8Array | undefined
  readonly userAgentSealed: Uint8Array | undefined
}

const decodeRequest = Schema.decodeUnknown(RecordRequest, { errors: "all", onExcessProperty: "error" })

const requestInvalid = (...issues: ReadonlyArray<string>) => new ConsentRequestInvalid({ issues })

// A tenant id is caller input: one that is not a lower-case UUID is refused before any store is
// reached (memory kept a tenant of its own under it, SQL failed quoting it or read an upper-case id
// as the tenant's own), never quoted.
const tenantInvalid = () => requestInvalid("tenant: invalid (a tenant id is a lower-case UUID)")

const parseIssues = (error: ParseResult.ParseError) =>
  requestInvalid(...describeIssues(error, "request"))

/** The checks of a decoded request that the schema does not express. */
const checkRequest = (request: typeof RecordRequest.Type): Effect.Effect<void, ConsentRequestInvalid | IpAddressInvalid> => {
  const issues: Array<string> = []
  if ((request.email === undefined) === (request.subject === undefined)) {
    issues.push("email: give either an email or a subject id")
  }
  if (request.kind === "granted" && request.source.type === "form" && request.notice === undefined) {
    issues.push("notice: missing (a grant from a form records the notice shown)")
  }
  if (request.reason !== undefined && request.kind !== "withdrawn") issues.push("reason: only a withdrawal has a reason")
  if (issues.length > 0) return Effect.fail(requestInvalid(...issues))
  if (request.ip !== undefined && isIP(request.ip) === 0) return Effect.fail(new IpAddressInvalid())
  return Effect.void
}

const auditEventOf = (draft: Draft): AuditEvent =>
  new AuditEvent({
    actor: draft.actor,
    action: `consent.${draft.event.kind}`,
    purpose: "consent-management",
    legalBasis: draft.event.lawfulBasis,
    subject: draft.event.subject,
    resource: ConsentProof.auditResourceOf(draft.event),
    details: ConsentProof.auditDetailsOf(draft.hash)
  }, { disableValidation: true })

const toDraft = (
  tenant: TenantId,
  actor: Actor,
  event: ConsentEvent.ConsentEvent,
  ipSealed: Uint8Array | undefined,
  userAgentSealed: Uint8Array | undefined
): Draft => {
  const bytes = ConsentEvent.canonicalBytes(event)
  return { tenant, actor, event, bytes, hash: ConsentEvent.hashOf(bytes), ipSealed, userAgentSealed }
}

/** What to seal for an event: the commitments go into the event, the plaintexts to the Vault. */
const commitments = (fields: { readonly ip?: string | undefined; readonly userAgent?: string | undefined }) => ({
  ip: fields.ip === undefined ? undefined : ConsentEvent.commit("ip", fields.ip),
  userAgent: fields.userAgent === undefined ? undefined : ConsentEvent.commit("userAgent", fields.userAgent)
})

const sealedFields = ["ip", "userAgent"] as const

const noCommitments = { ip: undefined, userAgent: undefined }

/** An item's sealed fields, or why they could not be sealed. */
type Seals = Either.Either<ReadonlyArray<Vault.Sealed>, Vault.SubjectShredded>

/**
 * Opens the IP addresses and user agents of events of one tenant, the subject keys not cached
 * read in one key-store call; each event has its own outcome. Callers audit first.
 */
const openFields = (
  vault: Context.Tag.Service<typeof Vault.Vault>,
  tenant: TenantId,
  events: ReadonlyArray<ConsentEvent.Recorded>
): ReturnType<Discloser> =>
  Effect.gen(function*() {
    const items: Array<{ readonly subject: SubjectId; readonly purpose: Vault.Purpose; readonly sealed: Uint8Array }> = []
    for (const recorded of events) {
      for (const field of sealedFields) {
        const sealed = field === "ip" ? recorded.ipSealed : recorded.userAgentSealed
        if (sealed !== undefined) {
          items.push({ subject: recorded.event.subject, purpose: ConsentEvent.sealedPurposes[field], sealed })
        }
      }
    }
    const opened = items.length === 0 ? [] : yield* vault.openAll(tenant, items)
    let position = 0
    return events.map((recorded): Either.Either<Disclosed, Vault.SubjectShredded | Vault.SealedValueInvalid> => {
      const disclosed: { ip?: Disclosed["ip"]; userAgent?: Disclosed["userAgent"] } = {}
      let failure: Vault.SubjectShredded | Vault.SealedValueInvalid | undefined
      for (const field of sealedFields) {
        if ((field === "ip" ? recorded.ipSealed : recorded.userAgentSealed) === undefined) continue
        const result = opened[position++]!
        if (Either.isLeft(result)) {
          failure ??= result.left
          continue
        }
        const split = ConsentEvent.splitOpened(result.right)
        if (Option.isNone(split)) failure ??= new Vault.SealedValueInvalid({ reason: "malformed" })
        else disclosed[field] = { value: split.value.value, salt: split.value.salt }
      }
      return failure !== undefined ? Either.left(failure) : Either.right(disclosed as Disclosed)
    })
  })

const isActor = Schema.is(Actor)

/** An export format's name, which the audit log keeps in clear: no `@`, no space, no capital. */
const isFormatName = (format: unknown): format is string =>
  typeof format === "string" && /^[a-z][a-z0-9._-]{0,63}$/.test(format)

/** Contacts an import can read: a `Stream`, or an object that is `Iterable` (never a bare string). */
const isContacts = (contacts: unknown): boolean =>
  typeof contacts === "object" && contacts !== null &&
  (Stream.StreamTypeId in contacts || typeof (contacts as { [Symbol.iterator]?: unknown })[Symbol.iterator] === "function")

const isEventId = Schema.is(ConsentEvent.EventId)
const isEvent = Schema.is(ConsentEvent.ConsentEvent)
const isSealed = (value: unknown) => value === undefined || value instanceof Uint8Array

/**
 * An event as the ledger gives it, checked before `disclose` reads or appends anything: untyped code
 * may pass anything (`null`), and the event names the tenant whose log the disclosure goes in.
 */
const isRecorded = (recorded: unknown): recorded is ConsentEvent.Recorded =>
  typeof recorded === "object" && recorded !== null &&
  isEvent((recorded as ConsentEvent.Recorded).event) &&
  isSealed((recorded as ConsentEvent.Recorded).ipSealed) &&
  isSealed((recorded as ConsentEvent.Recorded).userAgentSealed)

/** A time `stateAt` can answer for: a `Date` that is a time (not an Invalid Date). */
const isTime = (at: unknown): at is Date => at instanceof Date && !Number.isNaN(at.getTime())

/** A cursor of `events`: none, or a whole number (the `seq` of the last event of a page). */
const isCursor = (after: unknown) => after === undefined || Number.isSafeInteger(after)

/**
 * The actor of a disclosure, checked before anything is read or appended: an actor the audit
 * log takes, and the subject only for its own data.
 */
const checkDisclosureActor = (
  actor: unknown,
  namesSubject: boolean
): Effect.Effect<Actor, ConsentRequestInvalid> => {
  if (actor === undefined) return Effect.fail(requestInvalid("actor: missing (a disclosure is audited)"))
  if (!isActor(actor)) return Effect.fail(requestInvalid("actor: invalid"))
  if (actor.kind === "subject" && !namesSubject) {
    return Effect.fail(requestInvalid("actor: the subject may disclose its own events only"))
  }
  return Effect.succeed(actor)
}

const page = 1000

const noSubjects: ReadonlySet<SubjectId> = new Set()

/** The `Vault.blindIndex` domain of import idempotency keys. */
const importKeyDomain = "consent.import.idempotency-key"

/** Every event a paged query gives, a page of `page` at a time. */
const allEvents = <E>(
  pageAfter: (after: number | undefined) => Effect.Effect<ReadonlyArray<ConsentStore.StoredEvent>, E>
): Effect.Effect<ReadonlyArray<ConsentStore.StoredEvent>, E> =>
  Effect.gen(function*() {
    const events: Array<ConsentStore.StoredEvent> = []
    let after: number | undefined
    while (true) {
      const rows = yield* pageAfter(after)
      events.push(...rows)
      if (rows.length < page) return events
      after = rows[rows.length - 1]!.seq
    }
  })

/**
 * Builds the ledger over the services in context; its batching fibres live in the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.gen(function*() {
  // The store behind its tenant check, the one place a tenant id that is not one is answered for
  // on reads (none, 0) and refused on writes: a store of one's own gets it too, a shipped layer's
  // has it already and is not wrapped again.
  const store = checkingTenant(yield* ConsentStore.ConsentStore, ConsentStore.ConsentStoreError)
  const lists = yield* ConsentLists.ConsentLists
  const directory = yield* SubjectDirectory.SubjectDirectory
  const suppression = yield* SuppressionList.SuppressionList
  const vault = yield* Vault.Vault
  const log = yield* AuditLog.AuditLog

  // Each draft's audit entry, appended together: the events with their audit indices.
  const audited = (tenant: TenantId, drafts: ReadonlyArray<Draft>) =>
    Effect.map(
      log.appendAll(tenant, drafts.map(auditEventOf)).pipe(Effect.catchTag("AuditEventInvalid", Effect.die)),
      (appended) =>
        drafts.map((draft, i): ConsentEvent.Recorded => ({
          event: draft.event,
          bytes: draft.bytes,
          hash: draft.hash,
          auditIndex: appended[i]!.index,
          ipSealed: draft.ipSealed,
          userAgentSealed: draft.userAgentSealed
        }))
    )

  // Grants and withdrawals: audited, then stored, all or none.
  const commit = (tenant: TenantId, drafts: ReadonlyArray<Draft>) =>
    Effect.gen(function*() {
      const recorded = yield* audited(tenant, drafts)
      yield* store.append(tenant, recorded).pipe(
        // Only a checked append refuses events.
        Effect.catchTags({ ConfirmationRefused: Effect.die, GrantRefused: Effect.die })
      )
      return recorded
    }).pipe(Effect.withSpan("ConsentLedger.commit", { captureStackTrace: false, attributes: { tenant: describeTenant(tenant), count: drafts.length } }))

  // Drafts audited, then stored with the checks of `options` (see `ConsentStore`). A refused append
  // stores nothing: it is made again without the events `ruledOut` takes from the refusal, until
  // nothing more is refused. The audit entries of the events left out stay, as an entry of a failed
  // store append does, and prove nothing (no stored event has their hash). Only the check asked for
  // refuses (`refusal`): another refusal is a defect, and so is one that rules out none of the
  // events left (a store that names events it was not given). Answers the events and the ids left out.
  const commitChecked = <R extends ConsentStore.ConfirmationRefused | ConsentStore.GrantRefused>(
    tenant: TenantId,
    drafts: ReadonlyArray<Draft>,
    options: ConsentStore.AppendOptions,
    refusal: R["_tag"],
    ruledOut: (refused: R, left: ReadonlyArray<ConsentEvent.Recorded>) => Iterable<string>
  ) =>
    Effect.gen(function*() {
      const recorded = yield* audited(tenant, drafts)
      const asked = (error: ConsentStore.ConfirmationRefused | ConsentStore.GrantRefused): error is R =>
        error._tag === refusal
      const refused = new Set<string>()
      let left = recorded
      while (left.length > 0) {
        const attempt = yield* Effect.either(store.append(tenant, left, options))
        if (Either.isRight(attempt)) break
        const error = attempt.left
        if (error._tag === "ConsentStoreError") return yield* error
        if (!asked(error)) return yield* Effect.die(error)
        for (const id of ruledOut(error, left)) refused.add(id)
        const still = left.filter(({ event }) => !refused.has(event.id))
        // Made again unchanged, the append would be refused again, forever.
        if (still.length === left.length) {
          return yield* Effect.dieMessage(
            `ConsentStore.append failed ${refusal} naming none of the events it was given: a store contract violation`
          )
        }
        left = still
      }
      return { recorded, refused: refused as ReadonlySet<string> }
    })

  // An import's grants, each checked against withdrawals with the time its consent was collected,
  // so that a withdrawal recorded since the batch read the states wins: the refused grants are left
  // out and the others stored. Answers the ids of the refused grants.
  const commitImported = (tenant: TenantId, drafts: ReadonlyArray<Draft>, consentedAt: ReadonlyArray<Date>) =>
    commitChecked(
      tenant,
      drafts,
      { refuseWithdrawnSince: new Map(drafts.map(({ event }, i) => [event.id as string, consentedAt[i]!])) },
      "GrantRefused",
      (refused: ConsentStore.GrantRefused) => refused.eventIds
    ).pipe(
      Effect.map(({ refused }) => refused),
      Effect.withSpan("ConsentLedger.commitImported", { captureStackTrace: false, attributes: { tenant: describeTenant(tenant), count: drafts.length } })
    )

  // Confirmations of one tenant, checked (see `ConsentStore`), so that a grant read pending by two
  // confirmations at once is confirmed by one only. Each refused confirmation fails its own caller
  // (`ConsentNotPending`) and the others are stored without it. A refusal that may be due only to
  // another refused confirmation before it in the batch (same subject and list) is not taken as
  // final: that one is tried again with the others.
  const commitConfirmations = (tenant: TenantId, drafts: ReadonlyArray<Draft>) =>
    commitChecked(
      tenant,
      drafts,
      { checkConfirmations: true },
      "ConfirmationRefused",
      (refused: ConsentStore.ConfirmationRefused, left) => {
        const named = new Set(refused.eventIds)
        const touched = new Set<string>()
        const final: Array<string> = []
        for (const { event } of left) {
          if (!named.has(event.id)) continue
          const keys = event.lists.map((list) => `${event.subject}\u0000${list}`)
          if (!keys.some((key) => touched.has(key))) final.push(event.id)
          for (const key of keys) touched.add(key)
        }
        return final
      }
    ).pipe(
      Effect.map(({ recorded, refused }) =>
        recorded.map((stored): Either.Either<ConsentEvent.Recorded, ConsentNotPending> => {
          const { event } = stored
          return refused.has(event.id)
            ? Either.left(new ConsentNotPending({ tenantId: tenant, subjectId: event.subject, lists: event.lists }))
            : Either.right(stored)
        })
      ),
      Effect.withSpan("ConsentLedger.commitConfirmations", {
        captureStackTrace: false,
        attributes: { tenant: describeTenant(tenant), count: drafts.length }
      })
    )

  // Confirmations, recorded apart (they read the subject's state first), are still grouped:
  // one audit append and one store append per batch of a tenant's drafts (more when some are
  // refused), and an outcome per draft.
  const submit = yield* Batcher.make({
    concurrency: 1,
    key: (draft: Draft) => draft.tenant,
    run: (drafts) => commitConfirmations(drafts[0]!.tenant, drafts)
  })

  const sealFor = (
    tenant: TenantId,
    items: ReadonlyArray<{ readonly subject: SubjectId; readonly field: ConsentEvent.SealedField; readonly plaintext: Uint8Array }>
  ) =>
    items.length === 0
      ? Effect.succeed([] as ReadonlyArray<Vault.Sealed>)
      : vault.sealAll(
        tenant,
        items.map((item) => ({
          subject: item.subject,
          purpose: ConsentEvent.sealedPurposes[item.field],
          plaintext: item.plaintext
        }))
      )

  const pendingGrants = (tenant: TenantId, subject: SubjectId, wanted: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const states = new Map((yield* store.states(tenant, subject)).map((state) => [state.list as string, state]))
      const notPending = wanted.filter((list) => states.get(list)?.status !== "pending")
      if (notPending.length > 0) {
        return yield* new ConsentNotPending({ tenantId: tenant, subjectId: subject, lists: notPending })
      }
      return ConsentEvent.normalizeLists(wanted.map((list) => states.get(list)!.eventId))
    })

  // What a caller hands to the record batch: a checked request whose address (if any) is
  // normalised, and its declared lists.
  interface Prepared {
    readonly tenant: TenantId
    readonly request: typeof RecordRequest.Type
    readonly email: Email.Email | undefined
    readonly declared: ReadonlyArray<ConsentLists.ConsentList>
  }

  const buildEvent = (
    prepared: Prepared,
    subject: SubjectId,
    committed: ReturnType<typeof commitments>,
    confirms: ReadonlyArray<string>,
    now: number
  ) => {
    const { declared, request, tenant } = prepared
    return new ConsentEvent.ConsentEvent({
      id: ConsentEvent.EventId.make(uuidV7At(now)),
      tenant,
      subject,
      kind: request.kind,
      time: new Date(now),
      lists: declared.map((list) => list.id) as unknown as readonly [ConsentLists.ListId, ...Array<ConsentLists.ListId>],
      awaitingConfirmation: request.kind === "granted" ? declared.filter((list) => list.doubleOptIn).map((list) => list.id) : [],
      lawfulBasis: request.lawfulBasis,
      source: request.source,
      ...(request.notice !== undefined ? { notice: request.notice } : {}),
      ...(request.language !== undefined ? { language: request.language } : {}),
      ...(committed.ip ? { ip: committed.ip.commitment } : {}),
      ...(committed.userAgent ? { userAgent: committed.userAgent.commitment } : {}),
      confirms: confirms as ReadonlyArray<ConsentEvent.EventId>,
      ...(request.reason !== undefined ? { reason: request.reason } : {})
      // Every field comes from the decoded request or from values made here: checking them
      // again would cost more than the rest of the event.
    }, { disableValidation: true })
  }

  const sealItemsOf = (subject: SubjectId, committed: ReturnType<typeof commitments>) => [
    ...(committed.ip ? [{ subject, field: "ip" as const, plaintext: committed.ip.plaintext }] : []),
    ...(committed.userAgent ? [{ subject, field: "userAgent" as const, plaintext: committed.userAgent.plaintext }] : [])
  ]

  // Grants and withdrawals of one tenant, recorded together: one `resolveAll` for the
  // addresses, one key-store read for the subjects named by id (shredded or not), one
  // `sealAll`, one audit `appendAll` and one store append for the whole batch, however many
  // callers it serves. A grant for a subject named by id whose key was shredded fails its own
  // caller only (`SubjectShredded`); a withdrawal for one is recorded without the IP address
  // and user agent, which can no longer be sealed. A subject found or made from an address in
  // this batch is live.
  const recordBatch = (items: ReadonlyArray<Prepared>) =>
    Effect.gen(function*() {
      const tenant = items[0]!.tenant
      const named = items.flatMap((item, i) => (item.email !== undefined ? [i] : []))
      const resolved = named.length === 0
        ? []
        : yield* directory.resolveAll(tenant, named.map((i) => items[i]!.email!)).pipe(
          // The addresses were normalised by each caller.
          Effect.catchTag("InvalidEmail", Effect.die)
        )
      const subjects = items.map((item) => item.request.subject as SubjectId | undefined)
      named.forEach((i, k) => {
        subjects[i] = resolved[k]!
      })
      const byId = items.flatMap((item) => (item.request.subject !== undefined ? [item.request.subject] : []))
      const shredded = yield* vault.shreddedAmong(tenant, byId)
      const isShredded = (i: number) => items[i]!.request.subject !== undefined && shredded.has(subjects[i]!)
      const committed = items.map((item, i) => (isShredded(i) ? noCommitments : commitments(item.request)))
      const wanted = items.map((_, i) => sealItemsOf(subjects[i]!, committed[i]!))
      const sealed = yield* sealFor(tenant, wanted.flat()).pipe(
        Effect.map((all) => {
          let position = 0
          return wanted.map((w) => Either.right(all.slice(position, (position += w.length))))
        }),
        // A subject named by id shredded since it was checked: find whose, item by item.
        Effect.catchTag("SubjectShredded", () =>
          Effect.forEach(wanted, (w, i) =>
            sealFor(tenant, w).pipe(
              Effect.map(Either.right),
              Effect.catchTag("SubjectShredded", (error): Effect.Effect<Seals> => {
                if (items[i]!.request.kind !== "withdrawn") return Effect.succeed(Either.left(error))
                // A withdrawal is recorded all the same, without the fields.
                committed[i] = noCommitments
                return Effect.succeed(Either.right([]))
              })
            )))
      )
      const now = yield* Clock.currentTimeMillis
      const drafts: Array<Draft> = []
      const outcome = items.map((item, i): Either.Either<number, Vault.SubjectShredded> => {
        if (isShredded(i) && item.request.kind !== "withdrawn") {
          return Either.left(new Vault.SubjectShredded({ tenantId: tenant, subjectId: subjects[i]! }))
        }
        const seals = sealed[i]!
        if (Either.isLeft(seals)) return Either.left(seals.left)
        const c = committed[i]!
        const ipSealed = c.ip ? seals.right[0] : undefined
        const userAgentSealed = c.userAgent ? seals.right[c.ip ? 1 : 0] : undefined
        drafts.push(toDraft(tenant, item.request.actor, buildEvent(item, subjects[i]!, c, [], now), ipSealed, userAgentSealed))
        return Either.right(drafts.length - 1)
      })
      const recorded = drafts.length === 0 ? [] : yield* commit(tenant, drafts)
      return outcome.map(Either.map((k) => recorded[k]!))
    })

  const recordInBatch = yield* Batcher.make({
    concurrency: 2,
    key: (prepared: Prepared) => prepared.tenant,
    run: recordBatch
  })

  // A confirmation reads the subject's pending grants first: it is recorded on its own, and the
  // store checks at write time that they are still pending (another confirmation may have taken
  // them since the read). A confirmation refused then is read again: a list pending by a newer
  // grant recorded in between is still pending, and the confirmation is made again to confirm
  // that grant (a new event and audit entry), as a retry of the call would be; a list no longer
  // pending (confirmed, withdrawn) fails the call, as it would fail the retry. Each attempt needs
  // a newer grant to have come in between: a stream of them (a form resubmitted in a loop) would
  // keep it going, so the call stops after `maxConfirmationAttempts` (`ConfirmationContended`).
  const recordConfirmation = (prepared: Prepared) =>
    Effect.gen(function*() {
      const { declared, request, tenant } = prepared
      let subject: SubjectId
      if (request.subject !== undefined) {
        subject = request.subject
        // A subject named by id may have been shredded: nothing is confirmed for it, with or
        // without an IP address and user agent (the read caches a live key for the seal below).
        if ((yield* vault.shreddedAmong(tenant, [subject])).has(subject)) {
          return yield* new Vault.SubjectShredded({ tenantId: tenant, subjectId: subject })
        }
      } else {
        // A confirmation never creates a subject.
        const found = yield* directory.find(tenant, prepared.email!)
        if (Option.isNone(found)) {
          return yield* new ConsentNotPending({ tenantId: tenant, lists: declared.map((list) => list.id) })
        }
        subject = found.value
      }
      const listIds = declared.map((list) => list.id)
      let confirms = yield* pendingGrants(tenant, subject, listIds)
      const committed = commitments(request)
      const sealed = yield* sealFor(tenant, sealItemsOf(subject, committed))
      const ipSealed = committed.ip ? sealed[0] : undefined
      const userAgentSealed = committed.userAgent ? sealed[committed.ip ? 1 : 0] : undefined
      for (let attempt = 1;; attempt++) {
        const now = yield* Clock.currentTimeMillis
        const recorded = yield* submit(
          toDraft(tenant, request.actor, buildEvent(prepared, subject, committed, confirms, now), ipSealed, userAgentSealed)
        )
        if (Either.isRight(recorded)) return recorded.right
        const pending = yield* pendingGrants(tenant, subject, listIds)
        // Pending by the very grants it was refused for: the refusal stands.
        if (pending.length === confirms.length && pending.every((id, i) => id === confirms[i])) return yield* recorded
        if (attempt >= maxConfirmationAttempts) {
          return yield* new ConfirmationContended({ tenantId: tenant, lists: listIds, attempts: attempt })
        }
        confirms = pending
      }
    })

  // Not `Effect.fn`: it makes two `Error`s per call for their stack traces, on the hottest path.
  const record = (tenant: TenantId, input: RecordRequest) =>
    Effect.gen(function*() {
      if (!isTenantId(tenant)) return yield* tenantInvalid()
      const request = yield* decodeRequest(input).pipe(Effect.mapError(parseIssues))
      yield* checkRequest(request)
      const email = request.email === undefined ? undefined : yield* Email.normalize(request.email)
      const declared = yield* lists.require(tenant, ConsentEvent.normalizeLists(request.lists))
      const prepared: Prepared = { tenant, request, email, declared }
      if (request.kind === "confirmed") return yield* recordConfirmation(prepared)
      const recorded = yield* recordInBatch(prepared)
      return yield* recorded
    }).pipe(Effect.withSpan("ConsentLedger.record", { captureStackTrace: false, attributes: { tenant: describeTenant(tenant) } }))

  // ---- imports ---------------------------------------------------------------

  interface Totals {
    received: number
    recorded: number
    alreadyRecorded: number
    suppressed: number
    invalidEmail: number
    invalidIp: number
    invalidConsentedAt: number
    invalidUserAgent: number
    outsideAttestedPeriod: number
    duplicates: number
    withdrawn: number
    rejections: Array<ConsentImport.Rejection>
  }

  interface CheckedRows {
    readonly totals: Totals
    readonly reject: (row: number, reason: ConsentImport.RejectionReason) => void
    readonly valid: ReadonlyArray<{ readonly row: number; readonly email: Email.Email; readonly contact: ConsentImport.ImportContact }>
  }

  // Checks a batch's rows, one batch after the other in row order: `seen` holds the addresses of
  // the import's earlier rows, so that a repeated address is a duplicate in whatever batch it is.
  const checkRows = (
    options: typeof ConsentImport.ImportOptions.Type,
    seen: Set<string>,
    rows: Chunk.Chunk<readonly [ConsentImport.ImportContact, number]>
  ) =>
    Effect.gen(function*() {
      const totals: Totals = { ...noTotals(), received: Chunk.size(rows) }
      const reject = (row: number, reason: ConsentImport.RejectionReason) => {
        totals.rejections.push({ row, reason })
        if (reason === "invalid-email") totals.invalidEmail++
        else if (reason === "invalid-ip") totals.invalidIp++
        else if (reason === "invalid-consented-at") totals.invalidConsentedAt++
        else if (reason === "invalid-user-agent") totals.invalidUserAgent++
        else if (reason === "outside-attested-period") totals.outsideAttestedPeriod++
        else if (reason === "duplicate") totals.duplicates++
        else if (reason === "withdrawn") totals.withdrawn++
        else totals.suppressed++
      }
      const valid: Array<{ readonly row: number; readonly email: Email.Email; readonly contact: ConsentImport.ImportContact }> =
        []
      for (const [contact, index] of rows) {
        const row = index + 1
        // Rows come from outside (a file, another system): each field is checked before use, and
        // the row itself, which may be no object at all (a `null` from a parser, a bare string):
        // such a row has no address, and is refused as one whose address is missing.
        const email = typeof contact === "object" && contact !== null && typeof contact.email === "string"
          ? yield* Effect.option(Email.normalize(contact.email))
          : Option.none()
        if (Option.isNone(email)) {
          reject(row, "invalid-email")
        } else if (contact.ip !== undefined && (typeof contact.ip !== "string" || isIP(contact.ip) === 0)) {
          reject(row, "invalid-ip")
        } else if (contact.consentedAt !== undefined && !ConsentImport.isConsentTime(contact.consentedAt)) {
          reject(row, "invalid-consented-at")
        } else if (
          contact.consentedAt !== undefined && !ConsentImport.isInAttestedPeriod(options.attestation, contact.consentedAt)
        ) {
          reject(row, "outside-attested-period")
        } else if (contact.userAgent !== undefined && !ConsentImport.isUserAgent(contact.userAgent)) {
          reject(row, "invalid-user-agent")
        } else if (seen.has(email.value)) {
          reject(row, "duplicate")
        } else {
          seen.add(email.value)
          valid.push({ row, email: email.value, contact })
        }
      }
      const checked: CheckedRows = { totals, reject, valid }
      return checked
    })

  // A resumed import skips the rows whose subject already has its event (an earlier attempt's).
  const importBatch = (
    tenant: TenantId,
    options: typeof ConsentImport.ImportOptions.Type,
    source: ConsentEvent.Source & { readonly type: "import" },
    listIds: ReadonlyArray<ConsentLists.ListId>,
    resumed: boolean,
    { reject, totals, valid }: CheckedRows
  ) =>
    Effect.gen(function*() {
      // The suppressed rows are refused after the others: the batch's list is put back in row order.
      const inRowOrder = () => {
        totals.rejections.sort((a, b) => a.row - b.row)
        return totals
      }
      const suppressed = yield* suppression.suppressed(tenant, valid.map((v) => v.email))
      const kept = valid.filter((v) => !suppressed.has(v.email))
      const refused = valid.filter((v) => suppressed.has(v.email))
      const resolved = kept.length === 0 ? [] : yield* directory.resolveAll(tenant, kept.map((v) => v.email)).pipe(
        Effect.catchTag("InvalidEmail", Effect.die)
      )
      // A resumed import may have recorded a contact suppressed since: that row is this import's
      // (`alreadyRecorded`), not a refusal. Its subject is looked up, never created, so that a
      // suppressed address never recorded gets no subject.
      const refusedSubjects = resumed && refused.length > 0
        ? yield* Effect.forEach(refused, (v) =>
          directory.find(tenant, v.email).pipe(Effect.catchTag("InvalidEmail", Effect.die)))
        : []
      const known = [...resolved, ...refusedSubjects.flatMap(Option.toArray)]
      const recordedBefore = resumed && known.length > 0
        ? yield* store.importedSubjects(tenant, source.importId, known)
        : noSubjects
      refused.forEach((v, i) => {
        const subject = refusedSubjects[i]
        if (subject !== undefined && Option.isSome(subject) && recordedBefore.has(subject.value)) totals.alreadyRecorded++
        else reject(v.row, "suppressed")
      })
      const fresh = kept.flatMap((v, i) => (recordedBefore.has(resolved[i]!) ? [] : [{ ...v, subject: resolved[i]! }]))
      totals.alreadyRecorded += kept.length - fresh.length
      // An imported consent never overrides a withdrawal made at or after it: the contact's last
      // withdrawal from any of the lists, against the row's consent time (without one, the start
      // of the attested period, the earliest the consent may have been collected).
      const withdrawals = new Map<SubjectId, number>()
      if (fresh.length > 0) {
        const filter = { status: "withdrawn", lists: listIds } as const
        for (const state of yield* store.statesOfSubjects(tenant, fresh.map((v) => v.subject), filter)) {
          withdrawals.set(state.subject, Math.max(withdrawals.get(state.subject) ?? -Infinity, state.since.getTime()))
        }
      }
      const consentTimeOf = (v: { readonly contact: ConsentImport.ImportContact }) =>
        v.contact.consentedAt ?? options.attestation.collectedFrom
      const rows = fresh.filter((v) => {
        const withdrawnAt = withdrawals.get(v.subject)
        if (withdrawnAt === undefined || withdrawnAt < consentTimeOf(v).getTime()) return true
        reject(v.row, "withdrawn")
        return false
      })
      if (rows.length === 0) return inRowOrder()

      const committed = rows.map((v) => commitments(v.contact))
      const sealItems = rows.flatMap((v, i) => sealItemsOf(v.subject, committed[i]!))
      const sealed = yield* sealFor(tenant, sealItems)
      const now = yield* Clock.currentTimeMillis
      let position = 0
      const drafts = rows.map((v, i) => {
        const c = committed[i]!
        const ipSealed = c.ip ? sealed[position++] : undefined
        const userAgentSealed = c.userAgent ? sealed[position++] : undefined
        const event = new ConsentEvent.ConsentEvent({
          id: ConsentEvent.EventId.make(uuidV7At(now)),
          tenant,
          subject: v.subject,
          kind: "granted",
          time: new Date(now),
          lists: listIds as unknown as readonly [ConsentLists.ListId, ...Array<ConsentLists.ListId>],
          awaitingConfirmation: [],
          lawfulBasis: options.lawfulBasis,
          source,
          ...(options.language !== undefined ? { language: options.language } : {}),
          ...(c.ip ? { ip: c.ip.commitment } : {}),
          ...(c.userAgent ? { userAgent: c.userAgent.commitment } : {}),
          confirms: [],
          ...(v.contact.consentedAt !== undefined ? { collectedAt: v.contact.consentedAt } : {})
        }, { disableValidation: true })
        return toDraft(tenant, options.actor, event, ipSealed, userAgentSealed)
      })
      // Checked again when written: a withdrawal recorded since the states were read wins.
      const withdrawnMeanwhile = yield* commitImported(tenant, drafts, rows.map(consentTimeOf))
      rows.forEach((v, i) => {
        if (withdrawnMeanwhile.has(drafts[i]!.event.id)) reject(v.row, "withdrawn")
      })
      totals.recorded = drafts.length - withdrawnMeanwhile.size
      return inRowOrder()
    }).pipe(
      Effect.withSpan("ConsentLedger.importBatch", { captureStackTrace: false, attributes: { tenant: describeTenant(tenant), rows: totals.received } })
    )

  const noTotals = (): Totals => ({
    received: 0,
    recorded: 0,
    alreadyRecorded: 0,
    suppressed: 0,
    invalidEmail: 0,
    invalidIp: 0,
    invalidConsentedAt: 0,
    invalidUserAgent: 0,
    outsideAttestedPeriod: 0,
    duplicates: 0,
    withdrawn: 0,
    rejections: []
  })

  const addTotals = (all: Totals, batch: Totals): Totals => ({
    received: all.received + batch.received,
    recorded: all.recorded + batch.recorded,
    alreadyRecorded: all.alreadyRecorded + batch.alreadyRecorded,
    suppressed: all.suppressed + batch.suppressed,
    invalidEmail: all.invalidEmail + batch.invalidEmail,
    invalidIp: all.invalidIp + batch.invalidIp,
    invalidConsentedAt: all.invalidConsentedAt + batch.invalidConsentedAt,
    invalidUserAgent: all.invalidUserAgent + batch.invalidUserAgent,
    outsideAttestedPeriod: all.outsideAttestedPeriod + batch.outsideAttestedPeriod,
    duplicates: all.duplicates + batch.duplicates,
    withdrawn: all.withdrawn + batch.withdrawn,
    rejections: all.rejections.length >= ConsentImport.maxListedRejections
      ? all.rejections
      : [...all.rejections, ...batch.rejections].slice(0, ConsentImport.maxListedRejections)
  })

  // Runs an import whose record is stored: audits its start (or resumption), records its rows,
  // and completes the record with the report and its completion entry, together (`completing`
  // runs just before: see `holdingClaim`).
  const runImport = <E>(
    tenant: TenantId,
    options: typeof ConsentImport.ImportOptions.Type,
    listIds: ReadonlyArray<ConsentLists.ListId>,
    source: ConsentEvent.Source & { readonly type: "import" },
    resumed: boolean,
    contacts: ConsentImport.ImportRequest<E>["contacts"],
    token: string | undefined,
    completing: Effect.Effect<void>
  ) =>
    Effect.gen(function*() {
      const { importId } = source
      const audit = (action: string, details: Record<string, string | number | ReadonlyArray<string>>) =>
        log.append(
          tenant,
          new AuditEvent({
            actor: options.actor,
            action,
            purpose: "consent-management",
            legalBasis: options.lawfulBasis,
            resource: { type: "consent-import", id: importId },
            details
          })
        ).pipe(Effect.catchTag("AuditEventInvalid", Effect.die))
      yield* audit(resumed ? "consent.import.resumed" : "consent.import.started", {
        importId,
        attestationSha256: source.attestation,
        lists: listIds
      })

      const stream: Stream.Stream<ConsentImport.ImportContact, E> = Stream.StreamTypeId in contacts
        ? contacts as Stream.Stream<ConsentImport.ImportContact, E>
        : Stream.fromIterable(contacts as Iterable<ConsentImport.ImportContact>)
      const seen = new Set<string>()
      const totals = yield* stream.pipe(
        Stream.zipWithIndex,
        Stream.grouped(options.batchSize),
        Stream.mapEffect((rows) => checkRows(options, seen, rows)),
        Stream.mapEffect((checked) => importBatch(tenant, options, source, listIds, resumed, checked), { concurrency: 2 }),
        Stream.runFold(noTotals(), addTotals)
      )
      const report: ConsentImport.ImportReport = {
        importId,
        ...totals,
        rejections: [...totals.rejections].sort((a, b) => a.row - b.row)
      }
      // The report's id and counts; the rejections (row numbers and reasons) stay in the report.
      const { rejections, ...counts } = report
      // The report and its entry, all or none: an entry that cannot be appended leaves the import
      // incomplete, and a retry with the key resumes it. With a key, only while this attempt's
      // claim holds: one that lapsed and was taken over (this process stalled past its end, unseen
      // by the renewals) leaves the report and its entry to the attempt that holds it, which
      // counts this one's rows in `alreadyRecorded`.
      yield* completing
      const completed = yield* store.completeImport(
        tenant,
        importId,
        ConsentImport.reportJson(report),
        token,
        audit("consent.import.completed", counts)
      )
      if (Option.isNone(completed)) {
        if (token === undefined) {
          return yield* Effect.dieMessage(`ConsentLedger.importContacts: the record of import ${importId} is missing`)
        }
        return yield* new ImportInProgress({ tenantId: tenant, importId })
      }
      return report
    })

  const claimMillis = Duration.toMillis(ConsentImport.claimDuration)

  // Renews the attempt's claim on its key while `self` runs; fails `ImportInProgress` (and so
  // interrupts `self`) if another attempt took it over. A renewal the store fails is logged and
  // tried again at the next turn: if the store stays down, the import's own writes fail too.
  // `self` runs the effect it is given when it starts completing the import: from then on, a
  // renewal that finds the claim gone leaves the outcome to the completion, which checks the
  // claim itself. The renewal may have waited for the completion's own write (the report clears
  // the claim): failing then would tell a call whose import completed that it is in progress.
  const holdingClaim = (tenant: TenantId, importId: string, token: string) =>
  <A, E, R>(self: (completing: Effect.Effect<void>) => Effect.Effect<A, E, R>): Effect.Effect<A, E | ImportInProgress, R> =>
    Effect.flatMap(Ref.make(false), (completing) =>
      Effect.raceFirst(
        self(Ref.set(completing, true)),
        Effect.forever(Effect.gen(function*() {
          yield* Effect.sleep(ConsentImport.claimRenewal)
          const now = yield* Clock.currentTimeMillis
          const held = yield* store.renewImportClaim(tenant, importId, token, new Date(now + claimMillis)).pipe(
            Effect.catchAll((error) =>
              Effect.as(Effect.logWarning(`ConsentLedger.importContacts: ${error.message}; tried again later`), true)
            )
          )
          if (held) return
          if (yield* Ref.get(completing)) return yield* Effect.never
          return yield* new ImportInProgress({ tenantId: tenant, importId })
        }))
      ))

  const importContacts = <E>(tenant: TenantId, request: ConsentImport.ImportRequest<E>) =>
    Effect.gen(function*() {
      // Checked before anything is written or audited: a call from untyped code may pass anything.
      if (!isTenantId(tenant)) return yield* tenantInvalid()
      if (typeof request !== "object" || request === null) return yield* requestInvalid("request: invalid")
      const { contacts, ...rest } = request
      const decoded = yield* Effect.either(
        Schema.decodeUnknown(ConsentImport.ImportOptions, { errors: "all", onExcessProperty: "error" })(rest)
      )
      const contactsIssues = isContacts(contacts)
        ? []
        : [contacts === undefined ? "contacts: missing" : "contacts: invalid (an Iterable or a Stream of contacts)"]
      if (Either.isLeft(decoded)) return yield* requestInvalid(...describeIssues(decoded.left, "request"), ...contactsIssues)
      if (contactsIssues.length > 0) return yield* requestInvalid(...contactsIssues)
      const options = decoded.right
      const wanted = ConsentEvent.normalizeLists(options.lists)
      const listIds = (yield* lists.require(tenant, wanted)).map((list) => list.id)
      const now = yield* Clock.currentTimeMillis
      const attestation = ConsentImport.attestationHash(options.attestation)
      const record: ConsentStore.ImportRecord = {
        importId: uuidV7At(now),
        attestation: ConsentImport.attestationJson(options.attestation),
        attestationHash: attestation,
        startedAt: new Date(now),
        report: Option.none()
      }
      const sourceOf = (importId: string) => ({ type: "import" as const, importId, attestation })

      if (options.idempotencyKey === undefined) {
        yield* store.saveImport(tenant, record)
        return yield* runImport(tenant, options, listIds, sourceOf(record.importId), false, contacts, undefined, Effect.void)
      }

      const token = uuidV7At(now)
      const claimed = yield* store.claimImport(tenant, record, {
        keyHash: yield* vault.blindIndex(tenant, importKeyDomain, options.idempotencyKey),
        optionsHash: ConsentImport.optionsHash(options, listIds),
        token,
        now: new Date(now),
        until: new Date(now + claimMillis)
      })
      switch (claimed._tag) {
        case "Conflict":
          return yield* new ImportKeyConflict({ tenantId: tenant, importId: claimed.importId })
        case "Busy":
          return yield* new ImportInProgress({ tenantId: tenant, importId: claimed.importId, claimedUntil: claimed.until })
        case "Completed":
          return yield* Option.match(Option.flatMap(claimed.record.report, ConsentImport.reportFromJson), {
            onNone: () => Effect.dieMessage(`ConsentLedger.importContacts: the report of import ${claimed.record.importId} is unreadable`),
            onSome: Effect.succeed
          })
      }
      const importId = claimed._tag === "Started" ? record.importId : claimed.record.importId
      return yield* holdingClaim(tenant, importId, token)((completing) =>
        runImport(tenant, options, listIds, sourceOf(importId), claimed._tag === "Resumed", contacts, token, completing)
      ).pipe(
        // Failed or interrupted: the key is free at once for a retry, which continues the import.
        Effect.onError(() => Effect.ignore(store.releaseImportClaim(tenant, importId, token)))
      )
    }).pipe(Effect.withSpan("ConsentLedger.importContacts", { captureStackTrace: false, attributes: { tenant: describeTenant(tenant) } }))

  // ---- reading -----------------------------------------------------------------

  const eventOf = (tenant: TenantId, id: string) =>
    Effect.flatMap(
      isEventId(id) ? store.event(tenant, id) : Effect.succeed(Option.none()),
      Option.match({
        onNone: () =>
          Effect.fail(
            new ConsentEventNotFound({ tenantId: isTenantId(tenant) ? tenant : "", ...(isEventId(id) ? { eventId: id } : {}) })
          ),
        onSome: Effect.succeed
      })
    )

  const subjectEvents = (tenant: TenantId, subject: SubjectId) =>
    allEvents((after) => store.events(tenant, { subject, after, limit: page }))

  const appendDisclosure = (tenant: TenantId, event: AuditEvent) =>
    log.append(tenant, event).pipe(
      // The actor was checked, and the rest is made here.
      Effect.catchTag("AuditEventInvalid", Effect.die),
      Effect.asVoid
    )

  // The audit entry of one event's disclosure, naming the fields it decrypts; none when the
  // event has no sealed field (nothing is decrypted).
  const auditDisclosure = (actor: Actor, recorded: ConsentEvent.Recorded) => {
    const fields = sealedFields.filter((field) => (field === "ip" ? recorded.ipSealed : recorded.userAgentSealed) !== undefined)
    return fields.length === 0 ? Effect.void : appendDisclosure(
      recorded.event.tenant,
      new AuditEvent({
        actor,
        action: "consent.disclosed",
        purpose: "consent-proof",
        subject: recorded.event.subject,
        resource: ConsentProof.auditResourceOf(recorded.event),
        details: { disclosed: fields }
      })
    )
  }

  const disclose = (recorded: ConsentEvent.Recorded, request: DisclosureRequest) =>
    Effect.gen(function*() {
      if (!isRecorded(recorded)) return yield* requestInvalid("recorded: invalid (an event as the ledger gives it)")
      const actor = yield* checkDisclosureActor(request?.actor, true)
      yield* auditDisclosure(actor, recorded)
      const [disclosed] = yield* openFields(vault, recorded.event.tenant, [recorded])
      return yield* disclosed!
    })

  const exportDisclosure = (tenant: TenantId, request: ExportDisclosureRequest) =>
    Effect.gen(function*() {
      if (!isTenantId(tenant)) return yield* tenantInvalid()
      if (typeof request !== "object" || request === null) return yield* requestInvalid("request: invalid")
      if (!isFormatName(request.format)) {
        return yield* requestInvalid("format: invalid (1 to 64 lower-case letters, digits, '.', '_' or '-')")
      }
      if (request.subject !== undefined && !isSubjectId(request.subject)) {
        return yield* requestInvalid("subject: invalid")
      }
      if (request.records !== undefined && !(Number.isSafeInteger(request.records) && request.records >= 0)) {
        return yield* requestInvalid("records: invalid")
      }
      const actor = yield* checkDisclosureActor(request.actor, request.subject !== undefined)
      const details: { readonly [key: string]: Json } = {
        format: request.format,
        scope: request.subject === undefined ? "tenant" : "subject",
        disclosed: ["ip_address", "user_agent"],
        ...(request.records !== undefined ? { records: request.records } : {})
      }
      yield* appendDisclosure(
        tenant,
        new AuditEvent({
          actor,
          action: "consent.exported",
          purpose: "consent-proof",
          ...(request.subject !== undefined ? { subject: request.subject } : {}),
          resource: { type: "consent-export", id: request.format },
          details
        })
      )
      const discloser: Discloser = (recorded) => openFields(vault, tenant, recorded)
      return discloser
    })

  const proof = (tenant: TenantId, id: string, options?: ProofOptions) =>
    Effect.gen(function*() {
      if (!isTenantId(tenant)) return yield* tenantInvalid()
      const disclosing = options?.disclose === true
      // The actor first: a refused one reads, signs and appends nothing.
      const actor = disclosing ? yield* checkDisclosureActor(options.actor, true) : undefined
      const stored = yield* eventOf(tenant, id)
      const unavailable = (reason: string) =>
        new ConsentProofUnavailable({ tenantId: tenant, eventId: stored.event.id, reason })
      const entry = yield* log.entry(tenant, stored.auditIndex).pipe(
        Effect.catchTag("AuditEntryNotFound", () => Effect.fail(unavailable("its audit entry is missing")))
      )
      if (Option.isNone(entry.details)) return yield* unavailable("the details of its audit entry were redacted")
      const details = entry.details.value.value
      if (Object.keys(details).length !== 1 || details.eventSha256 !== stored.hash) {
        return yield* unavailable("its audit entry does not commit to the event")
      }
      const bundle = yield* log.proofBundle(tenant, stored.auditIndex).pipe(
        Effect.catchTag("AuditEntryNotFound", () => Effect.fail(unavailable("its audit entry is missing")))
      )
      let disclosures: Disclosed | undefined
      if (actor !== undefined) {
        yield* auditDisclosure(actor, stored)
        const [disclosed] = yield* openFields(vault, tenant, [stored])
        disclosures = yield* disclosed!
      }
      return new ConsentProof.ConsentProof({
        version: 1,
        event: stored.bytes,
        auditDetails: ConsentProof.auditDetailsOf(stored.hash),
        auditDetailsSalt: entry.details.value.salt,
        audit: bundle,
        ...(disclosures !== undefined ? { disclosures } : {})
      })
    }).pipe(Effect.withSpan("ConsentLedger.proof", { captureStackTrace: false, attributes: { tenant: describeTenant(tenant) } }))

  // A subject id is caller input: one that is not a lower-case UUID has no events on any store
  // (PostgreSQL would refuse some spellings and read an upper-case one as the subject's id). A
  // tenant id that is not one the store's check answers for (`checkingTenant`).
  const statesOf = (tenant: TenantId, subject: SubjectId) =>
    isSubjectId(subject) ? store.states(tenant, subject) : Effect.succeed([])

  // A list argument in a span's attributes, which tracing exports: a list id, or nothing of the
  // text given (an address passed by mistake must not leave the process).
  const listAttribute = (list: string) => Schema.is(ConsentLists.ListId)(list) ? list : "(not a list id)"

  return ConsentLedger.of({
    record,
    importContacts,
    stateOf: (tenant, subject) =>
      statesOf(tenant, subject).pipe(Effect.withSpan("ConsentLedger.stateOf", { captureStackTrace: false, attributes: { tenant: describeTenant(tenant), subject: describeSubject(subject) } })),
    stateAt: (tenant, subject, at) =>
      Effect.suspend((): Effect.Effect<ReadonlyArray<ConsentState.ListState>, ConsentRequestInvalid | ConsentStore.ConsentStoreError> =>
        // An Invalid Date is no time: before every event, it would answer "no consent".
        !isTime(at)
          ? Effect.fail(requestInvalid("at: invalid (a Date that is a valid time)"))
          : Effect.map(
            isSubjectId(subject) ? subjectEvents(tenant, subject) : Effect.succeed([]),
            (events) => ConsentState.replay(events.map((s) => s.event), at)
          )
      ).pipe(
        Effect.withSpan("ConsentLedger.stateAt", { captureStackTrace: false, attributes: { tenant: describeTenant(tenant), subject: describeSubject(subject) } })
      ),
    mayReceiveMarketing: (tenant, subject, list) =>
      Effect.map(statesOf(tenant, subject), (states) =>
        ConsentState.mayReceiveMarketing(states.find((state) => state.list === list))).pipe(
          Effect.withSpan("ConsentLedger.mayReceiveMarketing", { captureStackTrace: false, attributes: { tenant: describeTenant(tenant), subject: describeSubject(subject), list: listAttribute(list) } })
        ),
    recipients: (tenant, list) =>
      Stream.unwrap(
        Effect.map(lists.require(tenant, [list]), ([declared]) =>
          Stream.paginateChunkEffect(undefined as SubjectId | undefined, (after) =>
            Effect.map(store.recipients(tenant, declared!.id, after, page), (subjects) => [
              Chunk.unsafeFromArray(subjects as Array<SubjectId>),
              subjects.length < page ? Option.none() : Option.some<SubjectId | undefined>(subjects[subjects.length - 1])
            ])))
      ).pipe(Stream.withSpan("ConsentLedger.recipients", { captureStackTrace: false, attributes: { tenant: describeTenant(tenant), list: listAttribute(list) } })),
    events: (tenant, query) =>
      Effect.suspend(() =>
        // The stores read a bad limit or cursor differently (a page of one, none, every event, or a
        // failed statement). Neither is quoted: it may be any text.
        !(Number.isSafeInteger(query.limit) && query.limit >= 1)
          ? Effect.dieMessage("ConsentLedger.events: limit must be a positive integer")
          : !isCursor(query.after)
          ? Effect.dieMessage("ConsentLedger.events: after must be a whole number (the seq of an event) or undefined")
          : query.subject !== undefined && !isSubjectId(query.subject)
          ? Effect.succeed([])
          : store.events(tenant, query)
      ).pipe(Effect.withSpan("ConsentLedger.events", { captureStackTrace: false, attributes: { tenant: describeTenant(tenant) } })),
    event: (tenant, id) => eventOf(tenant, id).pipe(Effect.withSpan("ConsentLedger.event", { captureStackTrace: false, attributes: { tenant: describeTenant(tenant) } })),
    disclose: (recorded, request) =>
      disclose(recorded, request).pipe(Effect.withSpan("ConsentLedger.disclose", { captureStackTrace: false })),
    exportDisclosure: (tenant, request) =>
      exportDisclosure(tenant, request).pipe(
        Effect.withSpan("ConsentLedger.exportDisclosure", { captureStackTrace: false, attributes: { tenant: describeTenant(tenant) } })
      ),
    proof,
    rebuildProjection: (tenant) =>
      store.rebuildProjection(tenant).pipe(Effect.withSpan("ConsentLedger.rebuildProjection", { captureStackTrace: false, attributes: { tenant: describeTenant(tenant) } })),
    erase: (tenant, subject) =>
      (isSubjectId(subject) ? store.eraseSubject(tenant, subject) : Effect.succeed(0)).pipe(Effect.withSpan("ConsentLedger.erase", { captureStackTrace: false, attributes: { tenant: describeTenant(tenant), subject: describeSubject(subject) } })),
    verifierKey: log.verifierKey
  })
})

/**
 * The ledger over the stores, lists, directory, suppression list, Vault and
 * audit log provided to it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<
  ConsentLedger,
  never,
  | ConsentStore.ConsentStore
  | ConsentLists.ConsentLists
  | SubjectDirectory.SubjectDirectory
  | SuppressionList.SuppressionList
  | Vault.Vault
  | AuditLog.AuditLog
> = Layer.scoped(ConsentLedger, make)

/**
 * The ledger with its store and lists in memory (both also provided).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<
  ConsentLedger | ConsentStore.ConsentStore | ConsentLists.ConsentLists,
  never,
  SubjectDirectory.SubjectDirectory | SuppressionList.SuppressionList | Vault.Vault | AuditLog.AuditLog
> = layer.pipe(Layer.provideMerge(Layer.merge(ConsentStore.layerMemory, ConsentLists.layerMemory)))

/**
 * The ledger with its store and lists on SQL (both also provided), migrated on start-up.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSql: Layer.Layer<
  ConsentLedger | ConsentStore.ConsentStore | ConsentLists.ConsentLists,
  Migrations.MigrationFailed,
  | SqlClient.SqlClient
  | SubjectDirectory.SubjectDirectory
  | SuppressionList.SuppressionList
  | Vault.Vault
  | AuditLog.AuditLog
> = layer.pipe(Layer.provideMerge(Layer.merge(ConsentStore.layerSql, ConsentLists.layerSql)))

// ---- registrations ----------------------------------------------------------------

/**
 * The name of the ledger's personal-data source.
 *
 * @since 0.1.0
 * @category models
 */
export const sourceName = "consent-proof"

/**
 * The retention category of withdrawn-consent proofs.
 *
 * @since 0.1.0
 * @category models
 */
export const withdrawnProofCategory = "consent.withdrawn-proof"

const noRecords: PersonalDataRegistry.SourceExport = { records: [] }

/**
 * The actor of the audit entries the personal-data source appends: core's
 * `PersonalDataSource.export` names no actor.
 *
 * @since 0.1.0
 * @category models
 */
export const sourceActor: Actor = { kind: "system", id: sourceName }

/**
 * The ledger as a personal-data source (see the module documentation).
 * Each event exports as one record of category `"consent.event"` whose
 * fields are the event's (IP address and user agent decrypted). Before it
 * decrypts, an export of a subject with events appends one audit entry
 * `consent.exported`, as every export that decrypts does: the actor is
 * `sourceActor` (the registry's contract gives the source none), with the
 * subject, and details `{ format: "personal-data-source", scope: "subject",
 * disclosed, records }` (the count of records; never a value). The
 * registry's caller (a subject's access or portability request) records the
 * request it fulfils, with its own actor. A subject with no events, or whose
 * key was shredded, exports nothing and appends nothing.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeSource = (
  ledger: Context.Tag.Service<typeof ConsentLedger>,
  vault: Context.Tag.Service<typeof Vault.Vault>
): PersonalDataRegistry.PersonalDataSource => {
  const fail = (operation: PersonalDataRegistry.Operation) => PersonalDataRegistry.sourceError(sourceName, operation)
  return {
    name: sourceName,
    description: "Consent events (grants, confirmations, withdrawals) with their sealed IP address and user agent",
    categories: ["consent.event", "consent.ip", "consent.user-agent"],
    purposes: ["consent-proof", "marketing"],
    retentionCategories: [withdrawnProofCategory],
    export: (tenant, subject) =>
      Effect.gen(function*() {
        // Ids that are not lower-case UUIDs name no data (as for `ledger.events`).
        if (!isTenantId(tenant) || !isSubjectId(subject)) return noRecords
        if (yield* vault.isShredded(tenant, subject)) return noRecords
        const events = yield* allEvents((after) => ledger.events(tenant, { subject, after, limit: page }))
        if (events.length === 0) return noRecords
        const discloser = yield* ledger.exportDisclosure(tenant, {
          actor: sourceActor,
          subject,
          format: "personal-data-source",
          records: events.length
        })
        // Every field opens with one key-store read; a shredded subject exports nothing.
        const opened = yield* discloser(events)
        const records = yield* Effect.forEach(events, (stored, i) =>
          Effect.map(opened[i]!, (disclosed): PersonalDataRegistry.SourceRecord => ({
            category: "consent.event",
            fields: {
              ...ConsentEvent.toDocument(stored.event),
              ip: disclosed.ip?.value ?? null,
              userAgent: disclosed.userAgent?.value ?? null,
              auditIndex: stored.auditIndex,
              eventSha256: stored.hash
            },
            recordedAt: stored.event.time.toISOString()
          })))
        return { records }
      }).pipe(
        Effect.catchTag("SubjectShredded", () => Effect.succeed(noRecords)),
        Effect.mapError(fail("export"))
      ),
    erase: (tenant, subject) =>
      ledger.erase(tenant, subject).pipe(Effect.map((erased) => ({ erased })), Effect.mapError(fail("erase"))),
    rectify: () => Effect.succeed({ rectified: 0 })
  }
}

/**
 * Registers the ledger in the `PersonalDataRegistry` (see `makeSource`).
 *
 * @since 0.1.0
 * @category layers
 */
export const personalDataSource: Layer.Layer<
  never,
  PersonalDataRegistry.SourceAlreadyRegistered,
  PersonalDataRegistry.PersonalDataRegistry | ConsentLedger | Vault.Vault
> = PersonalDataRegistry.register(Effect.zipWith(ConsentLedger, Vault.Vault, makeSource))

/**
 * The retention category `"consent.withdrawn-proof"` over a store: a record
 * is the consent history (events and states) of a subject whose every list
 * is withdrawn, timed from its last withdrawal. Default period 3 years,
 * at most 10; deleted when purged.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeRetentionTarget = (
  store: Context.Tag.Service<typeof ConsentStore.ConsentStore>
): RetentionTarget.RetentionTarget => {
  const fail = (operation: string) => RetentionTarget.targetError(withdrawnProofCategory, operation)
  return {
    id: withdrawnProofCategory,
    description: "Proof of consent of subjects who withdrew from every list, kept for legal claims",
    action: "delete",
    allowForever: false,
    defaultPeriod: Duration.days(3 * 365),
    maxPeriod: Duration.days(10 * 365),
    linksSubjects: true,
    tenants: store.tenants.pipe(Effect.mapError(fail("list tenants"))),
    purgeBatch: (tenant, batch) =>
      store.purgeWithdrawn(tenant, batch).pipe(
        Effect.map((purged) => ({ purged, more: purged >= batch.limit })),
        Effect.mapError(fail("purge"))
      ),
    count: (tenant, selection) => store.countWithdrawn(tenant, selection).pipe(Effect.mapError(fail("count"))),
    oldest: (tenant, { excludeSubjects }) =>
      store.oldestWithdrawn(tenant, excludeSubjects).pipe(Effect.mapError(fail("find the oldest record"))),
    client: store.client
  }
}

/**
 * Registers `"consent.withdrawn-proof"` in the `RetentionTargets` registry.
 *
 * @since 0.1.0
 * @category layers
 */
export const withdrawnProofRetention: Layer.Layer<
  never,
  RetentionTarget.RetentionTargetInvalid | RetentionTarget.TargetAlreadyRegistered,
  RetentionTarget.RetentionTargets | ConsentStore.ConsentStore
> = RetentionTarget.register(Effect.map(ConsentStore.ConsentStore, makeRetentionTarget))
