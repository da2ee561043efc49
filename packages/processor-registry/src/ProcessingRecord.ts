/**
 * The record of processing activities (GDPR Art. 30), for the platform as
 * controller (Art. 30(1)) and as processor (Art. 30(2)): purposes, categories
 * of subjects and data, recipients (the processors of each activity and their
 * sub-processors, and other recipients), transfers to third countries with
 * their mechanisms, retention periods (from `RetentionPeriods`, else the
 * activity's own statement, else "not set"), and the technical and
 * organisational security measures.
 *
 * The record names every processor that holds or may receive personal data
 * (`Processor.holdsData`): an engaged (approved or suspended) one, and a
 * terminated one whose data is not yet returned or deleted, marked so
 * (`status: "terminated-data-pending"`), with its transfers. A processor
 * recorded for an activity, or a sub-processor of one, is among that
 * activity's recipients; any other is listed in `processorsWithoutActivity`,
 * with its own purposes and categories. A candidate, one under review, and a
 * terminated one whose data was returned or deleted (or that never held any)
 * are not named.
 *
 * Exported as JSON (`toJson`), CSV (`toCsv`, RFC 4180: one row per activity,
 * then one per processor linked to no activity, its Activity cell empty;
 * fields quoted when needed, lists joined with "; ", CRLF line ends; a cell
 * that a spreadsheet would read as a formula, one opening with `=`, `+`, `-`,
 * `@`, a tab or a carriage return, starts with `'`, and so does one opening
 * with `'`: `@lawful/core/Csv`'s `spreadsheetText`) and HTML (`toHtml`, a
 * complete document with every value escaped).
 *
 * @since 0.1.0
 */
import { LegalBasis } from "@lawful/audit-trail/AuditEvent"
import * as Schema from "effect/Schema"
import type { AdequacyDecision } from "./AdequacyDecisions.js"
import * as Country from "./Country.js"
import { csvDocument } from "./internal/csv.js"
import { escapeHtml, htmlDocument, htmlList } from "./internal/html.js"
import { freeText, optionalFreeText } from "./internal/text.js"
import type { ProcessingActivity } from "./ProcessingActivity.js"
import { ActingAs } from "./ProcessingActivity.js"
import { type DataHolder, exporterOf, holdsData, type Processor, ProcessorId, ProcessorStatus, statusOf } from "./Processor.js"
import * as TransferMechanism from "./TransferMechanism.js"

// Free text: a refusal names the field and what is expected, never the text.
const Text = freeText(2000)

/**
 * A technical or organisational security measure (Art. 32), by area.
 *
 * @since 0.1.0
 * @category models
 */
export const Measure = Schema.Struct({ area: Text, description: Text })

/**
 * @since 0.1.0
 * @category models
 */
export type Measure = typeof Measure.Type

/**
 * Who keeps the record: the platform's name and contact details, its data
 * protection officer and representative where it has them, and its security
 * measures. The DPA annex uses the same details.
 *
 * @since 0.1.0
 * @category models
 */
export const RecordOwner = Schema.Struct({
  name: Text,
  address: optionalFreeText(2000),
  contact: Text,
  dataProtectionOfficer: optionalFreeText(2000),
  representative: optionalFreeText(2000),
  measures: Schema.NonEmptyArray(Measure)
})

/**
 * @since 0.1.0
 * @category models
 */
export type RecordOwner = typeof RecordOwner.Type

/**
 * Where a processor named in the record stands: engaged (approved or
 * suspended), or terminated with its data not yet returned or deleted
 * (`Processor.ProcessorStatus`, re-exported here).
 *
 * @since 0.1.0
 * @category models
 */
export { ProcessorStatus } from "./Processor.js"

/**
 * A recipient of an activity's data.
 *
 * @since 0.1.0
 * @category models
 */
export const Recipient = Schema.Struct({
  name: Schema.String,
  kind: Schema.Literal("processor", "sub-processor", "other"),
  processorId: Schema.optional(ProcessorId),
  /** For a sub-processor: the processor that engages it. */
  engagedBy: Schema.optional(Schema.String),
  /** For a processor or sub-processor (absent in records made before it was given). */
  status: Schema.optional(ProcessorStatus)
})

/**
 * A transfer to a third country and its mechanism.
 *
 * @since 0.1.0
 * @category models
 */
export const Transfer = Schema.Struct({
  recipient: Schema.String,
  processorId: ProcessorId,
  country: Country.Country,
  countryName: Schema.String,
  mechanism: Schema.String,
  valid: Schema.Boolean,
  /** The legal basis when valid, what is wrong when not. */
  detail: Schema.String
})

/**
 * @since 0.1.0
 * @category models
 */
export type Transfer = typeof Transfer.Type

/**
 * The retention period of a data category and where it comes from.
 *
 * @since 0.1.0
 * @category models
 */
export const Retention = Schema.Struct({
  category: Schema.String,
  period: Schema.NullOr(Schema.String),
  source: Schema.Literal("policy", "stated", "not-set")
})

/**
 * @since 0.1.0
 * @category models
 */
export type Retention = typeof Retention.Type

/**
 * One activity in the record.
 *
 * @since 0.1.0
 * @category models
 */
export const Entry = Schema.Struct({
  activityId: Schema.String,
  name: Schema.String,
  actingAs: ActingAs,
  controllers: Schema.optional(Schema.String),
  purposes: Schema.Array(Schema.String),
  legalBasis: Schema.optional(LegalBasis),
  subjectCategories: Schema.Array(Schema.String),
  dataCategories: Schema.Array(Schema.String),
  recipients: Schema.Array(Recipient),
  transfers: Schema.Array(Transfer),
  retention: Schema.Array(Retention)
})

/**
 * @since 0.1.0
 * @category models
 */
export type Entry = typeof Entry.Type

/**
 * A processor that holds or may receive personal data and is no recipient of
 * a recorded activity: its own purposes and categories of subjects and data,
 * and its transfers. `actingAs` is the platform's capacity towards it
 * (`Processor.exporterOf`): processor for one that serves tenants or is a
 * sub-processor, controller otherwise.
 *
 * @since 0.1.0
 * @category models
 */
export const ProcessorWithoutActivity = Schema.Struct({
  processorId: ProcessorId,
  name: Schema.String,
  kind: Schema.Literal("processor", "sub-processor"),
  /** For a sub-processor: the processor that engages it. */
  engagedBy: Schema.optional(Schema.String),
  status: ProcessorStatus,
  actingAs: ActingAs,
  services: Schema.Array(Schema.String),
  purposes: Schema.Array(Schema.String),
  subjectCategories: Schema.Array(Schema.String),
  dataCategories: Schema.Array(Schema.String),
  transfers: Schema.Array(Transfer)
})

/**
 * @since 0.1.0
 * @category models
 */
export type ProcessorWithoutActivity = typeof ProcessorWithoutActivity.Type

/**
 * The record of processing activities.
 *
 * @since 0.1.0
 * @category models
 */
export class ProcessingRecord extends Schema.Class<ProcessingRecord>("@lawful/processor-registry/ProcessingRecord")({
  generatedAt: Schema.Date,
  owner: Schema.Struct({
    name: Schema.String,
    address: Schema.optional(Schema.String),
    contact: Schema.String,
    dataProtectionOfficer: Schema.optional(Schema.String),
    representative: Schema.optional(Schema.String)
  }),
  asController: Schema.Array(Entry),
  asProcessor: Schema.Array(Entry),
  /** The processors that hold or may receive data and are no activity's recipients (empty in earlier records). */
  processorsWithoutActivity: Schema.optionalWith(Schema.Array(ProcessorWithoutActivity), { default: () => [] }),
  securityMeasures: Schema.Array(Measure)
}) {}

/**
 * What a record is made from. `retention` answers for every data category of
 * the activities (a period, or none).
 *
 * @since 0.1.0
 * @category models
 */
export interface Inputs {
  readonly owner: RecordOwner
  readonly activities: ReadonlyArray<ProcessingActivity>
  readonly processors: ReadonlyArray<Processor>
  readonly decisions: ReadonlyArray<AdequacyDecision>
  readonly retention: (category: string) => string | undefined
  readonly at: Date
}

const transfersOf = (processor: Processor, at: Date, decisions: ReadonlyArray<AdequacyDecision>) =>
  processor.thirdCountryLocations.map((location): Transfer => {
    const verdict = TransferMechanism.evaluate(location.country, location.mechanism, at, decisions, exporterOf(processor))
    return {
      recipient: processor.legalName,
      processorId: processor.id,
      country: location.country,
      countryName: Country.nameOf(location.country),
      mechanism: location.mechanism ? TransferMechanism.describe(location.mechanism) : "none",
      valid: verdict._tag === "Valid",
      detail: verdict._tag === "Valid" ? verdict.basis : verdict._tag === "Invalid" ? verdict.detail : ""
    }
  })

// The processors of an activity that hold data, then their sub-processors that do, each once.
const recipientsOf = (activity: ProcessingActivity, processors: ReadonlyArray<Processor>) => {
  const byId = new Map(processors.map((processor) => [processor.id, processor]))
  type Found = { readonly processor: DataHolder; readonly engagedBy?: Processor }
  const found: Array<Found> = []
  const seen = new Set<string>()
  const queue = activity.processors.flatMap((id): Array<Found> => {
    const processor = byId.get(id)
    return processor && holdsData(processor) ? [{ processor }] : []
  })
  while (queue.length > 0) {
    const next = queue.shift()!
    if (seen.has(next.processor.id)) continue
    seen.add(next.processor.id)
    found.push(next)
    for (const sub of processors) {
      if (sub.role._tag === "SubProcessor" && sub.role.of === next.processor.id && holdsData(sub)) {
        queue.push({ processor: sub, engagedBy: next.processor })
      }
    }
  }
  return found
}

/**
 * Builds the record at `at`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = ({ activities, at, decisions, owner, processors, retention }: Inputs): ProcessingRecord => {
  const named = new Set<string>()
  const entry = (activity: ProcessingActivity): Entry => {
    const recipients = recipientsOf(activity, processors)
    for (const { processor } of recipients) named.add(processor.id)
    return {
      activityId: activity.id,
      name: activity.name,
      actingAs: activity.actingAs,
      ...(activity.controllers !== undefined ? { controllers: activity.controllers } : {}),
      purposes: activity.purposes,
      ...(activity.legalBasis !== undefined ? { legalBasis: activity.legalBasis } : {}),
      subjectCategories: activity.subjectCategories,
      dataCategories: activity.dataCategories,
      recipients: [
        ...recipients.map(({ engagedBy, processor }) => ({
          name: processor.legalName,
          kind: engagedBy ? "sub-processor" as const : "processor" as const,
          processorId: processor.id,
          ...(engagedBy ? { engagedBy: engagedBy.legalName } : {}),
          status: statusOf(processor)
        })),
        ...activity.otherRecipients.map((name) => ({ name, kind: "other" as const }))
      ],
      transfers: recipients.flatMap(({ processor }) => transfersOf(processor, at, decisions)),
      retention: activity.dataCategories.map((category): Retention => {
        const period = retention(category)
        if (period !== undefined) return { category, period, source: "policy" }
        if (activity.retention !== undefined) return { category, period: activity.retention, source: "stated" }
        return { category, period: null, source: "not-set" }
      })
    }
  }
  const { measures, ...details } = owner
  const asController = activities.filter((a) => a.actingAs === "controller").map(entry)
  const asProcessor = activities.filter((a) => a.actingAs === "processor").map(entry)
  const byId = new Map(processors.map((processor) => [processor.id, processor]))
  return new ProcessingRecord({
    generatedAt: at,
    owner: details,
    asController,
    asProcessor,
    processorsWithoutActivity: processors
      .filter(holdsData)
      .filter((processor) => !named.has(processor.id))
      .map((processor): ProcessorWithoutActivity => {
        const engagedBy = processor.role._tag === "SubProcessor" ? byId.get(processor.role.of)?.legalName : undefined
        return {
          processorId: processor.id,
          name: processor.legalName,
          kind: processor.role._tag === "SubProcessor" ? "sub-processor" : "processor",
          ...(engagedBy !== undefined ? { engagedBy } : {}),
          status: statusOf(processor),
          actingAs: exporterOf(processor),
          services: processor.services,
          purposes: processor.purposes,
          subjectCategories: processor.subjectCategories,
          dataCategories: processor.dataCategories,
          transfers: transfersOf(processor, at, decisions)
        }
      }),
    securityMeasures: measures
  })
}

/**
 * The record as JSON (dates as ISO 8601 strings).
 *
 * @since 0.1.0
 * @category constructors
 */
export const toJson = (record: ProcessingRecord): string =>
  JSON.stringify(Schema.encodeSync(ProcessingRecord)(record), null, 2)

const ownerLine = (owner: ProcessingRecord["owner"]) =>
  [
    owner.name,
    owner.address,
    owner.contact,
    owner.dataProtectionOfficer && `DPO: ${owner.dataProtectionOfficer}`,
    owner.representative && `Representative: ${owner.representative}`
  ].filter((part): part is string => part !== undefined).join("; ")

const statusText = (status: ProcessorStatus | undefined) =>
  status === "terminated-data-pending" ? ", terminated: data not yet returned or deleted" : ""

const recipientText = (recipient: {
  readonly name: string
  readonly kind: "processor" | "sub-processor" | "other"
  readonly engagedBy?: string | undefined
  readonly status?: ProcessorStatus | undefined
}) =>
  recipient.kind === "sub-processor"
    ? `${recipient.name} (sub-processor of ${recipient.engagedBy}${statusText(recipient.status)})`
    : recipient.kind === "processor"
    ? `${recipient.name} (processor${statusText(recipient.status)})`
    : recipient.name

const transferText = (transfer: Transfer) =>
  `${transfer.recipient} -> ${transfer.country} (${transfer.countryName}): ${transfer.mechanism}${
    transfer.valid ? "" : ` [INVALID: ${transfer.detail}]`
  }`

const retentionText = (retention: Retention) => `${retention.category}: ${retention.period ?? "not set"}`

const measureText = (measure: Measure) => `${measure.area}: ${measure.description}`

/**
 * The columns of the CSV export.
 *
 * @since 0.1.0
 * @category models
 */
export const csvColumns = [
  "Acting as",
  "Activity",
  "Controller",
  "Processor",
  "Purposes",
  "Legal basis",
  "Categories of data subjects",
  "Categories of personal data",
  "Recipients",
  "Transfers to third countries",
  "Retention",
  "Security measures"
] as const

/**
 * The record as CSV (RFC 4180), one row per activity, then one per processor
 * linked to no activity (its Activity, Legal basis and Retention cells empty,
 * its purposes and categories its own); cells that would open a spreadsheet
 * formula, or that open with `'`, start with `'`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const toCsv = (record: ProcessingRecord): string => {
  const owner = ownerLine(record.owner)
  const measures = record.securityMeasures.map(measureText).join("; ")
  const row = (entry: Entry): ReadonlyArray<string> => [
    entry.actingAs,
    entry.name,
    entry.actingAs === "controller" ? owner : entry.controllers ?? "",
    entry.actingAs === "processor" ? owner : "",
    entry.purposes.join("; "),
    entry.legalBasis ?? "",
    entry.subjectCategories.join("; "),
    entry.dataCategories.join("; "),
    entry.recipients.map(recipientText).join("; "),
    entry.transfers.map(transferText).join("; "),
    entry.retention.map(retentionText).join("; "),
    measures
  ]
  const processorRow = (processor: ProcessorWithoutActivity): ReadonlyArray<string> => [
    processor.actingAs,
    "",
    processor.actingAs === "controller" ? owner : "",
    processor.actingAs === "processor" ? owner : "",
    processor.purposes.join("; "),
    "",
    processor.subjectCategories.join("; "),
    processor.dataCategories.join("; "),
    recipientText(processor),
    processor.transfers.map(transferText).join("; "),
    "",
    measures
  ]
  return csvDocument(csvColumns, [
    ...[...record.asController, ...record.asProcessor].map(row),
    ...record.processorsWithoutActivity.map(processorRow)
  ])
}

const entryRows = (entries: ReadonlyArray<Entry>, withControllers: boolean) =>
  entries.map((entry) =>
    `<tr>
<th scope="row">${escapeHtml(entry.name)}</th>
${withControllers ? `<td>${escapeHtml(entry.controllers ?? "")}</td>\n` : ""}<td>${htmlList(entry.purposes)}</td>
<td>${escapeHtml(entry.legalBasis ?? "")}</td>
<td>${htmlList(entry.subjectCategories)}</td>
<td>${htmlList(entry.dataCategories)}</td>
<td>${htmlList(entry.recipients.map(recipientText))}</td>
<td>${transfersCell(entry.transfers)}</td>
<td>${htmlList(entry.retention.map(retentionText))}</td>
</tr>`
  ).join("\n")

const transfersCell = (transfers: ReadonlyArray<Transfer>) =>
  transfers.length === 0
    ? "None"
    : `<ul>${
      transfers.map((transfer) =>
        `<li${transfer.valid ? "" : " class=\"invalid\""}>${escapeHtml(transferText(transfer))}</li>`
      ).join("")
    }</ul>`

const processorsTable = (processors: ReadonlyArray<ProcessorWithoutActivity>) =>
  processors.length === 0
    ? "<p>Every processor that holds personal data is a recipient of a recorded activity.</p>"
    : `<table>
<thead><tr>${
      ["Processor", "Acting as", "Services", "Purposes", "Data subjects", "Personal data", "Transfers to third countries"]
        .map((name) => `<th scope="col">${name}</th>`).join("")
    }</tr></thead>
<tbody>
${
      processors.map((processor) =>
        `<tr>
<th scope="row">${escapeHtml(recipientText(processor))}</th>
<td>${escapeHtml(processor.actingAs)}</td>
<td>${htmlList(processor.services)}</td>
<td>${htmlList(processor.purposes)}</td>
<td>${htmlList(processor.subjectCategories)}</td>
<td>${htmlList(processor.dataCategories)}</td>
<td>${transfersCell(processor.transfers)}</td>
</tr>`
      ).join("\n")
    }
</tbody>
</table>`

const headerCells = (withControllers: boolean) =>
  [
    "Activity",
    ...(withControllers ? ["Controllers"] : []),
    "Purposes",
    "Legal basis",
    "Data subjects",
    "Personal data",
    "Recipients",
    "Transfers to third countries",
    "Retention"
  ].map((name) => `<th scope="col">${name}</th>`).join("")

const table = (caption: string, entries: ReadonlyArray<Entry>, withControllers: boolean) =>
  entries.length === 0
    ? `<p>No activities are recorded ${caption.toLowerCase()}.</p>`
    : `<table>
<thead><tr>${headerCells(withControllers)}</tr></thead>
<tbody>
${entryRows(entries, withControllers)}
</tbody>
</table>`

/**
 * The record as a complete HTML document, every value escaped.
 *
 * @since 0.1.0
 * @category constructors
 */
export const toHtml = (record: ProcessingRecord): string =>
  htmlDocument(
    `Record of processing activities: ${record.owner.name}`,
    `<h1>Record of processing activities</h1>
<p>${escapeHtml(ownerLine(record.owner))}</p>
<p>Generated ${escapeHtml(record.generatedAt.toISOString())} (GDPR Art. 30).</p>
<h2>Processing as controller (Art. 30(1))</h2>
${table("as controller", record.asController, false)}
<h2>Processing as processor (Art. 30(2))</h2>
${table("as processor", record.asProcessor, true)}
<h2>Processors linked to no recorded activity</h2>
${processorsTable(record.processorsWithoutActivity)}
<h2>Technical and organisational security measures (Art. 32)</h2>
${htmlList(record.securityMeasures.map(measureText))}`
  )
