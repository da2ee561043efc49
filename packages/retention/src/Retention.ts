/**
 * Everything retention needs, in one layer per backend: policies, legal
 * holds, the sweep journal, the sweeper and the report. Provide it with
 * core's `RetentionTargets` (where packages register their categories) and
 * an `AuditTrail`; `Sweeper.layerScheduled` then runs sweeps in the
 * background.
 *
 * ```ts
 * const retention = Retention.layerSql().pipe(
 *   Layer.provideMerge(categories), // RetentionTargets with the packages' registrations
 *   Layer.provide(AuditLog.layer),
 *   Layer.provide(Database.layer)
 * )
 * ```
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { AuditTrail } from "@lawful/audit-trail/AuditTrail"
import type * as Migrations from "@lawful/core/Migrations"
import type { RetentionTargets } from "@lawful/core/RetentionTarget"
import * as Layer from "effect/Layer"
import * as LegalHold from "./LegalHold.js"
import * as RetentionPolicy from "./RetentionPolicy.js"
import * as RetentionReport from "./RetentionReport.js"
import * as Sweeper from "./Sweeper.js"
import * as SweepJournal from "./SweepJournal.js"

/**
 * The services this module's layers provide.
 *
 * @since 0.1.0
 * @category models
 */
export type Services =
  | RetentionPolicy.RetentionPolicies
  | LegalHold.LegalHolds
  | SweepJournal.SweepJournal
  | Sweeper.Sweeper
  | RetentionReport.RetentionReport

const assemble = <E, R>(stores: Layer.Layer<
  RetentionPolicy.RetentionPolicies | LegalHold.LegalHolds | SweepJournal.SweepJournal,
  E,
  R
>, options: Sweeper.SweeperOptions) =>
  Layer.mergeAll(Sweeper.layerWith(options), RetentionReport.layer).pipe(Layer.provideMerge(stores))

/**
 * Retention in memory, for tests and programs without a database.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (
  options: Sweeper.SweeperOptions = {}
): Layer.Layer<Services, never, RetentionTargets | AuditTrail> =>
  assemble(Layer.mergeAll(RetentionPolicy.layerMemory, LegalHold.layerMemory, SweepJournal.layerMemory), options)

/**
 * Retention on SQL (PostgreSQL or PGlite), migrated on start-up.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSql = (
  options: Sweeper.SweeperOptions = {}
): Layer.Layer<Services, Migrations.MigrationFailed, RetentionTargets | AuditTrail | SqlClient.SqlClient> =>
  assemble(Layer.mergeAll(RetentionPolicy.layerSql, LegalHold.layerSql, SweepJournal.layerSql), options)
