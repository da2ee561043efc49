/**
 * How tenants hear of a change of sub-processor. The server delivers by email;
 * `layerMemory` records what was sent, for tests and for apps without mail.
 *
 * @since 0.1.0
 */
import type { TenantId } from "@lawful/core/TenantId"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import type { ChangeNotice } from "./ChangeNotice.js"

/**
 * A notice could not be delivered to a tenant.
 *
 * @since 0.1.0
 * @category errors
 */
export class NotificationFailed extends Schema.TaggedError<NotificationFailed>()("NotificationFailed", {
  tenantId: Schema.String,
  noticeId: Schema.String,
  cause: Schema.Defect
}) {
  override get message(): string {
    return `Notice ${this.noticeId} could not be delivered to tenant ${this.tenantId}`
  }
}

/**
 * @since 0.1.0
 * @category services
 */
export class TenantNotifier extends Context.Tag("@lawful/processor-registry/TenantNotifier")<TenantNotifier, {
  readonly notify: (tenant: TenantId, notice: ChangeNotice) => Effect.Effect<void, NotificationFailed>
}>() {}

/**
 * A notice as the memory notifier recorded it.
 *
 * @since 0.1.0
 * @category models
 */
export interface SentNotice {
  readonly tenant: TenantId
  readonly notice: ChangeNotice
}

/**
 * What the memory notifier sent.
 *
 * @since 0.1.0
 * @category services
 */
export class Outbox extends Context.Tag("@lawful/processor-registry/TenantNotifier/Outbox")<Outbox, {
  readonly sent: Effect.Effect<ReadonlyArray<SentNotice>>
}>() {}

/**
 * A notifier that records notices in memory, readable through `Outbox`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<TenantNotifier | Outbox> = Layer.effectContext(
  Effect.map(Ref.make<ReadonlyArray<SentNotice>>([]), (sent) =>
    Context.make(TenantNotifier, {
      notify: (tenant, notice) => Ref.update(sent, (all) => [...all, { tenant, notice }])
    }).pipe(Context.add(Outbox, { sent: Ref.get(sent) })))
)
