import { Actor } from "@lawful/audit-trail/AuditEvent"
import { AuditEventInvalid } from "@lawful/audit-trail/AuditTrail"
import { TargetId } from "@lawful/core/RetentionTarget"
import { is as isTenantId, type TenantId } from "@lawful/core/TenantId"
import * as Uuid from "@lawful/core/Uuid"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

const ActorJson = Schema.parseJson(Actor)

/** An actor as stored in a text column. */
export const encodeActor = Schema.encodeSync(ActorJson)

/** An actor read back from a text column. */
export const decodeActor = Schema.decodeUnknownSync(ActorJson)

/**
 * The actor, or `AuditEventInvalid` when no audit entry can name it: checked before anything is
 * written. The reason does not quote the actor (a staff id may be an address).
 */
export const checkActor = (actor: Actor): Effect.Effect<Actor, AuditEventInvalid> =>
  Effect.mapError(Schema.validate(Actor)(actor), () =>
    new AuditEventInvalid({
      reason: "the actor is the system, an API key or staff with an opaque id of 1 to 200 characters (no email address), or the subject"
    }))

/**
 * What an error may quote of an id a caller gave: the id when it is well formed (a category id, a
 * hold id as a lower-case UUID), otherwise nothing (`""`), since a mistaken id may be any text, an
 * address included.
 */
export const quotedCategory = (category: string): string => Schema.is(TargetId)(category) ? category : ""

/** See `quotedCategory`: a hold id in lower case, found whatever the case given, as stores find it. */
export const quotedHoldId = (holdId: string): string => {
  const id = holdId.toLowerCase()
  return Uuid.pattern.test(id) ? id : ""
}

/**
 * The tenants given, as an array (none when what was given is no array), and those of them that
 * are `TenantId`s: the only ones a store reads. Any other has nothing (on SQL it failed the
 * statement, its error quoting it; a string was read as an array).
 */
export const tenantsGiven = (tenants: ReadonlyArray<TenantId>): {
  readonly given: ReadonlyArray<TenantId>
  readonly ids: ReadonlyArray<TenantId>
} => {
  const given = Array.isArray(tenants) ? tenants : []
  return { given, ids: given.filter(isTenantId) }
}

/** The earliest time PostgreSQL's timestamptz keeps (4713 BC); it keeps every later time a Date has. */
export const earliestTime = Date.UTC(-4712, 0, 1)

/** A Date a store keeps: valid (an invalid Date's time is NaN) and not before `earliestTime`. */
export const isStorableTime = (value: unknown): value is Date =>
  value instanceof Date && value.getTime() >= earliestTime

// Before any time a store holds (PostgreSQL's times begin in 4713 BC), and one it can compare with.
const earliestCutoff = Date.UTC(-4000, 0, 1)

/**
 * The cut-off at `at` of a period: records strictly before it are expired; none when the period
 * is forever. A period reaching back before any time a store holds expires nothing: its cut-off
 * is that earliest time, not a date the database refuses.
 */
export const cutoffAt = (at: number, period: Duration.Duration): Date | undefined =>
  Duration.isFinite(period) ? new Date(Math.max(earliestCutoff, at - Duration.toMillis(period))) : undefined

/** A period as people read it, and as audit details carry it: `"90d"`, `"forever"`. */
export const describePeriod = (period: Duration.Duration): string =>
  Duration.isFinite(period) ? Duration.format(period) : "forever"

/** A period as stored: milliseconds, or null for forever. */
export const periodToMillis = (period: Duration.Duration): number | null =>
  Duration.isFinite(period) ? Duration.toMillis(period) : null

/** A stored period back: null is forever. */
export const periodFromMillis = (millis: number | string | null): Duration.Duration =>
  millis === null ? Duration.infinity : Duration.millis(Number(millis))
