// Review 20b: core's `testing` entry as a package written from the docs uses it.
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, sep } from "node:path"
import { fileURLToPath } from "node:url"
import * as Option from "effect/Option"
import * as Database from "../src/testing/database.js"
import * as Testing from "../src/testing.js"

const core = fileURLToPath(new URL("..", import.meta.url))
const bin = (name: string) => fileURLToPath(new URL(`../../../node_modules/.bin/${name}`, import.meta.url))

// The environment of a process of the user's own: no trace of this vitest, no PostgreSQL.
const userEnv = () =>
  Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.startsWith("VITEST") && key !== "TEST_DATABASE_URL" && key !== "NODE_OPTIONS")
  )

interface Outcome {
  readonly title: string
  readonly status: string
}

// Runs the fixture's vitest config in a vitest of its own and returns each test's outcome.
const runVitest = (config: string): ReadonlyArray<Outcome> => {
  const dir = mkdtempSync(join(tmpdir(), "lawful-chai-setup-"))
  try {
    const report = join(dir, "report.json")
    const fixture = join(core, "test/fixtures/chai-setup")
    const run = spawnSync(
      bin("vitest"),
      ["run", "--root", fixture, "--config", join(fixture, config), "--reporter=json", `--outputFile=${report}`],
      // The user's package resolves core as this workspace does: to its sources.
      { cwd: fixture, env: { ...userEnv(), NODE_OPTIONS: "--conditions=@lawful/source" }, encoding: "utf8", timeout: 120_000 }
    )
    assert.isNull(run.error ?? null, "vitest did not run")
    const results = JSON.parse(readFileSync(report, "utf8")).testResults as ReadonlyArray<{
      readonly assertionResults: ReadonlyArray<Outcome>
    }>
    return results.flatMap((file) => file.assertionResults.map(({ status, title }) => ({ title, status })))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

// Each test whose name starts with "fails:" failed, and every other passed.
const assertOutcomes = (outcomes: ReadonlyArray<Outcome>, expected: number) => {
  assert.strictEqual(outcomes.length, expected)
  for (const { status, title } of outcomes) {
    assert.strictEqual(status, title.startsWith("fails:") ? "failed" : "passed", title)
  }
}

describe("chai's deep equality, from core", () => {
  it("with `@lawful/core/testing/setup` in setupFiles, Some against None fails, anywhere in a value", () => {
    assertOutcomes(runVitest("setupFiles.config.ts"), 3)
  })

  it("in this repository's run, whose vitest.setup.ts imports the entry, Some against None fails", () => {
    assert.throws(() => assert.deepStrictEqual(Option.some(1), Option.none()), /Some on one side and None on the other/)
    assert.deepStrictEqual([Option.some(1)], [Option.some(1)])
  })

  it("a test file that imports `@lawful/core/testing` has it without any setup file", () => {
    assertOutcomes(runVitest("import.config.ts"), 3)
  })
})

describe("the test database outside vitest", () => {
  it("a script run by tsx builds `pgliteLayer` from `@lawful/core/testing/database`", () => {
    const run = spawnSync(bin("tsx"), ["--conditions=@lawful/source", "test/fixtures/script/database.ts"], {
      cwd: core,
      env: userEnv(),
      encoding: "utf8",
      timeout: 120_000
    })
    assert.strictEqual(run.stderr, "")
    assert.strictEqual(run.status, 0)
    assert.deepStrictEqual(JSON.parse(run.stdout), { answer: 42 })
  })

  it("`@lawful/core/testing` re-exports what `@lawful/core/testing/database` holds", () => {
    for (const [name, value] of Object.entries(Database)) {
      assert.strictEqual((Testing as Record<string, unknown>)[name], value, name)
    }
    assert.isAbove(Object.keys(Database).length, 5)
  })
})

// The files of a build, relative to its folder, whose top level calls a function (esbuild's
// `__export`, which only defines a namespace's getters, aside): what importing them does beyond
// defining things.
const withTopLevelCalls = (dir: string): ReadonlyArray<string> =>
  readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".js"))
    .filter((file) => readFileSync(join(dir, file), "utf8").split("\n").some((line) => /^(?!__export\()[A-Za-z_$][\w$.]*\(/.test(line)))
    .map((file) => file.split(sep).join("/"))
    .sort()

describe("the package's entries", () => {
  const manifest = JSON.parse(readFileSync(join(core, "package.json"), "utf8")) as {
    readonly sideEffects: ReadonlyArray<string>
    readonly exports: Record<string, { readonly "@lawful/source": string; readonly types: string; readonly import: string }>
  }
  // The package built as it is published (without its declarations), in a folder of the test's own.
  let built = ""
  beforeAll(() => {
    built = mkdtempSync(join(tmpdir(), "lawful-core-build-"))
    const run = spawnSync(bin("tsup"), ["--out-dir", built, "--no-dts", "--no-sourcemap"], {
      cwd: core,
      env: userEnv(),
      encoding: "utf8",
      timeout: 120_000
    })
    assert.strictEqual(run.status, 0, run.stderr)
  })
  afterAll(() => rmSync(built, { recursive: true, force: true }))

  it("each entry's source exists, and its build is the dist path exported", () => {
    assert.isAbove(Object.keys(manifest.exports).length, 20)
    for (const [entry, paths] of Object.entries(manifest.exports)) {
      const source = paths["@lawful/source"]
      assert.match(source, /^\.\/src\/.+\.ts$/, entry)
      assert.isTrue(existsSync(join(core, source)), `${entry}: ${source} does not exist`)
      const dist = source.replace(/^\.\/src\//, "./dist/").replace(/\.ts$/, "")
      assert.deepStrictEqual({ types: paths.types, import: paths.import }, { types: `${dist}.d.ts`, import: `${dist}.js` }, entry)
      assert.isTrue(existsSync(join(built, paths.import.replace(/^\.\/dist\//, ""))), `${entry}: the build has no ${paths.import}`)
    }
  })

  it("`sideEffects` lists exactly the entries whose build runs code on import, and no shared chunk", () => {
    const listed = manifest.sideEffects.filter((path) => path.startsWith("./dist/")).sort()
    assert.deepStrictEqual(listed, withTopLevelCalls(built).map((file) => `./dist/${file}`))
    assert.deepStrictEqual(listed, ["./dist/testing.js", "./dist/testing/setup.js"])
    const sources = Object.values(manifest.exports).filter((paths) => listed.includes(paths.import)).map((paths) => paths["@lawful/source"])
    assert.deepStrictEqual(manifest.sideEffects.filter((path) => !path.startsWith("./dist/")).sort(), sources.sort())
  })
})
