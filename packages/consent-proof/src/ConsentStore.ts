/**
 * Where consent events, the current-state projection and import records are
 * kept. The store only keeps; `ConsentLedger` validates, seals and audits.
 *
 * ## Appends
 *
 * `append` writes a batch of events and applies them to the projection in
 * one call of the PL/pgSQL function `lawful_consent_append` (one round trip,
 * one transaction, plans kept per session): each tenant has a counter row whose
 * lock orders its writers and numbers its events (`seq`, from 0, in
 * recording order); each (subject, list) the batch touches is moved by the
 * batch's combined effect from whatever state it is in when the statement
 * gets its row (`ConsentState.effectOf`). Appends of one tenant may run
 * concurrently (from one process or several): rows a concurrent append
 * changed are re-read before they are updated, and a statement that loses a
 * race (a key inserted meanwhile, a deadlock) is run again, so the
 * projection always equals the replay of the events in `seq` order.
 *
 * ## Confirmations, checked at write time
 *
 * A confirmation confirms the pending grants it names (`confirms`), read by
 * the ledger before it writes. Two confirmations of one grant at once (a
 * double-clicked link, two processes) both read it pending; stored both,
 * the second would confirm nothing. An append with `checkConfirmations`
 * therefore checks, under the tenant's lock (after every earlier writer, and
 * with the events before it in the batch applied), that each list of each
 * confirmation is still pending by one of the grants it names. If one is
 * not, nothing of the batch is stored and the append fails
 * `ConfirmationRefused`, naming those confirmations: the caller may append
 * the others again. A confirmation refused only because of another refused
 * one before it in the batch (same subject and list) is named too; appended
 * again without it, it may pass. Without the option, events are stored as
 * given (the projection ignores a confirmation of a list that is not
 * pending).
 *
 * ## Grants checked against withdrawals, at write time
 *
 * An import reads its contacts' states to refuse re-granting a list a
 * contact withdrew from at or after the row's consent, then writes; a
 * withdrawal committed in between would be overwritten by the grant. An
 * append with `refuseWithdrawnSince` (each checked grant's event id and the
 * time its consent was collected) therefore checks, under the tenant's lock
 * (after every earlier writer, and with the events before it in the batch
 * applied), that no list of each checked grant is withdrawn by a withdrawal
 * timed at or after that time. If one is, nothing of the batch is stored and
 * the append fails `GrantRefused`, naming those grants: the caller may
 * append the others again. Confirmations are checked first: a batch refused
 * for a confirmation fails `ConfirmationRefused` only.
 *
 * ## Tables
 *
 * `lawful_consent_events` (canonical bytes, sealed IP and user agent, audit
 * index, and the import id of an imported event, unique per subject),
 * `lawful_consent_state` (the projection), `lawful_consent_tenants`
 * (the counters), `lawful_consent_imports` (attestations, reports, and the
 * blind index, options hash and claim of an idempotency key), and
 * `lawful_consent_lists` (see `ConsentLists`); migrated in
 * `lawful_consent_proof_migrations`.
 *
 * ## Imports with an idempotency key
 *
 * `claimImport` finds or creates the import of a key in one transaction: a
 * new key saves the import record with the calling attempt's claim; a known
 * one answers with its import (completed, or resumed under the new claim
 * when no other claim holds it) unless its options differ or a live claim
 * holds it. A claim is a token and a time until which it holds; its holder
 * renews it, lets it go on failure, and completes the import with it:
 * `completeImport` with the token writes the report and clears the claim
 * only while the token holds it, so an attempt whose claim lapsed and was
 * taken over cannot complete the import under its new holder.
 *
 * `completeImport` also takes the completion's `record` (the ledger's audit
 * entry) and runs it only when it writes the report, all or none: on SQL in
 * the transaction that writes the report, after the write and before the
 * commit (with the audit log on the same database, report and entry commit
 * together or not at all); in memory `record` first, then the write, under
 * a lock every import operation that writes takes. A `record` that fails
 * leaves the import incomplete and its claim as it was, so the import can
 * be resumed and completed with its entry. A store of your own must do the
 * same.
 *
 * An import records at most one event per subject: an append that would add a
 * second fails whole (`ConsentStoreError`), so two attempts of one import
 * can never both record a contact, and `importedSubjects` finds what an
 * interrupted attempt recorded by key.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import type { Json } from "@lawful/audit-trail/AuditEvent"
import * as Database from "@lawful/core/Database"
import type * as Migrations from "@lawful/core/Migrations"
import { SubjectId } from "@lawful/core/SubjectId"
import { TenantId } from "@lawful/core/TenantId"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { Recorded } from "./ConsentEvent.js"
import * as ConsentEvent from "./ConsentEvent.js"
import type { ListId } from "./ConsentLists.js"
import * as ConsentState from "./ConsentState.js"
import { toBuffer } from "./internal/bytes.js"
import { migrate } from "./internal/migrations.js"
import { checkingTenant } from "./internal/tenantChecked.js"

/**
 * An event as stored, with its sequence number in the tenant's events.
 *
 * @since 0.1.0
 * @category models
 */
export interface StoredEvent extends Recorded {
  readonly seq: number
}

/**
 * A page of a tenant's events in recording order, optionally of one subject.
 *
 * @since 0.1.0
 * @category models
 */
export interface EventQuery {
  readonly subject?: SubjectId | undefined
  /** The `seq` of the last event of the previous page. */
  readonly after?: number | undefined
  readonly limit: number
}

/**
 * An import as stored: its attestation (JSON), the hash events commit to,
 * when it started, and its report once complete.
 *
 * @since 0.1.0
 * @category models
 */
export interface ImportRecord {
  readonly importId: string
  readonly attestation: Json
  readonly attestationHash: string
  readonly startedAt: Date
  readonly report: Option.Option<Json>
}

/**
 * An attempt's claim on the import of an idempotency key: the key's blind
 * index, the hash of the import's options, the attempt's token (a UUID),
 * the time now, and until when the claim holds unless renewed.
 *
 * @since 0.1.0
 * @category models
 */
export interface ImportClaim {
  readonly keyHash: string
  readonly optionsHash: string
  readonly token: string
  readonly now: Date
  readonly until: Date
}

/**
 * What `claimImport` found: a new import (the record saved, the claim
 * taken), an incomplete one whose claim the attempt took (`Resumed`), a
 * completed one (`Completed`, with its report), one with other options
 * (`Conflict`), or one whose claim still holds (`Busy`). Only `Started` and
 * `Resumed` change anything.
 *
 * @since 0.1.0
 * @category models
 */
export type ClaimOutcome =
  | { readonly _tag: "Started" }
  | { readonly _tag: "Resumed"; readonly record: ImportRecord }
  | { readonly _tag: "Completed"; readonly record: ImportRecord }
  | { readonly _tag: "Conflict"; readonly importId: string }
  | { readonly _tag: "Busy"; readonly importId: string; readonly until: Date }

/**
 * Which withdrawn-consent proofs retention selects: subjects whose every
 * list is withdrawn, the last withdrawal strictly before `cutoff`, and not
 * excluded (held).
 *
 * @since 0.1.0
 * @category models
 */
export interface WithdrawnSelection {
  readonly cutoff: Date
  readonly excludeSubjects: ReadonlySet<SubjectId>
}

/**
 * Which states `statesOfSubjects` reads: those in `status` and of one of `lists`, each when given
 * (`lists` empty: none). A store applies it; the ledger does not filter again.
 *
 * @since 0.1.0
 * @category models
 */
export interface StateFilter {
  readonly status?: ConsentState.Status | undefined
  readonly lists?: ReadonlyArray<ListId> | undefined
}

/**
 * What an append is asked to check.
 *
 * @since 0.1.0
 * @category models
 */
export interface AppendOptions {
  /**
   * Refuse the whole append (`ConfirmationRefused`) when a confirmation's lists are not pending
   * by the grants it names at its turn; see "Confirmations, checked at write time" in the module
   * documentation. Default false: the events are stored as given.
   */
  readonly checkConfirmations?: boolean | undefined
  /**
   * Refuse the whole append (`GrantRefused`) when a grant named here (by event id) finds, at its
   * turn, one of its lists withdrawn by a withdrawal timed at or after the time given (when its
   * consent was collected); see "Grants checked against withdrawals, at write time" in the module
   * documentation. Default none: the events are stored as given.
   */
  readonly refuseWithdrawnSince?: ReadonlyMap<string, Date> | undefined
}

/**
 * A checked append was refused: the confirmations named (in batch order)
 * found a list no longer pending by the grants they confirm (another
 * confirmation, a withdrawal or a newer grant came first). Nothing of the
 * batch was stored.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConfirmationRefused extends Schema.TaggedError<ConfirmationRefused>()("ConfirmationRefused", {
  tenantId: Schema.String,
  eventIds: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `${this.eventIds.length} confirmation(s) confirm no pending grant; nothing was appended`
  }
}

/**
 * A checked append was refused: the grants named (in batch order) found,
 * at their turn, one of their lists withdrawn by a withdrawal timed at or
 * after their consent (a withdrawal recorded since the caller read the
 * states). Nothing of the batch was stored.
 *
 * @since 0.1.0
 * @category errors
 */
export class GrantRefused extends Schema.TaggedError<GrantRefused>()("GrantRefused", {
  tenantId: Schema.String,
  eventIds: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `${this.eventIds.length} grant(s) follow a withdrawal at or after their consent; nothing was appended`
  }
}

/**
 * The store failed (the database is unreachable, a statement failed).
 *
 * @since 0.1.0
 * @category errors
 */
export class ConsentStoreError extends Schema.TaggedError<ConsentStoreError>()("ConsentStoreError", {
  operation: Schema.String,
  cause: Schema.Defect
}) {
  override get message(): string {
    return `Consent store operation ${this.operation} failed`
  }
}

/**
 * @since 0.1.0
 * @category services
 */
export class ConsentStore extends Context.Tag("@lawful/consent-proof/ConsentStore")<ConsentStore, {
  /**
   * Appends the events, in order, and applies them to the projection: all or none. With
   * `checkConfirmations`, fails `ConfirmationRefused` (nothing appended) when a confirmation's
   * lists are no longer pending by the grants it names; with `refuseWithdrawnSince`, fails
   * `GrantRefused` (nothing appended) when a grant it names finds a list withdrawn at or after its
   * consent; see the module documentation.
   */
  readonly append: (
    tenant: TenantId,
    events: ReadonlyArray<Recorded>,
    options?: AppendOptions
  ) => Effect.Effect<void, ConsentStoreError | ConfirmationRefused | GrantRefused>
  readonly events: (tenant: TenantId, query: EventQuery) => Effect.Effect<ReadonlyArray<StoredEvent>, ConsentStoreError>
  readonly event: (
    tenant: TenantId,
    id: ConsentEvent.EventId
  ) => Effect.Effect<Option.Option<StoredEvent>, ConsentStoreError>
  /** The subject's current states (the projection), in list order. */
  readonly states: (
    tenant: TenantId,
    subject: SubjectId
  ) => Effect.Effect<ReadonlyArray<ConsentState.ListState>, ConsentStoreError>
  /**
   * The current states (the projection) of the subjects, in (subject, list) order: one read for a
   * batch. With a `filter`, only the states in its `status` and of its `lists`: a store of your own
   * must apply it, as the import takes every state read as one of its contacts' withdrawals from
   * its lists.
   */
  readonly statesOfSubjects: (
    tenant: TenantId,
    subjects: ReadonlyArray<SubjectId>,
    filter?: StateFilter
  ) => Effect.Effect<ReadonlyArray<ConsentState.SubjectListState>, ConsentStoreError>
  /** Subjects granted on the list, in subject-id order, after a cursor. */
  readonly recipients: (
    tenant: TenantId,
    list: ListId,
    after: SubjectId | undefined,
    limit: number
  ) => Effect.Effect<ReadonlyArray<SubjectId>, ConsentStoreError>
  /** The tenant's projection in (subject, list) order, after a cursor. */
  readonly projection: (
    tenant: TenantId,
    after: { readonly subject: SubjectId; readonly list: ListId } | undefined,
    limit: number
  ) => Effect.Effect<ReadonlyArray<ConsentState.SubjectListState>, ConsentStoreError>
  /** Recomputes the tenant's projection from its events; returns the number of states. */
  readonly rebuildProjection: (tenant: TenantId) => Effect.Effect<number, ConsentStoreError>
  /** Removes the subject's events and states; returns how many events were removed. */
  readonly eraseSubject: (tenant: TenantId, subject: SubjectId) => Effect.Effect<number, ConsentStoreError>
  readonly saveImport: (tenant: TenantId, record: ImportRecord) => Effect.Effect<void, ConsentStoreError>
  /**
   * Stores the report of an incomplete import, clears its claim and `record`s the completion (the
   * ledger appends its `consent.import.completed` entry): all or none. On SQL `record` runs in the
   * transaction that writes the report, after the write and before the commit (with the audit log
   * on this database, the report and the entry commit together or not at all); in memory it runs
   * first and the report is written after it, under a lock the other import operations take. A
   * `record` that fails leaves the import incomplete, its claim as it was, and fails with its error.
   *
   * With a `token` (an import with an idempotency key), only while that token holds the claim:
   * once another attempt took the import over (after the token's claim lapsed) or the import is
   * complete, nothing is written or recorded (`None`). Without one (an import without a key,
   * which has no claim), the report is stored as given. Returns what `record` returned.
   */
  readonly completeImport: <A, E>(
    tenant: TenantId,
    importId: string,
    report: Json,
    token: string | undefined,
    record: Effect.Effect<A, E>
  ) => Effect.Effect<Option.Option<A>, ConsentStoreError | E>
  readonly importOf: (tenant: TenantId, importId: string) => Effect.Effect<Option.Option<ImportRecord>, ConsentStoreError>
  /**
   * Finds the import of an idempotency key, or saves `record` as it; see
   * the module documentation. A claim holds while `now` is before its `until`.
   */
  readonly claimImport: (
    tenant: TenantId,
    record: ImportRecord,
    claim: ImportClaim
  ) => Effect.Effect<ClaimOutcome, ConsentStoreError>
  /** Extends the claim of `token` on an incomplete import; false when the token no longer holds it. */
  readonly renewImportClaim: (
    tenant: TenantId,
    importId: string,
    token: string,
    until: Date
  ) => Effect.Effect<boolean, ConsentStoreError>
  /** Lets go of the claim of `token` on an import (nothing when another token holds it). */
  readonly releaseImportClaim: (tenant: TenantId, importId: string, token: string) => Effect.Effect<void, ConsentStoreError>
  /** Those of `subjects` that have an event of the import (read by key). */
  readonly importedSubjects: (
    tenant: TenantId,
    importId: string,
    subjects: ReadonlyArray<SubjectId>
  ) => Effect.Effect<ReadonlySet<SubjectId>, ConsentStoreError>
  /** Tenants that have recorded events. */
  readonly tenants: Effect.Effect<ReadonlyArray<TenantId>, ConsentStoreError>
  /**
   * Removes the withdrawn-consent proofs selected (events and states of those subjects), at
   * most `limit` subjects, in the order of their first withdrawal (then subject id); returns how
   * many subjects were purged. A batch reads the rows of the subjects it purges, not every
   * withdrawn subject of the tenant.
   */
  readonly purgeWithdrawn: (
    tenant: TenantId,
    selection: WithdrawnSelection & { readonly limit: number }
  ) => Effect.Effect<number, ConsentStoreError>
  readonly countWithdrawn: (tenant: TenantId, selection: WithdrawnSelection) => Effect.Effect<number, ConsentStoreError>
  /** The time of the oldest withdrawn-consent proof (its last withdrawal). */
  readonly oldestWithdrawn: (
    tenant: TenantId,
    excludeSubjects: ReadonlySet<SubjectId>
  ) => Effect.Effect<Option.Option<Date>, ConsentStoreError>
  /**
   * The SQL client the store runs on (`layerSql`), which the withdrawn-proof retention target
   * declares: a sweep then purges each batch in the transaction that records it.
   */
  readonly client?: SqlClient.SqlClient | undefined
}>() {}

type Service = Context.Tag.Service<typeof ConsentStore>

/** The combined effect of a batch on each (subject, list) it touches. */
const outcomesOf = (events: ReadonlyArray<Recorded>) => {
  const bySubject = new Map<SubjectId, Map<ListId, Array<ConsentEvent.ConsentEvent>>>()
  for (const { event } of events) {
    const lists = bySubject.get(event.subject) ?? new Map<ListId, Array<ConsentEvent.ConsentEvent>>()
    for (const list of event.lists) lists.set(list, [...(lists.get(list) ?? []), event])
    bySubject.set(event.subject, lists)
  }
  const outcomes: Array<{ subject: SubjectId; list: ListId; outcome: ConsentState.Outcome }> = []
  for (const [subject, lists] of bySubject) {
    for (const [list, listEvents] of lists) outcomes.push({ subject, list, outcome: ConsentState.effectOf(list, listEvents) })
  }
  return outcomes
}

const starts = ["none", "pending", "granted", "withdrawn"] as const

/**
 * Each list of each event the caller chooses in a batch, with `earlier`: the combined effect on
 * that (subject, list) of the events before it in the batch, from each starting state. The
 * batch-time checks are built from it, each by its caller.
 */
function* withEarlierEvents(events: ReadonlyArray<Recorded>, chosen: (event: ConsentEvent.ConsentEvent) => boolean) {
  const earlier = new Map<SubjectId, Map<ListId, Array<ConsentEvent.ConsentEvent>>>()
  for (const { event } of events) {
    const lists = earlier.get(event.subject) ?? new Map<ListId, Array<ConsentEvent.ConsentEvent>>()
    earlier.set(event.subject, lists)
    const isChosen = chosen(event)
    for (const list of event.lists) {
      const before = lists.get(list) ?? []
      if (isChosen) yield { event, list, earlier: ConsentState.effectOf(list, before) }
      before.push(event)
      lists.set(list, before)
    }
  }
}

/**
 * The checks of a batch's confirmations, for `lawful_consent_append` (migration 0007). For each
 * confirmation and list it names, which starting states of (subject, list) let it pass, the
 * events before it in the batch applied: `ok`, the starting statuses ("none": no state) from
 * which those events leave the list pending by a grant it confirms; and `x`, when those events
 * leave a pending list as it was, the grants it confirms (the starting state must be pending by
 * one of them).
 */
const confirmationChecks = (events: ReadonlyArray<Recorded>) =>
  Array.from(withEarlierEvents(events, (event) => event.kind === "confirmed"), ({ earlier, event, list }) => {
    const passes = (state: ConsentState.ListState | undefined) =>
      state?.status === "pending" && event.confirms.includes(state.eventId)
    return {
      e: event.id,
      s: event.subject,
      l: list,
      ok: starts.filter((start) => earlier[start] !== undefined && passes(earlier[start])),
      x: earlier.pending === undefined ? event.confirms : null
    }
  })

/**
 * The checks of a batch's grants against withdrawals, for `lawful_consent_append` (migration 0008).
 * For each grant named in `since` and each list it names, the events before it in the batch
 * applied: `bad`, the starting statuses ("none": no state) from which those events leave the list
 * withdrawn at or after `t` (its consent); and `keep`, when those events leave a withdrawn list as
 * it was (the stored withdrawal's time then decides).
 */
const withdrawalChecks = (events: ReadonlyArray<Recorded>, since: ReadonlyMap<string, Date>) =>
  Array.from(withEarlierEvents(events, (event) => since.has(event.id)), ({ earlier, event, list }) => {
    const consentedAt = since.get(event.id)!
    const refuses = (state: ConsentState.ListState | undefined) =>
      state?.status === "withdrawn" && state.since.getTime() >= consentedAt.getTime()
    return {
      e: event.id,
      s: event.subject,
      l: list,
      t: consentedAt.toISOString(),
      bad: starts.filter((start) => refuses(earlier[start])),
      keep: earlier.withdrawn === undefined
    }
  })

/** Withdrawn-consent proofs of one subject's states: the last withdrawal when every list is withdrawn. */
const withdrawnSince = (states: Iterable<ConsentState.ListState>): Date | undefined => {
  let latest: Date | undefined
  for (const state of states) {
    if (state.status !== "withdrawn") return undefined
    if (latest === undefined || state.since > latest) latest = state.since
  }
  return latest
}

const compareStrings = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

// The first withdrawal of a subject whose every list is withdrawn (the order purges take).
const firstWithdrawn = (states: Iterable<ConsentState.ListState>): Date | undefined => {
  let earliest: Date | undefined
  for (const state of states) {
    if (state.status !== "withdrawn") return undefined
    if (earliest === undefined || state.since < earliest) earliest = state.since
  }
  return earliest
}

// ---- memory ------------------------------------------------------------------

const makeMemory = (): Service => {
  const events = new Map<TenantId, Array<StoredEvent>>()
  const states = new Map<TenantId, Map<SubjectId, Map<ListId, ConsentState.ListState>>>()
  const imports = new Map<string, ImportRecord>()
  // By `tenant/key hash`: the import of an idempotency key and the hash of its options.
  const importKeys = new Map<string, { readonly importId: string; readonly optionsHash: string }>()
  // By `tenant/import id`: the claim on an incomplete import, and the subjects it recorded.
  const claims = new Map<string, { readonly token: string; readonly until: Date }>()
  const importedBy = new Map<string, Set<SubjectId>>()
  const counters = new Map<TenantId, number>()
  const importKeyOf = (tenant: TenantId, recorded: Recorded) =>
    recorded.event.source.type === "import" ? `${tenant}/${recorded.event.source.importId}` : undefined
  const eventsOf = (tenant: TenantId) => events.get(tenant) ?? []
  const statesOf = (tenant: TenantId) => {
    const found = states.get(tenant)
    if (found) return found
    const created = new Map<SubjectId, Map<ListId, ConsentState.ListState>>()
    states.set(tenant, created)
    return created
  }
  const subjectStates = (tenant: TenantId, subject: SubjectId) => {
    const all = statesOf(tenant)
    const found = all.get(subject)
    if (found) return found
    const created = new Map<ListId, ConsentState.ListState>()
    all.set(subject, created)
    return created
  }
  // Each operation yields first, as a database round trip would, so concurrent callers interleave.
  const atomically = <A>(f: () => A): Effect.Effect<A> => Effect.zipRight(Effect.yieldNow(), Effect.sync(f))
  // Taken by every operation that changes imports or their claims, and held by `completeImport`
  // while its `record` runs, so that none of them comes between its check and its write.
  const importLock = Effect.unsafeMakeSemaphore(1)
  const withImports = <A>(f: () => A): Effect.Effect<A> => importLock.withPermits(1)(atomically(f))

  const withdrawnCandidates = (
    tenant: TenantId,
    selection: { readonly cutoff?: Date | undefined; readonly excludeSubjects: ReadonlySet<SubjectId> }
  ) =>
    [...statesOf(tenant)].flatMap(([subject, lists]) => {
      if (selection.excludeSubjects.has(subject)) return []
      const since = withdrawnSince(lists.values())
      return since !== undefined && (selection.cutoff === undefined || since.getTime() < selection.cutoff.getTime())
        ? [{ subject, since }]
        : []
    }).sort((a, b) => a.since.getTime() - b.since.getTime() || compareStrings(a.subject, b.subject))

  const remove = (tenant: TenantId, subjects: ReadonlySet<SubjectId>) => {
    const before = eventsOf(tenant)
    const kept = before.filter((stored) => !subjects.has(stored.event.subject))
    for (const stored of before) {
      const key = importKeyOf(tenant, stored)
      if (key !== undefined && subjects.has(stored.event.subject)) importedBy.get(key)?.delete(stored.event.subject)
    }
    // A tenant that never recorded an event stays out of `tenants`, as on SQL.
    if (events.has(tenant)) events.set(tenant, kept)
    for (const subject of subjects) statesOf(tenant).delete(subject)
    return before.length - kept.length
  }

  return {
    append: (tenant, batch, options) =>
      Effect.flatten(atomically((): Effect.Effect<void, ConsentStoreError | ConfirmationRefused | GrantRefused> => {
        const checkConfirmations = options?.checkConfirmations === true
        const consentTimes = options?.refuseWithdrawnSince
        if (checkConfirmations || (consentTimes !== undefined && consentTimes.size > 0)) {
          // Each check against the state at its turn: the current one, the batch's events before
          // it applied.
          const scratch = new Map<SubjectId, Map<ListId, ConsentState.ListState>>()
          const refusedConfirmations: Array<string> = []
          const refusedGrants: Array<string> = []
          for (const { event } of batch) {
            let lists = scratch.get(event.subject)
            if (lists === undefined) {
              lists = new Map(statesOf(tenant).get(event.subject) ?? [])
              scratch.set(event.subject, lists)
            }
            const pendingByItsGrants = (list: ListId) => {
              const state = lists!.get(list)
              return state?.status === "pending" && event.confirms.includes(state.eventId)
            }
            if (checkConfirmations && event.kind === "confirmed" && !event.lists.every(pendingByItsGrants)) {
              refusedConfirmations.push(event.id)
            }
            const consentedAt = consentTimes?.get(event.id)
            const withdrawnSinceConsent = (list: ListId) => {
              const state = lists!.get(list)
              return state?.status === "withdrawn" && state.since.getTime() >= consentedAt!.getTime()
            }
            if (consentedAt !== undefined && event.lists.some(withdrawnSinceConsent)) refusedGrants.push(event.id)
            ConsentState.applyTo(lists, event)
          }
          if (refusedConfirmations.length > 0) {
            return Effect.fail(new ConfirmationRefused({ tenantId: tenant, eventIds: refusedConfirmations }))
          }
          if (refusedGrants.length > 0) return Effect.fail(new GrantRefused({ tenantId: tenant, eventIds: refusedGrants }))
        }
        const adding = new Set<string>()
        for (const recorded of batch) {
          const key = importKeyOf(tenant, recorded)
          if (key === undefined) continue
          const pair = `${key}/${recorded.event.subject}`
          if (importedBy.get(key)?.has(recorded.event.subject) || adding.has(pair)) {
            return Effect.fail(
              new ConsentStoreError({ operation: "append", cause: new Error("an import records one event per subject") })
            )
          }
          adding.add(pair)
        }
        for (const recorded of batch) {
          const key = importKeyOf(tenant, recorded)
          if (key === undefined) continue
          const subjects = importedBy.get(key) ?? new Set<SubjectId>()
          subjects.add(recorded.event.subject)
          importedBy.set(key, subjects)
        }
        const list = eventsOf(tenant)
        let seq = counters.get(tenant) ?? 0
        for (const recorded of batch) {
          list.push({ ...recorded, seq: seq++ })
          ConsentState.applyTo(subjectStates(tenant, recorded.event.subject), recorded.event)
        }
        counters.set(tenant, seq)
        events.set(tenant, list)
        return Effect.void
      })),
    events: (tenant, query) =>
      atomically(() => {
        const after = query.after ?? -1
        const page: Array<StoredEvent> = []
        for (const stored of eventsOf(tenant)) {
          if (stored.seq <= after) continue
          if (query.subject !== undefined && stored.event.subject !== query.subject) continue
          page.push(stored)
          if (page.length >= query.limit) break
        }
        return page
      }),
    event: (tenant, id) => atomically(() => Option.fromNullable(eventsOf(tenant).find((stored) => stored.event.id === id))),
    states: (tenant, subject) =>
      atomically(() => ConsentState.sortByList([...(statesOf(tenant).get(subject)?.values() ?? [])])),
    statesOfSubjects: (tenant, subjects, filter) =>
      atomically(() =>
        [...new Set(subjects)].sort(compareStrings).flatMap((subject) =>
          ConsentState.sortByList([...(statesOf(tenant).get(subject)?.values() ?? [])])
            .filter((state) =>
              (filter?.status === undefined || state.status === filter.status) &&
              (filter?.lists === undefined || filter.lists.includes(state.list))
            )
            .map((state) => ({ ...state, subject }))
        )
      ),
    recipients: (tenant, list, after, limit) =>
      atomically(() =>
        [...statesOf(tenant)]
          .filter(([subject, lists]) => (after === undefined || subject > after) && lists.get(list)?.status === "granted")
          .map(([subject]) => subject)
          .sort(compareStrings)
          .slice(0, limit)
      ),
    projection: (tenant, after, limit) =>
      atomically(() =>
        [...statesOf(tenant)]
          .flatMap(([subject, lists]) => [...lists.values()].map((state) => ({ ...state, subject })))
          .sort((a, b) => compareStrings(a.subject, b.subject) || compareStrings(a.list, b.list))
          .filter((state) =>
            after === undefined || state.subject > after.subject || (state.subject === after.subject && state.list > after.list)
          )
          .slice(0, limit)
      ),
    rebuildProjection: (tenant) =>
      atomically(() => {
        states.delete(tenant)
        for (const stored of eventsOf(tenant)) {
          ConsentState.applyTo(subjectStates(tenant, stored.event.subject), stored.event)
        }
        return [...statesOf(tenant).values()].reduce((n, lists) => n + lists.size, 0)
      }),
    eraseSubject: (tenant, subject) => atomically(() => remove(tenant, new Set([subject]))),
    saveImport: (tenant, record) => withImports(() => void imports.set(`${tenant}/${record.importId}`, record)),
    // Recorded first, then written, under the imports' lock: no claim, renewal or release comes in
    // between, and once `record` succeeded the write follows it, uninterrupted.
    completeImport: (tenant, importId, report, token, record) =>
      importLock.withPermits(1)(Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const stored = yield* atomically(() => imports.get(`${tenant}/${importId}`))
          if (stored === undefined) return Option.none()
          if (token !== undefined && (Option.isSome(stored.report) || claims.get(`${tenant}/${importId}`)?.token !== token)) {
            return Option.none()
          }
          const recorded = yield* restore(record)
          imports.set(`${tenant}/${importId}`, { ...stored, report: Option.some(report) })
          claims.delete(`${tenant}/${importId}`)
          return Option.some(recorded)
        })
      )),
    importOf: (tenant, importId) => atomically(() => Option.fromNullable(imports.get(`${tenant}/${importId}`))),
    claimImport: (tenant, record, claim) =>
      withImports((): ClaimOutcome => {
        const known = importKeys.get(`${tenant}/${claim.keyHash}`)
        if (known === undefined) {
          importKeys.set(`${tenant}/${claim.keyHash}`, { importId: record.importId, optionsHash: claim.optionsHash })
          imports.set(`${tenant}/${record.importId}`, record)
          claims.set(`${tenant}/${record.importId}`, { token: claim.token, until: claim.until })
          return { _tag: "Started" }
        }
        if (known.optionsHash !== claim.optionsHash) return { _tag: "Conflict", importId: known.importId }
        const stored = imports.get(`${tenant}/${known.importId}`)!
        if (Option.isSome(stored.report)) return { _tag: "Completed", record: stored }
        const held = claims.get(`${tenant}/${known.importId}`)
        if (held !== undefined && held.until.getTime() > claim.now.getTime()) {
          return { _tag: "Busy", importId: known.importId, until: held.until }
        }
        claims.set(`${tenant}/${known.importId}`, { token: claim.token, until: claim.until })
        return { _tag: "Resumed", record: stored }
      }),
    renewImportClaim: (tenant, importId, token, until) =>
      withImports(() => {
        if (claims.get(`${tenant}/${importId}`)?.token !== token) return false
        claims.set(`${tenant}/${importId}`, { token, until })
        return true
      }),
    releaseImportClaim: (tenant, importId, token) =>
      withImports(() => {
        if (claims.get(`${tenant}/${importId}`)?.token === token) claims.delete(`${tenant}/${importId}`)
      }),
    importedSubjects: (tenant, importId, subjects) =>
      atomically(() => {
        const recorded = importedBy.get(`${tenant}/${importId}`)
        return new Set(recorded === undefined ? [] : subjects.filter((subject) => recorded.has(subject)))
      }),
    tenants: atomically(() => [...events.keys()]),
    purgeWithdrawn: (tenant, selection) =>
      atomically(() => {
        const lists = statesOf(tenant)
        const chosen = withdrawnCandidates(tenant, selection)
          .map((c) => ({ subject: c.subject, first: firstWithdrawn(lists.get(c.subject)!.values())! }))
          .sort((a, b) => a.first.getTime() - b.first.getTime() || compareStrings(a.subject, b.subject))
          .slice(0, selection.limit)
        remove(tenant, new Set(chosen.map((c) => c.subject)))
        return chosen.length
      }),
    countWithdrawn: (tenant, selection) => atomically(() => withdrawnCandidates(tenant, selection).length),
    oldestWithdrawn: (tenant, excludeSubjects) =>
      atomically(() =>
        Option.fromNullable(
          withdrawnCandidates(tenant, { excludeSubjects })[0]?.since
        )
      )
  }
}

/**
 * The store in memory, for tests and for users who bring no database. A
 * tenant id that is not a lower-case UUID names no tenant, as on SQL: reads,
 * erasures, purges and the renewal or release of an import's claim answer as
 * for a tenant with nothing (none, 0, `false`, nothing done); writes
 * (`append`, `saveImport`, `completeImport`, `claimImport`) fail
 * `ConsentStoreError` (not quoting it) and write nothing. The ledger puts a
 * store of your own behind the same check.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<ConsentStore> = Layer.sync(ConsentStore, () => checkingTenant(makeMemory(), ConsentStoreError))

// ---- SQL ---------------------------------------------------------------------

const hex = (bytes: Uint8Array | undefined) => (bytes === undefined ? null : toBuffer(bytes).toString("hex"))
const decoder = new TextDecoder()

const EventRow = Schema.Struct({
  seq: Schema.Union(Schema.String, Schema.Number),
  body: Schema.Uint8ArrayFromSelf,
  audit_index: Schema.Union(Schema.String, Schema.Number),
  ip_sealed: Schema.NullOr(Schema.Uint8ArrayFromSelf),
  user_agent_sealed: Schema.NullOr(Schema.Uint8ArrayFromSelf)
})

const eventColumns = "seq, body, audit_index, ip_sealed, user_agent_sealed"

const toStored = (row: typeof EventRow.Type): StoredEvent => {
  const bytes = new Uint8Array(row.body)
  return {
    seq: Number(row.seq),
    event: ConsentEvent.fromStoredBytes(bytes),
    bytes,
    hash: ConsentEvent.hashOf(bytes),
    auditIndex: Number(row.audit_index),
    ipSealed: row.ip_sealed === null ? undefined : new Uint8Array(row.ip_sealed),
    userAgentSealed: row.user_agent_sealed === null ? undefined : new Uint8Array(row.user_agent_sealed)
  }
}

interface ImportRow {
  readonly import_id: string
  readonly attestation: unknown
  readonly attestation_sha256: string
  readonly started_at: Date
  readonly report: unknown
}

// jsonb arrives parsed or as text, depending on the driver.
const jsonOf = (value: unknown): Json => (typeof value === "string" ? JSON.parse(value) : value) as Json

const toImportRecord = (row: ImportRow): ImportRecord => ({
  importId: row.import_id,
  attestation: jsonOf(row.attestation),
  attestationHash: row.attestation_sha256,
  startedAt: row.started_at,
  report: Option.map(Option.fromNullable(row.report), jsonOf)
})

const StateRow = Schema.Struct({
  subject_id: SubjectId,
  list_id: Schema.String,
  status: ConsentState.Status,
  since: Schema.DateFromSelf,
  event_id: ConsentEvent.EventId
})

const toState = (row: typeof StateRow.Type): ConsentState.SubjectListState => ({
  subject: row.subject_id,
  list: row.list_id as ListId,
  status: row.status,
  since: row.since,
  eventId: row.event_id
})

// The index that keeps one event per import and subject (migration 0006).
const importSubjectIndex = "lawful_consent_events_import_subject"

const isRace = (error: SqlError): boolean => {
  const cause = error.cause
  if (typeof cause !== "object" || cause === null) return false
  const { code, constraint, constraint_name } = cause as { code?: unknown; constraint?: unknown; constraint_name?: unknown }
  // A second event of an import for a subject is no race: trying again cannot succeed.
  if ((constraint_name ?? constraint) === importSubjectIndex) return false
  // unique_violation (a key inserted by a concurrent writer) and deadlock_detected.
  return code === "23505" || code === "40P01"
}

// The writer that lost has waited for the winner to finish, so trying again at once succeeds.
const retryRaces = <A, R>(effect: Effect.Effect<A, SqlError, R>) => Effect.retry(effect, { while: isRace, times: 10 })

/** What a checked append refused (nothing, when `ids` is empty). */
interface Refusal {
  readonly kind: "confirmations" | "grants"
  readonly ids: ReadonlySet<string>
}

const makeSql = Effect.gen(function*() {
  const client = yield* SqlClient.SqlClient
  const sql = client.withoutTransforms()
  yield* migrate(sql)
  // A driver's error keeps its SQLSTATE code and the names of what failed, never the data its
  // diagnostics quote (a failing row, a key). `retryRaces` reads the whole error, before this.
  const fail = (operation: string) => (cause: unknown) => new ConsentStoreError({ operation, cause: Database.safeSqlError(cause) })

  const appendStatement = (tenant: TenantId, batch: ReadonlyArray<Recorded>, options: AppendOptions | undefined) => {
    const events = JSON.stringify(batch.map((recorded, o) => ({
      o,
      e: recorded.event.id,
      s: recorded.event.subject,
      k: recorded.event.kind,
      t: recorded.event.time.toISOString(),
      b: decoder.decode(recorded.bytes),
      a: recorded.auditIndex,
      ip: hex(recorded.ipSealed),
      ua: hex(recorded.userAgentSealed),
      i: recorded.event.source.type === "import" ? recorded.event.source.importId : null
    })))
    const column = (state: ConsentState.ListState | undefined) =>
      state === undefined ? [null, null, null] : [state.status, state.since.toISOString(), state.eventId]
    const outcomes = JSON.stringify(outcomesOf(batch).map(({ list, outcome, subject }) => {
      const [n, ns, ne] = column(outcome.none)
      const [p, ps, pe] = column(outcome.pending)
      const [g, gs, ge] = column(outcome.granted)
      const [w, ws, we] = column(outcome.withdrawn)
      return { s: subject, l: list, n, ns, ne, p, ps, pe, g, gs, ge, w, ws, we }
    }))
    const checks = options?.checkConfirmations === true ? JSON.stringify(confirmationChecks(batch)) : null
    const since = options?.refuseWithdrawnSince
    const withdrawals = since !== undefined && since.size > 0 ? JSON.stringify(withdrawalChecks(batch, since)) : null
    // See migrations 0002, 0007 and 0008: the lock, the checks, the events and the projection in
    // one call, which answers the confirmations it refused (an array) or the grants it refused
    // (`{ grants }`), and then wrote nothing; or null.
    return sql<{ refused: unknown }>`SELECT lawful_consent_append(${tenant}, ${batch.length}, ${events}::jsonb,
      ${outcomes}::jsonb, ${checks}::jsonb, ${withdrawals}::jsonb) AS refused`.pipe(
      Effect.map(([row]): Refusal => {
        const refused = row?.refused === null || row?.refused === undefined ? [] : jsonOf(row.refused)
        if (Array.isArray(refused)) return { kind: "confirmations", ids: new Set(refused.map(String)) }
        const grants = (refused as { readonly grants?: unknown }).grants
        return { kind: "grants", ids: new Set(Array.isArray(grants) ? grants.map(String) : []) }
      })
    )
  }

  // Statements that must not interleave with a tenant's appends hold its counter row.
  const lockTenant = (tenant: TenantId) =>
    sql`SELECT 1 FROM lawful_consent_tenants WHERE tenant_id = ${tenant} FOR UPDATE`

  // The withdrawn states (`st`) of subjects whose every list is withdrawn before the cut-off (if
  // any), not excluded. The tenant as a subquery and the check kept a probe per state (`OFFSET
  // 0`): planned for a tenant newer than the statistics, the check was a join that read the
  // tenant's states for each withdrawn state (9.4 million rows for 3,000 subjects in the test).
  const qualifyingStates = (
    tenant: TenantId,
    selection: { readonly cutoff?: Date | undefined; readonly excludeSubjects: ReadonlySet<SubjectId> }
  ) => {
    const excluded = [...selection.excludeSubjects]
    const cutoff = selection.cutoff
    return sql`st.tenant_id = (SELECT ${tenant}::uuid) AND st.status = 'withdrawn'
      ${cutoff !== undefined ? sql`AND st.since < ${cutoff}` : sql``}
      AND NOT EXISTS (
        SELECT 1 FROM lawful_consent_state o
        WHERE o.tenant_id = (SELECT ${tenant}::uuid) AND o.subject_id = st.subject_id
          AND (o.status <> 'withdrawn' ${cutoff !== undefined ? sql`OR o.since >= ${cutoff}` : sql``})
        OFFSET 0
      )
      ${excluded.length > 0 ? sql`AND st.subject_id <> ALL(${excluded}::uuid[])` : sql``}`
  }

  // Subjects whose every list is withdrawn, the last withdrawal before the cutoff (if any), oldest first.
  const withdrawnCandidates = (
    tenant: TenantId,
    selection: { readonly cutoff?: Date | undefined; readonly excludeSubjects: ReadonlySet<SubjectId> },
    limit?: number
  ) =>
    sql`
      SELECT st.subject_id, max(st.since) AS last_withdrawn FROM lawful_consent_state st
      WHERE ${qualifyingStates(tenant, selection)}
      GROUP BY st.subject_id
      ORDER BY last_withdrawn, st.subject_id
      ${limit !== undefined ? sql`LIMIT ${limit}` : sql``}`

  // The subjects a purge batch takes: withdrawn states read oldest first, a page at a time, each
  // kept if its subject qualifies (every list withdrawn, before the cut-off), until `limit`
  // subjects. The index is in this order (migration 0005) and each state is checked by a probe
  // of its subject's states: a batch reads about the rows of the subjects it purges. Grouping
  // every withdrawn state of the tenant by subject, as `withdrawnCandidates` does, read them all
  // on each batch, with the tenant's appends waiting.
  const firstWithdrawnSubjects = (
    tenant: TenantId,
    selection: WithdrawnSelection & { readonly limit: number }
  ) =>
    Effect.gen(function*() {
      const { limit } = selection
      const pageSize = Math.min(Math.max(limit, 100), 10_000)
      const chosen = new Set<SubjectId>()
      let after: { readonly since: Date; readonly subject: SubjectId; readonly list: string } | undefined
      while (chosen.size < limit) {
        const rows = yield* sql<{ subject_id: SubjectId; since: Date; list_id: string }>`
          SELECT st.subject_id, st.since, st.list_id FROM lawful_consent_state st
          WHERE ${qualifyingStates(tenant, selection)}
            ${
          after !== undefined
            ? sql`AND (st.since, st.subject_id, st.list_id) > (${after.since}, ${after.subject}::uuid, ${after.list})`
            : sql``
        }
          ORDER BY st.since, st.subject_id, st.list_id LIMIT ${pageSize}`
        for (const row of rows) {
          chosen.add(row.subject_id)
          if (chosen.size === limit) break
        }
        if (rows.length < pageSize) break
        const last = rows[rows.length - 1]!
        after = { since: last.since, subject: last.subject_id, list: last.list_id }
      }
      return [...chosen]
    })

  const rebuildPage = 1000

  const rebuild = (tenant: TenantId) =>
    Effect.gen(function*() {
      yield* lockTenant(tenant)
      yield* sql`DELETE FROM lawful_consent_state WHERE tenant_id = ${tenant}`
      let count = 0
      let cursor: { subject: SubjectId; seq: number } | undefined
      let current: { subject: SubjectId; states: Map<ListId, ConsentState.ListState> } | undefined
      const pending: Array<ConsentState.SubjectListState> = []
      const flush = Effect.suspend(() => {
        if (pending.length === 0) return Effect.void
        const rows = JSON.stringify(pending.splice(0).map((state) => ({
          s: state.subject,
          l: state.list,
          st: state.status,
          t: state.since.toISOString(),
          e: state.eventId
        })))
        return sql`INSERT INTO lawful_consent_state (tenant_id, subject_id, list_id, status, since, event_id)
          SELECT ${tenant}::uuid, s, l, st, t, e
          FROM jsonb_to_recordset(${rows}::jsonb) AS x(s uuid, l text, st text, t timestamptz, e uuid)`.pipe(Effect.asVoid)
      })
      const finish = () => {
        if (current === undefined) return
        for (const state of current.states.values()) pending.push({ ...state, subject: current.subject })
        count += current.states.size
      }
      while (true) {
        const rows = yield* sql<typeof EventRow.Type & { subject_id: SubjectId }>`
          SELECT subject_id, ${sql.literal(eventColumns)} FROM lawful_consent_events
          WHERE tenant_id = ${tenant}
            ${cursor ? sql`AND (subject_id, seq) > (${cursor.subject}::uuid, ${cursor.seq})` : sql``}
          ORDER BY subject_id, seq LIMIT ${rebuildPage}`
        for (const row of rows) {
          const stored = toStored(row)
          if (current === undefined || current.subject !== row.subject_id) {
            finish()
            current = { subject: row.subject_id, states: new Map() }
          }
          ConsentState.applyTo(current.states, stored.event)
          cursor = { subject: row.subject_id, seq: stored.seq }
        }
        if (pending.length >= rebuildPage) yield* flush
        if (rows.length < rebuildPage) break
      }
      finish()
      yield* flush
      return count
    }).pipe(Database.withTransaction(sql))

  return {
    client,
    append: (tenant, batch, options) =>
      batch.length === 0 ? Effect.void : Effect.suspend(() => appendStatement(tenant, batch, options)).pipe(
        retryRaces,
        Effect.mapError(fail("append")),
        Effect.flatMap(({ ids, kind }) => {
          if (ids.size === 0) return Effect.void
          const eventIds = batch.flatMap(({ event }) => (ids.has(event.id) ? [event.id] : []))
          return Effect.fail(
            kind === "confirmations"
              ? new ConfirmationRefused({ tenantId: tenant, eventIds })
              : new GrantRefused({ tenantId: tenant, eventIds })
          )
        })
      ),
    // The tenant as a subquery, in this and the next statement: a plan made for the actual id
    // estimates a tenant newer than the table's statistics at a handful of rows, and reading
    // the whole tenant in `seq` order then looked as cheap as its subject or event-id index
    // (3,000 rows read for one event, in the test). Planned for an average tenant, each lookup
    // takes its index.
    events: (tenant, query) =>
      sql<typeof EventRow.Type>`
        SELECT ${sql.literal(eventColumns)} FROM lawful_consent_events
        WHERE tenant_id = (SELECT ${tenant}::uuid)
          ${query.subject !== undefined ? sql`AND subject_id = ${query.subject}` : sql``}
          ${query.after !== undefined ? sql`AND seq > ${query.after}` : sql``}
        ORDER BY seq LIMIT ${query.limit}`.pipe(
        Effect.map((rows) => rows.map(toStored)),
        Effect.mapError(fail("events"))
      ),
    event: (tenant, id) =>
      sql<typeof EventRow.Type>`
        SELECT ${sql.literal(eventColumns)} FROM lawful_consent_events
        WHERE tenant_id = (SELECT ${tenant}::uuid) AND event_id = ${id}`.pipe(
        Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toStored)),
        Effect.mapError(fail("event"))
      ),
    states: (tenant, subject) =>
      sql`SELECT subject_id, list_id, status, since, event_id FROM lawful_consent_state
          WHERE tenant_id = ${tenant} AND subject_id = ${subject}`.pipe(
        Effect.flatMap(Schema.decodeUnknown(Schema.Array(StateRow))),
        Effect.map((rows) => ConsentState.sortByList(rows.map(toState)).map(({ subject: _, ...state }) => state)),
        Effect.mapError(fail("states"))
      ),
    statesOfSubjects: (tenant, subjects, filter) =>
      subjects.length === 0 || filter?.lists?.length === 0 ? Effect.succeed([]) : sql`
        SELECT subject_id, list_id, status, since, event_id FROM lawful_consent_state
        WHERE tenant_id = (SELECT ${tenant}::uuid) AND subject_id = ANY(${[...new Set(subjects)]}::uuid[])
          ${filter?.status !== undefined ? sql`AND status = ${filter.status}` : sql``}
          ${filter?.lists !== undefined ? sql`AND list_id = ANY(${[...filter.lists]}::text[])` : sql``}
        ORDER BY subject_id, list_id`.pipe(
        Effect.flatMap(Schema.decodeUnknown(Schema.Array(StateRow))),
        Effect.map((rows) => rows.map(toState)),
        Effect.mapError(fail("statesOfSubjects"))
      ),
    recipients: (tenant, list, after, limit) =>
      sql<{ subject_id: SubjectId }>`
        SELECT subject_id FROM lawful_consent_state
        WHERE tenant_id = ${tenant} AND list_id = ${list} AND status = 'granted'
          ${after !== undefined ? sql`AND subject_id > ${after}` : sql``}
        ORDER BY subject_id LIMIT ${limit}`.pipe(
        Effect.map((rows) => rows.map((row) => row.subject_id)),
        Effect.mapError(fail("recipients"))
      ),
    // `list_id` compares byte by byte (migration 0004): the primary key is the page's order, and
    // the cursor a range of it.
    projection: (tenant, after, limit) =>
      sql`SELECT subject_id, list_id, status, since, event_id FROM lawful_consent_state
          WHERE tenant_id = (SELECT ${tenant}::uuid)
            ${after !== undefined ? sql`AND (subject_id, list_id) > (${after.subject}::uuid, ${after.list})` : sql``}
          ORDER BY subject_id, list_id LIMIT ${limit}`.pipe(
        Effect.flatMap(Schema.decodeUnknown(Schema.Array(StateRow))),
        Effect.map((rows) => rows.map(toState)),
        Effect.mapError(fail("projection"))
      ),
    rebuildProjection: (tenant) => rebuild(tenant).pipe(retryRaces, Effect.mapError(fail("rebuildProjection"))),
    eraseSubject: (tenant, subject) =>
      Effect.gen(function*() {
        yield* lockTenant(tenant)
        const [row] = yield* sql<{ n: number }>`
          WITH erased AS (
            DELETE FROM lawful_consent_events WHERE tenant_id = ${tenant} AND subject_id = ${subject} RETURNING 1
          ),
          states AS (DELETE FROM lawful_consent_state WHERE tenant_id = ${tenant} AND subject_id = ${subject})
          SELECT count(*)::int AS n FROM erased`
        return row?.n ?? 0
      }).pipe(Database.withTransaction(sql), retryRaces, Effect.mapError(fail("eraseSubject"))),
    saveImport: (tenant, record) =>
      sql`INSERT INTO lawful_consent_imports (tenant_id, import_id, attestation, attestation_sha256, started_at)
          VALUES (${tenant}, ${record.importId}, ${JSON.stringify(record.attestation)}::jsonb,
            ${record.attestationHash}, ${record.startedAt})`.pipe(Effect.asVoid, Effect.mapError(fail("saveImport"))),
    // With a token, the row's lock orders it with a concurrent take-over (`claimImport` reads the
    // row FOR UPDATE): the later of the two finds the other's change. The completion is recorded
    // after the write, in its transaction, which holds the row's lock until the entry is in: with
    // the audit log on this database the entry joins the transaction, and both commit or neither
    // does.
    completeImport: (tenant, importId, report, token, record) =>
      Effect.gen(function*() {
        const written = yield* sql`
          UPDATE lawful_consent_imports SET report = ${JSON.stringify(report)}::jsonb, claim_token = NULL, claimed_until = NULL
          WHERE tenant_id = ${tenant} AND import_id = ${importId}
            ${token !== undefined ? sql`AND claim_token = ${token} AND report IS NULL` : sql``}
          RETURNING 1`.pipe(Effect.mapError(fail("completeImport")))
        if (written.length === 0) return Option.none()
        return Option.some(yield* record)
      }).pipe(
        Database.withTransaction(sql),
        // The transaction's own statements (BEGIN, COMMIT).
        Effect.mapError((error) => error instanceof SqlError ? fail("completeImport")(error) : error)
      ),
    importOf: (tenant, importId) =>
      sql<ImportRow>`
        SELECT import_id, attestation, attestation_sha256, started_at, report FROM lawful_consent_imports
        WHERE tenant_id = ${tenant} AND import_id = ${importId}`.pipe(
        Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toImportRecord)),
        Effect.mapError(fail("importOf"))
      ),
    claimImport: (tenant, record, claim) =>
      Effect.gen(function*() {
        // A concurrent claim of the same key waits here on the unique index until the first commits.
        const inserted = yield* sql`
          INSERT INTO lawful_consent_imports (tenant_id, import_id, attestation, attestation_sha256, started_at,
            idempotency_key_hash, options_sha256, claim_token, claimed_until)
          VALUES (${tenant}, ${record.importId}, ${JSON.stringify(record.attestation)}::jsonb, ${record.attestationHash},
            ${record.startedAt}, ${claim.keyHash}, ${claim.optionsHash}, ${claim.token}, ${claim.until})
          ON CONFLICT (tenant_id, idempotency_key_hash) WHERE idempotency_key_hash IS NOT NULL DO NOTHING
          RETURNING import_id`
        if (inserted.length > 0) return { _tag: "Started" } as const
        const [row] = yield* sql<ImportRow & { options_sha256: string; claimed_until: Date | null }>`
          SELECT import_id, attestation, attestation_sha256, started_at, report, options_sha256, claimed_until
          FROM lawful_consent_imports
          WHERE tenant_id = ${tenant} AND idempotency_key_hash = ${claim.keyHash}
          FOR UPDATE`
        // Imports are never deleted: the row that conflicted is there.
        if (row === undefined) return yield* Effect.dieMessage("ConsentStore.claimImport: the import of a known key is missing")
        const stored = toImportRecord(row)
        if (row.options_sha256 !== claim.optionsHash) return { _tag: "Conflict", importId: stored.importId } as const
        if (Option.isSome(stored.report)) return { _tag: "Completed", record: stored } as const
        if (row.claimed_until !== null && row.claimed_until.getTime() > claim.now.getTime()) {
          return { _tag: "Busy", importId: stored.importId, until: row.claimed_until } as const
        }
        yield* sql`UPDATE lawful_consent_imports SET claim_token = ${claim.token}, claimed_until = ${claim.until}
          WHERE tenant_id = ${tenant} AND import_id = ${stored.importId}`
        return { _tag: "Resumed", record: stored } as const
      }).pipe(Database.withTransaction(sql), Effect.mapError(fail("claimImport"))),
    renewImportClaim: (tenant, importId, token, until) =>
      sql`UPDATE lawful_consent_imports SET claimed_until = ${until}
          WHERE tenant_id = ${tenant} AND import_id = ${importId} AND claim_token = ${token} AND report IS NULL
          RETURNING 1`.pipe(
        Effect.map((rows) => rows.length > 0),
        Effect.mapError(fail("renewImportClaim"))
      ),
    releaseImportClaim: (tenant, importId, token) =>
      sql`UPDATE lawful_consent_imports SET claim_token = NULL, claimed_until = NULL
          WHERE tenant_id = ${tenant} AND import_id = ${importId} AND claim_token = ${token}`.pipe(
        Effect.asVoid,
        Effect.mapError(fail("releaseImportClaim"))
      ),
    // One probe of the unique index of (tenant, import, subject) per subject. As a filter
    // (`subject_id = ANY(...)`), the list was checked against every event of the import, read
    // by the index's (tenant, import) prefix: planned for a tenant newer than the statistics,
    // the import looked one row long.
    importedSubjects: (tenant, importId, subjects) =>
      subjects.length === 0 ? Effect.succeed(new Set<SubjectId>()) : sql<{ subject_id: SubjectId }>`
        SELECT s.subject_id FROM unnest(${subjects}::uuid[]) AS s(subject_id)
        CROSS JOIN LATERAL (
          SELECT 1 FROM lawful_consent_events e
          WHERE e.tenant_id = ${tenant} AND e.import_id = ${importId} AND e.subject_id = s.subject_id
          LIMIT 1
        ) found`.pipe(
        Effect.map((rows) => new Set(rows.map((row) => row.subject_id))),
        Effect.mapError(fail("importedSubjects"))
      ),
    tenants: sql<{ tenant_id: TenantId }>`SELECT tenant_id FROM lawful_consent_tenants ORDER BY tenant_id`.pipe(
      Effect.map((rows) => rows.map((row) => row.tenant_id)),
      Effect.mapError(fail("tenants"))
    ),
    purgeWithdrawn: (tenant, selection) =>
      Effect.gen(function*() {
        yield* lockTenant(tenant)
        // The page must come from the index in order: a tenant larger than the statistics'
        // average looked cheap enough to read whole (bitmap scan) and sort.
        yield* sql`SELECT set_config('enable_bitmapscan', 'off', true), set_config('enable_sort', 'off', true)`
        const chosen = yield* firstWithdrawnSubjects(tenant, selection)
        if (chosen.length === 0) return 0
        // Each subject probed by its index (a join with the list could hash the whole tenant).
        yield* sql`
          WITH events AS (
            DELETE FROM lawful_consent_events
            WHERE tenant_id = (SELECT ${tenant}::uuid) AND subject_id = ANY(${chosen}::uuid[])
          )
          DELETE FROM lawful_consent_state
          WHERE tenant_id = (SELECT ${tenant}::uuid) AND subject_id = ANY(${chosen}::uuid[])`
        return chosen.length
      }).pipe(Database.withTransaction(sql), retryRaces, Effect.mapError(fail("purgeWithdrawn"))),
    countWithdrawn: (tenant, selection) =>
      sql<{ n: number }>`SELECT count(*)::int AS n FROM (${withdrawnCandidates(tenant, selection)}) AS c`.pipe(
        Effect.map(([row]) => row?.n ?? 0),
        Effect.mapError(fail("countWithdrawn"))
      ),
    oldestWithdrawn: (tenant, excludeSubjects) =>
      sql<{ last_withdrawn: Date }>`
        ${withdrawnCandidates(tenant, { excludeSubjects }, 1)}`.pipe(
        Effect.map((rows) => Option.fromNullable(rows[0]?.last_withdrawn)),
        Effect.mapError(fail("oldestWithdrawn"))
      )
  } satisfies Service
})

/**
 * The store on SQL (PostgreSQL or PGlite), migrated on start-up. A tenant
 * id that is not a lower-case UUID never reaches the database (which would
 * read an upper-case one as the tenant's own): it names no tenant, as in
 * memory.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSql: Layer.Layer<ConsentStore, Migrations.MigrationFailed, SqlClient.SqlClient> = Layer.effect(
  ConsentStore,
  Effect.map(makeSql, (store) => checkingTenant(store, ConsentStoreError))
)
