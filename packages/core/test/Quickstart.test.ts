// The README's start command runs `examples/quickstart.ts` (the packages' example until the
// server lands). A refused setting stops it with one line, before anything is written.
import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../../../", import.meta.url))

const start = (env: Record<string, string>) => {
  const parent = mkdtempSync(join(tmpdir(), "lawful-quickstart-"))
  const dataDir = join(parent, "data")
  const { DATABASE_URL: _url, LAWFUL_MASTER_KEY: _key, LAWFUL_MASTER_KEY_PREVIOUS: _previous, ...inherited } =
    process.env
  try {
    const result = spawnSync(
      process.execPath,
      ["--import", "tsx", "--conditions=@lawful/source", join(root, "examples/quickstart.ts")],
      { cwd: root, env: { ...inherited, LAWFUL_DATA_DIR: dataDir, ...env }, encoding: "utf8", timeout: 120_000 }
    )
    return { ...result, wrote: existsSync(dataDir) }
  } finally {
    rmSync(parent, { recursive: true, force: true })
  }
}

describe("the quickstart (pnpm start)", () => {
  for (const key of ["short", "q83vEjRWeJASNFZ4kBI0VniQEjRWeJASNFZ4kBI0"]) {
    it(`a malformed LAWFUL_MASTER_KEY (${key.length} chars) stops it in one line, before the embedded database is created`, () => {
      const result = start({ LAWFUL_MASTER_KEY: key })
      assert.strictEqual(result.status, 1)
      assert.strictEqual(
        result.stderr,
        "Configuration error: LAWFUL_MASTER_KEY must be 32 random bytes in base64, e.g. the output of `openssl rand -base64 32`\n"
      )
      assert.isFalse(result.wrote, "the data directory was created")
    })
  }

  it("a malformed DATABASE_URL stops it in one line, writing nothing", () => {
    const result = start({ LAWFUL_MASTER_KEY: "q83vEjRWeJASNFZ4kBI0VniQEjRWeJASNFZ4kBI0Vng=", DATABASE_URL: "mysql://localhost/db" })
    assert.strictEqual(result.status, 1)
    assert.match(result.stderr, /^Configuration error: DATABASE_URL[^\n]*\n$/)
    assert.isFalse(result.wrote, "the data directory was created")
  })

  // Without LAWFUL_MASTER_KEY, the development key was written into LAWFUL_DATA_DIR before
  // DATABASE_URL was read.
  it("without LAWFUL_MASTER_KEY, a malformed DATABASE_URL stops it in one line, writing no development key", () => {
    const result = start({ DATABASE_URL: "localhost:5432" })
    assert.strictEqual(result.status, 1)
    assert.match(result.stderr, /^Configuration error: DATABASE_URL[^\n]*\n$/)
    assert.isFalse(result.wrote, "the data directory was created")
  })

  it("without LAWFUL_MASTER_KEY, a database that cannot be reached stops it in one line, writing no development key", () => {
    // Port 1 of this machine: nothing listens there, the connection is refused at once.
    const result = start({ DATABASE_URL: "postgres://lawful@127.0.0.1:1/lawful" })
    assert.strictEqual(result.status, 1)
    assert.match(result.stderr, /^[^\n]*127\.0\.0\.1:1\/lawful[^\n]*\n$/)
    assert.isFalse(result.wrote, "the data directory was created")
  })
})
