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
 *   (`Processor.exporterOf`); an Art. 49 derogation is none (it is for
 *   occasional transfers, not a processor's: see `TransferMechanism`);
 * - when it serves tenants, change notices announced to them whose objection
 *   periods have ended, naming each of its countries and purposes
 *   (`ChangeAnnounced`, `ObjectionPeriodEnded`): a country or purpose added
 *   to an engaged processor is announced first (`announce` with the
 *   `locations` or `purposes` to come), and taken on once its notice's
 *   objection period has ended. A notice a tenant objected to announces
 *   nothing (`ObjectionUnresolved`): with a general written authorisation the
 *   tenant may object (Art. 28(2)), and the platform does not engage the
 *   sub-processor for its data over the objection; the registry engages a
 *   processor for every tenant's data at once, so the change waits until the
 *   objection is resolved (the tenant's concerns met, or the tenant gone) and
 *   is announced again, by a notice no tenant objects to.
 *
 * The same requirements hold when an approved processor is changed or a
 * suspended one is reinstated, and a suspended processor, which still holds
 * the tenants' data, takes on a country or purpose only as an approved one
 * does. Time passing can break them afterwards (a DPA expires, a
 * certification lapses): that is what findings report, and so an engaged
 * processor left over an objection by an earlier version (approved over it, or
 * changed over it while suspended), by this module's rule
 * (`Finding.ObjectionUnresolved`).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import type { AdequacyDecision } from "./AdequacyDecisions.js"
import * as Assessment from "./Assessment.js"
import type { ChangeNotice, Objection } from "./ChangeNotice.js"
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
  Schema.TaggedStruct("ObjectionPeriodEnded", { noticeId: Schema.String, endsAt: Schema.Date }),
  /** Tenants objected to the notice that announced the change: it has to be announced again. */
  Schema.TaggedStruct("ObjectionUnresolved", { noticeId: Schema.String, objections: Schema.Number })
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
  /** The objections recorded to those notices (none when absent). */
  readonly objections?: ReadonlyArray<Objection>
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
  const { assessments, at, decisions, dpas, notices, objections = [], processor } = evidence
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

  if (processor.servesTenants) missing.push(...unannounced(processor, notices, objections, at))
  return missing
}

// What the tenants were told of: the processor, each of its countries and each of its purposes,
// by a notice whose objection period has ended and to which no tenant objected. A notice of an
// earlier version, which named no purposes, is taken to have announced the processor's purposes.
const unannounced = (
  processor: Processor,
  notices: ReadonlyArray<ChangeNotice>,
  objections: ReadonlyArray<Objection>,
  at: Date
): Array<Requirement> => {
  const own = notices.filter((notice) => notice.processorId === processor.id)
  if (own.length === 0) {
    return [{ _tag: "ChangeAnnounced", detail: "no change notice has been announced to the tenants" }]
  }
  const counted = new Map<string, number>()
  for (const objection of objections) counted.set(objection.noticeId, (counted.get(objection.noticeId) ?? 0) + 1)
  const objectionsTo = (notice: ChangeNotice) => counted.get(notice.id) ?? 0
  const objected = own.filter((notice) => objectionsTo(notice) > 0)
  const standing = own.filter((notice) => objectionsTo(notice) === 0)
  const closed = standing.filter((notice) => notice.objectionDeadline.getTime() <= at.getTime())
  const open = standing.filter((notice) => notice.objectionDeadline.getTime() > at.getTime())
  const earliest = (candidates: ReadonlyArray<ChangeNotice>) =>
    candidates.reduce((a, b) => (a.objectionDeadline.getTime() <= b.objectionDeadline.getTime() ? a : b))
  // Until one notice has closed, the earliest deadline is the one to wait for.
  if (closed.length === 0 && open.length > 0) {
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
    const refused = objected.filter(item.covers)
    if (pending.length === 0 && refused.length > 0) {
      const last = refused[refused.length - 1]!
      if (!waiting.has(last.id)) {
        waiting.add(last.id)
        missing.push({ _tag: "ObjectionUnresolved", noticeId: last.id, objections: objectionsTo(last) })
      }
    } else if (pending.length === 0) {
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
    case "ObjectionUnresolved":
      return `tenants objected to notice ${requirement.noticeId} (${requirement.objections} ${
        requirement.objections === 1 ? "objection" : "objections"
      }): the change is announced again once the objections are resolved`
  }
}
