import type { SubjectId } from "@lawful/core/SubjectId"
import { is as isTenantId, type TenantId } from "@lawful/core/TenantId"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { ConsentStore, ConsentStoreError } from "../ConsentStore.js"

type Service = Context.Tag.Service<typeof ConsentStore>

// Stores already behind the check: the ledger wraps the store it is given, which is one of these
// when it comes from a shipped layer, and a store is checked once.
const checked = new WeakSet<Service>()

/**
 * @internal The store behind the check of its tenant argument, which is caller input: an id that is
 * not a lower-case UUID names no tenant, alike on every store (memory kept a tenant of its own
 * under it; SQL failed with a cause quoting it, or read an upper-case id as the tenant's own).
 * Reads, erasures, purges and the renewal or release of an import's claim answer as for a tenant
 * with nothing (none, 0, `false`, nothing done); writes (`append`, `saveImport`, `completeImport`,
 * `claimImport`) fail `ConsentStoreError`, whose cause does not quote it, and write nothing. A store
 * already checked is returned as it is.
 *
 * The error's class is given (`ConsentStoreError`): `ConsentStore` imports this module, which must
 * not import it back at run time.
 */
export const checkingTenant = (store: Service, StoreError: typeof ConsentStoreError): Service => {
  if (checked.has(store)) return store
  const refused = (operation: string) =>
    new StoreError({ operation, cause: new Error("the tenant id is not a lower-case UUID") })
  const reading = <Args extends ReadonlyArray<unknown>, A>(
    f: (tenant: TenantId, ...args: Args) => Effect.Effect<A, ConsentStoreError>,
    none: () => A
  ) =>
  (tenant: TenantId, ...args: Args): Effect.Effect<A, ConsentStoreError> =>
    isTenantId(tenant) ? f(tenant, ...args) : Effect.sync(none)
  const writing = <Args extends ReadonlyArray<unknown>, A, E>(
    operation: string,
    f: (tenant: TenantId, ...args: Args) => Effect.Effect<A, E>
  ) =>
  (tenant: TenantId, ...args: Args): Effect.Effect<A, E | ConsentStoreError> =>
    isTenantId(tenant) ? f(tenant, ...args) : Effect.fail(refused(operation))
  const wrapped: Service = {
    ...store,
    append: writing("append", store.append),
    events: reading(store.events, () => []),
    event: reading(store.event, Option.none),
    states: reading(store.states, () => []),
    statesOfSubjects: reading(store.statesOfSubjects, () => []),
    recipients: reading(store.recipients, () => []),
    projection: reading(store.projection, () => []),
    rebuildProjection: reading(store.rebuildProjection, () => 0),
    eraseSubject: reading(store.eraseSubject, () => 0),
    saveImport: writing("saveImport", store.saveImport),
    completeImport: (tenant, importId, report, token, record) =>
      isTenantId(tenant)
        ? store.completeImport(tenant, importId, report, token, record)
        : Effect.fail(refused("completeImport")),
    importOf: reading(store.importOf, Option.none),
    claimImport: writing("claimImport", store.claimImport),
    // No claim is held for a tenant with nothing: none to renew, none to release.
    renewImportClaim: reading(store.renewImportClaim, () => false),
    releaseImportClaim: reading(store.releaseImportClaim, () => undefined),
    importedSubjects: reading(store.importedSubjects, () => new Set<SubjectId>()),
    purgeWithdrawn: reading(store.purgeWithdrawn, () => 0),
    countWithdrawn: reading(store.countWithdrawn, () => 0),
    oldestWithdrawn: reading(store.oldestWithdrawn, Option.none)
  }
  checked.add(wrapped)
  return wrapped
}
