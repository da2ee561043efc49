import { readdirSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

// Every package and app with a test/ folder is one project. Workspace packages resolve
// to their sources through the "@lawful/source" export condition, so tests never need a build.
const projects = ["packages", "apps"].flatMap((group) =>
  readdirSync(group, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .filter((entry) => readdirSync(`${group}/${entry.name}`).includes("test"))
    .map((entry) => ({
      extends: true as const,
      test: {
        name: entry.name,
        root: `${group}/${entry.name}`,
        include: ["test/**/*.test.ts"]
      }
    }))
)

export default defineConfig({
  resolve: { conditions: ["@lawful/source"] },
  ssr: { resolve: { conditions: ["@lawful/source"] } },
  test: {
    projects,
    // CI asks for a JSON report beside the usual output, to print its summary line.
    ...(process.env.LAWFUL_TEST_REPORT
      ? { reporters: ["default", "json"], outputFile: { json: process.env.LAWFUL_TEST_REPORT } }
      : {}),
    // Makes chai's deep equality tell Option.some(x) from Option.none() (see the file).
    setupFiles: [fileURLToPath(new URL("./vitest.setup.ts", import.meta.url))],
    testTimeout: 60_000,
    hookTimeout: 120_000
  }
})
