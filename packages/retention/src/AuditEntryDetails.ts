/**
 * The `"audit.entry-details"` retention category: the details of audit
 * entries, redacted when their period ends. The entry, its leaf hash and the
 * tree stay, so the log still verifies; `AuditLog.redactDetails` appends an
 * `audit.details.redacted` entry per batch.
 *
 * Holds on subjects: the held subjects go to `AuditLog.redactDetails` as
 * `excludeSubjects`, so their entries keep their details until the hold is
 * released and every other subject's are redacted on time. Counts and the
 * oldest entry are found by paging through the tenant's log, a thousand
 * entries a page: fine for reports and dry runs, slow on very long logs.
 *
 * @since 0.1.0
 */
import type { Actor } from "@lawful/audit-trail/AuditEvent"
import { AuditLog } from "@lawful/audit-trail/AuditLog"
import type { AuditEntry } from "@lawful/audit-trail/AuditEntry"
import { AuditStore } from "@lawful/audit-trail/AuditStore"
import * as RetentionTarget from "@lawful/core/RetentionTarget"
import type { SubjectId } from "@lawful/core/SubjectId"
import type { TenantId } from "@lawful/core/TenantId"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { systemActor } from "./Sweeper.js"

/**
 * The id of the category.
 *
 * @since 0.1.0
 * @category models
 */
export const targetId = "audit.entry-details"

const page = 1000

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

    // Visits entries in index order, a page at a time, until `visit` returns false.
    const scan = (
      tenant: TenantId,
      to: Date | undefined,
      visit: (entry: AuditEntry) => boolean
    ) =>
      Effect.gen(function*() {
        let after: number | undefined
        while (true) {
          const entries = yield* store.entries(tenant, { to, after, limit: page })
          for (const entry of entries) if (!visit(entry)) return
          if (entries.length < page) return
          after = entries[entries.length - 1]!.index
        }
      })

    const excluded = (entry: AuditEntry, subjects: ReadonlySet<SubjectId>) =>
      Option.isSome(entry.subject) && subjects.has(entry.subject.value.id)

    const count = (tenant: TenantId, selection: RetentionTarget.Selection) =>
      Effect.gen(function*() {
        let counted = 0
        yield* scan(tenant, selection.cutoff, (entry) => {
          if (Option.isSome(entry.details) && !excluded(entry, selection.excludeSubjects)) counted++
          return true
        })
        return counted
      })

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
      count: (tenant, selection) => count(tenant, selection).pipe(Effect.mapError(fail("count"))),
      oldest: (tenant, { excludeSubjects }) =>
        Effect.gen(function*() {
          let oldest: Option.Option<Date> = Option.none()
          yield* scan(tenant, undefined, (entry) => {
            if (Option.isNone(entry.details) || excluded(entry, excludeSubjects)) return true
            oldest = Option.some(entry.time)
            return false
          })
          return oldest
        }).pipe(Effect.mapError(fail("find the oldest record")))
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
