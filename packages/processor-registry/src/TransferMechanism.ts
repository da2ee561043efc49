/**
 * The legal mechanism of a transfer to a third country (GDPR Chapter V), and
 * whether it holds at a given time.
 *
 * - `Adequacy`: the country has an adequacy decision in force (see
 *   `AdequacyDecisions`). Not enough for the United States, whose decision
 *   covers only organisations certified under the Data Privacy Framework.
 * - `StandardContractualClauses`: the 2021 SCCs (Implementing Decision (EU)
 *   2021/914), with their module and a transfer impact assessment reference.
 *   The module must fit the capacity in which the data is transferred (see
 *   `Exporter`): module 2 (controller to processor) for the platform's own
 *   data, module 3 (processor to processor) for data it processes for its
 *   tenants and for a sub-processor's; another module is flagged. Clauses
 *   signed before 27 June 2021, when the decision entered into force (it was
 *   adopted on 4 June 2021 and published on 7 June), are flagged too: they
 *   cannot be the 2021 SCCs. Only the 2021 SCCs can be recorded (a module is
 *   required, no field names another decision): the earlier SCCs (Decisions
 *   2001/497/EC, 2004/915/EC and 2010/87/EU) could be signed until 26
 *   September 2021 and ceased to provide appropriate safeguards on 27
 *   December 2022, so none is a valid mechanism now.
 * - `BindingCorporateRules`: approved BCRs (Art. 47).
 * - `DpfCertification`: the recipient's certification under the EU-US Data
 *   Privacy Framework, with its status and recertification date; it holds
 *   while the DPF adequacy decision is in force (Implementing Decision (EU)
 *   2023/1795, from 10 July 2023, see `AdequacyDecisions`), while active and
 *   through its recertification date: it lapses when inactive, or from the
 *   day after that date.
 * - `Derogation`: an Art. 49 derogation, with the ground and a justification.
 *   Recorded, and never valid for a processor: the derogations are for
 *   occasional, non-repetitive transfers (EDPB Guidelines 2/2018), never for
 *   the systematic, repeated transfers of a processor the platform engages,
 *   so `evaluate` flags one (`derogation-not-for-processors`): approval is
 *   refused and, for an engaged processor, it is a finding.
 * - `PrivacyShield`: accepted as input only to be flagged: the Court of
 *   Justice invalidated it on 16 July 2020 (Schrems II, C-311/18).
 *
 * Dates are calendar days, counted in UTC, written `YYYY-MM-DD` or as ISO 8601
 * times with `Z` or an offset, of which only the date as written is kept
 * (`2027-03-01T23:30:00-02:00` is 1 March 2027); zone-less or impossible dates
 * are refused.
 *
 * Two kinds of fault, two outcomes. What cannot be true is refused on entry
 * (`entryIssues`, which the registry turns into `InvalidInput`): a
 * signature, approval or certification dated in the future, a
 * recertification due before the certification, a mechanism on a location in
 * the EEA (no transfer takes place there, and a mechanism would mislead the
 * record of processing). What can be true but does not make the transfer
 * lawful (old clauses, a wrong module, a lapsed certification) is recorded
 * and judged by `evaluate`: approval is refused and, for an engaged processor,
 * it is a finding. `evaluate` does not re-check entry rules, so a record
 * stored before them (or a location whose country joins the EEA) still reads.
 *
 * @since 0.1.0
 */
import * as Option from "effect/Option"
import * as CoreText from "@lawful/core/Text"
import { refusedAsExpected } from "@lawful/core/Issues"
import * as Schema from "effect/Schema"
import * as AdequacyDecisions from "./AdequacyDecisions.js"
import * as Country from "./Country.js"
import { Day, dayHasPassed, isoDate } from "./internal/dates.js"
import { storableText } from "./internal/text.js"

/**
 * The day Commission Implementing Decision (EU) 2021/914 was adopted. The
 * registry judges signatures against `sccDecisionInForceOn`.
 *
 * @since 0.1.0
 * @category models
 */
export const sccDecisionAdoptedOn: Date = new Date("2021-06-04T00:00:00Z")

/**
 * The day Commission Implementing Decision (EU) 2021/914 entered into force
 * (the twentieth day after its publication in the Official Journal on 7 June
 * 2021, its Article 4): clauses signed before it are not the 2021 SCCs.
 *
 * @since 0.1.0
 * @category models
 */
export const sccDecisionInForceOn: Date = new Date("2021-06-27T00:00:00Z")

// Free text of a mechanism: trimmed, not empty, storable (`@lawful/core/Text`); a refusal names
// the field and what is expected, never the text.
const StorableTrimmed = refusedAsExpected(
  CoreText.storable(Schema.NonEmptyTrimmedString),
  `non-empty text without leading or trailing spaces, ${storableText}`
)

/**
 * Reliance on an adequacy decision for the location's country.
 *
 * @since 0.1.0
 * @category models
 */
export class Adequacy extends Schema.TaggedClass<Adequacy>()("Adequacy", {}) {}

/**
 * The modules of the 2021 standard contractual clauses: 1 controller to
 * controller, 2 controller to processor, 3 processor to processor, 4
 * processor to controller.
 *
 * @since 0.1.0
 * @category models
 */
export const SccModule = Schema.Literal(1, 2, 3, 4)

/**
 * The 2021 standard contractual clauses (Implementing Decision (EU) 2021/914).
 *
 * @since 0.1.0
 * @category models
 */
export class StandardContractualClauses
  extends Schema.TaggedClass<StandardContractualClauses>()("StandardContractualClauses", {
    module: SccModule,
    signedOn: Day,
    /** Where the transfer impact assessment is kept (a document id or URL). */
    transferImpactAssessment: StorableTrimmed
  })
{}

/**
 * Binding corporate rules approved under Art. 47.
 *
 * @since 0.1.0
 * @category models
 */
export class BindingCorporateRules extends Schema.TaggedClass<BindingCorporateRules>()("BindingCorporateRules", {
  /** The supervisory authority that approved them. */
  approvedBy: StorableTrimmed,
  reference: StorableTrimmed,
  approvedOn: Day
}) {}

/**
 * A certification under the EU-US Data Privacy Framework, as the DPF list shows it.
 *
 * @since 0.1.0
 * @category models
 */
export class DpfCertification extends Schema.TaggedClass<DpfCertification>()("DpfCertification", {
  status: Schema.Literal("active", "inactive"),
  certifiedOn: Day,
  /**
   * The date by which the organisation must recertify (the DPF list's next
   * certification due date): the certification holds through that day and
   * lapses from the next.
   */
  recertificationDue: Day
}) {}

/**
 * The grounds of Art. 49(1): points (a) to (g), and the compelling legitimate
 * interests of its second subparagraph.
 *
 * @since 0.1.0
 * @category models
 */
export const DerogationGround = Schema.Literal(
  "explicit-consent",
  "contract-with-subject",
  "contract-in-subject-interest",
  "public-interest",
  "legal-claims",
  "vital-interests",
  "public-register",
  "compelling-legitimate-interests"
)

/**
 * A derogation for specific situations (Art. 49). It can be recorded but
 * approves no processor: see `evaluate`.
 *
 * @since 0.1.0
 * @category models
 */
export class Derogation extends Schema.TaggedClass<Derogation>()("Derogation", {
  ground: DerogationGround,
  justification: StorableTrimmed
}) {}

/**
 * A Privacy Shield self-certification: accepted only so that it can be flagged invalid.
 *
 * @since 0.1.0
 * @category models
 */
export class PrivacyShield extends Schema.TaggedClass<PrivacyShield>()("PrivacyShield", {
  certifiedOn: Schema.optional(Day)
}) {}

/**
 * A transfer mechanism.
 *
 * @since 0.1.0
 * @category models
 */
export const TransferMechanism = Schema.Union(
  Adequacy,
  StandardContractualClauses,
  BindingCorporateRules,
  DpfCertification,
  Derogation,
  PrivacyShield
)

/**
 * @since 0.1.0
 * @category models
 */
export type TransferMechanism = typeof TransferMechanism.Type

/**
 * Why a mechanism does not hold.
 *
 * @since 0.1.0
 * @category models
 */
export const InvalidReason = Schema.Literal(
  "mechanism-missing",
  "privacy-shield-invalidated",
  "no-adequacy-decision",
  "adequacy-needs-dpf-certification",
  "dpf-outside-united-states",
  "dpf-decision-not-in-force",
  "dpf-certification-lapsed",
  "scc-module-not-for-processors",
  "scc-module-mismatch",
  "scc-before-2021-914",
  "derogation-not-for-processors"
)

/**
 * @since 0.1.0
 * @category models
 */
export type InvalidReason = typeof InvalidReason.Type

/**
 * In which capacity data reaches the recipient, which decides the SCC module:
 * `"controller"` for the platform's own data (module 2), `"processor"` for
 * data the platform processes for its tenants, and for data a processor
 * passes to its sub-processor (module 3). `Processor.exporterOf` gives it for
 * a processor.
 *
 * @since 0.1.0
 * @category models
 */
export type Exporter = "controller" | "processor"

const sccModuleFor: Record<Exporter, 2 | 3> = { controller: 2, processor: 3 }

/**
 * Whether a location's transfer mechanism holds at a time.
 *
 * @since 0.1.0
 * @category models
 */
export type Verdict =
  | { readonly _tag: "NotATransfer" }
  | { readonly _tag: "Valid"; readonly basis: string }
  | { readonly _tag: "Invalid"; readonly reason: InvalidReason; readonly detail: string }

const invalid = (reason: InvalidReason, detail: string): Verdict => ({ _tag: "Invalid", reason, detail })

const derogationPoint: Record<typeof DerogationGround.Type, string> = {
  "explicit-consent": "Art. 49(1)(a), explicit consent",
  "contract-with-subject": "Art. 49(1)(b), contract with the data subject",
  "contract-in-subject-interest": "Art. 49(1)(c), contract in the data subject's interest",
  "public-interest": "Art. 49(1)(d), important reasons of public interest",
  "legal-claims": "Art. 49(1)(e), legal claims",
  "vital-interests": "Art. 49(1)(f), vital interests",
  "public-register": "Art. 49(1)(g), public register",
  "compelling-legitimate-interests": "Art. 49(1), second subparagraph, compelling legitimate interests"
}

/**
 * A one-line description of a mechanism, for records and annexes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const describe = (mechanism: TransferMechanism): string => {
  switch (mechanism._tag) {
    case "Adequacy":
      return "Adequacy decision (Art. 45)"
    case "StandardContractualClauses":
      return `Standard contractual clauses 2021/914, module ${mechanism.module}, signed ${
        isoDate(mechanism.signedOn)
      }; transfer impact assessment ${mechanism.transferImpactAssessment}`
    case "BindingCorporateRules":
      return `Binding corporate rules approved by ${mechanism.approvedBy} on ${
        isoDate(mechanism.approvedOn)
      } (${mechanism.reference})`
    case "DpfCertification":
      return `EU-US Data Privacy Framework certification (${mechanism.status}, certified ${
        isoDate(mechanism.certifiedOn)
      }, recertification due ${isoDate(mechanism.recertificationDue)})`
    case "Derogation":
      return `Derogation under ${derogationPoint[mechanism.ground]}: ${mechanism.justification}`
    case "PrivacyShield":
      return "EU-US Privacy Shield (invalid since 16 July 2020)"
  }
}

/**
 * What is wrong with a location's mechanism as entered at `at`, one issue per
 * line, each naming its field under `mechanism`; empty when nothing is. These
 * are the faults that cannot be true (see the module's doc): dates in the
 * future, a recertification due before the certification, a mechanism on a
 * location in the EEA. A date of today is not in the future.
 *
 * @since 0.1.0
 * @category constructors
 */
export const entryIssues = (
  country: Country.Country,
  mechanism: TransferMechanism | undefined,
  at: Date
): ReadonlyArray<string> => {
  if (mechanism === undefined) return []
  if (Country.isEea(country)) {
    return [`mechanism: ${country} is in the EEA: a location there is no transfer and takes no transfer mechanism`]
  }
  const future = (day: Date | undefined) => day !== undefined && day.getTime() > at.getTime()
  const issues: Array<string> = []
  switch (mechanism._tag) {
    case "StandardContractualClauses":
      if (future(mechanism.signedOn)) issues.push("mechanism.signedOn: the signature date is in the future")
      break
    case "BindingCorporateRules":
      if (future(mechanism.approvedOn)) issues.push("mechanism.approvedOn: the approval date is in the future")
      break
    case "DpfCertification":
      if (future(mechanism.certifiedOn)) issues.push("mechanism.certifiedOn: the certification date is in the future")
      if (mechanism.recertificationDue.getTime() < mechanism.certifiedOn.getTime()) {
        issues.push("mechanism.recertificationDue: the recertification date is before the certification date")
      }
      break
    case "PrivacyShield":
      if (future(mechanism.certifiedOn)) issues.push("mechanism.certifiedOn: the certification date is in the future")
      break
    case "Adequacy":
    case "Derogation":
      break
  }
  return issues
}

/**
 * Whether the mechanism of a location holds at `at`, given the adequacy
 * decisions. A location in the EEA is no transfer at all.
 *
 * `exporter` is the capacity in which the data is transferred: the SCCs must
 * be of its module (2 as controller, 3 as processor). Without it, either
 * module 2 or 3 is taken; the registry always gives it
 * (`Processor.exporterOf`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const evaluate = (
  country: Country.Country,
  mechanism: TransferMechanism | undefined,
  at: Date,
  decisions: ReadonlyArray<AdequacyDecisions.AdequacyDecision>,
  exporter?: Exporter
): Verdict => {
  if (Country.isEea(country)) return { _tag: "NotATransfer" }
  if (mechanism === undefined) {
    return invalid("mechanism-missing", `no transfer mechanism is recorded for ${country}`)
  }
  switch (mechanism._tag) {
    case "Adequacy": {
      const decision = AdequacyDecisions.forCountry(decisions, country, at)
      if (Option.isNone(decision)) {
        return invalid("no-adequacy-decision", `no adequacy decision is in force for ${country}`)
      }
      if (decision.value.coversOnly === "dpf-certified-organisations") {
        return invalid(
          "adequacy-needs-dpf-certification",
          `the adequacy decision for ${country} covers only organisations certified under the Data Privacy Framework: record the certification`
        )
      }
      return { _tag: "Valid", basis: `Adequacy decision: ${decision.value.act}` }
    }
    case "DpfCertification": {
      if (country !== "US") {
        return invalid("dpf-outside-united-states", `a Data Privacy Framework certification covers only the US, not ${country}`)
      }
      const decision = AdequacyDecisions.forCountry(decisions, country, at)
      if (Option.isNone(decision) || decision.value.coversOnly !== "dpf-certified-organisations") {
        return invalid("dpf-decision-not-in-force", "no Data Privacy Framework adequacy decision is in force")
      }
      if (mechanism.status !== "active") {
        return invalid("dpf-certification-lapsed", "the Data Privacy Framework certification is inactive")
      }
      if (dayHasPassed(mechanism.recertificationDue, at)) {
        return invalid(
          "dpf-certification-lapsed",
          `the Data Privacy Framework certification was due for recertification on ${isoDate(mechanism.recertificationDue)}`
        )
      }
      return { _tag: "Valid", basis: `${describe(mechanism)}; ${decision.value.act}` }
    }
    case "StandardContractualClauses": {
      if (mechanism.signedOn.getTime() < sccDecisionInForceOn.getTime()) {
        return invalid(
          "scc-before-2021-914",
          `clauses signed on ${
            isoDate(mechanism.signedOn)
          }, before Implementing Decision (EU) 2021/914 entered into force on 27 June 2021, are not the 2021 standard contractual clauses; the earlier clauses could be signed until 26 September 2021 and ceased to be valid on 27 December 2022`
        )
      }
      if (mechanism.module !== 2 && mechanism.module !== 3) {
        return invalid(
          "scc-module-not-for-processors",
          `SCC module ${mechanism.module} is not for a transfer to a processor: use module 2 or 3`
        )
      }
      if (exporter !== undefined && mechanism.module !== sccModuleFor[exporter]) {
        return invalid(
          "scc-module-mismatch",
          exporter === "processor"
            ? `SCC module ${mechanism.module} (controller to processor) does not cover this processor: it receives data processed on behalf of others (the tenants', or as a sub-processor), which needs module 3 (processor to processor)`
            : `SCC module ${mechanism.module} (processor to processor) does not cover this processor: it receives the platform's own data as controller, which needs module 2 (controller to processor)`
        )
      }
      return { _tag: "Valid", basis: describe(mechanism) }
    }
    case "BindingCorporateRules":
      return { _tag: "Valid", basis: describe(mechanism) }
    case "Derogation":
      // EDPB Guidelines 2/2018 on Art. 49: the derogations are exceptions for occasional,
      // non-repetitive transfers; a processor's transfers are systematic and repeated.
      return invalid(
        "derogation-not-for-processors",
        `an Art. 49 derogation (${
          derogationPoint[mechanism.ground]
        }) covers only occasional, non-repetitive transfers (EDPB Guidelines 2/2018), not the systematic, repeated transfers to a processor: use an adequacy decision, the 2021 SCCs, BCRs or a DPF certification`
      )
    case "PrivacyShield":
      return invalid(
        "privacy-shield-invalidated",
        `the Privacy Shield was invalidated on 16 July 2020 (${AdequacyDecisions.privacyShield.judgment})`
      )
  }
}
