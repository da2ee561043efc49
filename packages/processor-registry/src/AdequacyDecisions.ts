/**
 * The European Commission's adequacy decisions (GDPR Art. 45), shipped as
 * data with their dates and sources, and replaceable when the list changes.
 *
 * A decision is in force from `adoptedOn` through `validUntil` (inclusive)
 * when it has one. Some cover only part of a country: the one for the United
 * States (the EU-US Data Privacy Framework) covers only organisations
 * certified under it, so a US transfer relies on the recipient's DPF
 * certification, not on "adequacy" alone.
 *
 * Sources: the Commission's page "Adequacy decisions"
 * (https://commission.europa.eu/law/law-topic/data-protection/international-dimension-data-protection/adequacy-decisions_en)
 * and each act in the Official Journal (its `source`), checked in November 2026.
 * The 2025 renewal of the United Kingdom's decision is dated from the
 * Commission's announcement of 19 December 2025; its act number was not
 * checked here, so its `source` is the Commission's page.
 *
 * To update the list without a release, provide `layer(decisions)` (for
 * example decoded from JSON with `Schema.decodeUnknown(DecisionList)`).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { Country } from "./Country.js"
import { describeIssues } from "./internal/issues.js"

/**
 * What a decision covers: a country (or part of it, see `scope`), or an
 * international organisation.
 *
 * @since 0.1.0
 * @category models
 */
export const Territory = Schema.Union(
  Schema.TaggedStruct("Country", { country: Country }),
  Schema.TaggedStruct("InternationalOrganisation", { name: Schema.NonEmptyTrimmedString })
)

/**
 * @since 0.1.0
 * @category models
 */
export type Territory = typeof Territory.Type

/**
 * An adequacy decision of the European Commission.
 *
 * @since 0.1.0
 * @category models
 */
export class AdequacyDecision extends Schema.Class<AdequacyDecision>("@lawful/processor-registry/AdequacyDecision")({
  /** A stable id, e.g. `"CH"`, `"GB-2025"`, `"US-DPF"`, `"EPO"`. */
  id: Schema.NonEmptyTrimmedString,
  territory: Territory,
  /** The territory's name as the decision calls it. */
  name: Schema.NonEmptyTrimmedString,
  /** What the decision covers, in a sentence. */
  scope: Schema.NonEmptyTrimmedString,
  /** Set when only organisations certified under a framework are covered. */
  coversOnly: Schema.optional(Schema.Literal("dpf-certified-organisations")),
  /** The legal act. */
  act: Schema.NonEmptyTrimmedString,
  adoptedOn: Schema.Date,
  /** The last day the decision applies, when it is time-limited. */
  validUntil: Schema.optional(Schema.Date),
  /** Where the act is published. */
  source: Schema.NonEmptyTrimmedString,
  notes: Schema.optional(Schema.String)
}) {}

/**
 * A list of decisions, as JSON.
 *
 * @since 0.1.0
 * @category models
 */
export const DecisionList = Schema.Array(AdequacyDecision)

const commissionPage =
  "https://commission.europa.eu/law/law-topic/data-protection/international-dimension-data-protection/adequacy-decisions_en"

const country = (
  code: string,
  name: string,
  act: string,
  adoptedOn: string,
  eli: string,
  scope: string,
  extra: { readonly id?: string; readonly validUntil?: string; readonly notes?: string; readonly source?: string } = {}
) =>
  AdequacyDecision.make({
    id: extra.id ?? code,
    territory: { _tag: "Country", country: Country.make(code) },
    name,
    scope,
    act,
    adoptedOn: new Date(`${adoptedOn}T00:00:00Z`),
    ...(extra.validUntil ? { validUntil: new Date(`${extra.validUntil}T00:00:00Z`) } : {}),
    source: extra.source ?? `https://eur-lex.europa.eu/eli/${eli}/oj`,
    ...(extra.notes ? { notes: extra.notes } : {})
  })

const whole = "all transfers within the scope of the GDPR"

/**
 * The decisions in force or once in force, as shipped with this release
 * (alphabetical by territory).
 *
 * @since 0.1.0
 * @category models
 */
export const shipped: ReadonlyArray<AdequacyDecision> = [
  country("AD", "Andorra", "Commission Decision 2010/625/EU", "2010-10-19", "dec/2010/625", whole),
  country("AR", "Argentina", "Commission Decision 2003/490/EC", "2003-06-30", "dec/2003/490", whole),
  country(
    "CA",
    "Canada",
    "Commission Decision 2002/2/EC",
    "2001-12-20",
    "dec/2002/2",
    "commercial organisations subject to the Personal Information Protection and Electronic Documents Act (PIPEDA)"
  ),
  country("FO", "Faroe Islands", "Commission Decision 2010/146/EU", "2010-03-05", "dec/2010/146", whole),
  country("GG", "Guernsey", "Commission Decision 2003/821/EC", "2003-11-21", "dec/2003/821", whole),
  country("IL", "Israel", "Commission Decision 2011/61/EU", "2011-01-31", "dec/2011/61", whole),
  country("IM", "Isle of Man", "Commission Decision 2004/411/EC", "2004-04-28", "dec/2004/411", whole),
  country(
    "JP",
    "Japan",
    "Commission Implementing Decision (EU) 2019/419",
    "2019-01-23",
    "dec_impl/2019/419",
    "personal information handling business operators under the Act on the Protection of Personal Information, with the Supplementary Rules"
  ),
  country("JE", "Jersey", "Commission Decision 2008/393/EC", "2008-05-08", "dec/2008/393", whole),
  country("NZ", "New Zealand", "Commission Implementing Decision 2013/65/EU", "2012-12-19", "dec_impl/2013/65", whole),
  country(
    "KR",
    "Republic of Korea",
    "Commission Implementing Decision (EU) 2022/254",
    "2021-12-17",
    "dec_impl/2022/254",
    "personal information controllers subject to the Personal Information Protection Act, with the exceptions listed in the decision"
  ),
  country("CH", "Switzerland", "Commission Decision 2000/518/EC", "2000-07-26", "dec/2000/518", whole),
  country(
    "GB",
    "United Kingdom",
    "Commission Implementing Decision (EU) 2021/1772",
    "2021-06-28",
    "dec_impl/2021/1772",
    whole,
    {
      id: "GB-2021",
      validUntil: "2025-12-27",
      notes: "Adopted for four years (to 27 June 2025), extended by six months in June 2025, then renewed (GB-2025)"
    }
  ),
  country(
    "GB",
    "United Kingdom",
    "Commission renewal of the GDPR adequacy decision for the United Kingdom",
    "2025-12-19",
    "",
    whole,
    {
      id: "GB-2025",
      validUntil: "2031-12-27",
      source: commissionPage,
      notes: "Renewal announced by the Commission on 19 December 2025, applying until 27 December 2031"
    }
  ),
  country(
    "UY",
    "Uruguay",
    "Commission Implementing Decision 2012/484/EU",
    "2012-08-21",
    "dec_impl/2012/484",
    whole
  ),
  AdequacyDecision.make({
    id: "US-DPF",
    territory: { _tag: "Country", country: Country.make("US") },
    name: "United States",
    scope: "organisations certified under the EU-US Data Privacy Framework (DPF list of the US Department of Commerce)",
    coversOnly: "dpf-certified-organisations",
    act: "Commission Implementing Decision (EU) 2023/1795",
    adoptedOn: new Date("2023-07-10T00:00:00Z"),
    source: "https://eur-lex.europa.eu/eli/dec_impl/2023/1795/oj",
    notes: "The EU-US Data Privacy Framework; the successor of the Privacy Shield, invalidated on 16 July 2020"
  }),
  AdequacyDecision.make({
    id: "EPO",
    territory: { _tag: "InternationalOrganisation", name: "European Patent Organisation" },
    name: "European Patent Organisation",
    scope: "the European Patent Organisation under its Data Protection Rules",
    act: "Commission Implementing Decision (EU) 2025/1382",
    adoptedOn: new Date("2025-07-15T00:00:00Z"),
    source: "https://eur-lex.europa.eu/eli/dec_impl/2025/1382/oj",
    notes: "The first adequacy decision for an international organisation"
  })
]

/**
 * A decision the Court of Justice invalidated: transfers may no longer rely on it.
 *
 * @since 0.1.0
 * @category models
 */
export interface InvalidatedDecision {
  readonly name: string
  readonly act: string
  readonly adoptedOn: Date
  readonly invalidatedOn: Date
  readonly judgment: string
  readonly source: string
}

/**
 * The EU-US Privacy Shield, invalidated by the Court of Justice in Schrems II.
 *
 * @since 0.1.0
 * @category models
 */
export const privacyShield: InvalidatedDecision = {
  name: "EU-US Privacy Shield",
  act: "Commission Implementing Decision (EU) 2016/1250",
  adoptedOn: new Date("2016-07-12T00:00:00Z"),
  invalidatedOn: new Date("2020-07-16T00:00:00Z"),
  judgment: "Judgment of the Court of Justice of 16 July 2020, Schrems II, C-311/18",
  source: "https://curia.europa.eu/juris/liste.jsf?num=C-311/18"
}

/**
 * The decisions the registry checks transfers against: `shipped` unless a
 * layer provides another list.
 *
 * @since 0.1.0
 * @category services
 */
export class AdequacyDecisions extends Context.Reference<AdequacyDecisions>()(
  "@lawful/processor-registry/AdequacyDecisions",
  { defaultValue: (): ReadonlyArray<AdequacyDecision> => shipped }
) {}

/**
 * A list given to `layer` that is not a list of decisions: `issues` says what
 * is wrong, one per line, each led by the decision's index and field.
 *
 * @since 0.1.0
 * @category errors
 */
export class DecisionListInvalid extends Schema.TaggedError<DecisionListInvalid>()("DecisionListInvalid", {
  issues: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `Invalid adequacy decisions: ${this.issues.join("; ")}`
  }
}

// Each decision checked by its fields, so a plain object that TypeScript takes for one is checked as
// its constructor checks one (valid dates included), then made one from the checked copy without
// checking it again.
const validateList = Schema.validate(Schema.Array(Schema.Struct(AdequacyDecision.fields)))

/**
 * Replaces the shipped list. Each decision is checked as its constructor
 * checks one (a plain object of its fields too, then made a decision): a list
 * that is not one of decisions, an Invalid Date among them, fails the layer
 * with `DecisionListInvalid`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (decisions: ReadonlyArray<AdequacyDecision>): Layer.Layer<AdequacyDecisions, DecisionListInvalid> =>
  Layer.effect(
    AdequacyDecisions,
    validateList(decisions).pipe(
      Effect.map((valid) => valid.map((decision) => new AdequacyDecision(decision, true))),
      Effect.mapError((error) => new DecisionListInvalid({ issues: describeIssues(error) }))
    )
  )

const day = 24 * 60 * 60 * 1000

/**
 * Whether a decision applies at a time.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isInForce = (decision: AdequacyDecision, at: Date): boolean =>
  decision.adoptedOn.getTime() <= at.getTime() &&
  (decision.validUntil === undefined || at.getTime() < decision.validUntil.getTime() + day)

/**
 * The decision in force for a country at a time, if any.
 *
 * @since 0.1.0
 * @category constructors
 */
export const forCountry = (
  decisions: ReadonlyArray<AdequacyDecision>,
  country: Country,
  at: Date
): Option.Option<AdequacyDecision> =>
  Option.fromNullable(
    decisions.find((decision) =>
      decision.territory._tag === "Country" && decision.territory.country === country && isInForce(decision, at)
    )
  )
