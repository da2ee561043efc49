/**
 * Review 20n: `AuditEvent.make` checked an event as the schema does but not as `append` does (a
 * subject acting with no subject named, an id on a subject actor, an address as the actor id or
 * purpose of an event made without validation), so make succeeded where append refused; a purpose
 * that is not text was refused as "never an email address"; and every checkpoint read the
 * published checkpoint, even one that signs nothing.
 */
import { assert, describe, it } from "@effect/vitest"
import { assertQuotesNothing } from "@lawful/core/testing"
import * as SubjectId from "@lawful/core/SubjectId"
import * as TenantId from "@lawful/core/TenantId"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import { AuditLog, AuditSigner, layerWith } from "../src/AuditLog.js"
import * as AuditEvent from "../src/AuditEvent.js"
import * as AuditStore from "../src/AuditStore.js"
import * as CheckpointPublisher from "../src/CheckpointPublisher.js"
import { auditMemory } from "../src/testing.js"
import { event } from "./AuditLogSuite.js"

const personal = "ann.smith@example.org"
const subject = "0190f5d2-3c4a-7b8c-9d0e-1f2a3b4c5d6e" as SubjectId.SubjectId

type Fields = ConstructorParameters<typeof AuditEvent.AuditEvent>[0]

// An event made without the schema's checks, as a caller's fast path makes it.
const unchecked = (fields: Record<string, unknown>) =>
  new AuditEvent.AuditEvent(fields as Fields, { disableValidation: true })

// Each event append refuses, by what is wrong with it.
const refused: ReadonlyArray<readonly [string, Fields]> = [
  ["a subject acting, no subject named", { actor: { kind: "subject" }, action: "a.b" }],
  ["a subject acting, no subject named, made unchecked", unchecked({ actor: { kind: "subject" }, action: "a.b" })],
  [
    "a subject acting with an id, made unchecked",
    unchecked({ actor: { kind: "subject", id: personal }, action: "a.b", subject })
  ],
  ["an address as the actor id, made unchecked", unchecked({ actor: { kind: "staff", id: personal }, action: "a.b" })],
  [
    "an address as the purpose, made unchecked",
    unchecked({ actor: { kind: "staff", id: "staff-1" }, action: "a.b", purpose: personal })
  ],
  [
    "a purpose that is not text, made unchecked",
    unchecked({ actor: { kind: "staff", id: "staff-1" }, action: "a.b", purpose: { name: personal } })
  ],
  ["a purpose that is not text", { actor: { kind: "staff", id: "staff-1" }, action: "a.b", purpose: 42 as never }],
  ["an address as the actor id", { actor: { kind: "api-key", id: personal }, action: "a.b" }]
]

describe("Review20n", () => {
  it.layer(auditMemory)((it) => {
    it.effect("AuditEvent.make refuses every event append refuses, with the same reason", () =>
      Effect.gen(function*() {
        const log = yield* AuditLog
        const tenant = yield* TenantId.make
        for (const [label, fields] of refused) {
          const appended = yield* Effect.flip(log.append(tenant, fields as AuditEvent.AuditEvent))
          assert.strictEqual(appended._tag, "AuditEventInvalid", label)
          const made = yield* Effect.either(AuditEvent.make(fields))
          assert.isTrue(made._tag === "Left", `${label}: made, where append refuses it`)
          if (made._tag === "Left") {
            assert.strictEqual(made.left.reason, appended._tag === "AuditEventInvalid" ? appended.reason : "", label)
            assertQuotesNothing(made.left, [personal, "ann.smith"])
          }
        }
        assert.strictEqual(yield* log.size(tenant), 0)
        const made = yield* AuditEvent.make({ actor: { kind: "subject" }, action: "a.b", subject })
        yield* log.append(tenant, made)
        assert.strictEqual(yield* log.size(tenant), 1)
      }))

    it.effect("a purpose that is not text is refused as not text, not as an email address", () =>
      Effect.gen(function*() {
        const log = yield* AuditLog
        const tenant = yield* TenantId.make
        for (const purpose of [42, { name: personal }, ["newsletter"]]) {
          const error = yield* Effect.flip(log.append(tenant, unchecked({ ...event(0), purpose })))
          const reason = error._tag === "AuditEventInvalid" ? error.reason : error.message
          assert.notInclude(reason, "email address", String(purpose))
          assert.include(reason, "purpose", String(purpose))
          assert.strictEqual(reason, "purpose: expected text", String(purpose))
          assertQuotesNothing(error, [personal, "ann.smith"])
        }
        assert.strictEqual(yield* log.size(tenant), 0)
      }))
  })

  // The memory publisher, counting the reads of its latest checkpoint.
  const counted = Effect.gen(function*() {
    const reads = yield* Ref.make(0)
    const inner = yield* CheckpointPublisher.CheckpointPublisher
    const publisher = CheckpointPublisher.CheckpointPublisher.of({
      ...inner,
      latest: (tenant) => Effect.zipRight(Ref.update(reads, (n) => n + 1), inner.latest(tenant))
    })
    return { reads, publisher }
  })
  class Reads extends Context.Tag("Review20n/Reads")<Reads, { readonly count: Ref.Ref<number> }>() {}
  const countingLog = Layer.unwrapEffect(
    Effect.map(counted, ({ publisher, reads }) =>
      // A layer of its own: `it.layer` shares built layers, and `AuditLog.layer` is built above on another publisher.
      layerWith().pipe(
        Layer.provide(Layer.merge(AuditSigner.layerRandom, Layer.succeed(CheckpointPublisher.CheckpointPublisher, publisher))),
        Layer.provideMerge(AuditStore.layerMemory),
        Layer.merge(Layer.succeed(Reads, { count: reads }))
      ))
  ).pipe(Layer.provide(CheckpointPublisher.layerMemory))

  it.layer(countingLog)((it) => {
    it.effect("a checkpoint that signs nothing does not read the published checkpoint", () =>
      Effect.gen(function*() {
        const log = yield* AuditLog
        const reads = (yield* Reads).count
        const tenant = yield* TenantId.make
        yield* log.appendAll(tenant, [event(0), event(1)])
        const first = yield* log.checkpoint(tenant)
        assert.strictEqual(first.size, 2)
        const signing = yield* Ref.get(reads)
        assert.isAtLeast(signing, 1, "signing reads the published checkpoint")
        for (let i = 0; i < 3; i++) assert.deepStrictEqual(yield* log.checkpoint(tenant), first)
        assert.strictEqual(yield* Ref.get(reads), signing, "an idle checkpoint read the publisher")
        yield* log.append(tenant, event(2))
        assert.strictEqual((yield* log.checkpoint(tenant)).size, 3)
        assert.isAbove(yield* Ref.get(reads), signing)
      }))
  })
})
