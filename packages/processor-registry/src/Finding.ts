/**
 * Findings for the compliance report: what is wrong with an engaged processor
 * (approved or suspended) now, and terminated processors whose data was not
 * confirmed returned or deleted.
 *
 * Findings are computed, not stored: they follow from the registry and the
 * time (`Clock`), so a DPA that expires or a certification that lapses becomes
 * a finding the moment its date passes.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import type { AdequacyDecision } from "./AdequacyDecisions.js"
import * as Approval from "./Approval.js"
import * as Assessment from "./Assessment.js"
import { type ChangeNotice, NoticeId, type Objection } from "./ChangeNotice.js"
import { Country } from "./Country.js"
import * as Dpa from "./Dpa.js"
import { isoDate } from "./internal/dates.js"
import { exporterOf, isEngaged, type Processor, ProcessorId } from "./Processor.js"
import * as TransferMechanism from "./TransferMechanism.js"

const about = { processorId: ProcessorId, processorName: Schema.String }

/**
 * An engaged processor has no DPA at all.
 *
 * @since 0.1.0
 * @category models
 */
export class DpaMissing extends Schema.TaggedClass<DpaMissing>()("DpaMissing", about) {}

/**
 * The processor's current DPA is past its expiry date.
 *
 * @since 0.1.0
 * @category models
 */
export class DpaExpired extends Schema.TaggedClass<DpaExpired>()("DpaExpired", {
  ...about,
  dpaId: Dpa.DpaId,
  version: Schema.String,
  expiredOn: Schema.Date
}) {}

/**
 * A review date has passed: the current DPA's, or the latest assessment's.
 *
 * @since 0.1.0
 * @category models
 */
export class ReviewOverdue extends Schema.TaggedClass<ReviewOverdue>()("ReviewOverdue", {
  ...about,
  of: Schema.Literal("dpa", "assessment"),
  /** The id of the DPA or assessment. */
  reference: Schema.String,
  dueOn: Schema.Date
}) {}

/**
 * A US location relies on a Data Privacy Framework certification that is
 * inactive or past its recertification date.
 *
 * @since 0.1.0
 * @category models
 */
export class DpfCertificationLapsed extends Schema.TaggedClass<DpfCertificationLapsed>()("DpfCertificationLapsed", {
  ...about,
  country: Country,
  status: Schema.Literal("active", "inactive"),
  recertificationDue: Schema.Date
}) {}

/**
 * A location outside the EEA has no transfer mechanism.
 *
 * @since 0.1.0
 * @category models
 */
export class TransferMechanismMissing extends Schema.TaggedClass<TransferMechanismMissing>()(
  "TransferMechanismMissing",
  { ...about, country: Country }
) {}

/**
 * A location's transfer mechanism does not hold (the Privacy Shield, no
 * adequacy decision in force, SCCs of a module that does not fit the
 * processor's role or signed before Decision 2021/914...): `reason` says which.
 *
 * @since 0.1.0
 * @category models
 */
export class TransferMechanismInvalid extends Schema.TaggedClass<TransferMechanismInvalid>()(
  "TransferMechanismInvalid",
  {
    ...about,
    country: Country,
    mechanism: Schema.String,
    reason: TransferMechanism.InvalidReason,
    detail: Schema.String
  }
) {}

/**
 * A terminated processor's data is not yet confirmed returned or deleted.
 *
 * @since 0.1.0
 * @category models
 */
export class DataDispositionUnconfirmed extends Schema.TaggedClass<DataDispositionUnconfirmed>()(
  "DataDispositionUnconfirmed",
  { ...about, terminatedAt: Schema.Date }
) {}

/**
 * An engaged processor of tenants' data holds a country or purpose whose notice
 * tenants objected to, with no other notice, closed without objection, naming
 * it: the rule approval applies (`Approval` requirement `ObjectionUnresolved`),
 * which an approval, or a change made while the processor was suspended, by an
 * earlier version did not meet. Names the notice and how many tenants objected,
 * never their reasons; the change is announced again once the objections are
 * resolved.
 *
 * @since 0.1.0
 * @category models
 */
export class ObjectionUnresolved extends Schema.TaggedClass<ObjectionUnresolved>()("ObjectionUnresolved", {
  ...about,
  noticeId: NoticeId,
  objections: Schema.Number
}) {}

/**
 * A finding.
 *
 * @since 0.1.0
 * @category models
 */
export const Finding = Schema.Union(
  DpaMissing,
  DpaExpired,
  ReviewOverdue,
  DpfCertificationLapsed,
  TransferMechanismMissing,
  TransferMechanismInvalid,
  DataDispositionUnconfirmed,
  ObjectionUnresolved
)

/**
 * @since 0.1.0
 * @category models
 */
export type Finding = typeof Finding.Type

/**
 * What findings are computed from.
 *
 * @since 0.1.0
 * @category models
 */
export interface Inputs {
  readonly processors: ReadonlyArray<Processor>
  readonly dpas: ReadonlyArray<Dpa.Dpa>
  readonly assessments: ReadonlyArray<Assessment.Assessment>
  /** The change notices, for processors of tenants' data (none when absent). */
  readonly notices?: ReadonlyArray<ChangeNotice>
  /** The objections recorded to those notices (none when absent). */
  readonly objections?: ReadonlyArray<Objection>
  readonly decisions: ReadonlyArray<AdequacyDecision>
  readonly at: Date
}

const groupBy = <A>(items: ReadonlyArray<A>, key: (a: A) => string): Map<string, Array<A>> => {
  const groups = new Map<string, Array<A>>()
  for (const item of items) {
    const k = key(item)
    const group = groups.get(k)
    if (group) group.push(item)
    else groups.set(k, [item])
  }
  return groups
}

/**
 * The findings at `at`, processor by processor in the order given.
 *
 * @since 0.1.0
 * @category constructors
 */
export const compute = (
  { assessments, at, decisions, dpas, notices = [], objections = [], processors }: Inputs
): ReadonlyArray<Finding> => {
  const findings: Array<Finding> = []
  const dpasOf = groupBy(dpas, (dpa) => dpa.processorId)
  const assessmentsOf = groupBy(assessments, (assessment) => assessment.processorId)
  const noticesOf = groupBy(notices, (notice) => notice.processorId)
  const objectionsTo = groupBy(objections, (objection) => objection.noticeId)
  for (const processor of processors) {
    const base = { processorId: processor.id, processorName: processor.legalName }
    if (processor.status._tag === "Terminated") {
      if (processor.status.dataDisposition === "pending") {
        findings.push(new DataDispositionUnconfirmed({ ...base, terminatedAt: processor.status.since }))
      }
      continue
    }
    if (!isEngaged(processor)) continue

    const dpa = Dpa.current(dpasOf.get(processor.id) ?? [], at)
    if (dpa === undefined) {
      findings.push(new DpaMissing(base))
    } else {
      if (!Dpa.isInForce(dpa, at)) {
        findings.push(new DpaExpired({ ...base, dpaId: dpa.id, version: dpa.version, expiredOn: dpa.expiresOn! }))
      }
      if (Dpa.isReviewOverdue(dpa, at)) {
        findings.push(new ReviewOverdue({ ...base, of: "dpa", reference: dpa.id, dueOn: dpa.reviewDue }))
      }
    }

    const assessment = Assessment.latestDecided(assessmentsOf.get(processor.id) ?? [])
    if (assessment !== undefined && Assessment.isReviewOverdue(assessment, at)) {
      findings.push(
        new ReviewOverdue({ ...base, of: "assessment", reference: assessment.id, dueOn: assessment.decision!.nextReviewDue })
      )
    }

    for (const location of processor.locations) {
      const verdict = TransferMechanism.evaluate(location.country, location.mechanism, at, decisions, exporterOf(processor))
      if (verdict._tag !== "Invalid") continue
      const mechanism = location.mechanism
      if (mechanism === undefined) {
        findings.push(new TransferMechanismMissing({ ...base, country: location.country }))
      } else if (mechanism._tag === "DpfCertification" && verdict.reason === "dpf-certification-lapsed") {
        findings.push(
          new DpfCertificationLapsed({
            ...base,
            country: location.country,
            status: mechanism.status,
            recertificationDue: mechanism.recertificationDue
          })
        )
      } else {
        findings.push(
          new TransferMechanismInvalid({
            ...base,
            country: location.country,
            mechanism: mechanism._tag,
            reason: verdict.reason,
            detail: verdict.detail
          })
        )
      }
    }

    if (processor.servesTenants) {
      const own = noticesOf.get(processor.id) ?? []
      const unmet = Approval.unmet({
        processor,
        dpas: dpasOf.get(processor.id) ?? [],
        assessments: assessmentsOf.get(processor.id) ?? [],
        notices: own,
        objections: own.flatMap((notice) => objectionsTo.get(notice.id) ?? []),
        decisions,
        at
      })
      for (const requirement of unmet) {
        if (requirement._tag !== "ObjectionUnresolved") continue
        findings.push(
          new ObjectionUnresolved({
            ...base,
            noticeId: NoticeId.make(requirement.noticeId),
            objections: requirement.objections
          })
        )
      }
    }
  }
  return findings
}

/**
 * A finding in words, for the compliance report.
 *
 * @since 0.1.0
 * @category constructors
 */
export const describe = (finding: Finding): string => {
  const who = finding.processorName
  switch (finding._tag) {
    case "DpaMissing":
      return `${who}: no DPA is recorded`
    case "DpaExpired":
      return `${who}: DPA ${finding.version} expired on ${isoDate(finding.expiredOn)}`
    case "ReviewOverdue":
      return `${who}: the ${finding.of === "dpa" ? "DPA" : "assessment"} review was due on ${isoDate(finding.dueOn)}`
    case "DpfCertificationLapsed":
      return `${who}: the Data Privacy Framework certification lapsed (${finding.status}, recertification due ${
        isoDate(finding.recertificationDue)
      })`
    case "TransferMechanismMissing":
      return `${who}: no transfer mechanism for ${finding.country}`
    case "TransferMechanismInvalid":
      return `${who}: the transfer mechanism for ${finding.country} is invalid: ${finding.detail}`
    case "DataDispositionUnconfirmed":
      return `${who}: terminated on ${isoDate(finding.terminatedAt)}, data not yet confirmed returned or deleted`
    case "ObjectionUnresolved":
      return `${who}: tenants objected to notice ${finding.noticeId} (${finding.objections} ${
        finding.objections === 1 ? "objection" : "objections"
      }), which announced what it processes: announce the change again once the objections are resolved`
  }
}
