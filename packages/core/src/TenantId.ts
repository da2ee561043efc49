/**
 * The id of a tenant: an account of the platform, the controller of its contacts' data.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { make as uuidV7, pattern as uuidPattern } from "./Uuid.js"

// The refusal of anything that is not an id: Schema's own for a value that is not text quotes it.
const form = "a tenant id is a lower-case UUID"

/**
 * A tenant id: a lower-case UUID, time-ordered (version 7) when Lawful makes it. Anything else
 * (text or not) is refused with `"a tenant id is a lower-case UUID"`, never quoting it.
 *
 * @since 0.1.0
 * @category models
 */
export const TenantId = Schema.String.annotations({ message: () => form }).pipe(
  Schema.pattern(uuidPattern, { message: () => form }),
  Schema.brand("@lawful/core/TenantId")
)

/**
 * @since 0.1.0
 * @category models
 */
export type TenantId = typeof TenantId.Type

/**
 * A new time-ordered tenant id, its time read from `Clock`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<TenantId> = Effect.map(uuidV7, (id) => TenantId.make(id))

/**
 * Whether a value is a tenant id (a lower-case UUID): the check every operation makes of an id it
 * is given before a store is reached, so that every backend answers alike (PostgreSQL would read
 * an upper-case UUID as the lower-case one) and nothing quotes a value that is not one (an address
 * put in the wrong place). A regular expression, cheap on hot paths: no Schema parse.
 *
 * @since 0.1.0
 * @category guards
 */
export const is = (value: unknown): value is TenantId => typeof value === "string" && uuidPattern.test(value)

/**
 * A value as a span attribute or an error field may name it: the id when it is one, otherwise
 * `"(not a tenant id)"`, never the value given.
 *
 * @since 0.1.0
 * @category guards
 */
export const describe = (value: unknown): string => is(value) ? value : "(not a tenant id)"
