/**
 * The real in-memory audit log (`AuditLog.layerMemory`) behind the registry,
 * with two test aids: `AuditRecorder` reads entries back as events, and can
 * make every append fail, to check that a failed audit append stores nothing,
 * or run something once just before the next append (between a change's plan
 * and its commit: what another server could do meanwhile).
 */
import * as AuditEntry from "@lawful/audit-trail/AuditEntry"
import type { AuditEvent } from "@lawful/audit-trail/AuditEvent"
import * as AuditLog from "@lawful/audit-trail/AuditLog"
import { AuditStoreError, AuditTrail } from "@lawful/audit-trail/AuditTrail"
import type { TenantId } from "@lawful/core/TenantId"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"

export interface Recorded {
  readonly tenant: TenantId
  readonly index: number
  readonly event: AuditEvent
}

export class AuditRecorder extends Context.Tag("test/AuditRecorder")<AuditRecorder, {
  readonly all: Effect.Effect<ReadonlyArray<Recorded>>
  /** Events of a tenant's log whose resource is `id`, in order. */
  readonly about: (tenant: TenantId, id: string) => Effect.Effect<ReadonlyArray<AuditEvent>>
  /** While set, every append fails with AuditStoreError. */
  readonly setFailing: (failing: boolean) => Effect.Effect<void>
  /** Runs `effect` once, before the next append starts. */
  readonly beforeNextAppend: (effect: Effect.Effect<void, unknown>) => Effect.Effect<void>
}>() {}

export const layer: Layer.Layer<AuditTrail | AuditRecorder> = Layer.effectContext(
  Effect.gen(function*() {
    const log = yield* AuditLog.AuditLog
    const failing = yield* Ref.make(false)
    const tenants = yield* Ref.make<ReadonlyArray<TenantId>>([])
    const before = yield* Ref.make<Effect.Effect<void, unknown>>(Effect.void)
    const entriesOf = (tenant: TenantId) =>
      Effect.gen(function*() {
        const recorded: Array<Recorded> = []
        let after: number | undefined
        while (true) {
          const page = yield* log.query(tenant, { limit: 1000, ...(after !== undefined ? { after } : {}) })
          for (const entry of page.entries) recorded.push({ tenant, index: entry.index, event: AuditEntry.toEvent(entry) })
          if (Option.isNone(page.next)) return recorded
          after = page.next.value
        }
      }).pipe(Effect.orDie)
    const appendAll = (tenant: TenantId, events: ReadonlyArray<AuditEvent>) =>
      Effect.gen(function*() {
        yield* Effect.orDie(yield* Ref.getAndSet(before, Effect.void))
        if (yield* Ref.get(failing)) {
          return yield* new AuditStoreError({ operation: "append", cause: "the test was told to fail appends" })
        }
        yield* Ref.update(tenants, (all) => (all.includes(tenant) ? all : [...all, tenant]))
        return yield* log.appendAll(tenant, events)
      })
    return Context.make(AuditTrail, {
      append: (tenant, event) => Effect.map(appendAll(tenant, [event]), (appended) => appended[0]!),
      appendAll
    }).pipe(Context.add(AuditRecorder, {
      all: Effect.flatMap(Ref.get(tenants), (all) => Effect.map(Effect.forEach(all, entriesOf), (lists) => lists.flat())),
      about: (tenant, id) =>
        Effect.map(entriesOf(tenant), (all) => all.filter((r) => r.event.resource?.id === id).map((r) => r.event)),
      setFailing: (value) => Ref.set(failing, value),
      beforeNextAppend: (effect) => Ref.set(before, effect)
    }))
  })
).pipe(Layer.provide(AuditLog.layerMemory))
