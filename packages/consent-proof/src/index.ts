/**
 * @lawful/consent-proof: consent events, current state per list, attested imports, exports and proofs an auditor can verify.
 *
 * @since 0.1.0
 */

/**
 * The lists a tenant collects consent for, each with or without double opt-in.
 *
 * @since 0.1.0
 */
export * as ConsentLists from "./ConsentLists.js"

/**
 * The hashes of the notice, checkbox labels and privacy-policy link a person saw.
 *
 * @since 0.1.0
 */
export * as ConsentNotice from "./ConsentNotice.js"

/**
 * Consent events (granted, confirmed, withdrawn) and their canonical bytes.
 *
 * @since 0.1.0
 */
export * as ConsentEvent from "./ConsentEvent.js"

/**
 * The consent of a subject on each list, as a projection and a replay of its events.
 *
 * @since 0.1.0
 */
export * as ConsentState from "./ConsentState.js"

/**
 * Storage of events, the current-state projection and imports, in memory or SQL.
 *
 * @since 0.1.0
 */
export * as ConsentStore from "./ConsentStore.js"

/**
 * The ledger: records, state, recipients, imports, proofs, erasure and retention.
 *
 * @since 0.1.0
 */
export * as ConsentLedger from "./ConsentLedger.js"

/**
 * Imports of contacts with an attested source, and their reports.
 *
 * @since 0.1.0
 */
export * as ConsentImport from "./ConsentImport.js"

/**
 * Streamed exports of events as ISO/IEC TS 27560 JSON and RFC 4180 CSV.
 *
 * @since 0.1.0
 */
export * as ConsentExport from "./ConsentExport.js"

/**
 * Proofs of consent events, verifiable offline with the audit log's key.
 *
 * @since 0.1.0
 */
export * as ConsentProof from "./ConsentProof.js"

/**
 * Consent receipts for the person (Kantara v1.1 shaped JSON).
 *
 * @since 0.1.0
 */
export * as ConsentReceipt from "./ConsentReceipt.js"
