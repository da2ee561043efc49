// Review 19: `CheckpointPublisher.layerDirectory` stops trying hard links in a tenant's directory
// only on a refusal that says the volume has none (ENOTSUP, EOPNOTSUPP, ENOSYS). An EPERM, which
// also means other things (a security module, a file held by another program), falls back to the
// create-in-place path for that publication alone: the next one links again.
//
// Review 19b: `CheckpointPublisher.directoryConfig` defaults to `checkpoints` in the database's
// directory, `LAWFUL_DATA_DIR` as `Database.dataDir` reads it, rather than to one under the working
// directory whatever `LAWFUL_DATA_DIR` says; and `LAWFUL_CHECKPOINT_DIR` set to blanks is refused
// rather than publishing into the working directory itself.
import { assert, describe, it } from "@effect/vitest"
import { vi } from "vitest"
import * as Database from "@lawful/core/Database"
import * as TenantId from "@lawful/core/TenantId"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { access, readdir, readFile } from "node:fs/promises"
import { join, resolve } from "node:path"
import * as CheckpointPublisher from "../src/CheckpointPublisher.js"
import { directory, noteOf } from "./fixtures/notes.js"

// `link` of `node:fs/promises` goes through `volume.link` when a test sets it: by default the real one.
const volume = vi.hoisted(() => ({
  link: undefined as undefined | ((existing: string, target: string) => Promise<void>)
}))

vi.mock("node:fs/promises", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:fs/promises")>()
  const link = (existing: string, target: string) => volume.link?.(existing, target) ?? actual.link(existing, target)
  return { ...actual, link, default: { ...actual, link } }
})

const realFs = await vi.importActual<typeof import("node:fs/promises")>("node:fs/promises")

const refusedWith = (code: string) => (existing: string, target: string) =>
  Promise.reject(Object.assign(new Error(`${code}: link '${existing}' -> '${target}'`), { code }))

const checkpointFile = (size: number) => `${String(size).padStart(16, "0")}.checkpoint`

// Publishes sizes 1 to 3 of one tenant, the first link in its directory refused with `code` and
// the later ones refused only if `lasting`; answers the links tried there.
const publishThree = (code: string, lasting: boolean) =>
  Effect.gen(function*() {
    const dir = yield* directory
    const publisher = yield* Effect.provide(CheckpointPublisher.CheckpointPublisher, CheckpointPublisher.layerDirectory(dir))
    const tenant = yield* TenantId.make
    const tried: Array<string> = []
    volume.link = (existing, target) => {
      if (!target.startsWith(dir)) return realFs.link(existing, target)
      tried.push(target)
      return tried.length === 1 || lasting ? refusedWith(code)(existing, target) : realFs.link(existing, target)
    }
    yield* Effect.addFinalizer(() => Effect.sync(() => (volume.link = undefined)))
    const notes = yield* Effect.forEach([1, 2, 3], (size) => noteOf(tenant, size))
    for (const [i, note] of notes.entries()) yield* publisher.publish(tenant, { size: i + 1, note })

    for (const [i, note] of notes.entries()) {
      assert.strictEqual(yield* Effect.promise(() => readFile(join(dir, tenant, checkpointFile(i + 1)), "utf8")), note)
    }
    assert.strictEqual(Option.getOrThrow(yield* publisher.latest(tenant)), notes[2])
    const files = yield* Effect.promise(() => readdir(join(dir, tenant)))
    assert.deepStrictEqual(files.filter((file) => file.startsWith(".")), [], "a temporary file is left")
    return { tried: tried.map((path) => path.slice(join(dir, tenant).length + 1)) }
  })

describe("CheckpointPublisher.layerDirectory after a refused link", () => {
  it.scoped("an EPERM falls back for that publication only: the next checkpoints are linked again", () =>
    Effect.gen(function*() {
      const { tried } = yield* publishThree("EPERM", false)
      assert.deepStrictEqual(tried, [checkpointFile(1), checkpointFile(2), checkpointFile(3)])
    }))

  for (const code of ["ENOTSUP", "EOPNOTSUPP", "ENOSYS"]) {
    it.scoped(`${code} (a volume without hard links) is remembered: no later link is tried in that directory`, () =>
      Effect.gen(function*() {
        const { tried } = yield* publishThree(code, true)
        assert.deepStrictEqual(tried, [checkpointFile(1)])
      }))
  }
})

// Reads `config` from exactly these variables, no real environment.
const readWith = (variables: Record<string, string>) => <A, E, R>(config: Effect.Effect<A, E, R>) =>
  Effect.withConfigProvider(config, ConfigProvider.fromMap(new Map(Object.entries(variables))))

describe("CheckpointPublisher.directoryConfig and the database's directory", () => {
  it.effect("without LAWFUL_CHECKPOINT_DIR, checkpoints go to checkpoints in LAWFUL_DATA_DIR, read as the database reads it", () =>
    Effect.gen(function*() {
      for (const dataDir of ["/var/lib/lawful", "/var/lib/lawful/", "relative/data", " /srv/lawful data "]) {
        const read = readWith({ LAWFUL_DATA_DIR: dataDir })
        const databaseDir = yield* read(Database.dataDir)
        assert.strictEqual(yield* read(CheckpointPublisher.directoryConfig), join(databaseDir, "checkpoints"), dataDir)
      }
      assert.strictEqual(
        resolve(yield* readWith({ LAWFUL_DATA_DIR: "/var/lib/lawful" })(CheckpointPublisher.directoryConfig)),
        "/var/lib/lawful/checkpoints"
      )
    }))

  it.effect("a LAWFUL_DATA_DIR given as a file:// URL leads to its directory; another scheme needs LAWFUL_CHECKPOINT_DIR", () =>
    Effect.gen(function*() {
      assert.strictEqual(
        yield* readWith({ LAWFUL_DATA_DIR: "file:///var/lib/lawful" })(CheckpointPublisher.directoryConfig),
        "/var/lib/lawful/checkpoints"
      )
      for (const dataDir of ["memory://", "idb://lawful"]) {
        const error = yield* Effect.flip(readWith({ LAWFUL_DATA_DIR: dataDir })(CheckpointPublisher.directoryConfig))
        assert.include(String(error), "LAWFUL_CHECKPOINT_DIR", dataDir)
      }
    }))

  it.effect("with neither variable, checkpoints go to ./.lawful/checkpoints, as before", () =>
    Effect.gen(function*() {
      const dir = yield* readWith({})(CheckpointPublisher.directoryConfig)
      assert.strictEqual(resolve(dir), resolve("./.lawful/checkpoints"))
    }))

  it.effect("LAWFUL_CHECKPOINT_DIR wins over LAWFUL_DATA_DIR, whatever LAWFUL_DATA_DIR holds", () =>
    Effect.gen(function*() {
      for (const dataDir of ["/var/lib/lawful", "", "   "]) {
        const read = readWith({ LAWFUL_DATA_DIR: dataDir, LAWFUL_CHECKPOINT_DIR: "/mnt/witness/checkpoints" })
        assert.strictEqual(yield* read(CheckpointPublisher.directoryConfig), "/mnt/witness/checkpoints")
      }
    }))

  it.effect("without LAWFUL_CHECKPOINT_DIR, a LAWFUL_DATA_DIR of blanks is refused as the database refuses it", () =>
    Effect.gen(function*() {
      for (const dataDir of ["", "   ", "\t"]) {
        const read = readWith({ LAWFUL_DATA_DIR: dataDir })
        const databaseError = yield* Effect.flip(read(Database.dataDir))
        const error = yield* Effect.flip(read(CheckpointPublisher.directoryConfig))
        assert.include(String(error), String(databaseError), JSON.stringify(dataDir))
      }
    }))

  it.effect("a LAWFUL_CHECKPOINT_DIR of blanks is refused, naming the variable: it would publish into the working directory", () =>
    Effect.gen(function*() {
      for (const checkpointDir of ["", "   ", "\t"]) {
        const error = yield* Effect.flip(
          readWith({ LAWFUL_CHECKPOINT_DIR: checkpointDir, LAWFUL_DATA_DIR: "/var/lib/lawful" })(CheckpointPublisher.directoryConfig)
        )
        assert.include(String(error), "LAWFUL_CHECKPOINT_DIR", JSON.stringify(checkpointDir))
      }
    }))

  it.scoped("layerConfig publishes into checkpoints in LAWFUL_DATA_DIR, nothing under the working directory", () =>
    Effect.gen(function*() {
      const dataDir = yield* directory
      const tenant = yield* TenantId.make
      const note = yield* noteOf(tenant, 4)
      yield* Effect.gen(function*() {
        const publisher = yield* CheckpointPublisher.CheckpointPublisher
        yield* publisher.publish(tenant, { size: 4, note })
        assert.strictEqual(Option.getOrThrow(yield* publisher.latest(tenant)), note)
      }).pipe(Effect.provide(CheckpointPublisher.layerConfig), readWith({ LAWFUL_DATA_DIR: dataDir }))
      assert.deepStrictEqual(yield* Effect.promise(() => readdir(dataDir)), ["checkpoints"])
      assert.strictEqual(yield* Effect.promise(() => readFile(join(dataDir, "checkpoints", tenant, "latest"), "utf8")), note)
      assert.strictEqual(yield* Effect.promise(() => readFile(join(dataDir, "checkpoints", tenant, checkpointFile(4)), "utf8")), note)
      const inWorkingDirectory = yield* Effect.promise(() =>
        access(resolve("./.lawful/checkpoints", tenant)).then(() => true, () => false)
      )
      assert.isFalse(inWorkingDirectory, "the checkpoint was published under the working directory")
    }))
})
