// Review 19: `CheckpointPublisher.layerDirectory` stops trying hard links in a tenant's directory
// only on a refusal that says the volume has none (ENOTSUP, EOPNOTSUPP, ENOSYS). An EPERM, which
// also means other things (a security module, a file held by another program), falls back to the
// create-in-place path for that publication alone: the next one links again.
import { assert, describe, it } from "@effect/vitest"
import { vi } from "vitest"
import * as TenantId from "@lawful/core/TenantId"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { readdir, readFile } from "node:fs/promises"
import { join } from "node:path"
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
