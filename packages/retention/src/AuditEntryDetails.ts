/**
 * The `"audit.entry-details"` retention category: the details of audit
 * entries, redacted when their period ends. The entry, its leaf hash and the
 * tree stay, so the log still verifies; `AuditLog.redactDetails` appends an
 * `audit.details.redacted` entry per batch.
 *
 * Holds on subjects: the held subjects go to `AuditLog.redactDetails` as
 * `excludeSubjects`, so their entries keep their details until the hold is
 * released and every other subject's are redacted on time. Counts and the
 * oldest entry with details are `AuditStore.countDetails` and
 * `AuditStore.oldestDetails`, queries that read the entries after the
 * redaction watermark and those the watermark left behind, not the redacted
 * history.
 *
 * @since 0.1.0
 */
import type { Actor } from "@lawful/audit-trail/AuditEvent"
import { AuditLog } from "@lawful/audit-trail/AuditLog"
import { AuditStore } from "@lawful/audit-trail/AuditStore"
import * as RetentionTarget from "@lawful/core/RetentionTarget"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { systemActor } from "./Sweeper.js"

/**
 * The id of the category.
 *
 * @since 0.1.0
 * @category models
 */
export const targetId = "audit.entry-details"

/**
 * The category over the `AuditLog` and `AuditStore` in context: redact,
 * forever allowed; by default three years.
 *
 * @since 0.1.0
 * @category constructors
 */
export const target = (
  options: {
    readonly defaultPeriod?: Duration.DurationInput
    readonly maxPeriod?: Duration.DurationInput
    readonly actor?: Actor
  } = {}
): Effect.Effect<RetentionTarget.RetentionTarget, never, AuditLog | AuditStore> =>
  Effect.gen(function*() {
    const log = yield* AuditLog
    const store = yield* AuditStore
    const actor = options.actor ?? systemActor
    const fail = (operation: string) => RetentionTarget.targetError(targetId, operation)

    return {
      id: targetId,
      description: "Details of audit log entries (redacted; entries and leaf hashes stay)",
      action: "redact",
      allowForever: true,
      defaultPeriod: Duration.decode(options.defaultPeriod ?? Duration.days(1096)),
      maxPeriod: Duration.decode(options.maxPeriod ?? Duration.infinity),
      linksSubjects: true,
      tenants: store.tenants.pipe(Effect.mapError(fail("list tenants"))),
      purgeBatch: (tenant, batch) =>
        Effect.gen(function*() {
          const redacted = yield* log.redactDetails(tenant, {
            before: batch.cutoff,
            excludeSubjects: batch.excludeSubjects,
            limit: batch.limit,
            actor
          })
          return { purged: redacted.length, more: redacted.length >= batch.limit }
        }).pipe(Effect.mapError(fail("purge"))),
      count: (tenant, { cutoff, excludeSubjects }) =>
        store.countDetails(tenant, { before: cutoff, excludeSubjects }).pipe(Effect.mapError(fail("count"))),
      oldest: (tenant, { excludeSubjects }) =>
        store.oldestDetails(tenant, { excludeSubjects }).pipe(Effect.mapError(fail("find the oldest record")))
    } satisfies RetentionTarget.RetentionTarget
  })

/**
 * Registers `target(options)` in core's `RetentionTargets`.
 *
 * @since 0.1.0
 * @category layers
 */
export const registerTarget = (options: Parameters<typeof target>[0] = {}) =>
  RetentionTarget.register(target(options))
