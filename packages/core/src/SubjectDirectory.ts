/**
 * The subject directory: a tenant's subjects, each found by its email address.
 *
 * An address is normalised first (see `Email` for the rule), then:
 *
 * - found through a blind index, `Vault.blindIndex(tenant, "subject.email", address)`: an
 *   HMAC-SHA-256 under a key of the tenant, so one address gives a different
 *   index in each tenant and the index reveals nothing without the key;
 * - stored sealed by the Vault for its subject (purpose `"subject.email"`), so
 *   shredding the subject's key leaves the stored address unreadable.
 *
 * `resolve` returns the subject of an address and creates it when the address
 * is new; concurrent resolves of one address in one tenant agree on a single
 * subject. `forget` removes a subject's entry (erasure); `changeEmail`
 * rectifies its address. Errors and spans never carry the address.
 *
 * Backends: `layerMemory`, and `layerSql` on the table `lawful_subjects`
 * (migrated in `lawful_subjects_migrations`). `personalDataSource` registers
 * the directory in the `PersonalDataRegistry`.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as SqlSchema from "@effect/sql/SqlSchema"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Batcher from "./Batcher.js"
import { safeSqlError } from "./Database.js"
import * as Email from "./Email.js"
import { notAnId } from "./internal/refusal.js"
import { KeyStoreError } from "./KeyStore.js"
import * as Migrations from "./Migrations.js"
import * as PersonalDataRegistry from "./PersonalDataRegistry.js"
import * as SubjectId from "./SubjectId.js"
import * as TenantIds from "./TenantId.js"
import { TenantId } from "./TenantId.js"
import * as Vault from "./Vault.js"

/**
 * The Vault purpose an address is sealed under.
 *
 * @since 0.1.0
 * @category models
 */
export const purpose: Vault.Purpose = "subject.email"

/**
 * A subject of the directory, its address decrypted.
 *
 * @since 0.1.0
 * @category models
 */
export class SubjectEntry extends Schema.Class<SubjectEntry>("@lawful/core/SubjectDirectory/SubjectEntry")({
  subjectId: SubjectId.SubjectId,
  email: Email.Email,
  createdAt: Schema.DateFromSelf
}) {}

/**
 * The tenant's directory has no such subject (never created, or forgotten). `tenantId` and
 * `subjectId` are absent when the id given is not of an id's form (a lower-case UUID): no
 * directory holds it, and what was given, maybe an address put in the wrong place, is not quoted.
 *
 * @since 0.1.0
 * @category errors
 */
export class SubjectNotFound extends Schema.TaggedError<SubjectNotFound>()("SubjectNotFound", {
  tenantId: Schema.optional(Schema.String),
  subjectId: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return this.tenantId === undefined || this.subjectId === undefined
      ? "No subject is in the directory under the ids given, which are not a tenant id and a subject id (lower-case UUIDs)"
      : `Subject ${this.subjectId} is not in the directory of tenant ${this.tenantId}`
  }
}

/**
 * The new address of a subject already belongs to another subject of the
 * tenant. Neither subject changed.
 *
 * @since 0.1.0
 * @category errors
 */
export class EmailAlreadyInUse extends Schema.TaggedError<EmailAlreadyInUse>()("EmailAlreadyInUse", {
  tenantId: Schema.String,
  subjectId: Schema.String
}) {
  override get message(): string {
    return `The new address of subject ${this.subjectId} belongs to another subject`
  }
}

/**
 * The directory's storage failed (the database is unreachable, a statement failed: its `cause`
 * is the `SqlError` as `Database.safeSqlError` keeps it, never a row or a value quoted; a row read
 * back that its Schema refuses, the `RowInvalid` error it makes of the `ParseError`), or
 * `resolveAll` was given a list of addresses that is not an array (refused before anything is
 * read or written).
 *
 * @since 0.1.0
 * @category errors
 */
export class SubjectDirectoryError extends Schema.TaggedError<SubjectDirectoryError>()("SubjectDirectoryError", {
  operation: Schema.String,
  cause: Schema.Defect
}) {
  override get message(): string {
    return `Subject directory operation ${this.operation} failed`
  }
}

/**
 * @since 0.1.0
 * @category services
 */
export class SubjectDirectory extends Context.Tag("@lawful/core/SubjectDirectory")<SubjectDirectory, {
  /**
   * The subject of an address, created when the address is new. Invalid input writes nothing.
   * Concurrent calls of a tenant share one statement; a call inside a SQL transaction runs
   * alone in it, and the subject it creates commits or rolls back with it (call
   * `Vault.prepare` before the transaction, which creates no key).
   */
  readonly resolve: (
    tenant: TenantId,
    email: string
  ) => Effect.Effect<SubjectId.SubjectId, Email.InvalidEmail | Vault.VaultError | SubjectDirectoryError>
  /**
   * The subjects of many addresses of one tenant, in order, creating the new
   * ones: one statement per thousand addresses, the path of imports. Fails
   * with `InvalidEmail` (naming no address) before writing anything when
   * one address is invalid, and with `SubjectDirectoryError` when `emails` is not an array.
   * A tenant that is not a lower-case UUID is refused first, whatever the list (an empty one
   * too), with the Vault's `KeyStoreError`, as `resolve` refuses it, never quoting it.
   */
  readonly resolveAll: (
    tenant: TenantId,
    emails: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<SubjectId.SubjectId>, Email.InvalidEmail | Vault.VaultError | SubjectDirectoryError>
  /**
   * The subject of an address, if the directory has it. A read: it creates nothing, not even
   * the key of a tenant never used (whose answer is `None`), and answers the same inside a
   * transaction. So do `entryOf` and `emailOf`.
   */
  readonly find: (
    tenant: TenantId,
    email: string
  ) => Effect.Effect<Option.Option<SubjectId.SubjectId>, Email.InvalidEmail | Vault.VaultError | SubjectDirectoryError>
  /** The subject's entry, its address decrypted. */
  readonly entryOf: (
    tenant: TenantId,
    subject: SubjectId.SubjectId
  ) => Effect.Effect<
    SubjectEntry,
    SubjectNotFound | Vault.SubjectShredded | Vault.SealedValueInvalid | Vault.VaultError | SubjectDirectoryError
  >
  /** The subject's normalised address, decrypted. */
  readonly emailOf: (
    tenant: TenantId,
    subject: SubjectId.SubjectId
  ) => Effect.Effect<
    Email.Email,
    SubjectNotFound | Vault.SubjectShredded | Vault.SealedValueInvalid | Vault.VaultError | SubjectDirectoryError
  >
  /**
   * Removes the subject's entry; true when there was one, false for a subject unknown or of
   * another tenant (nothing changes). Idempotent. The address then resolves to a new subject.
   * A `resolve` of the address that answers before the removal commits returns the subject
   * being forgotten, one that answers after returns the directory's new subject: an erasure
   * shreds the forgotten subject's key too (`Vault.shred`), so nothing sealed for it opens.
   */
  readonly forget: (tenant: TenantId, subject: SubjectId.SubjectId) => Effect.Effect<boolean, SubjectDirectoryError>
  /**
   * Replaces the subject's address, re-sealed and re-indexed; true when the address changed,
   * false when the subject already had it (once normalised, compared by blind index), which
   * writes and seals nothing (a subject whose key was shredded answers false too). The same
   * address over a stored one that does not open (`emailOf` fails with `SealedValueInvalid`:
   * its ciphertext damaged, or sealed under a subject key that no longer opens it) is sealed
   * again and written, answering true, so that a rectification repairs it. A concurrent change
   * that wrote first makes this one answer false, or replaces the address it wrote.
   */
  readonly changeEmail: (
    tenant: TenantId,
    subject: SubjectId.SubjectId,
    email: string
  ) => Effect.Effect<
    boolean,
    | Email.InvalidEmail
    | SubjectNotFound
    | EmailAlreadyInUse
    | Vault.SubjectShredded
    | Vault.VaultError
    | SubjectDirectoryError
  >
}>() {}

interface StoredEntry {
  readonly index: string
  readonly sealed: Uint8Array
  readonly createdAt: Date
}

interface NewStoredEntry extends StoredEntry {
  readonly subject: SubjectId.SubjectId
}

// What a backend stores: blind index, sealed address and creation time per subject.
interface DirectoryStore {
  readonly findByIndexes: (
    tenant: TenantId,
    indexes: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyMap<string, SubjectId.SubjectId>, SubjectDirectoryError>
  /**
   * In one step, inserts the entries whose index no subject holds yet and
   * returns the subject of every index it knows: the inserted ones, and those
   * that existed before. An index another writer inserted meanwhile may be
   * missing from the answer (its subject is found by asking again).
   */
  readonly insertOrFind: (
    tenant: TenantId,
    entries: ReadonlyArray<NewStoredEntry>
  ) => Effect.Effect<ReadonlyMap<string, SubjectId.SubjectId>, SubjectDirectoryError>
  readonly entry: (
    tenant: TenantId,
    subject: SubjectId.SubjectId
  ) => Effect.Effect<Option.Option<StoredEntry>, SubjectDirectoryError>
  readonly remove: (tenant: TenantId, subject: SubjectId.SubjectId) => Effect.Effect<boolean, SubjectDirectoryError>
  /**
   * "unchanged" when the subject's entry already has the index: nothing is written. With
   * `unreadable` (a sealed value of the entry that did not open), an entry that has the index
   * and still holds exactly that sealed value is written too: re-sealed.
   */
  readonly replace: (
    tenant: TenantId,
    subject: SubjectId.SubjectId,
    index: string,
    sealed: Uint8Array,
    unreadable?: Uint8Array
  ) => Effect.Effect<"replaced" | "unchanged" | "not-found" | "taken", SubjectDirectoryError>
}

// How many times `resolve` tries again when the subject that won a race for an
// address is forgotten before it could be read.
const resolveAttempts = 5

// Addresses per statement of `resolveAll`.
const resolveAllChunk = 1000

const make = (store: DirectoryStore) =>
  Effect.gen(function*() {
    const vault = yield* Vault.Vault
    const locate = (tenant: TenantId, email: Email.Email) =>
      Effect.map(vault.blindIndex(tenant, purpose, email), (index) => ({ email, index }))

    // Resolves addresses of one tenant together in one statement, however many callers it
    // serves: every address is sealed for a new subject (keys made ahead, no round trip),
    // then inserted unless the directory has it; subjects not needed go back to the Vault's pool.
    // Reading first would cost new addresses a second round trip; sealing first costs known
    // addresses a few microseconds of AES each.
    const resolveBatch = (
      tenant: TenantId,
      wanted: ReadonlyArray<{ readonly email: Email.Email; readonly index: string }>,
      attempts: number
    ): Effect.Effect<ReadonlyMap<string, SubjectId.SubjectId>, Vault.VaultError | SubjectDirectoryError> =>
      Effect.gen(function*() {
        const unique = [...new Map(wanted.map((w) => [w.index, w])).values()]
        const subjects = yield* vault.newSubjects(tenant, unique.length)
        // New subject ids have never been shredded.
        const sealed = yield* vault.sealAll(
          tenant,
          unique.map((w, i) => ({ subject: subjects[i]!, purpose, plaintext: w.email }))
        ).pipe(Effect.catchTag("SubjectShredded", Effect.die))
        const createdAt = new Date(yield* Clock.currentTimeMillis)
        // Subjects go back only once the statement has answered which it used. Failed or
        // interrupted, it may have committed all the same (a caller that timed out does not stop
        // the database): a subject given back then would go to another address, whose insert
        // fails on the subject's id, and back to the pool, for every new address of the tenant.
        // Kept out, they are keys made ahead and never handed out, which protect nothing.
        const found = new Map(
          yield* store.insertOrFind(
            tenant,
            unique.map((w, i) => ({ subject: subjects[i]!, index: w.index, sealed: sealed[i]!, createdAt }))
          )
        )
        yield* vault.releaseSubjects(tenant, subjects.filter((subject, i) => found.get(unique[i]!.index) !== subject))
        // Addresses another writer created meanwhile, not yet visible to the statement: ask again.
        const lost = unique.filter((w) => !found.has(w.index))
        if (lost.length === 0) return found
        if (attempts <= 1) {
          return yield* new SubjectDirectoryError({ operation: "resolve", cause: "the address kept changing owner" })
        }
        for (const [index, subject] of yield* resolveBatch(tenant, lost, attempts - 1)) found.set(index, subject)
        return found
      })

    const resolveInBatch = yield* Batcher.make({
      // Measured with 8 callers on PostgreSQL: two batches of a tenant in flight beat one
      // (commits overlap) and three, four or eight (batches too small to pay for their statement).
      concurrency: 2,
      key: (item: { readonly tenant: TenantId; readonly email: Email.Email; readonly index: string }) => item.tenant,
      run: (items) =>
        Effect.map(resolveBatch(items[0]!.tenant, items, resolveAttempts), (subjects) =>
          items.map((item) => subjects.get(item.index)!))
    })

    // Ids are checked before anything is read: every backend answers alike, and neither an error
    // nor a span quotes an id that is not one (an address put in the wrong place).
    const areIds = (tenant: TenantId, subject: SubjectId.SubjectId) => TenantIds.is(tenant) && SubjectId.is(subject)
    const tenantOf = (tenant: TenantId) => ({ tenant: TenantIds.describe(tenant) })
    const idsOf = (tenant: TenantId, subject: SubjectId.SubjectId) => ({
      tenant: TenantIds.describe(tenant),
      subject: SubjectId.describe(subject)
    })
    const notFound = (tenant: TenantId, subject: SubjectId.SubjectId) =>
      new SubjectNotFound(areIds(tenant, subject) ? { tenantId: tenant, subjectId: subject } : {})

    const entryOf = (tenant: TenantId, subject: SubjectId.SubjectId) =>
      Effect.gen(function*() {
        if (!areIds(tenant, subject)) return yield* notFound(tenant, subject)
        const stored = yield* store.entry(tenant, subject)
        if (Option.isNone(stored)) return yield* notFound(tenant, subject)
        const email = yield* vault.openString(tenant, subject, purpose, stored.value.sealed)
        return new SubjectEntry({ subjectId: subject, email: Email.Email.make(email), createdAt: stored.value.createdAt })
      })

    return SubjectDirectory.of({
      resolve: (tenant, input) =>
        Effect.gen(function*() {
          const { email, index } = yield* locate(tenant, yield* Email.normalize(input))
          return yield* resolveInBatch({ tenant, email, index })
        }).pipe(Effect.withSpan("SubjectDirectory.resolve", { captureStackTrace: false, attributes: tenantOf(tenant) })),
      resolveAll: (tenant, inputs) =>
        Effect.gen(function*() {
          // The tenant first, whatever the list (an empty one too), refused as `resolve` and the
          // Vault refuse it.
          if (!TenantIds.is(tenant)) {
            return yield* new KeyStoreError({ operation: "resolveAll", cause: new Error(notAnId("tenant")) })
          }
          if (!Array.isArray(inputs)) {
            return yield* new SubjectDirectoryError({ operation: "resolveAll", cause: new Error("the addresses given are not an array") })
          }
          // Every address checked before any is indexed: indexing creates the tenant's key, a
          // write that a refused input must not leave behind.
          const emails = yield* Effect.forEach(inputs, Email.normalize)
          const located = yield* Effect.forEach(emails, (email) => locate(tenant, email))
          const subjects: Array<SubjectId.SubjectId> = []
          for (let start = 0; start < located.length; start += resolveAllChunk) {
            const chunk = located.slice(start, start + resolveAllChunk)
            const found = yield* resolveBatch(tenant, chunk, resolveAttempts)
            for (const { index } of chunk) subjects.push(found.get(index)!)
          }
          return subjects
        }).pipe(
          Effect.withSpan("SubjectDirectory.resolveAll", {
            captureStackTrace: false,
            attributes: { ...tenantOf(tenant), count: Array.isArray(inputs) ? inputs.length : undefined }
          })
        ),
      // A tenant without a key has no subjects: answered without a statement, and without
      // creating the key, which a read inside a transaction could not.
      find: (tenant, input) =>
        Email.normalize(input).pipe(
          Effect.flatMap((email) => vault.findBlindIndex(tenant, purpose, email)),
          Effect.flatMap(Option.match({
            onNone: () => Effect.succeedNone,
            onSome: (index) =>
              Effect.map(store.findByIndexes(tenant, [index]), (found) => Option.fromNullable(found.get(index)))
          }))
        ).pipe(
          Effect.withSpan("SubjectDirectory.find", { captureStackTrace: false, attributes: tenantOf(tenant) })
        ),
      entryOf: (tenant, subject) =>
        entryOf(tenant, subject).pipe(
          Effect.withSpan("SubjectDirectory.entryOf", { captureStackTrace: false, attributes: idsOf(tenant, subject) })
        ),
      emailOf: (tenant, subject) =>
        Effect.map(entryOf(tenant, subject), (entry) => entry.email).pipe(
          Effect.withSpan("SubjectDirectory.emailOf", { captureStackTrace: false, attributes: idsOf(tenant, subject) })
        ),
      // A subject id that is not one is a subject unknown: false, nothing changes.
      forget: (tenant, subject) =>
        (areIds(tenant, subject) ? store.remove(tenant, subject) : Effect.succeed(false)).pipe(
          Effect.withSpan("SubjectDirectory.forget", { captureStackTrace: false, attributes: idsOf(tenant, subject) })
        ),
      changeEmail: (tenant, subject, input) =>
        Effect.gen(function*() {
          const email = yield* Email.normalize(input)
          if (!areIds(tenant, subject)) return yield* notFound(tenant, subject)
          // Read before the address is indexed or sealed, so that an unknown subject creates
          // no key (of its own, or of a tenant never used).
          const stored = yield* store.entry(tenant, subject)
          if (Option.isNone(stored)) return yield* notFound(tenant, subject)
          // The blind index is a keyed hash of the normalised address: the same index is the same
          // address. It is no change while the stored address opens; one that does not (damaged,
          // or sealed under a subject key that no longer opens it) is sealed again, or the same
          // address could never repair it. The store checks again as it writes: the entry still
          // holds the index, or this very unreadable value.
          const index = yield* vault.blindIndex(tenant, purpose, email)
          let unreadable: Uint8Array | undefined
          if (index === stored.value.index) {
            const opened = yield* vault.open(tenant, subject, purpose, stored.value.sealed).pipe(
              Effect.as("opens" as const),
              Effect.catchTags({
                // A shredded subject: nothing can be sealed for it again, and the same address is no change.
                SubjectShredded: () => Effect.succeed("opens" as const),
                SealedValueInvalid: () => Effect.succeed("unreadable" as const)
              })
            )
            if (opened === "opens") return false
            unreadable = stored.value.sealed
          }
          const sealed = yield* vault.seal(tenant, subject, purpose, email)
          const outcome = yield* store.replace(tenant, subject, index, sealed, unreadable)
          if (outcome === "not-found") return yield* new SubjectNotFound({ tenantId: tenant, subjectId: subject })
          if (outcome === "taken") return yield* new EmailAlreadyInUse({ tenantId: tenant, subjectId: subject })
          return outcome === "replaced"
        }).pipe(
          Effect.withSpan("SubjectDirectory.changeEmail", { captureStackTrace: false, attributes: idsOf(tenant, subject) })
        )
    })
  })

// Each operation yields first, as a database round trip would, so that concurrent
// callers interleave here as they do on SQL.
const atomically = <A>(f: () => A): Effect.Effect<A> => Effect.zipRight(Effect.yieldNow(), Effect.sync(f))

const memoryStore = (): DirectoryStore => {
  const byIndex = new Map<string, SubjectId.SubjectId>()
  const entries = new Map<string, StoredEntry>()
  const indexKey = (tenant: TenantId, index: string) => `${tenant}/${index}`
  const entryKey = (tenant: TenantId, subject: SubjectId.SubjectId) => `${tenant}/${subject}`
  return {
    findByIndexes: (tenant, indexes) =>
      atomically(() => {
        const found = new Map<string, SubjectId.SubjectId>()
        for (const index of indexes) {
          const subject = byIndex.get(indexKey(tenant, index))
          if (subject !== undefined) found.set(index, subject)
        }
        return found
      }),
    insertOrFind: (tenant, newEntries) =>
      atomically(() => {
        const found = new Map<string, SubjectId.SubjectId>()
        for (const { createdAt, index, sealed, subject } of newEntries) {
          const holder = byIndex.get(indexKey(tenant, index))
          if (holder !== undefined) {
            found.set(index, holder)
            continue
          }
          byIndex.set(indexKey(tenant, index), subject)
          entries.set(entryKey(tenant, subject), { index, sealed, createdAt })
          found.set(index, subject)
        }
        return found
      }),
    entry: (tenant, subject) => atomically(() => Option.fromNullable(entries.get(entryKey(tenant, subject)))),
    remove: (tenant, subject) =>
      atomically(() => {
        const entry = entries.get(entryKey(tenant, subject))
        if (!entry) return false
        entries.delete(entryKey(tenant, subject))
        byIndex.delete(indexKey(tenant, entry.index))
        return true
      }),
    replace: (tenant, subject, index, sealed, unreadable) =>
      atomically(() => {
        const entry = entries.get(entryKey(tenant, subject))
        if (!entry) return "not-found"
        if (entry.index === index && (unreadable === undefined || Buffer.compare(entry.sealed, unreadable) !== 0)) {
          return "unchanged"
        }
        const holder = byIndex.get(indexKey(tenant, index))
        if (holder !== undefined && holder !== subject) return "taken"
        byIndex.delete(indexKey(tenant, entry.index))
        byIndex.set(indexKey(tenant, index), subject)
        entries.set(entryKey(tenant, subject), { index, sealed, createdAt: entry.createdAt })
        return "replaced"
      })
  }
}

/**
 * The directory in memory, for tests and for users who bring no database.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<SubjectDirectory, never, Vault.Vault> = Layer.scoped(
  SubjectDirectory,
  Effect.suspend(() => make(memoryStore()))
)

const migrations: Record<string, Migrations.Migration> = {
  "0001_subjects": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`
      CREATE TABLE lawful_subjects (
        tenant_id uuid NOT NULL,
        subject_id uuid NOT NULL,
        email_index text NOT NULL,
        email_sealed bytea NOT NULL,
        created_at timestamptz NOT NULL,
        PRIMARY KEY (tenant_id, subject_id),
        UNIQUE (tenant_id, email_index)
      )
    `),
  // Resolving a batch is one statement; as a PL/pgSQL function its plan is made once per
  // session instead of once per call (planning the statement cost more than running it).
  // The final SELECT reads the snapshot its statement started with: it sees the entries that
  // existed before, never the ones the statement inserts (those come from RETURNING).
  "0002_insert_or_find": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`
      CREATE FUNCTION lawful_subjects_insert_or_find(p_tenant uuid, p_entries jsonb, p_indexes text[])
      RETURNS TABLE (out_subject uuid, out_index text)
      LANGUAGE plpgsql AS $$
      BEGIN
        RETURN QUERY
        WITH inserted AS (
          INSERT INTO lawful_subjects AS t (tenant_id, subject_id, email_index, email_sealed, created_at)
          SELECT p_tenant, x.s, x.i, decode(x.e, 'hex'), x.c
          FROM jsonb_to_recordset(p_entries) AS x(s uuid, i text, e text, c timestamptz)
          ON CONFLICT (tenant_id, email_index) DO NOTHING
          RETURNING t.subject_id, t.email_index
        )
        SELECT n.subject_id, n.email_index FROM inserted n
        UNION ALL
        SELECT l.subject_id, l.email_index FROM lawful_subjects l
        WHERE l.tenant_id = p_tenant AND l.email_index = ANY(p_indexes);
      END
      $$
    `),
  // Known addresses looked up one at a time by the (tenant, index) key. As one condition
  // (`= ANY`), the lookup was planned for the tenant the statistics describe: a tenant created
  // since the last ANALYZE (or a table never analysed) is estimated at a handful of rows, and
  // the plan read every row of the tenant by the primary key's tenant prefix, a cost that grew
  // with the tenant. A subquery kept per address (`OFFSET 0`) can only be a probe of the key.
  "0003_insert_or_find_per_key_lookups": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`
      CREATE OR REPLACE FUNCTION lawful_subjects_insert_or_find(p_tenant uuid, p_entries jsonb, p_indexes text[])
      RETURNS TABLE (out_subject uuid, out_index text)
      LANGUAGE plpgsql
      SET plan_cache_mode = force_generic_plan
      AS $$
      BEGIN
        RETURN QUERY
        WITH inserted AS (
          INSERT INTO lawful_subjects AS t (tenant_id, subject_id, email_index, email_sealed, created_at)
          SELECT p_tenant, x.s, x.i, decode(x.e, 'hex'), x.c
          FROM jsonb_to_recordset(p_entries) AS x(s uuid, i text, e text, c timestamptz)
          ON CONFLICT (tenant_id, email_index) DO NOTHING
          RETURNING t.subject_id, t.email_index
        )
        SELECT n.subject_id, n.email_index FROM inserted n
        UNION ALL
        SELECT l.subject_id, l.email_index FROM unnest(p_indexes) AS wanted(i)
        CROSS JOIN LATERAL (
          SELECT s.subject_id, s.email_index FROM lawful_subjects s
          WHERE s.tenant_id = p_tenant AND s.email_index = wanted.i
          OFFSET 0
        ) l;
      END
      $$
    `),
  // An address the statement inserted is not looked up. Its lookup reads the snapshot the
  // statement started with, which still holds an entry of the address deleted (a subject
  // forgotten) after that start: the insert, which waited for the deletion to commit, went in,
  // and the answer named both the forgotten subject and the inserted one. `resolve` returned
  // the forgotten subject, and gave the inserted one, whose entry stays, back to the Vault's pool.
  "0004_insert_or_find_inserted_only": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`
      CREATE OR REPLACE FUNCTION lawful_subjects_insert_or_find(p_tenant uuid, p_entries jsonb, p_indexes text[])
      RETURNS TABLE (out_subject uuid, out_index text)
      LANGUAGE plpgsql
      SET plan_cache_mode = force_generic_plan
      AS $$
      BEGIN
        RETURN QUERY
        WITH inserted AS (
          INSERT INTO lawful_subjects AS t (tenant_id, subject_id, email_index, email_sealed, created_at)
          SELECT p_tenant, x.s, x.i, decode(x.e, 'hex'), x.c
          FROM jsonb_to_recordset(p_entries) AS x(s uuid, i text, e text, c timestamptz)
          ON CONFLICT (tenant_id, email_index) DO NOTHING
          RETURNING t.subject_id, t.email_index
        )
        SELECT n.subject_id, n.email_index FROM inserted n
        UNION ALL
        SELECT l.subject_id, l.email_index FROM unnest(p_indexes) AS wanted(i)
        CROSS JOIN LATERAL (
          SELECT s.subject_id, s.email_index FROM lawful_subjects s
          WHERE s.tenant_id = p_tenant AND s.email_index = wanted.i
          OFFSET 0
        ) l
        WHERE NOT EXISTS (SELECT 1 FROM inserted n WHERE n.email_index = wanted.i);
      END
      $$
    `)
}

const TenantAndSubject = Schema.Struct({ tenant: TenantId, subject: SubjectId.SubjectId })
const SubjectRow = Schema.Struct({ subject_id: SubjectId.SubjectId })
const EntryRow = Schema.Struct({
  email_index: Schema.String,
  email_sealed: Schema.Uint8ArrayFromSelf,
  created_at: Schema.DateFromSelf
})
// node-postgres sends a Buffer as bytea, but a plain Uint8Array as JSON.
const bytes = (value: Uint8Array) => Buffer.from(value.buffer, value.byteOffset, value.byteLength)

const uniqueViolation = "23505"
const isUniqueViolation = (error: SqlError): boolean =>
  typeof error.cause === "object" && error.cause !== null && "code" in error.cause &&
  error.cause.code === uniqueViolation

const sqlStore: Effect.Effect<DirectoryStore, Migrations.MigrationFailed, SqlClient.SqlClient> = Effect.gen(
  function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    yield* Migrations.run("subjects", migrations).pipe(Effect.provideService(SqlClient.SqlClient, sql))

    const fail = (operation: string) => (cause: unknown) => new SubjectDirectoryError({ operation, cause: safeSqlError(cause) })

    const findByIndexes = SqlSchema.findAll({
      Request: Schema.Struct({ tenant: TenantId, indexes: Schema.Array(Schema.String) }),
      Result: Schema.Struct({ subject_id: SubjectId.SubjectId, email_index: Schema.String }),
      // Each address probed by the (tenant, index) key. Planned for the actual tenant id, a
      // tenant newer than the statistics is estimated at a handful of rows, and a scan of it
      // by the primary key's tenant prefix looked as cheap as the probe: the tenant was read
      // whole. The tenant comes from a subquery, so the plan is made for an average tenant.
      execute: ({ indexes, tenant }) =>
        sql`SELECT s.subject_id, s.email_index FROM unnest(${indexes}::text[]) AS wanted(i)
            CROSS JOIN LATERAL (
              SELECT subject_id, email_index FROM lawful_subjects
              WHERE tenant_id = (SELECT ${tenant}::uuid) AND email_index = wanted.i
              OFFSET 0
            ) s`
    })

    const findEntry = SqlSchema.findOne({
      Request: TenantAndSubject,
      Result: EntryRow,
      execute: ({ subject, tenant }) =>
        sql`SELECT email_index, email_sealed, created_at FROM lawful_subjects WHERE tenant_id = ${tenant} AND subject_id = ${subject}`
    })

    const remove = SqlSchema.findAll({
      Request: TenantAndSubject,
      Result: SubjectRow,
      execute: ({ subject, tenant }) =>
        sql`DELETE FROM lawful_subjects WHERE tenant_id = ${tenant} AND subject_id = ${subject} RETURNING subject_id`
    })

    return {
      findByIndexes: (tenant, indexes) =>
        indexes.length === 0 ? Effect.succeed(new Map()) : findByIndexes({ tenant, indexes }).pipe(
          Effect.map((rows) => new Map(rows.map((row) => [row.email_index, row.subject_id]))),
          Effect.mapError(fail("findByIndexes"))
        ),
      insertOrFind: (tenant, entries) => {
        const rows = JSON.stringify(entries.map((e) => ({
          s: e.subject,
          i: e.index,
          e: Buffer.from(e.sealed).toString("hex"),
          c: e.createdAt.toISOString()
        })))
        return sql<{ subject_id: SubjectId.SubjectId; email_index: string }>`
          SELECT out_subject AS subject_id, out_index AS email_index
          FROM lawful_subjects_insert_or_find(${tenant}, ${rows}::jsonb, ${entries.map((e) => e.index)}::text[])`.pipe(
          Effect.map((found) => new Map(found.map((row) => [row.email_index, row.subject_id]))),
          Effect.mapError(fail("insertOrFind"))
        )
      },
      entry: (tenant, subject) =>
        findEntry({ tenant, subject }).pipe(
          Effect.map(Option.map((row) => ({ index: row.email_index, sealed: row.email_sealed, createdAt: row.created_at }))),
          Effect.mapError(fail("entry"))
        ),
      remove: (tenant, subject) =>
        remove({ tenant, subject }).pipe(
          Effect.map((rows) => rows.length > 0),
          Effect.mapError(fail("remove"))
        ),
      // An address held by another subject is found by the statement, not by a unique violation:
      // that would abort the transaction the caller may have open, which the memory store leaves
      // usable. The violation remains for an address inserted concurrently. A statement that
      // wrote nothing reads the row again as it now stands: gone, holding the index already (a
      // concurrent change to the same address: "unchanged"), or the index is another subject's.
      // An unreadable sealed value is re-sealed only while the row still holds it: a concurrent
      // change that re-sealed it first leaves this one "unchanged".
      replace: (tenant, subject, index, sealed, unreadable) =>
        sql<{ subject_id: string }>`
          UPDATE lawful_subjects SET email_index = ${index}, email_sealed = ${bytes(sealed)}
          WHERE tenant_id = ${tenant} AND subject_id = ${subject}
            AND ${
          unreadable === undefined
            ? sql`email_index <> ${index}`
            : sql`(email_index <> ${index} OR email_sealed = ${bytes(unreadable)})`
        }
            AND NOT EXISTS (
              SELECT 1 FROM lawful_subjects
              WHERE tenant_id = ${tenant} AND email_index = ${index} AND subject_id <> ${subject}
            )
          RETURNING subject_id`.pipe(
          Effect.map((rows) => rows.length > 0 ? "replaced" as const : "missed" as const),
          Effect.catchIf(isUniqueViolation, () => Effect.succeed("taken" as const)),
          Effect.flatMap((outcome) =>
            outcome !== "missed" ? Effect.succeed(outcome) : findEntry({ tenant, subject }).pipe(
              Effect.map(Option.match({
                onNone: () => "not-found" as const,
                onSome: (row) => row.email_index === index ? "unchanged" as const : "taken" as const
              }))
            )
          ),
          Effect.mapError(fail("replace"))
        )
    } satisfies DirectoryStore
  }
)

/**
 * The directory on SQL (PostgreSQL or PGlite), migrated on start-up.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSql: Layer.Layer<
  SubjectDirectory,
  Migrations.MigrationFailed,
  Vault.Vault | SqlClient.SqlClient
> = Layer.scoped(SubjectDirectory, Effect.flatMap(sqlStore, make))

/**
 * The name of the directory's personal-data source.
 *
 * @since 0.1.0
 * @category models
 */
export const sourceName = "subject-directory"

const noRecords: PersonalDataRegistry.SourceExport = { records: [] }

/**
 * The directory as a personal-data source (category `"contact.email"`):
 * export gives the subject's address (`{ email }`), erase forgets the subject,
 * and rectify with `{ email: "new address" }` re-seals and re-indexes it,
 * failing with `EmailAlreadyInUse` as cause when the address belongs to
 * another subject. The address the subject already has (once normalised)
 * changes nothing and rectifies nothing (`{ rectified: 0 }`), unless its
 * stored value does not open, which it seals again (`{ rectified: 1 }`); nor does a
 * subject the directory does not know, or whose key was shredded, which
 * exports nothing too.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeSource = (
  directory: Context.Tag.Service<typeof SubjectDirectory>
): PersonalDataRegistry.PersonalDataSource => {
  const fail = (operation: PersonalDataRegistry.Operation) => PersonalDataRegistry.sourceError(sourceName, operation)
  return {
    name: sourceName,
    description: "Each subject's email address, sealed by the Vault, and the blind index that finds it",
    categories: ["contact.email"],
    purposes: ["subject-identification"],
    export: (tenant, subject) =>
      directory.entryOf(tenant, subject).pipe(
        Effect.map((entry): PersonalDataRegistry.SourceExport => ({
          records: [{
            category: "contact.email",
            fields: { email: entry.email },
            recordedAt: entry.createdAt.toISOString()
          }]
        })),
        Effect.catchTags({
          SubjectNotFound: () => Effect.succeed(noRecords),
          SubjectShredded: () => Effect.succeed(noRecords)
        }),
        Effect.mapError(fail("export"))
      ),
    erase: (tenant, subject) =>
      directory.forget(tenant, subject).pipe(
        Effect.map((removed) => ({ erased: removed ? 1 : 0 })),
        Effect.mapError(fail("erase"))
      ),
    rectify: (tenant, subject, changes) => {
      const email = changes.email
      if (email === undefined) return Effect.succeed({ rectified: 0 })
      if (typeof email !== "string") return Effect.dieMessage("The email of a rectification must be a string")
      // The address the subject already has, once normalised, is no change (see `changeEmail`).
      return directory.changeEmail(tenant, subject, email).pipe(
        Effect.map((changed) => ({ rectified: changed ? 1 : 0 })),
        Effect.catchTags({
          SubjectNotFound: () => Effect.succeed({ rectified: 0 }),
          SubjectShredded: () => Effect.succeed({ rectified: 0 })
        }),
        Effect.mapError(fail("rectify"))
      )
    }
  }
}

/**
 * Registers the directory in the `PersonalDataRegistry` (see `makeSource`).
 *
 * @since 0.1.0
 * @category layers
 */
export const personalDataSource: Layer.Layer<
  never,
  PersonalDataRegistry.SourceAlreadyRegistered,
  PersonalDataRegistry.PersonalDataRegistry | SubjectDirectory
> = PersonalDataRegistry.register(Effect.map(SubjectDirectory, makeSource))
