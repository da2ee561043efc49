/**
 * Notices to tenants of an intended change of sub-processor (GDPR Art. 28(2)
 * and (4)): adding or replacing a processor that serves tenants is announced
 * with an objection period, tenants are notified through `TenantNotifier`,
 * and their objections are recorded until the period ends.
 *
 * A processor that serves tenants is approved only once a notice about it has
 * been announced and its objection period has ended, and takes on a new
 * country or purpose only once a notice naming it has (see `Approval`); a
 * notice a tenant objected to counts for neither: the change is announced
 * again once the objection is resolved.
 *
 * @since 0.1.0
 */
import { TenantId } from "@lawful/core/TenantId"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { Country } from "./Country.js"
import { freeText, freeTexts } from "./internal/text.js"
import { make as uuidV7, pattern as uuidPattern } from "@lawful/core/Uuid"
import { ProcessorId } from "./Processor.js"

/**
 * The id of a change notice.
 *
 * @since 0.1.0
 * @category models
 */
export const NoticeId = Schema.String.pipe(
  Schema.pattern(uuidPattern, { message: () => "a notice id is a lower-case UUID" }),
  Schema.brand("@lawful/processor-registry/NoticeId")
)

/**
 * @since 0.1.0
 * @category models
 */
export type NoticeId = typeof NoticeId.Type

/**
 * A new time-ordered notice id.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeId: Effect.Effect<NoticeId> = Effect.map(uuidV7, (id) => NoticeId.make(id))

/**
 * Days tenants have to object, unless the announcement sets another period.
 *
 * @since 0.1.0
 * @category models
 */
export const defaultObjectionPeriodDays = 30

// A description or an objection may name people: refused without being echoed.
const Text = freeText(2000)

/**
 * An announcement to make.
 *
 * @since 0.1.0
 * @category models
 */
export const AnnouncementInput = Schema.Struct({
  processorId: ProcessorId,
  /** The processor this one replaces, for a replacement. */
  replaces: Schema.optional(ProcessorId),
  /** What changes, in the tenants' terms; a sentence is made from the processor when absent. */
  description: Schema.optionalWith(
    Schema.UndefinedOr(Text).annotations({
      message: () => ({
        message: "a description is 1 to 2000 characters of text, without NUL characters or unpaired surrogates",
        override: true
      })
    }),
    { exact: true }
  ),
  /**
   * The countries the processor will process data in, when the notice announces a change of
   * them (a new country): the processor's own when absent. A country is taken on only once a
   * notice naming it has run its objection period.
   */
  locations: Schema.optional(Schema.NonEmptyArray(Country)),
  /**
   * The purposes the processor will process data for, when the notice announces a change of
   * them: the processor's own when absent. A purpose is taken on only once a notice naming it
   * has run its objection period.
   */
  purposes: Schema.optionalWith(freeTexts(200, true), { exact: true }),
  objectionPeriodDays: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 365)), {
    default: () => defaultObjectionPeriodDays
  }),
  /**
   * The tenants to notify: every tenant. None is refused once any tenant has received a notice
   * (there are tenants to tell).
   */
  audience: Schema.Array(TenantId)
}).pipe(
  Schema.filter((input) => input.replaces !== input.processorId || "a processor cannot replace itself")
)

/**
 * @since 0.1.0
 * @category models
 */
export type AnnouncementInput = typeof AnnouncementInput.Type

/**
 * A published notice.
 *
 * @since 0.1.0
 * @category models
 */
export class ChangeNotice extends Schema.Class<ChangeNotice>("@lawful/processor-registry/ChangeNotice")({
  id: NoticeId,
  kind: Schema.Literal("addition", "replacement"),
  processorId: ProcessorId,
  processorName: Schema.String,
  services: Schema.Array(Schema.String),
  locations: Schema.Array(Country),
  /** The purposes announced; absent from a notice published before notices named them. */
  purposes: Schema.optional(Schema.Array(Schema.String)),
  replaces: Schema.optional(Schema.Struct({ processorId: ProcessorId, processorName: Schema.String })),
  description: Schema.String,
  publishedAt: Schema.Date,
  /** Objections are accepted until this instant; the change takes effect no earlier. */
  objectionDeadline: Schema.Date
}) {}

/**
 * Whether tenants may still object.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isOpen = (notice: ChangeNotice, at: Date): boolean => at.getTime() < notice.objectionDeadline.getTime()

/**
 * A tenant's objection.
 *
 * @since 0.1.0
 * @category models
 */
export class Objection extends Schema.Class<Objection>("@lawful/processor-registry/Objection")({
  tenantId: TenantId,
  noticeId: NoticeId,
  reason: Text,
  objectedAt: Schema.Date
}) {}

/**
 * An objection to record.
 *
 * @since 0.1.0
 * @category models
 */
export const ObjectionInput = Schema.Struct({ reason: Text })

/**
 * @since 0.1.0
 * @category models
 */
export type ObjectionInput = typeof ObjectionInput.Type

/**
 * What an announcement did: the notice, and the tenants the notifier could
 * not reach (the notice stands; retry them with the notifier).
 *
 * @since 0.1.0
 * @category models
 */
export interface Announcement {
  readonly notice: ChangeNotice
  readonly notified: ReadonlyArray<TenantId>
  readonly undelivered: ReadonlyArray<TenantId>
}
