/**
 * @lawful/core: ids, emails, the Vault, the subject directory, the personal-data registry and the database.
 *
 * @since 0.1.0
 */

/** Time-ordered UUIDs (version 7) from `Clock`, for every package's ids. */
export * as Uuid from "./Uuid.js"

/** Tenant ids: the accounts of the platform. */
export * as TenantId from "./TenantId.js"

/** Subject ids: opaque ids of the people whose data a tenant holds. */
export * as SubjectId from "./SubjectId.js"

/** Email validation and the normal form subjects are keyed on. */
export * as Email from "./Email.js"

/** CSV as RFC 4180 writes it, and cells a spreadsheet shows as text, never runs. */
export * as Csv from "./Csv.js"

/** Strict JSON text: no member given twice, numbers as plain decimal integers. */
export * as Json from "./Json.js"

/** What a Schema refused, by path and expected form, never quoting the value refused. */
export * as Issues from "./Issues.js"

/** Text every store can hold: no NUL character, no unpaired surrogate. */
export * as Text from "./Text.js"

/** The master key from configuration, and rotation keyrings. */
export * as MasterKey from "./MasterKey.js"

/** Storage of wrapped tenant and subject keys, and the erasure ledger. */
export * as KeyStore from "./KeyStore.js"

/** Envelope encryption of personal data, blind indexes and crypto-shredding. */
export * as Vault from "./Vault.js"

/** The subjects of each tenant, found by their email address through a blind index. */
export * as SubjectDirectory from "./SubjectDirectory.js"

/** The register of personal-data sources, and export, erasure and rectification across them. */
export * as PersonalDataRegistry from "./PersonalDataRegistry.js"

/** Retention categories: the contract of purgeable records, and the registry packages add theirs to. */
export * as RetentionTarget from "./RetentionTarget.js"

/** A tenant's suppression list, kept as keyed hashes of addresses. */
export * as SuppressionList from "./SuppressionList.js"

/** Per-package migrations in their own tables. */
export * as Migrations from "./Migrations.js"

/** The database from configuration: PostgreSQL or embedded PGlite. */
export * as Database from "./Database.js"

/** Start-up failures reported as one clear line. */
export * as Startup from "./Startup.js"

/** Groups concurrent calls into batches: many callers' writes as one statement and one commit. */
export * as Batcher from "./Batcher.js"

/** Random bytes from a pooled CSPRNG: nonces, salts, keys and ids without a system call each. */
export * as Random from "./Random.js"
