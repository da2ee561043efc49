/**
 * A processing activity of the platform, one line of the record of processing
 * activities (Art. 30): as controller (its own staff and account data) or as
 * processor (on behalf of its tenants), with purposes, categories, and the
 * processors and other recipients that receive the data.
 *
 * Retention is looked up per data category through `RetentionPeriods`;
 * `retention` states it for categories no policy covers.
 *
 * @since 0.1.0
 */
import { LegalBasis } from "@lawful/audit-trail/AuditEvent"
import { freeText, freeTexts, optionalFreeText, Slug } from "./internal/text.js"
import * as Schema from "effect/Schema"
import { ProcessorId } from "./Processor.js"

// Free text: a refusal names the field and what is expected, never the text.
const Text = freeText(500)
const Names = freeTexts(200, true)

/**
 * The id of an activity, chosen by whoever records it (`"newsletter-delivery"`): lower-case
 * letters, digits, dots, dashes and underscores, at most 64 characters, as a questionnaire's ids
 * are. A refusal (`"an id is at most 64 characters"`) never quotes the id given.
 *
 * @since 0.1.0
 * @category models
 */
export const ActivityId = Slug

/**
 * Whether the platform acts as controller or as processor in the activity.
 *
 * @since 0.1.0
 * @category models
 */
export const ActingAs = Schema.Literal("controller", "processor")

/**
 * An activity to record.
 *
 * @since 0.1.0
 * @category models
 */
export const ActivityInput = Schema.Struct({
  id: ActivityId,
  name: Text,
  actingAs: ActingAs,
  /** For an activity as processor: the controllers, e.g. "each tenant, for its contacts". */
  controllers: optionalFreeText(500),
  purposes: Names,
  legalBasis: Schema.optional(LegalBasis),
  subjectCategories: Names,
  dataCategories: Names,
  /** The registered processors that receive the data (their sub-processors follow). */
  processors: Schema.Array(ProcessorId),
  /** Other recipients, by category ("tax authorities"). */
  otherRecipients: freeTexts(500, false),
  /** Retention in words, for categories no retention policy covers. */
  retention: optionalFreeText(500)
}).pipe(
  Schema.filter((input) =>
    input.actingAs === "controller" || input.controllers !== undefined ||
    "an activity as processor names its controllers"
  )
)

/**
 * @since 0.1.0
 * @category models
 */
export type ActivityInput = typeof ActivityInput.Type

/**
 * A recorded activity.
 *
 * @since 0.1.0
 * @category models
 */
export class ProcessingActivity extends Schema.Class<ProcessingActivity>(
  "@lawful/processor-registry/ProcessingActivity"
)({
  id: ActivityId,
  name: Text,
  actingAs: ActingAs,
  controllers: optionalFreeText(500),
  purposes: Names,
  legalBasis: Schema.optional(LegalBasis),
  subjectCategories: Names,
  dataCategories: Names,
  processors: Schema.Array(ProcessorId),
  otherRecipients: freeTexts(500, false),
  retention: optionalFreeText(500),
  updatedAt: Schema.Date
}) {}
