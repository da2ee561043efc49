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
import * as AuditStore from "@lawful/audit-trail/AuditStore"
import * as CheckpointPublisher from "@lawful/audit-trail/CheckpointPublisher"
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
  /** Whether the tenant's log verifies. */
  readonly verifies: (tenant: TenantId) => Effect.Effect<boolean>
  /** Runs `effect` once, before the next append starts. */
  readonly beforeNextAppend: (effect: Effect.Effect<void, unknown>) => Effect.Effect<void>
}>() {}

/** The recorder over a given log (`AuditLog.layerMemory`, or a log on the test's database). */
export const layerWith = <E, R>(log: Layer.Layer<AuditLog.AuditLog, E, R>): Layer.Layer<AuditTrail | AuditRecorder, E, R> =>
  Layer.effectContext(
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
      verifies: (tenant) => Effect.map(Effect.orDie(log.verify(tenant)), (report) => report.ok),
      beforeNextAppend: (effect) => Ref.set(before, effect)
    }))
  })
  ).pipe(Layer.provide(log))

export const layer: Layer.Layer<AuditTrail | AuditRecorder> = layerWith(AuditLog.layerMemory)

/** The recorder over a SQL log on the test's database: entries commit and roll back with the registry's changes. */
export const layerSql = layerWith(
  AuditLog.layer.pipe(
    Layer.provide(Layer.mergeAll(AuditStore.layerSql, AuditLog.AuditSigner.layerRandom, CheckpointPublisher.layerMemory))
  )
)
