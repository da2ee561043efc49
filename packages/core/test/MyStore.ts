/**
 * The README's `MyStore`, written as "Writing a store" says: a note per subject, sealed by the
 * Vault, in memory or in a SQL table of its own. Its layers need the Vault, so its contract suite
 * gets it from `coreMemory` / `coreSql`.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlSchema from "@effect/sql/SqlSchema"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Database from "../src/Database.js"
import * as Migrations from "../src/Migrations.js"
import type { SubjectId } from "../src/SubjectId.js"
import type { TenantId } from "../src/TenantId.js"
import * as Vault from "../src/Vault.js"

export class MyStoreError extends Schema.TaggedError<MyStoreError>()("MyStoreError", {
  operation: Schema.String,
  cause: Schema.Defect
}) {}

export class MyStore extends Context.Tag("@lawful/core/test/MyStore")<MyStore, {
  readonly keep: (tenant: TenantId, subject: SubjectId, note: string) => Effect.Effect<void, MyStoreError>
  readonly read: (tenant: TenantId, subject: SubjectId) => Effect.Effect<Option.Option<string>, MyStoreError>
}>() {}

interface Rows {
  readonly put: (tenant: TenantId, subject: SubjectId, sealed: Uint8Array) => Effect.Effect<void, unknown>
  readonly get: (tenant: TenantId, subject: SubjectId) => Effect.Effect<Option.Option<Uint8Array>, unknown>
}

const purpose = "my-store.note"

const make = (rows: Rows) =>
  Effect.map(Vault.Vault, (vault) => {
    const fail = (operation: string) => (cause: unknown) =>
      new MyStoreError({ operation, cause: Database.safeSqlError(cause) })
    return MyStore.of({
      keep: (tenant, subject, note) =>
        vault.seal(tenant, subject, purpose, note).pipe(
          Effect.flatMap((sealed) => rows.put(tenant, subject, sealed)),
          Effect.mapError(fail("keep"))
        ),
      read: (tenant, subject) =>
        rows.get(tenant, subject).pipe(
          Effect.flatMap(Option.match({
            onNone: () => Effect.succeedNone,
            onSome: (sealed) => Effect.asSome(vault.openString(tenant, subject, purpose, sealed))
          })),
          Effect.mapError(fail("read"))
        )
    })
  })

export const layerMemory: Layer.Layer<MyStore, never, Vault.Vault> = Layer.effect(
  MyStore,
  Effect.suspend(() => {
    const notes = new Map<string, Uint8Array>()
    return make({
      put: (tenant, subject, sealed) => Effect.sync(() => void notes.set(`${tenant}/${subject}`, sealed)),
      get: (tenant, subject) => Effect.sync(() => Option.fromNullable(notes.get(`${tenant}/${subject}`)))
    })
  })
)

export const layerSql: Layer.Layer<MyStore, Migrations.MigrationFailed, Vault.Vault | SqlClient.SqlClient> = Layer
  .effect(
    MyStore,
    Effect.gen(function*() {
      const sql = (yield* SqlClient.SqlClient).withoutTransforms()
      yield* Migrations.run("my-store", {
        "0001_notes": sql`CREATE TABLE my_store_notes (
          tenant_id uuid NOT NULL,
          subject_id uuid NOT NULL,
          sealed bytea NOT NULL,
          PRIMARY KEY (tenant_id, subject_id)
        )`
      }).pipe(Effect.provideService(SqlClient.SqlClient, sql))
      const find = SqlSchema.findOne({
        Request: Schema.Struct({ tenant: Schema.String, subject: Schema.String }),
        Result: Schema.Struct({ sealed: Schema.Uint8ArrayFromSelf }),
        execute: ({ subject, tenant }) =>
          sql`SELECT sealed FROM my_store_notes WHERE tenant_id = ${tenant} AND subject_id = ${subject}`
      })
      return yield* make({
        put: (tenant, subject, sealed) =>
          sql`INSERT INTO my_store_notes (tenant_id, subject_id, sealed) VALUES (${tenant}, ${subject}, ${sealed})
              ON CONFLICT (tenant_id, subject_id) DO UPDATE SET sealed = EXCLUDED.sealed`,
        get: (tenant, subject) => Effect.map(find({ tenant, subject }), Option.map((row) => row.sealed))
      })
    })
  )
