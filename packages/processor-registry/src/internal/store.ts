import type { TenantId } from "@lawful/core/TenantId"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Order from "effect/Order"
import type { Assessment, AssessmentId } from "../Assessment.js"
import type { ChangeNotice, NoticeId, Objection } from "../ChangeNotice.js"
import type { Dpa } from "../Dpa.js"
import type { ProcessingActivity } from "../ProcessingActivity.js"
import type { Processor, ProcessorId } from "../Processor.js"
import type { Questionnaire } from "../Questionnaire.js"

/** @internal A write, applied with the others of its commit or not at all. */
export type Change =
  | { readonly _tag: "InsertProcessor"; readonly processor: Processor }
  /** Applies only over the revision before `processor.revision`. */
  | { readonly _tag: "UpdateProcessor"; readonly processor: Processor }
  | { readonly _tag: "InsertDpa"; readonly dpa: Dpa }
  | { readonly _tag: "InsertQuestionnaire"; readonly questionnaire: Questionnaire }
  | { readonly _tag: "InsertAssessment"; readonly assessment: Assessment }
  /** Applies only over an undecided assessment. */
  | { readonly _tag: "DecideAssessment"; readonly assessment: Assessment }
  | { readonly _tag: "PutActivity"; readonly activity: ProcessingActivity }
  | { readonly _tag: "InsertNotice"; readonly notice: ChangeNotice; readonly audience: ReadonlyArray<TenantId> }
  /** Committed in the transaction that read its notice with `noticeForObjection`. */
  | { readonly _tag: "InsertObjection"; readonly objection: Objection }

/**
 * @internal What a backend keeps. Lists come in a stable order: processors by
 * registration, DPAs by signature, assessments by submission, notices by
 * publication, activities by id, objections by time.
 */
export interface RegistryStore<E> {
  readonly processor: (id: ProcessorId) => Effect.Effect<Option.Option<Processor>, E>
  /**
   * The processor, for a change of it made in a transaction (`transaction`): its row is locked
   * until the transaction ends, so another change of it (which takes this lock first too) and an
   * objection to its notices being recorded (`noticeForObjection`) wait for the change to commit,
   * and every read after this one sees what they committed before. The registry reads a processor
   * so first in every change of it, before anything else is locked (its audit entries included).
   * On SQL `FOR NO KEY UPDATE`; in memory, transactions run one at a time.
   */
  readonly processorForChange: (id: ProcessorId) => Effect.Effect<Option.Option<Processor>, E>
  /**
   * Another processor, read in a transaction to check a change on it (a parent in the chain of a
   * new role): its row is locked shared until the transaction ends, so a change of it under way
   * (`processorForChange`) is waited for and seen, and one that locks it after waits for this
   * transaction to commit. Two changes that each hold their own processor and read the other's
   * wait for each other: PostgreSQL fails one of them (a deadlock), never commits both.
   * On SQL `FOR SHARE` (`FOR KEY SHARE` would not wait for `FOR NO KEY UPDATE`); in memory,
   * transactions run one at a time.
   */
  readonly processorForCheck: (id: ProcessorId) => Effect.Effect<Option.Option<Processor>, E>
  readonly processors: Effect.Effect<ReadonlyArray<Processor>, E>
  readonly dpas: (processor?: ProcessorId) => Effect.Effect<ReadonlyArray<Dpa>, E>
  readonly questionnaire: (id: string, version: number) => Effect.Effect<Option.Option<Questionnaire>, E>
  /**
   * The questionnaire version, for its publication in a transaction (`transaction`): publications
   * of the same questionnaire id take turns until the transaction ends, so one under way on
   * another server is waited for and this read sees what it committed. A questionnaire has no
   * row to lock before it is published: on SQL a transaction-scoped advisory lock keyed on the
   * id (`pg_advisory_xact_lock`), taken before the read; in memory, transactions run one at a
   * time. The registry reads so first in a publication, before its audit entry; it locks no
   * processor's row.
   */
  readonly questionnaireForPublication: (id: string, version: number) => Effect.Effect<Option.Option<Questionnaire>, E>
  readonly questionnaires: Effect.Effect<ReadonlyArray<Questionnaire>, E>
  readonly assessment: (id: AssessmentId) => Effect.Effect<Option.Option<Assessment>, E>
  readonly assessments: (processor?: ProcessorId) => Effect.Effect<ReadonlyArray<Assessment>, E>
  readonly activities: Effect.Effect<ReadonlyArray<ProcessingActivity>, E>
  readonly notice: (id: NoticeId) => Effect.Effect<Option.Option<ChangeNotice>, E>
  /**
   * The notice, for an objection to it recorded in a transaction: its processor's row is locked
   * shared until the transaction ends (on SQL `FOR SHARE`), so a change that locked the processor
   * (`processorForChange`) is waited for, and one that locks it after waits for the objection and
   * sees it. Taken before anything is written, the audit entries too, as a change's lock is.
   */
  readonly noticeForObjection: (id: NoticeId) => Effect.Effect<Option.Option<ChangeNotice>, E>
  readonly notices: (processor?: ProcessorId) => Effect.Effect<ReadonlyArray<ChangeNotice>, E>
  readonly noticesFor: (tenant: TenantId) => Effect.Effect<ReadonlyArray<ChangeNotice>, E>
  readonly isRecipient: (tenant: TenantId, notice: NoticeId) => Effect.Effect<boolean, E>
  /** Whether any tenant has received a notice: the registry knows there are tenants to tell. */
  readonly anyRecipient: Effect.Effect<boolean, E>
  /**
   * The notices (of a processor, or all) that announce a change: every notice but those that
   * reached no tenant though one published earlier had reached tenants (stored so by an earlier
   * version while there were tenants to tell, they told nobody), in one read.
   */
  readonly announcements: (processor?: ProcessorId) => Effect.Effect<ReadonlyArray<ChangeNotice>, E>
  readonly objection: (tenant: TenantId, notice: NoticeId) => Effect.Effect<Option.Option<Objection>, E>
  readonly objections: (notice: NoticeId) => Effect.Effect<ReadonlyArray<Objection>, E>
  /**
   * The objections to every notice of a processor, or to every notice of any processor when none
   * is given, in one read, by time.
   */
  readonly objectionsOf: (processor?: ProcessorId) => Effect.Effect<ReadonlyArray<Objection>, E>
  /** Applies every change or none; fails when a precondition no longer holds (a concurrent writer). */
  readonly commit: (changes: ReadonlyArray<Change>) => Effect.Effect<void, E>
  /**
   * Runs `effect` in one transaction of the store's database (SQL): what it writes there,
   * audit entries of a log on the same database included, commits or rolls back as one. In
   * memory, `effect` once no other transaction runs (they run one at a time); not nested.
   */
  readonly transaction: <A, E2, R>(effect: Effect.Effect<A, E2, R>) => Effect.Effect<A, E | E2, R>
}

const byTimeThenId = <A>(time: (a: A) => Date, id: (a: A) => string) => (a: A, b: A) =>
  time(a).getTime() - time(b).getTime() || (id(a) < id(b) ? -1 : id(a) > id(b) ? 1 : 0)

/** @internal */
export const sortProcessors = byTimeThenId<Processor>((p) => p.registeredAt, (p) => p.id)
/** @internal */
export const sortDpas = byTimeThenId<Dpa>((d) => d.signedOn, (d) => `${d.recordedAt.toISOString()}/${d.id}`)
/** @internal */
export const sortAssessments = byTimeThenId<Assessment>((a) => a.submittedAt, (a) => a.id)
/** @internal */
export const sortNotices = byTimeThenId<ChangeNotice>((n) => n.publishedAt, (n) => n.id)
/** @internal */
export const sortObjections = byTimeThenId<Objection>((o) => o.objectedAt, (o) => `${o.tenantId}/${o.noticeId}`)

/**
 * @internal A conflict found while committing: a concurrent writer got there first. Its detail
 * names ids and constraints only, never a value the caller gave nor the driver's message; its
 * `cause`, on SQL for a unique violation, the `SqlError` as `Database.safeSqlError` keeps it
 * (SQLSTATE 23505 and the constraint).
 */
export class CommitConflict {
  readonly _tag = "CommitConflict"
  constructor(readonly detail: string, readonly cause?: unknown) {}
  toString() {
    return `Commit conflict: ${this.detail}`
  }
}

/** @internal The store in memory. Each read and commit yields first, as a database round trip would. */
export const memoryStore = <E>(fail: (operation: string) => (cause: unknown) => E): RegistryStore<E> => {
  const processors = new Map<string, Processor>()
  const dpas = new Map<string, Dpa>()
  const questionnaires = new Map<string, Questionnaire>()
  const assessments = new Map<string, Assessment>()
  const activities = new Map<string, ProcessingActivity>()
  const notices = new Map<string, ChangeNotice>()
  const recipients = new Set<string>()
  const objections = new Map<string, Objection>()
  const pair = (tenant: string, notice: string) => `${tenant}/${notice}`
  const read = <A>(f: () => A): Effect.Effect<A> => Effect.zipRight(Effect.yieldNow(), Effect.sync(f))
  // The memory store's row locks: one transaction at a time. The registry makes its changes one
  // at a time already (its own semaphore); this keeps the store's contract
  // (`processorForChange`, `processorForCheck`, `noticeForObjection`) on its own, as the store's contract suite checks
  // ("an objection waits for a transaction that holds its processor for a change",
  // test/RegistryStore.test.ts), which fails without it.
  const serial = Effect.unsafeMakeSemaphore(1)

  // Checks every precondition before the first write, so a failed commit writes nothing.
  const conflictOf = (changes: ReadonlyArray<Change>): CommitConflict | undefined => {
    for (const change of changes) {
      switch (change._tag) {
        case "InsertProcessor":
          if (processors.has(change.processor.id)) return new CommitConflict(`processor ${change.processor.id} exists`)
          break
        case "UpdateProcessor": {
          const current = processors.get(change.processor.id)
          if (current?.revision !== change.processor.revision - 1) {
            return new CommitConflict(`processor ${change.processor.id} changed concurrently`)
          }
          break
        }
        case "InsertDpa":
          if ([...dpas.values()].some((d) => d.processorId === change.dpa.processorId && d.version === change.dpa.version)) {
            return new CommitConflict(`a DPA of processor ${change.dpa.processorId} of the same version exists`)
          }
          break
        case "InsertQuestionnaire":
          if (questionnaires.has(`${change.questionnaire.id}@${change.questionnaire.version}`)) {
            return new CommitConflict(`a questionnaire ${change.questionnaire.id} of the same version exists`)
          }
          break
        case "InsertAssessment":
          if (assessments.has(change.assessment.id)) return new CommitConflict(`assessment ${change.assessment.id} exists`)
          break
        case "DecideAssessment":
          if (assessments.get(change.assessment.id)?.decision !== undefined) {
            return new CommitConflict(`assessment ${change.assessment.id} was decided concurrently`)
          }
          break
        case "PutActivity":
          break
        case "InsertNotice":
          if (notices.has(change.notice.id)) return new CommitConflict(`notice ${change.notice.id} exists`)
          break
        case "InsertObjection":
          if (objections.has(pair(change.objection.tenantId, change.objection.noticeId))) {
            return new CommitConflict("the objection exists")
          }
          break
      }
    }
    return undefined
  }

  const apply = (change: Change) => {
    switch (change._tag) {
      case "InsertProcessor":
      case "UpdateProcessor":
        processors.set(change.processor.id, change.processor)
        break
      case "InsertDpa":
        dpas.set(change.dpa.id, change.dpa)
        break
      case "InsertQuestionnaire":
        questionnaires.set(`${change.questionnaire.id}@${change.questionnaire.version}`, change.questionnaire)
        break
      case "InsertAssessment":
      case "DecideAssessment":
        assessments.set(change.assessment.id, change.assessment)
        break
      case "PutActivity":
        activities.set(change.activity.id, change.activity)
        break
      case "InsertNotice":
        notices.set(change.notice.id, change.notice)
        for (const tenant of change.audience) recipients.add(pair(tenant, change.notice.id))
        break
      case "InsertObjection":
        objections.set(pair(change.objection.tenantId, change.objection.noticeId), change.objection)
        break
    }
  }

  // In memory, transactions run one at a time: a read for a change or a check locks nothing, and
  // is the plain read.
  const processor = (id: string) => read(() => Option.fromNullable(processors.get(id)))
  const questionnaire = (id: string, version: number) =>
    read(() => Option.fromNullable(questionnaires.get(`${id}@${version}`)))

  return {
    processor,
    processorForChange: processor,
    processorForCheck: processor,
    processors: read(() => [...processors.values()].sort(sortProcessors)),
    dpas: (processor) =>
      read(() => [...dpas.values()].filter((d) => processor === undefined || d.processorId === processor).sort(sortDpas)),
    questionnaire,
    questionnaireForPublication: questionnaire,
    questionnaires: read(() =>
      [...questionnaires.values()].sort((a, b) => Order.string(a.id, b.id) || a.version - b.version)
    ),
    assessment: (id) => read(() => Option.fromNullable(assessments.get(id))),
    assessments: (processor) =>
      read(() =>
        [...assessments.values()].filter((a) => processor === undefined || a.processorId === processor).sort(
          sortAssessments
        )
      ),
    activities: read(() => [...activities.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))),
    notice: (id) => read(() => Option.fromNullable(notices.get(id))),
    noticeForObjection: (id) => read(() => Option.fromNullable(notices.get(id))),
    notices: (processor) =>
      read(() =>
        [...notices.values()].filter((n) => processor === undefined || n.processorId === processor).sort(sortNotices)
      ),
    noticesFor: (tenant) =>
      read(() => [...notices.values()].filter((n) => recipients.has(pair(tenant, n.id))).sort(sortNotices)),
    isRecipient: (tenant, notice) => read(() => recipients.has(pair(tenant, notice))),
    anyRecipient: read(() => recipients.size > 0),
    announcements: (processor) =>
      read(() => {
        const told = new Set([...recipients].map((key) => key.slice(key.indexOf("/") + 1)))
        const first = Math.min(...[...notices.values()].filter((n) => told.has(n.id)).map((n) => n.publishedAt.getTime()))
        return [...notices.values()]
          .filter((n) =>
            (processor === undefined || n.processorId === processor) && (told.has(n.id) || n.publishedAt.getTime() <= first)
          )
          .sort(sortNotices)
      }),
    objection: (tenant, notice) => read(() => Option.fromNullable(objections.get(pair(tenant, notice)))),
    objections: (notice) =>
      read(() => [...objections.values()].filter((o) => o.noticeId === notice).sort(sortObjections)),
    objectionsOf: (processor) =>
      read(() =>
        [...objections.values()].filter((o) => {
          const of = notices.get(o.noticeId)?.processorId
          return of !== undefined && (processor === undefined || of === processor)
        }).sort(sortObjections)
      ),
    transaction: (effect) => serial.withPermits(1)(effect),
    commit: (changes) =>
      Effect.zipRight(
        Effect.yieldNow(),
        Effect.suspend(() => {
          const conflict = conflictOf(changes)
          if (conflict !== undefined) return Effect.fail(fail("commit")(conflict))
          changes.forEach(apply)
          return Effect.void
        })
      )
  }
}
