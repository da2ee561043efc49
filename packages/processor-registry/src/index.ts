/**
 * @lawful/processor-registry: the platform's processors and sub-processors, their DPAs,
 * assessments and transfer mechanisms, change notices to tenants, findings, the DPA annex
 * and the Art. 30 record of processing activities.
 *
 * @since 0.1.0
 */

/** The registry service: processors, DPAs, assessments, statuses, notices, record, annex, findings. */
export * as ProcessorRegistry from "./ProcessorRegistry.js"

/** Processors: ids, descriptions, roles, locations and statuses. */
export * as Processor from "./Processor.js"

/** Data processing agreements: version, parties, signature, document hash, review and expiry. */
export * as Dpa from "./Dpa.js"

/** Versioned questionnaires and their scoring rules. */
export * as Questionnaire from "./Questionnaire.js"

/** Assessments: answers, scores and the reviewer's decision. */
export * as Assessment from "./Assessment.js"

/** What approving a processor takes, and what is missing. */
export * as Approval from "./Approval.js"

/** Transfer mechanisms for third countries and whether they hold. */
export * as TransferMechanism from "./TransferMechanism.js"

/** The European Commission's adequacy decisions, as data with dates and sources. */
export * as AdequacyDecisions from "./AdequacyDecisions.js"

/** ISO 3166-1 country codes and the EEA. */
export * as Country from "./Country.js"

/** Notices of sub-processor changes to tenants, and their objections. */
export * as ChangeNotice from "./ChangeNotice.js"

/** How tenants are notified of changes, with a memory implementation. */
export * as TenantNotifier from "./TenantNotifier.js"

/** Processing activities, the lines of the record of processing activities. */
export * as ProcessingActivity from "./ProcessingActivity.js"

/** The Art. 30 record of processing activities, as JSON, CSV and HTML. */
export * as ProcessingRecord from "./ProcessingRecord.js"

/** The DPA annex: sub-processors and security measures, as Markdown and HTML. */
export * as DpaAnnex from "./DpaAnnex.js"

/** Typed findings for the compliance report. */
export * as Finding from "./Finding.js"

/** The optional lookup of retention periods for the record. */
export * as RetentionPeriods from "./RetentionPeriods.js"
