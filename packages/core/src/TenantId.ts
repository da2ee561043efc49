/**
 * The id of a tenant: an account of the platform, the controller of its contacts' data.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { make as uuidV7, pattern as uuidPattern } from "./Uuid.js"

/**
 * A tenant id: a lower-case UUID, time-ordered (version 7) when Lawful makes it.
 *
 * @since 0.1.0
 * @category models
 */
export const TenantId = Schema.String.pipe(
  Schema.pattern(uuidPattern, { message: () => "a tenant id is a lower-case UUID" }),
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
