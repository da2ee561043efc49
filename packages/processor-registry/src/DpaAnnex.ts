/**
 * The annex to the platform's data processing agreement with its tenants:
 * the sub-processors that process their data (engaged, or terminated and
 * still holding it) with status, services,
 * locations and transfer mechanisms, and the technical and organisational
 * measures. Rendered as Markdown (`toMarkdown`, every value escaped) and as
 * an HTML document (`toHtml`).
 *
 * The annex lists every processor that serves tenants and holds or may
 * receive their data (`Processor.holdsData`): approved ones; suspended ones,
 * marked "suspended since" the day of their suspension; and terminated ones
 * whose data is not yet returned or deleted, marked "terminated on" the day of
 * their termination with their data pending. Such a processor still holds the
 * tenants' data, so tenants are told it is there (Art. 28(2) and (4)); the
 * reason for a suspension or termination is the registry's and is not
 * published. A terminated processor leaves the annex once the return or
 * deletion of the data is confirmed (or when it never held any).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Country from "./Country.js"
import { isoDate } from "./internal/dates.js"
import { escapeHtml, htmlDocument, htmlList } from "./internal/html.js"
import { holdsData, type Processor, ProcessorId, ProcessorStatus, statusOf } from "./Processor.js"
import { Measure, type RecordOwner } from "./ProcessingRecord.js"
import * as TransferMechanism from "./TransferMechanism.js"

/**
 * A sub-processor as the annex lists it.
 *
 * @since 0.1.0
 * @category models
 */
export const SubProcessor = Schema.Struct({
  processorId: ProcessorId,
  name: Schema.String,
  /** For a sub-processor of another processor: that processor. */
  engagedBy: Schema.optional(Schema.String),
  services: Schema.Array(Schema.String),
  purposes: Schema.Array(Schema.String),
  dataCategories: Schema.Array(Schema.String),
  locations: Schema.Array(Schema.Struct({
    country: Country.Country,
    countryName: Schema.String,
    description: Schema.optional(Schema.String),
    mechanism: Schema.optional(Schema.String)
  })),
  /**
   * Approved, suspended (it may still hold data under the DPA), or terminated with the return or
   * deletion of the data not yet confirmed.
   */
  status: ProcessorStatus,
  /** When it entered its status: approved (or reinstated), suspended, or terminated. */
  statusSince: Schema.Date
})

/**
 * @since 0.1.0
 * @category models
 */
export type SubProcessor = typeof SubProcessor.Type

/**
 * The annex.
 *
 * @since 0.1.0
 * @category models
 */
export class DpaAnnex extends Schema.Class<DpaAnnex>("@lawful/processor-registry/DpaAnnex")({
  generatedAt: Schema.Date,
  processorName: Schema.String,
  subProcessors: Schema.Array(SubProcessor),
  measures: Schema.Array(Measure)
}) {}

/**
 * Builds the annex from the registry's processors at `at`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  { at, owner, processors }: { readonly owner: RecordOwner; readonly processors: ReadonlyArray<Processor>; readonly at: Date }
): DpaAnnex => {
  const byId = new Map(processors.map((processor) => [processor.id, processor]))
  const listed = processors
    .filter(holdsData)
    .filter((processor) => processor.servesTenants)
    .sort((a, b) => a.legalName.localeCompare(b.legalName, "en"))
  return new DpaAnnex({
    generatedAt: at,
    processorName: owner.name,
    subProcessors: listed.map((processor) => {
      const engagedBy = processor.role._tag === "SubProcessor" ? byId.get(processor.role.of)?.legalName : undefined
      return {
        processorId: processor.id,
        name: processor.legalName,
        ...(engagedBy !== undefined ? { engagedBy } : {}),
        services: processor.services,
        purposes: processor.purposes,
        dataCategories: processor.dataCategories,
        locations: processor.locations.map((location) => ({
          country: location.country,
          countryName: Country.nameOf(location.country),
          ...(location.description !== undefined ? { description: location.description } : {}),
          ...(Country.isEea(location.country)
            ? { mechanism: "EEA (no transfer)" }
            : location.mechanism
            ? { mechanism: TransferMechanism.describe(location.mechanism) }
            : {})
        })),
        status: statusOf(processor),
        statusSince: processor.status.since
      }
    }),
    measures: owner.measures
  })
}

// Markdown inline text: HTML-significant characters as entities, the punctuation that opens
// emphasis, code, links or cells backslash-escaped, line breaks folded. Values never start a
// line, so block markers (#, -, 1.) need no escaping.
const md = (text: string): string =>
  text
    .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/[\\`*_[\]|~]/g, (char) => `\\${char}`)
    .replace(/\r\n|\r|\n/g, " ")

const statusText = (sub: SubProcessor) =>
  sub.status === "approved"
    ? "approved"
    : sub.status === "suspended"
    ? `suspended since ${isoDate(sub.statusSince)}`
    : `terminated on ${isoDate(sub.statusSince)}, data not yet returned or deleted`

const locationText = (location: SubProcessor["locations"][number]) =>
  `${location.countryName} (${location.country})${location.description ? `, ${location.description}` : ""}${
    location.mechanism ? `: ${location.mechanism}` : ""
  }`

/**
 * The annex as Markdown.
 *
 * @since 0.1.0
 * @category constructors
 */
export const toMarkdown = (annex: DpaAnnex): string => {
  const rows = annex.subProcessors.map((sub) =>
    `| ${md(sub.name)}${sub.engagedBy ? ` (sub-processor of ${md(sub.engagedBy)})` : ""} | ${md(statusText(sub))} | ${
      md(sub.services.join(", "))
    } | ${md(sub.purposes.join(", "))} | ${md(sub.dataCategories.join(", "))} | ${
      sub.locations.map((location) => md(locationText(location))).join("<br>")
    } |`
  )
  return [
    "# Annex: sub-processors and technical and organisational measures",
    "",
    `This annex lists the sub-processors that ${
      md(annex.processorName)
    } engages for the personal data it processes on behalf of its customers, and those terminated that still hold such data, as of ${
      md(isoDate(annex.generatedAt))
    }.`,
    "",
    "## Sub-processors",
    "",
    ...(rows.length === 0
      ? ["No sub-processors are engaged."]
      : [
        "| Sub-processor | Status | Services | Purposes | Personal data | Locations and transfer mechanisms |",
        "| --- | --- | --- | --- | --- | --- |",
        ...rows
      ]),
    "",
    "## Technical and organisational measures",
    "",
    ...annex.measures.map((measure) => `- **${md(measure.area)}**: ${md(measure.description)}`),
    ""
  ].join("\n")
}

/**
 * The annex as a complete HTML document, every value escaped.
 *
 * @since 0.1.0
 * @category constructors
 */
export const toHtml = (annex: DpaAnnex): string =>
  htmlDocument(
    `Sub-processors and technical and organisational measures: ${annex.processorName}`,
    `<h1>Annex: sub-processors and technical and organisational measures</h1>
<p>${escapeHtml(annex.processorName)} engages the following sub-processors for the personal data it processes on behalf of its customers; those marked terminated still hold such data (as of ${
      escapeHtml(isoDate(annex.generatedAt))
    }).</p>
<h2>Sub-processors</h2>
${
      annex.subProcessors.length === 0
        ? "<p>No sub-processors are engaged.</p>"
        : `<table>
<thead><tr>${
          ["Sub-processor", "Status", "Services", "Purposes", "Personal data", "Locations and transfer mechanisms"]
            .map((name) => `<th scope="col">${name}</th>`).join("")
        }</tr></thead>
<tbody>
${
          annex.subProcessors.map((sub) =>
            `<tr><th scope="row">${escapeHtml(sub.name)}${
              sub.engagedBy ? ` (sub-processor of ${escapeHtml(sub.engagedBy)})` : ""
            }</th><td>${escapeHtml(statusText(sub))}</td><td>${htmlList(sub.services)}</td><td>${htmlList(sub.purposes)}</td><td>${
              htmlList(sub.dataCategories)
            }</td><td>${htmlList(sub.locations.map(locationText))}</td></tr>`
          ).join("\n")
        }
</tbody>
</table>`
    }
<h2>Technical and organisational measures</h2>
${
      annex.measures.length === 0
        ? "<p>&#8212;</p>"
        : `<dl>${
          annex.measures.map((measure) => `<dt>${escapeHtml(measure.area)}</dt><dd>${escapeHtml(measure.description)}</dd>`)
            .join("")
        }</dl>`
    }`
  )
