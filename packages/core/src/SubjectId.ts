/**
 * The id of a subject: a person whose data a tenant holds. It is opaque: it carries no personal data and is what logs and records name instead of an address.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { make as uuidV7, pattern as uuidPattern } from "./Uuid.js"

/**
 * A subject id: a lower-case UUID, time-ordered (version 7) when Lawful makes it.
 *
 * @since 0.1.0
 * @category models
 */
export const SubjectId = Schema.String.pipe(
  Schema.pattern(uuidPattern, { message: () => "a subject id is a lower-case UUID" }),
  Schema.brand("@lawful/core/SubjectId")
)

/**
 * @since 0.1.0
 * @category models
 */
export type SubjectId = typeof SubjectId.Type

/**
 * A new time-ordered subject id, its time read from `Clock`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<SubjectId> = Effect.map(uuidV7, (id) => SubjectId.make(id))
