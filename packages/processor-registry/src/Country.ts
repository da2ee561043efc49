/**
 * Countries as ISO 3166-1 alpha-2 codes, and the European Economic Area:
 * transfers inside it need no transfer mechanism, transfers outside it do
 * (GDPR Chapter V).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * The 249 officially assigned ISO 3166-1 alpha-2 codes.
 *
 * @since 0.1.0
 * @category models
 */
export const codes: ReadonlyArray<string> = (
  "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ " +
  "CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO " +
  "FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE " +
  "JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO " +
  "MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW " +
  "PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM " +
  "TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW"
).split(" ")

const known = new Set(codes)

/**
 * A country: an upper-case ISO 3166-1 alpha-2 code (`"DE"`, `"US"`). Lower-case
 * input is refused rather than guessed at.
 *
 * @since 0.1.0
 * @category models
 */
export const Country = Schema.String.pipe(
  Schema.filter((code) => known.has(code), {
    // The value is not quoted: a value put in the wrong field may name a person.
    message: () => `an upper-case ISO 3166-1 alpha-2 country code (e.g. "DE", "US")`
  }),
  Schema.brand("@lawful/processor-registry/Country")
)

/**
 * @since 0.1.0
 * @category models
 */
export type Country = typeof Country.Type

/**
 * The 27 member states of the European Union.
 *
 * @since 0.1.0
 * @category models
 */
export const euMemberStates: ReadonlyArray<Country> = (
  "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK"
).split(" ").map((code) => Country.make(code))

/**
 * The EEA: the EU member states, Iceland, Liechtenstein and Norway, plus the
 * parts of member states that ISO codes separately and where the GDPR applies
 * (Åland; the French outermost regions French Guiana, Guadeloupe, Martinique,
 * Réunion, Mayotte and Saint-Martin). Overseas countries and territories
 * outside the EU (Greenland, the Faroe Islands, New Caledonia...) are not in it.
 *
 * @since 0.1.0
 * @category models
 */
export const eea: ReadonlySet<Country> = new Set([
  ...euMemberStates,
  ...["IS", "LI", "NO", "AX", "GF", "GP", "MQ", "RE", "YT", "MF"].map((code) => Country.make(code))
])

/**
 * Whether a country is in the EEA (no transfer mechanism needed).
 *
 * @since 0.1.0
 * @category predicates
 */
export const isEea = (country: Country): boolean => eea.has(country)

const displayNames = new Intl.DisplayNames(["en"], { type: "region", fallback: "code" })

/**
 * The English name of a country, for reports (`"US"` -> `"United States"`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const nameOf = (country: Country): string => displayNames.of(country) ?? country
