import { assert, it, layer } from "@effect/vitest"
import * as TenantId from "@lawful/core/TenantId"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { copyFile, mkdir, mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as AuditLog from "../src/AuditLog.js"
import * as AuditStore from "../src/AuditStore.js"
import * as Checkpoint from "../src/Checkpoint.js"
import * as CheckpointPublisher from "../src/CheckpointPublisher.js"
import { event } from "./AuditLogSuite.js"

// A publisher whose next `failures` publications fail, over the memory one.
let failures = 0
const flakyPublisher = Layer.effect(
  CheckpointPublisher.CheckpointPublisher,
  Effect.map(CheckpointPublisher.CheckpointPublisher, (inner) => ({
    publish: (tenant, checkpoint) =>
      failures > 0
        ? Effect.sync(() => failures--).pipe(
          Effect.zipRight(Effect.fail(new CheckpointPublisher.CheckpointPublishError({ operation: "publish", cause: "down" })))
        )
        : inner.publish(tenant, checkpoint),
    latest: inner.latest,
    tenants: inner.tenants
  }))
).pipe(Layer.provide(CheckpointPublisher.layerMemory))

layer(Layer.provideMerge(AuditLog.layer, Layer.mergeAll(AuditStore.layerMemory, AuditLog.AuditSigner.layerRandom, flakyPublisher)))(
  "AuditLog checkpoints and their publisher",
  (it) => {
    it.effect("a checkpoint whose publication failed is published when asked for again, and only then handed out", () =>
      Effect.gen(function*() {
        const audit = yield* AuditLog.AuditLog
        const publisher = yield* CheckpointPublisher.CheckpointPublisher
        const tenant = yield* TenantId.make
        yield* audit.appendAll(tenant, [event(0), event(1), event(2)])
        failures = 1
        const failed = yield* Effect.flip(audit.checkpoint(tenant))
        assert.strictEqual(failed._tag, "CheckpointPublishError")
        const signed = yield* audit.checkpoint(tenant)
        assert.strictEqual(signed.size, 3)
        const published = yield* publisher.latest(tenant)
        assert.isTrue(Option.isSome(published), "the checkpoint was never published")
        const checkpoint = yield* Checkpoint.verify(Option.getOrThrow(published), audit.verifierKey)
        assert.strictEqual(checkpoint.treeSize, 3)

        // The same through a proof bundle: its checkpoint is one that was published.
        yield* audit.append(tenant, event(3))
        failures = 1
        assert.strictEqual((yield* Effect.flip(audit.proofBundle(tenant, 3)))._tag, "CheckpointPublishError")
        const bundle = yield* audit.proofBundle(tenant, 3)
        assert.strictEqual(bundle.checkpoint, Option.getOrThrow(yield* publisher.latest(tenant)))
      }))
  }
)

it.scoped("a note of another tenant copied into a tenant's directory is refused as another log's", () =>
  Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.promise(() => mkdtemp(join(tmpdir(), "lawful-checkpoints-"))),
      (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
    )
    const audit = yield* AuditLog.make().pipe(
      Effect.provide(Layer.mergeAll(AuditStore.layerMemory, AuditLog.AuditSigner.layerRandom, CheckpointPublisher.layerDirectory(dir)))
    )
    const [tenant, other] = yield* Effect.all([TenantId.make, TenantId.make])
    // The other tenant's checkpoint of its empty log: every log extends the empty tree.
    yield* audit.checkpoint(other)
    yield* audit.appendAll(tenant, [event(0), event(1), event(2)])
    yield* Effect.promise(async () => {
      await mkdir(join(dir, tenant))
      await copyFile(join(dir, other, "latest"), join(dir, tenant, "latest"))
    })
    const refused = yield* Effect.either(audit.checkpoint(tenant))
    if (Either.isRight(refused)) return assert.fail(`a checkpoint of size ${refused.right.size} was issued`)
    assert.strictEqual(refused.left._tag, "CheckpointRefused")
    assert.include(refused.left.message, "the published checkpoint is signed for another log")
  }))
