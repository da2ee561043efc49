/**
 * Where the Vault keeps its wrapped keys: one key per tenant (wrapped by the
 * master key) and one per subject (wrapped by its tenant's key). A shredded
 * subject keeps a tombstone without key material: the erasure ledger.
 *
 * The keys live in their own tables (`lawful_vault_*`) so that a deployment
 * can keep them in a database of their own. Nothing here is ever logged.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlSchema from "@effect/sql/SqlSchema"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { inTransaction, outsideTransactionAll, safeSqlError, withTransaction } from "./Database.js"
import { noSubjects, refusalOfIds } from "./internal/refusal.js"
import * as Migrations from "./Migrations.js"
import { SubjectId } from "./SubjectId.js"
import { TenantId } from "./TenantId.js"

/**
 * A key encrypted under another key, with the id of the key that wraps it.
 *
 * @since 0.1.0
 * @category models
 */
export interface WrappedKey {
  readonly wrappedBy: string
  readonly ciphertext: Uint8Array
}

/**
 * The stored state of a subject's key: present, or shredded at a time.
 *
 * @since 0.1.0
 * @category models
 */
export type SubjectKeyState =
  | { readonly _tag: "Active"; readonly key: WrappedKey }
  | { readonly _tag: "Shredded"; readonly shreddedAt: Date }

/**
 * An entry of the erasure ledger.
 *
 * @since 0.1.0
 * @category models
 */
export class Erasure extends Schema.Class<Erasure>("@lawful/core/KeyStore/Erasure")({
  tenantId: TenantId,
  subjectId: SubjectId,
  shreddedAt: Schema.DateFromSelf
}) {}

/**
 * The key store failed (the database is unreachable, a statement failed: its `cause` is the
 * `SqlError` as `Database.safeSqlError` keeps it, or for a row read back that its Schema refuses
 * the `RowInvalid` error it makes of the `ParseError`), or the Vault refused what a caller without
 * types gave it, before reading or writing any key: a tenant or subject id that is not a
 * lower-case UUID, a list that is not an array (`sealAll`, `openAll`, `shreddedAmong`) or not
 * iterable (`reapplyErasures`), a plaintext to seal that is neither text nor bytes (`seal`,
 * `sealAll`). Such a refusal names the Vault's operation, and its `cause` says what was wrong,
 * never quoting what was given. The memory and SQL key stores refuse alike, naming their own
 * operation (`subjectKeys`), an id that is not one or a list of subjects that is not an array.
 *
 * @since 0.1.0
 * @category errors
 */
export class KeyStoreError extends Schema.TaggedError<KeyStoreError>()("KeyStoreError", {
  operation: Schema.String,
  cause: Schema.Defect
}) {
  override get message(): string {
    return `Key store operation ${this.operation} failed`
  }
}

/**
 * The master key of `keyId` is one that a completed rotation retired, and a retired key wraps
 * nothing new: it may be destroyed once retired (perhaps it leaked), and what it wraps with it.
 * The key store refuses with it a new tenant key, or a tenant key re-wrapped, under a retired
 * master key (`createTenantKey`, `replaceTenantKey`, nothing written), in one step with the write,
 * so that no retirement can come between the check and the write. For the Vault (which re-exports it as
 * `Vault.MasterKeyRetired`) that key is its current one, `LAWFUL_MASTER_KEY`: a Vault on it makes
 * no new tenant key (`seal`, `sealAll`, `newSubject(s)`, `prepare`, `blindIndex` of a tenant
 * without a key fail with it, writing nothing), its layer does not build (start-up stops with
 * this error's one line), and `rotateMasterKey` to it, which would re-wrap every tenant key back
 * under it, fails before it re-wraps anything (a run under way when another process retires its
 * key stops at its next page or re-wrap, and leaves no tenant key wrapped by it). Names the key by its id, a
 * fingerprint that reveals nothing of the key. Set `LAWFUL_MASTER_KEY` to the key in service.
 *
 * @since 0.1.0
 * @category errors
 */
export class MasterKeyRetired extends Schema.TaggedError<MasterKeyRetired>()("MasterKeyRetired", {
  keyId: Schema.String
}) {
  override get message(): string {
    return `LAWFUL_MASTER_KEY is master key ${this.keyId}, which a completed rotation retired: ` +
      "set LAWFUL_MASTER_KEY to the key in service, the one that rotation made current (docs/operations.md, \"Rotating it\")"
  }
}

/**
 * @since 0.1.0
 * @category services
 */
export class KeyStore extends Context.Tag("@lawful/core/KeyStore")<KeyStore, {
  readonly tenantKey: (tenant: TenantId) => Effect.Effect<Option.Option<WrappedKey>, KeyStoreError>
  /**
   * Stores the tenant's key unless one exists; returns the key that is stored. In one step with
   * the check that the master key wrapping `key` (`key.wrappedBy`) is not retired: when it is,
   * fails with `MasterKeyRetired` and writes nothing. A store must serialise this step with
   * `retireMasterKeys` (the SQL store locks the table of retired keys, in a mode in which
   * creations do not wait for each other), so that no key lands under a key retired meanwhile.
   */
  readonly createTenantKey: (tenant: TenantId, key: WrappedKey) => Effect.Effect<WrappedKey, KeyStoreError | MasterKeyRetired>
  /**
   * Tenant keys not wrapped by `keyId`, for re-wrapping: at most `limit`, in tenant id order
   * (the order of the ids' lower-case text, as PostgreSQL orders uuids), only those after the
   * tenant `after` when it is given. A store must honour `after`: rotation pages with it past
   * keys it cannot re-wrap, and dies on a page that goes back to or before its cursor.
   */
  readonly tenantKeysNotWrappedBy: (
    keyId: string,
    limit: number,
    after?: TenantId | undefined
  ) => Effect.Effect<ReadonlyArray<readonly [TenantId, WrappedKey]>, KeyStoreError>
  /**
   * Replaces a tenant key if it is still `previous`; false when it changed meanwhile. In one step
   * with the check that the master key wrapping `next` (`next.wrappedBy`) is not retired, as
   * `createTenantKey`: when it is, fails with `MasterKeyRetired` and writes nothing (a rotation
   * whose current key another process retired fails with it). A store must serialise this step
   * with `retireMasterKeys` as it does `createTenantKey` (the SQL store takes the same lock), so
   * that no key is re-wrapped under a key retired meanwhile. The SQL store refuses it inside a
   * transaction, with `KeyStoreError` and before any statement: the lock and the tenant's row would
   * be held until the outer commit (`Vault.rotateMasterKey`).
   */
  readonly replaceTenantKey: (
    tenant: TenantId,
    previous: WrappedKey,
    next: WrappedKey
  ) => Effect.Effect<boolean, KeyStoreError | MasterKeyRetired>
  /** Whether a completed rotation retired the master key of this id (`retireMasterKeys`). */
  readonly isMasterKeyRetired: (keyId: string) => Effect.Effect<boolean, KeyStoreError>
  /**
   * Records master keys as retired, by id (never the key), in one step with two checks: that the
   * master key `current` is not retired itself, and that no tenant key is still wrapped by one of
   * `keyIds` (a retired key may be destroyed, and a key it wraps with it). False, and nothing
   * recorded, when either fails. Idempotent. A store must serialise it with every other call and
   * with `createTenantKey` and `replaceTenantKey`: of two calls at once, each retiring the other's
   * current key, one records and the other answers false, and a tenant key's creation or re-wrap
   * under way when it is called is either refused or seen by it (the SQL store locks its table).
   * The SQL store refuses it inside a transaction, as `replaceTenantKey`.
   */
  readonly retireMasterKeys: (
    keyIds: ReadonlyArray<string>,
    current: string,
    at: Date
  ) => Effect.Effect<boolean, KeyStoreError>
  readonly subjectKey: (tenant: TenantId, subject: SubjectId) => Effect.Effect<Option.Option<SubjectKeyState>, KeyStoreError>
  /** `subjectKey` for many subjects of one tenant in one statement; subjects without a key are missing. */
  readonly subjectKeys: (
    tenant: TenantId,
    subjects: ReadonlyArray<SubjectId>
  ) => Effect.Effect<ReadonlyMap<SubjectId, SubjectKeyState>, KeyStoreError>
  /** Stores the subject's key unless a key or a tombstone exists; returns what is stored. */
  readonly createSubjectKey: (
    tenant: TenantId,
    subject: SubjectId,
    key: WrappedKey
  ) => Effect.Effect<SubjectKeyState, KeyStoreError>
  /** `createSubjectKey` for many subjects of one tenant in one statement; the state stored for each. */
  readonly createSubjectKeys: (
    tenant: TenantId,
    keys: ReadonlyArray<readonly [SubjectId, WrappedKey]>
  ) => Effect.Effect<ReadonlyMap<SubjectId, SubjectKeyState>, KeyStoreError>
  /** Destroys the key and leaves a tombstone; true when a key was destroyed or the tombstone is new. */
  readonly shred: (tenant: TenantId, subject: SubjectId, at: Date) => Effect.Effect<boolean, KeyStoreError>
  /** The erasure ledger of a tenant in (time, subject) order, a page at a time after a cursor. */
  readonly erasures: (
    tenant: TenantId,
    options: { readonly after?: Erasure | undefined; readonly limit: number }
  ) => Effect.Effect<ReadonlyArray<Erasure>, KeyStoreError>
}>() {}

const compareErasures = (a: Erasure, b: Erasure) =>
  a.shreddedAt.getTime() - b.shreddedAt.getTime() || (a.subjectId < b.subjectId ? -1 : a.subjectId > b.subjectId ? 1 : 0)

const bytesEqual = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0

// A call refused before any statement, saying why (never quoting what was given).
const refuse = (operation: string, why: string) => Effect.fail(new KeyStoreError({ operation, cause: new Error(why) }))

// Ids that are not ids, and a list that is not an array, are refused before anything is read or
// written, never quoted, by every store of this module alike (`refusalOfIds`).
const checked = <A, E>(
  operation: string,
  tenant: unknown,
  subjects: unknown,
  effect: () => Effect.Effect<A, E>,
  subjectOf?: (entry: unknown) => unknown
): Effect.Effect<A, E | KeyStoreError> => {
  const refused = refusalOfIds(tenant, subjects, subjectOf)
  return refused === undefined ? effect() : refuse(operation, refused)
}
const subjectOf = (entry: unknown): unknown => Array.isArray(entry) ? entry[0] : undefined
const withIdsChecked = (store: KeyStore["Type"]): KeyStore["Type"] =>
  KeyStore.of({
    ...store,
    tenantKey: (tenant) => checked("tenantKey", tenant, noSubjects, () => store.tenantKey(tenant)),
    createTenantKey: (tenant, key) => checked("createTenantKey", tenant, noSubjects, () => store.createTenantKey(tenant, key)),
    tenantKeysNotWrappedBy: (keyId, limit, after) =>
      after === undefined
        ? store.tenantKeysNotWrappedBy(keyId, limit)
        : checked("tenantKeysNotWrappedBy", after, noSubjects, () => store.tenantKeysNotWrappedBy(keyId, limit, after)),
    replaceTenantKey: (tenant, previous, next) =>
      checked("replaceTenantKey", tenant, noSubjects, () => store.replaceTenantKey(tenant, previous, next)),
    subjectKey: (tenant, subject) => checked("subjectKey", tenant, [subject], () => store.subjectKey(tenant, subject)),
    subjectKeys: (tenant, subjects) => checked("subjectKeys", tenant, subjects, () => store.subjectKeys(tenant, subjects)),
    createSubjectKey: (tenant, subject, key) =>
      checked("createSubjectKey", tenant, [subject], () => store.createSubjectKey(tenant, subject, key)),
    createSubjectKeys: (tenant, keys) =>
      checked("createSubjectKeys", tenant, keys, () => store.createSubjectKeys(tenant, keys), subjectOf),
    shred: (tenant, subject, at) => checked("shred", tenant, [subject], () => store.shred(tenant, subject, at)),
    erasures: (tenant, options) =>
      checked(
        "erasures",
        tenant,
        options.after === undefined ? noSubjects : [(options.after as Partial<Erasure> | null)?.subjectId],
        () => store.erasures(tenant, options)
      )
  })

/**
 * A key store in memory, for tests and for users who bring no database.
 * Its keys end with the process, and so does everything sealed with them.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<KeyStore> = Layer.sync(KeyStore, () => withIdsChecked(memoryStore()))

const memoryStore = (): KeyStore["Type"] => {
  const tenants = new Map<TenantId, WrappedKey>()
  const subjects = new Map<string, SubjectKeyState>()
  const ledger: Array<Erasure> = []
  const retired = new Map<string, Date>()
  const subjectKeyOf = (tenant: TenantId, subject: SubjectId) => `${tenant}/${subject}`
  return {
    tenantKey: (tenant) => Effect.sync(() => Option.fromNullable(tenants.get(tenant))),
    createTenantKey: (tenant, key) =>
      Effect.suspend(() => {
        if (retired.has(key.wrappedBy)) return Effect.fail(new MasterKeyRetired({ keyId: key.wrappedBy }))
        const existing = tenants.get(tenant)
        if (existing) return Effect.succeed(existing)
        tenants.set(tenant, key)
        return Effect.succeed(key)
      }),
    tenantKeysNotWrappedBy: (keyId, limit, after) =>
      Effect.sync(() =>
        [...tenants.entries()]
          .filter(([tenant, key]) => key.wrappedBy !== keyId && (after === undefined || tenant > after))
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .slice(0, limit)
      ),
    replaceTenantKey: (tenant, previous, next) =>
      Effect.suspend(() => {
        if (retired.has(next.wrappedBy)) return Effect.fail(new MasterKeyRetired({ keyId: next.wrappedBy }))
        const current = tenants.get(tenant)
        if (!current || current.wrappedBy !== previous.wrappedBy || !bytesEqual(current.ciphertext, previous.ciphertext)) {
          return Effect.succeed(false)
        }
        tenants.set(tenant, next)
        return Effect.succeed(true)
      }),
    isMasterKeyRetired: (keyId) => Effect.sync(() => retired.has(keyId)),
    retireMasterKeys: (keyIds, current, at) =>
      Effect.sync(() => {
        if (retired.has(current)) return false
        const retiring = new Set(keyIds)
        for (const key of tenants.values()) if (retiring.has(key.wrappedBy)) return false
        for (const keyId of retiring) if (!retired.has(keyId)) retired.set(keyId, at)
        return true
      }),
    subjectKey: (tenant, subject) => Effect.sync(() => Option.fromNullable(subjects.get(subjectKeyOf(tenant, subject)))),
    subjectKeys: (tenant, wanted) =>
      Effect.sync(() => {
        const states = new Map<SubjectId, SubjectKeyState>()
        for (const subject of wanted) {
          const state = subjects.get(subjectKeyOf(tenant, subject))
          if (state) states.set(subject, state)
        }
        return states
      }),
    createSubjectKey: (tenant, subject, key) =>
      Effect.sync(() => {
        const id = subjectKeyOf(tenant, subject)
        const existing = subjects.get(id)
        if (existing) return existing
        const state: SubjectKeyState = { _tag: "Active", key }
        subjects.set(id, state)
        return state
      }),
    createSubjectKeys: (tenant, keys) =>
      Effect.sync(() => {
        const states = new Map<SubjectId, SubjectKeyState>()
        for (const [subject, key] of keys) {
          const id = subjectKeyOf(tenant, subject)
          const state = subjects.get(id) ?? { _tag: "Active", key }
          subjects.set(id, state)
          states.set(subject, state)
        }
        return states
      }),
    shred: (tenant, subject, at) =>
      Effect.sync(() => {
        const id = subjectKeyOf(tenant, subject)
        if (subjects.get(id)?._tag === "Shredded") return false
        subjects.set(id, { _tag: "Shredded", shreddedAt: at })
        ledger.push(new Erasure({ tenantId: tenant, subjectId: subject, shreddedAt: at }))
        return true
      }),
    erasures: (tenant, { after, limit }) =>
      Effect.sync(() =>
        ledger
          .filter((e) => e.tenantId === tenant && (after === undefined || compareErasures(e, after) > 0))
          .sort(compareErasures)
          .slice(0, limit)
      )
  }
}

const migrations: Record<string, Migrations.Migration> = {
  "0001_vault_keys": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`
      CREATE TABLE lawful_vault_tenant_keys (
        tenant_id uuid PRIMARY KEY,
        wrapped_by text NOT NULL,
        ciphertext bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX lawful_vault_tenant_keys_wrapped_by ON lawful_vault_tenant_keys (wrapped_by, tenant_id);
      CREATE TABLE lawful_vault_subject_keys (
        tenant_id uuid NOT NULL,
        subject_id uuid NOT NULL,
        wrapped_by text,
        ciphertext bytea,
        shredded_at timestamptz,
        PRIMARY KEY (tenant_id, subject_id),
        CHECK ((ciphertext IS NULL) = (shredded_at IS NOT NULL))
      );
      CREATE INDEX lawful_vault_subject_keys_erasures ON lawful_vault_subject_keys (tenant_id, shredded_at)
        WHERE shredded_at IS NOT NULL;
    `),
  // The ledger is paged in (shredded_at, subject_id) order: with the subject in the index, a page
  // is a range of it. Without, each page read every erasure after its cursor, and sorted them,
  // when the planner did not know the tenant (1,500 rows read for a page of ten in the test).
  "0002_erasures_in_order": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`
      CREATE INDEX lawful_vault_subject_keys_ledger ON lawful_vault_subject_keys (tenant_id, shredded_at, subject_id)
        WHERE shredded_at IS NOT NULL;
      DROP INDEX lawful_vault_subject_keys_erasures;
    `),
  // Master keys a completed rotation retired, by id (a fingerprint): never the key itself.
  "0003_retired_master_keys": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`
      CREATE TABLE lawful_vault_retired_master_keys (
        key_id text PRIMARY KEY,
        retired_at timestamptz NOT NULL
      )
    `)
}

const TenantKeyRow = Schema.Struct({
  tenant_id: TenantId,
  wrapped_by: Schema.String,
  ciphertext: Schema.Uint8ArrayFromSelf
})

const SubjectKeyRow = Schema.Struct({
  wrapped_by: Schema.NullOr(Schema.String),
  ciphertext: Schema.NullOr(Schema.Uint8ArrayFromSelf),
  shredded_at: Schema.NullOr(Schema.DateFromSelf)
})

const ErasureRow = Schema.Struct({
  tenant_id: TenantId,
  subject_id: SubjectId,
  shredded_at: Schema.DateFromSelf
})

const toSubjectState = (row: typeof SubjectKeyRow.Type): SubjectKeyState =>
  row.shredded_at !== null
    ? { _tag: "Shredded", shreddedAt: row.shredded_at }
    : { _tag: "Active", key: { wrappedBy: row.wrapped_by!, ciphertext: row.ciphertext! } }

/**
 * The key store on SQL (PostgreSQL or PGlite), migrated on start-up.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSql: Layer.Layer<KeyStore, Migrations.MigrationFailed, SqlClient.SqlClient> = Layer.effect(
  KeyStore,
  Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    yield* Migrations.run("vault", migrations).pipe(Effect.provideService(SqlClient.SqlClient, sql))

    const fail = (operation: string) => (cause: unknown) => new KeyStoreError({ operation, cause: safeSqlError(cause) })
    const bytes = (value: Uint8Array) => Buffer.from(value.buffer, value.byteOffset, value.byteLength)

    const findTenantKey = SqlSchema.findOne({
      Request: TenantId,
      Result: TenantKeyRow,
      execute: (tenant) =>
        sql`SELECT tenant_id, wrapped_by, ciphertext FROM lawful_vault_tenant_keys WHERE tenant_id = ${tenant}`
    })

    const findSubjectKey = SqlSchema.findOne({
      Request: Schema.Struct({ tenant: TenantId, subject: SubjectId }),
      Result: SubjectKeyRow,
      execute: ({ subject, tenant }) =>
        sql`SELECT wrapped_by, ciphertext, shredded_at FROM lawful_vault_subject_keys
            WHERE tenant_id = ${tenant} AND subject_id = ${subject}`
    })

    const insertSubjectKey = SqlSchema.findAll({
      Request: Schema.Struct({
        tenant: TenantId,
        subject: SubjectId,
        wrappedBy: Schema.String,
        ciphertext: Schema.Uint8ArrayFromSelf
      }),
      Result: SubjectKeyRow,
      // One statement: the new row, or the row that was there already.
      execute: ({ ciphertext, subject, tenant, wrappedBy }) =>
        sql`WITH inserted AS (
              INSERT INTO lawful_vault_subject_keys (tenant_id, subject_id, wrapped_by, ciphertext)
              VALUES (${tenant}, ${subject}, ${wrappedBy}, ${bytes(ciphertext)})
              ON CONFLICT (tenant_id, subject_id) DO NOTHING
              RETURNING wrapped_by, ciphertext, shredded_at
            )
            SELECT * FROM inserted
            UNION ALL
            SELECT wrapped_by, ciphertext, shredded_at FROM lawful_vault_subject_keys
            WHERE tenant_id = ${tenant} AND subject_id = ${subject} AND NOT EXISTS (SELECT 1 FROM inserted)`
    })

    // A key created in a caller's transaction would vanish if it rolled back, while the Vault
    // already holds it in memory and seals with it: data sealed meanwhile and kept elsewhere, or
    // sealed after, would never open again. Keys are created outside transactions, or on a
    // database of their own (`layerClient`, whose statements leave the caller's transaction out).
    const toWrappedKey = (row: { readonly wrapped_by: string; readonly ciphertext: Uint8Array }): WrappedKey => ({
      wrappedBy: row.wrapped_by,
      ciphertext: row.ciphertext
    })
    const readTenantKey = (tenant: TenantId) =>
      findTenantKey(tenant).pipe(
        Effect.map(Option.map(toWrappedKey)),
        Effect.mapError(fail("tenantKey"))
      )
    const readSubjectKey = (tenant: TenantId, subject: SubjectId) =>
      findSubjectKey({ tenant, subject }).pipe(
        Effect.map(Option.map(toSubjectState)),
        Effect.mapError(fail("subjectKey"))
      )
    const subjectKeysOf = (tenant: TenantId, subjects: ReadonlyArray<SubjectId>) =>
      subjects.length === 0 ? Effect.succeed(new Map<SubjectId, SubjectKeyState>()) : Effect.gen(function*() {
        const rows = yield* sql<{ subject_id: SubjectId } & typeof SubjectKeyRow.Encoded>`
          SELECT subject_id, wrapped_by, ciphertext, shredded_at FROM lawful_vault_subject_keys
          WHERE tenant_id = ${tenant} AND subject_id = ANY(${[...new Set(subjects)]}::uuid[])`
        const states = new Map<SubjectId, SubjectKeyState>()
        for (const row of rows) {
          states.set(row.subject_id, toSubjectState(yield* Schema.decodeUnknown(SubjectKeyRow)(row)))
        }
        return states
      }).pipe(Effect.mapError(fail("subjectKeys")))
    // Every one of the subjects' keys, when all exist.
    const readSubjectKeys = (tenant: TenantId, subjects: ReadonlyArray<SubjectId>) =>
      Effect.map(subjectKeysOf(tenant, subjects), (states) =>
        subjects.every((subject) => states.has(subject)) ? Option.some(states) : Option.none())

    // A write the key store refuses inside a caller's transaction (`refuse`, below) comes before
    // any statement, so that the caller's transaction goes on. (`layerClient` takes its calls out
    // of the caller's transaction: they are never refused.)

    // Inside a transaction, keys that exist already are returned; only a creation is refused.
    const outsideOnly = <A, E>(
      operation: string,
      existing: Effect.Effect<Option.Option<A>, KeyStoreError>,
      create: Effect.Effect<A, E>
    ): Effect.Effect<A, E | KeyStoreError> =>
      Effect.flatMap(inTransaction, (joined): Effect.Effect<A, E | KeyStoreError> =>
        joined
          ? Effect.flatMap(existing, Option.match({
            onSome: Effect.succeed,
            onNone: () =>
              refuse(
                operation,
                "keys are not created inside a transaction, which could roll them back after the Vault used them: " +
                  "make them before it (Vault.prepare for the tenant and its new subjects), " +
                  "or keep the keys in a database of their own (KeyStore.layerClient)"
              )
          }))
          : create)

    // A re-wrap or a retirement inside a caller's transaction (a savepoint) would hold its lock of
    // the retired keys' table, and a re-wrap its tenant's row, until the outer commit: every new
    // tenant key would wait for it, and a rotation of another process, waiting for that row while
    // holding the lock in the creations' mode, would deadlock with this one's retirement.
    const outsideTransactionOnly = <A, E>(
      operation: string,
      effect: Effect.Effect<A, E>
    ): Effect.Effect<A, E | KeyStoreError> =>
      Effect.flatMap(inTransaction, (joined): Effect.Effect<A, E | KeyStoreError> =>
        joined
          ? refuse(
            operation,
            "tenant keys are re-wrapped, and master keys retired, not inside a transaction, which would hold " +
              "their lock until it commits, holding up every new tenant key, and could deadlock with a rotation " +
              "of another process: run Vault.rotateMasterKey outside any transaction, " +
              "or keep the keys in a database of their own (KeyStore.layerClient)"
          )
          : effect)

    // The check that the wrapping master key is not retired, before the insert or the re-wrap in
    // the same transaction, under a lock of the retired keys' table: ROW EXCLUSIVE, which creations
    // and re-wraps take together, but which waits for a retirement under way (SHARE ROW
    // EXCLUSIVE) and holds the next back until it commits. So a retirement either comes first,
    // and the check sees it, or sees the key.
    const refuseRetiredUnderLock = (key: WrappedKey) =>
      Effect.gen(function*() {
        yield* sql`LOCK TABLE lawful_vault_retired_master_keys IN ROW EXCLUSIVE MODE`
        const retired = yield* sql`SELECT 1 FROM lawful_vault_retired_master_keys WHERE key_id = ${key.wrappedBy}`
        if (retired.length > 0) return yield* new MasterKeyRetired({ keyId: key.wrappedBy })
      })
    const insertTenantKey = (tenant: TenantId, key: WrappedKey) =>
      Effect.gen(function*() {
        yield* refuseRetiredUnderLock(key)
        yield* sql`INSERT INTO lawful_vault_tenant_keys (tenant_id, wrapped_by, ciphertext)
          VALUES (${tenant}, ${key.wrappedBy}, ${bytes(key.ciphertext)})
          ON CONFLICT (tenant_id) DO NOTHING`
        const stored = yield* findTenantKey(tenant)
        if (Option.isNone(stored)) return yield* Effect.dieMessage("tenant key vanished after insert")
        return toWrappedKey(stored.value)
      }).pipe(
        withTransaction(sql),
        Effect.mapError((error) => error instanceof MasterKeyRetired ? error : fail("createTenantKey")(error))
      )

    return withIdsChecked({
      tenantKey: readTenantKey,
      createTenantKey: (tenant, key) =>
        outsideOnly("createTenantKey", readTenantKey(tenant), insertTenantKey(tenant, key)),
      tenantKeysNotWrappedBy: (keyId, limit, after) =>
        SqlSchema.findAll({
          Request: Schema.Void,
          Result: TenantKeyRow,
          execute: () =>
            sql`SELECT tenant_id, wrapped_by, ciphertext FROM lawful_vault_tenant_keys
              WHERE wrapped_by <> ${keyId} ${after === undefined ? sql`` : sql`AND tenant_id > ${after}`}
              ORDER BY tenant_id LIMIT ${limit}`
        })(undefined).pipe(
          Effect.map((rows) =>
            rows.map((row) => [row.tenant_id, toWrappedKey(row)] as const)
          ),
          Effect.mapError(fail("tenantKeysNotWrappedBy"))
        ),
      // Under the same lock as `insertTenantKey`: a retirement either comes first, and the check
      // sees it, or sees the key re-wrapped.
      replaceTenantKey: (tenant, previous, next) =>
        outsideTransactionOnly(
          "replaceTenantKey",
          Effect.gen(function*() {
            yield* refuseRetiredUnderLock(next)
            const rows = yield* sql<{ tenant_id: string }>`UPDATE lawful_vault_tenant_keys
              SET wrapped_by = ${next.wrappedBy}, ciphertext = ${bytes(next.ciphertext)}
              WHERE tenant_id = ${tenant} AND wrapped_by = ${previous.wrappedBy} AND ciphertext = ${bytes(previous.ciphertext)}
              RETURNING tenant_id`
            return rows.length === 1
          }).pipe(
            withTransaction(sql),
            Effect.mapError((error) => error instanceof MasterKeyRetired ? error : fail("replaceTenantKey")(error))
          )
        ),
      isMasterKeyRetired: (keyId) =>
        sql<{ key_id: string }>`SELECT key_id FROM lawful_vault_retired_master_keys WHERE key_id = ${keyId}`.pipe(
          Effect.map((rows) => rows.length > 0),
          Effect.mapError(fail("isMasterKeyRetired"))
        ),
      // The lock (which plain reads do not wait for) makes calls take turns: each checks `current`
      // after the one before committed, so two rotations cannot retire each other's current key.
      // It waits too for the tenant keys' creations and re-wraps under way (`refuseRetiredUnderLock`),
      // and holds new ones back, so the tenant keys read after it are every key its retirement could
      // strand.
      retireMasterKeys: (keyIds, current, at) =>
        outsideTransactionOnly("retireMasterKeys", Effect.gen(function*() {
          yield* sql`LOCK TABLE lawful_vault_retired_master_keys IN SHARE ROW EXCLUSIVE MODE`
          const refused = yield* sql`SELECT 1 FROM lawful_vault_retired_master_keys WHERE key_id = ${current}`
          if (refused.length > 0) return false
          if (keyIds.length > 0) {
            const stillWrapped = yield* sql`SELECT 1 FROM lawful_vault_tenant_keys
              WHERE wrapped_by = ANY(${[...keyIds]}::text[]) LIMIT 1`
            if (stillWrapped.length > 0) return false
            yield* sql`INSERT INTO lawful_vault_retired_master_keys (key_id, retired_at)
              SELECT DISTINCT unnest(${[...keyIds]}::text[]), ${at}::timestamptz
              ON CONFLICT (key_id) DO NOTHING`
          }
          return true
        }).pipe(withTransaction(sql), Effect.mapError(fail("retireMasterKeys")))),
      subjectKey: readSubjectKey,
      subjectKeys: subjectKeysOf,
      createSubjectKey: (tenant, subject, key) =>
        outsideOnly("createSubjectKey", readSubjectKey(tenant, subject), insertSubjectKey({ tenant, subject, wrappedBy: key.wrappedBy, ciphertext: key.ciphertext }).pipe(
          Effect.flatMap((rows) =>
            rows.length > 0
              ? Effect.succeed(toSubjectState(rows[0]!))
              // A concurrent insert committed after this statement's snapshot: read it.
              : Effect.flatMap(findSubjectKey({ tenant, subject }), (row) =>
                Option.isSome(row) ? Effect.succeed(toSubjectState(row.value)) : Effect.dieMessage("subject key vanished"))
          ),
          Effect.mapError(fail("createSubjectKey"))
        )),
      createSubjectKeys: (tenant, keys) =>
        outsideOnly("createSubjectKeys", readSubjectKeys(tenant, keys.map(([subject]) => subject)), Effect.gen(function*() {
          const states = new Map<SubjectId, SubjectKeyState>()
          if (keys.length === 0) return states
          const input = JSON.stringify(keys.map(([subject, key]) => ({
            s: subject,
            w: key.wrappedBy,
            c: Buffer.from(key.ciphertext).toString("hex")
          })))
          const rows = yield* sql<{ subject_id: SubjectId } & typeof SubjectKeyRow.Encoded>`
            WITH input AS (SELECT * FROM jsonb_to_recordset(${input}::jsonb) AS x(s uuid, w text, c text)),
            inserted AS (
              INSERT INTO lawful_vault_subject_keys (tenant_id, subject_id, wrapped_by, ciphertext)
              SELECT ${tenant}::uuid, s, w, decode(c, 'hex') FROM input
              ON CONFLICT (tenant_id, subject_id) DO NOTHING
              RETURNING subject_id, wrapped_by, ciphertext, shredded_at
            )
            SELECT * FROM inserted
            UNION ALL
            SELECT k.subject_id, k.wrapped_by, k.ciphertext, k.shredded_at
            FROM lawful_vault_subject_keys k
            WHERE k.tenant_id = ${tenant} AND k.subject_id = ANY(${keys.map(([subject]) => subject)}::uuid[])
              AND k.subject_id NOT IN (SELECT subject_id FROM inserted)`
          for (const row of rows) {
            states.set(row.subject_id, toSubjectState(yield* Schema.decodeUnknown(SubjectKeyRow)(row)))
          }
          // Keys inserted concurrently after this statement's snapshot: read them one by one.
          for (const [subject] of keys) {
            if (states.has(subject)) continue
            const row = yield* findSubjectKey({ tenant, subject })
            if (Option.isNone(row)) return yield* Effect.dieMessage("subject key vanished")
            states.set(subject, toSubjectState(row.value))
          }
          return states
        }).pipe(Effect.mapError(fail("createSubjectKeys")))),
      shred: (tenant, subject, at) =>
        sql<{ subject_id: string }>`INSERT INTO lawful_vault_subject_keys (tenant_id, subject_id, shredded_at)
            VALUES (${tenant}, ${subject}, ${at})
            ON CONFLICT (tenant_id, subject_id) DO UPDATE
              SET wrapped_by = NULL, ciphertext = NULL, shredded_at = EXCLUDED.shredded_at
              WHERE lawful_vault_subject_keys.shredded_at IS NULL
            RETURNING subject_id`.pipe(
          Effect.map((rows) => rows.length === 1),
          Effect.mapError(fail("shred"))
        ),
      // The tenant as a subquery: planned for the actual id, a tenant newer than the statistics
      // looked small enough to read all its erasures after the cursor and sort them.
      erasures: (tenant, { after, limit }) =>
        SqlSchema.findAll({
          Request: Schema.Void,
          Result: ErasureRow,
          execute: () =>
            after === undefined
              ? sql`SELECT tenant_id, subject_id, shredded_at FROM lawful_vault_subject_keys
                    WHERE tenant_id = (SELECT ${tenant}::uuid) AND shredded_at IS NOT NULL
                    ORDER BY shredded_at, subject_id LIMIT ${limit}`
              : sql`SELECT tenant_id, subject_id, shredded_at FROM lawful_vault_subject_keys
                    WHERE tenant_id = (SELECT ${tenant}::uuid) AND shredded_at IS NOT NULL
                      AND (shredded_at, subject_id) > (${after.shreddedAt}, ${after.subjectId})
                    ORDER BY shredded_at, subject_id LIMIT ${limit}`
        })(undefined).pipe(
          Effect.map((rows) =>
            rows.map((row) => new Erasure({ tenantId: row.tenant_id, subjectId: row.subject_id, shreddedAt: row.shredded_at }))
          ),
          Effect.mapError(fail("erasures"))
        )
    })
  })
)

/**
 * The key store on a database of its own, through the client layer given
 * (kept private to the key store: it does not replace the main `SqlClient`).
 * Its operations never join a transaction the caller has open on another
 * database: called inside one, they still run on the keys' database.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClient = <E>(
  client: Layer.Layer<SqlClient.SqlClient, E>
): Layer.Layer<KeyStore, E | Migrations.MigrationFailed> =>
  Layer.scoped(
    KeyStore,
    Effect.gen(function*() {
      const store = yield* Layer.build(layerSql.pipe(Layer.provide(client))).pipe(Effect.map(Context.get(KeyStore)))
      return outsideTransactionAll(store)
    })
  )
