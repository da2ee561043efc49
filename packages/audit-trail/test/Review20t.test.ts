// Review 20t: `@lawful/audit-trail/testing`, the audit trail in one line for the tests of a store
// that records processing (and for scripts and benchmarks, without vitest).
import { assert, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { sqlSuite } from "@lawful/core/testing"
import * as TenantId from "@lawful/core/TenantId"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { auditMemory, auditOver, auditSql } from "@lawful/audit-trail/testing"
import { AuditLog } from "../src/AuditLog.js"
import * as AuditStore from "../src/AuditStore.js"
import { AuditTrail } from "../src/AuditTrail.js"
import { event } from "./AuditLogSuite.js"

const auditTrail = fileURLToPath(new URL("..", import.meta.url))
const bin = (name: string) => fileURLToPath(new URL(`../../../node_modules/.bin/${name}`, import.meta.url))

// The environment of a process of the user's own: no trace of this vitest, no PostgreSQL.
const userEnv = () =>
  Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.startsWith("VITEST") && key !== "TEST_DATABASE_URL" && key !== "NODE_OPTIONS")
  )

// Appends two events through the `AuditTrail`; returns the size the log and the store read after.
const appendTwo = (tenant: TenantId.TenantId) =>
  Effect.gen(function*() {
    yield* (yield* AuditTrail).appendAll(tenant, [event(0), event(1)])
    const stored = (yield* (yield* AuditStore.AuditStore).state(tenant)).frontier.size
    return { log: yield* (yield* AuditLog).size(tenant), stored }
  })

describe("the package's entries", () => {
  it("`./testing` is exported from the sources and from dist", () => {
    const exports = JSON.parse(readFileSync(join(auditTrail, "package.json"), "utf8")).exports
    assert.deepStrictEqual(exports["./testing"], {
      "@lawful/source": "./src/testing.ts",
      types: "./dist/testing.d.ts",
      import: "./dist/testing.js"
    })
  })

  it("a script run by tsx appends and signs with `auditMemory` and `auditSql` (no vitest)", () => {
    const run = spawnSync(bin("tsx"), ["--conditions=@lawful/source", "test/fixtures/script/testing.ts"], {
      cwd: auditTrail,
      env: userEnv(),
      encoding: "utf8",
      timeout: 120_000
    })
    assert.strictEqual(run.stderr, "")
    assert.strictEqual(run.status, 0)
    assert.deepStrictEqual(JSON.parse(run.stdout), {
      memory: { stored: 2, checkpoint: 2 },
      pglite: { stored: 2, checkpoint: 2 }
    })
  })
})

describe("auditMemory", () => {
  it.effect("gives the log, its AuditTrail and the store they write to", () =>
    Effect.gen(function*() {
      const tenant = yield* TenantId.make
      assert.deepStrictEqual(yield* appendTwo(tenant), { log: 2, stored: 2 })
    }).pipe(Effect.provide(auditMemory)))

  it.effect("is a new log for each build of the layer", () =>
    Effect.gen(function*() {
      const tenant = yield* TenantId.make
      yield* appendTwo(tenant).pipe(Effect.provide(auditMemory))
      assert.strictEqual(yield* Effect.flatMap(AuditLog, (log) => log.size(tenant)).pipe(Effect.provide(auditMemory)), 0)
    }))

  it.effect("`auditOver` keeps the store given in its output, the one the log writes to", () =>
    Effect.gen(function*() {
      const tenant = yield* TenantId.make
      const store = yield* Layer.build(AuditStore.layerMemory)
      yield* appendTwo(tenant).pipe(Effect.provide(auditOver(Layer.succeedContext(store))))
      const state = yield* Effect.flatMap(AuditStore.AuditStore, (read) => read.state(tenant)).pipe(Effect.provide(store))
      assert.strictEqual(state.frontier.size, 2)
    }).pipe(Effect.scoped))
})

sqlSuite("auditSql", auditSql, (it) => {
  it.effect("gives the log, its AuditTrail and the store, on the database in context", () =>
    Effect.gen(function*() {
      const tenant = yield* TenantId.make
      assert.deepStrictEqual(yield* appendTwo(tenant), { log: 2, stored: 2 })
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM lawful_audit_entries WHERE tenant_id = ${tenant}`
      assert.strictEqual(rows[0]!.n, 2)
    }))

  it.effect("an append inside the caller's transaction rolls back with it", () =>
    Effect.gen(function*() {
      const tenant = yield* TenantId.make
      const sql = yield* SqlClient.SqlClient
      const trail = yield* AuditTrail
      const rolledBack = yield* sql.withTransaction(
        Effect.zipRight(trail.append(tenant, event(0)), Effect.fail("rolled back" as const))
      ).pipe(Effect.flip)
      assert.strictEqual(rolledBack, "rolled back")
      assert.strictEqual(yield* (yield* AuditLog).size(tenant), 0)
    }))
})
