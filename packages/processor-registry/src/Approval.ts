/**
 * What approving a processor takes, and what is missing.
 *
 * A processor is approved only with:
 *
 * - a signed DPA in force (`SignedDpa`);
 * - a satisfactory assessment: the latest decided one (`SatisfactoryAssessment`);
 * - a valid transfer mechanism for every location outside the EEA
 *   (`ValidMechanism`), SCCs of the module the processor's role needs
 *   (`Processor.exporterOf`);
 * - when it serves tenants, a change notice announced to them whose objection
 *   period has ended (`ChangeAnnounced`, `ObjectionPeriodEnded`).
 *
 * The same requirements hold when an approved processor is changed or a
 * suspended one is reinstated. Time passing can break them afterwards (a DPA
 * expires, a certification lapses): that is what findings report.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import type { AdequacyDecision } from "./AdequacyDecisions.js"
import * as Assessment from "./Assessment.js"
import type { ChangeNotice } from "./ChangeNotice.js"
import { Country } from "./Country.js"
import * as Dpa from "./Dpa.js"
import { isoDate } from "./internal/dates.js"
import { exporterOf, type Processor } from "./Processor.js"
import * as TransferMechanism from "./TransferMechanism.js"

/**
 * A requirement of approval that is not met.
 *
 * @since 0.1.0
 * @category models
 */
export const Requirement = Schema.Union(
  Schema.TaggedStruct("SignedDpa", { detail: Schema.String }),
  Schema.TaggedStruct("SatisfactoryAssessment", { detail: Schema.String }),
  Schema.TaggedStruct("ValidMechanism", {
    country: Country,
    reason: TransferMechanism.InvalidReason,
    detail: Schema.String
  }),
  Schema.TaggedStruct("ChangeAnnounced", { detail: Schema.String }),
  Schema.TaggedStruct("ObjectionPeriodEnded", { noticeId: Schema.String, endsAt: Schema.Date })
)

/**
 * @since 0.1.0
 * @category models
 */
export type Requirement = typeof Requirement.Type

/**
 * What a processor's approval is checked against.
 *
 * @since 0.1.0
 * @category models
 */
export interface Evidence {
  readonly processor: Processor
  readonly dpas: ReadonlyArray<Dpa.Dpa>
  readonly assessments: ReadonlyArray<Assessment.Assessment>
  readonly notices: ReadonlyArray<ChangeNotice>
  readonly decisions: ReadonlyArray<AdequacyDecision>
  readonly at: Date
}

/**
 * The requirements of approval that the evidence does not meet; empty when
 * the processor may be approved.
 *
 * @since 0.1.0
 * @category constructors
 */
export const unmet = (evidence: Evidence): ReadonlyArray<Requirement> => {
  const { assessments, at, decisions, dpas, notices, processor } = evidence
  const missing: Array<Requirement> = []

  const dpa = Dpa.current(dpas, at)
  if (dpa === undefined) {
    missing.push({ _tag: "SignedDpa", detail: "no signed DPA is recorded" })
  } else if (!Dpa.isInForce(dpa, at)) {
    missing.push({ _tag: "SignedDpa", detail: `DPA ${dpa.version} expired on ${isoDate(dpa.expiresOn!)}` })
  }

  const assessment = Assessment.latestDecided(assessments)
  if (assessment === undefined) {
    missing.push({ _tag: "SatisfactoryAssessment", detail: "no assessment has been decided" })
  } else if (!Assessment.isSatisfactory(assessment)) {
    missing.push({ _tag: "SatisfactoryAssessment", detail: "the latest assessment was decided unsatisfactory" })
  }

  for (const location of processor.locations) {
    const verdict = TransferMechanism.evaluate(location.country, location.mechanism, at, decisions, exporterOf(processor))
    if (verdict._tag === "Invalid") {
      missing.push({ _tag: "ValidMechanism", country: location.country, reason: verdict.reason, detail: verdict.detail })
    }
  }

  if (processor.servesTenants) {
    const own = notices.filter((notice) => notice.processorId === processor.id)
    if (own.length === 0) {
      missing.push({ _tag: "ChangeAnnounced", detail: "no change notice has been announced to the tenants" })
    } else {
      const open = own.filter((notice) => notice.objectionDeadline.getTime() > at.getTime())
      // One closed notice is enough; until then, the earliest deadline is the one to wait for.
      if (open.length === own.length) {
        const next = open.reduce((a, b) => (a.objectionDeadline.getTime() <= b.objectionDeadline.getTime() ? a : b))
        missing.push({ _tag: "ObjectionPeriodEnded", noticeId: next.id, endsAt: next.objectionDeadline })
      }
    }
  }
  return missing
}

/**
 * A requirement in words: "no signed DPA", "no valid mechanism for location US"...
 *
 * @since 0.1.0
 * @category constructors
 */
export const describe = (requirement: Requirement): string => {
  switch (requirement._tag) {
    case "SignedDpa":
      return `no signed DPA (${requirement.detail})`
    case "SatisfactoryAssessment":
      return `no satisfactory assessment (${requirement.detail})`
    case "ValidMechanism":
      return `no valid mechanism for location ${requirement.country} (${requirement.detail})`
    case "ChangeAnnounced":
      return `no change notice to tenants (${requirement.detail})`
    case "ObjectionPeriodEnded":
      return `the objection period of notice ${requirement.noticeId} runs until ${requirement.endsAt.toISOString()}`
  }
}
