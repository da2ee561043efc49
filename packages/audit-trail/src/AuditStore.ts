/**
 * Where audit logs are kept: entries, the hashes of complete subtrees, each
 * log's state (size and frontier), and signed checkpoints. The store only
 * keeps; `AuditLog` computes hashes and proofs.
 *
 * Appends are serialised per tenant on the log's state row (each batch is one
 * call of the PL/pgSQL function `lawful_audit_append_entries`, a lone entry one
 * of `lawful_audit_append_entry`, whose `UPDATE` of that row applies only if the
 * log still has the size and root the entries were built on), so several
 * processes sharing one PostgreSQL append safely and indices stay contiguous
 * from 0, with no sequence. A de-link takes the lock of that row too, so that
 * an append never slips between a de-link and its entry (see `delinkSubject`).
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import { inTransaction, safeSqlError, withTransaction } from "@lawful/core/Database"
import * as Migrations from "@lawful/core/Migrations"
import { SubjectId } from "@lawful/core/SubjectId"
import { TenantId } from "@lawful/core/TenantId"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { AuditEntry } from "./AuditEntry.js"
import { decodeLeaf } from "./AuditEntry.js"
import type { Actor, Json } from "./AuditEvent.js"
import { AuditStoreError } from "./AuditTrail.js"
import { checkingTenant } from "./internal/tenantChecked.js"
import * as MerkleTree from "./MerkleTree.js"

/**
 * A stored row that cannot be read as what it stores: a state row whose size does not fit its
 * frontier or whose hashes have the wrong length, an entry row with a column of the wrong kind
 * (written behind the log's back, by raw SQL). The cause of the `AuditStoreError` a read fails
 * with, so that verification can tell it from a store that fails (a connection lost) and report
 * it as a finding. `index` is the entry's, when the row is an entry's. The reason names the
 * columns, never their values, which may hold personal data.
 *
 * @since 0.1.0
 * @category errors
 */
export class StoredRowUnreadable extends Data.TaggedError("StoredRowUnreadable")<{
  readonly table: string
  readonly index: number | undefined
  readonly reason: string
}> {
  override get message(): string {
    return `A row of ${this.table}${this.index === undefined ? "" : ` (entry ${this.index})`} cannot be read: ${this.reason}`
  }
}

/**
 * The unreadable row a store error is about, if that is what it is.
 *
 * @since 0.1.0
 * @category errors
 */
export const unreadableRow = (error: AuditStoreError): Option.Option<StoredRowUnreadable> =>
  error.cause instanceof StoredRowUnreadable ? Option.some(error.cause) : Option.none()

/**
 * The state of a tenant's log: its size and the frontier of its tree.
 *
 * @since 0.1.0
 * @category models
 */
export interface LogState {
  readonly frontier: MerkleTree.Frontier
  readonly root: Uint8Array
}

/**
 * A signed checkpoint as stored.
 *
 * @since 0.1.0
 * @category models
 */
export interface StoredCheckpoint {
  readonly size: number
  readonly root: Uint8Array
  readonly note: string
}

/**
 * What one append writes.
 *
 * @since 0.1.0
 * @category models
 */
export interface AppendBatch<A> {
  readonly entries: ReadonlyArray<AuditEntry>
  readonly nodes: ReadonlyArray<MerkleTree.NodeHash>
  readonly state: LogState
  readonly result: A
}

/**
 * A page of entries matching every given filter, in index order after `after`: the action prefix
 * matched literally, `from` inclusive, `to` exclusive. `AuditLog.query` checks the filters
 * (`QueryInvalid`) before a store reads them.
 *
 * @since 0.1.0
 * @category models
 */
export interface EntryQuery {
  readonly subject?: SubjectId | undefined
  readonly actor?: Actor | undefined
  readonly actionPrefix?: string | undefined
  readonly from?: Date | undefined
  readonly to?: Date | undefined
  readonly after?: number | undefined
  readonly limit: number
}

/**
 * @since 0.1.0
 * @category services
 */
export class AuditStore extends Context.Tag("@lawful/audit-trail/AuditStore")<AuditStore, {
  /** Locks the tenant's log, builds the batch from its state, writes it: one transaction. */
  readonly append: <A>(tenant: TenantId, build: (state: LogState) => AppendBatch<A>) => Effect.Effect<A, AuditStoreError>
  /**
   * The log's state; a stored state whose size does not fit its frontier, or whose hashes are not
   * 32 bytes each, fails (`AuditStoreError` caused by `StoredRowUnreadable`), never dies.
   */
  readonly state: (tenant: TenantId) => Effect.Effect<LogState, AuditStoreError>
  readonly leafHashes: (tenant: TenantId, indices: ReadonlyArray<number>) => Effect.Effect<ReadonlyMap<number, Uint8Array>, AuditStoreError>
  /** Stored node hashes by `${level}/${index}`. */
  readonly nodeHashes: (
    tenant: TenantId,
    nodes: ReadonlyArray<MerkleTree.NodeId>
  ) => Effect.Effect<ReadonlyMap<string, Uint8Array>, AuditStoreError>
  /** Stored nodes of a level in `[from, to)`, for verification. */
  readonly nodesOfLevel: (
    tenant: TenantId,
    level: number,
    from: number,
    to: number
  ) => Effect.Effect<ReadonlyArray<MerkleTree.NodeHash>, AuditStoreError>
  readonly entry: (tenant: TenantId, index: number) => Effect.Effect<Option.Option<AuditEntry>, AuditStoreError>
  readonly entries: (tenant: TenantId, query: EntryQuery) => Effect.Effect<ReadonlyArray<AuditEntry>, AuditStoreError>
  /**
   * Entries in stored order from index `from`, as stored (gaps and all), for verification. Like
   * every read of entries, it fails (`AuditStoreError` caused by `StoredRowUnreadable`, naming
   * the entry's index) at the first row that cannot be read; the rows before it read alone.
   */
  readonly scan: (tenant: TenantId, from: number, limit: number) => Effect.Effect<ReadonlyArray<AuditEntry>, AuditStoreError>
  /**
   * Removes details (and their salt) of entries older than `before`, up to `limit`, oldest first
   * (by time, then index); returns their indices. Entries of `excludeSubjects` keep theirs (a
   * later call without them redacts them). A batch reads the entries it redacts, not those
   * redacted before. An entry committed after a batch but timed before what the batch reached
   * (an append that waited, a process whose clock is behind) is still found by later batches (on
   * SQL, the watermark holds the log's size too: entries from it on are read whatever their time).
   *
   * `record` (the append of the entry that records the redaction) runs with the indices, as one
   * with the removal: if it fails or is interrupted, nothing is removed. On SQL it runs in the
   * removal's transaction (an append there joins it); in memory the removal is undone.
   *
   * A redaction takes turns with the tenant's de-links (and its other redactions): on SQL, on a lock
   * of the tenant's redactions taken before anything else. In memory the removal and `record` hold
   * the tenant's log as in `delinkSubject`, so an append meanwhile comes after the redaction's entry;
   * on SQL the log's state row is locked only by that entry's append, and an append on another
   * connection may commit between the removal and it (the batch did not see it: a later one does).
   */
  readonly redactDetails: <E = never>(
    tenant: TenantId,
    options: {
      readonly before: Date
      readonly actionPrefix?: string | undefined
      readonly excludeSubjects?: ReadonlySet<SubjectId> | undefined
      readonly limit: number
    },
    record?: (redacted: ReadonlyArray<number>) => Effect.Effect<void, E>
  ) => Effect.Effect<ReadonlyArray<number>, AuditStoreError | E>
  /**
   * How many entries older than `before` still have details, not counting those of
   * `excludeSubjects`: what redactions without a prefix down to `before` would redact. Reads the
   * entries after the redaction watermark and those left behind it, not the redacted history.
   */
  readonly countDetails: (
    tenant: TenantId,
    options: {
      readonly before: Date
      readonly excludeSubjects?: ReadonlySet<SubjectId> | undefined
    }
  ) => Effect.Effect<number, AuditStoreError>
  /**
   * The time of the oldest entry that still has details, not of `excludeSubjects`; read as
   * `countDetails` reads.
   */
  readonly oldestDetails: (
    tenant: TenantId,
    options: { readonly excludeSubjects?: ReadonlySet<SubjectId> | undefined }
  ) => Effect.Effect<Option.Option<Date>, AuditStoreError>
  /**
   * Removes the subject id (and its salt) from every entry of the subject; returns how many.
   * `record` runs with that count as one with the removal, as in `redactDetails`.
   *
   * The removal and `record` hold the tenant's log as an append does, so that de-links and appends
   * are serialised: an append that holds the log when the de-link starts (its entries written, not
   * yet committed) is waited for and de-linked with the others, and one that comes meanwhile waits,
   * its entries after those `record` appends (they name the subject if their events do). On SQL the
   * hold is the lock of the log's state row that appends take, until the transaction ends (the
   * caller's, when the de-link joins one), and an append in `record` joins the transaction. In memory
   * it is a lock of the tenant's log that every append waits for except those the store is asked for
   * in `record`'s fibre, or in a fibre forked from it while `record` runs (`AuditLog`'s own entry is
   * appended so): an append handed to another fibre waits for the de-link, which waits for `record`:
   * neither ends. `AuditLog.append` and `appendAll` hand an append to their writer fibre when
   * others are in flight: in memory, `record` must not call them.
   */
  readonly delinkSubject: <E = never>(
    tenant: TenantId,
    subject: SubjectId,
    record?: (delinked: number) => Effect.Effect<void, E>
  ) => Effect.Effect<number, AuditStoreError | E>
  /** Stores a checkpoint unless one of that size exists. */
  readonly saveCheckpoint: (tenant: TenantId, checkpoint: StoredCheckpoint) => Effect.Effect<void, AuditStoreError>
  /**
   * A page of the tenant's checkpoints, smallest first: those of size `from` or more, at most
   * `limit`. For verification, which checks them all a page at a time.
   */
  readonly checkpoints: (
    tenant: TenantId,
    page: { readonly from: number; readonly limit: number }
  ) => Effect.Effect<ReadonlyArray<StoredCheckpoint>, AuditStoreError>
  /**
   * The largest checkpoint. Read by key: a log signed on a schedule gathers checkpoints for
   * ever, and signing a new one must not read them all.
   */
  readonly latestCheckpoint: (tenant: TenantId) => Effect.Effect<Option.Option<StoredCheckpoint>, AuditStoreError>
  /** The smallest checkpoint whose tree holds the entry at `index` (its size is over `index`), read by key. */
  readonly checkpointCovering: (
    tenant: TenantId,
    index: number
  ) => Effect.Effect<Option.Option<StoredCheckpoint>, AuditStoreError>
  /**
   * Every tenant with a log: a state row, an entry, or a checkpoint of a non-empty tree (an empty
   * tree's checkpoint makes none). A log whose state row was deleted behind its back is still
   * listed through its entries or checkpoints, so that `verifyAll` and `checkpointAll` reach it.
   */
  readonly tenants: Effect.Effect<ReadonlyArray<TenantId>, AuditStoreError>
}>() {}

const nodeKey = (level: number, index: number) => `${level}/${index}`

interface CheckpointRow {
  readonly size: string
  readonly root: Uint8Array
  readonly note: string
}

const toCheckpoint = (row: CheckpointRow): StoredCheckpoint => ({
  size: Number(row.size),
  root: new Uint8Array(row.root),
  note: row.note
})

// The position of the first checkpoint larger than `size`, in checkpoints kept by size.
const firstOver = (checkpoints: ReadonlyArray<StoredCheckpoint>, size: number): number => {
  let low = 0
  let high = checkpoints.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if (checkpoints[middle]!.size > size) high = middle
    else low = middle + 1
  }
  return low
}

const emptyState: LogState = { frontier: MerkleTree.emptyFrontier, root: MerkleTree.emptyRoot }

const matches = (entry: AuditEntry, query: EntryQuery): boolean =>
  (query.after === undefined || entry.index > query.after) &&
  (query.subject === undefined || (Option.isSome(entry.subject) && entry.subject.value.id === query.subject)) &&
  (query.actor === undefined ||
    (entry.actor.kind === query.actor.kind &&
      ("id" in query.actor ? "id" in entry.actor && entry.actor.id === query.actor.id : true))) &&
  (query.actionPrefix === undefined || entry.action.startsWith(query.actionPrefix)) &&
  (query.from === undefined || entry.time.getTime() >= query.from.getTime()) &&
  (query.to === undefined || entry.time.getTime() < query.to.getTime())

const hasDetails = (entry: AuditEntry, excludeSubjects: ReadonlySet<SubjectId> | undefined): boolean =>
  Option.isSome(entry.details) && !(Option.isSome(entry.subject) && excludeSubjects?.has(entry.subject.value.id))

// A removal in memory and the entry that records it: `remove` changes the log at once and returns
// how to undo it, which runs if `record` fails or is interrupted.
const removeRecorded = <A, E>(
  remove: () => { readonly result: A; readonly undo: () => void },
  record: ((result: A) => Effect.Effect<void, E>) | undefined
): Effect.Effect<A, E> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(Effect.sync(remove), ({ result, undo }) =>
      record === undefined ? Effect.succeed(result) : restore(Effect.suspend(() => record(result))).pipe(
        Effect.onExit((exit) => Exit.isFailure(exit) ? Effect.sync(undo) : Effect.void),
        Effect.as(result)
      ))
  )

const makeMemory = (): Context.Tag.Service<typeof AuditStore> => {
  interface Log {
    state: LogState
    entries: Array<AuditEntry>
    nodes: Map<string, Uint8Array>
    checkpoints: Array<StoredCheckpoint>
  }
  const logs = new Map<TenantId, Log>()
  // A de-link or redaction holds its tenant's log from its removal to the end of the entry that
  // records it, as the SQL store's transaction holds the log's state row: an append meanwhile waits,
  // and comes after that entry. The fibre holding it appends without waiting (`record`'s append), and
  // so do those it forks, while the hold lasts: each sees the hold's token, which its release
  // deactivates, so a fibre that outlives the hold (a daemon) waits as any other. A fibre joining
  // one keeps its own holds (`join`), never those of the fibre it joins.
  const locks = new Map<TenantId, Effect.Semaphore>()
  const holding = FiberRef.unsafeMake<ReadonlyMap<TenantId, { live: boolean }>>(new Map(), { join: (parent) => parent })
  const holdingLog = <A, E>(tenant: TenantId, effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    Effect.flatMap(FiberRef.get(holding), (held) => {
      if (held.get(tenant)?.live === true) return effect
      let lock = locks.get(tenant)
      if (lock === undefined) {
        lock = Effect.unsafeMakeSemaphore(1)
        locks.set(tenant, lock)
      }
      return lock.withPermits(1)(Effect.suspend(() => {
        const token = { live: true }
        return Effect.locallyWith(effect, holding, (holds) => new Map([...holds, [tenant, token]])).pipe(
          Effect.ensuring(Effect.sync(() => {
            token.live = false
          }))
        )
      }))
    })
  const logOf = (tenant: TenantId): Log => {
    let log = logs.get(tenant)
    if (!log) {
      log = { state: emptyState, entries: [], nodes: new Map(), checkpoints: [] }
      logs.set(tenant, log)
    }
    return log
  }
  return AuditStore.of({
    append: (tenant, build) =>
      holdingLog(
        tenant,
        Effect.sync(() => {
          const log = logOf(tenant)
          const batch = build(log.state)
          for (const entry of batch.entries) log.entries.push(entry)
          for (const node of batch.nodes) log.nodes.set(nodeKey(node.level, node.index), node.hash)
          log.state = batch.state
          return batch.result
        })
      ),
    state: (tenant) => Effect.sync(() => logs.get(tenant)?.state ?? emptyState),
    leafHashes: (tenant, indices) =>
      Effect.sync(() => {
        const entries = logs.get(tenant)?.entries ?? []
        const found = new Map<number, Uint8Array>()
        for (const index of indices) {
          const entry = entries[index]
          if (entry) found.set(index, entry.leafHash)
        }
        return found
      }),
    nodeHashes: (tenant, nodes) =>
      Effect.sync(() => {
        const stored = logs.get(tenant)?.nodes ?? new Map<string, Uint8Array>()
        const found = new Map<string, Uint8Array>()
        for (const node of nodes) {
          const hash = stored.get(nodeKey(node.level, node.index))
          if (hash) found.set(nodeKey(node.level, node.index), hash)
        }
        return found
      }),
    nodesOfLevel: (tenant, level, from, to) =>
      Effect.sync(() => {
        const stored = logs.get(tenant)?.nodes ?? new Map<string, Uint8Array>()
        const found: Array<MerkleTree.NodeHash> = []
        for (let index = from; index < to; index++) {
          const hash = stored.get(nodeKey(level, index))
          if (hash) found.push({ level, index, hash })
        }
        return found
      }),
    entry: (tenant, index) => Effect.sync(() => Option.fromNullable(logs.get(tenant)?.entries[index])),
    entries: (tenant, query) =>
      Effect.sync(() => (logs.get(tenant)?.entries ?? []).filter((entry) => matches(entry, query)).slice(0, query.limit)),
    scan: (tenant, from, limit) => Effect.sync(() => (logs.get(tenant)?.entries ?? []).slice(from, from + limit)),
    redactDetails: (tenant, { actionPrefix, before, excludeSubjects, limit }, record) =>
      holdingLog(tenant, removeRecorded(() => {
        const log = logs.get(tenant)
        if (!log) return { result: [], undo: () => {} }
        // Oldest first, by time then index, as the SQL store takes them.
        const chosen = log.entries
          .flatMap((entry, position) =>
            hasDetails(entry, excludeSubjects) && entry.time.getTime() < before.getTime() &&
              (actionPrefix === undefined || entry.action.startsWith(actionPrefix))
              ? [{ entry, position }]
              : []
          )
          .sort((a, b) => a.entry.time.getTime() - b.entry.time.getTime() || a.entry.index - b.entry.index)
          .slice(0, limit)
        for (const { entry, position } of chosen) log.entries[position] = { ...entry, details: Option.none() }
        return {
          result: chosen.map(({ entry }) => entry.index).sort((a, b) => a - b),
          undo: () => {
            for (const { entry, position } of chosen) log.entries[position] = { ...log.entries[position]!, details: entry.details }
          }
        }
      }, record)),
    countDetails: (tenant, { before, excludeSubjects }) =>
      Effect.sync(() =>
        (logs.get(tenant)?.entries ?? []).filter((entry) =>
          hasDetails(entry, excludeSubjects) && entry.time.getTime() < before.getTime()
        ).length
      ),
    oldestDetails: (tenant, { excludeSubjects }) =>
      Effect.sync(() => {
        let oldest: Date | undefined
        for (const entry of logs.get(tenant)?.entries ?? []) {
          if (hasDetails(entry, excludeSubjects) && (oldest === undefined || entry.time < oldest)) oldest = entry.time
        }
        return Option.fromNullable(oldest)
      }),
    delinkSubject: (tenant, subject, record) =>
      holdingLog(tenant, removeRecorded(() => {
        const log = logs.get(tenant)
        const delinked: Array<{ readonly entry: AuditEntry; readonly position: number }> = []
        for (const [position, entry] of log?.entries.entries() ?? []) {
          if (Option.isSome(entry.subject) && entry.subject.value.id === subject) {
            log!.entries[position] = { ...entry, subject: Option.none() }
            delinked.push({ entry, position })
          }
        }
        return {
          result: delinked.length,
          undo: () => {
            for (const { entry, position } of delinked) log!.entries[position] = { ...log!.entries[position]!, subject: entry.subject }
          }
        }
      }, record)),
    saveCheckpoint: (tenant, checkpoint) =>
      Effect.sync(() => {
        const { checkpoints } = logOf(tenant)
        const at = firstOver(checkpoints, checkpoint.size - 1)
        if (checkpoints[at]?.size !== checkpoint.size) checkpoints.splice(at, 0, checkpoint)
      }),
    checkpoints: (tenant, { from, limit }) =>
      Effect.sync(() => {
        const checkpoints = logs.get(tenant)?.checkpoints ?? []
        const at = firstOver(checkpoints, from - 1)
        return checkpoints.slice(at, at + limit)
      }),
    latestCheckpoint: (tenant) => Effect.sync(() => Option.fromNullable(logs.get(tenant)?.checkpoints.at(-1))),
    checkpointCovering: (tenant, index) =>
      Effect.sync(() => {
        const checkpoints = logs.get(tenant)?.checkpoints ?? []
        return Option.fromNullable(checkpoints[firstOver(checkpoints, index)])
      }),
    // The tenants with a log, as in SQL: entries, a state or a checkpoint of a non-empty tree (a
    // checkpoint of an empty tree makes none).
    tenants: Effect.sync(() =>
      [...logs].flatMap(([tenant, log]) =>
        log.entries.length > 0 || log.state.frontier.size > 0 || log.checkpoints.some((c) => c.size > 0) ? [tenant] : []
      ).sort()
    )
  })
}

/**
 * Audit logs in memory, for tests and programs without a database. A tenant id that is not a
 * lower-case UUID names no log, as on SQL: reads answer as for an empty log, writes (appends,
 * checkpoints, redactions, de-links) fail `AuditStoreError`, not quoting it, and write nothing.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<AuditStore> = Layer.sync(AuditStore, () => checkingTenant(makeMemory()))

const migrations: Record<string, Migrations.Migration> = {
  "0001_audit_logs": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`
      CREATE TABLE lawful_audit_logs (
        tenant_id uuid PRIMARY KEY,
        size bigint NOT NULL,
        frontier bytea NOT NULL,
        root bytea NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE lawful_audit_entries (
        tenant_id uuid NOT NULL,
        idx bigint NOT NULL,
        time timestamptz NOT NULL,
        actor_kind text NOT NULL,
        actor_id text,
        action text NOT NULL,
        subject_id uuid,
        subject_salt bytea,
        details jsonb,
        details_salt bytea,
        leaf bytea NOT NULL,
        leaf_hash bytea NOT NULL,
        PRIMARY KEY (tenant_id, idx)
      );
      CREATE INDEX lawful_audit_entries_subject ON lawful_audit_entries (tenant_id, subject_id, idx)
        WHERE subject_id IS NOT NULL;
      CREATE INDEX lawful_audit_entries_action ON lawful_audit_entries (tenant_id, action text_pattern_ops, idx);
      CREATE INDEX lawful_audit_entries_actor ON lawful_audit_entries (tenant_id, actor_kind, actor_id, idx);
      CREATE INDEX lawful_audit_entries_time ON lawful_audit_entries (tenant_id, time);
      CREATE TABLE lawful_audit_nodes (
        tenant_id uuid NOT NULL,
        level smallint NOT NULL,
        idx bigint NOT NULL,
        hash bytea NOT NULL,
        PRIMARY KEY (tenant_id, level, idx)
      );
      CREATE TABLE lawful_audit_checkpoints (
        tenant_id uuid NOT NULL,
        size bigint NOT NULL,
        root bytea NOT NULL,
        note text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, size)
      );
    `),
  // A lone entry's append as one call. As one statement (the batch's, with plain parameters) it
  // was parsed and planned on every append, which took about as long as running it; PL/pgSQL
  // keeps the plans of its statements for the session. As in the batch statement, the state row
  // moves only if the log still has the size the entry was built on (no row yet: `p_known_size`
  // is null), and the entry and nodes are written only then, in the same transaction.
  "0002_append_entry_function": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`
      CREATE FUNCTION lawful_audit_append_entry(
        p_tenant uuid, p_known_size bigint, p_size bigint, p_frontier bytea, p_root bytea,
        p_idx bigint, p_time timestamptz, p_actor_kind text, p_actor_id text, p_action text,
        p_subject_id uuid, p_subject_salt bytea, p_details jsonb, p_details_salt bytea,
        p_leaf bytea, p_leaf_hash bytea,
        p_node_levels smallint[], p_node_indices bigint[], p_node_hashes bytea
      )
      RETURNS boolean
      LANGUAGE plpgsql
      SET plan_cache_mode = force_generic_plan
      AS $$
      BEGIN
        IF p_known_size IS NULL THEN
          INSERT INTO lawful_audit_logs (tenant_id, size, frontier, root) VALUES (p_tenant, p_size, p_frontier, p_root)
          ON CONFLICT (tenant_id) DO NOTHING;
        ELSE
          UPDATE lawful_audit_logs SET size = p_size, frontier = p_frontier, root = p_root, updated_at = now()
          WHERE tenant_id = p_tenant AND size = p_known_size;
        END IF;
        IF NOT FOUND THEN
          RETURN false;
        END IF;
        INSERT INTO lawful_audit_entries
          (tenant_id, idx, time, actor_kind, actor_id, action, subject_id, subject_salt, details, details_salt, leaf, leaf_hash)
        VALUES (p_tenant, p_idx, p_time, p_actor_kind, p_actor_id, p_action, p_subject_id, p_subject_salt, p_details,
          p_details_salt, p_leaf, p_leaf_hash);
        IF p_node_levels IS NOT NULL THEN
          INSERT INTO lawful_audit_nodes (tenant_id, level, idx, hash)
          SELECT p_tenant, x.level, x.idx, substring(p_node_hashes FROM x.n::int * 32 - 31 FOR 32)
          FROM unnest(p_node_levels, p_node_indices) WITH ORDINALITY AS x(level, idx, n);
        END IF;
        RETURN true;
      END
      $$
    `),
  // How far back every entry's details are gone (redactions without an action prefix): a
  // redaction batch reads the time index from there, not from the log's first entry. Without it
  // each batch, and each daily sweep, read the tenant's redacted history again. A watermark costs
  // appends nothing, where an index of the entries that still have details cost batched appends
  // about a tenth of their throughput.
  "0003_redaction_watermark": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`CREATE TABLE lawful_audit_redactions (
      tenant_id uuid PRIMARY KEY,
      redacted_before timestamptz NOT NULL
    )`),
  // The subjects whose entries kept their details behind the watermark because a redaction
  // excluded them (a legal hold): the watermark moves past them, so a batch does not read them
  // again, and once they are no longer excluded a batch finds them by the subject index.
  "0004_redaction_skipped_subjects": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`CREATE TABLE lawful_audit_redactions_skipped (
      tenant_id uuid NOT NULL,
      subject_id uuid NOT NULL,
      PRIMARY KEY (tenant_id, subject_id)
    )`),
  // A lone entry's append conditioned on the root as well as the size: the log a process knows
  // may have been replaced by another of the same size (a backup restored, then appended to by
  // another process); the size and root together name one log. (The 0002 function stays, for
  // processes not yet upgraded; it is a different signature.)
  "0005_append_entry_known_root": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`
      CREATE FUNCTION lawful_audit_append_entry(
        p_tenant uuid, p_known_size bigint, p_known_root bytea, p_size bigint, p_frontier bytea, p_root bytea,
        p_idx bigint, p_time timestamptz, p_actor_kind text, p_actor_id text, p_action text,
        p_subject_id uuid, p_subject_salt bytea, p_details jsonb, p_details_salt bytea,
        p_leaf bytea, p_leaf_hash bytea,
        p_node_levels smallint[], p_node_indices bigint[], p_node_hashes bytea
      )
      RETURNS boolean
      LANGUAGE plpgsql
      SET plan_cache_mode = force_generic_plan
      AS $$
      BEGIN
        IF p_known_size IS NULL THEN
          INSERT INTO lawful_audit_logs (tenant_id, size, frontier, root) VALUES (p_tenant, p_size, p_frontier, p_root)
          ON CONFLICT (tenant_id) DO NOTHING;
        ELSE
          UPDATE lawful_audit_logs SET size = p_size, frontier = p_frontier, root = p_root, updated_at = now()
          WHERE tenant_id = p_tenant AND size = p_known_size AND root = p_known_root;
        END IF;
        IF NOT FOUND THEN
          RETURN false;
        END IF;
        INSERT INTO lawful_audit_entries
          (tenant_id, idx, time, actor_kind, actor_id, action, subject_id, subject_salt, details, details_salt, leaf, leaf_hash)
        VALUES (p_tenant, p_idx, p_time, p_actor_kind, p_actor_id, p_action, p_subject_id, p_subject_salt, p_details,
          p_details_salt, p_leaf, p_leaf_hash);
        IF p_node_levels IS NOT NULL THEN
          INSERT INTO lawful_audit_nodes (tenant_id, level, idx, hash)
          SELECT p_tenant, x.level, x.idx, substring(p_node_hashes FROM x.n::int * 32 - 31 FOR 32)
          FROM unnest(p_node_levels, p_node_indices) WITH ORDINALITY AS x(level, idx, n);
        END IF;
        RETURN true;
      END
      $$
    `),
  // Entries appended together, as one call, like the lone entry (0005): as one statement with
  // CTEs it was parsed and planned on every batch, about 0.2 ms of the server's time for a batch of
  // eight concurrent callers, as long as running it; with one batch of a tenant in flight, that
  // time is every caller's wait. The columns come as arrays (see `entryArrays`); the state row
  // moves only if the log still has the size and root the batch was built on, and the entries
  // and nodes are written only then.
  "0006_append_entries_function": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`
      CREATE FUNCTION lawful_audit_append_entries(
        p_tenant uuid, p_known_size bigint, p_known_root bytea, p_size bigint, p_frontier bytea, p_root bytea,
        p_indices bigint[], p_refs int[], p_times timestamptz[], p_actor_kinds text[], p_actor_ids text[], p_actions text[],
        p_subject_ids uuid[], p_subject_salts bytea[], p_details json, p_details_salts bytea[],
        p_leaves bytea, p_leaf_starts int[], p_leaf_lengths int[], p_leaf_hashes bytea,
        p_node_levels smallint[], p_node_indices bigint[], p_node_hashes bytea
      )
      RETURNS boolean
      LANGUAGE plpgsql
      SET plan_cache_mode = force_generic_plan
      AS $$
      BEGIN
        IF p_known_size IS NULL THEN
          INSERT INTO lawful_audit_logs (tenant_id, size, frontier, root) VALUES (p_tenant, p_size, p_frontier, p_root)
          ON CONFLICT (tenant_id) DO NOTHING;
        ELSE
          UPDATE lawful_audit_logs SET size = p_size, frontier = p_frontier, root = p_root, updated_at = now()
          WHERE tenant_id = p_tenant AND size = p_known_size AND root = p_known_root;
        END IF;
        IF NOT FOUND THEN
          RETURN false;
        END IF;
        INSERT INTO lawful_audit_entries
          (tenant_id, idx, time, actor_kind, actor_id, action, subject_id, subject_salt, details, details_salt, leaf, leaf_hash)
        SELECT p_tenant, x.idx, p_times[x.ref], p_actor_kinds[x.ref], p_actor_ids[x.ref], p_actions[x.ref],
          x.subject_id, x.subject_salt, nullif(x.details::jsonb, 'null'::jsonb), x.details_salt,
          substring(p_leaves FROM x.leaf_start + 1 FOR x.leaf_length),
          substring(p_leaf_hashes FROM x.n::int * 32 - 31 FOR 32)
        FROM ROWS FROM (unnest(p_indices), unnest(p_refs), unnest(p_subject_ids), unnest(p_subject_salts),
          json_array_elements(p_details), unnest(p_details_salts), unnest(p_leaf_starts), unnest(p_leaf_lengths))
          WITH ORDINALITY AS x(idx, ref, subject_id, subject_salt, details, details_salt, leaf_start, leaf_length, n);
        IF p_node_levels IS NOT NULL THEN
          INSERT INTO lawful_audit_nodes (tenant_id, level, idx, hash)
          SELECT p_tenant, x.level, x.idx, substring(p_node_hashes FROM x.n::int * 32 - 31 FOR 32)
          FROM unnest(p_node_levels, p_node_indices) WITH ORDINALITY AS x(level, idx, n);
        END IF;
        RETURN true;
      END
      $$
    `),
  // The size of the log the redaction watermark was set at: every entry below it and before the
  // watermark's time has no details, and entries from it on are read whatever their time (an
  // entry committed after a redaction may be timed before its watermark). A watermark set before
  // this migration has size 0: the next redaction reads the tenant's entries before its time once,
  // through the primary key, and moves it on.
  "0007_redaction_watermark_size": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`ALTER TABLE lawful_audit_redactions ADD COLUMN redacted_size bigint NOT NULL DEFAULT 0`)
}

const EntryRow = Schema.Struct({
  tenant_id: TenantId,
  idx: Schema.Union(Schema.NumberFromString, Schema.Number),
  time: Schema.ValidDateFromSelf,
  actor_kind: Schema.Literal("system", "api-key", "staff", "subject"),
  actor_id: Schema.NullOr(Schema.String),
  action: Schema.String,
  subject_id: Schema.NullOr(SubjectId),
  subject_salt: Schema.NullOr(Schema.Uint8ArrayFromSelf),
  details: Schema.NullOr(Schema.Unknown),
  details_salt: Schema.NullOr(Schema.Uint8ArrayFromSelf),
  leaf: Schema.Uint8ArrayFromSelf,
  leaf_hash: Schema.Uint8ArrayFromSelf
})

const decodeEntryRow = Schema.decodeUnknownEither(EntryRow)
const entryColumnChecks = Object.entries(EntryRow.fields).map(([column, schema]) =>
  [column, Schema.decodeUnknownEither(schema as Schema.Schema<unknown, unknown>)] as const
)
const decodeIndex = Schema.decodeUnknownEither(EntryRow.fields.idx)

// The rows as entries, up to the first that cannot be read, which fails the read naming its index
// and its columns (never their values: the parse error's message quotes them).
const decodeEntryRows = (rows: ReadonlyArray<Record<string, unknown>>): Effect.Effect<Array<typeof EntryRow.Type>, StoredRowUnreadable> => {
  const decoded: Array<typeof EntryRow.Type> = []
  for (const row of rows) {
    const entry = decodeEntryRow(row)
    if (Either.isRight(entry)) {
      decoded.push(entry.right)
      continue
    }
    const columns = entryColumnChecks.flatMap(([column, check]) => Either.isLeft(check(row[column])) ? [column] : [])
    const index = decodeIndex(row.idx)
    return Effect.fail(
      new StoredRowUnreadable({
        table: "lawful_audit_entries",
        index: Either.isRight(index) ? index.right : undefined,
        reason: `column ${columns.join(", ")} does not hold what an entry stores there`
      })
    )
  }
  return Effect.succeed(decoded)
}

// Purpose, basis, resource and which commitments exist are read from the hashed leaf,
// so they are stored once.
const toEntry = (row: typeof EntryRow.Type): AuditEntry => {
  const leaf = new Uint8Array(row.leaf)
  const hashed = Option.getOrUndefined(decodeLeaf(leaf))
  return {
    tenant: row.tenant_id,
    index: row.idx,
    time: row.time,
    actor: row.actor_kind === "subject"
      ? { kind: "subject" }
      : { kind: row.actor_kind, id: row.actor_id ?? "" },
    action: row.action,
    purpose: hashed?.purpose,
    legalBasis: hashed?.legalBasis,
    resource: hashed?.resource,
    leaf,
    leafHash: new Uint8Array(row.leaf_hash),
    subject: row.subject_id !== null && row.subject_salt !== null
      ? Option.some({ id: row.subject_id, salt: new Uint8Array(row.subject_salt) })
      : Option.none(),
    details: row.details !== null && row.details_salt !== null
      ? Option.some({ value: row.details as Record<string, Json>, salt: new Uint8Array(row.details_salt) })
      : Option.none(),
    hadSubject: hashed?.subject !== undefined,
    hadDetails: hashed?.details !== undefined
  }
}

// A day after the earliest time PostgreSQL's `timestamptz` holds (4714-11-24 BC, UTC). A valid JS
// date may be earlier (to 271821 BC), and was refused as out of range, a store failure where
// memory answered. No stored entry is timed before it: a bound before it is read as this one (a
// `from` takes every entry, a `to` or a `before` none), as in memory. The day's margin: `pg` sends
// a date in the process's time zone, whose offset back then (local mean time, as in
// America/New_York: -04:56:02) it writes to the minute, moving the instant by up to a minute.
const earliestTime = Date.UTC(-4713, 10, 25)
const storableTime = (date: Date): Date => date.getTime() < earliestTime ? new Date(earliestTime) : date

const buffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
const concat = (hashes: ReadonlyArray<Uint8Array>) => Buffer.concat(hashes.map(buffer))
const split = (bytes: Uint8Array): Array<Uint8Array> => {
  const hashes: Array<Uint8Array> = []
  for (let offset = 0; offset < bytes.length; offset += 32) hashes.push(new Uint8Array(bytes.subarray(offset, offset + 32)))
  return hashes
}

const entryColumns =
  `tenant_id, idx, time, actor_kind, actor_id, action, subject_id, subject_salt, details, details_salt, leaf, leaf_hash`

// More entries go as one array per column, to `lawful_audit_append_entries` (migration 0006). The leaves and leaf hashes, most of the
// bytes, go as one binary parameter each, cut by offset: no hex or JSON text per entry. The
// details go as one JSON array (`json`, checked in one pass, then each element made `jsonb`),
// side by side with the arrays (`ROWS FROM`): a `jsonb[]` literal, every element unescaped
// and parsed apart, cost about 15 ms of the server's time a batch of 1,000, one `jsonb`
// array about 4 ms, this about 1.7 ms. The time, actor and action, mostly shared by the
// entries of one caller, go as the distinct ones and each entry's place among them.
const entryArrays = (entries: ReadonlyArray<AuditEntry>) => {
  const count = entries.length
  const indices = new Array<number>(count)
  // The distinct (time, actor, action) of the batch, and each entry's place among them.
  const times: Array<string> = []
  const actorKinds: Array<string> = []
  const actorIds: Array<string | null> = []
  const actions: Array<string> = []
  const places = new Map<string, number>()
  const refs = new Array<number>(count)
  const subjects = new Array<string | null>(count)
  const subjectSalts = new Array<Buffer | null>(count)
  const details = new Array<Json>(count)
  const detailsSalts = new Array<Buffer | null>(count)
  const leafStarts = new Array<number>(count)
  const leafLengths = new Array<number>(count)
  const leaves = new Array<Uint8Array>(count)
  const leafHashes = new Array<Uint8Array>(count)
  let leafBytes = 0
  let last: AuditEntry | undefined
  let lastActorId: string | null = null
  for (let i = 0; i < count; i++) {
    const e = entries[i]!
    const actorId = "id" in e.actor ? e.actor.id : null
    if (
      last !== undefined && e.time === last.time && e.action === last.action && e.actor.kind === last.actor.kind &&
      actorId === lastActorId
    ) {
      refs[i] = refs[i - 1]!
    } else {
      const key = JSON.stringify([e.time.getTime(), e.actor.kind, actorId, e.action])
      let place = places.get(key)
      if (place === undefined) {
        times.push(e.time.toISOString())
        actorKinds.push(e.actor.kind)
        actorIds.push(actorId)
        actions.push(e.action)
        place = times.length
        places.set(key, place)
      }
      refs[i] = place
    }
    last = e
    lastActorId = actorId
    indices[i] = e.index
    subjects[i] = Option.isSome(e.subject) ? e.subject.value.id : null
    subjectSalts[i] = Option.isSome(e.subject) ? buffer(e.subject.value.salt) : null
    details[i] = Option.isSome(e.details) ? e.details.value.value : null
    detailsSalts[i] = Option.isSome(e.details) ? buffer(e.details.value.salt) : null
    leafStarts[i] = leafBytes
    leafLengths[i] = e.leaf.length
    leafBytes += e.leaf.length
    leaves[i] = e.leaf
    leafHashes[i] = e.leafHash
  }
  return {
    indices,
    refs,
    times,
    actorKinds,
    actorIds,
    actions,
    subjects,
    subjectSalts,
    details: JSON.stringify(details),
    detailsSalts,
    leaves: Buffer.concat(leaves, leafBytes),
    leafStarts,
    leafLengths,
    leafHashes: Buffer.concat(leafHashes, count * MerkleTree.hashSize)
  }
}

/**
 * Audit logs on SQL (PostgreSQL or PGlite), migrated on start-up. A tenant id that is not a
 * lower-case UUID (an upper-case one included, which PostgreSQL would read as the tenant's own)
 * names no log, as in memory: reads answer as for an empty log, writes fail `AuditStoreError`,
 * whose cause does not quote it, and nothing reaches the database.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSql: Layer.Layer<AuditStore, Migrations.MigrationFailed, SqlClient.SqlClient> = Layer.effect(
  AuditStore,
  Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    yield* Migrations.run("audit-trail", migrations).pipe(Effect.provideService(SqlClient.SqlClient, sql))
    // A driver's error keeps its SQLSTATE code and the names of what failed, never the data its
    // diagnostics quote (a failing row, a key).
    const fail = (operation: string) => (cause: unknown) => new AuditStoreError({ operation, cause: safeSqlError(cause) })

    // A state row as stored. One whose size does not fit its frontier or whose hashes are not 32
    // bytes each (a row rewritten behind the log's back) fails the read (`StoredRowUnreadable`), so
    // the tenant's appends and checkpoints fail with an `AuditStoreError`, `checkpointAll` goes on
    // with the other tenants (as a defect, it stopped them all), and verification reports it.
    const readState = (
      rows: ReadonlyArray<{ readonly size: unknown; readonly frontier: Uint8Array; readonly root: Uint8Array }>
    ): Effect.Effect<LogState, StoredRowUnreadable> =>
      Effect.try({
        try: () => {
          const row = rows[0]
          if (!row) return emptyState
          if (row.frontier.length % MerkleTree.hashSize !== 0 || row.root.length !== MerkleTree.hashSize) {
            throw new RangeError(`its hashes are not ${MerkleTree.hashSize} bytes each`)
          }
          return {
            frontier: MerkleTree.makeFrontier(Number(row.size), split(row.frontier)),
            root: new Uint8Array(row.root)
          }
        },
        catch: (cause) =>
          new StoredRowUnreadable({
            table: "lawful_audit_logs",
            index: undefined,
            reason: `the stored state of the log is malformed: ${cause instanceof Error ? cause.message : String(cause)}`
          })
      })

    // The tenant as a subquery: a plan made for the actual id estimates a tenant newer than the
    // table's statistics at a handful of rows, and reading all of it through any of the
    // tenant's indexes then looked as cheap as the right one (a tenant's whole log read for one
    // entry, a subject's, or a proof's nodes). Planned for an average tenant, each lookup takes
    // its index.
    const ofTenant = (tenant: TenantId) => sql`tenant_id = (SELECT ${tenant}::uuid)`

    const selectEntries = (where: ReturnType<typeof sql.and>, limit: number) =>
      sql`SELECT ${sql.literal(entryColumns)} FROM lawful_audit_entries WHERE ${where} ORDER BY idx LIMIT ${limit}`.pipe(
        Effect.flatMap((rows) => decodeEntryRows(rows as ReadonlyArray<Record<string, unknown>>)),
        Effect.map((rows) => rows.map(toEntry))
      )

    // The tenant's redaction watermark (migration 0003), null before its first redaction without a
    // prefix.
    const watermark = (tenant: TenantId) =>
      sql`(SELECT redacted_before FROM lawful_audit_redactions WHERE tenant_id = ${tenant})`

    // The tenant's redactions and its de-links take turns, on a transaction lock of their own:
    // before the tenant's first redaction commits there is no watermark row to lock, and a subject
    // de-linked while that batch passes its entries would be recorded as left behind under an id its
    // entries no longer carry, their details never redacted. Every redaction (one with a prefix
    // too) and every de-link takes it before any other lock of the log: a redaction locks entries and
    // then, appending its own entry, the log's state row; a de-link the state row and then the
    // subject's entries. Only this lock keeps the two from deadlocking.
    const lockRedactions = (tenant: TenantId) =>
      sql`SELECT pg_advisory_xact_lock(hashtext('lawful_audit_redactions'), hashtext(${tenant}::text))`

    // An entry not of the excluded subjects (entries without a subject included).
    const notOf = (excluded: ReadonlyArray<SubjectId>) =>
      excluded.length > 0 ? sql`AND (subject_id IS NULL OR subject_id <> ALL(${excluded}::uuid[]))` : sql``

    // The late entries (migration 0007): from the watermark's size on (below `until`, when given),
    // with details and timed before the watermark, a range of the primary key (`OFFSET 0` keeps the
    // time test out of the scan: through the time index it would read the tenant's redacted
    // history). Shared by a redaction batch, which gives the watermark it read, and by the counts,
    // which join the watermark's row.
    const lateEntries = (
      tenant: TenantId,
      watermark: { readonly size: Statement.Fragment; readonly before: Statement.Fragment; readonly until?: Statement.Fragment }
    ) =>
      sql`(SELECT idx, time, subject_id FROM (
          SELECT idx, time, subject_id, details IS NOT NULL AS has_details FROM lawful_audit_entries
          WHERE tenant_id = (SELECT ${tenant}::uuid) AND idx >= ${watermark.size}
            ${watermark.until === undefined ? sql`` : sql`AND idx < ${watermark.until}`}
          ORDER BY idx OFFSET 0
        ) recent WHERE has_details AND time < ${watermark.before})`

    // The entries that have details and are not of `excludeSubjects`, in two parts, each read
    // through its index: from the watermark on, a range of the time index; and, before `until`,
    // those left behind it (migration 0004), in a subquery per subject (`OFFSET 0`), so the
    // subject index is taken, not the time index from the log's first entry. Both parts go in one
    // statement, so they see the same watermark.
    const withDetails = (tenant: TenantId, excludeSubjects: ReadonlySet<SubjectId> | undefined) => {
      const excluded = [...(excludeSubjects ?? [])]
      return {
        fromWatermark: sql`tenant_id = (SELECT ${tenant}::uuid) AND details IS NOT NULL
          AND time >= coalesce(${watermark(tenant)}, '-infinity'::timestamptz)
          ${notOf(excluded)}`,
        // The late entries (migration 0007): from the watermark's size on, before its time, through
        // the primary key; but those of the subjects left behind it, which `behind` reads.
        late: sql`lawful_audit_redactions r
          CROSS JOIN LATERAL ${lateEntries(tenant, { size: sql`r.redacted_size`, before: sql`r.redacted_before` })} e
          WHERE r.tenant_id = ${tenant}
            ${excluded.length > 0 ? sql`AND (e.subject_id IS NULL OR e.subject_id <> ALL(${excluded}::uuid[]))` : sql``}
            AND NOT EXISTS (
            SELECT 1 FROM lawful_audit_redactions_skipped s WHERE s.tenant_id = ${tenant} AND s.subject_id = e.subject_id
          )`,
        behind: (until: Statement.Fragment) =>
          sql`lawful_audit_redactions_skipped s
            CROSS JOIN LATERAL (
              SELECT time FROM lawful_audit_entries
              WHERE tenant_id = (SELECT ${tenant}::uuid) AND subject_id = s.subject_id AND details IS NOT NULL
                AND time < ${until}
              OFFSET 0
            ) e
            WHERE s.tenant_id = ${tenant}
            ${excluded.length > 0 ? sql`AND s.subject_id <> ALL(${excluded}::uuid[])` : sql``}`
      }
    }

    // A removal and the entry that records it, in one transaction: an append in `record` joins it.
    // `after` runs last in the transaction.
    const recordedIn = <A, E>(
      operation: string,
      record: ((result: A) => Effect.Effect<void, E>) | undefined,
      after: (result: A) => Effect.Effect<void, AuditStoreError> = () => Effect.void
    ) =>
    (removal: Effect.Effect<A, AuditStoreError>): Effect.Effect<A, AuditStoreError | E> =>
      removal.pipe(
        Effect.tap((result) => record === undefined ? Effect.void : Effect.suspend(() => record(result))),
        Effect.tap(after),
        withTransaction(sql),
        Effect.mapError((error) => error instanceof SqlError ? fail(operation)(error) : error)
      )

    interface KnownState {
      readonly exists: boolean
      readonly state: LogState
    }
    // The state each tenant's log had after this process's last write: usually still current.
    const knownStates = new Map<TenantId, KnownState>()

    const readKnownState = (tenant: TenantId) =>
      Effect.flatMap(
        sql<{ size: string; frontier: Uint8Array; root: Uint8Array }>`
          SELECT size, frontier, root FROM lawful_audit_logs WHERE tenant_id = ${tenant}`,
        (rows) => Effect.map(readState(rows), (state): KnownState => ({ exists: rows.length > 0, state }))
      )

    // A lone entry: one call of the append function (migration 0005: conditioned on the size and root the entry was built on), whose plans the session keeps.
    const appendEntry = (
      tenant: TenantId,
      known: KnownState,
      state: LogState,
      e: AuditEntry,
      nodes: ReadonlyArray<MerkleTree.NodeHash>
    ) =>
      sql<{ ok: boolean }>`SELECT lawful_audit_append_entry(${tenant}::uuid,
        ${known.exists ? known.state.frontier.size : null}::bigint, ${known.exists ? buffer(known.state.root) : null}::bytea,
        ${state.frontier.size}::bigint,
        ${concat(state.frontier.hashes)}::bytea, ${buffer(state.root)}::bytea,
        ${e.index}::bigint, ${e.time.toISOString()}::timestamptz, ${e.actor.kind}::text,
        ${"id" in e.actor ? e.actor.id : null}::text, ${e.action}::text,
        ${Option.isSome(e.subject) ? e.subject.value.id : null}::uuid,
        ${Option.isSome(e.subject) ? buffer(e.subject.value.salt) : null}::bytea,
        ${Option.isSome(e.details) ? JSON.stringify(e.details.value.value) : null}::jsonb,
        ${Option.isSome(e.details) ? buffer(e.details.value.salt) : null}::bytea,
        ${buffer(e.leaf)}::bytea, ${buffer(e.leafHash)}::bytea,
        ${nodes.length > 0 ? nodes.map((n) => n.level) : null}::smallint[],
        ${nodes.length > 0 ? nodes.map((n) => n.index) : null}::bigint[],
        ${nodes.length > 0 ? concat(nodes.map((n) => n.hash)) : null}::bytea) AS ok`.pipe(
        Effect.map((rows) => rows[0]?.ok === true)
      )

    // More entries: one call of the batch function (migration 0006), conditioned like the lone one.
    const writeBatch = <A>(tenant: TenantId, known: KnownState, batch: AppendBatch<A>) => {
      if (batch.entries.length === 1) return appendEntry(tenant, known, batch.state, batch.entries[0]!, batch.nodes)
      const c = entryArrays(batch.entries)
      const nodes = batch.nodes
      return sql<{ ok: boolean }>`SELECT lawful_audit_append_entries(${tenant}::uuid,
        ${known.exists ? known.state.frontier.size : null}::bigint, ${known.exists ? buffer(known.state.root) : null}::bytea,
        ${batch.state.frontier.size}::bigint, ${concat(batch.state.frontier.hashes)}::bytea, ${buffer(batch.state.root)}::bytea,
        ${c.indices}::bigint[], ${c.refs}::int[], ${c.times}::timestamptz[], ${c.actorKinds}::text[], ${c.actorIds}::text[],
        ${c.actions}::text[], ${c.subjects}::uuid[], ${c.subjectSalts}::bytea[], ${c.details}::json, ${c.detailsSalts}::bytea[],
        ${c.leaves}::bytea, ${c.leafStarts}::int[], ${c.leafLengths}::int[], ${c.leafHashes}::bytea,
        ${nodes.length > 0 ? nodes.map((n) => n.level) : null}::smallint[],
        ${nodes.length > 0 ? nodes.map((n) => n.index) : null}::bigint[],
        ${nodes.length > 0 ? concat(nodes.map((n) => n.hash)) : null}::bytea) AS ok`.pipe(
        Effect.map((rows) => rows[0]?.ok === true)
      )
    }

    return checkingTenant(AuditStore.of({
      append: <A>(tenant: TenantId, build: (state: LogState) => AppendBatch<A>) => {
        // Optimistic: build on the last known state and write everything in one statement that
        // applies only if the state row still has that size (the row lock serialises writers);
        // otherwise re-read the state and build again.
        // The condition names the size and the root: a log this process knew may have been
        // replaced under it by another of the same size (a backup restored, then appended to by
        // another process), and entries built on the old one must not be applied to it.
        // A state written inside the caller's transaction is not kept: the transaction may yet roll
        // back, and another process may then bring the log to the same size with other entries.
        const attempt = (known: KnownState, joined: boolean): Effect.Effect<A, SqlError | Error> =>
          Effect.suspend(() => {
            const batch = build(known.state)
            return Effect.flatMap(writeBatch(tenant, known, batch), (written) => {
              if (!written) return Effect.flatMap(readKnownState(tenant), (state) => attempt(state, joined))
              if (joined) knownStates.delete(tenant)
              else knownStates.set(tenant, { exists: true, state: batch.state })
              return Effect.succeed(batch.result)
            })
          })
        return Effect.flatMap(inTransaction, (joined) => {
          const cached = knownStates.get(tenant)
          return cached ? attempt(cached, joined) : Effect.flatMap(readKnownState(tenant), (state) => attempt(state, joined))
        }).pipe(
          Effect.catchAll((cause) => {
            knownStates.delete(tenant)
            return Effect.fail(fail("append")(cause))
          })
        )
      },
      state: (tenant) =>
        sql<{ size: string; frontier: Uint8Array; root: Uint8Array }>`
          SELECT size, frontier, root FROM lawful_audit_logs WHERE tenant_id = ${tenant}`.pipe(
          Effect.flatMap(readState),
          Effect.mapError(fail("state"))
        ),
      // Each leaf and node probed by its key, in a subquery kept per key (`OFFSET 0`): as a join,
      // every node of a tenant was read for a proof (50,000 for 8 wanted), where a proof must
      // cost O(log n).
      leafHashes: (tenant, indices) =>
        indices.length === 0 ? Effect.succeed(new Map()) : sql<{ idx: string; leaf_hash: Uint8Array }>`
          SELECT e.idx, e.leaf_hash FROM unnest(${indices.map(String)}::bigint[]) AS wanted(idx)
          CROSS JOIN LATERAL (
            SELECT idx, leaf_hash FROM lawful_audit_entries
            WHERE ${ofTenant(tenant)} AND idx = wanted.idx
            OFFSET 0
          ) e`.pipe(
          Effect.map((rows) => new Map(rows.map((row) => [Number(row.idx), new Uint8Array(row.leaf_hash)]))),
          Effect.mapError(fail("leafHashes"))
        ),
      nodeHashes: (tenant, nodes) =>
        nodes.length === 0 ? Effect.succeed(new Map()) : sql<{ level: number; idx: string; hash: Uint8Array }>`
          SELECT n.level, n.idx, n.hash
          FROM unnest(${nodes.map((n) => n.level)}::smallint[], ${nodes.map((n) => String(n.index))}::bigint[])
            AS wanted(level, idx)
          CROSS JOIN LATERAL (
            SELECT level, idx, hash FROM lawful_audit_nodes
            WHERE ${ofTenant(tenant)} AND level = wanted.level AND idx = wanted.idx
            OFFSET 0
          ) n`.pipe(
          Effect.map((rows) => new Map(rows.map((row) => [nodeKey(row.level, Number(row.idx)), new Uint8Array(row.hash)]))),
          Effect.mapError(fail("nodeHashes"))
        ),
      nodesOfLevel: (tenant, level, from, to) =>
        sql<{ idx: string; hash: Uint8Array }>`
          SELECT idx, hash FROM lawful_audit_nodes
          WHERE tenant_id = ${tenant} AND level = ${level} AND idx >= ${from} AND idx < ${to} ORDER BY idx`.pipe(
          Effect.map((rows) => rows.map((row) => ({ level, index: Number(row.idx), hash: new Uint8Array(row.hash) }))),
          Effect.mapError(fail("nodesOfLevel"))
        ),
      // An index no entry can have (negative, fractional, beyond 2^53) is not found, as in memory,
      // rather than refused by the database as a `bigint`.
      entry: (tenant, index) =>
        !Number.isSafeInteger(index) || index < 0
          ? Effect.succeed(Option.none())
          : selectEntries(sql.and([ofTenant(tenant), sql`idx = ${index}`]), 1).pipe(
            Effect.map((entries) => Option.fromNullable(entries[0])),
            Effect.mapError(fail("entry"))
          ),
      entries: (tenant, query) =>
        selectEntries(
          sql.and([
            ofTenant(tenant),
            ...(query.after !== undefined ? [sql`idx > ${query.after}`] : []),
            ...(query.subject !== undefined ? [sql`subject_id = ${query.subject}`] : []),
            ...(query.actor !== undefined ? [sql`actor_kind = ${query.actor.kind}`] : []),
            ...(query.actor !== undefined && "id" in query.actor ? [sql`actor_id = ${query.actor.id}`] : []),
            ...(query.actionPrefix !== undefined
              ? [sql`action LIKE ${query.actionPrefix.replace(/[\\%_]/g, (c) => `\\${c}`) + "%"}`]
              : []),
            ...(query.from !== undefined ? [sql`time >= ${storableTime(query.from)}`] : []),
            ...(query.to !== undefined ? [sql`time < ${storableTime(query.to)}`] : [])
          ]),
          query.limit
        ).pipe(Effect.mapError(fail("entries"))),
      scan: (tenant, from, limit) =>
        selectEntries(sql.and([sql`tenant_id = ${tenant}`, sql`idx >= ${from}`]), limit).pipe(
          Effect.mapError(fail("scan"))
        ),
      // The oldest entries with details, through the time index from the tenant's watermark
      // (migration 0003): every entry before it has none, but for the subjects recorded in
      // `lawful_audit_redactions_skipped` (migration 0004), which a batch excluded. A batch without
      // a prefix first redacts the entries behind the watermark of those no longer excluded,
      // through the subject index, then goes on from the watermark, skipping excluded subjects and
      // recording those it passed. Bitmap scans are off in the transaction (a tenant larger than
      // the statistics' average looked cheap to read whole and sort), and each entry is updated by
      // its key. After a batch without a prefix, every entry before the last one it redacted has
      // none (they go oldest first), or, when it found fewer than `limit`, every entry before
      // `before`: the watermark moves there, but never past the log's newest entry.
      //
      // That holds only for the entries the batch could see. An entry's time is its appender's
      // clock, taken before its commit: an entry committed after the batch (an append that waited
      // in a batch meanwhile, or a process whose clock is behind) may be timed behind the
      // watermark. So the watermark is a time and a size (migration 0007): every entry below the
      // size and before the time has no details. The size is the log's, read before the batch
      // reads anything: every entry below it was committed then and is seen by the batch's reads.
      // Entries at or past the size ("late" ones) are read through the primary key whatever their
      // time, those timed before the watermark taken with the others, oldest first. The watermark
      // moves (time and size together) only forward in time; a batch that ends behind it (its
      // `limit` reached among late entries) leaves it, and the next batch reads them again.
      // The tenant's redactions are locked first (`lockRedactions`), with or without a prefix: its
      // batches run one at a time, and take turns with its de-links.
      redactDetails: (tenant, { actionPrefix, before: asked, excludeSubjects, limit }, record) =>
        Effect.gen(function*() {
          const before = storableTime(asked)
          const excluded = [...(excludeSubjects ?? [])]
          const notExcluded = notOf(excluded)
          // Redacts the entries `chosen` selects by index, each updated by its key.
          const redact = (chosen: Statement.Fragment) =>
            sql<{ idx: string; time: Date }>`
              UPDATE lawful_audit_entries SET details = NULL, details_salt = NULL
              WHERE tenant_id = (SELECT ${tenant}::uuid) AND idx = ANY(ARRAY(${chosen}))
              RETURNING idx, time`
          const oldest = (where: Statement.Fragment, count: number) =>
            sql`SELECT idx FROM lawful_audit_entries
              WHERE tenant_id = (SELECT ${tenant}::uuid) AND details IS NOT NULL AND ${where}
              ORDER BY time, idx LIMIT ${count}`
          const indices = (rows: ReadonlyArray<{ readonly idx: string }>) =>
            rows.map((row) => Number(row.idx)).sort((a, b) => a - b)
          yield* lockRedactions(tenant)
          if (actionPrefix !== undefined) {
            yield* sql`SELECT set_config('enable_bitmapscan', 'off', true)`
            const rows = yield* redact(oldest(
              sql`time < ${before} AND action LIKE ${actionPrefix.replace(/[\\%_]/g, (c) => `\\${c}`) + "%"} ${notExcluded}`,
              limit
            ))
            return indices(rows)
          }
          // The watermark, and the log's size before the batch reads any entry, from its newest entry
          // by the primary key (not the state row, which raw SQL may have deleted): read in a
          // statement before the reads that follow, so every entry below it (entries commit in index
          // order) is committed and seen by them. The same statement turns bitmap scans off for
          // the transaction.
          const [read] = yield* sql<{
            newest_idx: string | null
            redacted_before: Date | null
            redacted_size: string | null
            skipped: ReadonlyArray<SubjectId>
          }>`
            SELECT
              (SELECT idx FROM lawful_audit_entries WHERE tenant_id = (SELECT ${tenant}::uuid) ORDER BY idx DESC LIMIT 1)
                AS newest_idx,
              r.redacted_before, r.redacted_size,
              ARRAY(SELECT subject_id FROM lawful_audit_redactions_skipped WHERE tenant_id = ${tenant}) AS skipped,
              set_config('enable_bitmapscan', 'off', true) AS bitmap_scans
            FROM (SELECT 1) AS one LEFT JOIN lawful_audit_redactions r ON r.tenant_id = ${tenant}`
          const mark = read!.redacted_before === null
            ? undefined
            : { redacted_before: read!.redacted_before, redacted_size: read!.redacted_size!, skipped: read!.skipped }
          const sizeNow = read!.newest_idx === null ? 0 : Number(read!.newest_idx) + 1
          const released = mark?.skipped.filter((subject) => !excludeSubjects?.has(subject)) ?? []
          // Each subject's entries through the subject index, a subquery per subject (`OFFSET 0`):
          // taken together in time order, the time index could look cheaper, and it reads the
          // tenant's log from its first entry.
          const behind = mark !== undefined && released.length > 0
            ? yield* redact(sql`
              SELECT e.idx FROM unnest(${released}::uuid[]) AS s(subject_id)
              CROSS JOIN LATERAL (
                SELECT idx, time FROM lawful_audit_entries
                WHERE tenant_id = (SELECT ${tenant}::uuid) AND subject_id = s.subject_id AND details IS NOT NULL
                  AND time < ${new Date(Math.min(before.getTime(), mark.redacted_before.getTime()))}
                OFFSET 0
              ) e
              ORDER BY e.time, e.idx LIMIT ${limit}`)
            : []
          if (mark !== undefined && released.length > 0 && behind.length < limit && before >= mark.redacted_before) {
            yield* sql`
              DELETE FROM lawful_audit_redactions_skipped
              WHERE tenant_id = ${tenant} AND subject_id = ANY(${released}::uuid[])`
          }
          const remaining = limit - behind.length
          if (remaining === 0) return indices(behind)
          const from = mark !== undefined ? sql`AND time >= ${mark.redacted_before}` : sql``
          // The late entries (`lateEntries`), up to the log's size: bounded by it, the range is
          // estimated as the few rows it is; unbounded, a scan of the table looked cheaper. Those
          // appended since are the next batch's: the watermark's size moves only to the log's.
          const late = mark !== undefined && sizeNow > Number(mark.redacted_size)
            ? sql`${
              lateEntries(tenant, {
                size: sql`${mark.redacted_size}::bigint`,
                before: sql`${mark.redacted_before}`,
                until: sql`${sizeNow}::bigint`
              })
            } late`
            : undefined
          const rows = yield* redact(
            late === undefined ? oldest(sql`time < ${before} ${from} ${notExcluded}`, remaining) : sql`
              SELECT idx FROM (
                (SELECT idx, time FROM lawful_audit_entries
                  WHERE tenant_id = (SELECT ${tenant}::uuid) AND details IS NOT NULL AND time < ${before} ${from} ${notExcluded}
                  ORDER BY time, idx LIMIT ${remaining})
                UNION ALL
                (SELECT idx, time FROM ${late} WHERE time < ${before} ${notExcluded} ORDER BY time, idx LIMIT ${remaining})
              ) chosen
              ORDER BY time, idx LIMIT ${remaining}`
          )
          // Up to the last entry redacted, or, all found, to `before`, but never past the log's newest
          // entry (read by the time index): entries appended from now on, this redaction's own entry
          // first, are timed from there on, and a watermark at a `before` still to come would leave
          // them behind it with their details, never redacted. A log without entries keeps its mark.
          const [newest] = rows.length < remaining
            ? yield* sql<{ time: Date }>`
              SELECT time FROM lawful_audit_entries WHERE tenant_id = (SELECT ${tenant}::uuid) ORDER BY time DESC LIMIT 1`
            : []
          if (rows.length < remaining && newest === undefined) return indices(behind)
          const reached = rows.length < remaining
            ? new Date(Math.min(before.getTime(), newest!.time.getTime()))
            : new Date(Math.max(...rows.map((row) => row.time.getTime())))
          // Forward in time only: a batch that ended behind the watermark (among late entries) leaves it.
          if (mark !== undefined && reached < mark.redacted_before) return indices([...behind, ...rows])
          yield* sql`
            INSERT INTO lawful_audit_redactions (tenant_id, redacted_before, redacted_size)
            VALUES (${tenant}, ${reached}, ${sizeNow})
            ON CONFLICT (tenant_id) DO UPDATE
            SET redacted_before = EXCLUDED.redacted_before, redacted_size = EXCLUDED.redacted_size`
          if (excluded.length > 0) {
            // The entries the batch passed, read again through the time index (`OFFSET 0` keeps the
            // subject test out of the scan, so the subject index, which would read each excluded
            // subject's whole history, is not a choice), and the late ones it passed.
            yield* sql`
              INSERT INTO lawful_audit_redactions_skipped (tenant_id, subject_id)
              SELECT DISTINCT ${tenant}::uuid, subject_id FROM (
                SELECT subject_id FROM lawful_audit_entries
                WHERE tenant_id = (SELECT ${tenant}::uuid) AND details IS NOT NULL AND time < ${reached} ${from}
                ORDER BY time
                OFFSET 0
              ) passed
              WHERE subject_id = ANY(${excluded}::uuid[])
              ${late === undefined ? sql`` : sql`UNION SELECT ${tenant}::uuid, subject_id FROM ${late} WHERE subject_id = ANY(${excluded}::uuid[])`}
              ON CONFLICT DO NOTHING`
          }
          return indices([...behind, ...rows])
        }).pipe(Effect.mapError(fail("redactDetails")), recordedIn("redactDetails", record)),
      // As a redaction without a prefix finds them: through the time index from the watermark, the
      // entries left behind it of the subjects no longer excluded, through the subject index, and
      // the late entries (from the watermark's size on, timed before it), through the primary key.
      countDetails: (tenant, { before: asked, excludeSubjects }) => {
        const before = storableTime(asked)
        const { behind, fromWatermark, late } = withDetails(tenant, excludeSubjects)
        return sql<{ n: string | number }>`
          SELECT (
            SELECT count(*) FROM lawful_audit_entries WHERE ${fromWatermark} AND time < ${before}::timestamptz
          ) + (
            SELECT count(*) FROM ${behind(sql`least(${before}::timestamptz, ${watermark(tenant)})`)}
          ) + (
            SELECT count(*) FROM ${late} AND e.time < ${before}::timestamptz
          ) AS n`.pipe(
          Effect.map(([row]) => Number(row?.n ?? 0)),
          Effect.mapError(fail("countDetails"))
        )
      },
      oldestDetails: (tenant, { excludeSubjects }) => {
        const { behind, fromWatermark, late } = withDetails(tenant, excludeSubjects)
        return sql<{ oldest: Date | null }>`
          SELECT least(
            (SELECT time FROM lawful_audit_entries WHERE ${fromWatermark} ORDER BY time LIMIT 1),
            (SELECT min(e.time) FROM ${behind(watermark(tenant))}),
            (SELECT min(e.time) FROM ${late})
          ) AS oldest`.pipe(
          Effect.map(([row]) => Option.fromNullable(row?.oldest)),
          Effect.mapError(fail("oldestDetails"))
        )
      },
      // Entries left behind the redaction watermark with their details (migration 0004) cannot be
      // found by subject once de-linked: the watermark moves back to the first of them. The
      // tenant's redactions are locked first, so no redaction batch passes the subject's entries
      // meanwhile. Every redaction takes that lock before it updates an entry: it locks entries and
      // then the state row (its own entry's append), the de-link the other way round, and without
      // that lock first the two would deadlock.
      //
      // Then the log's state row, with the lock an append's `UPDATE` of it takes, until the de-link's
      // own entry commits: an append whose transaction holds the row (its entries written, not yet
      // committed, where the `UPDATE` below cannot see them) is waited for and de-linked with the
      // others, and an append after waits and comes after the de-link's entry. A log without a state
      // row gets one (empty, as a log's first append finds it), so that its first append, whose
      // insert of that row is not committed yet, is waited for too (the insert waits for it); if the
      // log is still empty at the end (no `record`), it goes again.
      delinkSubject: (tenant, subject, record) =>
        Effect.gen(function*() {
          yield* lockRedactions(tenant)
          const created = yield* sql`
            INSERT INTO lawful_audit_logs (tenant_id, size, frontier, root)
            VALUES (${tenant}, 0, ${concat([])}, ${buffer(MerkleTree.emptyRoot)})
            ON CONFLICT (tenant_id) DO NOTHING
            RETURNING 1`
          yield* sql`SELECT 1 FROM lawful_audit_logs WHERE tenant_id = ${tenant} FOR NO KEY UPDATE`
          yield* sql`
            WITH skipped AS (
              DELETE FROM lawful_audit_redactions_skipped WHERE tenant_id = ${tenant} AND subject_id = ${subject}
              RETURNING 1
            )
            UPDATE lawful_audit_redactions SET redacted_before = least(redacted_before, (
              SELECT min(time) FROM lawful_audit_entries
              WHERE ${ofTenant(tenant)} AND subject_id = ${subject} AND details IS NOT NULL
            ))
            WHERE tenant_id = ${tenant} AND EXISTS (SELECT 1 FROM skipped)`
          const rows = yield* sql<{ idx: string }>`
            UPDATE lawful_audit_entries SET subject_id = NULL, subject_salt = NULL
            WHERE tenant_id = ${tenant} AND subject_id = ${subject}
            RETURNING idx`
          return { delinked: rows.length, created: created.length > 0 }
        }).pipe(
          Effect.mapError(fail("delinkSubject")),
          recordedIn("delinkSubject", record === undefined ? undefined : ({ delinked }) => record(delinked), ({ created }) =>
            created
              ? Effect.mapError(sql`DELETE FROM lawful_audit_logs WHERE tenant_id = ${tenant} AND size = 0`, fail("delinkSubject"))
              : Effect.void),
          Effect.map(({ delinked }) => delinked)
        ),
      saveCheckpoint: (tenant, checkpoint) =>
        sql`INSERT INTO lawful_audit_checkpoints (tenant_id, size, root, note)
          VALUES (${tenant}, ${checkpoint.size}, ${buffer(checkpoint.root)}, ${checkpoint.note})
          ON CONFLICT (tenant_id, size) DO NOTHING`.pipe(
          Effect.asVoid,
          Effect.mapError(fail("saveCheckpoint"))
        ),
      // Each reads the (tenant_id, size) key: a page from `from` on, or one row from its end or from
      // `index` on.
      checkpoints: (tenant, { from, limit }) =>
        sql<CheckpointRow>`
          SELECT size, root, note FROM lawful_audit_checkpoints WHERE tenant_id = ${tenant} AND size >= ${from}
          ORDER BY size LIMIT ${limit}`.pipe(
          Effect.map((rows) => rows.map(toCheckpoint)),
          Effect.mapError(fail("checkpoints"))
        ),
      latestCheckpoint: (tenant) =>
        sql<CheckpointRow>`
          SELECT size, root, note FROM lawful_audit_checkpoints WHERE tenant_id = ${tenant}
          ORDER BY size DESC LIMIT 1`.pipe(
          Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toCheckpoint)),
          Effect.mapError(fail("latestCheckpoint"))
        ),
      checkpointCovering: (tenant, index) =>
        sql<CheckpointRow>`
          SELECT size, root, note FROM lawful_audit_checkpoints WHERE tenant_id = ${tenant} AND size > ${index}
          ORDER BY size LIMIT 1`.pipe(
          Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toCheckpoint)),
          Effect.mapError(fail("checkpointCovering"))
        ),
      // The state rows, and the tenants of the entries and of the checkpoints of non-empty trees,
      // each read as a skip scan of its primary key (one probe per tenant, not every row): a state
      // row deleted behind the log's back must not hide the tenant from verification.
      tenants: sql<{ tenant_id: TenantId }>`
        WITH RECURSIVE
          entries AS (
            (SELECT tenant_id FROM lawful_audit_entries ORDER BY tenant_id LIMIT 1)
            UNION ALL
            SELECT (SELECT e.tenant_id FROM lawful_audit_entries e WHERE e.tenant_id > entries.tenant_id
              ORDER BY e.tenant_id LIMIT 1)
            FROM entries WHERE entries.tenant_id IS NOT NULL
          ),
          checkpoints AS (
            (SELECT tenant_id FROM lawful_audit_checkpoints WHERE size > 0 ORDER BY tenant_id LIMIT 1)
            UNION ALL
            SELECT (SELECT c.tenant_id FROM lawful_audit_checkpoints c WHERE c.tenant_id > checkpoints.tenant_id
              AND c.size > 0 ORDER BY c.tenant_id LIMIT 1)
            FROM checkpoints WHERE checkpoints.tenant_id IS NOT NULL
          )
        SELECT tenant_id FROM lawful_audit_logs
        UNION SELECT tenant_id FROM entries WHERE tenant_id IS NOT NULL
        UNION SELECT tenant_id FROM checkpoints WHERE tenant_id IS NOT NULL
        ORDER BY tenant_id`.pipe(
        Effect.map((rows) => rows.map((row) => row.tenant_id)),
        Effect.mapError(fail("tenants"))
      )
    }))
  })
)
