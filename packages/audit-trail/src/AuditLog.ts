/**
 * The audit log: one append-only log per tenant, hashed as an RFC 9162
 * Merkle tree, with inclusion and consistency proofs, signed checkpoints,
 * proof bundles for offline verification, queries, redaction and de-linking,
 * and a full verification that recomputes every tree.
 *
 * ## Appends
 *
 * Concurrent appends are grouped: callers hand their events to one writer
 * fibre, which appends everything waiting for a tenant in one transaction
 * (up to `maxBatch` events), then acknowledges each caller. A caller alone
 * (nothing waiting, nothing being written) writes its own events, and callers
 * arriving meanwhile are grouped after it. An acknowledged append is
 * committed. Each entry's time is its caller's `Clock` time, so entries of
 * one batch may differ in time by the batching delay.
 *
 * An append made inside an open `@effect/sql` transaction (`sql.withTransaction`,
 * or core's `Database.withTransaction`) joins it: the caller writes its own
 * events on the transaction's connection, without waiting for the writer
 * fibre, so the entries commit or roll back with the caller's other writes,
 * and two appends in one transaction cannot wait on each other (on PGlite, a
 * single session, a writer outside the transaction would wait for it to end).
 * The store must then be on the transaction's database: `@effect/sql` runs
 * every statement of a fibre inside its open transaction on that
 * transaction's connection.
 *
 * ## Stored hashes
 *
 * The store keeps every leaf hash and the hashes of complete subtrees at
 * levels 4, 8, 12, ... (one row per 15 leaves); a proof element at another
 * level is rebuilt from at most 8 stored hashes below it, so a proof reads
 * O(log n) rows, never every leaf.
 *
 * ## Checkpoints
 *
 * `checkpoint(tenant)` signs the current size and root (C2SP tlog-checkpoint,
 * Ed25519) unless the latest checkpoint already covers it; call it per batch
 * or on a schedule (`checkpointAll`), never per entry. A checkpoint is issued
 * only if the log is consistent with the previous one (checked with a
 * consistency proof from stored hashes) and with the last one published, and
 * no entry is stored beyond the log's size (a state row rewritten or deleted);
 * each is stored and sent to the `CheckpointPublisher`. Inside a transaction a new
 * checkpoint is refused (`CheckpointRefused`): it could cover entries that
 * the transaction then rolls back.
 *
 * A stored checkpoint is what its signed note says. The row's size and root
 * columns only index the note: whoever can write the database can rewrite them
 * together with the log. So the latest stored checkpoint (before it is
 * returned or extended) and the one a proof bundle carries are verified with
 * the log's key and the tenant's origin, and refused (`CheckpointRefused`)
 * when the note does not verify, is another tenant's (one key signs every
 * tenant's), or disagrees with its columns. The published checkpoint is
 * verified the same way; one that does not verify or is another tenant's
 * refuses every new checkpoint until an operator has looked at it. A proof
 * bundle's entry and inclusion proof are read from the stored log and not
 * checked against the note before it is handed out: a log rewritten under a
 * genuine checkpoint gives bundles that fail `ProofBundle.verify` (and
 * `verify` finds the rewrite).
 *
 * @since 0.1.0
 */
import * as Batcher from "@lawful/core/Batcher"
import { inTransaction } from "@lawful/core/Database"
import * as SubjectIds from "@lawful/core/SubjectId"
import type { SubjectId } from "@lawful/core/SubjectId"
import * as Issues from "@lawful/core/Issues"
import * as CoreText from "@lawful/core/Text"
import * as TenantIds from "@lawful/core/TenantId"
import type { TenantId } from "@lawful/core/TenantId"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { randomBytes } from "node:crypto"
import * as AuditEntry from "./AuditEntry.js"
import { Actor, AuditEvent, NamedActor } from "./AuditEvent.js"
import * as AuditStore from "./AuditStore.js"
import { AuditEventInvalid, AuditStoreError, AuditTrail } from "./AuditTrail.js"
import type { Appended } from "./AuditTrail.js"
import * as Checkpoint from "./Checkpoint.js"
import * as CheckpointPublisher from "./CheckpointPublisher.js"
import { equals } from "./internal/bytes.js"
import { check } from "./internal/eventCheck.js"
import { isObject } from "./internal/guards.js"
import * as MerkleProof from "./MerkleProof.js"
import * as MerkleTree from "./MerkleTree.js"
import { ProofBundle } from "./ProofBundle.js"

/**
 * No entry at that index in the tenant's log. An index that is not a whole number of 0 or more
 * has none, and is not looked for; one that is not a number at all (text, from a caller without
 * types) is not kept: `index` is then `NaN`, and the message quotes neither.
 *
 * @since 0.1.0
 * @category errors
 */
export class AuditEntryNotFound extends Schema.TaggedError<AuditEntryNotFound>()("AuditEntryNotFound", {
  tenantId: Schema.String,
  index: Schema.Number
}) {
  override get message(): string {
    return `No audit entry ${quoted(this.index)} in the log of tenant ${this.tenantId}`
  }
}

/**
 * A proof or root was asked for sizes the log does not have (beyond its size, or
 * `size1 > size2`), or for a size or index that is not a whole number of 0 or more, which the
 * reason names without quoting it.
 *
 * @since 0.1.0
 * @category errors
 */
export class TreeSizeInvalid extends Schema.TaggedError<TreeSizeInvalid>()("TreeSizeInvalid", {
  reason: Schema.String
}) {
  override get message(): string {
    return this.reason
  }
}

/**
 * A query no page can answer, refused before anything is read, alike on every store: a cursor
 * (`after`) that is not a whole number of 0 or more (no page returns another), a time bound that
 * is not a valid date, a range whose `to` is before its `from`, or a filter no entry can hold (an
 * action prefix with text a database cannot store, an actor that is not one, a subject that is not
 * a lower-case UUID). The reason names the field, never the value given.
 *
 * @since 0.1.0
 * @category errors
 */
export class QueryInvalid extends Schema.TaggedError<QueryInvalid>()("QueryInvalid", {
  reason: Schema.String
}) {
  override get message(): string {
    return `Audit query invalid: ${this.reason}`
  }
}

/**
 * The log is not consistent with a checkpoint issued or published earlier (it
 * was rewritten or cut), or such a checkpoint cannot be trusted: its signed
 * note does not verify, is another tenant's, or disagrees with the stored
 * row. No checkpoint is issued or handed out; investigate with `verify`.
 *
 * @since 0.1.0
 * @category errors
 */
export class CheckpointRefused extends Schema.TaggedError<CheckpointRefused>()("CheckpointRefused", {
  tenantId: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `Checkpoint refused for tenant ${this.tenantId}: ${this.reason}`
  }
}

/**
 * What a full verification of one tenant's log found.
 *
 * @since 0.1.0
 * @category models
 */
export interface VerificationReport {
  readonly tenant: TenantId
  /** The size the log's state row says; when that row cannot be read, the number of entries read. */
  readonly size: number
  readonly entriesChecked: number
  readonly checkpointsChecked: number
  readonly ok: boolean
  /** The first index whose entry, leaf hash or subtree hashes are wrong or cannot be read, or where the log stops short. */
  readonly firstBadIndex: Option.Option<number>
  /**
   * What was found, at most 20. A row that cannot be read (a state row or an entry rewritten by raw
   * SQL into something no log stores) is one of them, named by its table, entry index and columns,
   * never its values.
   */
  readonly problems: ReadonlyArray<string>
}

/**
 * A page of entries and the cursor of the next page.
 *
 * @since 0.1.0
 * @category models
 */
export interface EntryPage {
  readonly entries: ReadonlyArray<AuditEntry.AuditEntry>
  readonly next: Option.Option<number>
}

/**
 * Filters of a query; all optional, combined with AND. Entries come in index order; a filter no
 * entry can hold, a bound that is not a valid date, a reversed range or a cursor that is not a whole
 * number of 0 or more is refused (`QueryInvalid`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Query {
  /** A lower-case UUID; a de-linked subject's entries no longer name it, and are not found by it. */
  readonly subject?: SubjectId | undefined
  readonly actor?: Actor | undefined
  /** Matched literally (`consent.` takes `consent.recorded`, not `consentx.y`; `%`, `_` and `\` are no wildcards). */
  readonly actionPrefix?: string | undefined
  /** Entries at this time or later (inclusive). */
  readonly from?: Date | undefined
  /** Entries before this time (exclusive); not before `from`. */
  readonly to?: Date | undefined
  /**
   * The `next` cursor of the previous page: the index of its last entry. The next page has the
   * matching entries after it, entries appended meanwhile included. It is a position in the tenant's
   * log, not bound to the query that returned it: with other filters it gives their entries after
   * that index, and a larger one skips entries only for the caller that gives it.
   */
  readonly after?: number | undefined
  /**
   * Page size, 1 to 1000 (default 100, also for `NaN`); a size out of range is clamped, a fractional
   * one rounded down; one that is not a number is refused (`QueryInvalid`).
   */
  readonly limit?: number | undefined
}

/**
 * The key that signs checkpoints.
 *
 * @since 0.1.0
 * @category services
 */
export class AuditSigner extends Context.Tag("@lawful/audit-trail/AuditSigner")<AuditSigner, Checkpoint.CheckpointSigner>() {
  /** The signer from `LAWFUL_AUDIT_SIGNING_KEY`, its key named by `LAWFUL_AUDIT_ORIGIN` (default `lawful/audit`). */
  static readonly layerConfig = Layer.effect(
    AuditSigner,
    Effect.flatMap(
      Config.string("LAWFUL_AUDIT_ORIGIN").pipe(Config.withDefault("lawful/audit")),
      (name) => Checkpoint.signerConfig(name)
    )
  )
  /** A signer with a new random key: for tests and throw-away logs. */
  static readonly layerRandom = Layer.effect(
    AuditSigner,
    Effect.suspend(() => Checkpoint.makeSigner("lawful/audit", new Uint8Array(randomBytes(32)))).pipe(Effect.orDie)
  )
}

/**
 * The log. Every operation checks what it is given before the store is reached, alike on every
 * store, and its refusals never quote what was given (an address put in the wrong place):
 *
 * - a tenant id that is not a lower-case UUID (an upper-case one included, which PostgreSQL read as
 *   the tenant's own) is refused by appends, redactions and de-links (`AuditEventInvalid`) and
 *   queries (`QueryInvalid`), and by every other read as a log that cannot be read
 *   (`AuditStoreError`, its cause saying so): no log has that id;
 * - an event that is not an `AuditEvent` instance (a plain object of its fields, which TypeScript
 *   takes for one) is checked as `new AuditEvent` checks it (`AuditEventInvalid`), and a valid one
 *   appended; events that are not an array, or options and queries that are not objects, are refused
 *   with the operation's own error;
 * - a size or index that is not a whole number of 0 or more is refused (`TreeSizeInvalid`, or
 *   `AuditEntryNotFound` for `entry` and `proofBundle`).
 *
 * @since 0.1.0
 * @category services
 */
export class AuditLog extends Context.Tag("@lawful/audit-trail/AuditLog")<AuditLog, {
  /** Appends one event; inside an open SQL transaction, in that transaction (see the module doc). */
  readonly append: (tenant: TenantId, event: AuditEvent) => Effect.Effect<Appended, AuditEventInvalid | AuditStoreError>
  /** Appends the events in order, all or none; inside an open SQL transaction, in that transaction. */
  readonly appendAll: (
    tenant: TenantId,
    events: ReadonlyArray<AuditEvent>
  ) => Effect.Effect<ReadonlyArray<Appended>, AuditEventInvalid | AuditStoreError>
  readonly size: (tenant: TenantId) => Effect.Effect<number, AuditStoreError>
  /** The root of the tenant's tree at `size` (default: now). */
  readonly root: (tenant: TenantId, size?: number) => Effect.Effect<Uint8Array, TreeSizeInvalid | AuditStoreError>
  readonly entry: (tenant: TenantId, index: number) => Effect.Effect<AuditEntry.AuditEntry, AuditEntryNotFound | AuditStoreError>
  /** A page of the entries matching every filter given; see `Query`. */
  readonly query: (tenant: TenantId, query: Query) => Effect.Effect<EntryPage, QueryInvalid | AuditStoreError>
  readonly inclusionProof: (
    tenant: TenantId,
    index: number,
    size: number
  ) => Effect.Effect<ReadonlyArray<Uint8Array>, TreeSizeInvalid | AuditStoreError>
  readonly consistencyProof: (
    tenant: TenantId,
    size1: number,
    size2: number
  ) => Effect.Effect<ReadonlyArray<Uint8Array>, TreeSizeInvalid | AuditStoreError>
  /**
   * The latest checkpoint, signed now if the log grew since the last one. Inside an open SQL
   * transaction a new one is refused (`CheckpointRefused`): it could cover entries the
   * transaction then rolls back. The latest stored and the published checkpoint are taken from
   * their verified notes; one that does not verify, is another tenant's, or (stored) disagrees
   * with its row is refused. The stored one is read before the log's state; the published one
   * only when a checkpoint is to be signed (the latest stored returned as it is reads no publisher),
   * the state read again if it is larger, so checkpoints signed at once while others append (in
   * one process or several) are all issued; one may be smaller than another signed meanwhile, and
   * the latest stored and published stays the largest.
   */
  readonly checkpoint: (
    tenant: TenantId
  ) => Effect.Effect<AuditStore.StoredCheckpoint, CheckpointRefused | AuditStoreError | CheckpointPublisher.CheckpointPublishError>
  /**
   * Signs a checkpoint for every tenant whose log grew; returns how many were signed. Each tenant
   * the store lists (a state row, entries, or a checkpoint of a non-empty tree) or the publisher
   * lists (`CheckpointPublisher.tenants`; a listing that fails, or a publisher without one, is warned of) goes through the
   * checks of `checkpoint` (its latest stored checkpoint verified by its note); a tenant refused or
   * failing (one whose state row was deleted: its entries lie beyond the empty log it reads as) is
   * logged as a warning and counted out, and the others go on.
   */
  readonly checkpointAll: Effect.Effect<number, AuditStoreError>
  /**
   * The entry with its inclusion proof and a signed checkpoint: verifiable offline with `ProofBundle.verify`,
   * and its entry (index and tenant) with `ProofBundle.verifyEntry`.
   * The checkpoint is the first stored one covering the entry, refused (`CheckpointRefused`) if its note
   * does not verify, is another tenant's, or disagrees with its row; or a new one.
   */
  readonly proofBundle: (
    tenant: TenantId,
    index: number
  ) => Effect.Effect<
    ProofBundle,
    AuditEntryNotFound | CheckpointRefused | AuditStoreError | CheckpointPublisher.CheckpointPublishError
  >
  /**
   * Removes the details of entries older than `before`, but those of `excludeSubjects` (held
   * subjects), at most `limit` (a whole number, 0 or more) of them; the leaf hashes stay, and the
   * redaction is itself an entry, appended as one with the removal (on SQL, in its transaction): if
   * that entry cannot be appended, nothing is redacted. Its details are counts and bounds only
   * (`count`, `firstIndex`, `lastIndex`, `before`), never a subject; a redaction that finds nothing
   * appends nothing. An actor the entry cannot name, a limit that is not a whole number, a `before`
   * that is not a valid date, an action prefix with text a database cannot store or an excluded
   * subject that is not a lower-case UUID is refused (`AuditEventInvalid`) before anything is removed.
   */
  readonly redactDetails: (
    tenant: TenantId,
    options: {
      readonly before: Date
      readonly actionPrefix?: string | undefined
      readonly excludeSubjects?: ReadonlySet<SubjectId> | undefined
      readonly limit: number
      readonly actor: Actor
    }
  ) => Effect.Effect<ReadonlyArray<number>, AuditEventInvalid | AuditStoreError>
  /**
   * Removes the link between the subject and its entries (after erasure) in the tenant's log only;
   * the log stays verifiable, and the subject's queries find none of them. The de-link is itself an
   * entry (its details the count, `{ entries }`, never the subject), appended as one with the
   * removal, as in `redactDetails`. A subject that is not a lower-case UUID, or an actor the entry
   * cannot name, is refused (`AuditEventInvalid`) before anything is removed.
   *
   * De-links and the tenant's appends take turns: every entry before the de-link's own loses the
   * link, an append in flight when the de-link starts (on SQL, one whose transaction holds the log's
   * state row) included, which the de-link waits for. An entry appended after the de-link's (an
   * append that came meanwhile waits for it) names the subject if its event does, and the subject's
   * queries find it, as they find a receipt of the erasure that names the subject: de-link again to
   * remove those links.
   */
  readonly delinkSubject: (
    tenant: TenantId,
    subject: SubjectId,
    actor: Actor
  ) => Effect.Effect<number, AuditEventInvalid | AuditStoreError>
  /**
   * Recomputes the tenant's whole tree from its entries and checks it against stored hashes and every
   * checkpoint. A row that cannot be read (its state, or an entry: `AuditStore.StoredRowUnreadable`)
   * is reported, with the entry's index as the first bad one; only a store that fails (a connection
   * lost) or a publisher that fails fails it.
   */
  readonly verify: (tenant: TenantId) => Effect.Effect<VerificationReport, AuditStoreError | CheckpointPublisher.CheckpointPublishError>
  /**
   * `verify` of every tenant the store lists (`AuditStore.tenants`: a state row, entries, or a
   * checkpoint of a non-empty tree), so a tenant whose state row was deleted is reported too, and of
   * every tenant the publisher lists (`CheckpointPublisher.tenants`), so a tenant whose every row was
   * deleted is reported as a log that stops short of its published checkpoint. A publisher that lists
   * none (`Effect.succeed([])`) leaves the store's tenants alone verified; one whose listing fails,
   * or that has no `tenants` (a wrapper that dropped it), fails it (`CheckpointPublishError`,
   * operation `list`). In order of tenant id.
   */
  readonly verifyAll: Effect.Effect<ReadonlyArray<VerificationReport>, AuditStoreError | CheckpointPublisher.CheckpointPublishError>
  /** The verifier key string that checks this log's checkpoints and bundles. */
  readonly verifierKey: string
  /** The origin line of a tenant's checkpoints. */
  readonly origin: (tenant: TenantId) => string
}>() {}

/**
 * @since 0.1.0
 * @category models
 */
export interface AuditLogOptions {
  /** Most events appended in one transaction (default 1000). */
  readonly maxBatch?: number
}

/** Levels whose complete subtree hashes are stored besides the leaves. */
const isStoredLevel = (level: number) => level > 0 && level % 4 === 0

const nodeKey = (level: number, index: number) => `${level}/${index}`

interface Pending {
  readonly tenant: TenantId
  readonly events: ReadonlyArray<AuditEvent>
  readonly time: Date
}

// The actor of the entry a redaction or de-link records, checked before anything is removed: that
// entry names no subject, so the subject cannot be its actor.
const isNamedActor = Schema.is(NamedActor)
const checkActor = (actor: Actor): Effect.Effect<void, AuditEventInvalid> =>
  isNamedActor(actor)
    ? Effect.void
    : Effect.fail(
      new AuditEventInvalid({
        reason:
          "the actor of a redaction or de-link is the system, an API key or staff, with an opaque id of 1 to 200 characters (no email address)"
      })
    )

const isValidDate = (date: unknown): date is Date => date instanceof Date && !Number.isNaN(date.getTime())
const isStorableText = (text: unknown): text is string => typeof text === "string" && CoreText.isStorable(text)
const isActor = Schema.is(Actor)
const isIndex = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0
// A number as a message may quote it: a whole number of 0 or more; anything else (text given where
// a number belongs, an address among it) is told by its kind, never quoted.
const quoted = (value: unknown): string => isIndex(value) ? String(value) : "given, not a whole number of 0 or more,"
const numberOrNaN = (value: unknown): number => typeof value === "number" ? value : Number.NaN

// A tenant id not of a tenant id's form (a lower-case UUID) is refused before the store is reached:
// in memory it was a log of its own, in clear in every entry; on SQL it failed as a store error
// quoting it, or (in upper case) was read as the tenant's own id and appended to its log.
const tenantForm = "the tenant id is a lower-case UUID"
// Reads refuse it as a log that cannot be read: no log has that id.
const tenantUnreadable = (operation: string) =>
  new AuditStoreError({ operation, cause: new Error(`${tenantForm}: no log has the id given`) })

// The bounds of a redaction, checked before anything is removed: a store takes only a whole number
// of entries, a valid time, text it can store and subject ids (SQL refused the rest as a store
// failure, where memory matched nothing).
const checkRedaction = (
  { actionPrefix, before, excludeSubjects, limit }: {
    readonly before: Date
    readonly actionPrefix?: string | undefined
    readonly excludeSubjects?: ReadonlySet<SubjectId> | undefined
    readonly limit: number
  }
): Effect.Effect<void, AuditEventInvalid> =>
  !Number.isSafeInteger(limit) || limit < 0
    ? Effect.fail(new AuditEventInvalid({ reason: "the limit of a redaction is a whole number of entries, 0 or more" }))
    : !isValidDate(before)
    ? Effect.fail(new AuditEventInvalid({ reason: "the time before which details are redacted is a valid date" }))
    : actionPrefix !== undefined && !isStorableText(actionPrefix)
    ? Effect.fail(new AuditEventInvalid({ reason: "the action prefix of a redaction is text without NUL characters or unpaired surrogates" }))
    : excludeSubjects !== undefined && ![...excludeSubjects].every(SubjectIds.is)
    ? Effect.fail(new AuditEventInvalid({ reason: "the subjects a redaction excludes are lower-case UUIDs" }))
    : Effect.void

// A query no page can answer, refused before anything is read: SQL refused these as a store failure
// (a `bigint` or `uuid` it cannot parse, NUL in text, an invalid date) where memory answered
// another page or none. The reasons name the field, never its value.
const checkQuery = (query: Query): string | undefined =>
  !isObject(query)
    ? "the query is an object of filters ({} for none)"
    : query.limit !== undefined && typeof query.limit !== "number"
    ? "the page size (limit) is a number"
    : query.after !== undefined && (!Number.isSafeInteger(query.after) || query.after < 0)
    ? "the cursor (after) is the next of a page: a whole number, 0 or more"
    : query.from !== undefined && !isValidDate(query.from)
    ? "the start of the time range (from) is a valid date"
    : query.to !== undefined && !isValidDate(query.to)
    ? "the end of the time range (to) is a valid date"
    : query.from !== undefined && query.to !== undefined && query.to.getTime() < query.from.getTime()
    ? "the time range ends (to) before it begins (from)"
    : query.actionPrefix !== undefined && !isStorableText(query.actionPrefix)
    ? "the action prefix is text without NUL characters or unpaired surrogates"
    : query.actor !== undefined && !isActor(query.actor)
    ? "the actor is the system, an API key or staff with an opaque id of 1 to 200 characters, or the subject"
    : query.subject !== undefined && !SubjectIds.is(query.subject)
    ? "the subject is a lower-case UUID"
    : undefined

// The events as `AuditEvent`s, or why they are not.
const checkEvents = (events: unknown): Either.Either<ReadonlyArray<AuditEvent>, string> => {
  if (!Array.isArray(events)) return Either.left("the events are an array of AuditEvent")
  const checked: Array<AuditEvent> = []
  for (const [i, event] of events.entries()) {
    const result = check(event)
    if (Either.isLeft(result)) return Either.left(events.length === 1 ? result.left : `event ${i}: ${result.left}`)
    checked.push(result.right)
  }
  return Either.right(checked)
}

/**
 * Builds the log over the `AuditStore`, `AuditSigner` and `CheckpointPublisher`
 * in context; its writer fibre lives in the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: AuditLogOptions = {}) =>
  Effect.gen(function*() {
    const store = yield* AuditStore.AuditStore
    const signer = yield* AuditSigner
    const publisher = yield* CheckpointPublisher.CheckpointPublisher
    const maxBatch = options.maxBatch ?? 1000
    const origin = (tenant: TenantId) => `${signer.name}/${tenant}`

    // ---- appends -------------------------------------------------------------

    // Appends on a working copy of the frontier; only the nodes of stored levels are kept.
    const appendNow = (tenant: TenantId, pending: ReadonlyArray<Omit<Pending, "tenant" | "done">>) =>
      store.append(tenant, (state) => {
        const hashes = state.frontier.hashes.slice()
        let size = state.frontier.size
        const entries: Array<AuditEntry.AuditEntry> = []
        const nodes: Array<MerkleTree.NodeHash> = []
        const results: Array<Array<Appended>> = []
        for (const item of pending) {
          const appended: Array<Appended> = []
          for (const event of item.events) {
            const entry = AuditEntry.make(tenant, size, item.time, event)
            let hash = entry.leafHash
            let level = 0
            for (let index = size; index % 2 === 1; index = (index - 1) / 2) {
              hash = MerkleTree.hashChildren(hashes.pop()!, hash)
              level++
              if (isStoredLevel(level)) nodes.push({ level, index: (index - 1) / 2, hash })
            }
            hashes.push(hash)
            size++
            entries.push(entry)
            appended.push({ index: entry.index, time: entry.time, leafHash: entry.leafHash })
          }
          results.push(appended)
        }
        const frontier = MerkleTree.makeFrontier(size, hashes)
        return { entries, nodes, state: { frontier, root: MerkleTree.frontierRoot(frontier) }, result: results }
      })

    // Concurrent appends, grouped per tenant by core's Batcher: everything waiting for a tenant,
    // up to `maxBatch` events, in one transaction, one batch of a tenant at a time. (Two in flight,
    // the second built on the state the first would leave, were measured: the second's statement
    // often reached the server before the first had locked the state row, failed its condition and
    // was built again, and throughput fell by half.)
    const submit = yield* Batcher.make({
      key: (pending: Pending) => pending.tenant,
      maxBatch,
      weight: (pending: Pending) => pending.events.length,
      concurrency: 1,
      run: (batch: ReadonlyArray<Pending>) => Effect.zipRight(afterLone(batch[0]!.tenant), appendNow(batch[0]!.tenant, batch))
    })
    // The tenant whose lone append (below) is being written, and the batches waiting for it: a
    // batch built meanwhile would be built on the state the lone append is replacing, refused,
    // and built again (on PostgreSQL, a wasted statement and a read of the state).
    const loneWrites = new Map<TenantId, Array<() => void>>()
    const afterLone = (tenant: TenantId) =>
      Effect.async<void>((resume) => {
        const waiting = loneWrites.get(tenant)
        if (waiting === undefined) resume(Effect.void)
        else waiting.push(() => resume(Effect.void))
      })
    const writeAlone = (pending: Pending) =>
      Effect.suspend(() => {
        loneWrites.set(pending.tenant, [])
        return appendNow(pending.tenant, [pending]).pipe(
          Effect.ensuring(Effect.sync(() => {
            const waiting = loneWrites.get(pending.tenant)
            loneWrites.delete(pending.tenant)
            waiting?.forEach((resume) => resume())
          })),
          Effect.uninterruptible
        )
      })
    // Appends asked for and not yet returned to their caller.
    let unacknowledged = 0

    // A caller alone (nothing waiting, nothing being written) writes its events itself instead of
    // handing them to the batcher's fibre; whoever comes meanwhile is grouped after it.
    // It first yields once, so that callers ready in the same tick (fibres resumed together, or
    // started together) submit first and it joins their group instead of writing alone.
    // Like a grouped append, the write completes even if the caller is interrupted.
    const appendAlone = (pending: Pending) =>
      Effect.flatMap(Effect.yieldNow(), () =>
        unacknowledged === 1
          ? Effect.map(writeAlone(pending), (results) => results[0]!)
          : submit(pending))

    // The entry that records a redaction or de-link, appended by the caller itself (not through the
    // writer fibre, whose write would go on if the caller were interrupted): the store runs it in the
    // removal's transaction, or undoes the removal if it fails.
    const record = (tenant: TenantId, event: () => AuditEvent): Effect.Effect<void, AuditStoreError> =>
      Effect.flatMap(Clock.currentTimeMillis, (millis) =>
        Effect.asVoid(appendNow(tenant, [{ events: [event()], time: new Date(millis) }])))

    const appendAll = (
      tenant: TenantId,
      given: ReadonlyArray<AuditEvent>
    ): Effect.Effect<ReadonlyArray<Appended>, AuditEventInvalid | AuditStoreError> =>
      Effect.suspend((): Effect.Effect<ReadonlyArray<Appended>, AuditEventInvalid | AuditStoreError> => {
        if (!TenantIds.is(tenant)) return Effect.fail(new AuditEventInvalid({ reason: tenantForm }))
        const checked = checkEvents(given)
        if (Either.isLeft(checked)) return Effect.fail(new AuditEventInvalid({ reason: checked.left }))
        const events = checked.right
        if (events.length === 0) return Effect.succeed([])
        return Effect.flatMap(Effect.zip(Clock.currentTimeMillis, inTransaction), ([millis, joined]) => {
          const time = new Date(millis)
          // Inside a transaction: on its connection, now, so that it commits or rolls back with it.
          if (joined) return Effect.map(appendNow(tenant, [{ events, time }]), (results) => results[0]!)
          unacknowledged++
          const pending: Pending = { tenant, events, time }
          return Effect.ensuring(
            unacknowledged === 1 ? appendAlone(pending) : submit(pending),
            Effect.sync(() => {
              unacknowledged--
            })
          )
        })
      })

    // ---- reading hashes ------------------------------------------------------

    // The hashes of complete nodes, each from the stored hash at its level or
    // rebuilt from the stored hashes (or leaves) at the stored level below it.
    const nodeHashes = (tenant: TenantId, nodes: ReadonlyArray<MerkleTree.NodeId>) =>
      Effect.gen(function*() {
        const leaves = new Set<number>()
        const stored = new Map<string, MerkleTree.NodeId>()
        const plans = nodes.map((node) => {
          const base = node.level - (node.level % 4)
          const width = 2 ** (node.level - base)
          const children = Array.from({ length: width }, (_, i) => node.index * width + i)
          for (const index of children) {
            if (base === 0) leaves.add(index)
            else stored.set(nodeKey(base, index), { level: base, index })
          }
          return { base, children }
        })
        const leafHashes = yield* store.leafHashes(tenant, [...leaves])
        const storedHashes = yield* store.nodeHashes(tenant, [...stored.values()])
        return plans.map(({ base, children }, position) => {
          const hashes = children.map((index) => base === 0 ? leafHashes.get(index) : storedHashes.get(nodeKey(base, index)))
          if (hashes.some((hash) => hash === undefined)) {
            const node = nodes[position]!
            throw new Error(`stored hashes of node ${node.level}/${node.index} are missing`)
          }
          return MerkleTree.rootOf(hashes as Array<Uint8Array>)
        })
      }).pipe(
        Effect.catchAllDefect((cause) => Effect.fail(new AuditStoreError({ operation: "read hashes", cause })))
      )

    const sizeOf = (tenant: TenantId) => Effect.map(store.state(tenant), (state) => state.frontier.size)

    const checkSize = (tenant: TenantId, size: number) =>
      Effect.flatMap(sizeOf(tenant), (current) =>
        Number.isSafeInteger(size) && size >= 0 && size <= current
          ? Effect.void
          : Effect.fail(new TreeSizeInvalid({ reason: `size ${quoted(size)} is not between 0 and the log's size ${current}` })))

    const rootAt = (tenant: TenantId, size: number) =>
      Effect.map(nodeHashes(tenant, MerkleTree.frontierNodes(size)), (hashes) =>
        MerkleTree.frontierRoot(MerkleTree.makeFrontier(size, hashes)))

    const inclusionProof = (tenant: TenantId, index: number, size: number) =>
      Effect.gen(function*() {
        yield* checkSize(tenant, size)
        if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
          return yield* new TreeSizeInvalid({ reason: `index ${quoted(index)} is not below size ${size}` })
        }
        const plan = MerkleTree.inclusionProofNodes(index, size)
        return MerkleTree.proofFromNodes(plan, yield* nodeHashes(tenant, plan.nodes))
      }).pipe(Effect.withSpan("AuditLog.inclusionProof"))

    const consistencyProof = (tenant: TenantId, size1: number, size2: number) =>
      Effect.gen(function*() {
        yield* checkSize(tenant, size2)
        if (!Number.isSafeInteger(size1) || size1 < 0 || size1 > size2) {
          return yield* new TreeSizeInvalid({ reason: `size1 ${quoted(size1)} is not between 0 and size2 ${size2}` })
        }
        const plan = MerkleTree.consistencyProofNodes(size1, size2)
        return MerkleTree.proofFromNodes(plan, yield* nodeHashes(tenant, plan.nodes))
      }).pipe(Effect.withSpan("AuditLog.consistencyProof"))

    // ---- checkpoints ---------------------------------------------------------

    const isConsistent = (tenant: TenantId, earlier: { size: number; root: Uint8Array }, size: number, root: Uint8Array) =>
      earlier.size > size
        ? Effect.succeed(false)
        : consistencyProof(tenant, earlier.size, size).pipe(
          Effect.flatMap((proof) =>
            MerkleProof.verifyConsistency({ size1: earlier.size, size2: size, root1: earlier.root, root2: root, proof })
          ),
          Effect.as(true),
          Effect.catchTags({ InvalidProof: () => Effect.succeed(false), TreeSizeInvalid: () => Effect.succeed(false) })
        )

    // The checkpoint a note signs for the tenant's log, or what is wrong with it (`what` names the
    // note): not signed by the log's key, or signed for another tenant's log, which one key signs too.
    const signedFor = (
      tenant: TenantId,
      note: string,
      what: string
    ): Effect.Effect<Either.Either<Checkpoint.Checkpoint, string>> =>
      Checkpoint.verify(note, signer.verifierKey, { origin: origin(tenant) }).pipe(
        Effect.map(Either.right),
        Effect.catchAll(() =>
          Effect.map(Effect.either(Checkpoint.verify(note, signer.verifierKey)), (anyLog) =>
            Either.left(Either.isRight(anyLog) ? `${what} is signed for another log` : `${what} does not verify`))
        )
      )

    // A stored checkpoint as its signed note states it. Its size and root columns index the note;
    // whoever can write the database can rewrite them with the log, so they are trusted only when
    // they agree with the note.
    const storedSigned = (tenant: TenantId, stored: AuditStore.StoredCheckpoint) => {
      const what = `the stored checkpoint of size ${stored.size}`
      return Effect.map(
        signedFor(tenant, stored.note, what),
        Either.flatMap((checkpoint): Either.Either<AuditStore.StoredCheckpoint, string> =>
          checkpoint.treeSize === stored.size && equals(checkpoint.rootHash, stored.root)
            ? Either.right({ size: checkpoint.treeSize, root: checkpoint.rootHash, note: stored.note })
            : Either.left(`${what} differs from its signed note`))
      )
    }

    // The stored checkpoint, if any, checked against its note; refused if it does not hold.
    const trusted = (tenant: TenantId, stored: Option.Option<AuditStore.StoredCheckpoint>) =>
      Option.isNone(stored)
        ? Effect.succeed(undefined)
        : Effect.flatMap(storedSigned(tenant, stored.value), Either.match({
          onLeft: (reason) => Effect.fail(new CheckpointRefused({ tenantId: tenant, reason })),
          onRight: (checkpoint) => Effect.succeed(checkpoint)
        }))

    // The latest checkpoint, and whether it was signed now.
    // The stored checkpoint is read before the state, and the published one (read only to sign) is
    // read after it: an honest log only grows, so a state read after a checkpoint extends it even
    // when others append and sign meanwhile (read the other way round, a larger checkpoint signed in
    // between would look like a rewritten log). A published checkpoint larger than the state read
    // was signed meanwhile, from a state at least its size: the state is read again, and then
    // extends it. What is signed may be smaller than a checkpoint signed meanwhile: stored and
    // published alike, it takes its place below it, and the latest stays the largest.
    const issue = (tenant: TenantId) =>
      Effect.gen(function*() {
        const latest = yield* store.latestCheckpoint(tenant)
        const first = yield* store.state(tenant)
        const last = yield* trusted(tenant, latest)
        if (last && last.size === first.frontier.size && equals(last.root, first.root)) {
          return { checkpoint: last, signed: false }
        }
        const refuse = (reason: string) => new CheckpointRefused({ tenantId: tenant, reason })
        if (yield* inTransaction) return yield* refuse("inside a transaction, which may yet roll back what it would cover")
        const outside = yield* publisher.latest(tenant)
        let published: Checkpoint.Checkpoint | undefined
        if (Option.isSome(outside)) {
          const signed = yield* signedFor(tenant, outside.value, "the published checkpoint")
          if (Either.isLeft(signed)) return yield* refuse(signed.left)
          published = signed.right
        }
        const state = published && published.treeSize > first.frontier.size ? yield* store.state(tenant) : first
        const size = state.frontier.size
        const root = state.root
        if (!equals(MerkleTree.frontierRoot(state.frontier), root)) return yield* refuse("the stored root does not match the frontier")
        if (last && !(yield* isConsistent(tenant, last, size, root))) {
          return yield* refuse(`the log does not extend the checkpoint of size ${last.size}`)
        }
        if (published && !(yield* isConsistent(tenant, { size: published.treeSize, root: published.rootHash }, size, root))) {
          return yield* refuse(`the log does not extend the published checkpoint of size ${published.treeSize}`)
        }
        // An entry stored at the log's size belongs to no log the state knows: an entry added behind
        // its back, or a state row rewritten or deleted (read as an empty log). Unless the log has
        // grown to it since, nothing is signed: a checkpoint of the state would leave it out.
        const beyond = yield* store.leafHashes(tenant, [size])
        if (beyond.size > 0 && (yield* store.state(tenant)).frontier.size <= size) {
          return yield* refuse(`an entry is stored beyond the log's size ${size}`)
        }
        const note = Checkpoint.sign(
          new Checkpoint.Checkpoint({ origin: origin(tenant), treeSize: size, rootHash: root }),
          signer
        )
        const stored = { size, root, note }
        // Published first: a checkpoint stored is returned as it is from then on, so one whose
        // publication failed would be handed out and never published.
        yield* publisher.publish(tenant, { size, note })
        yield* store.saveCheckpoint(tenant, stored)
        return { checkpoint: stored, signed: true }
      })

    const checkpoint = (tenant: TenantId) =>
      Effect.map(issue(tenant), (issued) => issued.checkpoint).pipe(Effect.withSpan("AuditLog.checkpoint"))

    const proofBundle = (tenant: TenantId, index: number) =>
      Effect.gen(function*() {
        const entry = isIndex(index) ? yield* store.entry(tenant, index) : Option.none()
        if (Option.isNone(entry)) return yield* new AuditEntryNotFound({ tenantId: tenant, index: numberOrNaN(index) })
        const covering = (yield* trusted(tenant, yield* store.checkpointCovering(tenant, index))) ??
          (yield* checkpoint(tenant))
        const proof = yield* inclusionProof(tenant, index, covering.size).pipe(
          Effect.catchTag("TreeSizeInvalid", (cause) => Effect.fail(new AuditStoreError({ operation: "proofBundle", cause })))
        )
        return new ProofBundle({
          version: 1,
          origin: origin(tenant),
          entry: entry.value.leaf,
          leafIndex: index,
          treeSize: covering.size,
          inclusionProof: proof,
          checkpoint: covering.note
        })
      }).pipe(Effect.withSpan("AuditLog.proofBundle"))

    // ---- verification --------------------------------------------------------

    const verifyPage = 1000
    const checkpointPage = 1000

    // A read that fails on a row that cannot be read (`StoredRowUnreadable`, rewritten by raw SQL)
    // gives that row, to be reported; a store that fails (a connection lost) fails as before.
    const orUnreadable = <A>(
      read: Effect.Effect<A, AuditStoreError>
    ): Effect.Effect<Either.Either<A, AuditStore.StoredRowUnreadable>, AuditStoreError> =>
      Effect.catchIf(
        Effect.map(read, (value): Either.Either<A, AuditStore.StoredRowUnreadable> => Either.right(value)),
        (error) => Option.isSome(AuditStore.unreadableRow(error)),
        (error) => Effect.succeed(Either.left(Option.getOrThrow(AuditStore.unreadableRow(error))))
      )

    const verify = (tenant: TenantId) =>
      Effect.gen(function*() {
        const problems: Array<string> = []
        let firstBad: number | undefined
        const bad = (index: number | undefined, problem: string) => {
          if (index !== undefined && (firstBad === undefined || index < firstBad)) firstBad = index
          if (problems.length < 20) problems.push(problem)
        }
        // A state row that cannot be read is a finding: the entries are still checked, to their end.
        const readState = yield* orUnreadable(store.state(tenant))
        if (Either.isLeft(readState)) bad(undefined, readState.left.reason)
        const state = Either.getOrUndefined(readState)
        const outside = yield* publisher.latest(tenant)
        // A page of entries from `from`: an unreadable row ends it, the rows before it read alone.
        const scanPage = (
          from: number,
          limit: number
        ): Effect.Effect<
          { readonly entries: ReadonlyArray<AuditEntry.AuditEntry>; readonly unreadable?: AuditStore.StoredRowUnreadable },
          AuditStoreError
        > =>
          Effect.flatMap(orUnreadable(store.scan(tenant, from, limit)), (page) => {
            if (Either.isRight(page)) return Effect.succeed({ entries: page.right })
            const at = page.left.index
            if (at === undefined || at <= from || at >= from + limit) return Effect.succeed({ entries: [], unreadable: page.left })
            return Effect.map(scanPage(from, at - from), (before) => ({ entries: before.entries, unreadable: page.left }))
          })

        // Roots the log must have on the way: the published checkpoint's and the stored ones',
        // each once its signed note is checked.
        interface Expected {
          readonly size: number
          readonly root: Uint8Array
          readonly what: string
        }
        let checkpointsChecked = 0
        const published: Array<Expected> = []
        if (Option.isSome(outside)) {
          const checkpoint = yield* signedFor(tenant, outside.value, "the published checkpoint")
          if (Either.isLeft(checkpoint)) {
            bad(undefined, checkpoint.left)
          } else {
            const { rootHash, treeSize } = checkpoint.right
            published.push({ size: treeSize, root: rootHash, what: `published checkpoint of size ${treeSize}` })
            checkpointsChecked++
          }
        }
        // The stored checkpoints, a page at a time as the scan reaches them (`stored` from `next`
        // on): a log signed on a schedule has one a minute, and verification holds a page of them.
        let stored: Array<Expected> = []
        let next = 0
        let storedFrom = 0
        let storedLeft = true
        const readStored = Effect.gen(function*() {
          const page = yield* store.checkpoints(tenant, { from: storedFrom, limit: checkpointPage })
          storedLeft = page.length === checkpointPage
          stored = stored.slice(next)
          next = 0
          for (const checkpoint of page) {
            storedFrom = checkpoint.size + 1
            const signed = yield* storedSigned(tenant, checkpoint)
            if (Either.isLeft(signed)) {
              bad(undefined, signed.left)
              continue
            }
            stored.push({ size: signed.right.size, root: signed.right.root, what: `stored checkpoint of size ${signed.right.size}` })
            checkpointsChecked++
          }
        })
        // Reads the stored checkpoints up to `size`.
        const readStoredUpTo = (size: number) =>
          Effect.whileLoop({ while: () => storedLeft && storedFrom <= size, body: () => readStored, step: () => {} })
        const checkRoot = (frontier: MerkleTree.Frontier, expected: Expected) => {
          if (expected.size === frontier.size && !equals(MerkleTree.frontierRoot(frontier), expected.root)) {
            bad(frontier.size - 1, `the log's root at size ${frontier.size} differs from the ${expected.what}`)
          }
        }
        const checkRootsAt = (frontier: MerkleTree.Frontier) => {
          for (; next < stored.length && stored[next]!.size <= frontier.size; next++) checkRoot(frontier, stored[next]!)
          for (const expected of published) checkRoot(frontier, expected)
        }
        yield* readStoredUpTo(0)
        checkRootsAt(MerkleTree.emptyFrontier)

        // The log as of `state`: entries appended meanwhile are the next verification's. Without
        // a readable state, every entry stored.
        const size = state?.frontier.size ?? Number.MAX_SAFE_INTEGER
        let frontier = MerkleTree.emptyFrontier
        let position = 0
        while (position < size) {
          const { entries: page, unreadable } = yield* scanPage(position, Math.min(verifyPage, size - position))
          if (page.length === 0 && unreadable === undefined) break
          yield* readStoredUpTo(position + page.length)
          const computed: Array<MerkleTree.NodeHash> = []
          for (const entry of page) {
            if (entry.index !== position) {
              bad(position, entry.index > position ? `entry ${position} is missing` : `entry ${entry.index} is duplicated`)
              break
            }
            const problem = AuditEntry.check(entry, { tenant, index: position })
            if (Option.isSome(problem)) bad(position, `entry ${position}: ${problem.value}`)
            const next = MerkleTree.append(frontier, MerkleTree.hashLeaf(entry.leaf))
            frontier = next.frontier
            for (const node of next.nodes) if (isStoredLevel(node.level)) computed.push(node)
            position++
            checkRootsAt(frontier)
          }
          if (unreadable !== undefined && firstBad === undefined) {
            const at = unreadable.index ?? position
            bad(at, at === position ? `entry ${at} cannot be read: ${unreadable.reason}` : `entry ${position} is missing`)
          }
          if (firstBad !== undefined) break
          // Compare the subtree hashes this page completed with the stored ones.
          const stored = yield* store.nodeHashes(tenant, computed)
          for (const node of computed) {
            const hash = stored.get(nodeKey(node.level, node.index))
            if (hash === undefined || !equals(hash, node.hash)) {
              bad(MerkleTree.coverage(node).begin, `stored hash of subtree ${node.level}/${node.index} is wrong or missing`)
            }
          }
          if (firstBad !== undefined) break
        }
        const count = position
        if (firstBad === undefined && state !== undefined) {
          if (count !== size) {
            bad(count, `the log's size is ${size} but ${count} entries are stored`)
          } else if (
            !equals(MerkleTree.frontierRoot(frontier), state.root) ||
            frontier.hashes.length !== state.frontier.hashes.length ||
            frontier.hashes.some((hash, i) => !equals(hash, state.frontier.hashes[i]!))
          ) {
            bad(count > 0 ? count - 1 : 0, "the stored state (frontier or root) differs from the entries")
          }
          // Entries and checkpoints past the size read first are the log's own only if it has grown to
          // them since (each is written after the state that covers it): otherwise an entry was
          // added behind the log's back, or the log lost entries a checkpoint covers.
          // (An unreadable row there is an entry too; an unreadable state has not grown.)
          const beyond = yield* Effect.map(orUnreadable(store.scan(tenant, count, 1)), Either.getOrElse((): ReadonlyArray<unknown> => [undefined]))
          yield* readStoredUpTo(count + 1)
          const later = [...published, ...stored.slice(next)].filter((expected) => expected.size > count)
          const grown = beyond.length > 0 || later.length > 0
            ? Either.match(yield* orUnreadable(store.state(tenant)), { onLeft: () => count, onRight: (now) => now.frontier.size })
            : count
          if (beyond.length > 0 && grown <= count) bad(count, `an entry is stored beyond the log's size ${count}`)
          for (const expected of later) {
            if (expected.size > grown) bad(count, `the log has ${grown} entries, fewer than the ${expected.what}`)
          }
        } else if (firstBad === undefined) {
          // No state to hold the entries to: the checkpoints still say how many there must be.
          const fewer = (expected: Expected) => {
            if (expected.size > count) bad(count, `the log has ${count} entries, fewer than the ${expected.what}`)
          }
          published.forEach(fewer)
          for (;;) {
            for (; next < stored.length; next++) fewer(stored[next]!)
            if (!storedLeft) break
            yield* readStored
          }
        }
        return {
          tenant,
          size: state?.frontier.size ?? count,
          entriesChecked: count,
          checkpointsChecked,
          ok: problems.length === 0 && firstBad === undefined,
          firstBadIndex: Option.fromNullable(firstBad),
          problems
        } satisfies VerificationReport
      }).pipe(Effect.withSpan("AuditLog.verify"))

    // Every tenant the store lists and the publisher lists, once each, in order: a tenant whose every
    // row was deleted is in the publisher's list only. A publisher without `tenants` (a wrapper, cast
    // or untyped, that dropped it) is a listing that fails, not an empty list: that would leave
    // such tenants out of `verifyAll` unseen.
    const publishedTenants: Effect.Effect<ReadonlyArray<TenantId>, CheckpointPublisher.CheckpointPublishError> =
      (publisher.tenants as typeof publisher.tenants | undefined) ??
        Effect.fail(
          new CheckpointPublisher.CheckpointPublishError({
            operation: "list",
            cause: new Error("the checkpoint publisher has no tenants: a publisher that wraps another passes its tenants on")
          })
        )
    const knownTenants = <E>(published: Effect.Effect<ReadonlyArray<TenantId>, E>) =>
      Effect.map(Effect.zip(store.tenants, published), ([stored, listed]) => [...new Set([...stored, ...listed])].sort())

    // A redaction, its options checked.
    const redact = (
      tenant: TenantId,
      { actionPrefix, actor, before, excludeSubjects, limit }: Parameters<Context.Tag.Service<typeof AuditLog>["redactDetails"]>[1]
    ) =>
      store.redactDetails(tenant, { before, actionPrefix, excludeSubjects, limit }, (redacted) =>
        redacted.length === 0 ? Effect.void : record(tenant, () =>
          new AuditEvent({
            actor,
            action: "audit.details.redacted",
            purpose: "retention",
            details: {
              count: redacted.length,
              firstIndex: redacted[0]!,
              lastIndex: redacted[redacted.length - 1]!,
              before: before.toISOString()
            }
          })))

    // A read of the tenant's log, refused as one that cannot be read if the id is not a tenant's.
    const reading = <A, E>(tenant: TenantId, operation: string, read: () => Effect.Effect<A, E>) =>
      TenantIds.is(tenant) ? Effect.suspend(read) : Effect.fail(tenantUnreadable(operation))

    const service: Context.Tag.Service<typeof AuditLog> = {
      append: (tenant, event) => Effect.map(appendAll(tenant, [event]), (appended) => appended[0]!),
      appendAll,
      size: (tenant) => reading(tenant, "size", () => sizeOf(tenant)),
      root: (tenant, size) =>
        reading(tenant, "root", () =>
          size === undefined
            ? Effect.map(store.state(tenant), (state) => state.root)
            : Effect.zipRight(checkSize(tenant, size), Effect.suspend(() => rootAt(tenant, size)))),
      entry: (tenant, index) =>
        reading(tenant, "entry", () =>
          Effect.flatMap(isIndex(index) ? store.entry(tenant, index) : Effect.succeedNone, Option.match({
            onNone: () => Effect.fail(new AuditEntryNotFound({ tenantId: tenant, index: numberOrNaN(index) })),
            onSome: Effect.succeed
          }))),
      query: (tenant, query) =>
        Effect.suspend((): Effect.Effect<EntryPage, QueryInvalid | AuditStoreError> => {
          const invalid = !TenantIds.is(tenant) ? tenantForm : checkQuery(query)
          if (invalid !== undefined) return Effect.fail(new QueryInvalid({ reason: invalid }))
          // A whole number of entries: a fractional page is refused by SQL, and in memory ends the pages early.
          const requested = query.limit === undefined || Number.isNaN(query.limit) ? 100 : query.limit
          const limit = Math.max(1, Math.min(1000, Math.floor(requested)))
          return Effect.map(store.entries(tenant, { ...query, limit }), (entries) => ({
            entries,
            next: entries.length === limit ? Option.some(entries[entries.length - 1]!.index) : Option.none()
          }))
        }).pipe(Effect.withSpan("AuditLog.query")),
      inclusionProof: (tenant, index, size) => reading(tenant, "inclusionProof", () => inclusionProof(tenant, index, size)),
      consistencyProof: (tenant, size1, size2) =>
        reading(tenant, "consistencyProof", () => consistencyProof(tenant, size1, size2)),
      checkpoint: (tenant) => reading(tenant, "checkpoint", () => checkpoint(tenant)),
      checkpointAll: Effect.gen(function*() {
        let signed = 0
        // Every tenant goes through the checks of `checkpoint`, its latest checkpoint verified: a
        // tenant skipped when its latest row's size column equals the log's size could be kept
        // from every new checkpoint, without a warning, by rewriting that column.
        // The publisher's tenants too: one whose every row was deleted is refused (its log does not
        // extend its published checkpoint), with a warning. A listing that fails is warned of, and
        // the database's list goes on alone.
        const tenants = yield* knownTenants(publishedTenants.pipe(
          Effect.catchAll((error) =>
            Effect.as(Effect.logWarning("Audit checkpoints: the publisher's tenants not listed", error.message), [])
          )
        ))
        for (const tenant of tenants) {
          const result = yield* Effect.either(issue(tenant))
          if (result._tag === "Right") {
            if (result.right.signed) signed++
          } else {
            yield* Effect.logWarning("Audit checkpoint not issued", result.left.message)
          }
        }
        return signed
      }).pipe(Effect.withSpan("AuditLog.checkpointAll")),
      proofBundle: (tenant, index) => reading(tenant, "proofBundle", () => proofBundle(tenant, index)),
      redactDetails: (tenant, options) =>
        Effect.zipRight(
          !TenantIds.is(tenant)
            ? Effect.fail(new AuditEventInvalid({ reason: tenantForm }))
            : !isObject(options)
            ? Effect.fail(new AuditEventInvalid({ reason: "the options of a redaction are an object ({ before, limit, actor, ... })" }))
            : Effect.zipRight(checkActor(options.actor), checkRedaction(options)),
          Effect.suspend(() => redact(tenant, options))
        ).pipe(Effect.withSpan("AuditLog.redactDetails")),
      delinkSubject: (tenant, subject, actor) =>
        Effect.zipRight(
          !TenantIds.is(tenant)
            ? Effect.fail(new AuditEventInvalid({ reason: tenantForm }))
            : SubjectIds.is(subject)
            ? checkActor(actor)
            : Effect.fail(new AuditEventInvalid({ reason: "the subject to de-link is a lower-case UUID" })),
          Effect.suspend(() =>
            store.delinkSubject(tenant, subject, (count) =>
              record(tenant, () =>
                new AuditEvent({ actor, action: "audit.subject.delinked", purpose: "erasure", details: { entries: count } }))))
        ).pipe(Effect.withSpan("AuditLog.delinkSubject")),
      verify: (tenant) => reading(tenant, "verify", () => verify(tenant)),
      verifyAll: Effect.gen(function*() {
        // The database's list, and the publisher's: a tenant whose every row was deleted is in the
        // second only, and its published checkpoint shows the log it had.
        return yield* Effect.forEach(yield* knownTenants(publishedTenants), verify)
      }).pipe(Effect.withSpan("AuditLog.verifyAll")),
      verifierKey: signer.verifierKey,
      origin
    }
    return service
  })

/**
 * The log over the store, signer and publisher provided to it, and the
 * `AuditTrail` interface over the same log.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWith = (
  options: AuditLogOptions = {}
): Layer.Layer<
  AuditLog | AuditTrail,
  never,
  AuditStore.AuditStore | AuditSigner | CheckpointPublisher.CheckpointPublisher
> =>
  Layer.scopedContext(
    Effect.map(make(options), (log) =>
      Context.make(AuditLog, log).pipe(
        Context.add(AuditTrail, { append: log.append, appendAll: log.appendAll })
      ))
  )

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = layerWith()

/**
 * A complete log in memory, with a random signing key and an in-memory
 * publisher: for tests and for packages that need an `AuditTrail` in theirs.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<AuditLog | AuditTrail> = layer.pipe(
  Layer.provide(Layer.mergeAll(AuditStore.layerMemory, AuditSigner.layerRandom, CheckpointPublisher.layerMemory))
)
