import * as AuditLog from "@lawful/audit-trail/AuditLog"
import type { AuditTrail } from "@lawful/audit-trail/AuditTrail"
import { auditSql } from "@lawful/audit-trail/testing"
import type * as Migrations from "@lawful/core/Migrations"
import type * as PersonalDataRegistry from "@lawful/core/PersonalDataRegistry"
import type * as RetentionTarget from "@lawful/core/RetentionTarget"
import type * as SubjectDirectory from "@lawful/core/SubjectDirectory"
import type * as SuppressionList from "@lawful/core/SuppressionList"
import { coreMemory, coreSql } from "@lawful/core/testing"
import type { Database } from "@lawful/core/testing"
import type * as Vault from "@lawful/core/Vault"
import * as Layer from "effect/Layer"
import * as ConsentLedger from "../src/ConsentLedger.js"
import * as ConsentLists from "../src/ConsentLists.js"
import * as ConsentStore from "../src/ConsentStore.js"

/** Everything a consent test reaches. */
export type Services =
  | ConsentLedger.ConsentLedger
  | ConsentStore.ConsentStore
  | ConsentLists.ConsentLists
  | SubjectDirectory.SubjectDirectory
  | SuppressionList.SuppressionList
  | Vault.Vault
  | AuditLog.AuditLog
  | AuditTrail
  | PersonalDataRegistry.PersonalDataRegistry
  | RetentionTarget.RetentionTargets

/** The ledger's registrations, into the registries of `coreMemory` / `coreSql` provided under them. */
export const registrations = Layer.mergeAll(ConsentLedger.personalDataSource, ConsentLedger.withdrawnProofRetention)

/** The audit log on the database provided, its store too (`auditSql`). */
export const sqlAudit = auditSql

/** The ledger and everything under it, in memory. */
export const memory: Layer.Layer<Services, unknown> = registrations.pipe(
  Layer.provideMerge(ConsentLedger.layerMemory),
  Layer.provideMerge(Layer.merge(coreMemory, AuditLog.layerMemory))
)

/** The ledger and everything under it, on the database provided. */
export const sql: Layer.Layer<Services, Migrations.MigrationFailed | unknown, Database> = registrations.pipe(
  Layer.provideMerge(ConsentLedger.layerSql),
  Layer.provideMerge(Layer.merge(coreSql, sqlAudit))
)

/**
 * `memory` and `sql`, with the ledger's store wrapped by `wrap` (a test's gate or fault in front
 * of the real store).
 */
export const withStore = <E>(wrap: Layer.Layer<ConsentStore.ConsentStore, E, ConsentStore.ConsentStore>) => ({
  memory: registrations.pipe(
    Layer.provideMerge(
      ConsentLedger.layer.pipe(
        Layer.provideMerge(Layer.merge(wrap.pipe(Layer.provide(ConsentStore.layerMemory)), ConsentLists.layerMemory))
      )
    ),
    Layer.provideMerge(Layer.merge(coreMemory, AuditLog.layerMemory))
  ),
  sql: registrations.pipe(
    Layer.provideMerge(
      ConsentLedger.layer.pipe(
        Layer.provideMerge(Layer.merge(wrap.pipe(Layer.provide(ConsentStore.layerSql)), ConsentLists.layerSql))
      )
    ),
    Layer.provideMerge(Layer.merge(coreSql, sqlAudit))
  )
})
