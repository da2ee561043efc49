import { Actor } from "@lawful/audit-trail/AuditEvent"
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"

const ActorJson = Schema.parseJson(Actor)

/** An actor as stored in a text column. */
export const encodeActor = Schema.encodeSync(ActorJson)

/** An actor read back from a text column. */
export const decodeActor = Schema.decodeUnknownSync(ActorJson)

/** A period as people read it, and as audit details carry it: `"90d"`, `"forever"`. */
export const describePeriod = (period: Duration.Duration): string =>
  Duration.isFinite(period) ? Duration.format(period) : "forever"

/** A period as stored: milliseconds, or null for forever. */
export const periodToMillis = (period: Duration.Duration): number | null =>
  Duration.isFinite(period) ? Duration.toMillis(period) : null

/** A stored period back: null is forever. */
export const periodFromMillis = (millis: number | string | null): Duration.Duration =>
  millis === null ? Duration.infinity : Duration.millis(Number(millis))
