/**
 * What approving a processor takes, and what is missing.
 *
 * A processor is approved only with:
 *
 * - a signed DPA in force (`SignedDpa`);
 * - a satisfactory assessment: the latest decided one, whose next review has
 *   not passed (a processor whose assessment fell due is assessed again
 *   before it is approved or reinstated) (`SatisfactoryAssessment`);
 * - a valid transfer mechanism for every location outside the EEA
 *   (`ValidMechanism`), SCCs of the module the processor's role needs
 *   (`Processor.exporterOf`);
 * - when it serves tenants, change notices announced to them whose objection
 *   periods have ended, naming each of its countries and purposes
 *   (`ChangeAnnounced`, `ObjectionPeriodEnded`): a country or purpose added
 *   to an engaged processor is announced first (`announce` with the
 *   `locations` or `purposes` to come), and taken on once its notice's
 *   objection period has ended.
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
  } else if (Assessment.isReviewOverdue(assessment, at)) {
    missing.push({
      _tag: "SatisfactoryAssessment",
      detail: `the latest assessment was due for review on ${isoDate(assessment.decision!.nextReviewDue)}`
    })
  }

  for (const location of processor.locations) {
    const verdict = TransferMechanism.evaluate(location.country, location.mechanism, at, decisions, exporterOf(processor))
    if (verdict._tag === "Invalid") {
      missing.push({ _tag: "ValidMechanism", country: location.country, reason: verdict.reason, detail: verdict.detail })
    }
  }

  if (processor.servesTenants) missing.push(...unannounced(processor, notices, at))
  return missing
}

// What the tenants were told of: the processor, each of its countries and each of its purposes,
// by a notice whose objection period has ended. A notice of an earlier version, which named no
// purposes, is taken to have announced the processor's purposes.
const unannounced = (processor: Processor, notices: ReadonlyArray<ChangeNotice>, at: Date): Array<Requirement> => {
  const own = notices.filter((notice) => notice.processorId === processor.id)
  if (own.length === 0) {
    return [{ _tag: "ChangeAnnounced", detail: "no change notice has been announced to the tenants" }]
  }
  const closed = own.filter((notice) => notice.objectionDeadline.getTime() <= at.getTime())
  const open = own.filter((notice) => notice.objectionDeadline.getTime() > at.getTime())
  const earliest = (candidates: ReadonlyArray<ChangeNotice>) =>
    candidates.reduce((a, b) => (a.objectionDeadline.getTime() <= b.objectionDeadline.getTime() ? a : b))
  // Until one notice has closed, the earliest deadline is the one to wait for.
  if (closed.length === 0) {
    const next = earliest(open)
    return [{ _tag: "ObjectionPeriodEnded", noticeId: next.id, endsAt: next.objectionDeadline }]
  }
  const items = [
    ...processor.locations.map((location) => ({
      covers: (notice: ChangeNotice) => notice.locations.includes(location.country),
      what: `processing in ${location.country}`
    })),
    ...processor.purposes.map((purpose) => ({
      covers: (notice: ChangeNotice) => notice.purposes === undefined || notice.purposes.includes(purpose),
      what: `the purpose "${purpose}"`
    }))
  ]
  const missing: Array<Requirement> = []
  const waiting = new Set<string>()
  for (const item of items) {
    if (closed.some(item.covers)) continue
    const pending = open.filter(item.covers)
    if (pending.length === 0) {
      missing.push({ _tag: "ChangeAnnounced", detail: `${item.what} has not been announced to the tenants` })
    } else {
      const next = earliest(pending)
      if (!waiting.has(next.id)) {
        waiting.add(next.id)
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
