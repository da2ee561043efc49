/**
 * The register of the platform's processors: the service that registers
 * them, records their DPAs and assessments, moves them through their
 * statuses, announces changes of sub-processor to tenants, and produces the
 * record of processing activities, the DPA annex and the findings.
 *
 * Every change is checked first and written whole or not at all: an
 * operation that fails with one of the errors below writes nothing. Each
 * change is appended to the platform's audit log (`platformTenant`) before it
 * is stored, so no stored change lacks its entry; notices and objections are
 * also appended to the log of each tenant concerned. An entry's details hold
 * no personal data: ids, statuses, countries, counts, digests and fixed codes.
 * Free text that may name people stays in the registry: a suspension or
 * termination reason is logged as `reason: "stated"` with `reasonHmac`, a
 * keyed digest (HMAC-SHA-256 under the platform's blind-index key in the
 * Vault: `Vault.blindIndex(platformTenant, reasonDomain, reason)`), of one
 * size whatever the reason, never a plain hash, which anyone holding the log
 * could test guesses against, nor the reason's length (a reason the registry
 * writes itself is logged as its code, e.g. `"assessment-unsatisfactory"`).
 * Only the platform can recompute the digest: an auditor who is shown a
 * reason asks the platform to check it against the entry
 * (`statedReasonMatches`). Entries written by earlier versions also carry
 * `reasonLength`, or carry `reasonSha256` instead of `reasonHmac`;
 * `statedReasonMatches` checks them too.
 * Decision notes, a notice's description and an objection's reason are not
 * logged, and neither is the processor's legal name, which for a sole trader
 * is a person's name. On SQL the entries and
 * the change are one transaction: with the audit log on the registry's
 * database (as `Database.layer` gives every package), a change that fails at
 * its commit leaves no entry either. Changes are made one at a time (a
 * semaphore). Every change of a processor (its status, details, DPAs,
 * assessments, notices) locks the processor's row first, in its transaction,
 * whatever the processor serves, and reads what it is checked on after: a
 * change of it made meanwhile by another replica waits for it, then is
 * checked on what it committed, and so does an objection to its notices,
 * which locks the row shared before anything is written. Each takes the row
 * before the audit log, whose append holds the log until commit with the log
 * on the registry's database, so two of them never wait for each other's
 * locks the other way round. A write to the processor's row made meanwhile
 * without that lock makes the commit fail rather than be overwritten. The
 * chain of a new role's parents is the exception, read locked shared, not
 * taken, and only when the role changes (see `update`). An approval, or a change checked against the objections,
 * thus sees every objection committed or under way when it is checked, and
 * one begun after comes after its commit (a finding): it is checked once and
 * logged once, and with the audit log on another database than the
 * registry's it leaves no entry for a change that was not made. A
 * questionnaire has no processor row: a publication takes a lock of its
 * questionnaire id instead (on SQL a transaction-scoped advisory lock), before
 * it checks the version and before its entry, so the same version published
 * at the same moment elsewhere fails `QuestionnaireVersionExists`, unlogged.
 *
 * Backends: `layerMemory`, and `layerSql` (migrated in
 * `lawful_processor_registry_migrations`). Both need an `AuditTrail`, a
 * `TenantNotifier` and the `Vault` (for the platform's key); both read
 * `AdequacyDecisions` and `RetentionPeriods` when they are built (defaults:
 * the shipped list, and "not set"). The platform's key is made on first use,
 * before the change's transaction; a suspension or termination run inside a
 * transaction of the caller's on the key store's database needs it made
 * before (`Vault.prepare(platformTenant, 0)`).
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { Actor, AuditEvent, NamedActor } from "@lawful/audit-trail/AuditEvent"
import { AuditTrail, type AuditStoreError } from "@lawful/audit-trail/AuditTrail"
import * as Database from "@lawful/core/Database"
import type * as Migrations from "@lawful/core/Migrations"
import { TenantId } from "@lawful/core/TenantId"
import * as Vault from "@lawful/core/Vault"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { createHash, timingSafeEqual } from "node:crypto"
import { AdequacyDecisions } from "./AdequacyDecisions.js"
import * as Approval from "./Approval.js"
import * as Assessment from "./Assessment.js"
import * as ChangeNotice from "./ChangeNotice.js"
import * as Dpa from "./Dpa.js"
import * as DpaAnnex from "./DpaAnnex.js"
import * as Finding from "./Finding.js"
import { addDays, dayHasPassed, startOfDay } from "./internal/dates.js"
import { describeIssues } from "./internal/issues.js"
import { sqlStore } from "./internal/sqlStore.js"
import { type Change, CommitConflict, memoryStore, type RegistryStore } from "./internal/store.js"
import * as ProcessingActivity from "./ProcessingActivity.js"
import * as ProcessingRecord from "./ProcessingRecord.js"
import * as Processor from "./Processor.js"
import * as Questionnaire from "./Questionnaire.js"
import { RetentionPeriods } from "./RetentionPeriods.js"
import { TenantNotifier } from "./TenantNotifier.js"
import * as TransferMechanism from "./TransferMechanism.js"

/**
 * The tenant id under which the platform keeps its own audit log: registry
 * changes are appended there. A fixed UUID (version 7 layout, all zero time
 * and randomness) that `TenantId.make` never produces.
 *
 * @since 0.1.0
 * @category models
 */
export const platformTenant: TenantId = TenantId.make("00000000-0000-7000-8000-000000000000")

/**
 * The domain of the keyed digest a stated reason is logged as:
 * `reasonHmac` is `Vault.blindIndex(platformTenant, reasonDomain, reason)`,
 * apart from every other blind index of the platform's key.
 *
 * @since 0.1.0
 * @category models
 */
export const reasonDomain = "processor-registry.stated-reason"

const digestEqual = (expected: string, logged: string) => {
  const a = Buffer.from(expected, "utf8")
  const b = Buffer.from(logged, "utf8")
  return a.length === b.length && timingSafeEqual(a, b)
}

/**
 * Whether `reason` is the stated reason an audit entry's details were written
 * for: the check the platform runs when an auditor, holding the entry, is
 * shown the reason kept in the registry. It recomputes the keyed digest
 * (`reasonHmac`) under the platform's key, which only the platform's Vault
 * holds; an entry written before reasons were keyed is checked against its
 * `reasonSha256`. An entry of an earlier version that also logged the
 * reason's length (`reasonLength`, no longer written) must match it too. An
 * entry without a stated reason (details that are no object included)
 * matches none, and neither does a reason that is no text. Creates no key.
 *
 * @since 0.1.0
 * @category constructors
 */
export const statedReasonMatches = (
  details: { readonly [key: string]: unknown },
  reason: string
): Effect.Effect<boolean, Vault.VaultError, Vault.Vault> =>
  Effect.gen(function*() {
    // Details that are no object (an entry of another kind, or none) state no reason, and a reason
    // that is no text is none the registry keeps: neither matches.
    if (typeof details !== "object" || details === null || typeof reason !== "string") return false
    if (details.reason !== "stated") return false
    if (details.reasonLength !== undefined && details.reasonLength !== reason.length) return false
    if (typeof details.reasonHmac === "string") {
      const vault = yield* Vault.Vault
      const digest = yield* vault.findBlindIndex(platformTenant, reasonDomain, reason)
      return Option.isSome(digest) && digestEqual(digest.value, details.reasonHmac)
    }
    if (typeof details.reasonSha256 === "string") {
      return digestEqual(createHash("sha256").update(reason, "utf8").digest("hex"), details.reasonSha256)
    }
    return false
  }).pipe(Effect.withSpan("ProcessorRegistry.statedReasonMatches"))

/**
 * An input did not decode: `what` names it, `issues` says what is wrong,
 * one issue per line, each led by the field's path. An issue says what is
 * expected, never the value given (free text, or a value of the wrong type,
 * may name a person); a member an object does not take is named by its
 * object, not by itself. Nothing was written.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidInput extends Schema.TaggedError<InvalidInput>()("InvalidInput", {
  what: Schema.String,
  issues: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `Invalid ${this.what}: ${this.issues.join("; ")}`
  }
}

/**
 * No processor has this id. `processorId` is absent when the id given is not
 * of a processor id's form (a lower-case UUID): no processor has it, and what
 * was given, maybe a name or an address put in the wrong place, is not quoted.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProcessorNotFound extends Schema.TaggedError<ProcessorNotFound>()("ProcessorNotFound", {
  processorId: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return this.processorId === undefined
      ? "No processor is registered under the id given, which is not a processor id (a lower-case UUID)"
      : `No processor ${this.processorId} is registered`
  }
}

/**
 * The processor is terminated: it can no longer change.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProcessorTerminated extends Schema.TaggedError<ProcessorTerminated>()("ProcessorTerminated", {
  processorId: Schema.String
}) {
  override get message(): string {
    return `Processor ${this.processorId} is terminated`
  }
}

/**
 * The processor cannot move from its status to the one asked for.
 *
 * @since 0.1.0
 * @category errors
 */
export class StatusTransitionInvalid extends Schema.TaggedError<StatusTransitionInvalid>()("StatusTransitionInvalid", {
  processorId: Schema.String,
  from: Schema.String,
  to: Schema.String
}) {
  override get message(): string {
    return `Processor ${this.processorId} cannot move from ${this.from} to ${this.to}`
  }
}

const listMissing = (missing: ReadonlyArray<Approval.Requirement>) => missing.map(Approval.describe).join(", ")

/**
 * Approval (or reinstatement) refused: `missing` lists every requirement not
 * met, e.g. "no signed DPA, no satisfactory assessment, no valid mechanism
 * for location US".
 *
 * @since 0.1.0
 * @category errors
 */
export class ApprovalRefused extends Schema.TaggedError<ApprovalRefused>()("ApprovalRefused", {
  processorId: Schema.String,
  missing: Schema.NonEmptyArray(Approval.Requirement)
}) {
  override get message(): string {
    return `Processor ${this.processorId} cannot be approved: ${listMissing(this.missing)}`
  }
}

/**
 * A change to an engaged processor refused: it would leave an approved
 * processor short of requirements it meets now, or give a location whose
 * mechanism fails now a mechanism that fails for another reason, or have a
 * suspended processor of tenants' data take on a country or purpose they were
 * not told of (`missing` lists them).
 *
 * @since 0.1.0
 * @category errors
 */
export class ChangeRefused extends Schema.TaggedError<ChangeRefused>()("ChangeRefused", {
  processorId: Schema.String,
  missing: Schema.NonEmptyArray(Approval.Requirement)
}) {
  override get message(): string {
    return `The change would leave engaged processor ${this.processorId} with ${listMissing(this.missing)}`
  }
}

/**
 * The processor already has a DPA of this version.
 *
 * @since 0.1.0
 * @category errors
 */
export class DpaVersionExists extends Schema.TaggedError<DpaVersionExists>()("DpaVersionExists", {
  processorId: Schema.String,
  version: Schema.String
}) {
  override get message(): string {
    return `Processor ${this.processorId} already has DPA version ${this.version}`
  }
}

/**
 * No questionnaire has this id and version. `questionnaireId` is absent when
 * the id given is not of a questionnaire id's form (lower-case letters,
 * digits, dots, dashes and underscores, at most 64), and `version` when the
 * version given is not a number: no questionnaire has them, and what was
 * given, maybe a name or an address put in the wrong place, is not quoted.
 *
 * @since 0.1.0
 * @category errors
 */
export class QuestionnaireNotFound extends Schema.TaggedError<QuestionnaireNotFound>()("QuestionnaireNotFound", {
  questionnaireId: Schema.optional(Schema.String),
  version: Schema.optional(Schema.Number)
}) {
  override get message(): string {
    return this.questionnaireId === undefined
      ? "No questionnaire is published under the id given, which is not a questionnaire id " +
        "(lower-case letters, digits, dots, dashes and underscores)"
      : `No questionnaire ${this.questionnaireId}${this.version === undefined ? "" : ` version ${this.version}`} is published`
  }
}

/**
 * This questionnaire version is published already; a published version never changes.
 *
 * @since 0.1.0
 * @category errors
 */
export class QuestionnaireVersionExists
  extends Schema.TaggedError<QuestionnaireVersionExists>()("QuestionnaireVersionExists", {
    questionnaireId: Schema.String,
    version: Schema.Number
  })
{
  override get message(): string {
    return `Questionnaire ${this.questionnaireId} version ${this.version} is already published`
  }
}

/**
 * No assessment has this id.
 *
 * @since 0.1.0
 * @category errors
 */
export class AssessmentNotFound extends Schema.TaggedError<AssessmentNotFound>()("AssessmentNotFound", {
  assessmentId: Schema.String
}) {
  override get message(): string {
    return `No assessment ${this.assessmentId} exists`
  }
}

/**
 * The assessment has a decision already.
 *
 * @since 0.1.0
 * @category errors
 */
export class AssessmentAlreadyDecided extends Schema.TaggedError<AssessmentAlreadyDecided>()(
  "AssessmentAlreadyDecided",
  { assessmentId: Schema.String }
) {
  override get message(): string {
    return `Assessment ${this.assessmentId} is already decided`
  }
}

/**
 * A satisfactory decision on answers that fail the scoring rules.
 *
 * @since 0.1.0
 * @category errors
 */
export class AssessmentBelowPassMark extends Schema.TaggedError<AssessmentBelowPassMark>()("AssessmentBelowPassMark", {
  assessmentId: Schema.String,
  ratio: Schema.Number,
  passMark: Schema.Number,
  criticalFailures: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `Assessment ${this.assessmentId} scores ${this.ratio.toFixed(2)} against a pass mark of ${this.passMark}${
      this.criticalFailures.length > 0 ? ` and fails critical questions ${this.criticalFailures.join(", ")}` : ""
    }: it cannot be decided satisfactory`
  }
}

/**
 * No notice has this id, or the tenant did not receive it.
 *
 * @since 0.1.0
 * @category errors
 */
export class NoticeNotFound extends Schema.TaggedError<NoticeNotFound>()("NoticeNotFound", {
  noticeId: Schema.String
}) {
  override get message(): string {
    return `No notice ${this.noticeId} was sent to this tenant`
  }
}

/**
 * The notice's objection period has ended.
 *
 * @since 0.1.0
 * @category errors
 */
export class ObjectionPeriodClosed extends Schema.TaggedError<ObjectionPeriodClosed>()("ObjectionPeriodClosed", {
  noticeId: Schema.String,
  closedAt: Schema.Date
}) {
  override get message(): string {
    return `The objection period of notice ${this.noticeId} ended at ${this.closedAt.toISOString()}`
  }
}

/**
 * The tenant has objected to this notice already.
 *
 * @since 0.1.0
 * @category errors
 */
export class ObjectionAlreadyRecorded extends Schema.TaggedError<ObjectionAlreadyRecorded>()(
  "ObjectionAlreadyRecorded",
  { noticeId: Schema.String, tenantId: Schema.String }
) {
  override get message(): string {
    return `Tenant ${this.tenantId} has already objected to notice ${this.noticeId}`
  }
}

/**
 * The processor is not terminated with its data disposition pending.
 *
 * @since 0.1.0
 * @category errors
 */
export class DataDispositionNotPending extends Schema.TaggedError<DataDispositionNotPending>()(
  "DataDispositionNotPending",
  { processorId: Schema.String }
) {
  override get message(): string {
    return `Processor ${this.processorId} has no data disposition pending`
  }
}

/**
 * The registry's storage failed (the database is unreachable, a statement
 * failed, another replica changed the same record meanwhile, or two changes
 * waited for each other's rows and the database ended one, SQLSTATE `40P01`:
 * a call that may be retried). A failed statement's `cause` is its `SqlError`
 * as `Database.safeSqlError` keeps it: the SQLSTATE code and the names of
 * what failed, never the data. A commit that meets a record another writer
 * stored meanwhile (a unique violation, or the processor's row written
 * without its lock) has a conflict as its `cause`, naming what it met by id
 * (the processor, the assessment, the notice) or, on SQL, a duplicate by its
 * constraint, never the row nor the driver's message; a duplicate's conflict
 * has the unique violation as `Database.safeSqlError` keeps it as its own
 * `cause` (SQLSTATE `23505` and the constraint, its message left out).
 *
 * @since 0.1.0
 * @category errors
 */
export class RegistryStoreError extends Schema.TaggedError<RegistryStoreError>()("RegistryStoreError", {
  operation: Schema.String,
  cause: Schema.Defect
}) {
  override get message(): string {
    return `Processor registry operation ${this.operation} failed`
  }
}

/**
 * How a termination is given: why, and what became of the data. Without a
 * disposition, an engaged processor's is "pending" (until confirmed) and
 * another's is "none-held".
 *
 * @since 0.1.0
 * @category models
 */
export const TerminationInput = Schema.Struct({
  reason: Processor.StatedReason,
  dataDisposition: Schema.optional(Processor.DataDisposition)
})

/**
 * @since 0.1.0
 * @category models
 */
export type TerminationInput = typeof TerminationInput.Type

/**
 * The outcome of a decision: the assessment, and the processor (terminated
 * when the decision is unsatisfactory).
 *
 * @since 0.1.0
 * @category models
 */
export interface Decided {
  readonly assessment: Assessment.Assessment
  readonly processor: Processor.Processor
}

type Failures = RegistryStoreError | AuditStoreError

/**
 * The registry. Every id given as a parameter (a processor's, an
 * assessment's, a notice's, a tenant's, a questionnaire's id and version) is
 * checked against its schema before anything is read or written, so that
 * every backend answers alike: one not of its form is refused with
 * `InvalidInput` (issue: the form expected), or, by a lookup that refuses only
 * with its not-found error, with that error without the id
 * (`ProcessorNotFound`, `QuestionnaireNotFound`). Neither quotes what was
 * given, which may be a name or an address put in the wrong place, and
 * nothing is written. So is the actor of every change (`by`), which the audit
 * log names in clear: one it cannot name (no object, an unknown kind, an id
 * that is not 1 to 200 characters of storable text or that holds "@") or the
 * subject (no entry of the registry names a subject) is refused with
 * `InvalidInput` (`what: "actor"`), before anything is read or written. The
 * log gets the actor's kind and id, nothing else it may carry.
 *
 * @since 0.1.0
 * @category services
 */
export class ProcessorRegistry extends Context.Tag("@lawful/processor-registry/ProcessorRegistry")<ProcessorRegistry, {
  /**
   * Registers a processor as a candidate. A transfer mechanism on a location in the EEA, or
   * with dates that cannot be true (`TransferMechanism.entryIssues`), is refused with `InvalidInput`.
   */
  readonly register: (
    by: Actor,
    input: typeof Processor.ProcessorInput.Encoded
  ) => Effect.Effect<Processor.Processor, InvalidInput | ProcessorNotFound | Failures>
  /**
   * Replaces a processor's description, checked as on registration; an approved processor must
   * keep meeting its requirements (a processor of tenants' data takes on a new country or
   * purpose only once a notice naming it has run its objection period, with no objection), and
   * a suspended processor of tenants' data takes on a country or purpose only so too. A new role
   * (a sub-processor of another parent than before) whose chain of parents leads back to the
   * processor is refused (`InvalidInput`); each parent is read with its row locked shared, so a
   * change of its role another server has under way is waited for and seen, or, when each waits
   * for the other's row, one of the two fails with `RegistryStoreError` (a deadlock the database
   * ends; retry it): no cycle is committed. A role left as it was is not checked again and locks
   * no parent: a change of a parent meanwhile does not wait for this one.
   */
  readonly update: (
    by: Actor,
    id: Processor.ProcessorId,
    input: typeof Processor.ProcessorInput.Encoded
  ) => Effect.Effect<
    Processor.Processor,
    InvalidInput | ProcessorNotFound | ProcessorTerminated | ChangeRefused | Failures
  >
  /** The processor; an id not of a processor id's form is refused with `ProcessorNotFound`, without it. */
  readonly processor: (id: Processor.ProcessorId) => Effect.Effect<Processor.Processor, ProcessorNotFound | RegistryStoreError>
  readonly processors: Effect.Effect<ReadonlyArray<Processor.Processor>, RegistryStoreError>
  /** What approving the processor still needs, now; empty when it can be approved. */
  readonly requirements: (
    id: Processor.ProcessorId
  ) => Effect.Effect<ReadonlyArray<Approval.Requirement>, ProcessorNotFound | RegistryStoreError>
  /** Candidate -> under review. */
  readonly startReview: (
    by: Actor,
    id: Processor.ProcessorId
  ) => Effect.Effect<Processor.Processor, InvalidInput | ProcessorNotFound | StatusTransitionInvalid | Failures>
  /**
   * Under review -> approved, or suspended -> approved (reinstated), when every requirement is met
   * (`Approval`): for a processor of tenants' data, notices whose periods have ended, to which no
   * tenant objected. The objections are read after the processor's row is locked: one another
   * server has under way is waited for and refuses the approval, one begun after the check waits
   * for the approval to commit and is then a finding. A notice an earlier version stored for no
   * tenant after tenants had been told of a change does not count.
   */
  readonly approve: (
    by: Actor,
    id: Processor.ProcessorId
  ) => Effect.Effect<
    Processor.Processor,
    InvalidInput | ProcessorNotFound | StatusTransitionInvalid | ApprovalRefused | Failures
  >
  /** Approved -> suspended; the reason is kept here, the audit log gets its keyed digest (see the module's doc). */
  readonly suspend: (
    by: Actor,
    id: Processor.ProcessorId,
    reason: string
  ) => Effect.Effect<Processor.Processor, InvalidInput | ProcessorNotFound | StatusTransitionInvalid | Failures>
  /** Any status but terminated -> terminated; the reason is kept here, the audit log gets its keyed digest. */
  readonly terminate: (
    by: Actor,
    id: Processor.ProcessorId,
    input: typeof TerminationInput.Encoded
  ) => Effect.Effect<Processor.Processor, InvalidInput | ProcessorNotFound | StatusTransitionInvalid | Failures>
  /** Confirms that a terminated processor returned or deleted the data. */
  readonly confirmDataDisposition: (
    by: Actor,
    id: Processor.ProcessorId,
    disposition: "returned" | "deleted"
  ) => Effect.Effect<Processor.Processor, InvalidInput | ProcessorNotFound | DataDispositionNotPending | Failures>
  /** Records a signed DPA. */
  readonly recordDpa: (
    by: Actor,
    id: Processor.ProcessorId,
    input: typeof Dpa.DpaInput.Encoded
  ) => Effect.Effect<
    Dpa.Dpa,
    InvalidInput | ProcessorNotFound | ProcessorTerminated | DpaVersionExists | ChangeRefused | Failures
  >
  /** A processor's DPAs; an id not of a processor id's form is refused with `InvalidInput`. */
  readonly dpas: (id: Processor.ProcessorId) => Effect.Effect<ReadonlyArray<Dpa.Dpa>, InvalidInput | RegistryStoreError>
  /**
   * Publishes a questionnaire version. A version published already, even by another server at the
   * same moment, is refused with `QuestionnaireVersionExists`, nothing logged: publications of one
   * questionnaire id take turns (on SQL a transaction-scoped advisory lock keyed on the id, taken
   * in the publication's transaction before the version is checked and before its audit entry; it
   * locks no processor's row), so one under way elsewhere is waited for and seen.
   */
  readonly publishQuestionnaire: (
    by: Actor,
    input: typeof Questionnaire.QuestionnaireInput.Encoded
  ) => Effect.Effect<Questionnaire.Questionnaire, InvalidInput | QuestionnaireVersionExists | Failures>
  /**
   * A questionnaire version, or its latest version. An id or version no questionnaire can have is
   * refused with `QuestionnaireNotFound`, which quotes neither an id not of an id's form nor a
   * version that is not a number.
   */
  readonly questionnaire: (
    id: string,
    version?: number
  ) => Effect.Effect<Questionnaire.Questionnaire, QuestionnaireNotFound | RegistryStoreError>
  /** Submits a processor's answers; they are checked and scored. */
  readonly submitAssessment: (
    by: Actor,
    id: Processor.ProcessorId,
    input: typeof Assessment.SubmissionInput.Encoded
  ) => Effect.Effect<
    Assessment.Assessment,
    InvalidInput | ProcessorNotFound | ProcessorTerminated | QuestionnaireNotFound | Failures
  >
  /**
   * The reviewer's decision; an unsatisfactory one terminates the processor. An assessment is
   * decided once: a decision another server made meanwhile, committed or under way (it holds the
   * processor's row), is waited for, and this one fails `AssessmentAlreadyDecided`, nothing logged.
   */
  readonly decideAssessment: (
    by: Actor,
    id: Assessment.AssessmentId,
    input: typeof Assessment.DecisionInput.Encoded
  ) => Effect.Effect<
    Decided,
    InvalidInput | AssessmentNotFound | AssessmentAlreadyDecided | AssessmentBelowPassMark | Failures
  >
  /** A processor's assessments; an id not of a processor id's form is refused with `InvalidInput`. */
  readonly assessments: (
    id: Processor.ProcessorId
  ) => Effect.Effect<ReadonlyArray<Assessment.Assessment>, InvalidInput | RegistryStoreError>
  /**
   * Announces an addition or replacement of a sub-processor to the tenants, or a change of its
   * countries or purposes (`locations`, `purposes`: those to come), and notifies them. Made
   * again while its notice is open, to tenants who all received it, it publishes nothing new:
   * that notice is returned and sent to them again (a retry is safe). The audience is the
   * caller's to give, every tenant: one naming no tenant is refused with `InvalidInput` once any
   * tenant has received a notice (there are tenants to tell); before that, with no tenant yet,
   * it stands.
   */
  readonly announce: (
    by: Actor,
    input: typeof ChangeNotice.AnnouncementInput.Encoded
  ) => Effect.Effect<ChangeNotice.Announcement, InvalidInput | ProcessorNotFound | ProcessorTerminated | Failures>
  /** All notices, or a processor's; an id not of a processor id's form is refused with `InvalidInput`. */
  readonly notices: (
    id?: Processor.ProcessorId
  ) => Effect.Effect<ReadonlyArray<ChangeNotice.ChangeNotice>, InvalidInput | RegistryStoreError>
  /** The notices a tenant received; a tenant id not of its form is refused with `InvalidInput`. */
  readonly noticesFor: (
    tenant: TenantId
  ) => Effect.Effect<ReadonlyArray<ChangeNotice.ChangeNotice>, InvalidInput | RegistryStoreError>
  /**
   * Records a tenant's objection while the notice's objection period runs. An objection the
   * tenant made already, even one another server records at the same moment, is refused with
   * `ObjectionAlreadyRecorded`.
   */
  readonly object: (
    by: Actor,
    tenant: TenantId,
    notice: ChangeNotice.NoticeId,
    input: typeof ChangeNotice.ObjectionInput.Encoded
  ) => Effect.Effect<
    ChangeNotice.Objection,
    InvalidInput | NoticeNotFound | ObjectionPeriodClosed | ObjectionAlreadyRecorded | Failures
  >
  /** The objections to a notice; a notice id not of its form is refused with `InvalidInput`. */
  readonly objections: (
    notice: ChangeNotice.NoticeId
  ) => Effect.Effect<ReadonlyArray<ChangeNotice.Objection>, InvalidInput | RegistryStoreError>
  /** Records a processing activity, or replaces the one with the same id. */
  readonly recordActivity: (
    by: Actor,
    input: typeof ProcessingActivity.ActivityInput.Encoded
  ) => Effect.Effect<ProcessingActivity.ProcessingActivity, InvalidInput | ProcessorNotFound | Failures>
  readonly activities: Effect.Effect<ReadonlyArray<ProcessingActivity.ProcessingActivity>, RegistryStoreError>
  /**
   * The record of processing activities, now: every processor that holds or may receive
   * personal data is named, as a recipient of its activities or among the processors linked to
   * no activity.
   */
  readonly record: (
    owner: typeof ProcessingRecord.RecordOwner.Encoded
  ) => Effect.Effect<ProcessingRecord.ProcessingRecord, InvalidInput | RegistryStoreError>
  /**
   * The DPA annex, now: the processors that serve tenants and hold or may receive their data
   * (approved, suspended, or terminated with their data not yet returned or deleted).
   */
  readonly annex: (
    owner: typeof ProcessingRecord.RecordOwner.Encoded
  ) => Effect.Effect<DpaAnnex.DpaAnnex, InvalidInput | RegistryStoreError>
  /**
   * The findings, now: among them each engaged processor of tenants' data holding a country or
   * purpose that only a notice tenants objected to announced (`Finding.ObjectionUnresolved`).
   */
  readonly findings: Effect.Effect<ReadonlyArray<Finding.Finding>, RegistryStoreError>
}>() {}

const decode = <A, I>(what: string, schema: Schema.Schema<A, I>) => (input: unknown): Effect.Effect<A, InvalidInput> =>
  Schema.decodeUnknown(schema, { errors: "all", onExcessProperty: "error" })(input).pipe(
    Effect.mapError((error) => new InvalidInput({ what, issues: describeIssues(error) }))
  )

// The actors the audit log names by their id (the system, an API key, staff): the subject, the
// other member of `Actor`, never acts here (no entry of the registry names a subject).
const isNamedActor = Schema.is(NamedActor)

// The actor of a change, checked before anything is read or written: the audit log names it in
// clear. Refused with what is expected, never quoted (a mistaken id may be a name or an address).
// The audit event takes its kind and id only: a member the actor does not have never reaches the log.
const actorOf = (raw: unknown): Effect.Effect<typeof NamedActor.Type, InvalidInput> =>
  isNamedActor(raw)
    ? Effect.succeed(raw)
    : Effect.fail(
      new InvalidInput({
        what: "actor",
        issues: [
          "expected the system, an API key or staff, with an opaque id of 1 to 200 characters " +
          "(no \"@\", no NUL characters or unpaired surrogates); the subject does not act on the registry"
        ]
      })
    )

// An id given as a parameter, checked against its schema before any store sees it: a store would
// quote it back (memory) or fail on it (SQL keeps ids as uuid). A malformed one is refused with
// what is expected, never quoted.
const processorIdOf = decode("processor id", Processor.ProcessorId)
const assessmentIdOf = decode("assessment id", Assessment.AssessmentId)
const noticeIdOf = decode("notice id", ChangeNotice.NoticeId)
const tenantIdOf = decode("tenant id", TenantId)
// For a lookup whose one refusal is its not-found error: no record has an id of another form.
const foundIdOf = <A, I, E>(schema: Schema.Schema<A, I>, notFound: () => E) => {
  const is = Schema.is(schema)
  return (raw: unknown): Effect.Effect<A, E> => is(raw) ? Effect.succeed(raw) : Effect.fail(notFound())
}
const registeredIdOf = foundIdOf(Processor.ProcessorId, () => new ProcessorNotFound())
const publishedIdOf = foundIdOf(Questionnaire.Questionnaire.fields.id, () => new QuestionnaireNotFound())

// What a notice tells the tenants, to recognise an announcement made again.
const noticeContent = (notice: ChangeNotice.ChangeNotice) => [
  notice.kind,
  notice.processorId,
  notice.processorName,
  notice.services,
  notice.locations,
  notice.purposes ?? null,
  notice.replaces ?? null,
  notice.description
]

// Whether a change touches what the tenants are told of: the processor's countries, its purposes,
// whether it serves them.
const changesAnnounced = (before: Processor.Processor, after: Processor.Processor) => {
  const countries = (processor: Processor.Processor) => processor.locations.map((location) => location.country)
  return before.servesTenants !== after.servesTenants || !sameItems(countries(before), countries(after)) ||
    !sameItems(before.purposes, after.purposes)
}

const sameItems = (a: ReadonlyArray<string>, b: ReadonlyArray<string>) => {
  const inA = new Set(a)
  const inB = new Set(b)
  return inA.size === inB.size && [...inA].every((item) => inB.has(item))
}

const requirementKey = (requirement: Approval.Requirement) => {
  switch (requirement._tag) {
    // Per country and reason: a location whose mechanism fails already may be fixed, not moved
    // onto another that fails for another reason (a lapsed certification onto the Privacy Shield).
    case "ValidMechanism":
      return `${requirement._tag}/${requirement.country}/${requirement.reason}`
    case "ChangeAnnounced":
      return `${requirement._tag}/${requirement.detail}`
    case "ObjectionPeriodEnded":
    case "ObjectionUnresolved":
      return `${requirement._tag}/${requirement.noticeId}`
    default:
      return requirement._tag
  }
}

// What a processor's approval rests on, from the store (`recordsOf`): the objections are
// undefined when they were not read (they count only for a processor of tenants' data).
interface ApprovalRecords extends Pick<Approval.Evidence, "dpas" | "assessments" | "notices"> {
  readonly objections: ReadonlyArray<ChangeNotice.Objection> | undefined
}

type Audited = ReadonlyArray<readonly [TenantId, AuditEvent]>

interface Plan<A> {
  readonly result: A
  readonly changes: ReadonlyArray<Change>
  readonly audit: Audited
}

const make = (store: RegistryStore<RegistryStoreError>) =>
  Effect.gen(function*() {
    const trail = yield* AuditTrail
    const notifier = yield* TenantNotifier
    const decisions = yield* AdequacyDecisions
    const retention = yield* RetentionPeriods
    const vault = yield* Vault.Vault
    const lock = yield* Effect.makeSemaphore(1)

    const now = Effect.map(Clock.currentTimeMillis, (millis) => new Date(millis))

    const event = (
      by: Actor,
      action: string,
      resource: { readonly type: string; readonly id: string },
      details: Record<string, string | number | boolean | null | ReadonlyArray<string>>
    ) =>
      new AuditEvent({
        actor: by,
        action: `processor-registry.${action}`,
        purpose: "processor-oversight",
        legalBasis: "legal-obligation",
        resource,
        details
      })

    const onPlatform = (e: AuditEvent) => [[platformTenant, e] as const]

    // A reason given in words may name people: the registry keeps it, the audit log gets a fixed
    // code and its keyed digest (to check the kept text against the log, see
    // `statedReasonMatches`), of one size whatever the reason, so the entry tells nothing of it,
    // not even its length. Made before the change's transaction: the first one makes the
    // platform's key, which the key store does not do inside a transaction.
    const statedReason = (operation: string, reason: string) =>
      vault.blindIndex(platformTenant, reasonDomain, reason).pipe(
        Effect.map((reasonHmac) => ({ reason: "stated", reasonHmac })),
        Effect.mapError(fail(operation))
      )

    // Audit first, then store, in one transaction of the registry's database: a stored change
    // always has its entry, and with the log on the same database (as the server keeps it) an
    // entry never outlives a change that failed at its commit (its processor's row written
    // meanwhile without the lock `held` takes). A plan of a change of a processor locks its row
    // first (`held`), before the entries, and a publication its questionnaire id
    // (`questionnaireForPublication`); tenants' logs are appended one after another in a fixed
    // order, so two transactions never wait for each other's locks the other way round. An invalid
    // event is a bug of this module, hence a defect.
    const run = <A, E, R>(plan: Effect.Effect<Plan<A>, E, R>): Effect.Effect<A, E | Failures, R> =>
      lock.withPermits(1)(
        store.transaction(Effect.gen(function*() {
          const { audit, changes, result } = yield* plan
          const tenants = [...new Set(audit.map(([tenant]) => tenant))].sort()
          yield* Effect.forEach(
            tenants,
            (tenant) =>
              trail.appendAll(tenant, audit.filter(([t]) => t === tenant).map(([, e]) => e)).pipe(
                Effect.catchTag("AuditEventInvalid", Effect.die)
              ),
            { discard: true }
          )
          yield* store.commit(changes)
          return result
        }))
      )

    const orNotFound = (id: Processor.ProcessorId) =>
      Option.match({
        onNone: () => Effect.fail(new ProcessorNotFound({ processorId: id })),
        onSome: (processor: Processor.Processor) => Effect.succeed(processor)
      })

    const existing = (id: Processor.ProcessorId) => Effect.flatMap(store.processor(id), orNotFound(id))

    const notTerminated = (processor: Processor.Processor) =>
      processor.status._tag === "Terminated"
        ? Effect.fail(new ProcessorTerminated({ processorId: processor.id }))
        : Effect.succeed(processor)

    // Every change of a processor starts with this one read of it (a decision of an assessment,
    // once the assessment has named it), its row locked until the change's transaction ends (on
    // SQL `FOR NO KEY UPDATE`), whatever the processor serves, and reads everything it is checked
    // on after. Every such change thus takes the processor's row before the platform's audit log
    // (whose append locks the log until commit, with the log on the registry's database), and so
    // does an objection, which locks the row shared before its entries (`noticeForObjection`): two
    // of them never wait for each other's locks the other way round; a change of the processor
    // made meanwhile by another replica, or an objection to its notices under way, is waited for
    // and seen. An approval, or a change judged on the objections, sees every objection committed
    // or under way when it is checked, and one begun after waits for it to commit, then counts as
    // any later objection does (a finding): it is checked once, against what it commits with, and
    // logged once.
    const held = (id: Processor.ProcessorId) => Effect.flatMap(store.processorForChange(id), orNotFound(id))

    const heldLive = (id: Processor.ProcessorId) => Effect.flatMap(held(id), notTerminated)

    // What a processor's approval rests on, read once: its DPAs, assessments and notices, and the
    // objections to those notices when they count (the processor serves tenants; else unread).
    // A notice that told no tenant when there were tenants to tell (stored so by an earlier
    // version) announces nothing: the store leaves it out (`announcements`).
    const recordsOf = (id: Processor.ProcessorId, withObjections: boolean) =>
      Effect.all({
        dpas: store.dpas(id),
        assessments: store.assessments(id),
        notices: store.announcements(id),
        objections: withObjections ? store.objectionsOf(id) : Effect.succeed(undefined)
      })

    const evidenceOf = (
      processor: Processor.Processor,
      records: ApprovalRecords,
      at: Date,
      extra: { readonly dpa?: Dpa.Dpa } = {}
    ): Approval.Evidence => ({
      processor,
      dpas: extra.dpa ? [...records.dpas, extra.dpa] : records.dpas,
      assessments: records.assessments,
      notices: records.notices,
      ...(records.objections === undefined ? {} : { objections: records.objections }),
      decisions,
      at
    })

    const evidence = (processor: Processor.Processor, at: Date) =>
      Effect.map(recordsOf(processor.id, processor.servesTenants), (records) => evidenceOf(processor, records, at))

    // The records a change to an engaged processor is judged on (`keepsApproval`), read once: none
    // for a processor not engaged (approved or suspended), whose changes add no requirement to
    // keep. A suspended processor still holds the tenants' data: a country or purpose it takes on
    // is a change of their sub-processing as much as an approved one's (Art. 28(2)). Held to the
    // notices only, it is judged only on a change that may need one: of its countries, purposes or
    // whether it serves tenants (not a DPA, nor a change of anything else).
    const approvalRecordsOf = (before: Processor.Processor, after: Processor.Processor) =>
      before.status._tag === "Approved" || (before.status._tag === "Suspended" && changesAnnounced(before, after))
        ? Effect.map(recordsOf(before.id, before.servesTenants || after.servesTenants), Option.some)
        : Effect.succeed(Option.none())

    // A change to an approved processor may not add a requirement it does not meet now; one to a
    // suspended processor, which is not in use but still holds the tenants' data, may not take on a
    // country or purpose they were not told of (a DPA, an assessment, a mechanism it records as
    // they are, and is reinstated only once they hold). Before and after are the same processor:
    // both are judged on the same records, read once.
    const keepsApproval = (
      before: Processor.Processor,
      after: Processor.Processor,
      approvalRecords: Option.Option<ApprovalRecords>,
      at: Date,
      extra: { readonly dpa?: Dpa.Dpa } = {}
    ): Effect.Effect<void, ChangeRefused> => {
      if (Option.isNone(approvalRecords)) return Effect.void
      const records = approvalRecords.value
      const already = new Set(Approval.unmet(evidenceOf(before, records, at)).map(requirementKey))
      const added = Approval.unmet(evidenceOf(after, records, at, extra)).filter((r) =>
        !already.has(requirementKey(r)) && (before.status._tag === "Approved" || announcement.has(r._tag))
      )
      return added.length > 0
        ? Effect.fail(new ChangeRefused({ processorId: before.id, missing: [added[0]!, ...added.slice(1)] }))
        : Effect.void
    }

    const announcement = new Set<Approval.Requirement["_tag"]>(["ChangeAnnounced", "ObjectionPeriodEnded", "ObjectionUnresolved"])

    // A parent of a new role, read in the change's transaction with its row locked shared
    // (`processorForCheck`): a change of its role under way on another server is waited for and
    // seen, and one begun after waits for this change to commit.
    const parentOf = (id: Processor.ProcessorId) => Effect.flatMap(store.processorForCheck(id), orNotFound(id))

    // The new parent must exist and, for a change of role of a registered processor (`id`; a new
    // one is no one's parent yet), must not lead back to the processor itself. Each parent of the
    // chain is read locked shared, after the processor's own row (`held`): of two servers making A
    // a sub-processor of B and B one of A at the same moment, the second waits for the first and
    // sees its role (a cycle, refused), or each waits for the other's row and PostgreSQL fails one
    // of them (`RegistryStoreError`); they never both commit.
    const checkRole = (id: Processor.ProcessorId | undefined, role: Processor.Role) =>
      Effect.gen(function*() {
        if (role._tag !== "SubProcessor") return
        if (id === undefined) return yield* Effect.asVoid(existing(role.of))
        let parent = yield* parentOf(role.of)
        const seen = new Set<string>()
        while (true) {
          if (parent.id === id) {
            return yield* new InvalidInput({ what: "processor", issues: ["role: a processor cannot be its own sub-processor"] })
          }
          if (parent.role._tag !== "SubProcessor" || seen.has(parent.id)) return
          seen.add(parent.id)
          parent = yield* parentOf(parent.role.of)
        }
      })

    // An unchanged role is not checked again: its parent chain is committed already, and a change
    // adding an edge to it walks through it. Walking it would hold each parent shared until this
    // change commits, for nothing: another server's change of a parent would wait for it, and a
    // change making a parent a sub-processor of this processor, walking the other way, would
    // deadlock with it rather than be refused as a cycle.
    const sameRole = (before: Processor.Role, after: Processor.Role) =>
      before._tag === "SubProcessor" ? after._tag === "SubProcessor" && after.of === before.of : after._tag === before._tag

    const withStatus = (processor: Processor.Processor, status: Processor.Status, at: Date) =>
      new Processor.Processor({ ...processor, status, updatedAt: at, revision: processor.revision + 1 })

    const transition = (processor: Processor.Processor, to: Processor.StatusName) =>
      Processor.transitions[processor.status._tag].includes(to)
        ? Effect.void
        : Effect.fail(new StatusTransitionInvalid({ processorId: processor.id, from: processor.status._tag, to }))

    const resource = (processor: Processor.Processor) => ({ type: "processor", id: processor.id })

    const terminated = (
      processor: Processor.Processor,
      reason: string,
      disposition: Processor.DataDisposition | undefined,
      at: Date
    ) =>
      withStatus(processor, {
        _tag: "Terminated",
        since: at,
        reason,
        dataDisposition: disposition ?? (Processor.isEngaged(processor) ? "pending" : "none-held"),
        ...(disposition === "returned" || disposition === "deleted" ? { dispositionConfirmedAt: at } : {})
      }, at)

    // What decoding cannot see: mechanism dates against each other and against now, and
    // mechanisms on locations that are no transfer.
    const checkLocations = (input: Processor.ProcessorInput, at: Date) => {
      const issues = input.locations.flatMap((location, i) =>
        TransferMechanism.entryIssues(location.country, location.mechanism, at).map((issue) => `locations[${i}].${issue}`)
      )
      return issues.length === 0 ? Effect.void : Effect.fail(new InvalidInput({ what: "processor", issues }))
    }

    const register = Effect.fn("ProcessorRegistry.register")(function*(rawBy: Actor, raw: typeof Processor.ProcessorInput.Encoded) {
      const by = yield* actorOf(rawBy)
      const input = yield* decode("processor", Processor.ProcessorInput)(raw)
      const at = yield* now
      yield* checkLocations(input, at)
      yield* checkRole(undefined, input.role)
      const processor = new Processor.Processor({
        id: yield* Processor.makeId,
        ...input,
        status: { _tag: "Candidate" },
        registeredAt: at,
        updatedAt: at,
        revision: 1
      })
      return yield* run(Effect.succeed({
        result: processor,
        changes: [{ _tag: "InsertProcessor", processor }],
        audit: onPlatform(event(by, "processor.registered", resource(processor), {
          servesTenants: processor.servesTenants,
          countries: processor.locations.map((location) => location.country)
        }))
      }))
    })

    const update = Effect.fn("ProcessorRegistry.update")(
      function*(rawBy: Actor, rawId: Processor.ProcessorId, raw: typeof Processor.ProcessorInput.Encoded) {
        const by = yield* actorOf(rawBy)
        const id = yield* processorIdOf(rawId)
        const input = yield* decode("processor", Processor.ProcessorInput)(raw)
        return yield* run(Effect.gen(function*() {
          const before = yield* heldLive(id)
          const at = yield* now
          yield* checkLocations(input, at)
          if (!sameRole(before.role, input.role)) yield* checkRole(id, input.role)
          const after = new Processor.Processor({ ...before, ...input, updatedAt: at, revision: before.revision + 1 })
          const approvalRecords = yield* approvalRecordsOf(before, after)
          yield* keepsApproval(before, after, approvalRecords, at)
          return {
            result: after,
            changes: [{ _tag: "UpdateProcessor", processor: after }],
            audit: onPlatform(event(by, "processor.updated", resource(after), {
              servesTenants: after.servesTenants,
              countries: after.locations.map((location) => location.country),
              revision: after.revision
            }))
          } satisfies Plan<Processor.Processor>
        }))
      }
    )

    const requirements = Effect.fn("ProcessorRegistry.requirements")(function*(rawId: Processor.ProcessorId) {
      const processor = yield* existing(yield* registeredIdOf(rawId))
      return Approval.unmet(yield* evidence(processor, yield* now))
    })

    const startReview = Effect.fn("ProcessorRegistry.startReview")(function*(rawBy: Actor, rawId: Processor.ProcessorId) {
      const by = yield* actorOf(rawBy)
      const id = yield* registeredIdOf(rawId)
      return yield* run(Effect.gen(function*() {
        const processor = yield* held(id)
        yield* transition(processor, "UnderReview")
        const at = yield* now
        const after = withStatus(processor, { _tag: "UnderReview", since: at }, at)
        return {
          result: after,
          changes: [{ _tag: "UpdateProcessor", processor: after }],
          audit: onPlatform(event(by, "processor.review-started", resource(after), { from: processor.status._tag }))
        } satisfies Plan<Processor.Processor>
      }))
    })

    const approve = Effect.fn("ProcessorRegistry.approve")(function*(rawBy: Actor, rawId: Processor.ProcessorId) {
      const by = yield* actorOf(rawBy)
      const id = yield* registeredIdOf(rawId)
      return yield* run(Effect.gen(function*() {
        const processor = yield* held(id)
        yield* transition(processor, "Approved")
        const at = yield* now
        const records = yield* recordsOf(processor.id, processor.servesTenants)
        const missing = Approval.unmet(evidenceOf(processor, records, at))
        if (missing.length > 0) {
          return yield* new ApprovalRefused({ processorId: id, missing: [missing[0]!, ...missing.slice(1)] })
        }
        const after = withStatus(processor, { _tag: "Approved", since: at }, at)
        const action = processor.status._tag === "Suspended" ? "processor.reinstated" : "processor.approved"
        return {
          result: after,
          changes: [{ _tag: "UpdateProcessor", processor: after }],
          audit: onPlatform(event(by, action, resource(after), { from: processor.status._tag }))
        } satisfies Plan<Processor.Processor>
      }))
    })

    const suspend = Effect.fn("ProcessorRegistry.suspend")(function*(rawBy: Actor, rawId: Processor.ProcessorId, rawReason: string) {
      const by = yield* actorOf(rawBy)
      const id = yield* processorIdOf(rawId)
      const { reason } = yield* decode("suspension", TerminationInput.pick("reason"))({ reason: rawReason })
      const stated = yield* statedReason("suspend", reason)
      return yield* run(Effect.gen(function*() {
        const processor = yield* held(id)
        yield* transition(processor, "Suspended")
        const at = yield* now
        const after = withStatus(processor, { _tag: "Suspended", since: at, reason }, at)
        return {
          result: after,
          changes: [{ _tag: "UpdateProcessor", processor: after }],
          audit: onPlatform(event(by, "processor.suspended", resource(after), { from: processor.status._tag, ...stated }))
        } satisfies Plan<Processor.Processor>
      }))
    })

    const terminate = Effect.fn("ProcessorRegistry.terminate")(
      function*(rawBy: Actor, rawId: Processor.ProcessorId, raw: typeof TerminationInput.Encoded) {
        const by = yield* actorOf(rawBy)
        const id = yield* processorIdOf(rawId)
        const input = yield* decode("termination", TerminationInput)(raw)
        const stated = yield* statedReason("terminate", input.reason)
        return yield* run(Effect.gen(function*() {
          const processor = yield* held(id)
          yield* transition(processor, "Terminated")
          const at = yield* now
          const after = terminated(processor, input.reason, input.dataDisposition, at)
          return {
            result: after,
            changes: [{ _tag: "UpdateProcessor", processor: after }],
            audit: onPlatform(event(by, "processor.terminated", resource(after), {
              from: processor.status._tag,
              ...stated,
              dataDisposition: after.status._tag === "Terminated" ? after.status.dataDisposition : null
            }))
          } satisfies Plan<Processor.Processor>
        }))
      }
    )

    const confirmDataDisposition = Effect.fn("ProcessorRegistry.confirmDataDisposition")(
      function*(rawBy: Actor, rawId: Processor.ProcessorId, rawDisposition: "returned" | "deleted") {
        const by = yield* actorOf(rawBy)
        const id = yield* processorIdOf(rawId)
        const disposition = yield* decode("data disposition", Schema.Literal("returned", "deleted"))(rawDisposition)
        return yield* run(Effect.gen(function*() {
          const processor = yield* held(id)
          const status = processor.status
          if (status._tag !== "Terminated" || status.dataDisposition !== "pending") {
            return yield* new DataDispositionNotPending({ processorId: id })
          }
          const at = yield* now
          const after = withStatus(processor, { ...status, dataDisposition: disposition, dispositionConfirmedAt: at }, at)
          return {
            result: after,
            changes: [{ _tag: "UpdateProcessor", processor: after }],
            audit: onPlatform(event(by, "processor.data-disposition-confirmed", resource(after), { disposition }))
          } satisfies Plan<Processor.Processor>
        }))
      }
    )

    const recordDpa = Effect.fn("ProcessorRegistry.recordDpa")(
      function*(rawBy: Actor, rawId: Processor.ProcessorId, raw: typeof Dpa.DpaInput.Encoded) {
        const by = yield* actorOf(rawBy)
        const id = yield* processorIdOf(rawId)
        const input = yield* decode("DPA", Dpa.DpaInput)(raw)
        return yield* run(Effect.gen(function*() {
          const processor = yield* heldLive(id)
          const at = yield* now
          if (input.signedOn.getTime() > at.getTime()) {
            return yield* new InvalidInput({ what: "DPA", issues: ["signedOn: the signature date is in the future"] })
          }
          // One read of the DPAs: with the rest of the records when the approval must be kept.
          const approvalRecords = yield* approvalRecordsOf(processor, processor)
          const dpas = Option.isSome(approvalRecords) ? approvalRecords.value.dpas : yield* store.dpas(id)
          if (dpas.some((dpa) => dpa.version === input.version)) {
            return yield* new DpaVersionExists({ processorId: id, version: input.version })
          }
          const dpa = new Dpa.Dpa({ id: yield* Dpa.makeId, processorId: id, ...input, recordedAt: at })
          yield* keepsApproval(processor, processor, approvalRecords, at, { dpa })
          // A DPA changes what an approval rests on: an approval (or a change) by another server
          // waits for the processor's row this one holds and reads the DPA after. The processor's
          // revision moves with it only for a deployment of mixed versions during a rolling
          // upgrade: a replica still on a version from before every change took that lock checked
          // a change of a processor serving no tenant without it, and held it to the revision it
          // read at its commit; such an approval checked against the DPAs before this one fails
          // there instead of approving on evidence no longer current.
          return {
            result: dpa,
            changes: [
              { _tag: "InsertDpa", dpa },
              { _tag: "UpdateProcessor", processor: new Processor.Processor({ ...processor, updatedAt: at, revision: processor.revision + 1 }) }
            ],
            audit: onPlatform(event(by, "dpa.recorded", { type: "dpa", id: dpa.id }, {
              processorId: id,
              version: dpa.version,
              documentSha256: dpa.documentSha256
            }))
          } satisfies Plan<Dpa.Dpa>
        }))
      }
    )

    const publishQuestionnaire = Effect.fn("ProcessorRegistry.publishQuestionnaire")(
      function*(rawBy: Actor, raw: typeof Questionnaire.QuestionnaireInput.Encoded) {
        const by = yield* actorOf(rawBy)
        const input = yield* decode("questionnaire", Questionnaire.QuestionnaireInput)(raw)
        return yield* run(Effect.gen(function*() {
          if (Option.isSome(yield* store.questionnaireForPublication(input.id, input.version))) {
            return yield* new QuestionnaireVersionExists({ questionnaireId: input.id, version: input.version })
          }
          const questionnaire = new Questionnaire.Questionnaire({ ...input, publishedAt: yield* now })
          return {
            result: questionnaire,
            changes: [{ _tag: "InsertQuestionnaire", questionnaire }],
            audit: onPlatform(event(by, "questionnaire.published", {
              type: "questionnaire",
              id: `${questionnaire.id}/${questionnaire.version}`
            }, { questions: questionnaire.questions.length, passMark: questionnaire.passMark }))
          } satisfies Plan<Questionnaire.Questionnaire>
        }))
      }
    )

    const questionnaire = Effect.fn("ProcessorRegistry.questionnaire")(function*(rawId: string, version?: number) {
      const id = yield* publishedIdOf(rawId)
      if (version !== undefined) {
        // No store holds a version outside the schema's range: none is published. Only a number
        // is quoted.
        if (!Schema.is(Questionnaire.Version)(version)) {
          return yield* new QuestionnaireNotFound({
            questionnaireId: id,
            ...(typeof version === "number" ? { version } : {})
          })
        }
        const found = yield* store.questionnaire(id, version)
        if (Option.isSome(found)) return found.value
        return yield* new QuestionnaireNotFound({ questionnaireId: id, version })
      }
      const versions = (yield* store.questionnaires).filter((q) => q.id === id)
      const latest = versions[versions.length - 1]
      if (latest === undefined) return yield* new QuestionnaireNotFound({ questionnaireId: id })
      return latest
    })

    const submitAssessment = Effect.fn("ProcessorRegistry.submitAssessment")(
      function*(rawBy: Actor, rawId: Processor.ProcessorId, raw: typeof Assessment.SubmissionInput.Encoded) {
        const by = yield* actorOf(rawBy)
        const id = yield* processorIdOf(rawId)
        const input = yield* decode("assessment", Assessment.SubmissionInput)(raw)
        return yield* run(Effect.gen(function*() {
          yield* heldLive(id)
          const found = yield* store.questionnaire(input.questionnaireId, input.questionnaireVersion)
          if (Option.isNone(found)) {
            return yield* new QuestionnaireNotFound({
              questionnaireId: input.questionnaireId,
              version: input.questionnaireVersion
            })
          }
          const checked = Questionnaire.checkAnswers(found.value, input.answers)
          if (Either.isLeft(checked)) return yield* new InvalidInput({ what: "answers", issues: checked.left })
          const assessment = new Assessment.Assessment({
            id: yield* Assessment.makeId,
            processorId: id,
            questionnaireId: input.questionnaireId,
            questionnaireVersion: input.questionnaireVersion,
            answers: input.answers,
            score: Questionnaire.score(found.value, input.answers),
            submittedAt: yield* now
          })
          return {
            result: assessment,
            changes: [{ _tag: "InsertAssessment", assessment }],
            audit: onPlatform(event(by, "assessment.submitted", { type: "assessment", id: assessment.id }, {
              processorId: id,
              questionnaire: `${assessment.questionnaireId}/${assessment.questionnaireVersion}`,
              ratio: assessment.score.ratio,
              passes: assessment.score.passes
            }))
          } satisfies Plan<Assessment.Assessment>
        }))
      }
    )

    const decideAssessment = Effect.fn("ProcessorRegistry.decideAssessment")(
      function*(rawBy: Actor, rawId: Assessment.AssessmentId, raw: typeof Assessment.DecisionInput.Encoded) {
        const by = yield* actorOf(rawBy)
        const id = yield* assessmentIdOf(rawId)
        const input = yield* decode("decision", Assessment.DecisionInput)(raw)
        return yield* run(Effect.gen(function*() {
          // The assessment names its processor; the decision is a change of it, so it takes the
          // processor's row first (`held`) and reads the assessment again after: a decision of it
          // another server committed meanwhile is seen, and this one refused before anything is
          // logged. An assessment always belongs to a registered processor, and is never deleted:
          // either missing on the second read is a bug, hence a defect.
          const named = yield* store.assessment(id)
          if (Option.isNone(named)) return yield* new AssessmentNotFound({ assessmentId: id })
          const processor = yield* held(named.value.processorId).pipe(Effect.catchTag("ProcessorNotFound", Effect.die))
          const found = yield* store.assessment(id)
          if (Option.isNone(found)) return yield* Effect.dieMessage("an assessment read before was not found again")
          const assessment = found.value
          if (assessment.decision !== undefined) return yield* new AssessmentAlreadyDecided({ assessmentId: id })
          if (input.outcome === "satisfactory" && !assessment.score.passes) {
            const questionnaire = yield* store.questionnaire(assessment.questionnaireId, assessment.questionnaireVersion)
            return yield* new AssessmentBelowPassMark({
              assessmentId: id,
              ratio: assessment.score.ratio,
              passMark: Option.match(questionnaire, { onNone: () => 1, onSome: (q) => q.passMark }),
              criticalFailures: assessment.score.criticalFailures
            })
          }
          const at = yield* now
          const nextReviewDue = input.nextReviewDue ?? startOfDay(addDays(at, Assessment.defaultReviewIntervalDays))
          if (dayHasPassed(nextReviewDue, at)) {
            return yield* new InvalidInput({ what: "decision", issues: ["nextReviewDue: the next review is in the past"] })
          }
          const decided = new Assessment.Assessment({
            ...assessment,
            decision: {
              outcome: input.outcome,
              reviewer: `${by.kind}:${by.id}`,
              notes: input.notes,
              decidedAt: at,
              nextReviewDue
            }
          })
          const ends = input.outcome === "unsatisfactory" && processor.status._tag !== "Terminated"
          const after = ends ? terminated(processor, `assessment ${id} was decided unsatisfactory`, undefined, at) : processor
          const decisionEvent = event(by, "assessment.decided", { type: "assessment", id }, {
            processorId: processor.id,
            outcome: input.outcome
          })
          return {
            result: { assessment: decided, processor: after },
            changes: [
              { _tag: "DecideAssessment", assessment: decided },
              ...(ends ? [{ _tag: "UpdateProcessor", processor: after } as const] : [])
            ],
            audit: [
              ...onPlatform(decisionEvent),
              ...(ends
                ? onPlatform(event(by, "processor.terminated", resource(after), {
                  from: processor.status._tag,
                  reason: "assessment-unsatisfactory",
                  dataDisposition: after.status._tag === "Terminated" ? after.status.dataDisposition : null
                }))
                : [])
            ]
          } satisfies Plan<Decided>
        }))
      }
    )

    const announce = Effect.fn("ProcessorRegistry.announce")(
      function*(rawBy: Actor, raw: typeof ChangeNotice.AnnouncementInput.Encoded) {
        const by = yield* actorOf(rawBy)
        const input = yield* decode("announcement", ChangeNotice.AnnouncementInput)(raw)
        const announced = yield* run(Effect.gen(function*() {
          const processor = yield* heldLive(input.processorId)
          if (!processor.servesTenants) {
            return yield* new InvalidInput({
              what: "announcement",
              issues: [`processorId: processor ${processor.id} does not process tenants' data; there is nothing to announce`]
            })
          }
          const replaced = input.replaces === undefined ? undefined : yield* existing(input.replaces)
          const at = yield* now
          const audience = [...new Set(input.audience)]
          // The registry has no list of tenants, but knows those told of a change before: a notice
          // naming none of them tells nobody, and approval would rest on an announcement no tenant
          // could object to. With no tenant ever told (none yet), a notice to none stands.
          if (audience.length === 0 && (yield* store.anyRecipient)) {
            return yield* new InvalidInput({
              what: "announcement",
              issues: ["audience: names no tenant, though tenants have been told of changes before: a notice is sent to every tenant"]
            })
          }
          const locations = input.locations ? [...new Set(input.locations)] : processor.locations.map((l) => l.country)
          const purposes = input.purposes ? [...new Set(input.purposes)] : processor.purposes
          const notice = new ChangeNotice.ChangeNotice({
            id: yield* ChangeNotice.makeId,
            kind: replaced ? "replacement" : "addition",
            processorId: processor.id,
            processorName: processor.legalName,
            services: processor.services,
            locations,
            purposes,
            ...(replaced ? { replaces: { processorId: replaced.id, processorName: replaced.legalName } } : {}),
            description: input.description ?? (replaced
              ? `${processor.legalName} replaces ${replaced.legalName} for: ${processor.services.join(", ")}`
              : input.locations !== undefined || input.purposes !== undefined
              ? `${processor.legalName}, a sub-processor for: ${processor.services.join(", ")}, will process data in ${
                locations.join(", ")
              } for: ${purposes.join("; ")}`
              : `${processor.legalName} is added as a sub-processor for: ${processor.services.join(", ")}`),
            publishedAt: at,
            objectionDeadline: addDays(at, input.objectionPeriodDays)
          })
          // A retry (an announcement whose outcome the caller did not get, or whose tenants were
          // not all reached) finds the notice it made: while that notice is open, says the same
          // and was sent to every tenant of the audience, it is the one returned and sent again,
          // and nothing is written. A tenant not told yet gets a notice of its own, with its
          // full objection period.
          const sameContent = (earlier: ChangeNotice.ChangeNotice) =>
            ChangeNotice.isOpen(earlier, at) &&
            earlier.objectionDeadline.getTime() - earlier.publishedAt.getTime() ===
              notice.objectionDeadline.getTime() - notice.publishedAt.getTime() &&
            JSON.stringify(noticeContent(earlier)) === JSON.stringify(noticeContent(notice))
          for (const earlier of (yield* store.notices(processor.id)).filter(sameContent)) {
            // Stops at the first tenant not told.
            if (yield* Effect.every(audience, (tenant) => store.isRecipient(tenant, earlier.id))) {
              return { result: { notice: earlier, audience }, changes: [], audit: [] } satisfies Plan<
                { readonly notice: ChangeNotice.ChangeNotice; readonly audience: ReadonlyArray<TenantId> }
              >
            }
          }
          const noticeResource = { type: "change-notice", id: notice.id }
          const details = {
            kind: notice.kind,
            processorId: processor.id,
            objectionDeadline: notice.objectionDeadline.toISOString()
          }
          return {
            result: { notice, audience },
            changes: [{ _tag: "InsertNotice", notice, audience }],
            audit: [
              [platformTenant, event(by, "notice.published", noticeResource, { ...details, audience: audience.length })],
              ...audience.map((tenant) => [tenant, event(by, "notice.received", noticeResource, details)] as const)
            ]
          } satisfies Plan<{ readonly notice: ChangeNotice.ChangeNotice; readonly audience: ReadonlyArray<TenantId> }>
        }))
        const outcomes = yield* Effect.forEach(
          announced.audience,
          (tenant) => Effect.either(notifier.notify(tenant, announced.notice)).pipe(Effect.map((outcome) => [tenant, outcome] as const)),
          { concurrency: 8 }
        )
        const undelivered = outcomes.filter(([, outcome]) => Either.isLeft(outcome)).map(([tenant]) => tenant)
        if (undelivered.length > 0) {
          yield* Effect.logWarning("Change notice not delivered to every tenant").pipe(
            Effect.annotateLogs({ notice: announced.notice.id, undelivered: undelivered.length })
          )
        }
        return {
          notice: announced.notice,
          notified: outcomes.filter(([, outcome]) => Either.isRight(outcome)).map(([tenant]) => tenant),
          undelivered
        } satisfies ChangeNotice.Announcement
      }
    )

    const object = Effect.fn("ProcessorRegistry.object")(
      function*(
        rawBy: Actor,
        rawTenant: TenantId,
        rawNoticeId: ChangeNotice.NoticeId,
        raw: typeof ChangeNotice.ObjectionInput.Encoded
      ) {
        const by = yield* actorOf(rawBy)
        const tenant = yield* tenantIdOf(rawTenant)
        const noticeId = yield* noticeIdOf(rawNoticeId)
        const input = yield* decode("objection", ChangeNotice.ObjectionInput)(raw)
        return yield* run(Effect.gen(function*() {
          // Locks the processor shared first, before the entries, as every change of it locks it
          // first: a change of it waits for this one to commit and sees it, or has committed before
          // (see `held`).
          const found = yield* store.noticeForObjection(noticeId)
          if (Option.isNone(found) || !(yield* store.isRecipient(tenant, noticeId))) {
            return yield* new NoticeNotFound({ noticeId })
          }
          const at = yield* now
          if (!ChangeNotice.isOpen(found.value, at)) {
            return yield* new ObjectionPeriodClosed({ noticeId, closedAt: found.value.objectionDeadline })
          }
          if (Option.isSome(yield* store.objection(tenant, noticeId))) {
            return yield* new ObjectionAlreadyRecorded({ noticeId, tenantId: tenant })
          }
          const objection = new ChangeNotice.Objection({ tenantId: tenant, noticeId, reason: input.reason, objectedAt: at })
          const objected = event(by, "objection.recorded", { type: "change-notice", id: noticeId }, {
            tenantId: tenant,
            processorId: found.value.processorId
          })
          return {
            result: objection,
            changes: [{ _tag: "InsertObjection", objection }],
            audit: [[tenant, objected], [platformTenant, objected]]
          } satisfies Plan<ChangeNotice.Objection>
        })).pipe(
          // Another server recorded the tenant's objection between this one's check and its commit:
          // the commit failed on the duplicate and rolled back (entries too, with the log on the
          // registry's database), and the caller is told as a duplicate found before is.
          Effect.catchTag("RegistryStoreError", (error) =>
            Effect.gen(function*() {
              const recorded = error.cause instanceof CommitConflict
                ? yield* Effect.orElseSucceed(store.objection(tenant, noticeId), Option.none)
                : Option.none()
              if (Option.isSome(recorded)) {
                return yield* new ObjectionAlreadyRecorded({ noticeId, tenantId: tenant })
              }
              return yield* error
            }))
        )
      }
    )

    const recordActivity = Effect.fn("ProcessorRegistry.recordActivity")(
      function*(rawBy: Actor, raw: typeof ProcessingActivity.ActivityInput.Encoded) {
        const by = yield* actorOf(rawBy)
        const input = yield* decode("processing activity", ProcessingActivity.ActivityInput)(raw)
        return yield* run(Effect.gen(function*() {
          yield* Effect.forEach(input.processors, existing, { discard: true })
          const previous = (yield* store.activities).find((activity) => activity.id === input.id)
          const activity = new ProcessingActivity.ProcessingActivity({ ...input, updatedAt: yield* now })
          return {
            result: activity,
            changes: [{ _tag: "PutActivity", activity }],
            audit: onPlatform(event(by, "activity.recorded", { type: "processing-activity", id: activity.id }, {
              actingAs: activity.actingAs,
              replaced: previous !== undefined,
              processors: activity.processors
            }))
          } satisfies Plan<ProcessingActivity.ProcessingActivity>
        }))
      }
    )

    const record = Effect.fn("ProcessorRegistry.record")(function*(raw: typeof ProcessingRecord.RecordOwner.Encoded) {
      const owner = yield* decode("record owner", ProcessingRecord.RecordOwner)(raw)
      const [activities, processors, at] = yield* Effect.all([store.activities, store.processors, now])
      const categories = [...new Set(activities.flatMap((activity) => activity.dataCategories))]
      const periods = new Map(
        yield* Effect.forEach(categories, (category) =>
          Effect.map(retention.periodOf(category), (period) => [category, Option.getOrUndefined(period)] as const))
      )
      return ProcessingRecord.make({
        owner,
        activities,
        processors,
        decisions,
        retention: (category) => periods.get(category),
        at
      })
    })

    const annex = Effect.fn("ProcessorRegistry.annex")(function*(raw: typeof ProcessingRecord.RecordOwner.Encoded) {
      const owner = yield* decode("record owner", ProcessingRecord.RecordOwner)(raw)
      const [processors, at] = yield* Effect.all([store.processors, now])
      return DpaAnnex.make({ owner, processors, at })
    })

    // Every objection, in one read: `Finding.compute` groups them by notice and counts those to the
    // notices of the engaged processors of tenants' data, whose approval rests on them.
    const findings = Effect.gen(function*() {
      const [processors, dpas, assessments, notices, objections, at] = yield* Effect.all([
        store.processors,
        store.dpas(),
        store.assessments(),
        store.announcements(),
        store.objectionsOf(),
        now
      ])
      return Finding.compute({ processors, dpas, assessments, notices, objections, decisions, at })
    }).pipe(Effect.withSpan("ProcessorRegistry.findings"))

    return ProcessorRegistry.of({
      register,
      update,
      processor: Effect.fn("ProcessorRegistry.processor")(function*(rawId) {
        const id = yield* registeredIdOf(rawId)
        yield* Effect.annotateCurrentSpan("id", id)
        return yield* existing(id)
      }),
      processors: store.processors.pipe(Effect.withSpan("ProcessorRegistry.processors")),
      requirements,
      startReview,
      approve,
      suspend,
      terminate,
      confirmDataDisposition,
      recordDpa,
      dpas: Effect.fn("ProcessorRegistry.dpas")(function*(rawId) {
        const id = yield* processorIdOf(rawId)
        yield* Effect.annotateCurrentSpan("id", id)
        return yield* store.dpas(id)
      }),
      publishQuestionnaire,
      questionnaire,
      submitAssessment,
      decideAssessment,
      assessments: Effect.fn("ProcessorRegistry.assessments")(function*(rawId) {
        const id = yield* processorIdOf(rawId)
        yield* Effect.annotateCurrentSpan("id", id)
        return yield* store.assessments(id)
      }),
      announce,
      notices: Effect.fn("ProcessorRegistry.notices")(function*(rawId) {
        return yield* store.notices(rawId === undefined ? undefined : yield* processorIdOf(rawId))
      }),
      noticesFor: Effect.fn("ProcessorRegistry.noticesFor")(function*(rawTenant) {
        const tenant = yield* tenantIdOf(rawTenant)
        yield* Effect.annotateCurrentSpan("tenant", tenant)
        return yield* store.noticesFor(tenant)
      }),
      object,
      objections: Effect.fn("ProcessorRegistry.objections")(function*(rawNotice) {
        return yield* store.objections(yield* noticeIdOf(rawNotice))
      }),
      recordActivity,
      activities: store.activities.pipe(Effect.withSpan("ProcessorRegistry.activities")),
      record,
      annex,
      findings
    })
  })

// A driver's error as `Database.safeSqlError` keeps it: never the data its diagnostics quote.
const fail = (operation: string) => (cause: unknown) =>
  new RegistryStoreError({ operation, cause: Database.safeSqlError(cause) })

/**
 * The registry in memory, for tests and for apps without a database.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<ProcessorRegistry, never, AuditTrail | TenantNotifier | Vault.Vault> = Layer.effect(
  ProcessorRegistry,
  Effect.suspend(() => make(memoryStore(fail)))
)

/**
 * The registry on SQL (PostgreSQL or PGlite), migrated on start-up.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSql: Layer.Layer<
  ProcessorRegistry,
  Migrations.MigrationFailed,
  AuditTrail | TenantNotifier | Vault.Vault | SqlClient.SqlClient
> = Layer.effect(ProcessorRegistry, Effect.flatMap(sqlStore(fail), make))
