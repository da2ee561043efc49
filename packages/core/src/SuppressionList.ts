/**
 * A tenant's suppression list: addresses that must never be mailed or
 * imported again (erased subjects, hard bounces, complaints, unsubscribes
 * from everything).
 *
 * Addresses are kept only as a keyed hash (`Vault.blindIndex` in the
 * `"suppression"` domain, under the tenant's key): the list recognises an
 * address when it comes back, yet holds no address, and its hashes cannot be
 * joined with the subject directory's.
 *
 * Every method checks the tenant id first: one that is not a lower-case UUID fails with
 * `SuppressionListError`, alike on every backend, before anything is read or written; so does a
 * reason outside `Reason` given to `add`, and a list given to `suppressed` that is not an array
 * or holds a value that is not a string.
 *
 * A row stored on SQL with a reason outside `Reason` (which `add` took before it checked reasons)
 * reads as `"manual"`: as every method already treats it, a suppression that `remove` lifts and
 * an erasure replaces.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { safeSqlError } from "./Database.js"
import * as Email from "./Email.js"
import { notAnId } from "./internal/refusal.js"
import * as Migrations from "./Migrations.js"
import * as TenantIds from "./TenantId.js"
import type { TenantId } from "./TenantId.js"
import * as Vault from "./Vault.js"

/**
 * Why an address is suppressed.
 *
 * @since 0.1.0
 * @category models
 */
export const Reason = Schema.Literal("erasure", "unsubscribe", "bounce", "complaint", "manual")

/**
 * @since 0.1.0
 * @category models
 */
export type Reason = typeof Reason.Type

/**
 * The blind-index domain of suppression hashes.
 *
 * @since 0.1.0
 * @category models
 */
export const domain = "suppression"

/**
 * The suppression list could not be read or written: its storage failed (`cause` is the
 * `SqlError` as `Database.safeSqlError` keeps it, never a row or a value quoted), or it was given what
 * it does not take (a tenant id that is not a lower-case UUID, a reason outside `Reason`, a list
 * of addresses that is not an array or holds a value that is not a string), which is refused before anything is read or written, alike
 * on every backend, and never quoted (`cause` says what was wrong, not what was given).
 *
 * @since 0.1.0
 * @category errors
 */
export class SuppressionListError extends Schema.TaggedError<SuppressionListError>()("SuppressionListError", {
  operation: Schema.String,
  cause: Schema.Defect
}) {
  override get message(): string {
    return `Suppression list operation ${this.operation} failed`
  }
}

/**
 * @since 0.1.0
 * @category services
 */
export class SuppressionList extends Context.Tag("@lawful/core/SuppressionList")<SuppressionList, {
  /**
   * Suppresses the address; the first reason is kept, except that an erasure replaces any
   * other (so that `remove` cannot lift it). A reason outside `Reason` fails with
   * `SuppressionListError` and stores nothing.
   */
  readonly add: (
    tenant: TenantId,
    email: string,
    reason: Reason
  ) => Effect.Effect<void, Email.InvalidEmail | SuppressionListError | Vault.VaultError>
  /**
   * Why the address is suppressed, if it is. Like `suppressed` and `remove`, it creates
   * nothing, not even the key of a tenant never used (which has suppressed nothing), and
   * answers the same inside a transaction.
   */
  readonly reasonFor: (
    tenant: TenantId,
    email: string
  ) => Effect.Effect<Option.Option<Reason>, Email.InvalidEmail | SuppressionListError | Vault.VaultError>
  /**
   * Which of the (already normalised) addresses are suppressed: one query for a whole batch. A
   * list holding a value that is not a string (from a caller without types) fails with
   * `SuppressionListError`, never quoting it, before any is looked up.
   */
  readonly suppressed: (
    tenant: TenantId,
    emails: ReadonlyArray<Email.Email>
  ) => Effect.Effect<ReadonlySet<Email.Email>, SuppressionListError | Vault.VaultError>
  /** Lifts a suppression (for example after a new, confirmed subscription); erasures cannot be lifted. */
  readonly remove: (
    tenant: TenantId,
    email: string
  ) => Effect.Effect<boolean, Email.InvalidEmail | SuppressionListError | Vault.VaultError>
  readonly count: (tenant: TenantId) => Effect.Effect<number, SuppressionListError>
}>() {}

interface Store {
  readonly insert: (tenant: TenantId, hash: string, reason: Reason, at: Date) => Effect.Effect<void, SuppressionListError>
  readonly reasons: (tenant: TenantId, hashes: ReadonlyArray<string>) => Effect.Effect<ReadonlyMap<string, Reason>, SuppressionListError>
  readonly removeUnlessErased: (tenant: TenantId, hash: string) => Effect.Effect<boolean, SuppressionListError>
  readonly count: (tenant: TenantId) => Effect.Effect<number, SuppressionListError>
}

const reasons: ReadonlySet<unknown> = new Set(Reason.literals)
const isReason = (value: unknown): value is Reason => reasons.has(value)

// What a caller without types may pass that the list does not take, refused before anything is
// read or written on every backend (memory would take an upper-case tenant id as another tenant,
// SQL as the lower-case one), never quoting it: a value put in the wrong place may be an address.
const refuse = (operation: string, what: string) =>
  Effect.fail(new SuppressionListError({ operation, cause: new Error(what) }))
const checkTenant = (operation: string, tenant: unknown): Effect.Effect<void, SuppressionListError> =>
  TenantIds.is(tenant)
    ? Effect.void
    : refuse(operation, notAnId("tenant"))

const make = (store: Store) =>
  Effect.gen(function*() {
    const vault = yield* Vault.Vault
    // Lookups find the hash without creating the tenant's key: a tenant without one has
    // suppressed nothing (`None`), and a read then writes nothing, inside a transaction too.
    const foundHash = (operation: string, tenant: TenantId, email: string) =>
      Effect.zipRight(
        checkTenant(operation, tenant),
        Effect.flatMap(Email.normalize(email), (normalized) => vault.findBlindIndex(tenant, domain, normalized))
      )
    return SuppressionList.of({
      add: (tenant, email, reason) =>
        Effect.gen(function*() {
          yield* checkTenant("add", tenant)
          if (!reasons.has(reason)) return yield* refuse("add", "the reason given is not one of Reason")
          const normalized = yield* Email.normalize(email)
          const hash = yield* vault.blindIndex(tenant, domain, normalized)
          yield* store.insert(tenant, hash, reason, new Date(yield* Clock.currentTimeMillis))
        }).pipe(
          Effect.withSpan("SuppressionList.add", {
            captureStackTrace: false,
            attributes: { reason: reasons.has(reason) ? reason : undefined }
          })
        ),
      reasonFor: (tenant, email) =>
        Effect.gen(function*() {
          const hash = yield* foundHash("reasonFor", tenant, email)
          if (Option.isNone(hash)) return Option.none()
          return Option.fromNullable((yield* store.reasons(tenant, [hash.value])).get(hash.value))
        }).pipe(Effect.withSpan("SuppressionList.reasonFor", { captureStackTrace: false })),
      suppressed: (tenant, emails) =>
        Effect.gen(function*() {
          yield* checkTenant("suppressed", tenant)
          if (!Array.isArray(emails)) return yield* refuse("suppressed", "the addresses given are not an array")
          // Checked whole before any is hashed: a value would be hashed as its text (an object by
          // its `toString`), or throw (a symbol).
          if (emails.some((email: unknown) => typeof email !== "string")) {
            return yield* refuse("suppressed", "an address given is not a string")
          }
          const hashes: Array<readonly [Email.Email, string]> = []
          for (const email of emails) {
            // The first answers for all: the tenant has a key (cached from then on) or none.
            const hash = yield* vault.findBlindIndex(tenant, domain, email)
            if (Option.isNone(hash)) return new Set<Email.Email>()
            hashes.push([email, hash.value])
          }
          if (hashes.length === 0) return new Set<Email.Email>()
          const found = yield* store.reasons(tenant, hashes.map(([, hash]) => hash))
          return new Set(hashes.filter(([, hash]) => found.has(hash)).map(([email]) => email))
        }).pipe(Effect.withSpan("SuppressionList.suppressed", { captureStackTrace: false, attributes: { count: Array.isArray(emails) ? emails.length : undefined } })),
      remove: (tenant, email) =>
        Effect.flatMap(foundHash("remove", tenant, email), Option.match({
          onNone: () => Effect.succeed(false),
          onSome: (hash) => store.removeUnlessErased(tenant, hash)
        })).pipe(
          Effect.withSpan("SuppressionList.remove", { captureStackTrace: false })
        ),
      count: (tenant) => Effect.zipRight(checkTenant("count", tenant), store.count(tenant))
    })
  })

/**
 * The suppression list in memory.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<SuppressionList, never, Vault.Vault> = Layer.effect(
  SuppressionList,
  Effect.suspend(() => {
    const entries = new Map<string, Reason>()
    const key = (tenant: TenantId, hash: string) => `${tenant}/${hash}`
    return make({
      insert: (tenant, hash, reason) =>
        Effect.sync(() => {
          if (!entries.has(key(tenant, hash)) || reason === "erasure") entries.set(key(tenant, hash), reason)
        }),
      reasons: (tenant, hashes) =>
        Effect.sync(() => {
          const found = new Map<string, Reason>()
          for (const hash of hashes) {
            const reason = entries.get(key(tenant, hash))
            if (reason) found.set(hash, reason)
          }
          return found
        }),
      removeUnlessErased: (tenant, hash) =>
        Effect.sync(() => {
          const reason = entries.get(key(tenant, hash))
          if (reason === undefined || reason === "erasure") return false
          entries.delete(key(tenant, hash))
          return true
        }),
      count: (tenant) => Effect.sync(() => [...entries.keys()].filter((k) => k.startsWith(`${tenant}/`)).length)
    })
  })
)

const migrations: Record<string, Migrations.Migration> = {
  "0001_suppression_list": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`CREATE TABLE lawful_suppression_list (
      tenant_id uuid NOT NULL,
      address_hash text NOT NULL,
      reason text NOT NULL,
      created_at timestamptz NOT NULL,
      PRIMARY KEY (tenant_id, address_hash)
    )`)
}

/**
 * The suppression list on SQL (PostgreSQL or PGlite), migrated on start-up.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSql: Layer.Layer<
  SuppressionList,
  Migrations.MigrationFailed,
  Vault.Vault | SqlClient.SqlClient
> = Layer.effect(
  SuppressionList,
  Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    yield* Migrations.run("suppression", migrations).pipe(Effect.provideService(SqlClient.SqlClient, sql))
    const fail = (operation: string) => (cause: unknown) => new SuppressionListError({ operation, cause: safeSqlError(cause) })
    return yield* make({
      insert: (tenant, hash, reason, at) =>
        sql`INSERT INTO lawful_suppression_list (tenant_id, address_hash, reason, created_at)
            VALUES (${tenant}, ${hash}, ${reason}, ${at})
            ON CONFLICT (tenant_id, address_hash) DO UPDATE SET reason = EXCLUDED.reason
              WHERE EXCLUDED.reason = 'erasure' AND lawful_suppression_list.reason <> 'erasure'`.pipe(
          Effect.asVoid,
          Effect.mapError(fail("add"))
        ),
      reasons: (tenant, hashes) =>
        sql<{ address_hash: string; reason: string }>`
          SELECT address_hash, reason FROM lawful_suppression_list
          WHERE tenant_id = ${tenant} AND address_hash = ANY(${hashes}::text[])`.pipe(
          // A reason outside `Reason`, stored before `add` checked them, is what every statement
          // here treats it as: not an erasure, so a manual suppression.
          Effect.map((rows) =>
            new Map(rows.map((row) => [row.address_hash, isReason(row.reason) ? row.reason : "manual" as const]))
          ),
          Effect.mapError(fail("lookup"))
        ),
      removeUnlessErased: (tenant, hash) =>
        sql`DELETE FROM lawful_suppression_list
            WHERE tenant_id = ${tenant} AND address_hash = ${hash} AND reason <> 'erasure'
            RETURNING address_hash`.pipe(
          Effect.map((rows) => rows.length > 0),
          Effect.mapError(fail("remove"))
        ),
      count: (tenant) =>
        sql<{ n: number }>`SELECT count(*)::int AS n FROM lawful_suppression_list WHERE tenant_id = ${tenant}`.pipe(
          Effect.map((rows) => rows[0]?.n ?? 0),
          Effect.mapError(fail("count"))
        )
    })
  })
)
