/**
 * The small interface other packages record processing through: one line at
 * the call site.
 *
 * ```ts
 * yield* audit.append(tenant, new AuditEvent({
 *   actor: { kind: "api-key", id: keyId },
 *   action: "consent.recorded",
 *   purpose: "newsletter",
 *   legalBasis: "consent",
 *   subject
 * }))
 * ```
 *
 * `AuditLog.layer` provides it over the full log (with proofs, checkpoints
 * and queries); concurrent appends to one tenant's log are grouped into shared
 * transactions there.
 *
 * @since 0.1.0
 */
import type { TenantId } from "@lawful/core/TenantId"
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { AuditEvent } from "./AuditEvent.js"

/**
 * Where an appended event landed in its tenant's log.
 *
 * @since 0.1.0
 * @category models
 */
export interface Appended {
  readonly index: number
  readonly time: Date
  readonly leafHash: Uint8Array
}

/**
 * The event is not recordable as given (for example a `subject` actor
 * without a subject). Nothing was appended.
 *
 * @since 0.1.0
 * @category errors
 */
export class AuditEventInvalid extends Schema.TaggedError<AuditEventInvalid>()("AuditEventInvalid", {
  reason: Schema.String
}) {
  override get message(): string {
    return `Audit event invalid: ${this.reason}`
  }
}

/**
 * The log could not be written or read.
 *
 * @since 0.1.0
 * @category errors
 */
export class AuditStoreError extends Schema.TaggedError<AuditStoreError>()("AuditStoreError", {
  operation: Schema.String,
  cause: Schema.Defect
}) {
  override get message(): string {
    return `Audit store operation ${this.operation} failed`
  }
}

/**
 * @since 0.1.0
 * @category services
 */
export class AuditTrail extends Context.Tag("@lawful/audit-trail/AuditTrail")<AuditTrail, {
  /**
   * Records one processing operation. Called inside an open SQL transaction (the audit store on
   * its database), the entry commits or rolls back with that transaction.
   */
  readonly append: (tenant: TenantId, event: AuditEvent) => Effect.Effect<Appended, AuditEventInvalid | AuditStoreError>
  /** Appends the events in order, in one transaction (the caller's, if one is open): all or none. */
  readonly appendAll: (
    tenant: TenantId,
    events: ReadonlyArray<AuditEvent>
  ) => Effect.Effect<ReadonlyArray<Appended>, AuditEventInvalid | AuditStoreError>
}>() {}
