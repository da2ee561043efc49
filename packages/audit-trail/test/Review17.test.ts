import { assert, describe, it } from "@effect/vitest"
import { vi } from "vitest"
import * as TenantId from "@lawful/core/TenantId"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { readdir, readFile, symlink } from "node:fs/promises"
import { join } from "node:path"
import * as AuditLog from "../src/AuditLog.js"
import * as AuditStore from "../src/AuditStore.js"
import * as CheckpointPublisher from "../src/CheckpointPublisher.js"
import { event } from "./AuditLogSuite.js"
import { withWarnings } from "./fixtures/logs.js"
import { directory, noteOf } from "./fixtures/notes.js"

// ---- a file system without hard links ----------------------------------------

// `link`, `open` and `rename` of `node:fs/promises` go through `volume`: by default the real ones;
// a test makes `link` fail as on a volume without hard links, and holds the creation of a file (an
// exclusive open of it, or a rename onto it) to force an interleaving.
const volume = vi.hoisted(() => ({
  link: undefined as undefined | ((existing: string, target: string) => Promise<void>),
  creating: undefined as undefined | ((path: string) => Promise<void>)
}))

vi.mock("node:fs/promises", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:fs/promises")>()
  const link = (existing: string, target: string) => volume.link?.(existing, target) ?? actual.link(existing, target)
  const open: typeof actual.open = async (path, flags, mode) => {
    if (flags === "wx") await volume.creating?.(String(path))
    return actual.open(path, flags, mode)
  }
  const rename = async (from: string, to: string) => {
    await volume.creating?.(to)
    return actual.rename(from, to)
  }
  return { ...actual, link, open, rename, default: { ...actual, link, open, rename } }
})

const realFs = await vi.importActual<typeof import("node:fs/promises")>("node:fs/promises")

const noHardLink = (existing: string, target: string) =>
  Promise.reject(Object.assign(new Error(`ENOTSUP: operation not supported, link '${existing}' -> '${target}'`), {
    code: "ENOTSUP"
  }))

const publisherIn = (dir: string) =>
  Effect.provide(CheckpointPublisher.CheckpointPublisher, CheckpointPublisher.layerDirectory(dir))

const checkpointFile = (size: number) => `${String(size).padStart(16, "0")}.checkpoint`

describe("CheckpointPublisher.layerDirectory on a volume without hard links", () => {
  it.scoped("two processes publishing different notes of one size: exactly one wins, and its note stays", () =>
    Effect.gen(function*() {
      const dir = yield* directory
      // Another process's view of the directory: another path to it, so the two publishers do not
      // take turns in this process (their lock is per path), as two processes do not.
      const elsewhere = `${dir}-elsewhere`
      yield* Effect.acquireRelease(
        Effect.promise(() => symlink(dir, elsewhere)),
        () => Effect.promise(() => realFs.rm(elsewhere, { force: true }))
      )
      const [here, there] = yield* Effect.all([publisherIn(dir), publisherIn(elsewhere)])
      const tenant = yield* TenantId.make
      const [first, second] = yield* Effect.all([noteOf(tenant, 4), noteOf(tenant, 4, "other ")])

      // No hard links in either. The creation of the size's file (however it is made) is held until
      // both publications have come to create it, each having found the size free; then the first
      // creates it, and the second once the first has returned.
      let firstDone!: () => void
      const firstReturned = new Promise<void>((resolve) => (firstDone = resolve))
      let bothArrived!: () => void
      const bothCreating = new Promise<void>((resolve) => (bothArrived = resolve))
      const creating: Array<string> = []
      volume.link = (existing, target) => target.startsWith(dir) ? noHardLink(existing, target) : realFs.link(existing, target)
      volume.creating = async (path) => {
        if (!path.endsWith(checkpointFile(4))) return
        creating.push(path)
        if (creating.length === 2) bothArrived()
        await bothCreating
        if (path.startsWith(elsewhere)) await firstReturned
      }
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          volume.link = undefined
          volume.creating = undefined
        })
      )

      const one = yield* Effect.fork(Effect.exit(here.publish(tenant, { size: 4, note: first })))
      const two = yield* Effect.fork(Effect.exit(there.publish(tenant, { size: 4, note: second })))
      const firstExit = yield* Fiber.join(one)
      firstDone()
      const secondExit = yield* Fiber.join(two)
      assert.deepStrictEqual(
        [...creating].sort(),
        [join(dir, tenant, checkpointFile(4)), join(elsewhere, tenant, checkpointFile(4))].sort(),
        "both publications came to create the size's file"
      )

      const won = [firstExit, secondExit].flatMap((exit, i) => Exit.isSuccess(exit) ? [[first, second][i]!] : [])
      assert.strictEqual(won.length, 1, `${won.length} of the two publications of size 4 returned`)
      const lost = [firstExit, secondExit].find(Exit.isFailure)!
      const failure = Cause.failureOption(lost.cause)
      assert.isTrue(Option.isSome(failure) && failure.value._tag === "CheckpointPublishError", Cause.pretty(lost.cause))
      const stored = yield* Effect.promise(() => readFile(join(dir, tenant, checkpointFile(4)), "utf8"))
      assert.strictEqual(stored, won[0])
      assert.strictEqual(Option.getOrThrow(yield* here.latest(tenant)), won[0])
      const files = yield* Effect.promise(() => readdir(join(dir, tenant)))
      assert.deepStrictEqual(files.filter((file) => file.startsWith(".")), [], "a temporary file is left")
    }))

  it.scoped("a publication there is durable and idempotent: the same note again changes nothing, another is refused", () =>
    Effect.gen(function*() {
      const dir = yield* directory
      const publisher = yield* publisherIn(dir)
      volume.link = (existing, target) => target.startsWith(dir) ? noHardLink(existing, target) : realFs.link(existing, target)
      yield* Effect.addFinalizer(() => Effect.sync(() => (volume.link = undefined)))
      const tenant = yield* TenantId.make
      const [note, other, larger] = yield* Effect.all([noteOf(tenant, 2), noteOf(tenant, 2, "other "), noteOf(tenant, 5)])
      yield* publisher.publish(tenant, { size: 2, note })
      yield* publisher.publish(tenant, { size: 2, note })
      const refused = yield* Effect.flip(publisher.publish(tenant, { size: 2, note: other }))
      assert.strictEqual(refused._tag, "CheckpointPublishError")
      yield* publisher.publish(tenant, { size: 5, note: larger })
      assert.strictEqual(yield* Effect.promise(() => readFile(join(dir, tenant, checkpointFile(2)), "utf8")), note)
      assert.strictEqual(Option.getOrThrow(yield* publisher.latest(tenant)), larger)
    }))

  it.scoped("once a link has failed in a tenant's directory, its later checkpoints are created in place without one", () =>
    Effect.gen(function*() {
      const dir = yield* directory
      const publisher = yield* publisherIn(dir)
      const linked: Array<string> = []
      volume.link = (existing, target) => {
        if (!target.startsWith(dir)) return realFs.link(existing, target)
        linked.push(target)
        return noHardLink(existing, target)
      }
      yield* Effect.addFinalizer(() => Effect.sync(() => (volume.link = undefined)))
      const [tenant, another] = yield* Effect.all([TenantId.make, TenantId.make])
      const notes = yield* Effect.forEach([1, 2, 3], (size) => noteOf(tenant, size))
      const theOthers = yield* noteOf(another, 1)
      for (const [i, note] of notes.entries()) yield* publisher.publish(tenant, { size: i + 1, note })
      yield* publisher.publish(another, { size: 1, note: theOthers })

      assert.deepStrictEqual(linked, [join(dir, tenant, checkpointFile(1)), join(dir, another, checkpointFile(1))])
      for (const [i, note] of notes.entries()) {
        assert.strictEqual(yield* Effect.promise(() => readFile(join(dir, tenant, checkpointFile(i + 1)), "utf8")), note)
      }
      assert.strictEqual(Option.getOrThrow(yield* publisher.latest(tenant)), notes[2])
      assert.strictEqual(Option.getOrThrow(yield* publisher.latest(another)), theOthers)
      const files = yield* Effect.promise(() => readdir(join(dir, tenant)))
      assert.deepStrictEqual(files.filter((file) => file.startsWith(".")), [], "a temporary file is left")
    }))
})

// ---- a publisher that does not list its tenants --------------------------------

describe("verifyAll with a publisher that does not pass its tenants on", () => {
  it.scoped("a wrapper without tenants fails verifyAll, naming the listing, and checkpointAll warns and goes on", () =>
    Effect.gen(function*() {
      const inner = yield* Effect.provide(CheckpointPublisher.CheckpointPublisher, CheckpointPublisher.layerMemory)
      // A user's wrapper that forwards publish and latest and forgets tenants (a cast: the type requires it).
      const forgetful: Omit<CheckpointPublisher.CheckpointPublisher["Type"], "tenants"> = {
        publish: inner.publish,
        latest: inner.latest
      }
      const log = yield* AuditLog.make().pipe(
        Effect.provide(Layer.mergeAll(AuditStore.layerMemory, AuditLog.AuditSigner.layerRandom)),
        Effect.provideService(
          CheckpointPublisher.CheckpointPublisher,
          forgetful as CheckpointPublisher.CheckpointPublisher["Type"]
        )
      )
      const tenant = yield* TenantId.make
      yield* log.appendAll(tenant, [event(0), event(1)])
      yield* log.checkpoint(tenant)

      const verified = yield* Effect.exit(log.verifyAll)
      if (Exit.isSuccess(verified)) {
        return assert.fail(`verifyAll succeeded over ${verified.value.length} tenants without the publisher's list`)
      }
      const failure = Cause.failureOption(verified.cause)
      assert.isTrue(
        Option.isSome(failure) && failure.value._tag === "CheckpointPublishError" && failure.value.operation === "list",
        Cause.pretty(verified.cause)
      )

      yield* log.append(tenant, event(2))
      const { exit, warnings } = yield* withWarnings(log.checkpointAll)
      assert.deepStrictEqual(exit, Exit.succeed(1))
      assert.strictEqual(warnings.filter((w) => w.includes("tenants not listed")).length, 1, warnings.join("; "))
    }))

  it("a publisher is typed with its tenants: one without them does not compile", () => {
    const inner = { publish: () => Effect.void, latest: () => Effect.succeed(Option.none()) }
    // @ts-expect-error a publisher lists its tenants (`Effect.succeed([])` says it holds none)
    const publisher: CheckpointPublisher.CheckpointPublisher["Type"] = inner
    assert.isDefined(publisher)
  })
})
