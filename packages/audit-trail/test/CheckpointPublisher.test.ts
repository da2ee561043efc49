import { assert, describe, it } from "@effect/vitest"
import * as TenantId from "@lawful/core/TenantId"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { readdir, readFile } from "node:fs/promises"
import { join } from "node:path"
import * as CheckpointPublisher from "../src/CheckpointPublisher.js"
import { directory, noteOf, sizeOf } from "./fixtures/notes.js"

const publisherIn = (dir: string) =>
  Effect.provide(CheckpointPublisher.CheckpointPublisher, CheckpointPublisher.layerDirectory(dir))

describe("CheckpointPublisher.layerDirectory", () => {
  it.scoped("many publications at once leave latest at the largest checkpoint", () =>
    Effect.gen(function*() {
      const dir = yield* directory
      const publisher = yield* publisherIn(dir)
      const tenant = yield* TenantId.make
      // Sizes 1 to 60 in a scrambled order, all at once.
      const sizes = Array.from({ length: 60 }, (_, i) => ((i * 37) % 60) + 1)
      const notes = yield* Effect.forEach(sizes, (size) => noteOf(tenant, size))
      yield* Effect.forEach(notes, (note, i) => publisher.publish(tenant, { size: sizes[i]!, note }), {
        concurrency: "unbounded",
        discard: true
      })
      const latest = Option.getOrThrow(yield* publisher.latest(tenant))
      assert.strictEqual(sizeOf(latest), 60)
      assert.strictEqual(latest, notes[sizes.indexOf(60)])
      // Every checkpoint has its file, and no temporary file is left behind.
      const files = yield* Effect.promise(() => readdir(join(dir, tenant)))
      assert.deepStrictEqual(files.filter((file) => file.endsWith(".checkpoint")).length, 60)
      assert.deepStrictEqual(files.filter((file) => file.startsWith(".")), [])
    }))

  it.scoped("publishers of one directory in one process, each its own layer, at once, leave latest at the largest", () =>
    Effect.gen(function*() {
      const dir = yield* directory
      const publishers = yield* Effect.forEach([1, 2, 3], () => publisherIn(dir))
      const tenant = yield* TenantId.make
      const sizes = Array.from({ length: 45 }, (_, i) => ((i * 17) % 45) + 1)
      const notes = yield* Effect.forEach(sizes, (size) => noteOf(tenant, size))
      yield* Effect.forEach(notes, (note, i) => publishers[i % 3]!.publish(tenant, { size: sizes[i]!, note }), {
        concurrency: "unbounded",
        discard: true
      })
      assert.strictEqual(sizeOf(Option.getOrThrow(yield* publishers[0]!.latest(tenant))), 45)
    }))

  it.scoped("an older checkpoint published after a newer one leaves latest at the newer; the same one again changes nothing", () =>
    Effect.gen(function*() {
      const dir = yield* directory
      const publisher = yield* publisherIn(dir)
      const tenant = yield* TenantId.make
      const [older, newer] = yield* Effect.all([noteOf(tenant, 5), noteOf(tenant, 9)])
      assert.isTrue(Option.isNone(yield* publisher.latest(tenant)))
      yield* publisher.publish(tenant, { size: 9, note: newer })
      yield* publisher.publish(tenant, { size: 5, note: older })
      assert.strictEqual(Option.getOrThrow(yield* publisher.latest(tenant)), newer)
      yield* publisher.publish(tenant, { size: 9, note: newer })
      assert.strictEqual(Option.getOrThrow(yield* publisher.latest(tenant)), newer)
      const stored = yield* Effect.promise(() => readFile(join(dir, tenant, `${"5".padStart(16, "0")}.checkpoint`), "utf8"))
      assert.strictEqual(stored, older)
    }))

  it.scoped("a checkpoint published at a size is never replaced by another of that size", () =>
    Effect.gen(function*() {
      const dir = yield* directory
      const publisher = yield* publisherIn(dir)
      const tenant = yield* TenantId.make
      const [first, other] = yield* Effect.all([noteOf(tenant, 7), noteOf(tenant, 7, "rewritten ")])
      yield* publisher.publish(tenant, { size: 7, note: first })
      const refused = yield* Effect.flip(publisher.publish(tenant, { size: 7, note: other }))
      assert.strictEqual(refused._tag, "CheckpointPublishError")
      assert.notInclude(refused.message, other)
      assert.strictEqual(Option.getOrThrow(yield* publisher.latest(tenant)), first)
      const stored = yield* Effect.promise(() => readFile(join(dir, tenant, `${"7".padStart(16, "0")}.checkpoint`), "utf8"))
      assert.strictEqual(stored, first)
    }))

  it.scoped("each tenant's latest is its own, in a directory shared by tenants", () =>
    Effect.gen(function*() {
      const dir = yield* directory
      const publisher = yield* publisherIn(dir)
      const [a, b] = yield* Effect.all([TenantId.make, TenantId.make])
      const [small, large] = yield* Effect.all([noteOf(a, 2), noteOf(b, 9)])
      yield* publisher.publish(a, { size: 2, note: small })
      yield* publisher.publish(b, { size: 9, note: large })
      assert.strictEqual(Option.getOrThrow(yield* publisher.latest(a)), small)
      assert.strictEqual(Option.getOrThrow(yield* publisher.latest(b)), large)
      assert.isTrue(Option.isNone(yield* publisher.latest(yield* TenantId.make)))
    }))
})
