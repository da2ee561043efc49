import { assert, describe, it } from "@effect/vitest"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { readmeShows } from "../src/testing.js"

const fence = "```"

// A README and a test in a directory of their own, removed after.
const files = (readme: string, test: string) => {
  const dir = mkdtempSync(join(tmpdir(), "lawful-readme-"))
  writeFileSync(join(dir, "README.md"), readme)
  writeFileSync(join(dir, "example.test.ts"), test)
  return {
    check: (name: string) =>
      readmeShows(pathToFileURL(join(dir, "README.md")), pathToFileURL(join(dir, "example.test.ts")), name),
    [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true })
  }
}

const readme = [
  "# A package",
  "",
  `${fence}ts`,
  "import { Effect } from \"effect\"",
  "",
  "const program = Effect.gen(function*() {",
  "  const n = yield* Effect.succeed(1)",
  "  return n + 1",
  "})",
  fence,
  "",
  "Prose that mentions const n = 2 outside a block.",
  ""
].join("\n")

const test = (lines: ReadonlyArray<string>) =>
  ["import { it } from \"@effect/vitest\"", "", "    // readme:start example", ...lines, "    // readme:end example", ""]
    .join("\n")

describe("readmeShows", () => {
  it("accepts a region the README shows, whatever its indentation and blank lines", () => {
    using f = files(readme, test([
      "    const program = Effect.gen(function*() {",
      "",
      "      const n = yield* Effect.succeed(1)",
      "      return n + 1",
      "    })"
    ]))
    assert.deepStrictEqual(f.check("example"), { ok: true })
  })

  it("rejects a region with a line the README does not show, naming that line", () => {
    using f = files(readme, test(["const program = Effect.gen(function*() {", "  const n = yield* Effect.succeed(2)"]))
    const result = f.check("example")
    assert.isFalse(result.ok)
    if (!result.ok) assert.include(result.reason, "const n = yield* Effect.succeed(2)")
  })

  it("rejects lines the README shows in another order, or only outside a ts block", () => {
    using swapped = files(readme, test(["return n + 1", "const n = yield* Effect.succeed(1)"]))
    assert.isFalse(swapped.check("example").ok)
    using prose = files(readme, test(["Prose that mentions const n = 2 outside a block."]))
    assert.isFalse(prose.check("example").ok)
  })

  it("rejects a missing or empty region", () => {
    using f = files(readme, test([]))
    assert.isFalse(f.check("example").ok)
    assert.isFalse(f.check("another").ok)
  })
})
