/**
 * The audit trail for the tests of a store that records processing: the log, with its store in
 * the output, a random signing key and checkpoints published in memory, in one line. Without
 * vitest, so scripts and benchmarks can use it too.
 *
 * - `auditMemory`: the log on `AuditStore.layerMemory`;
 * - `auditSql`: the log on `AuditStore.layerSql`, on the `SqlClient` in context (the database
 *   `contractSuite` of `@lawful/core/testing` gives each backend), so a store and its audit log
 *   share one database, and an append inside the store's transaction joins it;
 * - `auditOver(store)`: the log on the store given (a store wrapped by a test, or on another
 *   database).
 *
 * ```ts
 * contractSuite("MyStore", {
 *   memory: MyStore.layerMemory.pipe(Layer.provideMerge(Layer.merge(coreMemory, auditMemory))),
 *   sql: MyStore.layerSql.pipe(Layer.provideMerge(Layer.merge(coreSql, auditSql)))
 * }, (it) => { ... })
 * ```
 *
 * `AuditLog.layerMemory` is `auditMemory` without the store in its output.
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as Migrations from "@lawful/core/Migrations"
import * as Layer from "effect/Layer"
import * as AuditLog from "./AuditLog.js"
import * as AuditStore from "./AuditStore.js"
import type { AuditTrail } from "./AuditTrail.js"
import * as CheckpointPublisher from "./CheckpointPublisher.js"

/**
 * What `auditMemory`, `auditSql` and `auditOver` provide: the log, the `AuditTrail` over it, and
 * the store it writes to, for tests that read or tamper with the stored rows.
 *
 * @since 0.1.0
 * @category models
 */
export type AuditServices = AuditLog.AuditLog | AuditTrail | AuditStore.AuditStore

/**
 * A complete log over `store`, which stays in the output: a random signing key
 * (`AuditLog.AuditSigner.layerRandom`) and checkpoints published in memory
 * (`CheckpointPublisher.layerMemory`). New keys and publications for each build of the layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const auditOver = <E, R>(
  store: Layer.Layer<AuditStore.AuditStore, E, R>
): Layer.Layer<AuditServices, E, R> =>
  AuditLog.layer.pipe(
    Layer.provide(Layer.merge(AuditLog.AuditSigner.layerRandom, CheckpointPublisher.layerMemory)),
    Layer.provideMerge(store)
  )

/**
 * The log in memory, its store in the output. New for each build of the layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const auditMemory: Layer.Layer<AuditServices> = auditOver(AuditStore.layerMemory)

/**
 * The log on the database in context (`AuditStore.layerSql`, which runs its migrations), its store
 * in the output: over the `SqlClient` that `contractSuite` gives a store's SQL layer (PGlite,
 * PostgreSQL), beside `coreSql`, so the store, core and the log share one database, as in
 * production.
 *
 * @since 0.1.0
 * @category layers
 */
export const auditSql: Layer.Layer<AuditServices, Migrations.MigrationFailed, SqlClient.SqlClient> = auditOver(
  AuditStore.layerSql
)
