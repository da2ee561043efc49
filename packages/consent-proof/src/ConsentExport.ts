/**
 * Exports of consent events, per subject or for a whole tenant, as JSON
 * (field names of ISO/IEC TS 27560 consent records) and as CSV (one row per
 * event, RFC 4180). Both are streams read a page of events at a time
 * (1,000 by default): the table is never held in memory, whatever its size.
 *
 * IP addresses and user agents are decrypted unless `disclose` is false; a
 * subject whose key was shredded exports its events with those fields empty.
 * An export that decrypts names its `actor` (required by the types) and
 * appends one audit entry `consent.exported` before it reads anything: the
 * actor, the subject when the export is one subject's, and the details
 * `{ format, scope: "tenant" | "subject", disclosed: ["ip_address", "user_agent"] }`
 * (never an address, an IP or a user agent), however many pages it reads. The
 * subject may be the actor of an export of its own events only. An export
 * with `disclose: false` decrypts nothing and appends nothing.
 *
 * `pageSize` is an integer from 1 to 10,000 (as an import's `batchSize`).
 * Bad options (a page size out of range, not an integer or NaN; an actor the
 * audit log refuses; a `subject` that is not a subject id) fail the stream
 * with `ConsentRequestInvalid` before anything is read, appended or
 * decrypted.
 *
 * ## CSV columns
 *
 * | column | content |
 * |---|---|
 * | `record_id` | the event id |
 * | `tenant_id` | the tenant (the controller) |
 * | `subject_id` | the subject (the PII principal) |
 * | `event_type` | `consent_given`, `consent_confirmed` or `consent_withdrawn` |
 * | `event_time` | ISO 8601, UTC, milliseconds |
 * | `lists` | the list ids, separated by spaces |
 * | `awaiting_confirmation` | the lists of a grant pending double opt-in, separated by spaces |
 * | `lawful_basis` | `consent`, `contract`, ... (GDPR Art. 6(1)) |
 * | `source_type` | `form`, `import`, `api`, `preference-centre`, `unsubscribe-link` |
 * | `form_id`, `form_version` | for forms (`form_id` as under Formulas) |
 * | `import_id`, `attestation_sha256`, `collected_at` | for imports |
 * | `notice_text_sha256`, `notice_labels_sha256`, `privacy_policy_sha256` | the notice shown (see `ConsentNotice`) |
 * | `language` | BCP 47 |
 * | `ip_address`, `user_agent` | decrypted, or empty (`user_agent` as under Formulas) |
 * | `confirms` | the grants a confirmation confirms, separated by spaces |
 * | `withdrawal_reason` | for withdrawals |
 * | `audit_index` | the index of the event's audit entry |
 * | `event_sha256` | the hash of the event's canonical bytes |
 *
 * The first line holds the column names; lines end with CRLF; a field with a
 * comma, a double quote, CR or LF is quoted and its quotes doubled.
 *
 * ## Formulas
 *
 * Two columns hold text that comes from outside the platform: `user_agent`
 * (sent by the subject's browser) and `form_id` (sent with the request that
 * records a grant). A spreadsheet runs a cell that starts with `=`, `+`,
 * `-`, `@`, a tab or a carriage return as a formula (CSV injection), so such
 * a cell of these two columns is written with a single quote `'` before it
 * (OWASP's recommendation), and so is one that starts with `'` itself: to
 * recover the recorded value from either column, drop one leading `'` when
 * the cell starts with one. Every other column has a fixed format that
 * cannot start a formula (ids, ISO 8601 times, hashes, numbers, list ids,
 * language tags, IP addresses, literals) and is written exactly. The JSON
 * export, `ConsentLedger.disclose` and the proofs carry the exact values.
 *
 * @since 0.1.0
 */
import type { Actor, Json } from "@lawful/audit-trail/AuditEvent"
import type { AuditStoreError } from "@lawful/audit-trail/AuditTrail"
import * as Csv from "@lawful/core/Csv"
import { is as isSubjectId, type SubjectId } from "@lawful/core/SubjectId"
import { describe as describeTenant, type TenantId } from "@lawful/core/TenantId"
import type { VaultError } from "@lawful/core/Vault"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { ConsentEvent } from "./ConsentEvent.js"
import { ConsentLedger, ConsentRequestInvalid } from "./ConsentLedger.js"
import type { Disclosed, Discloser } from "./ConsentLedger.js"
import { ConsentLists } from "./ConsentLists.js"
import type { ConsentList, ConsentListsError } from "./ConsentLists.js"
import type { ConsentStoreError, StoredEvent } from "./ConsentStore.js"

/**
 * Which events to export, and how many to read per page.
 *
 * @since 0.1.0
 * @category models
 */
export interface ExportScope {
  /** One subject's events only. */
  readonly subject?: SubjectId | undefined
  /** Events read per page: an integer from 1 to 10,000 (default 1,000). */
  readonly pageSize?: number | undefined
}

/**
 * What to export. IP addresses and user agents are decrypted unless
 * `disclose` is false, and an export that decrypts names its `actor` for the
 * audit log.
 *
 * @since 0.1.0
 * @category models
 */
export type ExportOptions =
  | ExportScope & {
    /** Decrypt IP addresses and user agents (the default). */
    readonly disclose?: true | undefined
    /** Who runs the export, for its audit entry. */
    readonly actor: Actor
  }
  | ExportScope & {
    readonly disclose: false
    readonly actor?: Actor | undefined
  }

/**
 * The largest `pageSize`.
 *
 * @since 0.1.0
 * @category models
 */
export const maxPageSize = 10_000

/**
 * An event with its decrypted fields.
 *
 * @since 0.1.0
 * @category models
 */
export interface ExportedEvent {
  readonly stored: StoredEvent
  readonly ip: string | undefined
  readonly userAgent: string | undefined
}

/**
 * The `event_type` of an event.
 *
 * @since 0.1.0
 * @category encoding
 */
export const eventType = (event: ConsentEvent): string =>
  event.kind === "granted" ? "consent_given" : event.kind === "confirmed" ? "consent_confirmed" : "consent_withdrawn"

/**
 * The `event_state` of an event: `pending` for a grant whose every list
 * awaits confirmation, `given` for other grants and confirmations,
 * `withdrawn` for withdrawals.
 *
 * @since 0.1.0
 * @category encoding
 */
export const eventState = (event: ConsentEvent): string =>
  event.kind === "withdrawn"
    ? "withdrawn"
    : event.kind === "granted" && event.awaitingConfirmation.length === event.lists.length
    ? "pending"
    : "given"

const noFields = (): Disclosed => ({})

/**
 * What an export may fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type ExportError = ConsentRequestInvalid | AuditStoreError | ConsentStoreError | VaultError

const isPageSize = (value: unknown): value is number =>
  typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= maxPageSize

// The options checked and, when the export decrypts, its audit entry appended (nothing read
// before either), then the stream of its pages.
const prepareExport = (
  tenant: TenantId,
  options: ExportOptions,
  format: string
): Effect.Effect<
  Stream.Stream<ExportedEvent, ConsentStoreError | VaultError>,
  ConsentRequestInvalid | AuditStoreError,
  ConsentLedger
> =>
  Effect.gen(function*() {
    const ledger = yield* ConsentLedger
    const limit = options.pageSize ?? 1000
    if (!isPageSize(limit)) {
      return yield* new ConsentRequestInvalid({ issues: [`pageSize: invalid (an integer from 1 to ${maxPageSize})`] })
    }
    if (options.subject !== undefined && !isSubjectId(options.subject)) {
      return yield* new ConsentRequestInvalid({ issues: ["subject: invalid"] })
    }
    // Undefined when nothing is decrypted. The ledger checks the actor, and appends the
    // export's one audit entry, before any page is read.
    const discloser: Discloser | undefined = options.disclose === false
      ? undefined
      : yield* ledger.exportDisclosure(tenant, { actor: options.actor, subject: options.subject, format })
    // A page's fields open together (one key-store read for the keys not cached); a field
    // that does not open (its subject shredded) is left empty.
    const open = (rows: ReadonlyArray<StoredEvent>) =>
      discloser === undefined
        ? Effect.succeed(rows.map(noFields))
        : Effect.map(discloser(rows), (outcomes) => outcomes.map(Either.getOrElse(noFields)))
    return Stream.paginateChunkEffect(undefined as number | undefined, (after) =>
      ledger.events(tenant, { subject: options.subject, after, limit }).pipe(
        Effect.flatMap((rows) =>
          Effect.map(open(rows), (opened) => {
            const exported = rows.map((stored, i): ExportedEvent => ({
              stored,
              ip: opened[i]!.ip?.value,
              userAgent: opened[i]!.userAgent?.value
            }))
            // `limit` is at least 1: a full page has a last event.
            const next = rows.length < limit ? Option.none<number | undefined>() : Option.some(rows[rows.length - 1]!.seq)
            return [Chunk.unsafeFromArray(exported), next] as const
          })
        )
      ))
  })

// A tenant argument that is not an id (an address in the wrong place) is not quoted.
const traced = (format: string, tenant: TenantId) =>
  Stream.withSpan(`ConsentExport.${format}`, { captureStackTrace: false, attributes: { tenant: describeTenant(tenant) } })

/**
 * A tenant's events (or one subject's) in recording order, with their
 * decrypted fields, a page at a time. Audited as the module documentation
 * says (format `"events"`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const events = (
  tenant: TenantId,
  options: ExportOptions
): Stream.Stream<ExportedEvent, ExportError, ConsentLedger> =>
  Stream.unwrap(prepareExport(tenant, options, "events")).pipe(traced("events", tenant))

/**
 * The CSV columns, in order (see the module documentation).
 *
 * @since 0.1.0
 * @category models
 */
export const csvColumns: ReadonlyArray<string> = [
  "record_id",
  "tenant_id",
  "subject_id",
  "event_type",
  "event_time",
  "lists",
  "awaiting_confirmation",
  "lawful_basis",
  "source_type",
  "form_id",
  "form_version",
  "import_id",
  "attestation_sha256",
  "collected_at",
  "notice_text_sha256",
  "notice_labels_sha256",
  "privacy_policy_sha256",
  "language",
  "ip_address",
  "user_agent",
  "confirms",
  "withdrawal_reason",
  "audit_index",
  "event_sha256"
]

/**
 * One CSV record (a line ending in CRLF) of an exported event; `user_agent`
 * and `form_id` are prefixed with `'` when they would start a formula (see
 * the module documentation).
 *
 * @since 0.1.0
 * @category encoding
 */
export const csvRow = ({ ip, stored, userAgent }: ExportedEvent): string => {
  const event = stored.event
  const source = event.source
  return Csv.record([
    event.id,
    event.tenant,
    event.subject,
    eventType(event),
    event.time.toISOString(),
    event.lists.join(" "),
    event.awaitingConfirmation.join(" "),
    event.lawfulBasis,
    source.type,
    source.type === "form" ? Csv.spreadsheetText(source.formId) : "",
    source.type === "form" ? String(source.formVersion) : "",
    source.type === "import" ? source.importId : "",
    source.type === "import" ? source.attestation : "",
    event.collectedAt?.toISOString() ?? "",
    event.notice?.text ?? "",
    event.notice?.labels ?? "",
    event.notice?.privacyPolicy ?? "",
    event.language ?? "",
    ip ?? "",
    Csv.spreadsheetText(userAgent ?? ""),
    event.confirms.join(" "),
    event.reason ?? "",
    String(stored.auditIndex),
    stored.hash
  ])
}

/**
 * The CSV export: the header line, then one line per event. Audited as the
 * module documentation says (format `"csv"`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const csv = (
  tenant: TenantId,
  options: ExportOptions
): Stream.Stream<string, ExportError, ConsentLedger> =>
  Stream.unwrap(Effect.map(prepareExport(tenant, options, "csv"), (rows) =>
    Stream.concat(
      Stream.succeed(Csv.record(csvColumns)),
      rows.pipe(Stream.mapChunks((chunk) => Chunk.of(Chunk.join(Chunk.map(chunk, csvRow), ""))))
    ))).pipe(traced("csv", tenant))

/**
 * The ISO/IEC TS 27560 consent record of an exported event. `lists` gives
 * the names and purposes of the tenant's lists (ids alone otherwise).
 *
 * @since 0.1.0
 * @category encoding
 */
export const toRecord = (
  { ip, stored, userAgent }: ExportedEvent,
  lists: ReadonlyMap<string, ConsentList> = new Map()
): { readonly [key: string]: Json } => {
  const event = stored.event
  const source = event.source
  return {
    schema_version: "lawful-consent-record-1",
    record_id: event.id,
    pii_principal_id: event.subject,
    pii_controllers: [{ pii_controller_id: event.tenant }],
    notice: event.notice === undefined ? null : {
      text_sha256: event.notice.text,
      labels_sha256: event.notice.labels,
      privacy_policy_sha256: event.notice.privacyPolicy
    },
    language: event.language ?? null,
    purposes: event.lists.map((list) => ({
      purpose_id: list,
      purpose_name: lists.get(list)?.name ?? null,
      purpose: lists.get(list)?.purpose ?? null,
      lawful_basis: event.lawfulBasis,
      awaiting_confirmation: event.awaitingConfirmation.includes(list)
    })),
    collection_method: {
      source: source.type,
      imported: source.type === "import",
      ...(source.type === "form" ? { form_id: source.formId, form_version: source.formVersion } : {}),
      ...(source.type === "import" ? { import_id: source.importId, attestation_sha256: source.attestation } : {})
    },
    event: [{ event_time: event.time.toISOString(), event_type: eventType(event), event_state: eventState(event) }],
    evidence: {
      ip_address: ip ?? null,
      user_agent: userAgent ?? null,
      confirms: [...event.confirms],
      withdrawal_reason: event.reason ?? null,
      collected_at: event.collectedAt?.toISOString() ?? null,
      audit_index: stored.auditIndex,
      event_sha256: stored.hash
    }
  }
}

/**
 * The JSON export: an array of ISO/IEC TS 27560 consent records (see
 * `toRecord`), written a page at a time. Audited as the module
 * documentation says (format `"json"`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const json = (
  tenant: TenantId,
  options: ExportOptions
): Stream.Stream<string, ExportError | ConsentListsError, ConsentLedger | ConsentLists> =>
  Stream.unwrap(Effect.gen(function*() {
    const rows = yield* prepareExport(tenant, options, "json")
    const declared = yield* Effect.flatMap(ConsentLists, (lists) => lists.all(tenant))
    const byId = new Map(declared.map((list) => [list.id as string, list]))
    const body = rows.pipe(
      Stream.mapChunks((chunk) => Chunk.of(Chunk.join(Chunk.map(chunk, (e) => JSON.stringify(toRecord(e, byId))), ",\n"))),
      Stream.filter((text) => text.length > 0),
      Stream.zipWithIndex,
      Stream.map(([text, i]) => (i === 0 ? text : `,\n${text}`))
    )
    return Stream.concat(Stream.concat(Stream.succeed("[\n"), body), Stream.succeed("\n]\n"))
  })).pipe(traced("json", tenant))
