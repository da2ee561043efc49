import { is as isTenantId, type TenantId } from "@lawful/core/TenantId"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { AuditStore, LogState } from "../AuditStore.js"
import { AuditStoreError } from "../AuditTrail.js"
import * as MerkleTree from "../MerkleTree.js"

type Service = Context.Tag.Service<typeof AuditStore>

const emptyState: LogState = { frontier: MerkleTree.emptyFrontier, root: MerkleTree.emptyRoot }

const refused = (operation: string) =>
  new AuditStoreError({ operation, cause: new Error("the tenant id is not a lower-case UUID") })

/**
 * @internal The store behind the check of its tenant argument, which is caller input when the store
 * is used without `AuditLog` (which checks first): an id that is not a lower-case UUID names no log,
 * alike on every store (memory kept a log under any text; SQL failed with a cause quoting it, or
 * read an upper-case id as the tenant's own). Reads answer as for an empty log (the empty state,
 * none, nothing, 0); writes (`append`, `saveCheckpoint`, and the removals `redactDetails` and
 * `delinkSubject`, which append their own entry) fail `AuditStoreError`, whose cause does not quote
 * it, and write nothing, `build` and `record` never called. One test of the id per call, and the
 * store's own effect returned as it is when the id is one.
 */
export const checkingTenant = (store: Service): Service => {
  const reading = <Args extends ReadonlyArray<unknown>, A>(
    f: (tenant: TenantId, ...args: Args) => Effect.Effect<A, AuditStoreError>,
    none: () => A
  ) =>
  (tenant: TenantId, ...args: Args): Effect.Effect<A, AuditStoreError> =>
    isTenantId(tenant) ? f(tenant, ...args) : Effect.sync(none)
  return {
    ...store,
    append: (tenant, build) => isTenantId(tenant) ? store.append(tenant, build) : Effect.fail(refused("append")),
    state: reading(store.state, () => emptyState),
    leafHashes: reading(store.leafHashes, () => new Map<number, Uint8Array>()),
    nodeHashes: reading(store.nodeHashes, () => new Map<string, Uint8Array>()),
    nodesOfLevel: reading(store.nodesOfLevel, () => []),
    entry: reading(store.entry, Option.none),
    entries: reading(store.entries, () => []),
    scan: reading(store.scan, () => []),
    redactDetails: (tenant, options, record) =>
      isTenantId(tenant) ? store.redactDetails(tenant, options, record) : Effect.fail(refused("redactDetails")),
    countDetails: reading(store.countDetails, () => 0),
    oldestDetails: reading(store.oldestDetails, Option.none<Date>),
    delinkSubject: (tenant, subject, record) =>
      isTenantId(tenant) ? store.delinkSubject(tenant, subject, record) : Effect.fail(refused("delinkSubject")),
    saveCheckpoint: (tenant, checkpoint) =>
      isTenantId(tenant) ? store.saveCheckpoint(tenant, checkpoint) : Effect.fail(refused("saveCheckpoint")),
    checkpoints: reading(store.checkpoints, () => []),
    latestCheckpoint: reading(store.latestCheckpoint, Option.none),
    checkpointCovering: reading(store.checkpointCovering, Option.none)
  }
}
