/**
 * The lists (or purposes) a tenant collects consent for. A tenant declares
 * each list before any consent is recorded for it; recording consent for a
 * list the tenant has not declared fails with `UnknownList`, and nothing is
 * recorded.
 *
 * A list says whether it needs double opt-in: a grant for it stays pending
 * until the person confirms (the confirmation click), and only then may the
 * person receive marketing on it. Whether a grant awaited confirmation is
 * written into the event itself, so changing the declaration later never
 * changes the meaning of events already recorded.
 *
 * `require` trusts a declaration it has read for 10 seconds: a list declared
 * by another process is found at once (a list not in the cache is looked
 * up), a changed declaration is seen within that time.
 *
 * Backends: `layerMemory`, and `layerSql` on the table `lawful_consent_lists`
 * (migrated in `lawful_consent_proof_migrations`, with the rest of the package).
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlSchema from "@effect/sql/SqlSchema"
import * as Database from "@lawful/core/Database"
import type * as Migrations from "@lawful/core/Migrations"
import { describe as describeTenant, is as isTenantId, type TenantId } from "@lawful/core/TenantId"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as CoreText from "@lawful/core/Text"
import * as Schema from "effect/Schema"
import { describeIssues } from "./internal/issues.js"
import { migrate } from "./internal/migrations.js"

/**
 * A list id: lower-case letters, digits, `.`, `_` and `-`, 1 to 64
 * characters, starting with a letter or digit (`"newsletter"`,
 * `"offers.partners"`).
 *
 * @since 0.1.0
 * @category models
 */
export const ListId = Schema.String.pipe(
  Schema.pattern(/^[a-z0-9][a-z0-9._-]{0,63}$/, {
    message: () => "a list id is 1 to 64 lower-case letters, digits, '.', '_' or '-'"
  }),
  Schema.brand("@lawful/consent-proof/ListId")
)

/**
 * @since 0.1.0
 * @category models
 */
export type ListId = typeof ListId.Type

const isListId = Schema.is(ListId)

/**
 * A list as a tenant declares it.
 *
 * @since 0.1.0
 * @category models
 */
export class ConsentList extends Schema.Class<ConsentList>("@lawful/consent-proof/ConsentList")({
  id: ListId,
  /** The name people see ("Weekly digest"). */
  name: CoreText.nonEmpty(200),
  /** What the list is for, as the notice states it ("A weekly email with our new articles"). */
  purpose: CoreText.nonEmpty(1000),
  /** Whether a grant stays pending until the person confirms it. */
  doubleOptIn: Schema.Boolean
}) {}

/**
 * Some lists are not declared by the tenant. Nothing was recorded.
 *
 * `lists` names the missing ids that are well-formed list ids; the others
 * (text no list can have, such as an email address given as a list) are
 * only counted, in `malformed`: list ids are caller input, and errors end up
 * in logs. A tenant id that is not a lower-case UUID names a tenant with no
 * list: `tenantId` is then empty, and the id is not quoted.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnknownList extends Schema.TaggedError<UnknownList>()("UnknownList", {
  tenantId: Schema.String,
  lists: Schema.Array(Schema.String),
  /** How many of the ids asked for are not well-formed list ids (not carried). */
  malformed: Schema.optionalWith(Schema.NonNegativeInt, { default: () => 0 })
}) {
  override get message(): string {
    const named = this.lists.length === 0 ? [] : [`the lists ${this.lists.join(", ")}`]
    const malformed = this.malformed === 0
      ? []
      : [`${this.malformed} list id(s) that are not well-formed (1 to 64 lower-case letters, digits, '.', '_' or '-')`]
    return `Tenant ${describeTenant(this.tenantId)} has not declared ${[...named, ...malformed].join(", nor ")}`
  }
}

/**
 * A declaration is not a list (as from untyped code: a plain object whose id
 * is not a list id, a name with a NUL, a missing field). Nothing was
 * declared. Each issue names a field and what is wrong with it, never its
 * value. A tenant id that is not a lower-case UUID is refused so too
 * (`tenantId` empty, the id not quoted).
 *
 * @since 0.2.0
 * @category errors
 */
export class ConsentListInvalid extends Schema.TaggedError<ConsentListInvalid>()("ConsentListInvalid", {
  tenantId: Schema.String,
  issues: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `Tenant ${describeTenant(this.tenantId)} cannot declare this list: ${this.issues.join("; ")}`
  }
}

/**
 * The lists could not be read or written.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConsentListsError extends Schema.TaggedError<ConsentListsError>()("ConsentListsError", {
  operation: Schema.String,
  cause: Schema.Defect
}) {
  override get message(): string {
    return `Consent lists operation ${this.operation} failed`
  }
}

/**
 * @since 0.1.0
 * @category services
 */
export class ConsentLists extends Context.Tag("@lawful/consent-proof/ConsentLists")<ConsentLists, {
  /**
   * Declares a list, or replaces the declaration of a list with the same id. A value that is not
   * a valid `ConsentList` (untyped code may pass anything), or a tenant id that is not a lower-case
   * UUID, fails `ConsentListInvalid`, declaring nothing.
   */
  readonly declare: (tenant: TenantId, list: ConsentList) => Effect.Effect<void, ConsentListInvalid | ConsentListsError>
  /** The tenant's lists, by id; none for a tenant id that is not a lower-case UUID. */
  readonly all: (tenant: TenantId) => Effect.Effect<ReadonlyArray<ConsentList>, ConsentListsError>
  /**
   * The declarations of the given lists, in the order given; `UnknownList` names those not declared
   * (every one, for a tenant id that is not a lower-case UUID).
   */
  readonly require: (
    tenant: TenantId,
    lists: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<ConsentList>, UnknownList | ConsentListsError>
}>() {}

// An instance, or a plain object of its fields; either way checked.
const decodeList = Schema.decodeUnknown(ConsentList, { errors: "all", onExcessProperty: "error" })

interface ListsStore {
  readonly upsert: (tenant: TenantId, list: ConsentList) => Effect.Effect<void, ConsentListsError>
  readonly all: (tenant: TenantId) => Effect.Effect<ReadonlyArray<ConsentList>, ConsentListsError>
  readonly some: (tenant: TenantId, ids: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<ConsentList>, ConsentListsError>
}

// How long `require` trusts a declaration it read: every record checks its lists.
const cacheMillis = 10_000

const make = (store: ListsStore) => {
  const cache = new Map<string, { readonly list: ConsentList; readonly expires: number }>()
  const cacheKey = (tenant: TenantId, id: string) => `${tenant}/${id}`
  return ConsentLists.of({
    declare: (tenant, input) =>
      Effect.gen(function*() {
        // A tenant id is caller input too: memory would keep a tenant of its own under any text,
        // and SQL fail quoting it, or take an upper-case id as the tenant's own.
        if (!isTenantId(tenant)) {
          return yield* new ConsentListInvalid({ tenantId: "", issues: ["tenant: invalid (a tenant id is a lower-case UUID)"] })
        }
        // The store is handed a checked list only: memory would keep anything, and a row that
        // SQL took (an id that is no list id) would make every later read of the lists fail.
        const list = yield* decodeList(input).pipe(
          Effect.mapError((error) => new ConsentListInvalid({ tenantId: tenant, issues: describeIssues(error, "list") }))
        )
        yield* store.upsert(tenant, list).pipe(Effect.ensuring(Effect.sync(() => cache.delete(cacheKey(tenant, list.id)))))
      }).pipe(
        Effect.withSpan("ConsentLists.declare", {
          captureStackTrace: false,
          // The id is caller input: named only when it is a list id (an address must not leave the process).
          attributes: { tenant: describeTenant(tenant), list: isListId(input?.id) ? input.id : "(not a list id)" }
        })
      ),
    all: (tenant) => (isTenantId(tenant) ? store.all(tenant) : Effect.succeed([])).pipe(Effect.withSpan("ConsentLists.all", { captureStackTrace: false, attributes: { tenant: describeTenant(tenant) } })),
    require: (tenant, ids) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const cached = ids.map((id) => cache.get(cacheKey(tenant, id)))
        if (cached.every((entry) => entry !== undefined && entry.expires > now)) return cached.map((entry) => entry!.list)
        // An id no list can have is missing on every store alike: a database is not asked about
        // text it may not even store (a NUL), so that the answer is `UnknownList` there too.
        // So is a tenant id that is not one: a tenant with no list.
        const valid = isTenantId(tenant) ? ids.filter(isListId) : []
        const found = new Map(
          (valid.length === 0 ? [] : yield* store.some(tenant, valid)).map((list) => [list.id as string, list])
        )
        for (const list of found.values()) cache.set(cacheKey(tenant, list.id), { list, expires: now + cacheMillis })
        const missing = [...new Set(ids)].filter((id) => !found.has(id))
        if (missing.length > 0) {
          const named = missing.filter(isListId)
          return yield* new UnknownList({ tenantId: isTenantId(tenant) ? tenant : "", lists: named, malformed: missing.length - named.length })
        }
        return ids.map((id) => found.get(id)!)
      }).pipe(Effect.withSpan("ConsentLists.require", { captureStackTrace: false, attributes: { tenant: describeTenant(tenant) } }))
  })
}

const byId = (a: ConsentList, b: ConsentList) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

/**
 * Lists in memory.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<ConsentLists> = Layer.sync(ConsentLists, () => {
  const lists = new Map<TenantId, Map<string, ConsentList>>()
  const of = (tenant: TenantId) => lists.get(tenant) ?? new Map<string, ConsentList>()
  return make({
    upsert: (tenant, list) => Effect.sync(() => void lists.set(tenant, of(tenant).set(list.id, list))),
    all: (tenant) => Effect.sync(() => [...of(tenant).values()].sort(byId)),
    some: (tenant, ids) =>
      Effect.sync(() => ids.flatMap((id) => {
        const list = of(tenant).get(id)
        return list ? [list] : []
      }))
  })
})

const ListRow = Schema.Struct({
  list_id: ListId,
  name: Schema.String,
  purpose: Schema.String,
  double_opt_in: Schema.Boolean
})

const toList = (row: typeof ListRow.Type) =>
  new ConsentList({ id: row.list_id, name: row.name, purpose: row.purpose, doubleOptIn: row.double_opt_in })

/**
 * Lists on SQL (PostgreSQL or PGlite), migrated on start-up.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSql: Layer.Layer<ConsentLists, Migrations.MigrationFailed, SqlClient.SqlClient> = Layer.effect(
  ConsentLists,
  Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    yield* migrate(sql)
    // A driver's error keeps its SQLSTATE code and the names of what failed, never the data its
    // diagnostics quote (a failing row, a key).
    const fail = (operation: string) => (cause: unknown) => new ConsentListsError({ operation, cause: Database.safeSqlError(cause) })
    const all = SqlSchema.findAll({
      Request: Schema.String,
      Result: ListRow,
      execute: (tenant) =>
        // By the ids' bytes, as the memory store sorts them: the database's collation (an
        // ICU or en_US one puts "a_b" before "a-b") would order them differently.
        sql`SELECT list_id, name, purpose, double_opt_in FROM lawful_consent_lists
            WHERE tenant_id = ${tenant} ORDER BY list_id COLLATE "C"`
    })
    const some = SqlSchema.findAll({
      Request: Schema.Struct({ tenant: Schema.String, ids: Schema.Array(Schema.String) }),
      Result: ListRow,
      execute: ({ ids, tenant }) =>
        sql`SELECT list_id, name, purpose, double_opt_in FROM lawful_consent_lists
            WHERE tenant_id = ${tenant} AND list_id = ANY(${ids}::text[])`
    })
    return make({
      upsert: (tenant, list) =>
        sql`INSERT INTO lawful_consent_lists (tenant_id, list_id, name, purpose, double_opt_in)
            VALUES (${tenant}, ${list.id}, ${list.name}, ${list.purpose}, ${list.doubleOptIn})
            ON CONFLICT (tenant_id, list_id) DO UPDATE
            SET name = excluded.name, purpose = excluded.purpose, double_opt_in = excluded.double_opt_in`.pipe(
          Effect.asVoid,
          Effect.mapError(fail("declare"))
        ),
      all: (tenant) => all(tenant).pipe(Effect.map((rows) => rows.map(toList)), Effect.mapError(fail("all"))),
      some: (tenant, ids) =>
        ids.length === 0
          ? Effect.succeed([])
          : some({ tenant, ids }).pipe(Effect.map((rows) => rows.map(toList)), Effect.mapError(fail("require")))
    })
  })
)
