import type { TenantId } from "@lawful/core/TenantId"
import { pattern as uuidPattern } from "@lawful/core/Uuid"

/**
 * @internal Whether a tenant argument, which is caller input, is a tenant id (a lower-case UUID):
 * a regular expression, cheap enough for `record`'s hot path.
 */
export const isTenantId = (tenant: unknown): tenant is TenantId => typeof tenant === "string" && uuidPattern.test(tenant)

/** @internal The `tenantId` of an error: the tenant when it is a tenant id, empty otherwise (never quoted). */
export const tenantIdOf = (tenant: string): string => isTenantId(tenant) ? tenant : ""

/** @internal The tenant as an error message names it (see `tenantIdOf`). */
export const tenantNamed = (tenantId: string): string =>
  tenantId === "" ? "The tenant given (not a tenant id)" : `Tenant ${tenantId}`

/** @internal The tenant in a span's attributes, which tracing exports: an id, or nothing of the text given. */
export const tenantAttribute = (tenant: string): string => isTenantId(tenant) ? tenant : "(not a tenant id)"
