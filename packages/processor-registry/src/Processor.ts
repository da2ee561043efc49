/**
 * A processor the platform engages: who it is, what it does with which
 * personal data, where, under which transfer mechanism, and where it stands
 * (candidate, under review, approved, suspended, terminated).
 *
 * A processor that `servesTenants` processes the tenants' personal data: for
 * the tenants it is a sub-processor of the platform, so adding or replacing it
 * is announced to them (`ChangeNotice`) and, while engaged, it appears in the
 * DPA annex. A processor can itself be a sub-processor of another processor
 * (`role`). Whether it serves tenants and its role decide the module of its
 * SCCs (`exporterOf`).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as CoreText from "@lawful/core/Text"
import * as Schema from "effect/Schema"
import { Country, isEea } from "./Country.js"
import { freeText, freeTexts, optionalFreeText } from "./internal/text.js"
import { make as uuidV7, pattern as uuidPattern } from "@lawful/core/Uuid"
import { type Exporter, TransferMechanism } from "./TransferMechanism.js"

/**
 * The id of a processor: a lower-case UUID, time-ordered when made here.
 *
 * @since 0.1.0
 * @category models
 */
export const ProcessorId = Schema.String.pipe(
  Schema.pattern(uuidPattern, { message: () => "a processor id is a lower-case UUID" }),
  Schema.brand("@lawful/processor-registry/ProcessorId")
)

/**
 * @since 0.1.0
 * @category models
 */
export type ProcessorId = typeof ProcessorId.Type

/**
 * A new time-ordered processor id, its time read from `Clock`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeId: Effect.Effect<ProcessorId> = Effect.map(uuidV7, (id) => ProcessorId.make(id))

// Free text: a refusal names the field and what is expected, never the text.
const Text = freeText(500)
const Names = freeTexts(200, true)

// A contact detail is a person's: a refusal says what is expected, never what was given.
const contactDetail = <A, I>(schema: Schema.Schema<A, I>, expected: string) =>
  Schema.optionalWith(
    Schema.UndefinedOr(schema).annotations({ message: () => ({ message: expected, override: true }) }),
    { exact: true }
  )

const detailText = "1 to 500 characters of text, without NUL characters or unpaired surrogates"

/**
 * How to reach the processor about data protection. The details may name a
 * person: an invalid one is refused with what is expected, without echoing it.
 *
 * @since 0.1.0
 * @category models
 */
export const Contact = Schema.Struct({
  name: Text.annotations({ message: () => ({ message: `a contact name is ${detailText}`, override: true }) }),
  email: contactDetail(
    CoreText.storable(Schema.Trim.pipe(Schema.pattern(/^[^\s@]+@[^\s@]+\.[^\s@]+$/))),
    "a contact email looks like name@example.com, without NUL characters or unpaired surrogates"
  ),
  phone: contactDetail(Text, `a contact phone number is ${detailText}`),
  address: contactDetail(Text, `a contact address is ${detailText}`)
})

/**
 * A processor of the platform, or a sub-processor of another processor.
 *
 * @since 0.1.0
 * @category models
 */
export const Role = Schema.Union(
  Schema.TaggedStruct("Processor", {}),
  Schema.TaggedStruct("SubProcessor", { of: ProcessorId })
)

/**
 * @since 0.1.0
 * @category models
 */
export type Role = typeof Role.Type

/**
 * A country where the processor processes or stores data, and the transfer
 * mechanism when it is outside the EEA. The registry refuses a mechanism on a
 * location in the EEA, and mechanism dates that cannot be true
 * (`TransferMechanism.entryIssues`).
 *
 * @since 0.1.0
 * @category models
 */
export const Location = Schema.Struct({
  country: Country,
  /** What happens there, e.g. "primary data centre" or "support staff". */
  description: optionalFreeText(500),
  // Absent, not `undefined`: a union with `undefined` would quote a refused mechanism whole.
  mechanism: Schema.optionalWith(TransferMechanism, { exact: true })
})

/**
 * @since 0.1.0
 * @category models
 */
export type Location = typeof Location.Type

/**
 * The description of a processor, as registered or updated.
 *
 * @since 0.1.0
 * @category models
 */
export const ProcessorInput = Schema.Struct({
  /** For a sole trader, a person's name: an invalid one is refused without echoing it. */
  legalName: freeText(200),
  contact: Contact,
  services: Names,
  role: Role,
  servesTenants: Schema.Boolean,
  purposes: Names,
  dataCategories: Names,
  subjectCategories: Names,
  locations: Schema.NonEmptyArray(Location).pipe(
    Schema.filter((locations) => {
      const countries = locations.map((location) => location.country)
      const duplicate = countries.find((country, i) => countries.indexOf(country) !== i)
      return duplicate === undefined || `${duplicate} is listed twice: one location per country`
    })
  )
})

/**
 * @since 0.1.0
 * @category models
 */
export type ProcessorInput = typeof ProcessorInput.Type

/**
 * What becomes of the data when a processor is terminated: returned, deleted,
 * none was ever held, or still pending confirmation.
 *
 * @since 0.1.0
 * @category models
 */
export const DataDisposition = Schema.Literal("returned", "deleted", "none-held", "pending")

/**
 * @since 0.1.0
 * @category models
 */
export type DataDisposition = typeof DataDisposition.Type

/**
 * A suspension or termination reason, as given: up to 2000 characters, and it may name people.
 *
 * @since 0.1.0
 * @category models
 */
export const StatedReason = freeText(2000)

/**
 * Where a processor stands.
 *
 * @since 0.1.0
 * @category models
 */
export const Status = Schema.Union(
  Schema.TaggedStruct("Candidate", {}),
  Schema.TaggedStruct("UnderReview", { since: Schema.Date }),
  Schema.TaggedStruct("Approved", { since: Schema.Date }),
  Schema.TaggedStruct("Suspended", { since: Schema.Date, reason: StatedReason }),
  Schema.TaggedStruct("Terminated", {
    since: Schema.Date,
    reason: StatedReason,
    dataDisposition: DataDisposition,
    dispositionConfirmedAt: Schema.optional(Schema.Date)
  })
)

/**
 * @since 0.1.0
 * @category models
 */
export type Status = typeof Status.Type

/**
 * The name of a status, as tables show it.
 *
 * @since 0.1.0
 * @category models
 */
export type StatusName = Status["_tag"]

/**
 * A registered processor.
 *
 * @since 0.1.0
 * @category models
 */
export class Processor extends Schema.Class<Processor>("@lawful/processor-registry/Processor")({
  id: ProcessorId,
  ...ProcessorInput.fields,
  status: Status,
  registeredAt: Schema.Date,
  updatedAt: Schema.Date,
  /**
   * Increases with every change: to the processor, its status, or its DPAs (a DPA recorded
   * changes what its approval rests on). A change is committed only on the revision it was
   * checked against, so two servers never both commit on the same one.
   */
  revision: Schema.Int.pipe(Schema.positive())
}) {
  /** The locations outside the EEA. */
  get thirdCountryLocations(): ReadonlyArray<Location> {
    return this.locations.filter((location) => !isEea(location.country))
  }
}

/**
 * The statuses a processor may move to from each status.
 *
 * @since 0.1.0
 * @category models
 */
export const transitions: Record<StatusName, ReadonlyArray<StatusName>> = {
  Candidate: ["UnderReview", "Terminated"],
  UnderReview: ["Approved", "Terminated"],
  Approved: ["Suspended", "Terminated"],
  Suspended: ["Approved", "Terminated"],
  Terminated: []
}

/**
 * Whether a processor is engaged (approved or suspended): it may hold data,
 * so its DPA, mechanisms and reviews are watched.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isEngaged = (processor: Processor): boolean =>
  processor.status._tag === "Approved" || processor.status._tag === "Suspended"

/**
 * Whether a processor holds or may receive personal data: it is engaged, or
 * it is terminated and has not yet returned or deleted the data (its data
 * disposition is pending). The record of processing activities names each
 * such processor.
 *
 * @since 0.1.0
 * @category predicates
 */
export const holdsData = (processor: Processor): processor is DataHolder =>
  isEngaged(processor) || (processor.status._tag === "Terminated" && processor.status.dataDisposition === "pending")

/**
 * A processor that holds or may receive personal data (`holdsData`): approved,
 * suspended, or terminated with its data not yet returned or deleted.
 *
 * @since 0.1.0
 * @category models
 */
export type DataHolder = Processor & {
  readonly status:
    | Extract<Status, { readonly _tag: "Approved" | "Suspended" }>
    | (Extract<Status, { readonly _tag: "Terminated" }> & { readonly dataDisposition: "pending" })
}

/**
 * Where a processor that holds data stands (`holdsData`), as the record of
 * processing activities and the DPA annex name it: engaged (approved or
 * suspended), or terminated with its data not yet returned or deleted.
 *
 * @since 0.1.0
 * @category models
 */
export const ProcessorStatus = Schema.Literal("approved", "suspended", "terminated-data-pending")

/**
 * @since 0.1.0
 * @category models
 */
export type ProcessorStatus = typeof ProcessorStatus.Type

/**
 * Where a processor that holds data stands, as the record of processing
 * activities and the DPA annex name it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const statusOf = (processor: DataHolder): ProcessorStatus =>
  processor.status._tag === "Approved" ? "approved" : processor.status._tag === "Suspended" ? "suspended" : "terminated-data-pending"

/**
 * In which capacity the platform's data reaches the processor, which decides
 * the module of its SCCs: as processor (module 3) when the processor serves
 * tenants (the platform processes their data for them) or is a sub-processor
 * of another processor (which passes on data it processes for the platform);
 * as controller (module 2) when it only processes the platform's own data.
 *
 * @since 0.1.0
 * @category constructors
 */
export const exporterOf = (processor: { readonly role: Role; readonly servesTenants: boolean }): Exporter =>
  processor.servesTenants || processor.role._tag === "SubProcessor" ? "processor" : "controller"
