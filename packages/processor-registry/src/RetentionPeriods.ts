/**
 * Retention periods for the record of processing activities (Art. 30(1)(f)),
 * looked up by data category. The retention package, or the app, provides
 * them; by default every period reads "not set".
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"

/**
 * The lookup: a description of the period ("13 months after the last
 * activity"), or none when no policy covers the category.
 *
 * @since 0.1.0
 * @category models
 */
export interface Lookup {
  readonly periodOf: (category: string) => Effect.Effect<Option.Option<string>>
}

/**
 * Where the record reads retention periods. Optional: without a layer,
 * every period is "not set".
 *
 * @since 0.1.0
 * @category services
 */
export class RetentionPeriods extends Context.Reference<RetentionPeriods>()(
  "@lawful/processor-registry/RetentionPeriods",
  { defaultValue: (): Lookup => notSet }
) {}

/**
 * The lookup that knows no period.
 *
 * @since 0.1.0
 * @category constructors
 */
export const notSet: Lookup = { periodOf: () => Effect.succeed(Option.none()) }

/**
 * Provides a lookup.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (lookup: Lookup): Layer.Layer<RetentionPeriods> => Layer.succeed(RetentionPeriods, lookup)

/**
 * Provides fixed periods by category, for apps that state them in configuration.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFromRecord = (periods: Readonly<Record<string, string>>): Layer.Layer<RetentionPeriods> =>
  layer({ periodOf: (category) => Effect.succeed(Option.fromNullable(Object.hasOwn(periods, category) ? periods[category] : undefined)) })
