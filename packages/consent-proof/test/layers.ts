import * as AuditLog from "@lawful/audit-trail/AuditLog"
import * as AuditStore from "@lawful/audit-trail/AuditStore"
import type { AuditTrail } from "@lawful/audit-trail/AuditTrail"
import * as CheckpointPublisher from "@lawful/audit-trail/CheckpointPublisher"
import * as KeyStore from "@lawful/core/KeyStore"
import * as MasterKey from "@lawful/core/MasterKey"
import type * as Migrations from "@lawful/core/Migrations"
import * as PersonalDataRegistry from "@lawful/core/PersonalDataRegistry"
import * as RetentionTarget from "@lawful/core/RetentionTarget"
import * as SubjectDirectory from "@lawful/core/SubjectDirectory"
import * as SuppressionList from "@lawful/core/SuppressionList"
import type { Database } from "@lawful/core/testing"
import * as Vault from "@lawful/core/Vault"
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

/** The ledger's registrations, with the registries they go in. */
export const registrations = Layer.mergeAll(ConsentLedger.personalDataSource, ConsentLedger.withdrawnProofRetention).pipe(
  Layer.provideMerge(Layer.merge(PersonalDataRegistry.layer, RetentionTarget.layer))
)

/** Core's services the ledger needs, in memory. */
export const memoryCore = Layer.mergeAll(SubjectDirectory.layerMemory, SuppressionList.layerMemory).pipe(
  Layer.provideMerge(Vault.layer),
  Layer.provide(Layer.merge(KeyStore.layerMemory, MasterKey.layerRandom))
)

/** Core's services the ledger needs, on the database provided. */
export const sqlCore = Layer.mergeAll(SubjectDirectory.layerSql, SuppressionList.layerSql).pipe(
  Layer.provideMerge(Vault.layer),
  Layer.provide(Layer.merge(KeyStore.layerSql, MasterKey.layerRandom))
)

/** The audit log on the database provided. */
export const sqlAudit = AuditLog.layer.pipe(
  Layer.provide(Layer.mergeAll(AuditStore.layerSql, AuditLog.AuditSigner.layerRandom, CheckpointPublisher.layerMemory))
)

/** The ledger and everything under it, in memory. */
export const memory: Layer.Layer<Services, unknown> = registrations.pipe(
  Layer.provideMerge(ConsentLedger.layerMemory),
  Layer.provideMerge(Layer.merge(memoryCore, AuditLog.layerMemory))
)

/** The ledger and everything under it, on the database provided. */
export const sql: Layer.Layer<Services, Migrations.MigrationFailed | unknown, Database> = registrations.pipe(
  Layer.provideMerge(ConsentLedger.layerSql),
  Layer.provideMerge(Layer.merge(sqlCore, sqlAudit))
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
    Layer.provideMerge(Layer.merge(memoryCore, AuditLog.layerMemory))
  ),
  sql: registrations.pipe(
    Layer.provideMerge(
      ConsentLedger.layer.pipe(
        Layer.provideMerge(Layer.merge(wrap.pipe(Layer.provide(ConsentStore.layerSql)), ConsentLists.layerSql))
      )
    ),
    Layer.provideMerge(Layer.merge(sqlCore, sqlAudit))
  )
})
