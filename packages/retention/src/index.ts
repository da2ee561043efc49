/**
 * @lawful/retention: retention policies per tenant and category, legal holds, the sweeper, archives and reports.
 *
 * @since 0.1.0
 */

/**
 * Policies per tenant and category, within platform defaults and bounds, audited.
 *
 * @since 0.1.0
 */
export * as RetentionPolicy from "./RetentionPolicy.js"

/**
 * Legal holds per tenant, subject or category, with their reason and who placed them.
 *
 * @since 0.1.0
 */
export * as LegalHold from "./LegalHold.js"

/**
 * The journal of sweeps, batch by batch, and the lock that lets one process sweep at a time.
 *
 * @since 0.1.0
 */
export * as SweepJournal from "./SweepJournal.js"

/**
 * The scheduled, resumable sweeper that purges expired records and appends receipts.
 *
 * @since 0.1.0
 */
export * as Sweeper from "./Sweeper.js"

/**
 * Per-category reports: policy, oldest record, next purge, held records.
 *
 * @since 0.1.0
 */
export * as RetentionReport from "./RetentionReport.js"

/**
 * Sealed legal archives in their own schema or database, purged when their period ends.
 *
 * @since 0.1.0
 */
export * as ArchiveStore from "./ArchiveStore.js"

/**
 * The retention category of audit entry details, redacted with their leaf hashes kept.
 *
 * @since 0.1.0
 */
export * as AuditEntryDetails from "./AuditEntryDetails.js"

/**
 * Every retention service in one layer, in memory or on SQL.
 *
 * @since 0.1.0
 */
export * as Retention from "./Retention.js"
