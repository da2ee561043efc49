/**
 * Data processing agreements (GDPR Art. 28(3)): the version, the parties, the
 * signature date, the SHA-256 of the signed document, and the dates by which
 * it is reviewed and, when it has a term, by which it expires.
 *
 * A processor's DPAs are kept, never replaced: the current one is the latest
 * signed. It binds until its expiry date (inclusive); after that the processor
 * has no DPA in force, and after its review date the review is overdue.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { createHash } from "node:crypto"
import { Day, dayHasBegun, dayHasPassed } from "./internal/dates.js"
import { freeText, freeTexts } from "./internal/text.js"
import { make as uuidV7, pattern as uuidPattern } from "@lawful/core/Uuid"
import { ProcessorId } from "./Processor.js"

/**
 * The id of a recorded DPA.
 *
 * @since 0.1.0
 * @category models
 */
export const DpaId = Schema.String.pipe(
  Schema.pattern(uuidPattern, { message: () => "a DPA id is a lower-case UUID" }),
  Schema.brand("@lawful/processor-registry/DpaId")
)

/**
 * @since 0.1.0
 * @category models
 */
export type DpaId = typeof DpaId.Type

/**
 * A new time-ordered DPA id.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeId: Effect.Effect<DpaId> = Effect.map(uuidV7, (id) => DpaId.make(id))

/**
 * A SHA-256 digest in lower-case hex.
 *
 * @since 0.1.0
 * @category models
 */
export const Sha256Hex = Schema.String.pipe(
  Schema.pattern(/^[0-9a-f]{64}$/, { message: () => "a SHA-256 digest is 64 lower-case hex digits" })
)

const Text = freeText(200)
// The parties' names may be people's (a sole trader's): refused without being echoed.
const Parties = freeTexts(200, true)

/**
 * A signed DPA to record. Its dates are calendar days, counted in UTC,
 * written `YYYY-MM-DD` or as ISO 8601 times with `Z` or an offset, of which
 * only the date as written is kept (`2027-03-01T23:30:00-02:00` is 1 March
 * 2027); zone-less or impossible dates are refused. A DPA is in force from
 * the first instant of its signature day through the last of its expiry day.
 *
 * @since 0.1.0
 * @category models
 */
export const DpaInput = Schema.Struct({
  version: Text,
  parties: Parties,
  signedOn: Day,
  documentSha256: Sha256Hex,
  reviewDue: Day,
  expiresOn: Schema.optional(Day)
}).pipe(
  Schema.filter((dpa) => {
    if (dpa.reviewDue.getTime() < dpa.signedOn.getTime()) return "the review date is before the signature date"
    if (dpa.expiresOn !== undefined && dpa.expiresOn.getTime() < dpa.signedOn.getTime()) {
      return "the expiry date is before the signature date"
    }
    return true
  })
)

/**
 * @since 0.1.0
 * @category models
 */
export type DpaInput = typeof DpaInput.Type

/**
 * A recorded DPA.
 *
 * @since 0.1.0
 * @category models
 */
export class Dpa extends Schema.Class<Dpa>("@lawful/processor-registry/Dpa")({
  id: DpaId,
  processorId: ProcessorId,
  version: Text,
  parties: Parties,
  signedOn: Schema.Date,
  documentSha256: Sha256Hex,
  reviewDue: Schema.Date,
  expiresOn: Schema.optional(Schema.Date),
  recordedAt: Schema.Date
}) {}

/**
 * The SHA-256 of a signed document, to record with its DPA.
 *
 * @since 0.1.0
 * @category constructors
 */
export const hashDocument = (document: Uint8Array): string => createHash("sha256").update(document).digest("hex")

/**
 * The DPA that governs now: the latest signed by `at`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const current = (dpas: ReadonlyArray<Dpa>, at: Date): Dpa | undefined =>
  dpas
    .filter((dpa) => dayHasBegun(dpa.signedOn, at))
    .reduce<Dpa | undefined>(
      (latest, dpa) =>
        latest === undefined || dpa.signedOn.getTime() > latest.signedOn.getTime() ||
          (dpa.signedOn.getTime() === latest.signedOn.getTime() && dpa.recordedAt.getTime() >= latest.recordedAt.getTime())
          ? dpa
          : latest,
      undefined
    )

/**
 * Whether a DPA binds at `at`: its signature day has begun and its expiry
 * day, if any, has not passed (it is in force through that day).
 *
 * @since 0.1.0
 * @category predicates
 */
export const isInForce = (dpa: Dpa, at: Date): boolean =>
  dayHasBegun(dpa.signedOn, at) && (dpa.expiresOn === undefined || !dayHasPassed(dpa.expiresOn, at))

/**
 * Whether a DPA's review day has passed: true from the day after it.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isReviewOverdue = (dpa: Dpa, at: Date): boolean => dayHasPassed(dpa.reviewDue, at)
